"""Without the native data plane the userspace backend refuses to start, and says why.

The C extension (sswctl._datapath) is the userspace backend's only data plane.
Each test runs the real CLI in a fresh Python process in which importing the
extension fails as it does after a failed build, and asserts what a user
sees: one line naming the missing piece and the way to build it, exit code 1,
no traceback, and nothing left behind (no network interface, no UAPI socket,
no lock, no `up` journal). The check comes before anything is created, so it
holds with and without root.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sswctl import keys
from sswctl.paths import SOCK_DIR as SSW_SOCK_DIR
from sswctl.paths import WG_SOCK_DIR

# What a failed build looks like to Python: the import of the extension fails.
BROKEN = """
import sys
sys.modules["sswctl._datapath"] = None
sys.argv = ["sswctl"] + sys.argv[1:]
from sswctl.cli import main
main()
"""


def sswctl_without_extension(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BROKEN, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def leftovers(name: str, *dirs: str) -> list[str]:
    found = [f"/sys/class/net/{name}"] if os.path.exists(f"/sys/class/net/{name}") else []
    for d in (SSW_SOCK_DIR, WG_SOCK_DIR, *dirs):
        if os.path.isdir(d):
            found += [os.path.join(d, f) for f in os.listdir(d) if name in f]
    return found


@pytest.fixture
def name() -> str:
    return f"sswnb{os.getpid() % 100000}"


def assert_refused(r: subprocess.CompletedProcess, name: str) -> None:
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    err = r.stderr
    assert f"cannot start {name}: the native data plane (sswctl._datapath) is not built" in err, err
    assert "C compiler" in err and "Python headers" in err and "make deps" in err and "pip install -e ." in err


@pytest.mark.parametrize("args", [
    ("daemon", "{name}", "--backend", "userspace"),
    ("daemon", "{name}", "--backend", "userspace", "--wg-socket", "--listen-port", "0"),
    ("daemon", "{name}", "--backend", "userspace", "--background"),
    ("create", "{name}", "--backend", "userspace"),
], ids=["daemon", "daemon-wg-socket", "daemon-background", "create"])
def test_the_userspace_daemon_says_the_native_plane_is_not_built_and_creates_nothing(name, args):
    r = sswctl_without_extension(*(a.format(name=name) for a in args))
    assert_refused(r, name)
    assert r.stdout == ""
    assert leftovers(name) == []


def test_up_reports_it_and_leaves_no_journal(name, tmp_path):
    conf = tmp_path / f"{name}.conf"
    conf.write_text(f"[Interface]\nPrivateKey = {keys.to_base64(keys.generate_private_key())}\n"
                    "Address = 10.77.0.1/24\n")
    conf.chmod(0o600)
    state = tmp_path / "state"
    r = sswctl_without_extension("up", str(conf), "--backend", "userspace", env={"SSW_STATE_DIR": str(state)})
    assert_refused(r, name)
    assert leftovers(name, str(state)) == []


def test_the_cli_without_the_extension_still_works():
    """Only the userspace data plane needs it: keys, config and the kernel backend do not."""
    r = sswctl_without_extension("genkey")
    assert r.returncode == 0 and len(keys.from_base64(r.stdout.strip())) == 32
