"""``make install``'s DKMS step, for real: dkms add/build/install of the module
for Debian's default kernel, then ``make uninstall-dkms`` removes every trace.

The running kernel here cannot load modules and has no headers, so the module
is built for another installed kernel (``DKMS_KERNEL``), exactly what DKMS does
for a freshly installed kernel before its first boot. Loading it is the VM
layer's job (tests/vm).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.root, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
VERSION = re.search(r'__version__ = "([^"]+)"', (REPO / "sswctl" / "__init__.py").read_text()).group(1)


def _target_kernel() -> str:
    """The newest kernel with both modules and headers installed, -rt/-cloud flavours excluded."""
    found = []
    for d in Path("/lib/modules").iterdir():
        if re.search(r"-(rt|cloud)-amd64$", d.name):
            continue
        if (d / "build" / "Makefile").exists() and (d / "kernel").is_dir():
            found.append(d.name)
    if not found:
        pytest.skip("no kernel with headers installed (make test-netns-deps installs linux-image/headers-amd64)")
    return sorted(found, key=lambda v: [int(x) if x.isdigit() else x for x in re.split(r"[.-]", v)])[-1]


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", "-C", str(REPO), *args], capture_output=True, text=True, timeout=900)


def dkms_status() -> str:
    return subprocess.run(["dkms", "status", "-m", "secureswift"], capture_output=True, text=True).stdout


def test_make_install_dkms_builds_installs_and_uninstalls(tmp_path: Path):
    if not shutil.which("dkms"):
        pytest.skip("dkms missing (make deps installs it)")
    kver = _target_kernel()
    if dkms_status().strip():
        pytest.skip(f"secureswift is already registered with DKMS on this machine: {dkms_status().strip()}")
    updates = Path("/lib/modules") / kver / "updates" / "dkms"
    try:
        r = make("install-dkms", f"DKMS_KERNEL={kver}")
        assert r.returncode == 0, r.stdout + r.stderr
        assert re.search(rf"secureswift/{re.escape(VERSION)}, {re.escape(kver)}, x86_64: installed", dkms_status())
        # Debian's 6.12 kernels compress their modules and DKMS follows suit (.ko.xz).
        found = sorted(updates.glob("secureswift.ko*"))
        assert len(found) == 1, found
        installed = found[0]
        info = subprocess.run(["modinfo", "-F", "vermagic", str(installed)], capture_output=True, text=True)
        assert info.stdout.split()[0] == kver  # built against that kernel, not the running one
        lic = subprocess.run(["modinfo", "-F", "license", str(installed)], capture_output=True, text=True)
        assert lic.stdout.strip() == "GPL"
        # depmod ran: modprobe for that kernel resolves the module by name.
        dep = subprocess.run(["modprobe", "-S", kver, "--show-depends", "secureswift"], capture_output=True, text=True)
        assert dep.returncode == 0 and str(installed) in dep.stdout, dep.stderr
    finally:
        r = make("uninstall-dkms")
    assert r.returncode == 0, r.stdout + r.stderr
    assert dkms_status().strip() == ""
    assert not list(updates.glob("secureswift.ko*"))
    assert not Path(f"/usr/src/secureswift-{VERSION}").exists()
