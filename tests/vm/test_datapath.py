"""The module's data path: two secureswift devices in two namespaces joined by a veth pair,
keys from a real handshake of the Python protocol engine, installed with INSTALL_KEYPAIR."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket
import struct
import subprocess
import time

import pytest
from conftest import in_netns, in_new_user_namespace, load_module, run, unique
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from sswctl.ipc import IPCError
from sswctl.ipc.genl import GenlBackend, HandshakeUpcalls
from sswctl.model import Device, Endpoint, Peer
from sswctl.protocol import Engine, KeypairCreated, Transmit

net = ipaddress.ip_network


def handshake(protocol: str, cipher: str, key_a: bytes, key_b: bytes):
    """A real in-memory handshake: (engine A, engine B, A's keypair (initiator), B's keypair)."""
    wall = time.time() - time.monotonic()
    a = Engine(key_a, protocol, cipher, wall_offset=wall)
    b = Engine(key_b, protocol, cipher, wall_offset=wall)
    a.add_peer(b.public_key)
    b.add_peer(a.public_key)
    now = time.monotonic()
    init = next(e for e in a.initiate(b.public_key, now) if isinstance(e, Transmit)).data
    rb = b.receive(init, ("192.0.2.1", 1), now)
    resp = next(e for e in rb.events if isinstance(e, Transmit)).data
    kp_b = next(e.keypair for e in rb.events if isinstance(e, KeypairCreated))
    ra = a.receive(resp, ("192.0.2.2", 2), now)
    kp_a = next(e.keypair for e in ra.events if isinstance(e, KeypairCreated))
    return a, b, kp_a, kp_b


def install(kb: GenlBackend, ns: str, dev: str, peer_pub: bytes, kp, endpoint: Endpoint | None = None) -> None:
    with in_netns(ns):
        kb.install_keypair(dev, peer_pub, local_index=kp.local_index, remote_index=kp.remote_index,
                           send_key=bytes(kp.send_key), receive_key=bytes(kp.receive_key),
                           initiator=kp.is_initiator, cipher=kp.cipher, endpoint=endpoint)


def link_stats(ns: str, dev: str) -> dict:
    import json

    info = json.loads(run("ip", "-n", ns, "-s", "-s", "-j", "link", "show", "dev", dev).stdout)[0]
    return info["stats64"]


class Pair:
    """ssw1 in ns1 (10.241.0.1, fd10::1) <-> ssw2 in ns2 (10.241.0.2, fd10::2) over veth."""

    def __init__(self, netns, protocol: str, outer: int, cipher: str = "chacha20-poly1305"):
        load_module()
        self.kb = GenlBackend()
        self.kb.family_id()
        self.ns1, self.ns2 = netns(), netns()
        self.outer = outer
        va, vb = unique("va"), unique("vb")
        run("ip", "link", "add", va, "netns", self.ns1, "type", "veth", "peer", "name", vb, "netns", self.ns2)
        for ns, veth, i in ((self.ns1, va, 1), (self.ns2, vb, 2)):
            run("ip", "-n", ns, "addr", "add", f"192.168.241.{i}/24", "dev", veth)
            run("ip", "-n", ns, "addr", "add", f"fd00:241::{i}/64", "dev", veth, "nodad")
            run("ip", "-n", ns, "link", "set", veth, "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")
            # Created inside the namespace: its sockets live there.
            run("ip", "-n", ns, "link", "add", "ssw", "type", "secureswift")
            run("ip", "-n", ns, "addr", "add", f"10.241.0.{i}/24", "dev", "ssw")
            run("ip", "-n", ns, "addr", "add", f"fd10::{i}/64", "dev", "ssw", "nodad")
            run("ip", "-n", ns, "link", "set", "ssw", "up")
        self.keys = keys = os.urandom(32), os.urandom(32)
        self.a, self.b, self.kp_a, self.kp_b = handshake(protocol, cipher, *keys)
        for ns, me, other, i in ((self.ns1, keys[0], self.b, 2), (self.ns2, keys[1], self.a, 1)):
            host = f"192.168.241.{i}" if outer == 4 else f"fd00:241::{i}"
            with in_netns(ns):
                self.kb.set_device(Device(
                    name="ssw", private_key=me, listen_port=51000 + (3 - i), protocol=protocol, cipher=cipher,
                    peers=[Peer(public_key=other.public_key, endpoint=Endpoint(host, 51000 + i),
                                allowed_ips=[net(f"10.241.0.{i}/32"), net(f"fd10::{i}/128")])]))

    def install_keys(self) -> None:
        # Responder first: the initiator's confirming keepalive must find its keys.
        install(self.kb, self.ns2, "ssw", self.a.public_key, self.kp_b)
        install(self.kb, self.ns1, "ssw", self.b.public_key, self.kp_a)

    def peer_of(self, ns: str, pub: bytes) -> Peer:
        with in_netns(ns):
            return self.kb.get_device("ssw").peer(pub)


@pytest.mark.parametrize("protocol,outer,cipher", [
    ("secureswift", 4, "chacha20-poly1305"), ("wireguard", 6, "chacha20-poly1305"),
    ("secureswift", 6, "aes-256-gcm"),
])
def test_ping_through_module_tunnel_both_directions(netns, protocol, outer, cipher):
    p = Pair(netns, protocol, outer, cipher)
    # No keys yet: nothing gets through, and nothing crashes.
    assert run("ping", "-c", "1", "-W", "1", "10.241.0.2", netns=p.ns1, check=False).returncode != 0
    p.install_keys()
    run("ping", "-c", "3", "-i", "0.2", "-W", "3", "10.241.0.2", netns=p.ns1)
    run("ping", "-c", "3", "-i", "0.2", "-W", "3", "10.241.0.1", netns=p.ns2)
    run("ping", "-6", "-c", "2", "-i", "0.2", "-W", "3", "fd10::2", netns=p.ns1)
    run("ping", "-s", "1300", "-c", "2", "-i", "0.2", "-W", "3", "10.241.0.2", netns=p.ns1)

    pa = p.peer_of(p.ns1, p.b.public_key)
    pb = p.peer_of(p.ns2, p.a.public_key)
    assert pa.status.last_handshake is not None and pb.status.last_handshake is not None
    # What one side sent is what the other received, datagram for datagram.
    assert pa.status.tx_packets == pb.status.rx_packets >= 10
    assert pa.status.tx_bytes == pb.status.rx_bytes and pb.status.tx_bytes == pa.status.rx_bytes > 0
    # The responder learned the initiator's endpoint from its packets (roaming).
    host = "192.168.241.1" if outer == 4 else "fd00:241::1"
    assert pb.endpoint == Endpoint(host, 51001)
    # The device's counters (ip -s link) are the same message bytes as the peer's.
    s1 = link_stats(p.ns1, "ssw")
    assert (s1["tx"]["bytes"], s1["tx"]["packets"]) == (pa.status.tx_bytes, pa.status.tx_packets)
    assert (s1["rx"]["bytes"], s1["rx"]["packets"]) == (pa.status.rx_bytes, pa.status.rx_packets)


def test_install_keypair_refusals(netns):
    p = Pair(netns, "wireguard", 4)
    p.install_keys()
    endpoint = p.peer_of(p.ns2, p.a.public_key).endpoint
    with pytest.raises(IPCError) as e:  # the local index is taken
        install(p.kb, p.ns2, "ssw", p.a.public_key, p.kp_b, endpoint=Endpoint("192.168.241.77", 4242))
    assert e.value.errno == errno.EEXIST
    # A refused install moves nothing, not even the endpoint the handshake came from.
    assert p.peer_of(p.ns2, p.a.public_key).endpoint == endpoint
    stranger = Engine(os.urandom(32), "secureswift", wall_offset=0.0)
    with pytest.raises(IPCError) as e:
        install(p.kb, p.ns2, "ssw", stranger.public_key, p.kp_b)
    assert e.value.errno == errno.ENOENT
    with pytest.raises(IPCError) as e, in_netns(p.ns2):  # AES-256-GCM is not a wireguard-mode suite
        p.kb.install_keypair("ssw", p.a.public_key, local_index=7, remote_index=7, send_key=bytes(32),
                             receive_key=bytes(32), initiator=False, cipher="aes-256-gcm")
    assert e.value.errno == errno.EINVAL
    run("ip", "-n", p.ns2, "link", "set", "ssw", "down")
    with pytest.raises(IPCError) as e:
        install(p.kb, p.ns2, "ssw", p.a.public_key, p.kp_b)
    assert e.value.errno == errno.ENETDOWN


def forged(kp, counter: int, inner: bytes, msg_type: int = 0x14) -> bytes:
    """A data message sealed with the initiator's send key at an explicit counter, by the
    ``cryptography`` package: what the kernel accepts is the protocol, not its own echo."""
    padded = inner + bytes(-len(inner) % 16)
    nonce = bytes(4) + struct.pack("<Q", counter)
    aead = AESGCM if str(kp.cipher) == "aes-256-gcm" else ChaCha20Poly1305
    return (struct.pack("<II", msg_type, kp.remote_index) + struct.pack("<Q", counter)
            + aead(bytes(kp.send_key)).encrypt(nonce, padded, None))


def ip4_udp(src: str, dst: str, payload: bytes = b"x" * 8) -> bytes:
    udp = struct.pack("!HHHH", 9, 9, 8 + len(payload), 0) + payload
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    csum = sum(struct.unpack("!10H", hdr))
    csum = (csum & 0xFFFF) + (csum >> 16)
    csum = ~((csum & 0xFFFF) + (csum >> 16)) & 0xFFFF
    return hdr[:10] + struct.pack("!H", csum) + hdr[12:] + udp


@pytest.mark.parametrize("cipher", ["chacha20-poly1305", "aes-256-gcm"])
def test_replays_spoofed_sources_and_garbage_are_dropped(netns, cipher):
    p = Pair(netns, "secureswift", 4, cipher)
    p.install_keys()
    run("ping", "-c", "1", "-W", "3", "10.241.0.2", netns=p.ns1)
    before = p.peer_of(p.ns2, p.a.public_key).status.rx_packets
    drops0 = link_stats(p.ns2, "ssw")["rx"]["dropped"]
    errors0 = link_stats(p.ns2, "ssw")["rx"]["errors"]
    with in_netns(p.ns1):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        dest = ("192.168.241.2", 51002)
        # Counters ahead of the kernel's own (it has used a handful) but well
        # within the window, so its later packets are still accepted.
        good = forged(p.kp_a, 100, ip4_udp("10.241.0.1", "10.241.0.2"))
        s.sendto(good, dest)
        s.sendto(good, dest)  # replay
        s.sendto(forged(p.kp_a, 101, ip4_udp("10.99.0.1", "10.241.0.2")), dest)  # spoofed source
        bad_tag = bytearray(forged(p.kp_a, 102, ip4_udp("10.241.0.1", "10.241.0.2")))
        bad_tag[-1] ^= 1
        s.sendto(bytes(bad_tag), dest)
        for junk in (b"", b"\x14", os.urandom(31), b"\x14\0\0\0" + os.urandom(60), b"\x01" + os.urandom(147)):
            s.sendto(junk, dest)
        time.sleep(1)
    finally:
        s.close()
    st = link_stats(p.ns2, "ssw")
    # authentic: the good one and the spoofed one (which then fails the source check)
    assert p.peer_of(p.ns2, p.a.public_key).status.rx_packets == before + 2
    assert st["rx"]["errors"] == errors0 + 1
    # replay, bad tag, 4 junk datagrams and the handshake-typed one (no upcall yet)
    assert st["rx"]["dropped"] - drops0 == 2 + 5
    # The responder followed the authentic packets to our socket (roaming) ...
    assert p.peer_of(p.ns2, p.a.public_key).endpoint.port != 51001
    # ... and back with the kernel's next packet: the tunnel still carries traffic.
    run("ping", "-c", "2", "-i", "0.2", "-W", "3", "10.241.0.2", netns=p.ns1)
    assert p.peer_of(p.ns2, p.a.public_key).endpoint == Endpoint("192.168.241.1", 51001)


# --- handshake messages: up to the daemon, and out from it --------------------------------

def initiation_to(protocol: str, peer_pub: bytes) -> tuple[Engine, bytes]:
    """A fresh initiation (valid mac1 for ``peer_pub``) and the throwaway engine that made it."""
    e = Engine(os.urandom(32), protocol, wall_offset=time.time() - time.monotonic())
    e.add_peer(peer_pub)
    return e, next(ev for ev in e.initiate(peer_pub, time.monotonic()) if isinstance(ev, Transmit)).data


@pytest.mark.parametrize("protocol", ["secureswift", "wireguard"])
def test_handshake_upcall_and_xmit_complete_a_real_handshake(netns, protocol):
    """An initiation from the wire reaches the daemon's subscription with its source; the
    response the daemon computes goes back out of the device's socket; the initiator
    accepts it. Bad mac1 and wrong sizes never reach the daemon; a flood is rate limited."""
    p = Pair(netns, protocol, 4)
    with in_netns(p.ns2):
        ups = p.kb.handshake_upcalls()
    with in_netns(p.ns1):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("192.168.241.1", 0))
    s.settimeout(10)
    dest = ("192.168.241.2", 51002)
    try:
        ups.sock.settimeout(10)
        initiator, init = initiation_to(protocol, p.b.public_key)
        p.b.add_peer(initiator.public_key)
        s.sendto(init, dest)
        (up,) = ups.read()
        assert up.packet == init and up.endpoint == Endpoint(*s.getsockname())
        with in_netns(p.ns2):
            assert up.ifindex == socket.if_nametoindex("ssw")

        # The "daemon" (engine B) answers through the kernel's socket.
        rb = p.b.receive(up.packet, (up.endpoint.host, up.endpoint.port), time.monotonic())
        resp = next(e for e in rb.events if isinstance(e, Transmit)).data
        with in_netns(p.ns2):
            p.kb.xmit_handshake("ssw", resp, endpoint=up.endpoint)
        got, src = s.recvfrom(4096)
        assert got == resp and src == dest
        ra = initiator.receive(got, src, time.monotonic())
        assert any(isinstance(e, KeypairCreated) for e in ra.events)

        # A tampered mac1, a truncated message, the other mode's type: dropped, not handed up.
        drops0 = link_stats(p.ns2, "ssw")["rx"]["dropped"]
        bad = bytearray(initiation_to(protocol, p.b.public_key)[1])
        bad[-20] ^= 1
        other = bytearray(initiation_to(protocol, p.b.public_key)[1])
        other[0] ^= 0x10  # 1 <-> 0x11
        for msg in (bytes(bad), init[:-1], bytes(other)):
            s.sendto(msg, dest)
        # A flood of valid initiations: at most the burst plus the refill gets through.
        t0 = time.monotonic()
        for _ in range(60):
            s.sendto(init, dest)
        time.sleep(1)
        ups.sock.settimeout(0.5)
        passed = 0
        with contextlib.suppress(TimeoutError):
            while True:
                for u in ups.read():
                    assert u.packet == init
                    passed += 1
        # Every upcall read was let through between t0 and now: the promised budget is a
        # burst of 5 plus 20/s over that time (+1: the coarse clock's tick), and all 60
        # when sending took so long that the budget covers them.
        budget = 5 + int((time.monotonic() - t0) * 20) + 1
        assert 1 <= passed <= min(budget, 60), (passed, budget)
        assert link_stats(p.ns2, "ssw")["rx"]["dropped"] - drops0 == 3 + 60 - passed
    finally:
        s.close()
        ups.close()


def test_xmit_handshake_to_a_peer_endpoint_and_refusals(netns):
    p = Pair(netns, "secureswift", 4)
    with in_netns(p.ns1):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("192.168.241.1", 51001 + 100))
    s.settimeout(10)
    try:
        with in_netns(p.ns2):
            p.kb.set_device(Device(name="ssw", peers=[Peer(public_key=p.a.public_key,
                                                           endpoint=Endpoint("192.168.241.1", 51101))]))
            init = initiation_to("secureswift", p.a.public_key)[1]
            p.kb.xmit_handshake("ssw", init, peer_public_key=p.a.public_key)
            assert s.recvfrom(4096) == (init, ("192.168.241.2", 51002))
            with pytest.raises(IPCError) as e:
                p.kb.xmit_handshake("ssw", init, peer_public_key=os.urandom(32))
            assert e.value.errno == errno.ENOENT
            run("ip", "link", "set", "ssw", "down")
            with pytest.raises(IPCError) as e:
                p.kb.xmit_handshake("ssw", init, endpoint=Endpoint("192.168.241.1", 51101))
            assert e.value.errno == errno.ENONET
    finally:
        s.close()


def test_unprivileged_user_namespace_cannot_subscribe_to_upcalls():
    """Handshake upcalls (messages and their sources) are for admins of the namespace only."""
    load_module()
    group = GenlBackend().multicast_group("handshake")

    def attempt() -> str:
        try:
            HandshakeUpcalls(group).close()
        except OSError as e:
            return str(e.errno)
        return "subscribed"

    assert in_new_user_namespace(attempt) == str(errno.EPERM)
    HandshakeUpcalls(group).close()  # and root can


def test_packets_wait_for_keys_and_the_daemon_is_asked_for_a_handshake(netns):
    p = Pair(netns, "secureswift", 4)
    with in_netns(p.ns1):
        ups = p.kb.handshake_upcalls()
    ups.sock.settimeout(20)
    try:
        pinger = subprocess.Popen(["ip", "netns", "exec", p.ns1, "ping", "-c", "1", "-W", "60", "10.241.0.2"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        up = ups.read()[0]
        assert (up.kind, up.peer_public_key) == ("need_handshake", p.b.public_key)
        with in_netns(p.ns1):
            assert up.ifindex == socket.if_nametoindex("ssw")
        assert pinger.poll() is None  # its echo request waits in the kernel
        p.install_keys()  # ... and leaves with the keys: the ping completes
        assert pinger.wait(timeout=60) == 0, pinger.stderr.read()
    finally:
        ups.close()
