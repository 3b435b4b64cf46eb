"""The userspace daemon at 10,000 peers, native plane throughout: configuring
them completes, one peer's traffic flows and its session survives the growth,
and adding or removing one peer costs the same at 10,000 peers as at 1,000."""

from __future__ import annotations

import ipaddress
import os
import statistics
import subprocess
import time

import pytest
from nslab import PY, inside, ping, wait_for_socket

from sswctl import keys
from sswctl.model import Device, Peer

pytestmark = [pytest.mark.root, pytest.mark.netns]


def sswctl(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    r = subprocess.run(inside(PY, "-m", "sswctl", *args), capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"sswctl {' '.join(args)}: rc={r.returncode} {r.stderr}"
    return r


def many_peers_conf(n: int, first: int = 0) -> str:
    """n peers as bench/control.py makes them: key, PSK, a v4 /32 and a v6
    /128 each, every tenth with an endpoint (addresses outside the lab's)."""
    lines = []
    for i in range(first, first + n):
        lines += ["[Peer]", f"PublicKey = {keys.to_base64(os.urandom(32))}",
                  f"PresharedKey = {keys.to_base64(os.urandom(32))}",
                  f"AllowedIPs = 10.{100 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}/32, fd10::{i:x}/128"]
        if i % 10 == 0:
            lines.append(f"Endpoint = 198.18.{(i >> 8) & 255}.{i & 255}:51820")
        lines.append("")
    return "\n".join(lines)


def up_pair(lab) -> None:
    lab.start_daemon(lab.a)
    lab.start_daemon(lab.b)
    lab.configure_pair()
    assert ping(lab.a, lab.b.tun4).returncode == 0


def test_ten_thousand_peers_configure_natively_and_the_tunnel_keeps_its_session(lab, tmp_path):
    up_pair(lab)
    a, b = lab.a, lab.b
    before = lab.backend.get_device(a.iface).peer(b.public_key).status.last_handshake
    conf = tmp_path / "many.conf"
    conf.write_text(many_peers_conf(10000))
    os.chmod(conf, 0o600)
    sswctl("addconf", a.iface, str(conf))
    dump = sswctl("show", a.iface, "dump").stdout.splitlines()
    assert len(dump) == 1 + 10001
    assert ping(a, b.tun4).returncode == 0 and ping(b, a.tun6).returncode == 0
    # the same session: no switch of planes dropped it, no new handshake was needed
    assert lab.backend.get_device(a.iface).peer(b.public_key).status.last_handshake == before
    log = open(f"/tmp/{a.iface}.daemon.log").read()
    assert "native data path" in log


def _timed_set(lab, iface: str, peer: Peer) -> float:
    t = time.perf_counter()
    lab.backend.set_device(Device(name=iface, peers=[peer]))
    return time.perf_counter() - t


def test_adding_or_removing_one_peer_costs_the_same_at_1k_and_10k_peers(lab, tmp_path):
    """One daemon with 1,000 peers, one with 10,000, measured in turns so the
    machine's load falls on both alike. A change that walked the peers (in
    Python or in C) would take ~10x as long on the larger; the bound is 3x the
    smaller's median, plus a millisecond of noise."""
    a, b = lab.a, lab.b
    for side, n in ((a, 1000), (b, 10000)):
        lab.start_daemon(side)
        lab.backend.set_device(Device(name=side.iface, private_key=side.private_key, listen_port=51820))
        conf = tmp_path / f"{side.iface}.conf"
        conf.write_text(many_peers_conf(n))
        os.chmod(conf, 0o600)
        sswctl("addconf", side.iface, str(conf))
    adds = {a.iface: [], b.iface: []}
    removes = {a.iface: [], b.iface: []}
    for trial in range(15):
        for iface in (a.iface, b.iface) if trial % 2 else (b.iface, a.iface):
            key = os.urandom(32)
            nets = [ipaddress.ip_network(f"10.250.0.{trial}/32"), ipaddress.ip_network(f"fd10:ffff::{trial:x}/128")]
            adds[iface].append(_timed_set(lab, iface, Peer(public_key=key, allowed_ips=nets)))
            removes[iface].append(_timed_set(lab, iface, Peer(public_key=key, remove=True)))
    for what, t in (("add", adds), ("remove", removes)):
        small, large = statistics.median(t[a.iface]), statistics.median(t[b.iface])
        msg = f"{what}: {large * 1e3:.2f} ms at 10k vs {small * 1e3:.2f} ms at 1k"
        print(msg)
        assert large <= 3 * small + 0.001, msg
    for side, n in ((a, 1000), (b, 10000)):
        assert len(lab.backend.get_device(side.iface).peers) == n
    wait_for_socket(b, b.proc)  # still alive
