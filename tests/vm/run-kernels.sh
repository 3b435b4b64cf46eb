#!/bin/bash
# Run the VM suite (tests/vm/run-vm.sh) for several kernels at once, one boot
# each, and fail when any of them fails. Each run's output goes to its own
# log, printed whole when the run ends, so the two never interleave.
#
#   tests/vm/run-kernels.sh 6.1 6.12 7.2 debug [pytest arguments...]   (kernels first)
#
# The guests spend much of their time waiting (sleeps, timers, Python start-up
# under emulation), so two at once on two cores take far less than one after
# the other. VM_SERIAL=1 runs them one after the other instead.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
kernels=()
while [ $# -gt 0 ] && { [[ $1 =~ ^[0-9]+\.[0-9]+$ ]] || [ "$1" = debug ]; }; do
	kernels+=("$1")
	shift
done
[ ${#kernels[@]} -gt 0 ] || { echo "usage: $0 KERNEL... [pytest args]" >&2; exit 2; }

logdir=$(mktemp -d /tmp/ssw-vm-runs.XXXXXX)
trap 'rm -rf "$logdir"' EXIT
declare -A pids
for k in "${kernels[@]}"; do
	"$ROOT/tests/vm/run-vm.sh" "$k" "$@" >"$logdir/$k.log" 2>&1 &
	pids[$k]=$!
	if [ "${VM_SERIAL:-0}" = 1 ]; then
		wait "${pids[$k]}"
	fi
done

fail=0
for k in "${kernels[@]}"; do
	wait "${pids[$k]}"
	rc=$?
	cat "$logdir/$k.log"
	if [ $rc != 0 ]; then
		echo "!! VM suite failed on $k (exit $rc)"
		fail=1
	fi
done
exit $fail
