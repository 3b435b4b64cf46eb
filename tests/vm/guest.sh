#!/bin/bash
# Runs INSIDE the VM (as init's exec command): load the module and its
# dependencies, run the suite, write everything the host needs to RESULTS.
set -u
results=$1
ko=$2
budget=$3	# seconds pytest may take: the host kills the whole VM a little later
shift 3
root=$(cd "$(dirname "$0")/../.." && pwd)

date +%s.%N >"$results/t_start"
. "$root/tests/vm/guest-kmods.sh"	# the kernel's own modules tree
echo "ssw-vm: tests start" >/dev/kmsg

export SSW_VM_GUEST=1 SSW_KO="$ko" SSW_KO_SHIPPED="${ko%-test/secureswift.ko}/secureswift.ko" PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# Hold the kernel's netstamp static key on for the whole run. Every ping (and
# any socket asking for timestamps) otherwise flips it, and each flip patches
# netif_rx's code with int3 breakpoints while other CPUs run it; QEMU's TCG
# once trapped on such a breakpoint mid-patch under a flood ("Oops: int3" in
# netif_rx_internal, no secureswift frame): an emulator race, not a bug in
# the module, but it ends the run. With the key held, that site never changes.
"$root/.venv/bin/python" -c 'import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 35, 1)  # SO_TIMESTAMPNS (x86-64), not in Python'"'"'s socket module
print("held", flush=True)
time.sleep(1 << 30)' >"$results/netstamp.held" 2>&1 &
netstamp=$!
for _ in $(seq 100); do [ -s "$results/netstamp.held" ] && break; sleep 0.2; done
rc=0
"$root/tests/vm/load-module.sh" "$ko" selftest=1 >"$results/pytest.log" 2>&1 || rc=100
if [ "$rc" = 0 ]; then
	cd "$root"
	# Out of time, pytest gets SIGINT: it prints where it was and what passed so
	# far, and this script still unloads the module and saves the kernel log.
	timeout -s INT -k 30 "$budget" "$root/.venv/bin/python" -m pytest -p no:cacheprovider \
		-q -rfEs --durations=15 --tb=short tests/vm "$@" >>"$results/pytest.log" 2>&1
	rc=$?
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		echo "!! pytest ran out of its $budget s (timeout exit $rc)" >>"$results/pytest.log"
	elif [ "$rc" = 2 ] && grep -q KeyboardInterrupt "$results/pytest.log"; then
		echo "!! pytest ran out of its $budget s and was interrupted" >>"$results/pytest.log"
	fi
fi
# kmemleak (the debug kernel): an object is reported once it has been
# unreferenced for a while and two scans agree. Scan before the unload,
# when the module's symbols still name its frames, and after it, when only
# its old address range ([base, base+size) from /proc/modules) does.
kmemleak=/sys/kernel/debug/kmemleak
[ -e "$kmemleak" ] || mount -t debugfs none /sys/kernel/debug 2>/dev/null
leak_scan() {	# label
	[ -w "$kmemleak" ] || return 0
	echo scan >"$kmemleak"; sleep 6; echo scan >"$kmemleak"
	{ echo "ssw-vm: kmemleak $1"; cat "$kmemleak"; } >>"$results/kmemleak.txt"
	echo clear >"$kmemleak"
}
leak_scan "before rmmod"
awk '$1 == "secureswift" { print $6, $2 }' /proc/modules >"$results/module-range"
# Unload with whatever devices the tests left behind: must be clean too.
if [ "$rc" != 100 ] && lsmod | grep -q '^secureswift '; then
	rmmod secureswift >>"$results/pytest.log" 2>&1 || rc=101
fi
leak_scan "after rmmod"
kill "$netstamp" 2>/dev/null
date +%s.%N >"$results/t_end"
dmesg >"$results/dmesg.txt"
echo "$rc" >"$results/pytest.rc"
sync
