#!/bin/bash
# Static checks of the module's C source: checkpatch.pl (from the kernel
# source tarball, --no-tree, default level: errors and warnings) over every
# .c/.h, then sparse (C=2) over a
# build against each installed supported kernel. Any report fails.
#
#   tests/vm/module-check.sh [6.1|6.12 ...]      (default: both)
#
# Ignored checkpatch rules, with the reason:
#   LINUX_VERSION_CODE, CONSTANT_COMPARISON: compat.h is an out-of-tree
#     module's one place for version checks (KERNEL_VERSION on the right
#     is the kernel's own idiom there).
#   EMBEDDED_FILENAME: false positive, "netdevice.h" contains "device.h".
#   FILE_PATH_CHANGES: checkpatch's MAINTAINERS check, meaningless here.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SRC=$ROOT/secureswift_kmod
kernels=("$@")
[ ${#kernels[@]} -gt 0 ] || kernels=(6.1 6.12)

checkpatch=${CHECKPATCH:-}
if [ -z "$checkpatch" ]; then
	tree=/tmp/ssw-linux-source-6.1
	if [ ! -x "$tree/scripts/checkpatch.pl" ]; then
		tarball=$(ls /usr/src/linux-source-6.1*.tar.* 2>/dev/null | head -n1 || true)
		if [ -z "$tarball" ]; then
			echo "!! checkpatch needs linux-source-6.1 (apt-get install linux-source-6.1)" >&2
			exit 1
		fi
		mkdir -p "$tree"
		tar -xf "$tarball" -C "$tree" --strip-components=1 --wildcards '*/scripts/*'
	fi
	checkpatch=$tree/scripts/checkpatch.pl
fi
command -v sparse >/dev/null || { echo "!! sparse is not installed (apt-get install sparse)" >&2; exit 1; }

fail=0
echo "== checkpatch ($checkpatch)"
cd "$SRC"
out=$(perl "$checkpatch" --no-tree --terse --show-types -f \
	--ignore LINUX_VERSION_CODE,CONSTANT_COMPARISON,EMBEDDED_FILENAME,FILE_PATH_CHANGES \
	./*.c ./*.h uapi/*.h | grep -v '^total: ' || true)
if [ -n "$out" ]; then
	printf '%s\n' "$out"
	fail=1
fi

for k in "${kernels[@]}"; do
	kver=$("$ROOT/tests/vm/kver.sh" "$k")
	build=$SRC/.build/sparse-$kver
	rm -rf "$build"
	echo "== sparse against $kver"
	make -s -C "$SRC" KDIR="/lib/modules/$kver/build" O_BUILD="$build" C=2 W=1 \
		>"$build.log" 2>&1 || { cat "$build.log"; fail=1; continue; }
	if grep -E 'warning|error' "$build.log" | grep -v -i 'Skipping BTF'; then
		fail=1
	fi
done
[ $fail = 0 ] && echo "== module-check: clean" || echo "!! module-check found problems" >&2
exit $fail
