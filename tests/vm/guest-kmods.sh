# Sourced INSIDE the VM by guest.sh and guest-plant.sh.
# A kernel whose modules are not the host's (7.2, debug): its tree, linked
# where modprobe looks (run-vm.sh passes SSW_KMODS).
# virtme-ng covers /var/cache (where the kernel cache lives by default) with
# a tmpfs: uncover the host's, read-only like the rest of its root.
if [ -n "${SSW_KMODS:-}" ] && [ ! -e "/lib/modules/$(uname -r)/modules.dep.bin" ]; then
	[ -e "$SSW_KMODS" ] || umount /var/cache 2>/dev/null || true
	mount -t tmpfs ssw-modules /lib/modules
	ln -s "$SSW_KMODS" "/lib/modules/$(uname -r)"
fi
