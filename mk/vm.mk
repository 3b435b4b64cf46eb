# Kernel module and VM test targets; included by the top-level Makefile.
#
#   make module   [KERNEL=6.1|6.12]   build secureswift.ko, W=1, warnings fail
#                                     (no KERNEL: every supported kernel)
#   make test-vm  [KERNEL=6.1|6.12]   boot that kernel under QEMU, run tests/vm
#                                     (no KERNEL: one boot per supported kernel,
#                                     all at once, tests/vm/run-kernels.sh;
#                                     this is what `make test` runs)
#   make vm-deps  [KERNEL=...]        install QEMU, the kernel + headers, virtme-ng
#   make module-check [KERNEL=...]    checkpatch.pl (--no-tree) and sparse (C=2)
#                                     over the module's source; any report fails
#   make genl-gen                     regenerate the C side of the genl schema
#   make bench-vm                     one boot (BENCH_VM_KERNEL, default 6.12): iperf3
#                                     through the module, wireguard.ko and the userspace
#                                     backend; writes docs/performance.md (bench/vm.py)
#   make bench-flood-vm               one boot: handshakes/s during a handshake flood,
#                                     the module + daemon vs wireguard.ko (bench/flood_vm.py)
#
# The host never loads the module: it is only built here and run in the guest.

KERNEL ?=
VM_KERNELS ?= 6.1 6.12
SSW_VENV ?= $(CURDIR)/.venv

# Debian packages per supported kernel series (both from bookworm's own
# archive: 6.12 arrives through bookworm-security, no backports suite needed).
vm_pkgs_6.1 := linux-image-amd64 linux-headers-amd64
vm_pkgs_6.12 := linux-image-6.12-amd64 linux-headers-6.12-amd64
vm_pkgs_common := qemu-system-x86 busybox-static kmod iproute2
vm_pkgs_check := sparse linux-source-6.1

vm-deps:
	@for k in $(or $(KERNEL),$(VM_KERNELS)); do case "$$k" in 6.1|6.12) ;; \
		*) echo "KERNEL must be 6.1 or 6.12, not '$$k'" >&2; exit 2;; esac; done
	@tools/apt-ensure $(vm_pkgs_common) $(foreach k,$(or $(KERNEL),$(VM_KERNELS)),$(vm_pkgs_$(k)))
	@[ -x $(SSW_VENV)/bin/vng ] || $(SSW_VENV)/bin/pip install -q -e '.[vm]' $(EDITABLE)

module: vm-deps
	@for k in $(or $(KERNEL),$(VM_KERNELS)); do \
		tests/vm/build-module.sh "$$(tests/vm/kver.sh $$k)" || exit 1; done

test-vm: vm-deps
	@tests/vm/run-kernels.sh $(or $(KERNEL),$(VM_KERNELS))

module-check: vm-deps
	@tools/apt-ensure $(vm_pkgs_check)
	@tests/vm/module-check.sh $(KERNEL)

genl-gen:
	$(SSW_VENV)/bin/python tools/gen_genl.py

bench-vm: vm-deps
	@tools/apt-ensure iperf3 wireguard-tools
	$(SSW_VENV)/bin/python bench/vm.py

bench-flood-vm: vm-deps
	@tools/apt-ensure wireguard-tools
	$(SSW_VENV)/bin/python bench/flood_vm.py

.PHONY: vm-deps module module-check test-vm genl-gen bench-vm bench-flood-vm
