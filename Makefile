# SecureSwift VPN — read top to bottom.
#
#   make deps       Debian packages the tests need (apt-get, only when missing) + the venv
#   make test-unit  fast tests, no root needed
#   make test       deps, then every test layer that exists (unit, netns as root, vm)
#   make lint       ruff over the whole tree
#   make test-min-versions  the unit tests against the minimum dependency versions
#   make demo       two peers talking through SecureSwift (see the demo section)
#   make bench      benchmarks (bench/), reported in docs/performance.md
#
# Other engineers' targets live in mk/*.mk (included at the bottom), so adding a
# target area never needs an edit here.

PYTHON ?= python3
VENV ?= $(CURDIR)/.venv
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
# Extra pytest arguments, e.g. make test-unit PYTEST_ARGS="-k config -x"
PYTEST_ARGS ?=

# Debian packages the tests drive for real: wg (interop and strip checks),
# wireguard-go (the reference peer), iperf3 (throughput), ip (namespaces),
# ping (reachability through tunnels), libssl-dev (OpenSSL headers for the
# native data path, sswctl/_datapath/).
APT_PKGS := wireguard-tools wireguard-go iperf3 iproute2 iputils-ping libssl-dev faketime

# A test layer exists when its directory does; absent layers are not "skipped".
TEST_LAYERS := $(foreach l,unit netns vm,$(if $(wildcard tests/$(l)),$(l)))

.DEFAULT_GOAL := help

help:
	@sed -n '2,/^$$/p' $(firstword $(MAKEFILE_LIST)) | sed 's/^# \{0,1\}//'

# --- dependencies -----------------------------------------------------------------

deps: deps-apt venv

deps-apt:
	@tools/apt-ensure $(APT_PKGS)

# The venv is rebuilt when the package metadata changes. The editable install
# is a plain path in a .pth file (editable_mode=compat), not setuptools' import
# hook: that hook's imports run at the start of every Python process, which
# costs little here but about 6 s per process in the emulated VM guests.
EDITABLE := --config-settings editable_mode=compat
venv: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml setup.py Makefile $(wildcard sswctl/_datapath/*.[ch]) secureswift_kmod/wire.h
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[test]' $(EDITABLE)
	@touch $@

# --- tests --------------------------------------------------------------------------
# pytest exits 5 when a layer collects no tests; make treats that as a failure.

test: deps $(addprefix test-,$(TEST_LAYERS))
	@[ -n "$(TEST_LAYERS)" ] || { echo "no test layers found under tests/" >&2; exit 1; }
	@echo "== all test layers passed: $(TEST_LAYERS)"

test-unit: venv
	$(PYTEST) -q tests/unit $(PYTEST_ARGS)

test-netns: deps
	@[ "$$(id -u)" = 0 ] || { echo "tests/netns needs root" >&2; exit 1; }
	$(PYTEST) -q tests/netns $(PYTEST_ARGS)

# test-vm (and module, vm-deps) come from mk/vm.mk.

# The minimum versions setup.cfg declares (>= becomes ==), installed in a
# separate venv, against the unit layer: proof that the minimums are real.
MIN_VENV ?= /tmp/secureswift-venv-min
test-min-versions:
	@[ -x $(MIN_VENV)/bin/python ] || $(PYTHON) -m venv $(MIN_VENV)
	$(PYTHON) -c 'import configparser; c = configparser.ConfigParser(); c.read("setup.cfg"); \
		reqs = c["options"]["install_requires"] + c["options.extras_require"]["test"]; \
		print("\n".join(r.strip().replace(">=", "==") for r in reqs.splitlines() if r.strip()))' \
		> $(MIN_VENV)/requirements-min.txt
	$(MIN_VENV)/bin/pip install -q -r $(MIN_VENV)/requirements-min.txt
	$(MIN_VENV)/bin/pip install -q --no-deps -e . $(EDITABLE)
	$(MIN_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/unit $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .

# --- demo (userspace backend) ---------------------------------------------------------
# scripts/demo.sh: two namespaces, a tunnel between them, ping + iperf3 (needs root).

demo: deps
	@if [ -x scripts/demo.sh ]; then scripts/demo.sh; \
	else echo "make demo: not yet available (arrives with the userspace backend, issue 4)" >&2; exit 1; fi

# --- benchmarks -------------------------------------------------------------------------
# Every bench/*.py is a standalone script; each writes its own section of docs/performance.md.

bench: deps
	@set -e; found=0; for b in bench/*.py; do [ -f "$$b" ] || continue; found=1; \
		echo "== $$b"; $(PY) "$$b"; done; \
	[ $$found = 1 ] || { echo "no benchmarks yet (bench/*.py)" >&2; exit 1; }

clean:
	rm -rf .pytest_cache .hypothesis .ruff_cache build dist

.PHONY: help deps deps-apt venv test test-unit test-netns test-min-versions lint demo bench clean

# --- areas owned by other parts of the project (kernel module/VM, ...) -------------------
-include $(sort $(wildcard mk/*.mk))
