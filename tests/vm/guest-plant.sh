#!/bin/bash
# Runs INSIDE the VM for tests/vm/check-checkers.sh: load the test build,
# plant each bug in turn (plant_bug parameter, secureswift_kmod/testknobs.c)
# and save the kernel's report of each to RESULTS/plant-<bug>.txt, the
# kmemleak report to RESULTS/plant-leak-kmemleak.txt. First a control: the
# same steps with nothing planted, which must come back clean.
set -u
results=$1
ko=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
date +%s.%N >"$results/t_start"
. "$root/tests/vm/guest-kmods.sh"	# the kernel's own modules tree
{ echo "SSW_KMODS=${SSW_KMODS:-}"; ls -la /lib/modules/ "/lib/modules/$(uname -r)/" | head -20; grep modules /proc/mounts; } >"$results/diag.log" 2>&1
"$root/tests/vm/load-module.sh" "$ko" >"$results/plant.log" 2>&1 || { echo 100 >"$results/plant.rc"; exit; }
kmemleak=/sys/kernel/debug/kmemleak
[ -e "$kmemleak" ] || mount -t debugfs none /sys/kernel/debug 2>/dev/null
{ echo "== boot's checker messages"; dmesg | grep -i -E "kmemleak|kfence|kasan|lockdep|ubsan"; } >>"$results/diag.log" 2>&1
param=/sys/module/secureswift/parameters/plant_bug
# Lockdep first: a KASAN or KFENCE report taints the kernel as one after
# which lock tracking is unreliable (LOCKDEP_NOW_UNRELIABLE), and lockdep
# turns itself off.
order="none lockdep leak ubsan kfence uaf oob"
kfence=/sys/module/kfence/parameters/sample_interval
for bug in $order; do
	dmesg -C
	echo "ssw-vm: tests start" >/dev/kmsg
	if [ "$bug" = kfence ] && [ -w "$kfence" ]; then
		# Booted sampling seldom (check-checkers.sh), so that boot's
		# long-lived objects have not filled KFENCE's pool; now often.
		echo 10 >"$kfence"
		cat /sys/kernel/debug/kfence/stats >>"$results/plant.log" 2>&1
	fi
	if [ "$bug" != none ]; then
		# From a process of its own, which exits: the leak's pointers
		# must not stay on a living task's kernel stack (kmemleak scans them).
		sh -c 'echo "$1" >"$2"' plant "$bug" "$param" 2>>"$results/plant.log" ||
			echo "plant $bug: write failed" >>"$results/plant.log"
	fi
	if [ "$bug" = none ] || [ "$bug" = leak ]; then
		if [ -w "$kmemleak" ]; then
			echo scan >"$kmemleak" 2>>"$results/plant.log" || echo "kmemleak scan: write failed" >>"$results/plant.log"
			sleep 6
			echo scan >"$kmemleak" 2>>"$results/plant.log" || echo "kmemleak scan: write failed" >>"$results/plant.log"
			if [ "$bug" = leak ]; then	# what kmemleak knows of each lost object
				for a in $(dmesg | sed -n 's/.*planted leak \(0x[0-9a-f]*\|[0-9a-f]*\)$/\1/p'); do
					echo "dump=0x${a#0x}" >"$kmemleak" 2>>"$results/plant.log"
				done
			fi
			{ echo "ssw-vm: kmemleak before rmmod"; cat "$kmemleak"; } \
				>"$results/plant-$bug-kmemleak.txt"
			echo clear >"$kmemleak"
		fi
	fi
	sleep 1
	dmesg >"$results/plant-$bug.txt"
done
echo 0 >"$results/plant.rc"
date +%s.%N >"$results/t_end"
sync
