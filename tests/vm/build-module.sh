#!/bin/bash
# Build secureswift.ko for one kernel and fail on any compiler warning at
# W=1. The kernel is a series (6.1, 6.12: installed; 7.2: Debian sid's, from
# the private cache; debug: the debug kernel), see tests/vm/kernel-info.sh,
# or the release of an installed kernel. Two builds from the same source:
#   secureswift_kmod/.build/<release>/secureswift.ko       the shipped module
#   secureswift_kmod/.build/<release>-test/secureswift.ko  the test build
#     (SSW_TEST_KNOBS=y, Kbuild: writable protocol times, planted bugs for
#     the checkers' own test; tests/vm only)
# Sid's headers name sid's compiler (gcc-16, which needs sid's glibc): that
# build runs chrooted into the kernel's cache root, in a private mount
# namespace that binds the source and build directories into it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
arg=${1:?usage: $0 6.1|6.12|7.2|debug|KERNEL_RELEASE}

if [[ $arg =~ ^[0-9]+\.[0-9]+$ ]] || [ "$arg" = debug ]; then
	eval "$("$ROOT/tests/vm/kernel-info.sh" "$arg")"
else
	KVER=$arg KDIR=/lib/modules/$arg/build KROOT=
fi

build_one() {	# build-dir [extra make arguments]
	local build=$1
	shift
	mkdir -p "$build"
	local log="$build/build.log"
	local ok=0
	if [ -z "$KROOT" ]; then
		make -s -C "$ROOT/secureswift_kmod" KDIR="$KDIR" O_BUILD="$build" \
			W=1 "$@" >"$log" 2>&1 || ok=$?
	else
		# shellcheck disable=SC2016 # expanded by the inner shell
		unshare -m sh -c 'set -e; r=$1; shift
			mount --bind /dev "$r/dev"; mount -t proc proc "$r/proc"
			mount --bind "$1" "$r/src-ssw"; mount --bind "$2" "$r/build"
			shift 2; exec chroot "$r" make -s -C /src-ssw O_BUILD=/build "$@"' \
			sh "$KROOT" "$ROOT/secureswift_kmod" "$build" KDIR="$KDIR" W=1 "$@" \
			>"$log" 2>&1 || ok=$?
	fi
	if [ "$ok" != 0 ]; then
		cat "$log"
		echo "!! module build failed for $KVER ($build)" >&2
		exit 1
	fi
	# Kbuild's own note about BTF is not a compiler warning.
	if grep -i -E 'warning|error' "$log" | grep -v -i 'Skipping BTF'; then
		echo "!! module build for $KVER ($build) is not warning-free at W=1" >&2
		exit 1
	fi
	echo "== built $build/secureswift.ko (W=1, no warnings)"
}

# SSW_BUILD_DIR: another place for the two builds (tests/vm/check-checkers.sh,
# so that it can run beside a suite on the same kernel).
out=${SSW_BUILD_DIR:-$ROOT/secureswift_kmod/.build}
build_one "$out/$KVER"
build_one "$out/$KVER-test" SSW_TEST_KNOBS=y
