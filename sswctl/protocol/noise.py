"""The Noise IKpsk2 handshake, and its ML-KEM-768 hybrid (docs/protocol.md).

Pure functions over a per-peer :class:`Handshake` record. Every consume
function works on local copies and writes the record only after all checks
passed, so a forged or corrupted message never changes state.
"""

from __future__ import annotations

import enum

from .constants import INITIATION_MIN_INTERVAL, MLKEM768_CIPHERTEXT_LEN, TIMESTAMP_LEN
from .errors import DecryptError, ProtocolError, RateLimitedError, ReplayError, UnknownPeerError
from .messages import Initiation, Response, encode_initiation_body, encode_response_body
from .modes import Mode
from .primitives import (
    aead_decrypt,
    aead_encrypt,
    blake2s_hash,
    dh,
    kdf1,
    kdf2,
    kdf3,
    mlkem_decapsulate,
    mlkem_encapsulate,
    mlkem_generate,
    mlkem_public_key,
    public_key,
    x25519_key,
)


class HandshakeState(enum.Enum):
    ZEROED = 0
    CREATED_INITIATION = 1
    CONSUMED_INITIATION = 2
    CREATED_RESPONSE = 3
    CONSUMED_RESPONSE = 4


def _wipe(buf: bytearray | None) -> None:
    if buf is not None:
        buf[:] = bytes(len(buf))


class Handshake:
    """Per-peer handshake state (the kernel's ``struct noise_handshake``)."""

    def __init__(self, remote_static: bytes) -> None:
        self.remote_static = remote_static
        self.state = HandshakeState.ZEROED
        self.local_index = 0
        self.remote_index = 0
        self.hash = b""
        self.chaining_key = bytearray(32)
        self.ephemeral_private = bytearray(32)
        self.ephemeral_key = None  # X25519 key object for ephemeral_private
        self.remote_ephemeral = b""
        self.kem_private = None  # initiator's ephemeral ML-KEM key (cryptography object)
        self.remote_kem_public = b""  # the initiator's parsed ML-KEM key (hybrid)
        self.latest_timestamp = bytes(TIMESTAMP_LEN)
        self.last_initiation_consumption: float | None = None

    def zero(self) -> None:
        """Forget the ephemeral secrets. Keeps the replay timestamp, and
        ``local_index``, which the engine's index table still maps."""
        self.state = HandshakeState.ZEROED
        self.remote_index = 0
        self.hash = b""
        _wipe(self.chaining_key)
        _wipe(self.ephemeral_private)
        self.ephemeral_key = None
        self.remote_ephemeral = b""
        self.kem_private = None
        self.remote_kem_public = b""


class StaticIdentity:
    """The device's static key and per-mode precomputed hashes."""

    def __init__(self, mode: Mode, private_key: bytes) -> None:
        self.mode = mode
        self.private = bytearray(private_key)
        # The OpenSSL key object holds its own copy of the private key (see
        # docs/protocol.md section 7); kept because building it is costly.
        self.key = x25519_key(bytes(private_key))
        self.public = public_key(self.key)
        self.init_chaining_key = blake2s_hash(mode.construction)
        self.init_hash = blake2s_hash(self.init_chaining_key, mode.identifier)
        # H after mixing our own static key: the responder's starting point.
        self.responder_hash = blake2s_hash(self.init_hash, self.public)

    def zero(self) -> None:
        _wipe(self.private)
        self.key = None


class PeerKeys:
    """What the handshake needs to know about one peer."""

    def __init__(self, identity: StaticIdentity, remote_static: bytes, psk: bytes | None) -> None:
        self.remote_static = remote_static
        self.psk = bytearray(psk if psk is not None else bytes(32))
        self._identity: StaticIdentity | None = identity
        self._static_static: bytearray | None = None
        self.initiator_hash = blake2s_hash(identity.init_hash, remote_static)

    @property
    def static_static(self) -> bytearray | None:
        """DH(S_priv, S_pub_peer), fixed for the pair; None for a low-order
        peer key (the result is zero: the peer is unusable). WireGuard computes
        it when the peer is configured; here at the first handshake that needs
        it, so loading 100,000 peers costs no X25519 at all, and a peer that
        never handshakes never holds it."""
        if self._identity is not None:
            try:
                self._static_static = bytearray(dh(self._identity.key, self.remote_static))
            except DecryptError:
                self._static_static = None
            self._identity = None
        return self._static_static

    def zero(self) -> None:
        _wipe(self.psk)
        _wipe(self._static_static)
        self._identity = None


def create_initiation(identity: StaticIdentity, peer: PeerKeys, hs: Handshake, local_index: int,
                      timestamp: bytes, rng) -> bytearray:
    """Message 1 without macs, carrying the TAI64N ``timestamp``; moves ``hs``
    to CREATED_INITIATION."""
    mode = identity.mode
    if peer.static_static is None:
        raise DecryptError("peer public key is a low-order point")
    ck = identity.init_chaining_key
    h = peer.initiator_hash
    e_priv = bytes(rng(32))
    e_key = x25519_key(e_priv)
    e_pub = public_key(e_key)
    ck = kdf1(ck, e_pub)
    h = blake2s_hash(h, e_pub)
    kem_pub = b""
    kem_sk = None
    if mode.hybrid:
        kem_sk, kem_pub = mlkem_generate(rng)
        h = blake2s_hash(h, kem_pub)
    ck, k = kdf2(ck, dh(e_key, peer.remote_static))
    enc_static = aead_encrypt(k, 0, identity.public, h)
    h = blake2s_hash(h, enc_static)
    ck, k = kdf2(ck, bytes(peer.static_static))
    enc_ts = aead_encrypt(k, 0, bytes(timestamp), h)
    h = blake2s_hash(h, enc_ts)

    hs.zero()
    hs.state = HandshakeState.CREATED_INITIATION
    hs.local_index = local_index
    hs.hash = h
    hs.chaining_key[:] = ck
    hs.ephemeral_private[:] = e_priv
    hs.ephemeral_key = e_key
    hs.kem_private = kem_sk
    return encode_initiation_body(mode, local_index, e_pub, kem_pub, enc_static, enc_ts)


class CheckedInitiation:
    """A message 1 that passed every check, not yet applied to any state."""

    __slots__ = ("session", "timestamp", "now", "msg", "kem_public", "hash", "chaining_key")

    def __init__(self, session, timestamp: bytes, now: float, msg: Initiation, kem_public,
                 h: bytes, ck: bytes) -> None:
        self.session = session
        self.timestamp = timestamp
        self.now = now
        self.msg = msg
        self.kem_public = kem_public
        self.hash = h
        self.chaining_key = ck

    def commit(self):
        """Record the timestamp and move the peer's handshake to CONSUMED_INITIATION."""
        hs: Handshake = self.session.handshake
        hs.zero()
        hs.latest_timestamp = self.timestamp
        hs.last_initiation_consumption = self.now
        hs.state = HandshakeState.CONSUMED_INITIATION
        hs.remote_index = self.msg.sender
        hs.remote_ephemeral = self.msg.ephemeral
        hs.remote_kem_public = self.kem_public
        hs.hash = self.hash
        hs.chaining_key[:] = self.chaining_key
        return self.session


def check_initiation(identity: StaticIdentity, msg: Initiation, lookup_peer, now: float) -> CheckedInitiation:
    """Verify message 1 without changing anything: decryption, the peer, the
    replay timestamp, the rate limit and (hybrid) the ML-KEM public key.
    ``lookup_peer(static_pub)`` returns the peer's session object (with
    ``.keys: PeerKeys`` and ``.handshake: Handshake``) or None."""
    mode = identity.mode
    ck = identity.init_chaining_key
    h = identity.responder_hash
    ck = kdf1(ck, msg.ephemeral)
    h = blake2s_hash(h, msg.ephemeral)
    if mode.hybrid:
        h = blake2s_hash(h, msg.kem_public)
    ck, k = kdf2(ck, dh(identity.key, msg.ephemeral))
    s_pub = aead_decrypt(k, 0, msg.encrypted_static, h)
    h = blake2s_hash(h, msg.encrypted_static)
    session = lookup_peer(s_pub)
    if session is None:
        raise UnknownPeerError("initiation from an unknown static key")
    try:
        keys: PeerKeys = session.keys
        if keys.static_static is None:
            raise DecryptError("peer public key is a low-order point")
        ck, k = kdf2(ck, bytes(keys.static_static))
        ts = aead_decrypt(k, 0, msg.encrypted_timestamp, h)
        h = blake2s_hash(h, msg.encrypted_timestamp)

        hs: Handshake = session.handshake
        # TAI64N is big-endian, so byte order is time order (noise.c uses memcmp).
        if not ts > hs.latest_timestamp:
            raise ReplayError("initiation timestamp not newer than the last one")
        last = hs.last_initiation_consumption
        if last is not None and now - last < INITIATION_MIN_INTERVAL:
            raise RateLimitedError("initiations arriving too fast")
        # Checked here, not when the response encapsulates to it: a bad key
        # must not get as far as recording the timestamp.
        kem_public = mlkem_public_key(msg.kem_public) if mode.hybrid else b""
    except ProtocolError as e:
        e.peer = s_pub
        raise
    return CheckedInitiation(session, ts, now, msg, kem_public, h, ck)


def consume_initiation(identity: StaticIdentity, msg: Initiation, lookup_peer, now: float):
    """Verify message 1 and apply it (:func:`check_initiation`, then commit).
    Returns the peer's session; its handshake is then CONSUMED_INITIATION."""
    return check_initiation(identity, msg, lookup_peer, now).commit()


def create_response(identity: StaticIdentity, peer: PeerKeys, hs: Handshake, local_index: int,
                    rng) -> bytearray:
    """Message 2 without macs; ``hs`` must be CONSUMED_INITIATION."""
    mode = identity.mode
    if hs.state is not HandshakeState.CONSUMED_INITIATION:
        raise ReplayError("no consumed initiation to answer")
    ck = bytes(hs.chaining_key)
    h = hs.hash
    e_priv = bytes(rng(32))
    e_key = x25519_key(e_priv)
    e_pub = public_key(e_key)
    ck = kdf1(ck, e_pub)
    h = blake2s_hash(h, e_pub)
    kem_ct = b""
    kem_ss = b""
    if mode.hybrid:
        kem_ss, kem_ct = mlkem_encapsulate(hs.remote_kem_public)
        h = blake2s_hash(h, kem_ct)
    ck = kdf1(ck, dh(e_key, hs.remote_ephemeral))
    ck = kdf1(ck, dh(e_key, peer.remote_static))
    if mode.hybrid:
        ck = kdf1(ck, kem_ss)
    ck, t, k = kdf3(ck, bytes(peer.psk))
    h = blake2s_hash(h, t)
    enc_nothing = aead_encrypt(k, 0, b"", h)
    h = blake2s_hash(h, enc_nothing)

    hs.state = HandshakeState.CREATED_RESPONSE
    hs.local_index = local_index
    hs.hash = h
    hs.chaining_key[:] = ck
    hs.ephemeral_private[:] = e_priv
    return encode_response_body(mode, local_index, hs.remote_index, e_pub, kem_ct, enc_nothing)


def consume_response(identity: StaticIdentity, peer: PeerKeys, hs: Handshake, msg: Response) -> None:
    """Verify message 2 against our CREATED_INITIATION state."""
    mode = identity.mode
    if hs.state is not HandshakeState.CREATED_INITIATION or msg.receiver != hs.local_index:
        raise ReplayError("response does not answer our current initiation")
    ck = bytes(hs.chaining_key)
    h = hs.hash
    e_key = hs.ephemeral_key
    ck = kdf1(ck, msg.ephemeral)
    h = blake2s_hash(h, msg.ephemeral)
    if mode.hybrid:
        if len(msg.kem_ciphertext) != MLKEM768_CIPHERTEXT_LEN:
            raise DecryptError("bad ML-KEM ciphertext length")
        h = blake2s_hash(h, msg.kem_ciphertext)
    ck = kdf1(ck, dh(e_key, msg.ephemeral))
    ck = kdf1(ck, dh(identity.key, msg.ephemeral))
    if mode.hybrid:
        ck = kdf1(ck, mlkem_decapsulate(hs.kem_private, msg.kem_ciphertext))
    ck, t, k = kdf3(ck, bytes(peer.psk))
    h = blake2s_hash(h, t)
    aead_decrypt(k, 0, msg.encrypted_nothing, h)
    h = blake2s_hash(h, msg.encrypted_nothing)

    hs.state = HandshakeState.CONSUMED_RESPONSE
    hs.remote_index = msg.sender
    hs.hash = h
    hs.chaining_key[:] = ck


def derive_transport_keys(hs: Handshake) -> tuple[bytes, bytes, bool]:
    """(send_key, receive_key, is_initiator) from a finished handshake, then
    wipe the handshake secrets. Noise Split(): T1, T2 = KDF2(C, empty)."""
    if hs.state is HandshakeState.CONSUMED_RESPONSE:
        is_initiator = True
    elif hs.state is HandshakeState.CREATED_RESPONSE:
        is_initiator = False
    else:
        raise ReplayError("handshake not finished")
    t1, t2 = kdf2(bytes(hs.chaining_key), b"")
    send, recv = (t1, t2) if is_initiator else (t2, t1)
    return send, recv, is_initiator
