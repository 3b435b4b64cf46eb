"""`sswctl strip` output is accepted by the real `wg setconf`, and means the same to wg.

One throwaway network namespace holds one wireguard-go interface for the whole
module. For every corpus and example config: strip it (a real sswctl process),
`wg setconf` the result onto the interface, read it back with `wg showconf`
and compare what wg holds with what our parser read, field by field.

Hostname endpoints resolve through /etc/netns/NS/hosts, which `ip netns exec`
bind-mounts over /etc/hosts for commands in that namespace only; the test
maps every hostname in the corpus to an address from 198.18.0.0/15.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sswctl import config
from sswctl.model import Device, Endpoint
from tests.conftest import DATA, REPO, need_binary

pytestmark = pytest.mark.root

CONFIGS = sorted((DATA / "configs").glob("*.conf")) + sorted((REPO / "conf").glob("*.conf"))
WG_SOCK_DIR = "/var/run/wireguard"


def hostnames() -> dict[str, str]:
    names = sorted(
        {
            p.endpoint.host
            for path in CONFIGS
            for p in config.load_config(str(path)).peers
            if p.endpoint and not _is_ip(p.endpoint.host)
        }
    )
    return {name: str(ipaddress.ip_address("198.18.0.1") + i) for i, name in enumerate(names)}


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


class WgNamespace:
    def __init__(self) -> None:
        tag = f"{os.getpid() % 100000}"
        self.ns = f"sswstrip{tag}"
        self.iface = f"sswst{tag}"[:15]
        self.etc = Path("/etc/netns") / self.ns
        self.hosts = hostnames()
        self.proc: subprocess.Popen | None = None

    def run(self, *cmd: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["ip", "netns", "exec", self.ns, *cmd], capture_output=True, text=True, timeout=60, check=check, input=input
        )

    def start(self) -> None:
        wg_go = need_binary("wireguard-go")
        need_binary("wg")
        subprocess.run(["ip", "netns", "add", self.ns], check=True, capture_output=True)
        self.etc.mkdir(parents=True, exist_ok=True)
        (self.etc / "hosts").write_text(
            "127.0.0.1 localhost\n" + "".join(f"{ip} {name}\n" for name, ip in self.hosts.items())
        )
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, "env", "WG_PROCESS_FOREGROUND=1", wg_go, self.iface],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        sock = Path(WG_SOCK_DIR) / f"{self.iface}.sock"
        deadline = time.monotonic() + 20
        while not sock.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"wireguard-go did not start: {self.proc.stdout.read() if self.proc.poll() else ''}"
                )
            time.sleep(0.05)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        shutil.rmtree(self.etc, ignore_errors=True)
        (Path(WG_SOCK_DIR) / f"{self.iface}.sock").unlink(missing_ok=True)


@pytest.fixture(scope="module")
def wgns():
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")
    ns = WgNamespace()
    try:
        ns.start()
        yield ns
    finally:
        ns.close()


def expected_endpoint(ep: Endpoint | None, hosts: dict[str, str]) -> Endpoint | None:
    if ep is None:
        return None
    return Endpoint(hosts.get(ep.host, ep.host), ep.port)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_stripped_config_is_accepted_by_wg_setconf_and_reads_back_the_same(wgns, path, tmp_path):
    stripped = subprocess.run(
        [sys.executable, "-m", "sswctl", "strip", str(path)], capture_output=True, text=True, check=True
    ).stdout
    conf = tmp_path / "stripped.conf"
    conf.write_text(stripped)
    os.chmod(conf, 0o600)
    setconf = wgns.run("wg", "setconf", wgns.iface, str(conf), check=False)
    assert setconf.returncode == 0, setconf.stderr

    shown: Device = config.parse_config(wgns.run("wg", "showconf", wgns.iface).stdout, "wg-showconf", config.SETCONF)
    want = config.load_config(str(path))
    assert shown.private_key == want.private_key
    if want.listen_port:
        assert shown.listen_port == want.listen_port
    assert (shown.fwmark or 0) == (want.fwmark or 0)
    assert {p.public_key for p in shown.peers} == {p.public_key for p in want.peers}
    for w in want.peers:
        s = shown.peer(w.public_key)
        assert s.preshared_key == w.preshared_key
        assert set(s.allowed_ips) == set(w.allowed_ips)
        assert s.endpoint == expected_endpoint(w.endpoint, wgns.hosts)
        assert (s.persistent_keepalive or 0) == (w.persistent_keepalive or 0)


def test_wg_setconf_refuses_the_unstripped_wg_quick_config(wgns):
    """Control: the corpus really needs strip (wg itself rejects wg-quick keys)."""
    result = wgns.run("wg", "setconf", wgns.iface, str(REPO / "conf" / "server.conf"), check=False)
    assert result.returncode != 0


def test_wg_setconf_refuses_extension_keys_so_strip_drops_them_by_default(wgns, tmp_path):
    path = DATA / "configs" / "17-secureswift-extensions.conf"
    for flags, accepted in (([], True), (["--extensions"], False)):
        out = subprocess.run(
            [sys.executable, "-m", "sswctl", "strip", *flags, str(path)], capture_output=True, text=True, check=True
        ).stdout
        conf = tmp_path / "x.conf"
        conf.write_text(out)
        assert (wgns.run("wg", "setconf", wgns.iface, str(conf), check=False).returncode == 0) is accepted
