#!/bin/bash
# The harness's own test: in one boot of KERNEL (default debug), plant each
# bug of the test build (secureswift_kmod/testknobs.c) and check that
#  - the kernel's checker for it reports it (the expected report line), and
#  - tests/vm/check-dmesg.sh fails on that report,
# and that with nothing planted check-dmesg.sh passes (the control).
#
#   tests/vm/check-checkers.sh [debug|7.2|...] [bug...]
#
# On the debug kernel every class must fire. Debian's kernels have only
# some checkers (7.2: UBSAN bounds/shift, KFENCE): name the bugs to check.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KERNEL=${1:-debug}
shift || true
bugs=("$@")
[ ${#bugs[@]} -gt 0 ] || bugs=(uaf oob kfence ubsan lockdep leak)
VENV=${VENV:-$ROOT/.venv}
VM_TIMEOUT=${VM_TIMEOUT:-1800}

declare -A expect=(
	[uaf]='BUG: KASAN: slab-use-after-free in plant_uaf'
	[oob]='BUG: KASAN: slab-out-of-bounds in plant_oob'
	[kfence]='BUG: KFENCE: out-of-bounds read in plant_kfence'
	[ubsan]='UBSAN: shift-out-of-bounds in .*testknobs.c'
	[lockdep]='WARNING: possible circular locking dependency detected'
	[leak]='unreferenced object'
)

eval "$("$ROOT/tests/vm/kernel-info.sh" "$KERNEL")"
export SSW_BUILD_DIR="$ROOT/secureswift_kmod/.build/checkers"
"$ROOT/tests/vm/build-module.sh" "$KERNEL"
ko="$SSW_BUILD_DIR/$KVER-test/secureswift.ko"
results="$SSW_BUILD_DIR/$KVER/results"
rm -rf "$results"
mkdir -p "$results"
echo "== checkers on $KVER: ${bugs[*]}"
t0=$(date +%s)
. "$ROOT/tests/vm/guest-run.sh"
guest_run "$results/t_start" "$VM_TIMEOUT" "$results/console.log" \
	--run "$VMLINUZ" --disable-kvm \
	--memory 2G --cpus 2 --verbose \
	--append "loglevel=4 no_timer_check kasan_multi_shot kfence.sample_interval=2000" \
	--cwd "$ROOT" --rwdir "$results" \
	--exec "SSW_KMODS=$(printf %q "$KMODS") $ROOT/tests/vm/guest-plant.sh $results $ko"
echo "== boot and plants: $(( $(date +%s) - t0 )) s"
if [ "$(cat "$results/plant.rc" 2>/dev/null)" != 0 ]; then
	tail -n 40 "$results/console.log" "$results/plant.log" 2>/dev/null
	echo "!! the guest did not finish planting"
	exit 1
fi

fail=0
if ! "$ROOT/tests/vm/check-dmesg.sh" "$results/plant-none.txt" \
	"$results/plant-none-kmemleak.txt" >"$results/check-none.txt"; then
	cat "$results/check-none.txt"
	echo "!! control: check-dmesg.sh fails with nothing planted"
	fail=1
else
	echo "ok   control: nothing planted, check-dmesg.sh passes"
fi
for bug in "${bugs[@]}"; do
	log="$results/plant-$bug.txt"
	leaks=""
	[ "$bug" != leak ] || leaks="$results/plant-$bug-kmemleak.txt"
	if ! grep -q -E "${expect[$bug]}" "$log" ${leaks:+"$leaks"}; then
		echo "!! $bug: no '${expect[$bug]}' report (see $log)"
		fail=1
		continue
	fi
	if "$ROOT/tests/vm/check-dmesg.sh" "$log" $leaks >"$results/check-$bug.txt"; then
		echo "!! $bug: reported, but check-dmesg.sh passes the run"
		fail=1
		continue
	fi
	echo "ok   $bug: '$(grep -h -m1 -o -E "${expect[$bug]}" "$log" ${leaks:+"$leaks"})', check-dmesg.sh fails"
done
exit $fail
