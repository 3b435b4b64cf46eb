#!/bin/bash
# Fail (exit 1, printing the report) when a guest kernel log has a WARNING,
# BUG, Oops, KASAN, KFENCE, UBSAN, lockdep or debug-objects report after the
# harness's start marker (boot-time noise of the emulated machine is not
# ours to judge), or when kmemleak found a leak that is the module's.
#
#   tests/vm/check-dmesg.sh DMESG_FILE [KMEMLEAK_FILE [MODULE_RANGE_FILE]]
#
# KMEMLEAK_FILE is what tests/vm/guest.sh collected from
# /sys/kernel/debug/kmemleak (sections "ssw-vm: kmemleak <when>"); a leaked
# object is the module's when its allocation backtrace names secureswift,
# or (after the unload, when its symbols are gone) has a frame in the
# module's old address range: MODULE_RANGE_FILE holds "base size" (hex, decimal)
# from /proc/modules before the unload. Leaks of the kernel's own are not
# ours to judge, as with the boot-time noise.
set -euo pipefail
log=${1:?usage: $0 DMESG_FILE [KMEMLEAK_FILE [MODULE_RANGE_FILE]]}
leaks=${2:-}
range=${3:-}
marker='ssw-vm: tests start'
if grep -q "$marker" "$log"; then
	body=$(sed -n "/$marker/,\$p" "$log")
else
	body=$(cat "$log")
fi
pattern='WARNING:|BUG:|BUG |Oops|KASAN|KFENCE|UBSAN|kernel BUG|general protection fault|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU usage|lockdep|Call Trace:|refcount_t:|list_add corruption|list_del corruption|ODEBUG:'
fail=0
if hits=$(printf '%s\n' "$body" | grep -E "$pattern"); then
	echo "!! guest dmesg has kernel reports:"
	printf '%s\n' "$hits"
	fail=1
fi

if [ -n "$leaks" ] && [ -s "$leaks" ]; then
	base=0 size=0
	if [ -n "$range" ] && [ -s "$range" ]; then
		read -r base size <"$range"
	fi
	# One record per leaked object: print those that are the module's.
	ours=$(awk -v base="$base" -v size="$size" '
		function hex(s,   i, c, v) {
			v = 0; s = tolower(s); sub(/^0x/, "", s)
			for (i = 1; i <= length(s); i++) {
				c = index("0123456789abcdef", substr(s, i, 1)) - 1
				v = v * 16 + c
			}
			return v
		}
		function flush() { if (obj != "" && mine) printf "%s\n", obj; obj = ""; mine = 0 }
		BEGIN { lo = hex(base); hi = lo + size }
		/^ssw-vm: kmemleak / { flush(); next }
		/^unreferenced object / { flush(); obj = $0; next }
		obj != "" {
			obj = obj "\n" $0
			if ($0 ~ /secureswift/) mine = 1
			if (hi > lo && match($0, /\[<[0-9a-f]+>\]/)) {
				a = hex(substr($0, RSTART + 2, RLENGTH - 4))
				if (a >= lo && a < hi) mine = 1
			}
		}
		END { flush() }' "$leaks")
	if [ -n "$ours" ]; then
		echo "!! kmemleak: the module leaked memory:"
		printf '%s\n' "$ours"
		fail=1
	fi
fi
exit $fail
