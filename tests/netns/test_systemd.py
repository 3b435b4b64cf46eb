"""systemd units: ``systemd-analyze verify`` passes, and every Exec line's command works.

systemd is not PID 1 on the test machines, so the service's command lines are
taken from the unit file (specifiers and ``$$`` resolved as systemd does) and
run in a namespace in the order systemd runs them, with a notify socket
standing in for systemd's: ExecStart (the daemon, must send READY=1),
ExecStartPost, ExecReload (sessions kept; a broken config changes nothing),
ExecStop (namespace back to its state before ExecStart).
"""

from __future__ import annotations

import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_quick import Lab, keypair, lab_fixture, tunnel_configs, up, write_conf  # noqa: F401 (the lab fixture)

from sswctl.paths import SOCK

pytestmark = [pytest.mark.root, pytest.mark.netns]

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "systemd"
BINDIR = str(Path(sys.executable).parent)
SSWCTL = f"{BINDIR}/sswctl"


def render(unit: str) -> str:
    """The unit as `make install` writes it, pointing at this checkout's venv."""
    return (UNITS / unit).read_text().replace("@BINDIR@", BINDIR)


def exec_lines(text: str, iface: str) -> dict[str, list[str]]:
    """Exec*= command lines as argv, with %i, %% and $$ resolved as systemd does."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"(Exec[A-Za-z]+)=[-@:+!]*(.*)", line)
        if m:
            cmd = re.sub(r"%(.)", lambda s: {"i": iface, "%": "%"}[s.group(1)], m.group(2)).replace("$$", "$")
            out[m.group(1)] = shlex.split(cmd)
    return out


@pytest.fixture(scope="module")
def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.skip("systemd-analyze missing (package systemd; make deps installs it)")
    return path


def test_units_pass_systemd_analyze_verify(tmp_path: Path, systemd_analyze: str):
    for unit in ("secureswift@.service", "secureswift.target"):
        (tmp_path / unit).write_text(render(unit))
    (tmp_path / "secureswift@ssw0.service").symlink_to("secureswift@.service")
    r = subprocess.run([systemd_analyze, "verify", "--man=no", str(tmp_path / "secureswift@ssw0.service"),
                        str(tmp_path / "secureswift.target")], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr


def test_unit_is_hardened():
    text = render("secureswift@.service")
    for setting in ("Type=notify", "Restart=on-failure", "NoNewPrivileges=yes", "ProtectHome=yes",
                    "PrivateTmp=yes", "ProtectSystem=", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
                    "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE",
                    "SystemCallFilter=@system-service", "SystemCallErrorNumber=EPERM", "DevicePolicy=closed",
                    "DeviceAllow=/dev/net/tun rw", "PrivateMounts=yes"):
        assert any(line.startswith(setting) for line in text.splitlines()), setting
    after = next(line for line in text.splitlines() if line.startswith("After="))
    assert "time-sync.target" in after.split("=", 1)[1].split()
    assert set(exec_lines(text, "x")) == {"ExecStart", "ExecStartPost", "ExecReload", "ExecStop"}


class Notify:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, path: Path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)

    def wait_for(self, word: str, proc: subprocess.Popen, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"ExecStart exited early with {proc.returncode}"
            try:
                msg = self.sock.recv(4096).decode()
            except TimeoutError:
                continue
            if word in msg.split("\n"):
                return msg
        raise AssertionError(f"no {word} within {timeout}s")


def test_service_exec_lines_start_reload_stop(lab: Lab, tmp_path: Path):
    server, client = tunnel_configs(lab, allowed="10.66.0.0/24")
    iface = client.stem
    confdir = tmp_path / "etc-secureswift"
    confdir.mkdir(mode=0o700)
    conf = confdir / client.name
    shutil.copy(client, conf)
    cmds = exec_lines(render("secureswift@.service"), iface)
    notify = Notify(tmp_path / "notify.sock")
    env = ["env", f"SSW_CONFIG_DIR={confdir}", f"NOTIFY_SOCKET={notify.path}"]

    def run(key: str) -> subprocess.CompletedProcess:
        return lab.client.run(*env, *cmds[key], check=False)

    assert up(lab.server, server, lab).returncode == 0
    before = lab.client.snapshot()
    with open(tmp_path / "daemon.log", "w") as log:
        main = subprocess.Popen(["ip", "netns", "exec", lab.client.name, *env, *cmds["ExecStart"]],
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        msg = notify.wait_for("READY=1", main)
        assert f"MAINPID={main.pid}" in msg  # `ip netns exec` execs: the daemon is the main process
        r = run("ExecStartPost")
        assert r.returncode == 0, r.stderr
        assert "10.66.0.2/24" in lab.client.ip("addr", "show", iface).stdout
        assert f"10.66.0.0/24 dev {iface}" in lab.client.ip("route").stdout
        deadline = time.monotonic() + 30
        while lab.client.run("ping", "-c", "1", "-W", "2", "10.66.0.1", check=False).returncode:
            assert time.monotonic() < deadline, "no traffic through the tunnel"
        handshake = lab.client.run(SSWCTL, "show", iface, "latest-handshakes").stdout

        # Reload with one more peer: the existing session is kept (same handshake), the peer appears.
        extra_pub = keypair()[1]
        write_conf(conf, conf.read_text() + f"\n[Peer]\nPublicKey = {extra_pub}\nAllowedIPs = 10.67.0.0/24\n")
        r = run("ExecReload")
        assert r.returncode == 0, r.stderr
        peers = lab.client.run(SSWCTL, "show", iface, "latest-handshakes").stdout
        assert handshake.strip() in peers and extra_pub in peers
        assert lab.client.run("ping", "-c", "1", "-W", "1", "10.66.0.1", check=False).returncode == 0

        # A config that does not parse fails the reload and leaves the tunnel as it was.
        write_conf(conf, conf.read_text() + "Bogus = 1\n")
        r = run("ExecReload")
        assert r.returncode == 2 and f"{conf}:" in r.stderr
        assert lab.client.run(SSWCTL, "show", iface, "latest-handshakes").stdout == peers

        # Stopping still tears everything down; only the hooks and SaveConfig need the config.
        r = run("ExecStop")
        assert r.returncode == 0, r.stderr
        assert f"{conf}:15: unknown key 'Bogus'" in r.stderr and "hooks and SaveConfig skipped" in r.stderr
        assert main.wait(timeout=15) == 0
        assert lab.client.snapshot() == before
    finally:
        if main.poll() is None:
            main.terminate()
            main.wait(timeout=15)
        notify.sock.close()


def test_restart_after_daemon_crash_recovers(lab: Lab, tmp_path: Path):
    """Restart=on-failure: a killed daemon's leftovers are cleaned by the next ExecStartPost."""
    _, client = tunnel_configs(lab)  # full tunnel: rules and nft tables outlive the device
    iface = client.stem
    confdir = tmp_path / "etc"
    confdir.mkdir(mode=0o700)
    shutil.copy(client, confdir / client.name)
    cmds = exec_lines(render("secureswift@.service"), iface)
    env = ["env", f"SSW_CONFIG_DIR={confdir}"]
    before = lab.client.snapshot()
    sock = lab.client.file(iface, SOCK)
    for attempt in range(2):
        main = subprocess.Popen(["ip", "netns", "exec", lab.client.name, *env, *cmds["ExecStart"]],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while not sock.exists():
                assert time.monotonic() < deadline and main.poll() is None, "daemon did not start"
                time.sleep(0.05)
            r = lab.client.run(*env, *cmds["ExecStartPost"], check=False)
            assert r.returncode == 0, r.stderr
            assert lab.client.ip("rule").stdout.count("suppress_prefixlength") == 1
            if attempt == 0:
                main.kill()  # a crash: the daemon cleans nothing up; its TUN device vanishes with it
                main.wait(timeout=15)
                sock.unlink(missing_ok=True)
                continue
            r = lab.client.run(*env, *cmds["ExecStop"], check=False)
            assert r.returncode == 0, r.stderr
            assert main.wait(timeout=15) == 0
        finally:
            if main.poll() is None:
                main.terminate()
                main.wait(timeout=15)
    assert lab.client.snapshot() == before
