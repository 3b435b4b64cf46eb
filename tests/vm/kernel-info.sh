#!/bin/bash
# Where a kernel the VM suite runs on lives, as shell assignments to eval:
#   KVER=...     its release (uname -r in the guest)
#   VMLINUZ=...  the image to boot; its modules tree is
#                <root>/lib/modules/$KVER next to it, where vng looks
#   KDIR=...     the build tree to build modules against
#   KROOT=...    empty, or the root to build in (chroot): Debian sid's
#                headers want sid's compiler, which needs sid's glibc
#   KMODS=...    empty (the host's /lib/modules/$KVER), or the kernel's
#                modules tree, which tests/vm/guest.sh links into the guest's
#                /lib/modules (virtme-ng's own link is not there by the time
#                the tests run)
#
#   tests/vm/kernel-info.sh 6.1|6.12   Debian bookworm's, installed (make vm-deps)
#   tests/vm/kernel-info.sh 7.2        Debian sid's, from the private cache
#                                      (tests/vm/fetch-kernel.sh fetches it)
#   tests/vm/kernel-info.sh debug      the debug kernel (tests/vm/build-debug-kernel.sh
#                                      builds it once)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
series=${1:?usage: $0 6.1|6.12|7.2|debug}
# 7.2 and debug live in the kernel cache, which the guest must see where the
# host has it: virtme-ng's init mounts fresh tmpfs over /tmp, /var/tmp and
# /var/log, so a cache there leaves the guest without the kernel's modules
# ("modprobe: FATAL: Module ... not found" at the module load).
if [ "$series" != 6.1 ] && [ "$series" != 6.12 ]; then
	cache=$(realpath -m "${SSW_KERNEL_CACHE:-/var/cache/secureswift/kernels}")
	case "$cache/" in
	/tmp/*|/var/tmp/*|/var/log/*|/dev/shm/*)
		echo "kernel-info.sh: SSW_KERNEL_CACHE=$cache is hidden from the guest (tmpfs there); put it elsewhere" >&2
		exit 2;;
	esac
fi
case "$series" in
6.1|6.12)
	kver=$("$ROOT/tests/vm/kver.sh" "$series")
	printf 'KVER=%q\nVMLINUZ=%q\nKDIR=%q\nKROOT=\nKMODS=\n' "$kver" "/boot/vmlinuz-$kver" \
		"/lib/modules/$kver/build"
	;;
debug)
	dir=$("$ROOT/tests/vm/build-debug-kernel.sh")
	kver=$(cat "$dir/release")
	printf 'KVER=%q\nVMLINUZ=%q\nKDIR=%q\nKROOT=\nKMODS=%q\n' "$kver" \
		"$dir/mods/lib/modules/$kver/vmlinuz" "$dir/out" "$dir/mods/lib/modules/$kver"
	;;
*[!0-9.]*|"")
	echo "kernel-info.sh: bad kernel '$series' (6.1, 6.12, 7.2 or debug)" >&2
	exit 2
	;;
*)
	sdir=$("$ROOT/tests/vm/fetch-kernel.sh" "$series")
	kver=$(cat "$sdir/release")
	printf 'KVER=%q\nVMLINUZ=%q\nKDIR=%q\nKROOT=%q\nKMODS=%q\n' "$kver" \
		"$sdir/root/usr/lib/modules/$kver/vmlinuz" "/usr/lib/modules/$kver/build" \
		"$sdir/root" "$sdir/root/usr/lib/modules/$kver"
	;;
esac
