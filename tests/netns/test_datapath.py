"""The native data path on real TUN devices in two namespaces joined by veth.

One test process drives both sides: it enters each namespace (setns on
this thread only) to create that side's TUN device and UDP sockets, then
returns; the sockets and devices stay in their namespaces. Keys come from
two protocol engines (handshakes only); the C workers carry ping and iperf3.
"""

from __future__ import annotations

import ctypes
import os
import random
import socket
import time
from contextlib import contextmanager

import pytest
from nslab import WAIT, Lab, Side, iperf, iperf_end, ping

from sswctl import datapath
from sswctl.protocol import Engine, KeypairCreated, ProtocolError, Transmit
from sswctl.tun import Tun
from tests.unit.test_datapath_workers import handshake_keypairs, wait_for

pytestmark = [pytest.mark.root, pytest.mark.netns]

if datapath.native is None:
    pytest.fail("sswctl._datapath did not build", pytrace=False)

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
PORT = 51850
BULK = 16 << 20  # bytes an iperf3 run carries


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


@contextmanager
def in_netns(ns: str):
    """This thread in namespace ``ns`` for the block (sockets keep theirs)."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)
        os.close(target)


class NativeSide:
    def __init__(self, side: Side, protocol: str, cipher: str, offload: bool = False, v6: bool = False):
        self.side = side
        self.v6 = v6
        wall = time.time() - time.monotonic()
        self.engine = Engine(side.private_key, protocol, cipher, wall_offset=wall)
        with in_netns(side.ns):
            self.tun = Tun(side.iface, 1420, offload=offload)
            self.udp4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.udp4.bind(("0.0.0.0", PORT + side.index))
        self.udp6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        self.udp6.bind(("::", PORT + side.index))
        side.run("ip", "addr", "add", f"{side.tun4}/24", "dev", side.iface)
        side.run("ip", "-6", "addr", "add", f"{side.tun6}/64", "dev", side.iface, "nodad")
        self.dp = datapath.Datapath(self.engine.mode.type_data, 1420)
        self.dp.set_sockets(self.tun.fileno(), self.udp4.fileno(), self.udp6.fileno(), offload=self.tun.vnet)
        self.dp.set_public_key(self.engine.public_key)  # mac1 and cookie replies in C

    @property
    def endpoint(self):
        return (self.side.underlay6 if self.v6 else self.side.underlay4, PORT + self.side.index)

    def pump(self) -> int:
        """What the daemon's loop does with the data path's events; returns how many."""
        now = time.monotonic()
        events = self.dp.poll_events()
        for ev in events:
            out = []
            if ev.kind == "handshake":
                try:
                    out = self.engine.receive(ev.data, ev.addr, now).events
                except ProtocolError:
                    continue
            elif ev.kind in ("staged", "rekey"):
                out = self.engine.initiate(ev.peer, now)
            for e in out:
                if isinstance(e, KeypairCreated):
                    self.dp.install_keypair(e.peer, e.keypair)
                elif isinstance(e, Transmit):
                    dest = e.dest or self.engine.peer(e.peer).endpoint
                    (self.udp6 if ":" in dest[0] else self.udp4).sendto(e.data, dest[:2])
        return len(events)

    def close(self) -> None:
        self.dp.stop()
        for f in (self.udp4, self.udp6, self.tun):
            f.close()


class NativeTunnel:
    """Both sides of ``lab`` on the native data path, keys already installed."""

    def __init__(self, lab: Lab, protocol: str = "wireguard", cipher: str = "chacha20-poly1305",
                 offload: bool = False, v6_underlay: bool = False):
        self.lab = lab
        self.sides: list[NativeSide] = []
        try:
            self.a = NativeSide(lab.a, protocol, cipher, offload, v6_underlay)
            self.sides.append(self.a)
            self.b = NativeSide(lab.b, protocol, cipher, offload, v6_underlay)
            self.sides.append(self.b)
            for me, other in ((self.a, self.b), (self.b, self.a)):
                pub = other.engine.public_key
                me.engine.add_peer(pub, endpoint=other.endpoint)
                me.dp.set_peer(pub, other.endpoint)
                me.dp.set_allowed_ips(pub, [f"{other.side.tun4}/32", f"{other.side.tun6}/128"])
                me.dp.start()
            kp_a, kp_b = handshake_keypairs(self.a.engine, self.b.engine, self.a.endpoint, self.b.endpoint)
            self.b.dp.install_keypair(self.a.engine.public_key, kp_b)
            self.a.dp.install_keypair(self.b.engine.public_key, kp_a)
            wait_for(lambda: self.peer_stats(self.b, self.a)["current"] is not None, what="key confirmation")
        except BaseException:
            self.close()
            raise

    @staticmethod
    def peer_stats(me: NativeSide, other: NativeSide) -> dict:
        return me.dp.stats()["peers"][other.engine.public_key]

    def close(self) -> None:
        for s in self.sides:
            s.close()
        self.sides = []


@pytest.fixture
def native_tunnel(lab, request):
    t = NativeTunnel(lab, *getattr(request, "param", ("wireguard", "chacha20-poly1305")))
    try:
        yield t
    finally:
        t.close()


@pytest.mark.slow
@pytest.mark.parametrize("native_tunnel", [("wireguard", "chacha20-poly1305"), ("secureswift", "aes-256-gcm"),
                                           ("secureswift", "chacha20-poly1305"),
                                           ("secureswift", "chacha20-poly1305", True),
                                           ("wireguard", "chacha20-poly1305", True, True)],
                         ids=["wg", "ssw-aes", "ssw-chacha", "ssw-chacha-offload", "wg-offload-v6-underlay"],
                         indirect=True)
def test_ping_and_iperf3_through_the_native_data_path(lab, native_tunnel):
    t = native_tunnel
    assert ping(lab.a, lab.b.tun4).returncode == 0
    assert ping(lab.b, lab.a.tun6).returncode == 0
    got = iperf_end(lab, lab.a, lab.b, nbytes=BULK)["sum_received"]["bytes"]
    assert got > 0 and iperf(lab, lab.a, lab.b, nbytes=BULK, reverse=True) > 0
    sa, sb = t.peer_stats(t.a, t.b), t.peer_stats(t.b, t.a)
    assert sb["endpoint"][:2] == t.a.endpoint  # the outer family the test asked for
    # What B's iperf3 received crossed in packets of at most the TUN MTU (1420) each.
    assert sa["tx_packets"] >= got // 1420 and sb["rx_packets"] >= got // 1420
    for s in (sa, sb):
        assert s["drops"]["decrypt"] == s["drops"]["replay"] == s["drops"]["allowed_ips"] == 0
    # How many segments TCP puts in a super-packet, and how many datagrams wait at
    # once, follow the rate the machine reaches (TCP sizes TSO bursts by its pacing
    # rate): no fixed ratio holds everywhere, but batching at all shows as fewer
    # system calls than packets.
    if t.a.tun.vnet:  # TSO: the kernel handed over super-packets, cut into several segments each
        assert sa["tx_packets"] > t.a.dp.stats()["device"]["tun_reads"]
        # GRO: runs of received segments went up in fewer TUN writes
        assert sb["rx_packets"] > t.b.dp.stats()["device"]["tun_writes"]
    # UDP GSO/GRO (used with or without TUN offloads): datagrams went in batches
    da, db = t.a.dp.stats()["device"], t.b.dp.stats()["device"]
    assert sa["tx_packets"] > da["udp_send_msgs"] and sb["rx_packets"] > db["udp_recv_msgs"]


def test_garbage_flood_is_counted_and_the_tunnel_still_works(lab, native_tunnel):
    t = native_tunnel
    assert ping(lab.a, lab.b.tun4).returncode == 0
    # capture a real datagram A sends, to replay it
    with in_netns(lab.a.ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((lab.a.underlay4, 0))
        t.a.dp.set_peer(t.b.engine.public_key, s.getsockname())
        lab.a.run("ping", "-c", "1", "-W", "1", lab.b.tun4, check=False)
        real = s.recv(65536)
        t.a.dp.set_peer(t.b.engine.public_key, t.b.endpoint)
        s.sendto(real, t.b.endpoint)  # authentic: B roams to this socket
        sniffer = s.getsockname()
        wait_for(lambda: t.peer_stats(t.b, t.a)["endpoint"] == sniffer, what="roaming to the sniffer")
        before = t.b.dp.stats()
        rnd = random.Random(7)
        flood = []
        for i in range(3000):
            kind = i % 5
            if kind == 0:
                flood.append(rnd.randbytes(rnd.randrange(0, 1500)))
            elif kind == 1:
                flood.append(real[:rnd.randrange(0, len(real))])  # truncated
            elif kind == 2:
                flood.append(real)  # replayed (the first copy may be new)
            elif kind == 3:
                flood.append(real[:8] + rnd.randbytes(len(real) - 8))  # right index, fresh counter, forged
            else:
                flood.append(bytes([real[0], 0, 0, 0]) + rnd.randbytes(rnd.randrange(28, 200)))  # unknown index

        def counted(st):
            return sum(st["device"]["drops"].values()) + sum(st["peers"][t.a.engine.public_key]["drops"].values())

        # in bursts of 100, so the socket buffer never overflows (the kernel would drop, not us)
        for i in range(0, len(flood), 100):
            for g in flood[i:i + 100]:
                s.sendto(g, t.b.endpoint)
            wait_for(lambda i=i: counted(t.b.dp.stats()) - counted(before) >= min(i + 100, len(flood)),
                     what=f"flood counted up to {i + 100}")
    finally:
        s.close()
    drops = t.peer_stats(t.b, t.a)["drops"]
    assert drops["replay"] >= 600 and drops["decrypt"] >= 550
    assert t.b.dp.stats()["device"]["drops"]["unknown_index"] >= 500
    assert t.peer_stats(t.b, t.a)["endpoint"] == sniffer  # no garbage moved it
    assert ping(lab.a, lab.b.tun4).returncode == 0  # A's next packet moves it back
    assert t.peer_stats(t.b, t.a)["endpoint"] == t.a.endpoint
    assert iperf(lab, lab.a, lab.b, nbytes=BULK // 4) > 0


def test_handshake_on_demand_through_the_event_queue(lab, native_tunnel):
    """No keys: the ping's packet goes up, the engine initiates over the real
    sockets, the handshake messages come up on the other side, keypairs are
    installed from KeypairCreated, and traffic flows."""
    t = native_tunnel
    for me, other in ((t.a, t.b), (t.b, t.a)):
        me.dp.remove_keypair(other.engine.public_key)
    time.sleep(5.1)  # the engines rate-limit initiations to one per REKEY_TIMEOUT
    lab.a.run("ping", "-c", "1", "-W", "1", lab.b.tun4, check=False)
    deadline = time.monotonic() + WAIT
    while t.peer_stats(t.a, t.b)["current"] is None or t.peer_stats(t.b, t.a)["current"] is None:
        assert time.monotonic() < deadline, "no session after the staged packet"
        t.a.pump()
        t.b.pump()
        time.sleep(0.02)
    assert ping(lab.a, lab.b.tun4).returncode == 0


def test_interop_with_wireguard_go_both_handshake_roles(lab):
    """Our side: the native data path + the protocol engine (wireguard
    mode); the other side: the real wireguard-go. The wire bytes must be
    WireGuard's for either to accept the other's packets."""
    import subprocess
    import threading

    from sswctl import keys
    from tests.conftest import need_binary

    need_binary("wireguard-go")
    need_binary("wg")
    a = NativeSide(lab.a, "wireguard", "chacha20-poly1305")
    stop = threading.Event()

    def pump_loop():  # the daemon's loop, reduced to the data path's events
        while not stop.is_set():
            a.pump()
            time.sleep(0.01)

    pumper = threading.Thread(target=pump_loop)
    try:
        name = f"wg{lab.b.iface}"[:15]
        lab.popen(lab.b, "env", "LOG_LEVEL=error", "wireguard-go", "-f", name,
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(f"/var/run/wireguard/{name}.sock"), what="wireguard-go")
        keyfile = f"/tmp/{name}.key"
        with open(os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(keys.to_base64(lab.b.private_key))
        b_port = PORT + 10
        peer_a = ["peer", keys.to_base64(lab.a.public_key), "endpoint", f"{a.endpoint[0]}:{a.endpoint[1]}",
                  "allowed-ips", f"{lab.a.tun4}/32"]
        lab.b.run("wg", "set", name, "private-key", keyfile, "listen-port", str(b_port), *peer_a)
        os.unlink(keyfile)
        lab.b.run("ip", "addr", "add", f"{lab.b.tun4}/24", "dev", name)
        lab.b.run("ip", "link", "set", name, "up")
        b_ep = (lab.b.underlay4, b_port)
        a.engine.add_peer(lab.b.public_key, endpoint=b_ep)
        a.dp.set_peer(lab.b.public_key, b_ep)
        a.dp.set_allowed_ips(lab.b.public_key, [f"{lab.b.tun4}/32"])
        a.dp.start()
        pumper.start()
        # we initiate (our staged packet -> engine.initiate -> wireguard-go responds)
        assert ping(lab.a, lab.b.tun4).returncode == 0
        assert iperf(lab, lab.a, lab.b, nbytes=BULK // 2) > 0
        first = a.dp.stats()["peers"][lab.b.public_key]["current"]
        # wireguard-go initiates: it forgets the session, and B pings us
        lab.b.run("wg", "set", name, "peer", keys.to_base64(lab.a.public_key), "remove")
        lab.b.run("wg", "set", name, *peer_a)
        assert ping(lab.b, lab.a.tun4).returncode == 0
        s = a.dp.stats()["peers"][lab.b.public_key]
        assert s["current"] != first  # our responder keypair, confirmed by wireguard-go's data
        assert s["drops"]["decrypt"] == s["drops"]["replay"] == 0
    finally:
        stop.set()
        if pumper.is_alive():
            pumper.join()
        a.close()


def test_udp_gso_refused_falls_back_to_plain_datagrams(lab):
    """An underlay MTU below the datagram size makes the kernel refuse
    UDP_SEGMENT (EINVAL); the send worker must fall back to one datagram per
    message (fragmented by the kernel) and the tunnel keep working."""
    for side, dev in ((lab.a, "va"), (lab.b, "vb")):
        side.run("ip", "link", "set", dev, "mtu", "1400")
    t = NativeTunnel(lab, "wireguard", "chacha20-poly1305", offload=True)
    try:
        assert ping(lab.a, lab.b.tun4).returncode == 0
        assert iperf(lab, lab.a, lab.b, nbytes=BULK // 2) > 0
        sa, da = t.peer_stats(t.a, t.b), t.a.dp.stats()["device"]
        assert da["udp_send_msgs"] >= sa["tx_packets"] * 0.99  # one datagram per message
    finally:
        t.close()
