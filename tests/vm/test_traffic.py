"""Bulk traffic through module-to-module tunnels, and what must not break it.

The tunnels are test_datapath's Pair (two devices in two namespaces over veth,
keys from a real handshake of the Python engine installed with INSTALL_KEYPAIR):
iperf3 TCP both ways in both modes and suites, with and without a PSK; module
unload, device deletion and peer removal while iperf3 runs; a flood of bad and
good-looking datagrams at the device's port while iperf3 runs. Every test also
checks that the kernel log gained no WARNING/BUG lines.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import socket
import subprocess
import threading
import time
from ipaddress import ip_network

import pytest
from conftest import in_netns, link_exists, load_module, module_loaded, run, unload_module
from test_datapath import Pair, forged, ip4_udp, link_stats

from sswctl.model import Device, Endpoint, Peer
from sswctl.protocol import KeypairCreated, Transmit
from sswctl.protocol.modes import mode_for
from sswctl.protocol.primitives import blake2s_hash, mac, xaead_decrypt

IPERF_SECONDS = 2
KERNEL_TROUBLE = re.compile(r"WARNING|BUG|Oops|general protection|list_(add|del) corruption")


@pytest.fixture(scope="module", autouse=True)
def kernel_modules():
    """veth (the underlay) is not autoloaded reliably in the guest: load it up front."""
    run("modprobe", "veth")


@pytest.fixture(autouse=True)
def quiet_kernel_log():
    """No WARNING/BUG/Oops in the kernel log while the test ran."""
    seen = len(run("dmesg").stdout.splitlines())
    yield
    new = run("dmesg").stdout.splitlines()[seen:]
    bad = [line for line in new if KERNEL_TROUBLE.search(line)]
    assert not bad, "kernel log:\n" + "\n".join(new[-40:])


def rekey(p: Pair, psk: bytes | None = None) -> None:
    """A new handshake between the pair's engines (with ``psk`` when given), its keypairs
    installed in the kernel; the pair's first keypairs are replaced."""
    if psk is not None:
        p.a.update_peer(p.b.public_key, preshared_key=psk)
        p.b.update_peer(p.a.public_key, preshared_key=psk)
    # The engines' clock is injected: step it past REKEY_TIMEOUT so that the
    # initiator may start another handshake at once.
    p.clock = getattr(p, "clock", 0.0) + 10.0
    now = time.monotonic() + p.clock
    init = next(e for e in p.a.initiate(p.b.public_key, now) if isinstance(e, Transmit)).data
    rb = p.b.receive(init, ("192.0.2.1", 1), now)
    resp = next(e for e in rb.events if isinstance(e, Transmit)).data
    p.kp_b = next(e.keypair for e in rb.events if isinstance(e, KeypairCreated))
    ra = p.a.receive(resp, ("192.0.2.2", 2), now)
    p.kp_a = next(e.keypair for e in ra.events if isinstance(e, KeypairCreated))
    p.install_keys()


def tunnel(netns, protocol: str, cipher: str, psk: bytes | None = None) -> Pair:
    """A Pair carrying traffic; with ``psk`` both devices' peers hold it and the
    installed keys come from a handshake that mixed it in."""
    p = Pair(netns, protocol, 4, cipher)
    if psk is None:
        p.install_keys()
        return p
    for ns, other in ((p.ns1, p.b), (p.ns2, p.a)):
        with in_netns(ns):
            p.kb.set_device(Device(name="ssw", peers=[Peer(public_key=other.public_key, preshared_key=psk)]))
    rekey(p, psk)
    return p


def iperf_server(ns: str) -> subprocess.Popen:
    return subprocess.Popen(["ip", "netns", "exec", ns, "iperf3", "-s"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def iperf(ns: str, dst: str, *extra: str, seconds: int = IPERF_SECONDS) -> float:
    """iperf3 TCP client from ``ns``; received bit/s (retries while the server starts)."""
    return iperf_received(ns, dst, *extra, seconds=seconds)["bits_per_second"]


def iperf_received(ns: str, dst: str, *extra: str, seconds: int = IPERF_SECONDS) -> dict:
    """iperf3 TCP client from ``ns``; its ``sum_received`` summary (bytes, bits_per_second)."""
    for _ in range(30):
        cp = run("iperf3", "-c", dst, "-t", str(seconds), "-J", *extra, netns=ns, check=False)
        with contextlib.suppress(ValueError, KeyError):
            return json.loads(cp.stdout)["end"]["sum_received"]
        if not re.search(r"Connection refused|server is busy", cp.stdout + cp.stderr):
            raise AssertionError(f"iperf3 -c {dst} {' '.join(extra)}: {cp.stdout[-2000:]} {cp.stderr}")
        time.sleep(0.5)
    raise AssertionError(f"iperf3 server at {dst} never answered")


@contextlib.contextmanager
def iperf_server_in(ns: str):
    srv = iperf_server(ns)
    try:
        deadline = time.monotonic() + 60
        while ":5201" not in run("ss", "-ltnH", netns=ns).stdout:
            assert srv.poll() is None and time.monotonic() < deadline, "iperf3 server did not start"
            time.sleep(0.2)
        yield srv
    finally:
        srv.kill()
        srv.wait()


def counters_match_link(p: Pair, ns: str, peer_pub: bytes, sent: int, received: int) -> None:
    """The peer's transfer counters (GET_DEVICE) are the device's `ip -s link`, read
    between two peer reads that agree (the last ACKs may still be in flight on a slow
    machine: a poll, not a guess of how long they take), and hold at least the TCP
    payload iperf3 reported received from (``sent``) and by (``received``) this side."""
    deadline = time.monotonic() + 60
    while True:
        peer = p.peer_of(ns, peer_pub)
        st = link_stats(ns, "ssw")
        again = p.peer_of(ns, peer_pub)
        if (peer.status.tx_packets, peer.status.rx_packets) == (again.status.tx_packets, again.status.rx_packets):
            break
        assert time.monotonic() < deadline, "counters never settled"
        time.sleep(0.5)
    assert (st["tx"]["bytes"], st["tx"]["packets"]) == (peer.status.tx_bytes, peer.status.tx_packets)
    assert (st["rx"]["bytes"], st["rx"]["packets"]) == (peer.status.rx_bytes, peer.status.rx_packets)
    assert peer.status.tx_bytes >= sent > 0 and peer.status.rx_bytes >= received > 0


@pytest.mark.parametrize("protocol,cipher,with_psk", [
    ("secureswift", "chacha20-poly1305", True),
    ("secureswift", "aes-256-gcm", False),
    ("wireguard", "chacha20-poly1305", True),
])
def test_iperf3_tcp_both_directions_inner_v4_and_v6(netns, protocol, cipher, with_psk):
    psk = os.urandom(32) if with_psk else None
    p = tunnel(netns, protocol, cipher, psk)
    if psk:
        assert p.peer_of(p.ns1, p.b.public_key).preshared_key == psk
    got = {}
    with iperf_server_in(p.ns2):
        for dst in ("10.241.0.2", "fd10::2"):
            got[dst, "up"] = iperf_received(p.ns1, dst)
            got[dst, "down"] = iperf_received(p.ns1, dst, "-R")
    rates = {k: r["bits_per_second"] for k, r in got.items()}
    assert all(r > 0 for r in rates.values()), rates
    # How much 2 s carry is the machine's speed; the counters hold at least what arrived.
    up, down = (sum(r["bytes"] for (_, w), r in got.items() if w == way) for way in ("up", "down"))
    counters_match_link(p, p.ns1, p.b.public_key, up, down)
    counters_match_link(p, p.ns2, p.a.public_key, down, up)
    pa, pb = p.peer_of(p.ns1, p.b.public_key), p.peer_of(p.ns2, p.a.public_key)
    assert pa.status.tx_packets >= pb.status.rx_packets > 0 and pb.status.tx_packets >= pa.status.rx_packets > 0
    print(f"{protocol} {cipher} psk={with_psk}: " + ", ".join(f"{d} {w} {r / 1e6:.0f} Mbit/s"
                                                          for (d, w), r in rates.items()))


def long_iperf(ns: str, dst: str, seconds: int = 60) -> subprocess.Popen:
    cp = subprocess.Popen(["ip", "netns", "exec", ns, "iperf3", "-c", dst, "-t", str(seconds), "-i", "1",
                           "--forceflush"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return cp


def wait_for_bytes(p: Pair, ns: str, peer_pub: bytes, at_least: int = 200_000, timeout: float = 60) -> None:
    """Until the tunnel has carried ``at_least`` bytes from ``ns`` (iperf3 is flowing)."""
    deadline = time.monotonic() + timeout
    while p.peer_of(ns, peer_pub).status.tx_bytes < at_least:
        assert time.monotonic() < deadline, "iperf3 traffic never started"
        time.sleep(0.3)


@contextlib.contextmanager
def iperf_flowing(p: Pair):
    """A long iperf3 run from ns1 to ns2 through the tunnel, already carrying bytes; stopped at exit."""
    with iperf_server_in(p.ns2):
        client = long_iperf(p.ns1, "10.241.0.2")
        try:
            wait_for_bytes(p, p.ns1, p.b.public_key)
            yield client
        finally:
            if client.poll() is None:
                client.kill()
            client.communicate()


def test_module_unload_while_iperf3_runs_then_reload(netns):
    p = tunnel(netns, "secureswift", "chacha20-poly1305")
    with iperf_flowing(p):
        unload_module()  # rmmod: must take the busy devices down with it
        assert not module_loaded()
        assert not link_exists("ssw", p.ns1) and not link_exists("ssw", p.ns2)
    load_module()
    q = tunnel(netns, "wireguard", "chacha20-poly1305")
    run("ping", "-c", "2", "-i", "0.2", "-W", "3", "10.241.0.2", netns=q.ns1)
    with iperf_server_in(q.ns2):
        assert iperf(q.ns1, "10.241.0.2") > 0


def test_device_deletion_while_iperf3_runs(netns):
    p = tunnel(netns, "secureswift", "aes-256-gcm")
    with iperf_flowing(p):
        run("ip", "-n", p.ns1, "link", "del", "ssw")
        assert not link_exists("ssw", p.ns1)
        # Nothing arrives from the deleted device any more (iperf3 itself just retries).
        time.sleep(1)
        got = p.peer_of(p.ns2, p.a.public_key).status.rx_bytes
        time.sleep(2)
        assert p.peer_of(p.ns2, p.a.public_key).status.rx_bytes == got > 200_000
    assert module_loaded()


def test_peer_removal_while_iperf3_runs(netns):
    p = tunnel(netns, "wireguard", "chacha20-poly1305")
    with iperf_flowing(p):
        with in_netns(p.ns1):
            p.kb.set_device(Device(name="ssw", peers=[Peer(public_key=p.b.public_key, remove=True)]))
            assert p.kb.get_device("ssw").peers == []
        errors0 = link_stats(p.ns1, "ssw")["tx"]["errors"]
        assert run("ping", "-c", "1", "-W", "1", "10.241.0.2", netns=p.ns1, check=False).returncode != 0
        assert link_stats(p.ns1, "ssw")["tx"]["errors"] > errors0  # no route to a peer any more
    # The peer comes back, with new keys, and the tunnel carries traffic again.
    with in_netns(p.ns1):
        p.kb.set_device(Device(name="ssw", peers=[Peer(
            public_key=p.b.public_key, endpoint=Endpoint("192.168.241.2", 51002),
            allowed_ips=[ip_network("10.241.0.2/32"), ip_network("fd10::2/128")])]))
    rekey(p)
    run("ping", "-c", "2", "-i", "0.2", "-W", "3", "10.241.0.2", netns=p.ns1)


# --- the flood --------------------------------------------------------------------------------

FLOOD_SOURCES = ("192.168.241.1", "192.168.241.11", "192.168.241.12", "192.168.241.13")
SOCKETS_PER_SOURCE = 16
PER_KIND = 4000  # datagrams of each of the five kinds
MODE = mode_for("secureswift", "chacha20-poly1305")
# secureswift_kmod/upcall.h: mac1-valid messages handed up without a cookie.
UPCALL_RATE, UPCALL_BURST = 100, 8


def good_mac1(responder_pub: bytes, body: bytes) -> bytes:
    """``body`` (an initiation without its macs) with a valid mac1 for ``responder_pub`` and a zero mac2:
    what the kernel checks before handing a message up, computed as the protocol engine does."""
    return body + mac(blake2s_hash(MODE.label_mac1, responder_pub), body) + bytes(16)


def flood_datagrams(p: Pair) -> list[tuple[str, bytes]]:
    """The flood, shuffled: (kind, datagram). "replayed" are data messages under the tunnel's
    keys at counters the kernel has already used (and the receiver accepted)."""
    size = MODE.initiation_len
    init_head = MODE.type_initiation.to_bytes(4, "little")
    used = p.peer_of(p.ns1, p.b.public_key).status.tx_packets  # counters 0..used-1 are spent
    assert used >= 4
    captured = [forged(p.kp_a, c, ip4_udp("10.241.0.1", "10.241.0.2")) for c in range(min(used, 32))]
    rng = random.Random(6)
    out: list[tuple[str, bytes]] = []
    for i in range(PER_KIND):
        out.append(("random", os.urandom(rng.randrange(0, 1400))))
        msg = captured[i % len(captured)]
        out.append(("truncated", msg[:rng.randrange(0, 32)]))
        out.append(("replayed", msg))
        bad = bytearray(good_mac1(p.b.public_key, init_head + os.urandom(size - 36)))
        bad[-20] ^= 0x55
        out.append(("bad_mac1", bytes(bad)))
        out.append(("good_mac1", good_mac1(p.b.public_key, init_head + os.urandom(size - 36))))
    rng.shuffle(out)
    return out


def handshake_counters(p: Pair) -> dict[str, int]:
    """ns2's device's handshake counters (GET_DEVICE)."""
    with in_netns(p.ns2):
        return p.kb.get_device("ssw").status.handshake


def cookie_replies(socks: list[socket.socket]) -> list[tuple[tuple, bytes]]:
    """Every datagram the flood's sockets got back (the server's cookie replies)."""
    out = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        got = False
        for s in socks:
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                while True:
                    data, src = s.recvfrom(2048)
                    out.append((src, data))
                    got = True
        if not got:
            time.sleep(0.5)
    return out


def link_and_peer_rx(p: Pair) -> tuple[dict, int]:
    """ns2's link counters and its peer's rx packets, read at one moment: a keepalive
    can land between two reads (the passive one comes 10 s after the last ping)."""
    while True:
        st = link_stats(p.ns2, "ssw")
        rx = p.peer_of(p.ns2, p.a.public_key).status.rx_packets
        if link_stats(p.ns2, "ssw")["rx"]["packets"] == st["rx"]["packets"]:
            return st, rx


def veth_of(ns: str) -> str:
    return run("ip", "-n", ns, "-o", "link", "show", "type", "veth").stdout.split(":")[1].strip().split("@")[0]


def underlay_losses(p: Pair) -> tuple[int, int]:
    """What the underlay itself dropped so far, (towards ns2, back to ns1): a veth that
    cannot hand a packet to the other side's backlog (netdev_max_backlog, on a busy
    machine) counts it as its tx_dropped; the receiving end's rx_dropped; and, back in
    ns1, datagrams a flood socket's full receive buffer refused."""
    s1, s2 = (link_stats(ns, veth_of(ns)) for ns in (p.ns1, p.ns2))
    snmp = run("ip", "netns", "exec", p.ns1, "cat", "/proc/net/snmp").stdout.splitlines()
    names, values = (line.split() for line in snmp if line.startswith("Udp:"))
    rcvbuf = int(values[names.index("RcvbufErrors")])
    return s1["tx"]["dropped"] + s2["rx"]["dropped"], s2["tx"]["dropped"] + s1["rx"]["dropped"] + rcvbuf


def test_flood_at_the_port_while_iperf3_runs(netns):
    p = tunnel(netns, "secureswift", "chacha20-poly1305")
    va = veth_of(p.ns1)
    for host in FLOOD_SOURCES[1:]:
        run("ip", "-n", p.ns1, "addr", "add", f"{host}/24", "dev", va)
    run("ping", "-c", "3", "-i", "0.2", "-W", "3", "10.241.0.2", netns=p.ns1)
    datagrams = flood_datagrams(p)
    with in_netns(p.ns1):
        socks = []
        for host in FLOOD_SOURCES:
            for _ in range(SOCKETS_PER_SOURCE):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind((host, 0))
                socks.append(s)
    with in_netns(p.ns2):
        ups = p.kb.handshake_upcalls()
    ups.sock.settimeout(0.5)
    upcalls: list = []
    done = threading.Event()

    def read_upcalls() -> None:
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                upcalls.extend(u for u in ups.read() if u.kind == "handshake")

    rates: list[float] = []
    failures: list[str] = []

    def keep_iperf_running() -> None:
        try:
            while not done.is_set():
                rates.append(iperf(p.ns1, "10.241.0.2", "-R" if len(rates) % 2 else "-4"))
        except Exception as e:  # noqa: BLE001 - reported by the test's thread below
            failures.append(repr(e))

    st0, rx0 = link_and_peer_rx(p)
    hs0 = handshake_counters(p)
    lost0 = underlay_losses(p)
    reader = threading.Thread(target=read_upcalls)
    with iperf_server_in(p.ns2):
        traffic = threading.Thread(target=keep_iperf_running)
        reader.start()
        traffic.start()
        try:
            wait_for_bytes(p, p.ns1, p.b.public_key, at_least=link_stats(p.ns1, "ssw")["tx"]["bytes"] + 200_000)
            dest = ("192.168.241.2", 51002)
            sent = dict.fromkeys(("random", "truncated", "replayed", "bad_mac1", "good_mac1"), 0)
            t0 = time.monotonic()
            for i, (kind, d) in enumerate(datagrams):
                socks[i % len(socks)].sendto(d, dest)
                sent[kind] += 1
            elapsed = time.monotonic() - t0
            time.sleep(1.5)
            replies = cookie_replies(socks)
        finally:
            done.set()
            traffic.join(timeout=120)
            reader.join(timeout=10)
            ups.close()
            for s in socks:
                s.close()
    assert module_loaded()
    st, rx = link_and_peer_rx(p)
    hs = {k: v - hs0.get(k, 0) for k, v in handshake_counters(p).items()}
    # On a busy machine the veth may drop some of the flood (or of the replies) before
    # the module sees it: each count below is exact up to what the underlay measured lost.
    lost_in, lost_back = (after - before for after, before in zip(underlay_losses(p), lost0, strict=True))
    n_up = len(upcalls)
    bad = sum(sent.values()) - sent["good_mac1"]
    # Everything the flood sent was dropped, except the good-mac1 initiations the rate
    # limiter let up to the daemon; iperf3's own traffic adds hardly any drops. Data
    # messages refused for back-pressure (the decryption queue full of iperf3 and the
    # replayed ones: receive.c) count as missed, not dropped.
    dropped = st["rx"]["dropped"] - st0["rx"]["dropped"]
    missed = st["rx"]["missed_errors"] - st0["rx"]["missed_errors"]
    expected = bad + sent["good_mac1"] - n_up
    print(f"flood: {sum(sent.values())} datagrams in {elapsed:.1f} s {sent}, upcalls {n_up}, counters {hs}, "
          f"cookie replies received {len(replies)}, "
          f"rx_dropped +{dropped}, rx_missed_errors +{missed}, rx_errors +{st['rx']['errors'] - st0['rx']['errors']}, "
          f"iperf3 during the flood {[round(r / 1e6) for r in rates]} Mbit/s, "
          f"lost by the underlay: {lost_in} on the way in, {lost_back} on the way back")
    assert expected - lost_in - missed <= dropped <= expected + 200
    assert st["rx"]["errors"] - st0["rx"]["errors"] <= 10  # no authentic-but-refused datagrams were sent
    assert rx - rx0 == st["rx"]["packets"] - st0["rx"]["packets"]
    # No sender proved its address (none retries with the cookie), so what went up is
    # within the global budget (secureswift_kmod/upcall.h), whatever the flood's pace;
    # the rest of the good-mac1 initiations got a cookie reply each, which came back
    # to the socket that sent it and opens under the server's cookie key with the
    # answered message's mac1 (byte-exact with the protocol engine).
    limit = UPCALL_BURST + UPCALL_RATE * (elapsed + 2.5)
    assert 1 <= n_up <= limit, (n_up, limit)
    assert hs["handshakes_upcalled"] == n_up
    assert sent["bad_mac1"] - lost_in <= hs["shed_bad_mac1"] <= sent["bad_mac1"]
    shed_good = hs["shed_no_mac2"] + hs["shed_rate_limited"] + hs["shed_backlog_full"]
    assert sent["good_mac1"] - n_up - lost_in <= shed_good <= sent["good_mac1"] - n_up
    assert hs["cookie_replies_sent"] == hs["shed_no_mac2"]
    assert hs["cookie_replies_sent"] - lost_back <= len(replies) <= hs["cookie_replies_sent"]
    assert replies
    by_index = {d[4:8]: d for kind, d in datagrams if kind == "good_mac1"}
    key = blake2s_hash(MODE.label_cookie, p.b.public_key)
    for src, r in replies:
        assert r[:4] == MODE.type_cookie.to_bytes(4, "little") and len(r) == 64
        msg = by_index[r[4:8]]
        assert len(xaead_decrypt(key, r[8:32], r[32:], msg[-32:-16])) == 16, src
    assert all(u.packet[0] == MODE.type_initiation and len(u.packet) == MODE.initiation_len for u in upcalls)
    assert {u.endpoint.host for u in upcalls} <= set(FLOOD_SOURCES)
    assert not failures, failures
    assert rates and all(r > 0 for r in rates), rates
    run("ping", "-c", "2", "-i", "0.2", "-W", "3", "10.241.0.2", netns=p.ns1)
