#!/bin/bash
# Fetch Debian's newest kernel of a series (default 7.2, from sid) into a
# private cache, without touching the host's apt sources or package state:
# apt runs with its own sources.list, lists and archive cache, then
# `apt-get download` and `dpkg-deb -x`. Nothing is installed.
#
#   tests/vm/fetch-kernel.sh [SERIES]            image, modules, headers, kbuild,
#                                                and sid's toolchain to build with
#   tests/vm/fetch-kernel.sh --source [SERIES]   linux-source-SERIES only
#
# Layout under $SSW_KERNEL_CACHE (default /var/cache/secureswift/kernels):
#   apt/                    the private apt configuration and state
#   SERIES/root/            the binary packages unpacked (usr/lib/modules/<rel>/...),
#                           plus the compiler the headers were made for (sid's
#                           gcc-16 needs sid's glibc): tests/vm/build-module.sh
#                           builds inside this root (chroot, private mount ns)
#   SERIES/source/          linux-source-SERIES unpacked (the tarball)
#   SERIES/release          the kernel release (7.2.13+deb14-amd64)
#   SERIES/source-version   the source package's version (7.2.13-1)
# Prints the series directory. A second call reuses what is there (the
# archive's index is refreshed once a day).
set -euo pipefail
CACHE=${SSW_KERNEL_CACHE:-/var/cache/secureswift/kernels}
what=binary
if [ "${1:-}" = --source ]; then
	what=source
	shift
fi
SERIES=${1:-7.2}
case "$SERIES" in
	*[!0-9.]*|"") echo "fetch-kernel.sh: bad kernel series '$SERIES'" >&2; exit 2;;
esac

# The private apt (tools/sid-apt.sh), shared with bench/fetch-wireguard-go.sh.
. "$(dirname "$0")/../../tools/sid-apt.sh"
sid_apt_init "$CACHE/apt"
apt_opts=("${SID_APT_OPTS[@]}")

sdir="$CACHE/$SERIES"
mkdir -p "$sdir/debs"
download() {	# package...: into $sdir/debs, each once
	(cd "$sdir/debs" && apt-get "${apt_opts[@]}" -qq download "$@" >&2)
}

if [ "$what" = source ]; then
	if [ ! -s "$sdir/source-version" ]; then
		download "linux-source-$SERIES"
		deb=$(ls "$sdir"/debs/linux-source-"$SERIES"_*.deb | sort -V | tail -n 1)
		rm -rf "$sdir/source"
		dpkg-deb -x "$deb" "$sdir/source"
		dpkg-deb -f "$deb" Version >"$sdir/source-version"
	fi
	echo "$sdir"
	exit 0
fi

if [ ! -s "$sdir/release" ]; then
	# The newest generic amd64 image of the series: linux-image-7.2.13+deb14-amd64.
	rel=$(apt-cache "${apt_opts[@]}" pkgnames "linux-image-$SERIES." |
		sed -n "s/^linux-image-\(${SERIES//./\\.}\.[0-9]*+deb[0-9]*-amd64\)\$/\1/p" |
		sort -V | tail -n 1)
	if [ -z "$rel" ]; then
		echo "fetch-kernel.sh: ${SSW_APT_SUITE:-${SSW_KERNEL_SUITE:-sid}} has no linux-image-$SERIES.*-amd64" >&2
		exit 1
	fi
	abi=${rel%-amd64}
	# linux-image-* is a meta package in sid: the kernel is in linux-binary-*,
	# the modules in linux-modules-*, System.map/config in linux-base-*.
	download "linux-binary-$rel" "linux-modules-$rel" "linux-base-$rel" \
		"linux-headers-$rel" "linux-headers-$abi-common" "linux-kbuild-$abi"
	# The toolchain the headers name (CONFIG_CC_VERSION_TEXT: sid's gcc)
	# and what Kbuild runs, with everything they depend on: apt resolves the
	# closure against an empty package state.
	tools=(make binutils bash coreutils dash sed grep mawk findutils diffutils
	       xz-utils kmod base-files pahole libelf1t64 libssl3t64)
	rm -rf "$sdir/root"
	for deb in "$sdir"/debs/*"$abi"*.deb; do
		dpkg-deb -x "$deb" "$sdir/root"
	done
	cc=$(sed -n 's/^CC = .*)\(gcc-[0-9][0-9]*\)$/\1/p' \
		"$sdir/root/usr/src/linux-headers-$rel/.kernelvariables")
	[ -n "$cc" ] || { echo "fetch-kernel.sh: no compiler named in $rel's headers" >&2; exit 1; }
	mapfile -t closure < <(apt-get "${apt_opts[@]}" -s --no-install-recommends \
		install "$cc" "${tools[@]}" | awk '/^Inst /{print $2}')
	mkdir -p "$sdir/toolchain-debs"
	(cd "$sdir/toolchain-debs" && apt-get "${apt_opts[@]}" -qq download "${closure[@]}" >&2)
	for p in "${closure[@]}"; do
		dpkg-deb -x "$(ls "$sdir"/toolchain-debs/"${p}"_*.deb | sort -V | tail -n 1)" "$sdir/root"
	done
	# What maintainer scripts would have made: awk (an alternative), the
	# mount points of the build (tests/vm/build-module.sh).
	ln -sfn mawk "$sdir/root/usr/bin/awk"
	mkdir -p "$sdir/root/build" "$sdir/root/src-ssw"
	/sbin/depmod -b "$sdir/root" "$rel"
	echo "$rel" >"$sdir/release"
fi
echo "$sdir"
