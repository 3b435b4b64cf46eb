#!/bin/bash
# Build secureswift.ko for one installed kernel in its own build directory
# (secureswift_kmod/.build/<kver>) and fail on any compiler warning at W=1.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
kver=${1:?usage: $0 KERNEL_RELEASE}
build="$ROOT/secureswift_kmod/.build/$kver"
mkdir -p "$build"
log="$build/build.log"
if ! make -s -C "$ROOT/secureswift_kmod" KDIR="/lib/modules/$kver/build" \
	O_BUILD="$build" W=1 >"$log" 2>&1; then
	cat "$log"
	echo "!! module build failed for $kver" >&2
	exit 1
fi
# Kbuild's own note about BTF is not a compiler warning.
if grep -i -E 'warning|error' "$log" | grep -v -i 'Skipping BTF'; then
	echo "!! module build for $kver is not warning-free at W=1" >&2
	exit 1
fi
echo "== built $build/secureswift.ko (W=1, no warnings)"
