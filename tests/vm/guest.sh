#!/bin/bash
# Runs INSIDE the VM (as init's exec command): load the module and its
# dependencies, run the suite, write everything the host needs to RESULTS.
set -u
results=$1
ko=$2
shift 2
root=$(cd "$(dirname "$0")/../.." && pwd)

date +%s.%N >"$results/t_start"
echo "ssw-vm: tests start" >/dev/kmsg

export SSW_VM_GUEST=1 SSW_KO="$ko" PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
rc=0
"$root/tests/vm/load-module.sh" "$ko" selftest=1 >"$results/pytest.log" 2>&1 || rc=100
if [ "$rc" = 0 ]; then
	cd "$root"
	"$root/.venv/bin/python" -m pytest -p no:cacheprovider -q -rfEs \
		--durations=5 --tb=short tests/vm "$@" >>"$results/pytest.log" 2>&1
	rc=$?
fi
# Unload with whatever devices the tests left behind: must be clean too.
if [ "$rc" != 100 ] && lsmod | grep -q '^secureswift '; then
	rmmod secureswift >>"$results/pytest.log" 2>&1 || rc=101
fi
date +%s.%N >"$results/t_end"
dmesg >"$results/dmesg.txt"
echo "$rc" >"$results/pytest.rc"
sync
