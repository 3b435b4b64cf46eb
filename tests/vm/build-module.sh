#!/bin/bash
# Build secureswift.ko for one installed kernel and fail on any compiler
# warning at W=1. Two builds from the same source:
#   secureswift_kmod/.build/<kver>/secureswift.ko       the shipped module
#   secureswift_kmod/.build/<kver>-test/secureswift.ko  the test build
#     (SSW_TEST_KNOBS=y, Kbuild: writable protocol times for tests/vm)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
kver=${1:?usage: $0 KERNEL_RELEASE}

build_one() {	# build-dir [extra make arguments]
	local build=$1
	shift
	mkdir -p "$build"
	local log="$build/build.log"
	if ! make -s -C "$ROOT/secureswift_kmod" KDIR="/lib/modules/$kver/build" \
		O_BUILD="$build" W=1 "$@" >"$log" 2>&1; then
		cat "$log"
		echo "!! module build failed for $kver ($build)" >&2
		exit 1
	fi
	# Kbuild's own note about BTF is not a compiler warning.
	if grep -i -E 'warning|error' "$log" | grep -v -i 'Skipping BTF'; then
		echo "!! module build for $kver ($build) is not warning-free at W=1" >&2
		exit 1
	fi
	echo "== built $build/secureswift.ko (W=1, no warnings)"
}

build_one "$ROOT/secureswift_kmod/.build/$kver"
build_one "$ROOT/secureswift_kmod/.build/$kver-test" SSW_TEST_KNOBS=y
