"""The shipped examples and ``sswctl init`` configs carry real traffic in test namespaces.

- conf/site-a.conf and conf/site-b.conf, used verbatim: their public
  addresses 203.0.113.1/.2 exist only on a veth pair between two namespaces,
  their LANs only as addresses on each namespace's loopback.
- ``init server`` (uplink detected from the default route) and ``init client``:
  the client's full tunnel reaches a remote host through the server's NAT.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from test_quick import REPO_CONF, Lab, lab_fixture, sh, wait_carrier  # noqa: F401 (the lab fixture)

pytestmark = [pytest.mark.root, pytest.mark.netns]


def ping_until(ns, *args: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while ns.run("ping", "-c", "1", "-W", "2", *args, check=False).returncode:
        assert time.monotonic() < deadline, f"no reply to ping {' '.join(args)}"


def test_site_to_site_pair_carries_traffic_between_the_lans(lab: Lab):
    a, b = lab.client, lab.server
    lab.ifaces += ["site-a", "site-b"]
    sh("ip", "link", "add", "wa", "netns", a.name, "type", "veth", "peer", "name", "wb", "netns", b.name)
    for ns, dev, pub, lan in ((a, "wa", "203.0.113.1/24", "10.1.0.1/24"), (b, "wb", "203.0.113.2/24", "10.2.0.1/24")):
        ns.ip("addr", "add", pub, "dev", dev)
        ns.ip("link", "set", dev, "up")
        ns.ip("addr", "add", lan, "dev", "lo")
    wait_carrier(a, "wa")
    wait_carrier(b, "wb")
    before = a.snapshot()
    for ns, name in ((a, "site-a"), (b, "site-b")):
        r = ns.sswctl("up", str(REPO_CONF / f"{name}.conf"), "--backend", "userspace", log=lab.tmp / f"{name}.log")
        assert r.returncode == 0, r.stderr
    assert "10.2.0.0/24 dev site-a" in a.ip("route").stdout
    ping_until(a, "-I", "10.1.0.1", "10.2.0.1")  # LAN to LAN
    ping_until(b, "172.16.0.1")  # gateway to gateway
    dump = a.sswctl("show", "site-a", "dump", log=lab.tmp / "show.log").stdout.splitlines()
    assert dump[1].split("\t")[2] == "203.0.113.2:51820"
    for ns, name in ((a, "site-a"), (b, "site-b")):
        assert ns.sswctl("down", str(REPO_CONF / f"{name}.conf"), log=lab.tmp / f"{name}.log").returncode == 0
    assert a.snapshot() == before


def test_init_server_and_client_full_tunnel_through_nat(lab: Lab, tmp_path: Path):
    server_if, client_if = lab.iface("n"), lab.iface("m")
    lab.server.ip("route", "add", "default", "via", "198.51.100.2")  # uplink: s1
    sdir, cdir = tmp_path / "server", tmp_path / "client"
    r = lab.server.sswctl("init", "server", "--dir", str(sdir), "-i", server_if, log=tmp_path / "init.log")
    assert r.returncode == 0, r.stderr
    server_conf = sdir / f"{server_if}.conf"
    assert 'oifname "s1"' in server_conf.read_text()
    server_pub = r.stdout.split("Server public key: ")[1].split()[0]
    r = lab.client.sswctl("init", "client", "--dir", str(cdir), "-i", client_if, "--server-key", server_pub,
                          "--endpoint", "192.0.2.1:51820", log=tmp_path / "init.log")
    assert r.returncode == 0, r.stderr
    peer_block = r.stdout[r.stdout.index("[Peer]"):]
    server_conf.write_text(server_conf.read_text() + "\n" + peer_block)

    before = lab.server.snapshot()
    assert lab.server.sswctl("up", str(server_conf), log=tmp_path / "s.log").returncode == 0
    assert "secureswift-nat-" + server_if in lab.server.run("nft", "list", "tables").stdout
    r = lab.client.sswctl("up", str(cdir / f"{client_if}.conf"), log=tmp_path / "c.log")
    assert r.returncode == 0, r.stderr
    # The remote has no route to 10.99.0.0/24: only the server's masquerade makes replies come back.
    ping_until(lab.client, "198.51.100.2")
    # `down IFACE` finds the config the tunnel was brought up from (no /etc/secureswift/IFACE.conf here).
    assert lab.client.sswctl("down", client_if, log=tmp_path / "c.log").returncode == 0
    assert client_if not in lab.client.ip("link").stdout
    assert lab.server.sswctl("down", str(server_conf), log=tmp_path / "s.log").returncode == 0
    assert lab.server.snapshot() == before
