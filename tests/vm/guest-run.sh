# Sourced (bash) by run-vm.sh and check-checkers.sh: boot a guest under
# virtme-ng (TCG) and watch that it comes up.
#
#   guest_run START_FILE TIMEOUT CONSOLE vng-arguments...
#
# runs `timeout TIMEOUT vng vng-arguments...` with the console in CONSOLE and
# sets guest_rc (vng's exit; 124 when TIMEOUT killed it) and guest_hung (1
# when the guest never wrote START_FILE, its first line of work, within
# VM_BOOT_TIMEOUT seconds, and was killed then). A guest that dies or hangs
# before START_FILE never ran a test: it is booted once more, with the first
# console kept as CONSOLE-boot1.log. (Seen: the debug kernel under TCG, one
# boot in three, takes an interrupt before KASAN's shadow is up and hangs at
# 1.8 s; without the watch that cost the run's whole TIMEOUT.) A failure
# after START_FILE is never retried.
VM_BOOT_TIMEOUT=${VM_BOOT_TIMEOUT:-600}

_guest_boot() {	# START_FILE TIMEOUT CONSOLE vng-arguments...
	local start=$1 limit=$2 console=$3 pid waited=0
	shift 3
	rm -f "$start"
	guest_hung=0
	PATH="$VENV/bin:$PATH" timeout "$limit" vng "$@" </dev/null >"$console" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null && [ ! -s "$start" ]; do
		if [ "$waited" -ge "$VM_BOOT_TIMEOUT" ]; then
			echo "!! the guest did not come up in VM_BOOT_TIMEOUT=$VM_BOOT_TIMEOUT s: stopped"
			guest_hung=1
			kill "$pid" 2>/dev/null || true
			break
		fi
		sleep 2
		waited=$((waited + 2))
	done
	set +e
	wait "$pid"
	guest_rc=$?
	set -e
}

guest_run() {	# START_FILE TIMEOUT CONSOLE vng-arguments...
	local start=$1 limit=$2 console=$3
	shift 3
	_guest_boot "$start" "$limit" "$console" "$@"
	if [ ! -s "$start" ] && { [ "$guest_rc" != 124 ] || [ "$guest_hung" = 1 ]; }; then
		echo "!! guest died or hung during boot (vng exit $guest_rc); console:"
		tail -n 60 "$console"
		mv "$console" "${console%.log}-boot1.log"
		echo "!! booting once more"
		_guest_boot "$start" "$limit" "$console" "$@"
	fi
	if [ "$guest_rc" = 124 ]; then
		echo "!! the VM was killed after $limit s"
	fi
}
