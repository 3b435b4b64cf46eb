#!/bin/bash
# Build the debug kernel the VM suite runs on (KERNEL=debug): Debian's newest
# kernel source (linux-source-$SERIES from sid, tests/vm/fetch-kernel.sh) with
# a small config for the VM plus KASAN, lockdep, UBSAN, KFENCE, kmemleak and
# the debug-object checks (tests/vm/debug.config).
#
#   tests/vm/build-debug-kernel.sh          build (or reuse) it, print its dir
#
# Built once and cached under $SSW_KERNEL_CACHE/debug-<source version>-<hash
# of the config fragment and the recipe>/:
#   vmlinuz      the kernel image
#   mods/        its modules tree (lib/modules/<release>/, depmod'ed, with
#                the image again as lib/modules/<release>/vmlinuz)
#   out/         the build tree: KDIR for out-of-tree modules
#   release      its kernel release (uname -r)
#   build-time   seconds the build took
# A finished build is reused; a half-built one is continued (make is
# incremental). Prints the build time either way.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${SSW_KERNEL_CACHE:-/var/cache/secureswift/kernels}
SERIES=${SSW_DEBUG_SERIES:-7.2}
JOBS=${JOBS:-$(nproc)}

"$ROOT/tests/vm/fetch-kernel.sh" --source "$SERIES" >/dev/null
srcdeb_dir="$CACHE/$SERIES"
version=$(cat "$srcdeb_dir/source-version")
tarball="$srcdeb_dir/source/usr/src/linux-source-$SERIES.tar.xz"

# The cache key: the fragment plus this recipe's version (bump it when a
# change below changes the built kernel, e.g. the base config or targets).
RECIPE="defconfig+kvm_guest+debug.config bzImage modules v1"
key=$( (echo "$RECIPE"; cat "$ROOT/tests/vm/debug.config") | sha256sum | cut -c1-12)
dir="$CACHE/debug-$version-$key"
if [ -s "$dir/build-time" ] && [ -s "$dir/vmlinuz" ]; then
	rel=$(cat "$dir/release")
	[ -s "$dir/mods/lib/modules/$rel/vmlinuz" ] ||
		cp "$dir/vmlinuz" "$dir/mods/lib/modules/$rel/vmlinuz"
	echo "== debug kernel $(cat "$dir/release") reused from $dir (built in $(cat "$dir/build-time") s)" >&2
	echo "$dir"
	exit 0
fi

t0=$(date +%s)
mkdir -p "$dir"
src="$dir/linux-source-$SERIES"
if [ ! -s "$src/Makefile" ]; then
	echo "== unpacking $tarball" >&2
	tar -C "$dir" -xf "$tarball"
fi
out="$dir/out"
mkdir -p "$out"
if [ ! -s "$out/.config" ] || [ ! -e "$dir/configured" ]; then
	make -s -C "$src" O="$out" x86_64_defconfig >&2
	"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" \
		"$src/kernel/configs/kvm_guest.config" "$ROOT/tests/vm/debug.config" >/dev/null
	make -s -C "$src" O="$out" olddefconfig >&2
	# Kconfig silently drops what it cannot satisfy: every checker and
	# every option the fragment turns on must have survived.
	missing=$(grep -E '^CONFIG_[A-Z0-9_]+=[ym]$' "$ROOT/tests/vm/debug.config" |
		while read -r want; do grep -qx "$want" "$out/.config" || echo "$want"; done)
	if [ -n "$missing" ]; then
		echo "!! the debug kernel's config lost options of tests/vm/debug.config:" >&2
		echo "$missing" >&2
		exit 1
	fi
	touch "$dir/configured"
fi
echo "== building the debug kernel in $out ($JOBS jobs; log $dir/build.log)" >&2
if ! nice make -C "$src" O="$out" -j"$JOBS" bzImage modules >"$dir/build.log" 2>&1; then
	tail -n 40 "$dir/build.log" >&2
	echo "!! debug kernel build failed (log $dir/build.log)" >&2
	exit 1
fi
release=$(make -s -C "$src" O="$out" kernelrelease)
rm -rf "$dir/mods"
make -s -C "$src" O="$out" INSTALL_MOD_PATH="$dir/mods" INSTALL_MOD_STRIP=1 \
	DEPMOD=/sbin/depmod modules_install >&2
cp "$out/arch/x86/boot/bzImage" "$dir/vmlinuz"
# Next to its modules too: virtme-ng finds a kernel's modules by walking up
# from the image to a directory with lib/modules.
cp "$out/arch/x86/boot/bzImage" "$dir/mods/lib/modules/$release/vmlinuz"
echo "$release" >"$dir/release"
echo $(( $(date +%s) - t0 )) >"$dir/build-time"
echo "== debug kernel $release built in $(cat "$dir/build-time") s: $dir" >&2
echo "$dir"
