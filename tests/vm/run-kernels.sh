#!/bin/bash
# Run the VM suite (tests/vm/run-vm.sh) for several kernels, one boot each,
# and fail when any of them fails. Each run's output goes to its own log,
# printed whole when the run ends, so runs never interleave.
#
#   tests/vm/run-kernels.sh 6.1 6.12:core 7.2:core debug:core [pytest arguments...]
#
# A kernel alone runs the whole suite; KERNEL:core runs the core subset
# (the pytest -k expression in $VM_CORE_K, which mk/vm.mk exports). Kernels
# come first, pytest arguments after them apply to every run.
#
# The guests spend much of their time waiting (sleeps, timers, Python
# start-up under emulation), so they boot at once: on two cores that takes far
# less than one after the other. VM_SERIAL=1 runs them one after the other.
# Prints each run's time and the whole.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUN_VM=${RUN_VM:-$ROOT/tests/vm/run-vm.sh}	# one boot (a test of this script puts a fake here)
specs=()
while [ $# -gt 0 ] && [[ $1 =~ ^([0-9]+\.[0-9]+|debug)(:core)?$ ]]; do
	specs+=("$1")
	shift
done
[ ${#specs[@]} -gt 0 ] || { echo "usage: $0 KERNEL[:core]... [pytest args]" >&2; exit 2; }
for s in "${specs[@]}"; do
	if [ "${s#*:}" = core ] && [ -z "${VM_CORE_K:-}" ]; then
		echo "run-kernels.sh: $s needs VM_CORE_K (the core subset's -k expression; mk/vm.mk sets it)" >&2
		exit 2
	fi
done

logdir=$(mktemp -d /tmp/ssw-vm-runs.XXXXXX)
trap 'rm -rf "$logdir"' EXIT
t_all=$SECONDS

run_one() {	# spec args...: one boot, its output into $logdir/<spec>.log
	local spec=$1 k=${1%%:*} t0=$SECONDS rc
	shift
	local sel=()
	[ "$k" = "$spec" ] || sel=(-k "$VM_CORE_K")
	"$RUN_VM" "$k" "${sel[@]}" "$@" >"$logdir/$spec.log" 2>&1
	rc=$?
	echo "== VM run $spec: $(( SECONDS - t0 )) s (exit $rc)" >>"$logdir/$spec.log"
	return $rc
}

# The debug kernel, when not cached, is built first, alone: it is the
# longest chain (its build on both cores, then its run), and the other runs
# would starve the build (it runs niced) while they ran beside it.
for s in "${specs[@]}"; do
	if [ "${s%%:*}" = debug ]; then
		"$ROOT/tests/vm/build-debug-kernel.sh" >/dev/null || { echo "!! the debug kernel did not build"; exit 1; }
		break
	fi
done

declare -A pids
for s in "${specs[@]}"; do
	run_one "$s" "$@" &
	pids[$s]=$!
	if [ "${VM_SERIAL:-0}" = 1 ]; then
		wait "${pids[$s]}"
	fi
done

fail=0
for s in "${specs[@]}"; do
	wait "${pids[$s]}"
	rc=$?
	cat "$logdir/$s.log"
	if [ $rc != 0 ]; then
		echo "!! VM suite failed on $s (exit $rc)"
		fail=1
	fi
done
echo "== VM runs ${specs[*]}: $(( SECONDS - t_all )) s"
exit $fail
