#!/bin/bash
# Boot a kernel under QEMU (software emulation, no KVM needed) with this
# machine's root filesystem, load secureswift.ko into it and run tests/vm
# with pytest inside. One boot per call.
#
#   tests/vm/run-vm.sh 6.1|6.12|7.2|debug [pytest arguments...]
#
# 6.1 and 6.12 are Debian bookworm's (installed), 7.2 Debian sid's (fetched
# into a private cache), debug the debug kernel built here (KASAN, lockdep,
# UBSAN, KFENCE, kmemleak): tests/vm/kernel-info.sh.
#
# Fails when the module does not build warning-free (W=1), when pytest
# fails, when the guest dies before reporting, or when the guest's kernel
# log after the module load has a WARNING, BUG, Oops, KASAN or lockdep
# report. Prints boot and test times.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KERNEL=${1:?usage: $0 6.1|6.12|7.2|debug [pytest args]}
shift
VENV=${VENV:-$ROOT/.venv}
VM_MEM=${VM_MEM:-2G}
VM_CPUS=${VM_CPUS:-2}
# The whole boot; pytest inside gets all but VM_SLACK of it, so that a slow
# run still ends with a report, the module unloaded and the guest's dmesg.
# A guard against a hung guest, not a speed bound: a fresh CI machine took
# 1,890 s for 6.1 (two kernels booted at once on 2 cores), a busy one more.
# CI's own 90 minutes are the outer limit.
VM_TIMEOUT=${VM_TIMEOUT:-4200}
VM_SLACK=${VM_SLACK:-240}

eval "$("$ROOT/tests/vm/kernel-info.sh" "$KERNEL")"
kver=$KVER
echo "== secureswift VM run: kernel $kver (TCG, ${VM_CPUS} vCPU, $VM_MEM)"

build="$ROOT/secureswift_kmod/.build/$kver"
results="$build/vm"
rm -rf "$results"
mkdir -p "$results"

"$ROOT/tests/vm/build-module.sh" "$KERNEL"
# The suite runs the test build (writable protocol times, Kbuild's
# SSW_TEST_KNOBS); test_selftest.py checks the shipped one has no such knob.
ko="$build-test/secureswift.ko"

# The guest sees this tree read-only and compiles every module it imports afresh
# when no bytecode is cached (CI exports PYTHONDONTWRITEBYTECODE): seconds per
# Python start under emulation. Compile once here instead.
"$VENV/bin/python" -m compileall -q -j 0 "$ROOT/sswctl" "$ROOT/tests/vm" >/dev/null
# Likewise the flood tests' C sender (tests/floodgen.py), which the guest cannot build in the tree.
(cd "$ROOT" && "$VENV/bin/python" -m tests.floodgen --build >/dev/null)

# vng runs --exec through a shell: quote pytest's arguments (-k "a or b").
pytest_args=""
[ $# -eq 0 ] || pytest_args=$(printf '%q ' "$@")

# The guest writes its results into $results (a read-write mount); all the
# rest of the host's root is read-only or a throwaway overlay in the guest.
# The guest kernel's console goes to console.log at warning level (-v with
# loglevel=4): a panic during boot is otherwise invisible, since qemu just
# exits (vng exit 255) before the guest has written anything.
# no_timer_check: the kernel's boot-time check that the timer interrupt works
# times out when the emulated CPU is starved by a busy host ("IO-APIC + timer
# doesn't work!" panic, seen with a load average of 14 on 2 cores).
# init_on_alloc=0: Debian's kernels zero every allocation, which would hide a
# leak of uninitialised memory onto the wire (tests/vm/test_hardening.py).
. "$ROOT/tests/vm/guest-run.sh"
rm -f "$results"/pytest.* "$results"/t_end "$results"/dmesg.txt "$results"/kmemleak.txt "$results"/module-range
t0=$(date +%s.%N)
guest_run "$results/t_start" "$VM_TIMEOUT" "$results/console.log" \
	--run "$VMLINUZ" --disable-kvm \
	--memory "$VM_MEM" --cpus "$VM_CPUS" \
	--verbose --append "loglevel=4 no_timer_check init_on_alloc=0" \
	--cwd "$ROOT" --rwdir "$results" \
	--exec "SSW_KMODS=$(printf %q "$KMODS") SSW_VM_SCALE_PEERS=${SSW_VM_SCALE_PEERS:-} $ROOT/tests/vm/guest.sh $results $ko $((VM_TIMEOUT - VM_SLACK)) $pytest_args"
vng_rc=$guest_rc
t1=$(date +%s.%N)

cat "$results/pytest.log" 2>/dev/null || true

fail=0
if [ ! -s "$results/pytest.rc" ]; then
	echo "!! guest did not report a result (vng exit $vng_rc); console:"
	tail -n 60 "$results/console.log"
	fail=1
else
	rc=$(cat "$results/pytest.rc")
	if [ "$rc" != 0 ]; then
		echo "!! pytest in the guest failed (exit $rc)"
		fail=1
	fi
fi

if [ -s "$results/dmesg.txt" ]; then
	if ! "$ROOT/tests/vm/check-dmesg.sh" "$results/dmesg.txt" \
		"$results/kmemleak.txt" "$results/module-range"; then
		fail=1
	fi
else
	echo "!! no guest dmesg came back"
	fail=1
fi

if [ -s "$results/t_start" ] && [ -s "$results/t_end" ]; then
	awk -v t0="$t0" -v t1="$t1" -v s="$(cat "$results/t_start")" \
	    -v e="$(cat "$results/t_end")" 'BEGIN {
		printf "== kernel %s: boot %.1f s, tests %.1f s, total %.1f s\n",
		       "'"$kver"'", s - t0, e - s, t1 - t0 }'
fi
echo "== results in $results (console.log, dmesg.txt, pytest.log)"
exit $fail
