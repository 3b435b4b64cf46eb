"""``make install`` / ``make uninstall`` into a throwaway prefix (the real targets, real pip).

DKMS and ``systemctl daemon-reload`` are turned off here: the test machine's
kernel cannot load modules and systemd is not PID 1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.root, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def make(target: str, prefix: Path, confdir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", "-C", str(REPO), target, f"PREFIX={prefix}", f"CONFDIR={confdir}",
                           "DKMS=no", "SYSTEMD_RELOAD=no"], capture_output=True, text=True, timeout=600)


def test_install_then_uninstall(tmp_path: Path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze missing (package systemd; make deps installs it)")
    prefix, confdir = tmp_path / "usr", tmp_path / "etc" / "secureswift"
    confdir.mkdir(parents=True, mode=0o755)
    confdir.chmod(0o755)
    (confdir / "mine.conf").write_text("[Interface]\n")
    r = make("install", prefix, confdir)
    assert r.returncode == 0, r.stdout + r.stderr

    out = subprocess.run([prefix / "bin" / "sswctl", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "0.1.0" in out.stdout
    assert subprocess.run([prefix / "bin" / "sswmon", "--help"], capture_output=True).returncode == 0
    assert os.stat(confdir).st_mode & 0o777 == 0o700
    examples = prefix / "share" / "secureswift" / "examples"
    assert {p.name for p in examples.iterdir()} == {p.name for p in (REPO / "conf").glob("*.conf")}
    unitdir = prefix / "lib" / "systemd" / "system"
    unit = (unitdir / "secureswift@.service").read_text()
    assert "@BINDIR@" not in unit and f"ExecStart={prefix}/bin/sswctl daemon %i" in unit
    (unitdir / "secureswift@ssw0.service").symlink_to("secureswift@.service")
    v = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unitdir / "secureswift@ssw0.service")],
                       capture_output=True, text=True)
    assert v.returncode == 0 and not v.stderr.strip(), v.stderr
    (unitdir / "secureswift@ssw0.service").unlink()

    r = make("uninstall", prefix, confdir)
    assert r.returncode == 0, r.stdout + r.stderr
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if not p.is_dir())
    assert left == ["etc/secureswift/mine.conf"]  # the user's configs (keys) stay
