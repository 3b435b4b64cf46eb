"""Endpoints and failed handshakes on the kernel backend, with real `sswctl daemon`s.

- A handshake the daemon authenticated moves the kernel's endpoint for the peer at once
  (INSTALL_KEYPAIR's ENDPOINT), in both roles, before any data packet; a replayed or
  forged initiation from elsewhere moves nothing.
- When the daemon gives up on a handshake, the kernel drops the packets staged for it
  (DROP_STAGED), counted in the device's tx_dropped.
- `sswctl up FILE` / `sswctl down FILE` (wg-quick semantics) on the module.

The other side of the roaming tests is the protocol engine in this process on plain UDP
sockets, so the test decides exactly which address each handshake message comes from and
sends no data packet at all.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

from conftest import in_netns, link_exists, load_module, run, unique
from test_daemon import SSWCTL, Daemon, Pair, link_stats, lock_file, ping, running, stop_all

from sswctl import keys
from sswctl.ipc.genl import GenlBackend
from sswctl.model import Device, Endpoint, Peer
from sswctl.protocol import Engine, KeypairCreated, Transmit, constants

HOME, ROAMED, STRANGER = "192.168.245.1", "192.168.245.11", "192.168.245.33"
B_ADDR, B_PORT, A_PORT = "192.168.245.2", 52102, 52101


class Roam:
    """Namespace 0: the engine of peer A on UDP sockets, with three addresses on its veth.
    Namespace 1: secureswift device B with a real daemon, whose peer A is at HOME."""

    def __init__(self, netns, tmp_path: Path):
        load_module()
        self.kb = GenlBackend()
        self.ns = (netns(), netns())
        self.dev = unique("sde")
        va, vb = unique("va"), unique("vb")
        run("ip", "link", "add", va, "netns", self.ns[0], "type", "veth", "peer", "name", vb, "netns", self.ns[1])
        for addr in (HOME, ROAMED, STRANGER):
            run("ip", "-n", self.ns[0], "addr", "add", f"{addr}/24", "dev", va)
        run("ip", "-n", self.ns[1], "addr", "add", f"{B_ADDR}/24", "dev", vb)
        for i, veth in ((0, va), (1, vb)):
            run("ip", "-n", self.ns[i], "link", "set", veth, "up")
        a_priv, b_priv = keys.clamp(os.urandom(32)), keys.clamp(os.urandom(32))
        self.b_pub = keys.public_key(b_priv)
        self.a = Engine(a_priv, "secureswift", wall_offset=time.time() - time.monotonic())
        self.a.add_peer(self.b_pub, endpoint=(B_ADDR, B_PORT))
        run("ip", "-n", self.ns[1], "link", "add", self.dev, "type", "secureswift")
        run("ip", "-n", self.ns[1], "addr", "add", "10.245.0.2/24", "dev", self.dev)
        self.set(Device(name=self.dev, private_key=b_priv, listen_port=B_PORT, peers=[
            Peer(public_key=self.a.public_key, endpoint=Endpoint(HOME, A_PORT),
                 allowed_ips=[_net("10.245.0.1/32")])]))
        run("ip", "-n", self.ns[1], "link", "set", self.dev, "up")
        self.daemon = Daemon(self.ns[1], self.dev, tmp_path, "--backend", "kernel")
        self.socks: list[socket.socket] = []

    def set(self, device: Device) -> None:
        with in_netns(self.ns[1]):
            self.kb.set_device(device)

    def endpoint(self) -> Endpoint:
        with in_netns(self.ns[1]):
            (peer,) = self.kb.get_device(self.dev).peers
        return peer.endpoint

    def sock(self, addr: str) -> socket.socket:
        with in_netns(self.ns[0]):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, A_PORT))
        s.settimeout(60)
        self.socks.append(s)
        return s

    def close(self) -> None:
        for s in self.socks:
            s.close()
        self.daemon.kill()


def _net(text: str):
    import ipaddress

    return ipaddress.ip_network(text)


def _only(events, kind):
    (ev,) = [e for e in events if isinstance(e, kind)]
    return ev


def _nothing_arrives(s: socket.socket, seconds: float) -> bool:
    s.settimeout(seconds)
    try:
        s.recvfrom(4096)
    except TimeoutError:
        return True
    return False


def _wait_endpoint(r: Roam, want: Endpoint, timeout: float = 10) -> Endpoint:
    deadline = time.monotonic() + timeout
    while (ep := r.endpoint()) != want and time.monotonic() < deadline:
        time.sleep(0.1)
    return ep


def test_an_authenticated_initiation_from_a_new_address_moves_the_endpoint_and_a_replay_does_not(netns, tmp_path):
    r = Roam(netns, tmp_path)
    try:
        assert r.endpoint() == Endpoint(HOME, A_PORT)
        roamed, stranger = r.sock(ROAMED), r.sock(STRANGER)
        # A has roamed: its initiation comes from ROAMED. B's daemon authenticates it and
        # installs the responder keys with ROAMED as the endpoint before it answers.
        init = _only(r.a.initiate(r.b_pub, time.monotonic()), Transmit).data
        roamed.sendto(init, (B_ADDR, B_PORT))
        resp, src = roamed.recvfrom(4096)
        assert src == (B_ADDR, B_PORT)
        # The response is out, so the keys are in: the endpoint moved with no data packet.
        assert r.endpoint() == Endpoint(ROAMED, A_PORT)
        _only(r.a.receive(resp, src, time.monotonic()).events, KeypairCreated)
        with in_netns(r.ns[1]):
            (peer,) = r.kb.get_device(r.dev).peers
        # Only the initiation came in (handshake messages count in the transfer, as
        # WireGuard's do): no data packet moved the endpoint.
        assert (peer.status.rx_packets, peer.status.rx_bytes) == (1, len(init))

        # The same initiation replayed from a third address passes the kernel's mac1 check
        # and reaches the daemon, which refuses it (replayed timestamp): nothing moves.
        drops = link_stats(r.ns[1], r.dev)["rx"]["dropped"]
        stranger.sendto(init, (B_ADDR, B_PORT))
        # A fresh initiation from a stranger's key (valid mac1, unknown static key) neither.
        intruder = Engine(keys.clamp(os.urandom(32)), "secureswift", wall_offset=0.0)
        intruder.add_peer(r.b_pub, endpoint=(B_ADDR, B_PORT))
        stranger.sendto(_only(intruder.initiate(r.b_pub, time.monotonic()), Transmit).data, (B_ADDR, B_PORT))
        assert _nothing_arrives(stranger, 3), "the daemon answered a replayed or unauthenticated initiation"
        assert link_stats(r.ns[1], r.dev)["rx"]["dropped"] == drops  # not the kernel: the daemon refused them
        assert _wait_endpoint(r, Endpoint(STRANGER, A_PORT), timeout=2) == Endpoint(ROAMED, A_PORT)
        assert r.daemon.poll() is None, r.daemon.output()
    finally:
        r.close()


def test_an_authenticated_response_from_a_new_address_moves_the_initiators_endpoint(netns, tmp_path):
    r = Roam(netns, tmp_path)
    try:
        home, roamed = r.sock(HOME), r.sock(ROAMED)
        # B has a packet for A: its daemon initiates to A's endpoint, HOME.
        pinger = subprocess.Popen(["ip", "netns", "exec", r.ns[1], "ping", "-c", "1", "-W", "1", "10.245.0.1"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        init, src = home.recvfrom(4096)
        assert src == (B_ADDR, B_PORT)
        pinger.wait()
        # A answers from ROAMED. The daemon authenticates the response and installs the
        # initiator keys with ROAMED as the endpoint: the confirming keepalive and the staged
        # ping go there, not to HOME.
        resp = _only(r.a.receive(init, src, time.monotonic()).events, Transmit).data
        roamed.sendto(resp, src)
        first, _ = roamed.recvfrom(4096)
        assert first[0] == 0x14  # a secureswift data message
        assert r.endpoint() == Endpoint(ROAMED, A_PORT)
        assert _nothing_arrives(home, 1), "data went to the old address"
    finally:
        r.close()


def test_the_kernel_drops_staged_packets_when_the_daemon_gives_up(netns, tmp_path, monkeypatch):
    """The peer's endpoint is blackholed. Pings wait in the kernel for a handshake that never
    completes; once the daemon's engine gives up (after one retransmit here, instead of
    REKEY_ATTEMPT_TIME: the forked daemon inherits the shortened limit), they are dropped and
    counted in tx_dropped."""
    load_module()
    monkeypatch.setattr(constants, "MAX_TIMER_HANDSHAKES", 0)
    ns = netns()
    dev = unique("sdg")
    kb = GenlBackend()
    run("ip", "-n", ns, "link", "set", "lo", "up")
    run("ip", "-n", ns, "route", "add", "blackhole", "198.51.100.0/24")
    run("ip", "-n", ns, "link", "add", dev, "type", "secureswift")
    run("ip", "-n", ns, "addr", "add", "10.246.0.1/24", "dev", dev)
    with in_netns(ns):
        kb.set_device(Device(name=dev, private_key=keys.clamp(os.urandom(32)), peers=[
            Peer(public_key=keys.public_key(keys.clamp(os.urandom(32))), endpoint=Endpoint("198.51.100.7", 51820),
                 allowed_ips=[_net("10.246.0.2/32")])]))
    run("ip", "-n", ns, "link", "set", dev, "up")
    d = Daemon(ns, dev, tmp_path, "--backend", "kernel")
    try:
        before = link_stats(ns, dev)["tx"]["dropped"]
        t0 = time.monotonic()
        run("ping", "-c", "3", "-i", "0.2", "-W", "1", "10.246.0.2", netns=ns, check=False)
        assert link_stats(ns, dev)["tx"]["dropped"] == before  # staged, not dropped
        deadline = t0 + 60
        while link_stats(ns, dev)["tx"]["dropped"] == before and time.monotonic() < deadline:
            time.sleep(0.25)
        gave_up = time.monotonic() - t0
        assert link_stats(ns, dev)["tx"]["dropped"] == before + 3, d.output()
        print(f"[staged packets dropped {gave_up:.1f} s after the first ping]")
        assert gave_up >= 5, "dropped before the retransmit"  # one REKEY_TIMEOUT at least
        out = d.output()
        assert "no handshake response from peer" in out
        assert d.poll() is None, out
    finally:
        d.kill()


def test_sswctl_up_and_down_a_config_file_on_the_module(netns, tmp_path):
    """Side 0 is brought up from a wg-quick file by a real `sswctl up` (side 1 is a device
    with a forked daemon, as in test_daemon.py, to keep process starts few): the link is the
    module's, its daemon runs, the address and the AllowedIPs route are set, a ping crosses
    the tunnel both ways; `sswctl down` takes link, daemon, route and journal away."""
    p = Pair(netns)
    name = unique("sq")
    conf = tmp_path / f"{name}.conf"
    conf.write_text(f"[Interface]\nPrivateKey = {keys.to_base64(p.priv[0])}\nListenPort = 52001\n"
                    f"Address = 10.243.0.1/32\n\n"
                    f"[Peer]\nPublicKey = {keys.to_base64(p.pub[1])}\nEndpoint = 192.168.243.2:52002\n"
                    f"AllowedIPs = 10.243.0.2/32\n")
    conf.chmod(0o600)
    state = tmp_path / "state"
    state.mkdir()
    env = {**os.environ, "SSW_STATE_DIR": str(state)}
    daemons = []
    try:
        run("ip", "-n", p.ns[0], "link", "del", p.dev[0])
        daemons.append(p.daemon(1, tmp_path))
        t0 = time.monotonic()
        sswctl(p.ns[0], env, "up", str(conf))
        print(f"[sswctl up: {time.monotonic() - t0:.1f} s]")
        link = run("ip", "-n", p.ns[0], "-d", "link", "show", "dev", name).stdout
        assert "secureswift" in link and ",UP" in link, link
        assert "10.243.0.1/32" in run("ip", "-n", p.ns[0], "addr", "show", "dev", name).stdout
        assert "10.243.0.2 " in run("ip", "-n", p.ns[0], "route", "show", "dev", name).stdout
        pid = int(lock_file(p.ns[0], name).read_text())
        assert running(pid)
        ping(p.ns[0], "10.243.0.2")
        ping(p.ns[1], "10.243.0.1", count=2)
        t0 = time.monotonic()
        sswctl(p.ns[0], env, "down", str(conf))
        print(f"[sswctl down: {time.monotonic() - t0:.1f} s]")
        assert not link_exists(name, netns=p.ns[0])
        assert "10.243.0.2" not in run("ip", "-n", p.ns[0], "route", "show").stdout
        deadline = time.monotonic() + 30
        while running(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not running(pid), "the daemon outlived `sswctl down`"
        assert not lock_file(p.ns[0], name).exists()
        assert list(state.iterdir()) == [], "a journal was left behind"
    finally:
        stop_all(daemons)
        if link_exists(name, netns=p.ns[0]):
            run("ip", "-n", p.ns[0], "link", "del", name, check=False)


def sswctl(ns: str, env: dict, *args: str) -> None:
    cp = subprocess.run(["ip", "netns", "exec", ns, SSWCTL, *args], env=env, capture_output=True, text=True,
                        timeout=600)
    assert cp.returncode == 0, cp.stdout + cp.stderr
