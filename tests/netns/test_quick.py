"""``sswctl up/down/save`` in namespaces the tests create (userspace backend).

Topology (only TEST-NET and private addresses, all inside our namespaces):

    client ns  c0 192.0.2.2/24 <-veth-> s0 192.0.2.1/24  server ns
               s1 198.51.100.1/24 <-veth-> r0 198.51.100.2/24  remote ns

The server forwards; the remote namespace has no route back to 192.0.2.0/24,
so a client packet reaches it and gets an answer only when it went through
the tunnel (its source is then the tunnel address 10.66.0.2, which the
remote routes back via the server).

DNS: ``ip netns exec`` bind-mounts /etc/netns/NS/* over /etc, so each
namespace gets its own resolv.conf and resolvconf.conf (whose state_dir is a
temporary directory): the host's resolver files are never touched.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sswctl import keys
from sswctl.paths import JOURNAL, LOCK, device_file, netns_inode
from sswctl.paths import SOCK_DIR as SSW_SOCK_DIR

pytestmark = [pytest.mark.root, pytest.mark.netns]

SSWCTL = [sys.executable, "-m", "sswctl"]
REPO_CONF = Path(__file__).resolve().parents[2] / "conf"
_seq = itertools.count()


def sh(*cmd: str, check: bool = True, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, capture_output=True, text=True, input=input, timeout=timeout)


class Namespace:
    def __init__(self, name: str, tmp: Path):
        self.name = name
        self.etc = Path("/etc/netns") / name
        self.rc_state = tmp / f"{name}-resolvconf"
        sh("ip", "netns", "add", name)
        self.ip("link", "set", "lo", "up")
        # No duplicate address detection: IPv6 addresses settle at once, snapshots are stable.
        for conf in ("all", "default"):
            self.run("sysctl", "-q", f"net.ipv6.conf.{conf}.accept_dad=0")
        self.etc.mkdir(parents=True, exist_ok=True)
        self.rc_state.mkdir()
        (self.etc / "resolv.conf").write_text("nameserver 192.0.2.53\n")
        (self.etc / "resolvconf.conf").write_text(f"resolv_conf=/etc/resolv.conf\nstate_dir={self.rc_state}\n")

    def file(self, iface: str, suffix: str) -> Path:
        """A per-interface file of this namespace in the run directory (``IFACE@net-INODE.EXT``)."""
        return Path(device_file(iface, suffix, netns=netns_inode(f"/run/netns/{self.name}")))

    def journal(self, iface: str) -> Path:
        """Where `sswctl up` run in this namespace keeps its undo journal."""
        return self.file(iface, JOURNAL)

    def daemon_pid(self, iface: str) -> int:
        """The pid in the lock of this namespace's daemon for ``iface``, 0 if none."""
        try:
            return int(self.file(iface, LOCK).read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return sh("ip", "-n", self.name, *args, check=check)

    def run(self, *cmd: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        return sh("ip", "netns", "exec", self.name, *cmd, check=check, timeout=timeout)

    def sswctl(self, *args: str, log: Path) -> subprocess.CompletedProcess:
        """Run sswctl here; stderr to a file (a daemon it starts inherits it)."""
        with open(log, "a") as err:
            p = subprocess.run(["ip", "netns", "exec", self.name, *SSWCTL, *args], stdout=subprocess.PIPE,
                               stderr=err, text=True, timeout=120, cwd="/")
        p.stderr = log.read_text()
        return p

    def snapshot(self) -> dict:
        """Everything up/down may touch in this namespace."""
        snap = {}
        for fam in ("-4", "-6"):
            snap[f"addr{fam}"] = sorted((link["ifname"], a["local"], a["prefixlen"], a.get("scope"))
                                        for link in json.loads(self.ip("-j", fam, "addr", "show").stdout)
                                        for a in link.get("addr_info", []))
            snap[f"route{fam}"] = sorted(self.ip(fam, "route", "show", "table", "all").stdout.splitlines())
            snap[f"rule{fam}"] = self.ip(fam, "rule", "show").stdout
        snap["links"] = sorted(ln["ifname"] for ln in json.loads(self.ip("-j", "link", "show").stdout))
        snap["nft"] = self.run("nft", "list", "ruleset").stdout
        if shutil.which("iptables-save"):
            snap["iptables"] = "\n".join(ln for ln in self.run("iptables-save").stdout.splitlines()
                                         if not ln.startswith("#"))
        snap["resolv.conf"] = self.run("cat", "/etc/resolv.conf").stdout
        snap["resolvconf-state"] = sorted(str(p.relative_to(self.rc_state)) for p in self.rc_state.rglob("*")
                                          if p.is_file() and p.stat().st_size)
        snap["src_valid_mark"] = self.run("cat", "/proc/sys/net/ipv4/conf/all/src_valid_mark").stdout
        return snap

    def close(self) -> None:
        sh("ip", "netns", "del", self.name, check=False)
        shutil.rmtree(self.etc, ignore_errors=True)


def wait_carrier(ns: Namespace, dev: str, timeout: float = 60) -> None:
    """Until the link reports carrier: snapshots taken before would see it change."""
    deadline = time.monotonic() + timeout
    while json.loads(ns.ip("-j", "link", "show", dev).stdout)[0].get("operstate") != "UP":
        assert time.monotonic() < deadline, f"{dev} in {ns.name} has no carrier"
        time.sleep(0.05)


class Lab:
    """Client, server and remote namespaces; daemons started here are stopped by pid at the end."""

    def __init__(self, tmp: Path):
        tag = f"{os.getpid() % 10000}{next(_seq)}"
        self.tmp = tmp
        self.ifaces: list[str] = []
        self.ns: list[Namespace] = []
        self.client = self._ns(f"sqc{tag}")
        self.server = self._ns(f"sqs{tag}")
        self.remote = self._ns(f"sqr{tag}")
        self.tag = tag
        sh("ip", "link", "add", "c0", "netns", self.client.name, "type", "veth", "peer", "name", "s0",
           "netns", self.server.name)
        sh("ip", "link", "add", "s1", "netns", self.server.name, "type", "veth", "peer", "name", "r0",
           "netns", self.remote.name)
        for ns, dev, addr in ((self.client, "c0", "192.0.2.2/24"), (self.server, "s0", "192.0.2.1/24"),
                              (self.server, "s1", "198.51.100.1/24"), (self.remote, "r0", "198.51.100.2/24")):
            ns.ip("addr", "add", addr, "dev", dev)
            ns.ip("link", "set", dev, "up")
        for ns, dev in ((self.client, "c0"), (self.server, "s0"), (self.server, "s1"), (self.remote, "r0")):
            wait_carrier(ns, dev)
        self.client.ip("link", "set", "c0", "mtu", "1400")
        self.client.ip("route", "add", "default", "via", "192.0.2.1")
        self.remote.ip("route", "add", "10.66.0.0/24", "via", "198.51.100.1")
        # A router already (init's server PostUp turns these on and, on purpose, never off).
        self.server.run("sysctl", "-q", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")

    def _ns(self, name: str) -> Namespace:
        ns = Namespace(name, self.tmp)
        self.ns.append(ns)
        return ns

    def iface(self, role: str) -> str:
        name = f"q{role}{self.tag}"[:15]
        self.ifaces.append(name)
        return name

    def close(self) -> None:
        pids = [p for p in (ns.daemon_pid(i) for ns in self.ns for i in self.ifaces) if p > 0]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        for pid in pids:
            while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
                time.sleep(0.05)
        for ns in self.ns:
            for i in self.ifaces:
                ns.journal(i).unlink(missing_ok=True)
            ns.close()


@pytest.fixture(name="lab")
def lab_fixture(tmp_path: Path):
    has_openresolv = shutil.which("resolvconf") and "openresolv" in sh("resolvconf", "--version", check=False).stdout
    if not shutil.which("nft") or not has_openresolv:
        pytest.skip("needs openresolv and nftables (make deps installs them)")
    lab = Lab(tmp_path)
    try:
        yield lab
    finally:
        lab.close()


def keypair() -> tuple[str, str]:
    priv = keys.generate_private_key()
    return keys.to_base64(priv), keys.to_base64(keys.public_key(priv))


def write_conf(path: Path, text: str) -> Path:
    keys.write_secret_file(str(path), text)
    return path


def tunnel_configs(lab: Lab, *, client_extra: str = "", allowed: str = "0.0.0.0/0, ::/0") -> tuple[Path, Path]:
    """A server config and a full-tunnel client config (files named after their interfaces)."""
    s_priv, s_pub = keypair()
    c_priv, c_pub = keypair()
    server = write_conf(lab.tmp / f"{lab.iface('s')}.conf", f"""
[Interface]
PrivateKey = {s_priv}
ListenPort = 51820
Address = 10.66.0.1/24

[Peer]
PublicKey = {c_pub}
AllowedIPs = 10.66.0.2/32
""")
    client = write_conf(lab.tmp / f"{lab.iface('c')}.conf", f"""
[Interface]
PrivateKey = {c_priv}
Address = 10.66.0.2/24, fd66::2/64
DNS = 10.66.0.1, corp.example
{client_extra}
[Peer]
PublicKey = {s_pub}
AllowedIPs = {allowed}
Endpoint = 192.0.2.1:51820
""")
    return server, client


def up(ns: Namespace, conf: Path, lab: Lab) -> subprocess.CompletedProcess:
    return ns.sswctl("up", str(conf), "--backend", "userspace", log=lab.tmp / f"{conf.stem}.log")


def down(ns: Namespace, conf: Path, lab: Lab) -> subprocess.CompletedProcess:
    return ns.sswctl("down", str(conf), log=lab.tmp / f"{conf.stem}.log")


def test_up_then_down_leaves_the_namespace_exactly_as_before(lab: Lab):
    _, client = tunnel_configs(lab)
    iface = client.stem
    before = lab.client.snapshot()

    r = up(lab.client, client, lab)
    assert r.returncode == 0, r.stderr
    during = lab.client.snapshot()
    assert iface in during["links"]
    # The journal is named after the namespace: another namespace's `up` of the same name has its own.
    journal = lab.client.journal(iface)
    assert journal.exists() and journal.stat().st_mode & 0o777 == 0o600
    assert not Path(SSW_SOCK_DIR, f"{iface}.quick").exists()
    assert "not from all fwmark 0xca6c lookup 51820" in during["rule-4"]
    assert "from all lookup main suppress_prefixlength 0" in during["rule-6"]
    assert f"table ip secureswift-{iface}" in during["nft"]
    assert "nameserver 10.66.0.1" in during["resolv.conf"] and "corp.example" in during["resolv.conf"]
    assert during["src_valid_mark"].strip() == "1"
    # MTU auto: the path toward the endpoint is 1400 (c0), minus 80 bytes of overhead.
    assert json.loads(lab.client.ip("-j", "link", "show", iface).stdout)[0]["mtu"] == 1320

    r = down(lab.client, client, lab)
    assert r.returncode == 0, r.stderr
    assert lab.client.snapshot() == before
    assert lab.client.daemon_pid(iface) == 0
    assert not journal.exists()


def test_full_tunnel_reaches_remote_only_through_the_tunnel(lab: Lab):
    server, client = tunnel_configs(lab)
    assert up(lab.server, server, lab).returncode == 0
    # Without the tunnel the remote cannot answer the client (no route back to 192.0.2.0/24).
    assert lab.client.run("ping", "-c", "1", "-W", "1", "198.51.100.2", check=False).returncode != 0

    r = up(lab.client, client, lab)
    assert r.returncode == 0, r.stderr
    iface = client.stem
    # Policy routing: ordinary packets go to the tunnel, marked packets (its own UDP) to c0.
    assert f"dev {iface}" in lab.client.ip("route", "get", "198.51.100.2").stdout
    assert "dev c0" in lab.client.ip("route", "get", "192.0.2.1", "mark", "51820").stdout

    deadline = time.monotonic() + 30
    while lab.client.run("ping", "-c", "2", "-i", "0.2", "-W", "2", "198.51.100.2", check=False).returncode:
        assert time.monotonic() < deadline, "no traffic through the full tunnel"
    # The handshake and the data crossed the underlay as UDP: the server saw our endpoint.
    dump = lab.server.sswctl("show", server.stem, "dump", log=lab.tmp / "show.log").stdout
    peer = dump.splitlines()[1].split("\t")
    assert peer[2].startswith("192.0.2.2:") and int(peer[4]) > 0 and int(peer[5]) > 0
    assert down(lab.client, client, lab).returncode == 0
    assert lab.client.run("ping", "-c", "1", "-W", "1", "198.51.100.2", check=False).returncode != 0


def test_failing_post_up_rolls_back_completely(lab: Lab):
    marker = lab.tmp / "post-down-ran"
    _, client = tunnel_configs(lab, client_extra=(
        "PostUp = nft add table inet hook_%i\n"
        "PostUp = false\n"
        "PostDown = nft delete table inet hook_%i\n"
        f"PostDown = touch {marker}\n"))
    iface = client.stem
    before = lab.client.snapshot()
    r = up(lab.client, client, lab)
    assert r.returncode == 1
    assert "hook `false` failed" in r.stderr and "undoing" in r.stderr
    assert marker.exists()
    assert lab.client.snapshot() == before
    assert lab.client.daemon_pid(iface) == 0


def test_up_on_an_up_interface_is_an_error(lab: Lab):
    _, client = tunnel_configs(lab, allowed="10.66.0.0/24")
    assert up(lab.client, client, lab).returncode == 0
    during = lab.client.snapshot()
    r = up(lab.client, client, lab)
    assert r.returncode == 1 and "already exists" in r.stderr
    assert lab.client.snapshot() == during
    assert down(lab.client, client, lab).returncode == 0


def test_bad_config_exit_2_names_the_line_and_changes_nothing(lab: Lab):
    _, client = tunnel_configs(lab, client_extra="MTU = huge\n")
    before = lab.client.snapshot()
    r = up(lab.client, client, lab)
    assert r.returncode == 2
    assert f"{client}:6:" in r.stderr
    assert lab.client.snapshot() == before


def test_table_number_and_hooks_with_interface_name(lab: Lab):
    out = lab.tmp / "hook.out"
    _, client = tunnel_configs(lab, allowed="10.66.0.0/24, 203.0.113.0/24",
                               client_extra=(f"Table = 1234\nPreUp = echo pre-%i >> {out}\n"
                                             f"PostUp = echo post-%i >> {out}\nPreDown = echo predown-%i >> {out}\n"))
    iface = client.stem
    before = lab.client.snapshot()
    assert up(lab.client, client, lab).returncode == 0
    routes = lab.client.ip("route", "show", "table", "1234").stdout
    assert f"10.66.0.0/24 dev {iface}" in routes and f"203.0.113.0/24 dev {iface}" in routes
    assert "suppress_prefixlength" not in lab.client.ip("rule").stdout
    assert down(lab.client, client, lab).returncode == 0
    assert out.read_text().split() == [f"pre-{iface}", f"post-{iface}", f"predown-{iface}"]
    assert lab.client.snapshot() == before


def test_save_config_writes_running_state_0600(lab: Lab):
    _, client = tunnel_configs(lab, allowed="10.66.0.0/24", client_extra="SaveConfig = true\nMTU = 1300\n")
    iface = client.stem
    assert up(lab.client, client, lab).returncode == 0
    lab.client.ip("addr", "add", "10.77.0.2/32", "dev", iface)
    new_pub = keypair()[1]
    lab.client.sswctl("set", iface, "peer", new_pub, "allowed-ips", "10.88.0.0/16", log=lab.tmp / "set.log")
    assert down(lab.client, client, lab).returncode == 0
    text = client.read_text()
    assert os.stat(client).st_mode & 0o777 == 0o600
    assert "10.77.0.2/32" in text and new_pub in text and "SaveConfig = true" in text and "MTU = 1300" in text
    assert "DNS = 10.66.0.1, corp.example" in text


def test_up_without_config_brings_existing_link_up(lab: Lab):
    iface = lab.iface("d")
    log = lab.tmp / "direct.log"
    assert lab.client.sswctl("create", iface, "--backend", "userspace", log=log).returncode == 0
    lab.client.ip("link", "set", iface, "down")
    lab.client.ip("addr", "add", "10.55.0.1/24", "dev", iface)
    r = lab.client.sswctl("up", iface, log=log)
    assert r.returncode == 0, r.stderr
    assert "UP" in json.loads(lab.client.ip("-j", "link", "show", iface).stdout)[0]["flags"]
    assert lab.client.sswctl("status", iface, log=log).returncode == 0
    assert lab.client.sswctl("destroy", iface, log=log).returncode == 0
    r = lab.client.sswctl("up", iface, log=log)
    assert r.returncode == 2 and "no such interface" in r.stderr
