# Kernel module and VM test targets; included by the top-level Makefile.
#
#   make module   [KERNEL=6.1|6.12|7.2|debug]   build secureswift.ko, W=1, warnings fail
#                                     (no KERNEL: every kernel of VM_KERNELS)
#   make test-vm  [KERNEL=6.1|6.12|7.2|debug]   boot that kernel under QEMU, run the whole
#                                     of tests/vm. No KERNEL: the CI matrix VM_KERNELS,
#                                     one boot per kernel, all at once
#                                     (tests/vm/run-kernels.sh); this is what `make test`
#                                     and CI run
#   make test-vm-core [KERNEL=...]    the core subset (VM_CORE_K) only
#   make test-vm-all                  the full matrix: the whole suite on every
#                                     kernel of VM_ALL_KERNELS, one after the other
#   make test-checkers [KERNEL=debug] the harness's own test: a planted bug of each
#                                     class is reported and fails check-dmesg.sh
#   make fetch-kernel [KERNEL=7.2]    Debian sid's kernel into a private cache
#                                     (tests/vm/fetch-kernel.sh; host apt untouched)
#   make debug-kernel                 build (once; cached) the debug kernel: 7.2's
#                                     source + tests/vm/debug.config (KASAN, lockdep,
#                                     UBSAN, KFENCE, kmemleak, debug objects)
#   make vm-deps  [KERNEL=...]        install QEMU, the kernel + headers, virtme-ng
#   make module-check [KERNEL=...]    checkpatch.pl (--no-tree) and sparse (C=2)
#                                     over the module's source; any report fails
#   make genl-gen                     regenerate the C side of the genl schema and
#                                     the wire constants (secureswift_kmod/wire.h)
#   make bench-vm                     one boot (BENCH_VM_KERNEL, default 6.12): iperf3
#                                     through the module, wireguard.ko and the userspace
#                                     backend; writes docs/performance.md (bench/vm.py)
#   make bench-flood-vm               one boot: handshakes/s during a handshake flood,
#                                     the module + daemon vs wireguard.ko (bench/flood_vm.py)
#
# The host never loads the module: it is only built here and run in the guest.

KERNEL ?=
# The CI matrix (make test-vm, make test): the whole suite on the oldest
# supported kernel, bookworm's 6.1; the core subset (KERNEL:core) on
# bookworm's 6.12, sid's 7.2 and the debug kernel built from 7.2's source
# (KASAN, lockdep, UBSAN, KFENCE, kmemleak). The whole suite on every kernel
# is make test-vm-all: under emulation the debug kernel alone takes about
# two hours, more than CI's budget (docs/kernel-module.md has the times).
VM_KERNELS ?= 6.1 6.12:core 7.2:core debug:core
VM_ALL_KERNELS ?= 6.1 6.12 7.2 debug
# The core subset: build W=1 (every boot), module<->module and module<->
# wireguard.ko traffic in both modes, rekey, daemon restart, rmmod and link
# deletion under traffic, the flood test, the checkers' logs.
VM_CORE_K ?= test_selftest or test_traffic or test_interop or rekey or restarted \
	or test_module_unload or test_device_deletion_while or test_flood or test_logs
export VM_CORE_K
# The kernels named by KERNEL, else by the matrix, without their :core.
vm_series = $(sort $(foreach k,$(or $(KERNEL),$(VM_KERNELS)),$(firstword $(subst :, ,$(k)))))
SSW_VENV ?= $(CURDIR)/.venv

# Debian packages per supported kernel series (both from bookworm's own
# archive: 6.12 arrives through bookworm-security, no backports suite needed).
vm_pkgs_6.1 := linux-image-amd64 linux-headers-amd64
vm_pkgs_6.12 := linux-image-6.12-amd64 linux-headers-6.12-amd64
vm_pkgs_common := qemu-system-x86 busybox-static kmod iproute2
vm_pkgs_check := sparse linux-source-6.1

# 7.2 and debug come from Debian sid through a private apt configuration
# (tests/vm/fetch-kernel.sh), never installed; the debug kernel's build needs
# flex, bison and libelf-dev from bookworm.
vm_pkgs_7.2 :=
vm_pkgs_debug := flex bison bc libelf-dev libssl-dev cpio

vm-deps:
	@for k in $(vm_series); do case "$$k" in 6.1|6.12|7.2|debug) ;; \
		*) echo "KERNEL must be 6.1, 6.12, 7.2 or debug, not '$$k'" >&2; exit 2;; esac; done
	@tools/apt-ensure $(vm_pkgs_common) $(foreach k,$(vm_series),$(vm_pkgs_$(k)))
	@[ -x $(SSW_VENV)/bin/vng ] || $(SSW_VENV)/bin/pip install -q -e '.[vm]' $(EDITABLE)

module: vm-deps
	@for k in $(vm_series); do \
		tests/vm/build-module.sh "$$k" || exit 1; done

test-vm: vm-deps
	@tests/vm/run-kernels.sh $(or $(KERNEL),$(VM_KERNELS))

test-vm-core: vm-deps
	@tests/vm/run-kernels.sh $(addsuffix :core,$(vm_series))

test-vm-all:
	@$(MAKE) --no-print-directory vm-deps KERNEL="$(VM_ALL_KERNELS)"
	@VM_SERIAL=1 tests/vm/run-kernels.sh $(VM_ALL_KERNELS)

test-checkers:
	@$(MAKE) --no-print-directory vm-deps KERNEL="$(or $(KERNEL),debug)"
	@tests/vm/check-checkers.sh $(or $(KERNEL),debug)

fetch-kernel:
	@tests/vm/fetch-kernel.sh $(or $(KERNEL),7.2)

debug-kernel:
	@tools/apt-ensure $(vm_pkgs_debug)
	@tests/vm/build-debug-kernel.sh

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

.PHONY: vm-deps module module-check test-vm test-vm-core test-vm-all test-checkers fetch-kernel \
	debug-kernel genl-gen bench-vm bench-flood-vm
