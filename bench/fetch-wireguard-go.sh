#!/bin/bash
# The newest wireguard-go Debian ships (sid), for the benchmarks to compare
# against: Debian 12's own build (0.0.20220316) predates wireguard-go's TUN
# offloads and would flatter us. Taken with a private apt (tools/sid-apt.sh)
# into $SSW_WGGO_CACHE/VERSION/ (default /var/cache/secureswift/wireguard-go),
# nothing installed. Prints the binary's path; a second call reuses it (the
# index is refreshed once a day, and a newer version is fetched beside).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${SSW_WGGO_CACHE:-/var/cache/secureswift/wireguard-go}
# One private apt state for every fetcher (tests/vm/fetch-kernel.sh uses it too).
APT_DIR=${SSW_APT_DIR:-${SSW_KERNEL_CACHE:-/var/cache/secureswift/kernels}/apt}
. "$ROOT/tools/sid-apt.sh"
sid_apt_init "$APT_DIR"

version=$(apt-cache "${SID_APT_OPTS[@]}" show --no-all-versions wireguard-go 2>/dev/null |
	sed -n 's/^Version: //p' | head -n 1)
if [ -z "$version" ]; then
	echo "fetch-wireguard-go.sh: no wireguard-go in the archive's index ($APT_DIR)" >&2
	exit 1
fi
dir="$CACHE/$version"
bin="$dir/root/usr/bin/wireguard-go"
if [ ! -x "$bin" ]; then
	rm -rf "$dir.tmp"
	mkdir -p "$dir.tmp/debs"
	(cd "$dir.tmp/debs" && apt-get "${SID_APT_OPTS[@]}" -qq download "wireguard-go=$version" >&2)
	dpkg-deb -x "$dir.tmp"/debs/wireguard-go_*.deb "$dir.tmp/root"
	"$dir.tmp/root/usr/bin/wireguard-go" --version >/dev/null
	rm -rf "$dir"
	mv "$dir.tmp" "$dir"
	echo "== wireguard-go $version in $dir" >&2
fi
echo "$bin"
