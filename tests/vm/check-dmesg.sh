#!/bin/bash
# Fail (exit 1, printing the report) when a guest kernel log has a WARNING,
# BUG, Oops, KASAN, UBSAN or lockdep report after the harness's start marker
# (boot-time noise of the emulated machine is not ours to judge).
set -euo pipefail
log=${1:?usage: $0 DMESG_FILE}
marker='ssw-vm: tests start'
if grep -q "$marker" "$log"; then
	body=$(sed -n "/$marker/,\$p" "$log")
else
	body=$(cat "$log")
fi
pattern='WARNING:|BUG:|BUG |Oops|KASAN|UBSAN|kernel BUG|general protection fault|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU usage|lockdep|Call Trace:|refcount_t:|list_add corruption|list_del corruption'
if hits=$(printf '%s\n' "$body" | grep -E "$pattern"); then
	echo "!! guest dmesg has kernel reports:"
	printf '%s\n' "$hits"
	exit 1
fi
exit 0
