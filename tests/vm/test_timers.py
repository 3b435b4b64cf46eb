"""The module's per-peer timers: keepalives, "needs handshake" requests, key zeroing, and
timers stopping with the peer, the device going down and the device going away.

The protocol's times are shortened through the module's test-only parameters
(/sys/module/secureswift/parameters/), restored after each test."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from pathlib import Path

from conftest import in_netns, run
from test_datapath import Pair, install

from sswctl.ipc.genl import HandshakeUpcalls
from sswctl.model import Device, Peer
from sswctl.protocol import KeypairCreated, Transmit

PARAMS = Path("/sys/module/secureswift/parameters")
KEEPALIVE_BYTES = 32  # 16-byte header + empty payload + 16-byte tag
# Waits for something that must happen poll and end as soon as it does; the limit only
# ends a wait that would never succeed, so it is generous for a slow, busy machine. (Waits
# that check nothing happens are windows longer than the timer that must not fire.)
WAIT = 60.0


@contextlib.contextmanager
def knobs(**values: int):
    """Set the module's test-only time parameters (seconds) for the block."""
    saved = {name: (PARAMS / name).read_text().strip() for name in values}
    try:
        for name, value in values.items():
            (PARAMS / name).write_text(str(value))
        yield
    finally:
        for name, value in saved.items():
            (PARAMS / name).write_text(value)


@contextlib.contextmanager
def upcalls(p: Pair, ns: str):
    with in_netns(ns):
        ups = p.kb.handshake_upcalls()
    try:
        yield ups
    finally:
        ups.close()


def wait_for(ups: HandshakeUpcalls, kind: str, peer: bytes, timeout: float):
    """The first upcall of @kind about @peer within @timeout seconds, else None."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        ups.sock.settimeout(left)
        try:
            for up in ups.read():
                if up.kind == kind and up.peer_public_key == peer:
                    return up
        except TimeoutError:
            return None
    return None


def counters(p: Pair, ns: str, pub: bytes) -> tuple[int, int, int, int]:
    peer = p.peer_of(ns, pub)
    return peer.status.tx_packets, peer.status.tx_bytes, peer.status.rx_packets, peer.status.rx_bytes


def poll(cond, what: str):
    """Until ``cond()`` is true (returned), at most WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while not (v := cond()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return v


def set_keepalive(p: Pair, ns: str, pub: bytes, seconds: int) -> None:
    with in_netns(ns):
        p.kb.set_device(Device(name="ssw", peers=[Peer(public_key=pub, persistent_keepalive=seconds,
                                                       update_only=True)]))


def one_way_udp(src_ns: str, dst_ns: str, dst: str) -> None:
    """One datagram through the tunnel to a bound socket that never answers (no ICMP back).
    Sockets made in this process (no new Python under emulation): sent at once."""
    with in_netns(dst_ns):
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with in_netns(src_ns):
        source = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sink.bind((dst, 9999))
        source.sendto(b"one way", (dst, 9999))
        sink.settimeout(10)
        assert sink.recv(100) == b"one way"
    finally:
        sink.close()
        source.close()


def new_session(p: Pair):
    """A fresh handshake between the pair's two engines: (A's keypair, B's keypair)."""
    now = time.monotonic() + 10  # a later initiation than the first one
    init = next(e for e in p.a.initiate(p.b.public_key, now) if isinstance(e, Transmit)).data
    rb = p.b.receive(init, ("192.0.2.1", 1), now)
    resp = next(e for e in rb.events if isinstance(e, Transmit)).data
    kp_b = next(e.keypair for e in rb.events if isinstance(e, KeypairCreated))
    ra = p.a.receive(resp, ("192.0.2.2", 2), now)
    return next(e.keypair for e in ra.events if isinstance(e, KeypairCreated)), kp_b


def test_persistent_keepalive_is_sent_without_traffic_and_stops_at_zero(netns):
    p = Pair(netns, "secureswift", 4)
    p.install_keys()
    poll(lambda: counters(p, p.ns2, p.a.public_key)[2] >= 1, "the initiator's confirming keepalive")
    before, start = counters(p, p.ns2, p.a.public_key), time.monotonic()
    set_keepalive(p, p.ns1, p.b.public_key, 1)
    # One when turned on, then one a second with no other traffic at all: three come,
    # and no more than that promise allows over the time measured.
    after = poll(lambda: (c := counters(p, p.ns2, p.a.public_key))[2] - before[2] >= 3 and c, "three keepalives")
    got = after[2] - before[2]
    assert got <= 1 + int(time.monotonic() - start), (before, after)
    assert after[3] - before[3] == got * KEEPALIVE_BYTES
    assert after[0] == before[0]  # keepalives in need no answer
    set_keepalive(p, p.ns1, p.b.public_key, 0)
    time.sleep(0.5)
    stopped = counters(p, p.ns2, p.a.public_key)
    time.sleep(2.5)
    assert counters(p, p.ns2, p.a.public_key) == stopped
    assert p.peer_of(p.ns1, p.b.public_key).persistent_keepalive in (0, None)


def test_passive_keepalive_answers_a_one_way_packet(netns):
    p = Pair(netns, "secureswift", 4)
    with knobs(keepalive_timeout=1):
        p.install_keys()
        time.sleep(0.5)
        before = counters(p, p.ns1, p.b.public_key)
        one_way_udp(p.ns1, p.ns2, "10.241.0.2")
        poll(lambda: counters(p, p.ns1, p.b.public_key)[2] > before[2], "B's keepalive")
        time.sleep(2)  # longer than keepalive_timeout: a second keepalive would have come
        after = counters(p, p.ns1, p.b.public_key)
    # A sent one data packet; B sent nothing but exactly one keepalive back.
    assert after[0] - before[0] == 1
    assert (after[2] - before[2], after[3] - before[3]) == (1, KEEPALIVE_BYTES)


def test_need_handshake_when_sending_under_an_old_keypair(netns):
    p = Pair(netns, "secureswift", 4)
    with upcalls(p, p.ns1) as ups_a, upcalls(p, p.ns2) as ups_b:
        p.install_keys()
        run("ping", "-c", "1", "-W", "5", "10.241.0.2", netns=p.ns1)
        # Young keys (REKEY_AFTER_TIME 120 s): nobody asks.
        assert wait_for(ups_a, "need_handshake", p.b.public_key, 1) is None
        with knobs(rekey_after_time=1):
            time.sleep(1.5)
            run("ping", "-c", "1", "-W", "5", "10.241.0.2", netns=p.ns1)
            up = wait_for(ups_a, "need_handshake", p.b.public_key, WAIT)
            assert up is not None
            with in_netns(p.ns1):
                assert up.ifindex == socket.if_nametoindex("ssw")
            # The responder sent its echo reply under the same old keys: only the initiator asks.
            assert wait_for(ups_b, "need_handshake", p.a.public_key, 1) is None


def test_need_handshake_when_receiving_under_an_old_keypair(netns):
    p = Pair(netns, "secureswift", 4)
    # Ask on receive after REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT = 21 - 1 - 5 s.
    old = 15
    with knobs(reject_after_time=21, keepalive_timeout=1), upcalls(p, p.ns1) as ups_a:
        t0 = time.monotonic()
        p.install_keys()
        installed = time.monotonic()
        one_way_udp(p.ns2, p.ns1, "10.241.0.1")
        # The keys were at most this old when the packet arrived: young, so no request
        # (judged on the measured age: a machine too slow to send within it cannot tell).
        if time.monotonic() - t0 < old:
            assert wait_for(ups_a, "need_handshake", p.b.public_key, 1) is None
        time.sleep(max(0.0, installed + old + 0.5 - time.monotonic()))
        # B (responder) sends, A (initiator) only receives and sends a keepalive, with
        # REKEY_AFTER_TIME at 120 s: the request can only come from the receive path.
        one_way_udp(p.ns2, p.ns1, "10.241.0.1")
        assert wait_for(ups_a, "need_handshake", p.b.public_key, WAIT) is not None


def test_keys_are_zeroed_and_announced_after_the_zeroing_time(netns):
    p = Pair(netns, "secureswift", 4)
    with knobs(zero_keys_after_time=8), upcalls(p, p.ns1) as ups_a, upcalls(p, p.ns2) as ups_b:
        p.install_keys()
        run("ping", "-c", "1", "-W", "3", "10.241.0.2", netns=p.ns1)
        # Both sides installed at once: both forget their keys and say so.
        for ups, ns, pub in ((ups_a, p.ns1, p.b.public_key), (ups_b, p.ns2, p.a.public_key)):
            up = wait_for(ups, "keys_expired", pub, WAIT)
            assert up is not None
            with in_netns(ns):
                assert up.ifindex == socket.if_nametoindex("ssw")
        # The keys are really gone: the ping waits in the staging queue and asks for a handshake.
        pinger = subprocess.Popen(["ip", "netns", "exec", p.ns1, "ping", "-c", "1", "-W", "60", "10.241.0.2"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            assert wait_for(ups_a, "need_handshake", p.b.public_key, WAIT) is not None
            assert pinger.poll() is None
            # A new session (a fresh handshake) brings the tunnel back; the staged ping leaves.
            kp_a, kp_b = new_session(p)
            install(p.kb, p.ns2, "ssw", p.a.public_key, kp_b)
            install(p.kb, p.ns1, "ssw", p.b.public_key, kp_a)
            assert pinger.wait(timeout=60) == 0, pinger.stderr.read()
        finally:
            if pinger.poll() is None:
                pinger.kill()
                pinger.wait()


def test_timers_stop_with_the_device_down_the_peer_and_the_device(netns):
    p = Pair(netns, "secureswift", 4)
    with knobs(keepalive_timeout=1, zero_keys_after_time=5):
        p.install_keys()
        one_way_udp(p.ns1, p.ns2, "10.241.0.2")  # arms keepalive and new-handshake timers
        set_keepalive(p, p.ns1, p.b.public_key, 1)
        set_keepalive(p, p.ns2, p.a.public_key, 1)
        # Down: nothing more leaves A, though every timer was armed.
        run("ip", "-n", p.ns1, "link", "set", "ssw", "down")
        time.sleep(0.5)
        before = counters(p, p.ns2, p.a.public_key)
        time.sleep(3)
        assert counters(p, p.ns2, p.a.public_key)[2:] == before[2:]
        run("ip", "-n", p.ns1, "link", "set", "ssw", "up")
        # B's timers are still armed: remove the peer, then delete the device under them.
        with in_netns(p.ns2):
            p.kb.set_device(Device(name="ssw", peers=[Peer(public_key=p.a.public_key, remove=True)]))
        with in_netns(p.ns2):
            assert p.kb.get_device("ssw").peers == []
        # A's keys went with the device down: new ones arm its zeroing timer again.
        install(p.kb, p.ns1, "ssw", p.b.public_key, p.kp_a)
        run("ip", "-n", p.ns1, "link", "del", "ssw")
        time.sleep(3)  # any timer left behind would fire on freed memory now
    log = run("dmesg").stdout
    assert not [line for line in log.splitlines() if "WARNING" in line or "BUG" in line]
