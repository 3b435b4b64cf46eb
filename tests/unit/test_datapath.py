"""The native data path's crypto and replay window agree with the Python
reference transport (tests/transport_oracle.py).

The C functions under test are the ones the worker threads call
(ssw_encrypt_packet, ssw_aead_open, ssw_replay_*), reached through the
extension's test hooks one call at a time.
"""

from __future__ import annotations

import importlib
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sswctl import datapath
from sswctl.model import Cipher
from sswctl.protocol.constants import REJECT_AFTER_MESSAGES, SSW_TYPE_DATA, WG_TYPE_DATA
from tests.transport_oracle import ReplayWindow, TransportKeypair

native = datapath.native
if native is None:  # the build is part of `make venv`; its absence is a failure here
    pytest.fail("sswctl._datapath did not build", pytrace=False)

SUITES = [(WG_TYPE_DATA, Cipher.CHACHA20_POLY1305), (SSW_TYPE_DATA, Cipher.CHACHA20_POLY1305),
          (SSW_TYPE_DATA, Cipher.AES_256_GCM), (WG_TYPE_DATA, Cipher.AES_256_GCM)]


def keypair(type_data: int, cipher: Cipher, send: bytes, recv: bytes, remote: int) -> TransportKeypair:
    return TransportKeypair(type_data=type_data, cipher=cipher, send_key=send, receive_key=recv,
                   local_index=1, remote_index=remote, is_initiator=True, created=0.0)


@pytest.mark.parametrize(("type_data", "cipher"), SUITES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.binary(min_size=32, max_size=32), remote=st.integers(0, 2**32 - 1),
       counter=st.one_of(st.integers(0, 2**20), st.integers(0, REJECT_AFTER_MESSAGES - 1)),
       packet=st.binary(max_size=1600), mtu=st.sampled_from([None, 1420, 1280, 64]))
def test_seal_is_byte_exact_with_the_oracles_encrypt(type_data, cipher, key, remote, counter, packet, mtu):
    kp = keypair(type_data, cipher, key, bytes(32), remote)
    kp.send_counter = counter
    want = bytes(kp.encrypt(packet, mtu))
    got = native.seal(type_data, datapath.cipher_id(cipher), key, remote, counter, packet, mtu or 0)
    assert got == want


@pytest.mark.parametrize(("type_data", "cipher"), SUITES)
@settings(max_examples=40, deadline=None)
@given(key=st.binary(min_size=32, max_size=32), packet=st.binary(max_size=1500),
       counter=st.integers(0, 2**64 - 1), flip=st.integers(0, 10_000))
def test_open_accepts_exactly_what_the_oracles_decrypt_accepts(type_data, cipher, key, packet, counter, flip):
    sender = keypair(type_data, cipher, key, bytes(32), 7)
    sender.send_counter = min(counter, REJECT_AFTER_MESSAGES - 1)
    dg = bytearray(sender.encrypt(packet))
    receiver = keypair(type_data, cipher, bytes(32), key, 9)
    c = int.from_bytes(dg[8:16], "little")
    assert native.open(datapath.cipher_id(cipher), key, bytes(dg)) == receiver.decrypt(bytes(dg), c)
    # one flipped bit in the counter, ciphertext or tag (the authenticated part): refused
    bit = 64 + flip % ((len(dg) - 8) * 8)
    dg[bit // 8] ^= 1 << (bit % 8)
    assert native.open(datapath.cipher_id(cipher), key, bytes(dg)) is None


def test_open_refuses_short_and_wrong_key_datagrams():
    kp = keypair(WG_TYPE_DATA, Cipher.CHACHA20_POLY1305, b"k" * 32, bytes(32), 1)
    dg = bytes(kp.encrypt(b"x" * 100))
    assert native.open(0, b"q" * 32, dg) is None
    for n in range(0, 32):
        assert native.open(0, b"k" * 32, dg[:n]) is None


_counter = st.one_of(
    st.integers(0, 20_000),
    st.integers(REJECT_AFTER_MESSAGES - 20_000, REJECT_AFTER_MESSAGES + 5),
    st.integers(-3, 2**64 + 3),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), _counter), max_size=300))
def test_replay_window_is_the_oracles(ops):
    py, c = ReplayWindow(), native.ReplayWindow()
    for precheck, n in ops:
        if precheck and 0 <= n:
            assert c.would_accept(n) == py.would_accept(n), n
        else:
            assert c.check(n) == py.check(n), n
        assert c.counter == py.counter


@settings(max_examples=100, deadline=None)
@given(base=st.integers(0, 2**40), deltas=st.lists(st.integers(-9000, 9000), min_size=1, max_size=400))
def test_replay_window_walks_like_the_oracles(base, deltas):
    """Counters clustered around a moving top: the window edge cases."""
    py, c = ReplayWindow(), native.ReplayWindow()
    n = base
    for d in deltas:
        n = max(0, n + d)
        assert c.would_accept(n) == py.would_accept(n)
        assert c.check(n) == py.check(n)


def test_replay_window_basics():
    w = native.ReplayWindow()
    assert w.check(0) and not w.check(0)
    assert w.check(8200) and w.check(8200 - 8128) and not w.check(8200 - 8129)
    assert not w.check(REJECT_AFTER_MESSAGES)


def test_control_api_rejects_bad_input():
    dp = datapath.Datapath(WG_TYPE_DATA, 1420)
    with pytest.raises(KeyError):
        dp.set_allowed_ips(b"nobody", ["10.0.0.0/8"])
    dp.set_peer(b"p", ("127.0.0.1", 9))
    with pytest.raises(ValueError):
        dp.set_peer(b"q", ("not-an-ip", 9))
    with pytest.raises(ValueError):
        dp._dp.set_allowed_ips(1, [(4, b"\x01\x02\x03", 8)])
    with pytest.raises(ValueError):
        dp._dp.set_allowed_ips(1, [(4, b"\x01\x02\x03\x04", 33)])
    kp = keypair(WG_TYPE_DATA, Cipher.CHACHA20_POLY1305, b"s" * 32, b"r" * 32, 5)
    kp.is_initiator = False
    assert dp.install_keypair(b"p", kp) is False  # responder: no confirmation keepalive
    with pytest.raises(ValueError):  # the same local index twice
        dp.install_keypair(b"p", kp)
    with pytest.raises(ValueError):
        native.Datapath(3)
    with pytest.raises(RuntimeError):
        dp.start()  # no sockets yet
    s = dp.stats()["peers"][b"p"]
    assert s["next"] and s["current"] is None and s["endpoint"] == ("127.0.0.1", 9)
    assert dp.remove_keypair(b"p", 1) is True
    assert dp.stats()["peers"][b"p"]["next"] is False
    dp.remove_peer(b"p")
    assert dp.stats()["peers"] == {}
    assert set(dp.stats()["device"]["drops"]) == set(datapath.DROP_REASONS)


def test_slots_follow_wireguard_key_confirmation():
    dp = datapath.Datapath(WG_TYPE_DATA)
    dp.set_peer("p")

    def kp(index, initiator):
        k = keypair(WG_TYPE_DATA, Cipher.CHACHA20_POLY1305, b"s" * 32, b"r" * 32, 5)
        k.local_index, k.is_initiator = index, initiator
        return k

    def slots():
        s = dp.stats()["peers"]["p"]
        return s["current"], s["previous"], s["next"]

    assert dp.install_keypair("p", kp(1, True)) is False  # no endpoint: nothing sent
    assert slots() == (1, False, False)
    dp.install_keypair("p", kp(2, True))
    assert slots() == (2, True, False)
    dp.install_keypair("p", kp(3, False))  # responder: waits in next, previous dropped
    assert slots() == (2, False, True)
    dp.install_keypair("p", kp(4, True))  # initiator while next exists: next -> previous
    assert slots() == (4, True, False)
    assert dp.remove_keypair("p") is True and slots() == (None, False, False)


def test_without_the_extension_native_is_none(monkeypatch):
    import sswctl

    monkeypatch.setitem(sys.modules, "sswctl._datapath", None)  # what a failed build looks like
    monkeypatch.delattr(sswctl, "_datapath")
    try:
        mod = importlib.reload(datapath)
        assert mod.native is None
        with pytest.raises(RuntimeError):
            mod.Datapath(4)
    finally:
        monkeypatch.undo()
        importlib.reload(datapath)


# --- TUN offloads: the C splitter vs the reference model (tests/offload_oracle.py)

from tests import offload_oracle as py_offload  # noqa: E402


def _super_packet(v6: bool, tcp_opts: int, payload: bytes, seq: int, flags: int, gso_size: int,
                  gso: bool, ident: int) -> bytes:
    tcp_len = 20 + tcp_opts
    tcp = (bytes(4) + seq.to_bytes(4, "big") + bytes(4) + bytes([(tcp_len // 4) << 4, flags])
           + b"\xff\xff" + b"\x12\x34" + bytes(2) + bytes(range(tcp_opts)))
    if v6:
        ip = (bytes([0x60, 0, 0, 0]) + (tcp_len + len(payload)).to_bytes(2, "big") + bytes([6, 64])
              + bytes(range(16)) + bytes(range(16, 32)))
    else:
        ip = (bytes([0x45, 0]) + (20 + tcp_len + len(payload)).to_bytes(2, "big") + ident.to_bytes(2, "big")
              + bytes([0x40, 0, 64, 6]) + bytes(2) + bytes([10, 0, 0, 1, 10, 0, 0, 2]))
    kind = (py_offload.GSO_TCPV6 if v6 else py_offload.GSO_TCPV4) if gso else py_offload.GSO_NONE
    hdr = py_offload.VNET_HDR.pack(py_offload.F_NEEDS_CSUM, kind, len(ip) + tcp_len, gso_size if gso else 0,
                                   len(ip), 16)
    return hdr + ip + tcp + payload


@settings(max_examples=150, deadline=None)
@given(v6=st.booleans(), tcp_opts=st.sampled_from([0, 12, 20]), payload=st.binary(max_size=4000),
       seq=st.integers(0, 2**32 - 1), flags=st.integers(0, 255), gso_size=st.integers(1, 1400),
       gso=st.booleans(), ident=st.integers(0, 65535))
def test_offload_split_matches_the_python_segmenter(v6, tcp_opts, payload, seq, flags, gso_size, gso, ident):
    buf = _super_packet(v6, tcp_opts, payload, seq, flags, gso_size, gso, ident)
    try:
        want = py_offload.segment(buf)
    except py_offload.OffloadError:
        with pytest.raises(ValueError):
            native.split(buf)
        return
    if len(want) > native.OFFLOAD_SLOTS:  # more segments than the worker has slots for
        with pytest.raises(ValueError):
            native.split(buf)
        return
    assert native.split(buf) == want


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_offload_split_of_garbage_is_refused_or_passed_through(buf):
    """Never a crash; a read without GSO or checksum request comes out as it went in."""
    try:
        out = native.split(buf)
    except ValueError:
        assert len(buf) < 10 or buf[1] & 0x7F or buf[0] & 1
        return
    if not buf[1] & 0x7F and not buf[0] & 1:
        assert out == [buf[10:]]


def _segments(v6: bool, sizes: list[int], seq: int, psh_last: bool, flow: int) -> list[bytes]:
    """Plain TCP segments of one flow with correct checksums (what a peer sends)."""
    out = []
    for i, size in enumerate(sizes):
        flags = 0x18 if psh_last and i == len(sizes) - 1 else 0x10
        buf = _super_packet(v6, 0, bytes([i & 0xFF]) * size, seq, flags, 1400, False, flow + i)
        pkt = bytearray(buf[10:])
        ip_len = 40 if v6 else 20
        addrs = pkt[8:40] if v6 else pkt[12:20]
        pkt[ip_len + 16:ip_len + 18] = bytes(2)
        total = py_offload.ones_sum(addrs) + 6 + len(pkt) - ip_len + py_offload.ones_sum(pkt[ip_len:])
        pkt[ip_len + 16:ip_len + 18] = (~(total % 0xFFFF) & 0xFFFF or 0xFFFF).to_bytes(2, "big")
        if not v6:
            pkt[10:12] = (~py_offload.ones_sum(pkt[:20]) & 0xFFFF).to_bytes(2, "big")
        out.append(bytes(pkt))
        seq = (seq + size) & 0xFFFFFFFF
    return out


@settings(max_examples=150, deadline=None)
@given(runs=st.lists(st.tuples(st.booleans(), st.lists(st.integers(0, 1400), min_size=1, max_size=12),
                               st.integers(0, 2**32 - 1), st.booleans(), st.integers(0, 3)),
                     min_size=1, max_size=5),
       garbage=st.lists(st.binary(max_size=80), max_size=3))
def test_coalesce_matches_the_python_coalescer(runs, garbage):
    packets = [p for v6, sizes, seq, psh, flow in runs for p in _segments(v6, sizes, seq, psh, flow)]
    packets = (packets + garbage)[:64]
    assert native.coalesce(packets) == py_offload.coalesce(packets)


def test_coalesced_writes_resegment_to_the_same_packets():
    pkts = _segments(False, [1000] * 20 + [300], 12345, True, 0)
    (merged,) = native.coalesce(pkts)
    assert [bytes(p) for p in py_offload.segment(merged)] == pkts


# --- allowed IPs: the C tries vs a naive longest-prefix match -----------------

import ipaddress  # noqa: E402

_prefix = st.one_of(
    st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 32)).map(
        lambda t: ipaddress.ip_network((t[0], t[1]), strict=False)),
    st.tuples(st.integers(0, 2**128 - 1), st.integers(0, 128)).map(
        lambda t: ipaddress.ip_network((t[0], t[1]), strict=False)),
    # clustered, so prefixes nest and collide
    st.tuples(st.integers(0, 255), st.integers(0, 32)).map(
        lambda t: ipaddress.ip_network((0x0A000000 | t[0] << 8, t[1]), strict=False)),
)


@settings(max_examples=100, deadline=None)
@given(sets=st.lists(st.tuples(st.integers(0, 5), st.lists(_prefix, max_size=8)), min_size=1, max_size=12),
       probes=st.lists(st.one_of(st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address),
                                 st.integers(0, 0x0A00FFFF - 0x0A000000).map(lambda v: ipaddress.IPv4Address(
                                     0x0A000000 + v)),
                                 st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address)), max_size=40))
def test_allowed_ips_lookup_is_the_longest_prefix(sets, probes):
    dp = datapath.Datapath(WG_TYPE_DATA)
    owner: dict = {}  # WireGuard semantics: a prefix belongs to the peer that set it last
    for peer, nets in sets:
        dp.set_peer(peer)
        dp.set_allowed_ips(peer, nets)
        for net, p in list(owner.items()):
            if p == peer:
                del owner[net]
        for net in nets:
            owner[net] = peer
    for addr in probes + [n.network_address for n in owner]:
        best = max((n for n in owner if n.version == addr.version and addr in n), key=lambda n: n.prefixlen,
                   default=None)
        assert dp.route(addr) == (None if best is None else owner[best]), addr


def test_transfer_and_stats_walk_every_peer_past_the_lock_yields():
    """Both walks let a writer in every 256 peers; neither may skip or repeat one."""
    dp = datapath.Datapath(WG_TYPE_DATA)
    names = [f"p{i}" for i in range(700)]
    for n in names:
        dp.set_peer(n)
    assert dp.transfer() == {n: (0, 0) for n in names}
    assert sorted(dp.stats()["peers"]) == sorted(names)
    dp.remove_peer("p0")
    assert len(dp.transfer()) == len(dp.stats()["peers"]) == 699
