"""The native data path's worker threads, end to end, without root.

Two Datapath objects in this process, each with a real UDP socket on
loopback and, standing in for its TUN device, one end of a SOCK_DGRAM
socketpair (the same one-packet-per-read/write contract as a TUN fd; the
netns tests use real TUN devices). Keys come from two protocol engines
that ran a real handshake in Python; the transport oracle's copies of those
keys (tests/transport_oracle.py) seal what the C side must accept and open
what it sent.
"""

from __future__ import annotations

import ipaddress
import os
import select
import socket
import time
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sswctl import datapath
from sswctl.protocol import Engine, KeypairCreated, Transmit
from tests.transport_oracle import TransportKeypair

if datapath.native is None:
    pytest.fail("sswctl._datapath did not build", pytrace=False)


def ip4(src: str, dst: str, payload: bytes = b"ping", proto: int = 17) -> bytes:
    total = 20 + len(payload)
    return (bytes([0x45, 0]) + total.to_bytes(2, "big") + bytes(4) + bytes([64, proto]) + bytes(2)
            + ipaddress.ip_address(src).packed + ipaddress.ip_address(dst).packed + payload)


def handshake_keypairs(a: Engine, b: Engine, addr_a, addr_b,
                       now: float | None = None) -> tuple[TransportKeypair, TransportKeypair]:
    """A initiates a real handshake with B in memory; returns (A's keypair,
    B's keypair) as the transport oracle's, to install and to seal and open with."""
    now = time.monotonic() if now is None else now
    init = next(e for e in a.initiate(b.public_key, now) if isinstance(e, Transmit)).data
    rb = b.receive(init, addr_a, now)
    resp = next(e for e in rb.events if isinstance(e, Transmit)).data
    kp_b = next(e.keypair for e in rb.events if isinstance(e, KeypairCreated))
    ra = a.receive(resp, addr_b, now)
    kp_a = next(e.keypair for e in ra.events if isinstance(e, KeypairCreated))
    return TransportKeypair.of(kp_a, a.mode.type_data), TransportKeypair.of(kp_b, b.mode.type_data)


def engines(protocol: str = "wireguard", cipher: str = "chacha20-poly1305") -> tuple[Engine, Engine]:
    wall = time.time() - time.monotonic()
    a = Engine(os.urandom(32), protocol, cipher, wall_offset=wall)
    b = Engine(os.urandom(32), protocol, cipher, wall_offset=wall)
    a.add_peer(b.public_key)
    b.add_peer(a.public_key)
    return a, b


# Waits poll and return as soon as their condition holds; the limit only ends a
# wait that would never succeed, so it is generous for a slow, busy machine.
WAIT = 60.0


def wait_for(cond, timeout: float = WAIT, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Side:
    dp: datapath.Datapath
    udp: socket.socket
    tun: socket.socket  # our end of the packet fd the data path reads and writes
    dp_tun: socket.socket
    engine: Engine
    keypair: object = None

    @property
    def addr(self):
        return self.udp.getsockname()

    def peer_stats(self, other: Side) -> dict:
        return self.dp.stats()["peers"][other.engine.public_key]

    def recv_tun(self, timeout: float = WAIT) -> bytes:
        r, _, _ = select.select([self.tun], [], [], timeout)
        assert r, "nothing came out of the tunnel"
        return self.tun.recv(65536)

    def close(self) -> None:
        self.dp.stop()
        for s in (self.udp, self.tun, self.dp_tun):
            s.close()


def make_side(engine: Engine, host: str = "127.0.0.1", **timeouts) -> Side:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((host, 0))
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    dp = datapath.Datapath(engine.mode.type_data, 1420, **timeouts)
    dp.set_sockets(theirs.fileno(), udp.fileno(), -1)
    dp.set_public_key(engine.public_key)
    return Side(dp, udp, mine, theirs, engine)


def connect(a: Side, b: Side, addr_b: tuple | None = None) -> None:
    """Peers, allowed IPs (A 10.9.0.1, B 10.9.0.2 + fd09::/64), workers, a handshake, keys installed.
    ``addr_b``: where A sends to B (default B's socket address)."""
    for me, where, other, nets in ((a, addr_b or b.addr, b, ["10.9.0.2/32", "fd09::/64"]),
                                   (b, a.addr, a, ["10.9.0.1/32"])):
        me.dp.set_peer(other.engine.public_key, where)
        me.dp.set_allowed_ips(other.engine.public_key, nets)
        me.dp.start()
    a.keypair, b.keypair = handshake_keypairs(a.engine, b.engine, a.addr, b.addr)
    assert b.dp.install_keypair(a.engine.public_key, b.keypair) is False  # responder: waits in next
    assert b.peer_stats(a)["next"] and b.peer_stats(a)["current"] is None
    assert a.dp.install_keypair(b.engine.public_key, a.keypair) is True  # confirmation keepalive sent
    wait_for(lambda: b.peer_stats(a)["current"] == b.keypair.local_index, what="key confirmation")


@pytest.fixture(params=[("wireguard", "chacha20-poly1305"), ("secureswift", "aes-256-gcm")], ids=["wg", "ssw-aes"])
def tunnel(request):
    yield from connected(engines(*request.param))


def connected(pair: tuple[Engine, Engine], **timeouts):
    """Fixture body: a connected pair of sides, closed afterwards."""
    a, b = (make_side(e, **timeouts) for e in pair)
    try:
        connect(a, b)
        yield a, b
    finally:
        a.close()
        b.close()


@pytest.fixture
def udp():
    """A factory of UDP sockets bound on loopback, all closed afterwards."""
    socks = []

    def make() -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        return s

    yield make
    for s in socks:
        s.close()


def divert(a: Side, b: Side, sniff: socket.socket, pkt: bytes) -> bytes:
    """Point A's endpoint for B at ``sniff``; send ``pkt`` through A; the datagram A sent."""
    a.dp.set_peer(b.engine.public_key, sniff.getsockname())
    a.tun.send(pkt)
    return sniff.recv(65536)


def test_packets_cross_both_ways_after_key_confirmation(tunnel):
    a, b = tunnel
    assert ("confirmed", a.engine.public_key, b.keypair.local_index, None, None, None) in b.dp.poll_events()
    for i in range(50):
        pkt = ip4("10.9.0.1", "10.9.0.2", os.urandom(i * 29))
        a.tun.send(pkt)
        assert b.recv_tun() == pkt  # padding stripped by the IPv4 total length
        back = ip4("10.9.0.2", "10.9.0.1", b"pong%d" % i)
        b.tun.send(back)
        assert a.recv_tun() == back
    sa, sb = a.peer_stats(b), b.peer_stats(a)
    assert sa["tx_packets"] == 50 and sb["rx_packets"] == 50 and sa["rx_packets"] == 50
    assert sa["tx_bytes"] == sb["rx_bytes"] and sb["tx_bytes"] == sa["rx_bytes"]
    assert sa["last_rx_data"] > 0 and sb["last_tx_data"] > 0
    assert not any(sa["drops"].values()) and not any(sb["drops"].values())


def test_the_wire_bytes_are_the_engines(tunnel, udp):
    """A datagram the C side sent decrypts with the Python keypair, and vice versa."""
    a, b = tunnel
    sniff = udp()
    pkt = ip4("10.9.0.1", "10.9.0.2", b"x" * 100)
    dg = divert(a, b, sniff, pkt)
    counter = int.from_bytes(dg[8:16], "little")
    assert bytes(b.keypair.decrypt(dg, counter))[:len(pkt)] == pkt
    # Python-sealed (a fresh counter ahead of the C one) is accepted by C
    a.keypair.send_counter = 4000
    sniff.sendto(bytes(a.keypair.encrypt(pkt)), b.addr)
    assert b.recv_tun() == pkt


def test_spoofed_inner_source_is_dropped(tunnel):
    a, b = tunnel
    a.tun.send(ip4("10.9.0.77", "10.9.0.2"))  # A routes it; B refuses the source
    wait_for(lambda: b.peer_stats(a)["drops"]["allowed_ips"] == 1, what="allowed_ips drop")
    a.tun.send(ip4("10.9.0.1", "192.0.2.1"))  # no peer owns the destination
    wait_for(lambda: a.dp.stats()["device"]["drops"]["no_route"] == 1, what="no_route drop")
    pkt = ip4("10.9.0.1", "10.9.0.2")
    a.tun.send(pkt)
    assert b.recv_tun() == pkt


def test_endpoint_roams_to_the_latest_authenticated_source(tunnel, udp):
    a, b = tunnel
    other, forger = udp(), udp()
    a.keypair.send_counter = 5000
    pkt = ip4("10.9.0.1", "10.9.0.2", b"roam")
    other.sendto(bytes(a.keypair.encrypt(pkt)), b.addr)
    assert b.recv_tun() == pkt
    assert b.peer_stats(a)["endpoint"] == other.getsockname()
    assert ("endpoint", a.engine.public_key, 0, None, other.getsockname(), "127.0.0.1") in b.dp.poll_events()
    b.tun.send(ip4("10.9.0.2", "10.9.0.1", b"back"))
    assert other.recv(65536)[0] == a.engine.mode.type_data  # B now sends where A last spoke from
    # a forged datagram under B's receiver index does not move it
    header = bytes([a.engine.mode.type_data, 0, 0, 0]) + b.keypair.local_index.to_bytes(4, "little")
    forger.sendto(header + (6000).to_bytes(8, "little") + os.urandom(64), b.addr)
    wait_for(lambda: b.peer_stats(a)["drops"]["decrypt"] == 1, what="decrypt drop")
    assert b.peer_stats(a)["endpoint"] == other.getsockname()


def test_packets_without_a_keypair_go_up_to_python(tunnel):
    a, b = tunnel
    a.dp.remove_keypair(b.engine.public_key)
    pkt = ip4("10.9.0.1", "10.9.0.2", b"staged")
    a.tun.send(pkt)
    r, _, _ = select.select([a.dp.event_fd()], [], [], 5)
    assert r, "event fd never became readable"
    assert a.dp.poll_events() == [("staged", b.engine.public_key, 0, pkt, None, None)]
    assert a.dp.poll_events() == []
    assert select.select([a.dp.event_fd()], [], [], 0)[0] == []
    for _ in range(datapath.native.MAX_STAGED + 20):  # bounded: the rest are dropped and counted
        a.tun.send(pkt)
    wait_for(lambda: a.peer_stats(b)["drops"]["no_keypair"] == 20, what="no_keypair drops")
    assert len(a.dp.poll_events()) == datapath.native.MAX_STAGED


def test_handshake_datagrams_go_up_with_their_source(tunnel, udp):
    a, b = tunnel
    b.dp.poll_events()
    s = udp()
    later = time.monotonic() + 6  # past REKEY_TIMEOUT since the fixture's handshake
    init = next(e for e in a.engine.initiate(b.engine.public_key, later) if isinstance(e, Transmit)).data
    s.sendto(init, b.addr)
    ev = wait_for(b.dp.poll_events, what="handshake event")
    assert ev == [("handshake", None, 0, bytes(init), s.getsockname(), "127.0.0.1")]
    assert b.engine.receive(ev[0].data, ev[0].addr, later).kind == "initiation"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.lists(st.one_of(
    st.binary(max_size=200),
    st.binary(min_size=16, max_size=1500).map(lambda b: b"\x04\x00\x00\x00" + b[4:]),
    st.binary(min_size=16, max_size=1500).map(lambda b: b"\x14\x00\x00\x00" + b[4:]),
), min_size=1, max_size=30))
def test_garbage_is_dropped_and_counted_and_the_tunnel_survives(tunnel, garbage):
    a, b = tunnel
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        before = b.dp.stats()
        for g in garbage:
            s.sendto(g, b.addr)
        pkt = ip4("10.9.0.1", "10.9.0.2", b"after")
        a.tun.send(pkt)
        assert b.recv_tun() == pkt
        after = b.dp.stats()

        def counted(st_):
            hs = st_["device"]["handshake"]
            return (sum(st_["device"]["drops"].values()) + sum(st_["peers"][a.engine.public_key]["drops"].values())
                    + hs["malformed"] + hs["mac1_invalid"])
        handshakes = sum(1 for e in b.dp.poll_events() if e.kind == "handshake")
        wait_for(lambda: counted(b.dp.stats()) - counted(before) + handshakes >= len(garbage),
                 what="every garbage datagram counted")
        assert after["peers"][a.engine.public_key]["endpoint"] == a.addr
    finally:
        s.close()


def test_replayed_truncated_and_wrong_key_datagrams(tunnel, udp):
    a, b = tunnel
    sniff = udp()
    dg = divert(a, b, sniff, ip4("10.9.0.1", "10.9.0.2"))
    for _ in range(3):
        sniff.sendto(dg, b.addr)  # first delivered, then replays
    wrong = bytearray(dg)
    wrong[8:16] = (7000).to_bytes(8, "little")  # a fresh counter, so it reaches the AEAD
    sniff.sendto(bytes(wrong), b.addr)
    sniff.sendto(dg[:20], b.addr)
    drops = lambda: b.peer_stats(a)["drops"]  # noqa: E731
    wait_for(lambda: drops()["replay"] == 2 and drops()["decrypt"] == 1, what="replay and decrypt drops")
    wait_for(lambda: b.dp.stats()["device"]["drops"]["malformed"] == 1, what="malformed drop")
    assert b.peer_stats(a)["rx_packets"] == 1


def test_stop_zeroes_keypairs_and_can_restart(tunnel):
    a, b = tunnel
    a.dp.stop()
    assert a.peer_stats(b)["current"] is None and not a.dp.stats()["device"]["running"]
    a.dp.start()
    kp_a, _ = handshake_keypairs(a.engine, b.engine, a.addr, b.addr, time.monotonic() + 6)
    a.dp.install_keypair(b.engine.public_key, kp_a)
    assert a.peer_stats(b)["current"] is not None


def test_send_from_python_seals_under_the_current_keypair(tunnel):
    """The daemon's staged packets and keepalives go out through send()."""
    a, b = tunnel
    pkt = ip4("10.9.0.1", "10.9.0.2", b"held during the handshake")
    assert a.dp.send(b.engine.public_key, pkt) is True
    assert b.recv_tun() == pkt
    rx = b.peer_stats(a)["rx_bytes"]
    assert a.dp.send(b.engine.public_key) is True  # keepalive: authenticated, nothing written to TUN
    wait_for(lambda: b.peer_stats(a)["rx_bytes"] == rx + 32, what="keepalive")
    assert b.peer_stats(a)["rx_packets"] == 1
    a.dp.remove_keypair(b.engine.public_key)
    assert a.dp.send(b.engine.public_key, pkt) is False
    assert ("staged", b.engine.public_key, 0, pkt, None, None) in a.dp.poll_events()


@pytest.fixture
def short_timers():
    """A connected pair with 1 s keepalive / 0.5 s rekey timeouts."""
    yield from connected(engines(), keepalive_timeout=1.0, rekey_timeout=0.5)


def test_timers_passive_keepalive_and_needs_handshake(short_timers):
    a, b = short_timers
    a.tun.send(ip4("10.9.0.1", "10.9.0.2"))
    b.recv_tun()
    # B received data and sends nothing back: after 1 s it sends a keepalive
    wait_for(lambda: a.peer_stats(b)["rx_bytes"] >= 32 and b.peer_stats(a)["tx_bytes"] == 32,
             what="passive keepalive from B")
    assert b.peer_stats(a)["tx_packets"] == 0
    # A sends data into the void (B stopped): after 1.5 s A asks for a handshake
    b.dp.stop()
    a.dp.poll_events()
    a.tun.send(ip4("10.9.0.1", "10.9.0.2"))
    ev = wait_for(lambda: [e for e in a.dp.poll_events() if e.kind == "rekey"], what="needs-handshake event")
    assert ev == [("rekey", b.engine.public_key, 0, None, None, None)]


def test_timers_persistent_keepalive(short_timers):
    a, b = short_timers
    before, start = b.peer_stats(a)["rx_bytes"], time.monotonic()
    a.dp.set_peer(b.engine.public_key, b.addr, persistent_keepalive=1)

    def got():
        return (b.peer_stats(a)["rx_bytes"] - before) // 32

    wait_for(lambda: got() >= 2, what="two persistent keepalives")
    # One per second of silence, so at most one per second since the setting, plus
    # one at once (the last packet went out more than a second before).
    assert got() <= int(time.monotonic() - start) + 1
    assert b.peer_stats(a)["rx_packets"] == 0


def test_control_calls_race_the_workers_safely(tunnel):
    """Rekeys (with key confirmation and retiring), allowed-IP and endpoint
    changes and stats, all while traffic flows both ways; then it still works.
    Keypairs are built directly (same keys, fresh indices) so there is no
    handshake rate limit; the ASAN build of this test is in docs/datapath.md."""
    import threading

    from sswctl.protocol import Keypair

    a, b = tunnel
    stop = threading.Event()
    pa, pb = a.engine.public_key, b.engine.public_key

    def pump():
        while not stop.is_set():
            a.tun.send(ip4("10.9.0.1", "10.9.0.2", b"x" * 1200))
            b.tun.send(ip4("10.9.0.2", "10.9.0.1", b"y" * 300))
            for s in (a.tun, b.tun):
                while select.select([s], [], [], 0)[0]:
                    s.recv(65536)

    t = threading.Thread(target=pump)
    t.start()
    try:
        for i in range(300):
            k1, k2 = os.urandom(32), os.urandom(32)
            ia, ib = 1_000_000 + 2 * i, 1_000_001 + 2 * i
            kw = {"cipher": a.engine.mode.cipher, "created": time.monotonic()}
            b.dp.install_keypair(pa, Keypair(send_key=k2, receive_key=k1, local_index=ib, remote_index=ia,
                                             is_initiator=False, **kw))
            a.dp.install_keypair(pb, Keypair(send_key=k1, receive_key=k2, local_index=ia, remote_index=ib,
                                             is_initiator=True, **kw))
            if i % 7 == 0:
                b.dp.set_allowed_ips(pa, ["10.9.0.1/32", f"10.{i % 200}.0.0/16"])
                a.dp.set_peer(pb, b.addr)
                a.dp.stats()
                b.dp.poll_events()
            if i % 50 == 0:
                b.dp.remove_keypair(pa)
    finally:
        stop.set()
        t.join()

    # B's newest keypair becomes current only once data arrives under it (key
    # confirmation); on a loaded machine the pump may have stopped before any
    # did, so A keeps sending until B confirms.
    def confirmed() -> bool:
        a.tun.send(ip4("10.9.0.1", "10.9.0.2", b"confirm"))
        time.sleep(0.05)
        return b.peer_stats(a)["current"] == ib

    wait_for(confirmed, what="last keypair confirmed")
    while select.select([b.tun], [], [], 0.2)[0]:
        b.tun.recv(65536)
    pkt = ip4("10.9.0.1", "10.9.0.2", b"after the storm")
    a.tun.send(pkt)
    assert b.recv_tun() == pkt


def test_a_forged_handshake_flood_never_reaches_python(tunnel, udp):
    """Handshake-type datagrams without a valid mac1 stop in C (cookie.c):
    counted, nothing queued, and data keeps flowing."""
    a, b = tunnel
    b.dp.poll_events()
    s = udp()
    mode = b.engine.mode
    junk = mode.type_initiation.to_bytes(4, "little") + os.urandom(mode.initiation_len - 4)
    for _ in range(10):
        for _ in range(500):
            s.sendto(junk, b.addr)
        time.sleep(0.005)
    pkt = ip4("10.9.0.1", "10.9.0.2", b"still here")
    a.tun.send(pkt)
    assert b.recv_tun() == pkt
    assert [e for e in b.dp.poll_events() if e.kind == "handshake"] == []
    hs = b.dp.stats()["device"]["handshake"]
    assert hs["received"] > 0 and hs["mac1_invalid"] == hs["received"] and hs["queued"] == 0


def test_a_more_specific_allowed_ip_on_another_peer_wins(tunnel):
    """A has B (10.9.0.0/24) and C (10.9.0.3/32): routing picks C for .3,
    and C cannot send from B's addresses."""
    a, b = tunnel
    ec = Engine(os.urandom(32), a.engine.protocol, a.engine.cipher, wall_offset=a.engine.wall_offset)
    c = make_side(ec)
    try:
        a.engine.add_peer(ec.public_key)
        ec.add_peer(a.engine.public_key)
        a.dp.set_allowed_ips(b.engine.public_key, ["10.9.0.0/24"])
        a.dp.set_peer(ec.public_key, c.addr)
        a.dp.set_allowed_ips(ec.public_key, ["10.9.0.3/32"])
        c.dp.set_peer(a.engine.public_key, a.addr)
        c.dp.set_allowed_ips(a.engine.public_key, ["0.0.0.0/0"])
        c.dp.start()
        kp_a, kp_c = handshake_keypairs(a.engine, ec, a.addr, c.addr)
        c.dp.install_keypair(a.engine.public_key, kp_c)
        a.dp.install_keypair(ec.public_key, kp_a)
        to_c, to_b = ip4("10.9.0.1", "10.9.0.3", b"for C"), ip4("10.9.0.1", "10.9.0.2", b"for B")
        a.tun.send(to_c)
        a.tun.send(to_b)
        assert c.recv_tun() == to_c
        assert b.recv_tun() == to_b
        assert a.dp.route("10.9.0.3") == ec.public_key and a.dp.route("10.9.0.4") == b.engine.public_key
        c.tun.send(ip4("10.9.0.2", "10.9.0.1", b"spoofing B"))  # C may only speak as 10.9.0.3
        wait_for(lambda: a.peer_stats(c)["drops"]["allowed_ips"] == 1, what="spoof from C dropped")
        good = ip4("10.9.0.3", "10.9.0.1", b"from C")
        c.tun.send(good)
        assert a.recv_tun() == good
    finally:
        c.close()


# --- sticky source: B's socket is bound to the wildcard address and A writes
# to 127.0.0.7 (every 127/8 address is local); B's replies must leave from
# 127.0.0.7, not from 127.0.0.1, which routing picks towards A.

@pytest.fixture
def multihomed():
    pair = engines()
    a, b = make_side(pair[0]), make_side(pair[1], host="0.0.0.0")
    try:
        connect(a, b, addr_b=("127.0.0.7", b.addr[1]))
        yield a, b
    finally:
        a.close()
        b.close()


def test_replies_leave_from_the_address_the_peer_wrote_to(multihomed, udp):
    a, b = multihomed
    sticky = ("127.0.0.7", b.addr[1])
    # B learned the source from A's key-confirming keepalive
    assert b.peer_stats(a)["source"] == "127.0.0.7"
    assert ("endpoint", a.engine.public_key, 0, None, a.addr, "127.0.0.7") in b.dp.poll_events()
    run = ip4("10.9.0.2", "10.9.0.1", bytes(1000))

    def batched() -> bool:
        """A run of equal-sized datagrams: one UDP_SEGMENT message carries the source. How many
        the worker finds waiting at once is up to the scheduler, so runs repeat until one batched."""
        sent = b.dp.stats()["device"]["udp_send_msgs"]
        for _ in range(40):
            b.tun.send(run)
        for _ in range(40):
            assert a.recv_tun() == run
        return b.dp.stats()["device"]["udp_send_msgs"] - sent < 40

    wait_for(batched, what="a run of datagrams sent in fewer messages")
    # A roams to the source of B's authenticated datagrams: still 127.0.0.7
    assert a.peer_stats(b)["endpoint"] == sticky
    assert b.dp.send(a.engine.public_key) is True  # the control-side send too
    wait_for(lambda: a.peer_stats(b)["last_rx"] > 0, what="keepalive")
    assert a.peer_stats(b)["endpoint"] == sticky
    # handshake datagrams go up with the local address they were sent to
    s = udp()
    b.dp.poll_events()
    later = time.monotonic() + 6  # past REKEY_TIMEOUT since the fixture's handshake
    init = next(e for e in a.engine.initiate(b.engine.public_key, later) if isinstance(e, Transmit)).data
    s.sendto(init, sticky)
    ev = wait_for(b.dp.poll_events, what="handshake event")
    assert ev == [("handshake", None, 0, bytes(init), s.getsockname(), "127.0.0.7")]


def test_a_cleared_source_lets_routing_pick(multihomed):
    a, b = multihomed
    b.dp.clear_source(a.engine.public_key)
    assert b.peer_stats(a)["source"] is None
    b.tun.send(ip4("10.9.0.2", "10.9.0.1"))
    a.recv_tun()
    assert a.peer_stats(b)["endpoint"] == ("127.0.0.1", b.addr[1])


@pytest.mark.parametrize("how", ["worker", "control"])
def test_a_source_the_kernel_refuses_is_dropped_and_the_send_repeated(multihomed, how):
    a, b = multihomed
    # 192.0.2.7 is not ours: the kernel refuses it (EINVAL), as when an address is removed
    b.dp.set_endpoint(a.engine.public_key, a.addr, "192.0.2.7")
    assert b.peer_stats(a)["source"] == "192.0.2.7"
    pkt = ip4("10.9.0.2", "10.9.0.1", bytes(600))
    if how == "control":
        assert b.dp.send(a.engine.public_key, pkt) is True
        assert a.recv_tun() == pkt
    else:
        for _ in range(20):
            b.tun.send(pkt)
        for _ in range(20):
            assert a.recv_tun() == pkt
    assert b.peer_stats(a)["source"] is None
    assert a.peer_stats(b)["endpoint"] == ("127.0.0.1", b.addr[1])
    assert b.dp.stats()["device"]["drops"]["send_error"] == 0
    assert b.peer_stats(a)["drops"]["send_error"] == 0
