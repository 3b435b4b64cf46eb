"""Two engines complete handshakes in every mode and suite and exchange data."""

from __future__ import annotations

import pytest

from sswctl.protocol import (
    COOKIE_REPLY_LEN,
    SSW_INITIATION_LEN,
    SSW_RESPONSE_LEN,
    WG_INITIATION_LEN,
    WG_RESPONSE_LEN,
    ConfigError,
    DecryptError,
    Engine,
    HandshakeCompleted,
    KeypairCreated,
    MessageError,
    UnknownPeerError,
    WrongProtocolError,
)
from tests.transport_oracle import TransportEngine

from .util import A_ADDR, B_ADDR, MODES, WALL, handshake, ipv4_packet, pair, seeded_rng, transmits


@pytest.mark.parametrize("protocol,cipher", MODES)
@pytest.mark.parametrize("psk", [None, bytes(range(32))])
def test_handshake_derives_matching_keys_and_carries_data(protocol, cipher, psk):
    a, b = pair(protocol, cipher, psk)
    wire = handshake(a, b, 10.0)
    want_init, want_resp = (WG_INITIATION_LEN, WG_RESPONSE_LEN) if protocol == "wireguard" else (
        SSW_INITIATION_LEN, SSW_RESPONSE_LEN)
    assert len(wire["initiation"]) == want_init
    assert len(wire["response"]) == want_resp
    ka, kb = a.peer(b.public_key).current, b.peer(a.public_key).current
    assert ka.is_initiator and not kb.is_initiator
    assert ka.send_key == kb.receive_key and ka.receive_key == kb.send_key
    assert ka.send_key != ka.receive_key
    assert ka.local_index == kb.remote_index and kb.local_index == ka.remote_index
    # Data both ways, padding stripped on receipt.
    for src, dst, addr in ((a, b, A_ADDR), (b, a, B_ADDR)):
        pkt = ipv4_packet(b"x" * 37)
        dg, events = src.encrypt(dst.public_key, pkt, 11.0)
        assert events == []
        assert len(dg) == 16 + 64 + 16  # 57 bytes padded to 64
        r = dst.receive(dg, addr, 11.0)
        assert (r.kind, r.packet, r.peer) == ("data", pkt, src.public_key)


def test_psk_mismatch_fails_the_response():
    a, b = pair("secureswift", "chacha20-poly1305", psk=bytes(32))
    b.update_peer(a.public_key, preshared_key=b"\x01" * 32)
    init = transmits(a.initiate(b.public_key, 1.0))[0].data
    resp = transmits(b.receive(init, A_ADDR, 1.0).events)[0].data
    with pytest.raises(DecryptError):
        a.receive(resp, B_ADDR, 1.0)
    assert a.peer(b.public_key).current is None


def test_data_staged_before_handshake_is_delivered_after_it():
    a, b = pair("secureswift", "chacha20-poly1305")
    pkts = [ipv4_packet(bytes([i]) * i) for i in range(1, 4)]
    first = a.encrypt(b.public_key, pkts[0], 1.0)
    assert first[0] is None and [t.kind for t in transmits(first[1])] == ["initiation"]
    for p in pkts[1:]:
        assert a.encrypt(b.public_key, p, 1.0) == (None, [])  # rate limit: one initiation
    init = transmits(first[1])[0].data
    r = b.receive(init, A_ADDR, 1.0)
    assert isinstance(r.events[1], KeypairCreated)
    r = a.receive(transmits(r.events)[0].data, B_ADDR, 1.1)
    assert any(isinstance(e, HandshakeCompleted) for e in r.events)
    out = transmits(r.events)
    assert [t.kind for t in out] == ["data"] * 3
    got = [b.receive(t.data, A_ADDR, 1.2).packet for t in out]
    assert got == pkts


def test_responder_uses_new_keys_only_after_confirmation():
    a, b = pair("wireguard", "chacha20-poly1305")
    init = transmits(a.initiate(b.public_key, 1.0))[0].data
    b.receive(init, A_ADDR, 1.0)
    bp = b.peer(a.public_key)
    assert bp.current is None and bp.next is not None
    dg, events = b.encrypt(a.public_key, ipv4_packet(), 1.0)
    assert dg is None  # staged: no confirmed keypair yet


@pytest.mark.parametrize("protocol,other", [("wireguard", "secureswift"), ("secureswift", "wireguard")])
def test_a_peer_in_one_mode_refuses_the_other_modes_messages(protocol, other):
    a, b = pair(protocol, "chacha20-poly1305")
    x, y = pair(other, "chacha20-poly1305")
    wire = handshake(x, y, 1.0)
    for msg in wire.values():
        with pytest.raises(WrongProtocolError):
            b.receive(msg, A_ADDR, 2.0)


def test_suite_mismatch_fails_the_handshake():
    rng_a, rng_b = seeded_rng(5), seeded_rng(6)
    a = Engine(rng_a(32), "secureswift", "aes-256-gcm", wall_offset=WALL, rng=rng_a)
    b = Engine(rng_b(32), "secureswift", "chacha20-poly1305", wall_offset=WALL, rng=rng_b)
    a.add_peer(b.public_key)
    b.add_peer(a.public_key)
    init = transmits(a.initiate(b.public_key, 1.0))[0].data
    # The suite is in the construction string, so even the static key
    # decryption fails (mac1 passes: it depends only on B's public key).
    with pytest.raises(DecryptError):
        b.receive(init, A_ADDR, 1.0)


def test_initiation_from_unknown_peer_is_refused():
    a, b = pair("secureswift", "chacha20-poly1305")
    b.remove_peer(a.public_key)
    init = transmits(a.initiate(b.public_key, 1.0))[0].data
    with pytest.raises(UnknownPeerError):
        b.receive(init, A_ADDR, 1.0)


def test_handshake_messages_fit_one_datagram_on_a_1500_byte_ipv6_path():
    assert max(SSW_INITIATION_LEN, SSW_RESPONSE_LEN, COOKIE_REPLY_LEN) <= 1500 - 40 - 8


def test_bad_configuration_raises_config_error():
    with pytest.raises(ConfigError):
        Engine(b"short", "wireguard", wall_offset=0)
    with pytest.raises(ConfigError):
        Engine(bytes(32), "wireguard", "aes-256-gcm", wall_offset=0)
    with pytest.raises(ConfigError):
        Engine(bytes(32), "ipsec", wall_offset=0)
    e = Engine(bytes(range(32)), "wireguard", wall_offset=0)
    with pytest.raises(ConfigError):
        e.add_peer(b"\x01" * 31)
    with pytest.raises(ConfigError):
        e.add_peer(b"\x01" * 32, preshared_key=b"x")
    with pytest.raises(ConfigError):
        e.initiate(b"\x02" * 32, 0.0)
    with pytest.raises(ConfigError):
        TransportEngine(bytes(range(32)), "wireguard", wall_offset=0).encrypt(b"\x02" * 32, b"", 0.0)
    with pytest.raises(MessageError):
        e.receive(b"\x04\x00", A_ADDR, 0.0)
