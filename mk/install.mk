# Installing SecureSwift on a machine; included by the top-level Makefile.
#
#   sudo make install     sswctl + sswmon (in their own venv), systemd units,
#                         example configs, /etc/secureswift (mode 0700), and the
#                         module source into DKMS when DKMS and headers are there
#   sudo make uninstall   removes all of that except /etc/secureswift (your keys)
#
# Variables: PREFIX (/usr/local), CONFDIR (/etc/secureswift), DKMS=no to skip
# the module, DKMS_KERNEL (default: the running kernel) to build it for another
# installed kernel, SYSTEMD_RELOAD=no to skip `systemctl daemon-reload`.
# Details: docs/quick.md, "Installing".

PREFIX ?= /usr/local
CONFDIR ?= /etc/secureswift
DKMS ?= auto
DKMS_KERNEL ?= $(shell uname -r)
SYSTEMD_RELOAD ?= auto
# The package gets its own venv: Debian's Python refuses system-wide pip installs (PEP 668).
INSTALL_VENV = $(PREFIX)/lib/secureswift/venv
INSTALL_BINDIR = $(PREFIX)/bin
# systemd reads units from /usr/local/lib/systemd/system as well as /etc and /usr/lib.
INSTALL_UNITDIR = $(PREFIX)/lib/systemd/system
INSTALL_SHAREDIR = $(PREFIX)/share/secureswift
SSW_VERSION = $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' sswctl/__init__.py)
DKMS_SRC = /usr/src/secureswift-$(SSW_VERSION)
UNITS = secureswift@.service secureswift.target

# What the tests of `sswctl up` and the units drive: resolvconf (DNS), nft
# (policy-routing marks, NAT hooks), systemd-analyze (unit verification),
# dkms (make install's module step).
APT_PKGS += openresolv nftables systemd dkms

install: install-python install-units install-conf install-dkms
	@echo "== installed: $(INSTALL_BINDIR)/sswctl, units in $(INSTALL_UNITDIR), configs go in $(CONFDIR)"

install-python:
	@[ -x $(INSTALL_VENV)/bin/python ] || $(PYTHON) -m venv $(INSTALL_VENV)
	$(INSTALL_VENV)/bin/pip install -q --upgrade .
	install -d -m 0755 $(INSTALL_BINDIR)
	ln -sf $(INSTALL_VENV)/bin/sswctl $(INSTALL_BINDIR)/sswctl
	ln -sf $(INSTALL_VENV)/bin/sswmon $(INSTALL_BINDIR)/sswmon

install-units:
	install -d -m 0755 $(INSTALL_UNITDIR)
	@for u in $(UNITS); do \
		sed 's#@BINDIR@#$(INSTALL_BINDIR)#g' systemd/$$u > $(INSTALL_UNITDIR)/$$u.tmp && \
		chmod 0644 $(INSTALL_UNITDIR)/$$u.tmp && mv $(INSTALL_UNITDIR)/$$u.tmp $(INSTALL_UNITDIR)/$$u && \
		echo "installed $(INSTALL_UNITDIR)/$$u"; \
	done
	@if [ "$(SYSTEMD_RELOAD)" != no ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

install-conf:
	install -d -m 0700 $(CONFDIR)
	chmod 0700 $(CONFDIR)
	install -d -m 0755 $(INSTALL_SHAREDIR)/examples
	install -m 0644 conf/*.conf $(INSTALL_SHAREDIR)/examples/

# DKMS rebuilds the module for every kernel update. Only the sources are copied
# (never a local build tree). Skipped, with the reason,
# when dkms or the headers of DKMS_KERNEL are missing.
install-dkms:
	@if [ "$(DKMS)" = no ]; then echo "== DKMS=no: module not installed"; exit 0; fi; \
	if ! command -v dkms >/dev/null; then echo "== dkms not installed: module skipped (apt-get install dkms)"; exit 0; fi; \
	if [ ! -d /lib/modules/$(DKMS_KERNEL)/build ]; then \
		echo "== no headers for $(DKMS_KERNEL): module skipped (apt-get install linux-headers-$(DKMS_KERNEL))"; exit 0; fi; \
	set -e; rm -rf $(DKMS_SRC); install -d $(DKMS_SRC)/uapi; \
	cp secureswift_kmod/Kbuild secureswift_kmod/Makefile secureswift_kmod/dkms.conf \
		secureswift_kmod/*.c secureswift_kmod/*.h $(DKMS_SRC)/; \
	cp secureswift_kmod/uapi/*.h $(DKMS_SRC)/uapi/; \
	dkms status -m secureswift -v $(SSW_VERSION) | grep -q . || dkms add -m secureswift -v $(SSW_VERSION); \
	dkms build -m secureswift -v $(SSW_VERSION) -k $(DKMS_KERNEL); \
	dkms install -m secureswift -v $(SSW_VERSION) -k $(DKMS_KERNEL)

uninstall-dkms:
	@if [ "$(DKMS)" != no ]; then \
		if command -v dkms >/dev/null && dkms status -m secureswift | grep -q .; then \
			dkms remove -m secureswift -v $(SSW_VERSION) --all; fi; \
		rm -rf $(DKMS_SRC); fi

uninstall: uninstall-dkms
	rm -rf $(PREFIX)/lib/secureswift $(INSTALL_SHAREDIR)
	rm -f $(INSTALL_BINDIR)/sswctl $(INSTALL_BINDIR)/sswmon $(addprefix $(INSTALL_UNITDIR)/,$(UNITS))
	@if [ "$(SYSTEMD_RELOAD)" != no ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@echo "== uninstalled; $(CONFDIR) kept (it holds your keys): remove it yourself if you mean to"

.PHONY: install install-python install-units install-conf install-dkms uninstall uninstall-dkms

# The DKMS test (tests/netns/test_dkms.py) builds and installs the module for
# Debian's default kernel (image + headers), which need not be the running one.
test-netns: test-netns-deps
test-netns-deps:
	@tools/apt-ensure linux-image-amd64 linux-headers-amd64
.PHONY: test-netns-deps
