#!/bin/bash
# Print the newest installed generic amd64 kernel of a series (6.1, 6.12):
# Debian's -rt and -cloud flavours are never picked.
set -euo pipefail
series=${1:?usage: $0 6.1|6.12}
case "$series" in
	*[!0-9.]*|"") echo "kver.sh: bad kernel series '$series'" >&2; exit 2;;
esac
kver=$(ls /boot/ 2>/dev/null | sed -n "s/^vmlinuz-\(${series//./\\.}[.-].*-amd64\)\$/\1/p" |
	grep -v -E -- '-(rt|cloud)-amd64$' | sort -V | tail -n 1 || true)
if [ -z "$kver" ] || [ ! -d "/lib/modules/$kver/build" ]; then
	echo "kver.sh: no installed linux-image + linux-headers for $series (run make vm-deps KERNEL=$series)" >&2
	exit 1
fi
echo "$kver"
