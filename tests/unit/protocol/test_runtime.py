"""Runtime changes, the transport edges the data planes reproduce (on the
transport oracle), and the handshake engine leaving transport to them."""

from __future__ import annotations

import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from sswctl.model import Cipher
from sswctl.protocol import (
    DATA_OVERHEAD,
    MAX_STAGED_PACKETS,
    REJECT_AFTER_MESSAGES,
    REKEY_AFTER_MESSAGES,
    ZERO_KEYS_AFTER,
    ConfigError,
    DecryptError,
    Engine,
    KeypairCreated,
    KeysZeroed,
    MacError,
    MessageError,
    ReplayError,
    UnknownIndexError,
)
from tests.transport_oracle import TransportEngine, TransportKeypair

from .util import A_ADDR, B_ADDR, WALL, handshake, ipv4_packet, pair, seeded_rng, transmits


def ipv6_packet(payload: bytes) -> bytes:
    return bytes([0x60, 0, 0, 0]) + len(payload).to_bytes(2, "big") + bytes([17, 64]) + bytes(32) + payload


def test_psk_change_applies_to_the_next_handshake():
    a, b = pair("secureswift", "aes-256-gcm", psk=b"\x01" * 32)
    handshake(a, b, 1.0)
    new = b"\x02" * 32
    a.update_peer(b.public_key, preshared_key=new)
    # Only A changed: the next handshake fails ...
    init = transmits(a.initiate(b.public_key, 10.0))[0].data
    resp = transmits(b.receive(init, A_ADDR, 10.0).events)[0].data
    with pytest.raises(DecryptError) as e:
        a.receive(resp, B_ADDR, 10.0)
    assert e.value.peer == b.public_key
    # ... the established session keeps working, and once B agrees it succeeds.
    dg, _ = a.encrypt(b.public_key, ipv4_packet(b"still"), 11.0)
    assert b.receive(dg, A_ADDR, 11.0).packet.endswith(b"still")
    b.update_peer(a.public_key, preshared_key=new)
    handshake(a, b, 20.0)


def test_removed_peer_keys_are_zeroed_and_its_packets_refused():
    a, b = pair("wireguard", "chacha20-poly1305")
    handshake(a, b, 1.0)
    kp = b.peer(a.public_key).current
    dg, _ = a.encrypt(b.public_key, ipv4_packet(), 2.0)
    b.remove_peer(a.public_key)
    assert kp.send_key == bytearray(32) and kp.receive_key == bytearray(32)
    with pytest.raises(UnknownIndexError):
        b.receive(dg, A_ADDR, 2.0)
    with pytest.raises(ConfigError):
        b.peer(a.public_key)
    b.add_peer(a.public_key)  # re-adding starts clean
    handshake(b, a, 10.0)


def test_set_private_key_drops_sessions_and_handshakes_with_the_new_key():
    a, b = pair("secureswift", "chacha20-poly1305")
    handshake(a, b, 1.0)
    old_pub = b.public_key
    b.set_private_key(bytes(range(1, 33)))
    assert b.public_key != old_pub
    assert b.keypairs(a.public_key) == {"current": None, "previous": None, "next": None}
    # A still knows the old key: its initiation no longer passes mac1.
    init = transmits(a.initiate(old_pub, 10.0))[0].data
    with pytest.raises(MacError):
        b.receive(init, A_ADDR, 10.0)
    a.remove_peer(old_pub)
    a.add_peer(b.public_key)
    handshake(a, b, 20.0)


def test_set_private_key_lifts_the_handshake_rate_limit():
    """noise.c wg_noise_expire_current_peer_keypairs: with a new key the next
    initiation goes at once, though the last one left within REKEY_TIMEOUT."""
    a, b = pair("secureswift", "chacha20-poly1305")
    handshake(a, b, 1.0)  # A initiated at 1.0
    assert transmits(a.initiate(b.public_key, 2.0)) == []  # the rate limit is live
    old_pub = a.public_key
    a.set_private_key(bytes(range(1, 33)))
    b.remove_peer(old_pub)
    b.add_peer(a.public_key)
    init = transmits(a.initiate(b.public_key, 2.0), "initiation")[0].data
    resp = transmits(b.receive(init, A_ADDR, 2.0).events, "response")[0].data
    assert a.receive(resp, B_ADDR, 2.0).kind == "response"  # a session under the new key


def test_keypair_accessors_for_the_kernel_backend():
    a, b = pair("secureswift", "aes-256-gcm")
    handshake(a, b, 5.0)
    ka, kb = a.keypairs(b.public_key)["current"], b.keypairs(a.public_key)["current"]
    info = ka.info()
    assert info["cipher"] is Cipher.AES_256_GCM and info["is_initiator"] is True
    assert info["created"] == 5.0 and info["local_index"] == kb.remote_index
    assert info["send_key"] == bytes(kb.receive_key) and len(info["send_key"]) == 32
    assert "key" not in repr(ka).lower().replace("keypair", "")


def test_padding_to_16_and_capped_at_the_mtu():
    rng_a, rng_b = seeded_rng(1), seeded_rng(2)
    a = TransportEngine(rng_a(32), "wireguard", wall_offset=WALL, rng=rng_a, mtu=1420)
    b = TransportEngine(rng_b(32), "wireguard", wall_offset=WALL, rng=rng_b)
    a.add_peer(b.public_key)
    b.add_peer(a.public_key)
    handshake(a, b, 1.0)
    for size, wire in ((20, 32), (21, 32), (33, 48), (1419, 1420), (1420, 1420)):
        pkt = ipv4_packet(bytes(size - 20))
        dg, _ = a.encrypt(b.public_key, pkt, 2.0)
        assert len(dg) == wire + DATA_OVERHEAD
        assert b.receive(dg, A_ADDR, 2.0).packet == pkt


def test_ipv6_inner_packets_and_invalid_inner_packets():
    a, b = pair("secureswift", "chacha20-poly1305")
    handshake(a, b, 1.0)
    pkt = ipv6_packet(b"v6 payload")
    dg, _ = a.encrypt(b.public_key, pkt, 2.0)
    assert b.receive(dg, A_ADDR, 2.0).packet == pkt
    for junk in (b"\x00" * 40, ipv4_packet(bytes(20))[:19], b"\x45\x00\xff\xff" + bytes(16)):
        dg, _ = a.encrypt(b.public_key, junk, 2.0)
        with pytest.raises(MessageError) as e:
            b.receive(dg, A_ADDR, 2.0)
        assert e.value.peer == a.public_key


def test_staged_queue_keeps_the_newest_packets():
    a, b = pair("wireguard", "chacha20-poly1305")
    pkts = [ipv4_packet(i.to_bytes(2, "big")) for i in range(MAX_STAGED_PACKETS + 10)]
    init = None
    for p in pkts:
        dg, events = a.encrypt(b.public_key, p, 1.0)
        assert dg is None
        init = init or transmits(events)[0].data
    resp = transmits(b.receive(init, A_ADDR, 1.0).events)[0].data
    out = transmits(a.receive(resp, B_ADDR, 1.0).events)
    got = [b.receive(t.data, A_ADDR, 1.0).packet for t in out]
    assert got == pkts[10:]


def test_replay_error_names_the_peer():
    a, b = pair("wireguard", "chacha20-poly1305")
    handshake(a, b, 1.0)
    dg, _ = a.encrypt(b.public_key, ipv4_packet(), 2.0)
    b.receive(dg, A_ADDR, 2.0)
    with pytest.raises(ReplayError) as e:
        b.receive(dg, A_ADDR, 2.0)
    assert e.value.peer == a.public_key and e.value.reason == "replay"


def test_simultaneous_initiations_leave_no_stale_indices():
    a, b = pair("secureswift", "chacha20-poly1305")
    ia = transmits(a.initiate(b.public_key, 1.0))[0].data
    ib = transmits(b.initiate(a.public_key, 1.0))[0].data
    ra = transmits(b.receive(ia, A_ADDR, 1.0).events, "response")[0].data
    rb = transmits(a.receive(ib, B_ADDR, 1.0).events, "response")[0].data
    # Answering the other side's initiation replaced each side's own pending
    # initiation (one handshake state per peer, as in WireGuard): only the
    # new unconfirmed keypair is indexed, and the crossing responses find
    # no pending handshake.
    assert len(a._index) == 1 and len(b._index) == 1
    with pytest.raises(UnknownIndexError):
        a.receive(ra, B_ADDR, 1.0)
    with pytest.raises(UnknownIndexError):
        b.receive(rb, A_ADDR, 1.0)
    # The retry timer then completes a handshake.
    handshake(a, b, 7.0)


def test_transport_bytes_follow_the_documented_layout():
    """What the C fast path and the kernel must reproduce: header, nonce, padding."""
    for protocol, cipher, aead, type_byte in (("wireguard", "chacha20-poly1305", ChaCha20Poly1305, 4),
                                              ("secureswift", "aes-256-gcm", AESGCM, 0x14)):
        a, b = pair(protocol, cipher)
        handshake(a, b, 1.0)
        kp = a.peer(b.public_key).current
        pkt = ipv4_packet(b"layout")  # 26 bytes, padded to 32
        counter = kp.send_counter
        dg, _ = a.encrypt(b.public_key, pkt, 2.0)
        nonce = bytes(4) + struct.pack("<Q", counter)
        want = (struct.pack("<BxxxIQ", type_byte, kp.remote_index, counter)
                + aead(bytes(kp.send_key)).encrypt(nonce, pkt + bytes(6), None))
        assert bytes(dg) == want


def test_rekey_after_messages_and_reject_after_messages():
    a, b = pair("wireguard", "chacha20-poly1305")
    handshake(a, b, 1.0)
    kp = b.peer(a.public_key).current  # the responder: no time-based rekey
    kp.send_counter = REKEY_AFTER_MESSAGES - 1
    assert b.encrypt(a.public_key, ipv4_packet(), 2.0)[1] == []
    dg, events = b.encrypt(a.public_key, ipv4_packet(), 2.0)  # next counter now > 2**60
    assert dg is not None and [t.kind for t in transmits(events)] == ["initiation"]
    assert a.receive(dg, B_ADDR, 2.0).kind == "data"  # far ahead, but inside the limits
    kp.send_counter = REJECT_AFTER_MESSAGES
    dg, events = b.encrypt(a.public_key, ipv4_packet(), 10.0)
    assert dg is None and [t.kind for t in transmits(events)] == ["initiation"]


def test_handshake_secrets_are_wiped_once_keys_are_derived():
    a, b = pair("secureswift", "chacha20-poly1305")
    handshake(a, b, 1.0)
    for eng, other in ((a, b), (b, a)):
        hs = eng.peer(other.public_key).handshake
        assert not any(hs.chaining_key) and not any(hs.ephemeral_private)
        assert hs.kem_private is None and hs.ephemeral_key is None


def engine_and_oracle(protocol: str = "secureswift") -> tuple[Engine, TransportEngine, TransportKeypair]:
    """The package's engine K initiates to an oracle B; the "data plane" (the
    oracle's keypair, as the kernel would) installs K's keys and sends the
    confirming keepalive, so B has a current keypair. Returns K, B and that keypair."""
    rng, rng_b = seeded_rng(11), seeded_rng(12)
    k = Engine(rng(32), protocol, wall_offset=WALL, rng=rng)
    b = TransportEngine(rng_b(32), protocol, wall_offset=WALL, rng=rng_b)
    k.add_peer(b.public_key, persistent_keepalive=25)
    b.add_peer(k.public_key)
    init = transmits(k.initiate(b.public_key, 1.0))[0].data
    resp = transmits(b.receive(init, A_ADDR, 1.0).events)[0].data
    r = k.receive(resp, B_ADDR, 1.0)
    assert transmits(r.events) == []  # no keepalive from the engine ...
    kp = next(e.keypair for e in r.events if isinstance(e, KeypairCreated))
    assert kp.is_initiator and not hasattr(kp, "send_counter") and not hasattr(kp, "encrypt")
    installed = TransportKeypair.of(kp, k.mode.type_data)
    assert b.receive(bytes(installed.encrypt(b"")), A_ADDR, 1.1).kind == "keepalive"  # ... the data plane's
    assert b.peer(k.public_key).current is not None
    return k, b, installed


def test_the_engine_leaves_the_data_path_to_the_data_plane():
    """The package's engine negotiates keys and never uses them: no encrypt, no
    keepalive after a response, no data timers; its handshake timers still
    zero the keys."""
    k, _, _ = engine_and_oracle()
    assert not hasattr(k, "encrypt") and not hasattr(k, "send_keepalive")
    kp = k.peer(next(iter(k._peers))).current
    assert transmits(k.tick(100.0)) == []  # persistent keepalive 25 s: the data plane's
    assert any(isinstance(e, KeysZeroed) for e in k.tick(1.0 + ZERO_KEYS_AFTER))
    assert not kp.valid and kp.send_key == bytearray(32)


@pytest.mark.parametrize("protocol", ["wireguard", "secureswift"])
def test_the_engine_refuses_transport_data_messages(protocol):
    """Transport data is the data plane's: a data message handed to the engine
    anyway, even one under the keypair it derived, is refused as malformed
    (the reason the daemons would count it under) and changes nothing."""
    k, b, _ = engine_and_oracle(protocol)
    sess = k.peer(b.public_key)
    before = (sess.rx_bytes, sess.endpoint, k.next_deadline())
    dg, _ = b.encrypt(k.public_key, ipv4_packet(b"for the data plane"), 2.0)
    for data in (bytes(dg), bytes(dg[:16]), bytes(dg[:4])):
        with pytest.raises(MessageError) as e:
            k.receive(data, ("192.0.2.9", 1), 2.0)
        assert e.value.reason == "malformed" and e.value.peer is None
    assert (sess.rx_bytes, sess.endpoint, k.next_deadline()) == before
