"""A reference model, for tests only: WireGuard's transport in Python, on top
of the package's handshake engine. In the product the data planes (the kernel
module, the userspace C plane) carry every transport packet and the engine
only negotiates keys; this is the slow, plain copy of what they do, which the
tests compare them with (tests/unit/test_datapath.py: the C plane's seal,
open and replay window against this one's) and drive as a whole WireGuard
peer (the protocol tests, the wireguard-go interop test, tests/netns/hsclients.py).

- :class:`ReplayWindow`: the 8192-bit sliding replay window.
- :class:`TransportKeypair`: a :class:`~sswctl.protocol.Keypair` that seals
  and opens transport datagrams (send counter, replay window, AEAD state).
- :class:`TransportEngine`: the handshake engine plus the transport:
  ``encrypt``, packets staged while a handshake runs, data messages received
  (key confirmation for the responder), the data timers (keepalive, new
  handshake, persistent keepalive), the last-minute handshake and
  REJECT_AFTER_MESSAGES. It fills in the hooks :class:`~sswctl.protocol.Engine`
  leaves to the data plane.

Driving it::

    from tests.transport_oracle import TransportEngine

    eng = TransportEngine(private_key, "wireguard", wall_offset=0.0, mtu=1420)
    eng.add_peer(peer_pub, endpoint=("192.0.2.1", 51820))
    datagram, events = eng.encrypt(peer_pub, ip_packet, now)  # None: staged
    r = eng.receive(datagram_from_peer, src, now)  # r.kind "data": r.packet
"""

from __future__ import annotations

import struct
from collections import deque

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from sswctl.model import Cipher
from sswctl.protocol import (
    DecryptError,
    Engine,
    ExpiredError,
    Keypair,
    MessageError,
    PeerSession,
    ProtocolError,
    Received,
    ReplayError,
    Transmit,
    UnknownIndexError,
)
from sswctl.protocol import constants as C
from sswctl.protocol.engine import _Timer
from sswctl.protocol.messages import DATA_HEADER, parse_data_header

# --- the replay window ---------------------------------------------------------

_WORDS = C.COUNTER_BITS_TOTAL // C.COUNTER_WORD_BITS  # 128
_WORD_MASK = _WORDS - 1
_BIT_MASK = C.COUNTER_WORD_BITS - 1
_WORD_SHIFT = C.COUNTER_WORD_BITS.bit_length() - 1  # 6


class ReplayWindow:
    """The 8192-bit sliding replay window, with WireGuard's semantics.

    This follows the Linux driver's ``counter_validate`` (receive.c), itself
    RFC 6479's bitmap: a ring of 128 64-bit words; moving the top forward clears
    the words it passes. A counter is accepted iff it is below
    REJECT_AFTER_MESSAGES, no more than COUNTER_WINDOW_SIZE (8128) behind the
    highest counter accepted so far, and not seen before. The C copies (the
    kernel module's keypair.c, the userspace plane's replay.c) must keep exactly
    these semantics; tests pin this one against a naive set and the C plane's
    against this one.

    Call :meth:`check` only after the packet authenticated, so forged packets
    never move the window.
    """

    __slots__ = ("counter", "_bitmap")

    def __init__(self) -> None:
        # ``counter`` is one more than the highest accepted counter (0: none).
        self.counter = 0
        self._bitmap = [0] * _WORDS

    def would_accept(self, their_counter: int) -> bool:
        """Cheap pre-check before decrypting (does not change the window)."""
        if their_counter >= C.REJECT_AFTER_MESSAGES or self.counter >= C.REJECT_AFTER_MESSAGES + 1:
            return False
        n = their_counter + 1
        if C.COUNTER_WINDOW_SIZE + n < self.counter:
            return False
        if n > self.counter:
            return True
        word = self._bitmap[(n >> _WORD_SHIFT) & _WORD_MASK]
        return not (word >> (n & _BIT_MASK)) & 1

    def check(self, their_counter: int) -> bool:
        """Record ``their_counter``; False if it is a replay or out of range."""
        if their_counter < 0:
            return False
        if self.counter >= C.REJECT_AFTER_MESSAGES + 1 or their_counter >= C.REJECT_AFTER_MESSAGES:
            return False
        n = their_counter + 1
        if C.COUNTER_WINDOW_SIZE + n < self.counter:
            return False
        index = n >> _WORD_SHIFT
        bitmap = self._bitmap
        if n > self.counter:
            index_current = self.counter >> _WORD_SHIFT
            top = min(index - index_current, _WORDS)
            for i in range(1, top + 1):
                bitmap[(i + index_current) & _WORD_MASK] = 0
            self.counter = n
        index &= _WORD_MASK
        bit = 1 << (n & _BIT_MASK)
        if bitmap[index] & bit:
            return False
        bitmap[index] |= bit
        return True


# --- transport keypairs ----------------------------------------------------------

_HEADER = struct.Struct("<IIQ")
_COUNTER = struct.Struct("<Q")
_MAX_PLAINTEXT = 65535 - C.DATA_HEADER_LEN - C.AEAD_TAG_LEN


def _aead(cipher: Cipher, key: bytes):
    if cipher is Cipher.AES_256_GCM:
        return AESGCM(bytes(key))
    return ChaCha20Poly1305(bytes(key))


class TransportKeypair(Keypair):
    """A keypair with a send counter, a replay window and one preallocated AEAD
    object per direction (plus nonce and plaintext scratch buffers, so sealing
    allocates only the output datagram). The byte format is the data planes':

        0      1        4             8                16
        | type | 0 0 0  | receiver LE | counter u64 LE | AEAD(P || 0-pad to 16k) | tag(16) |

    The AEAD nonce is 4 zero bytes then the counter as u64 little-endian; there
    is no associated data.
    """

    __slots__ = ("send_counter", "replay", "_type_word", "_send_aead", "_recv_aead",
                 "_send_nonce", "_recv_nonce", "_scratch")

    def __init__(self, *, type_data: int, **fields) -> None:
        super().__init__(**fields)
        self.send_counter = 0
        self.replay = ReplayWindow()
        self._type_word = type_data
        self._send_aead = _aead(self.cipher, self.send_key)
        self._recv_aead = _aead(self.cipher, self.receive_key)
        self._send_nonce = bytearray(12)
        self._recv_nonce = bytearray(12)
        self._scratch = bytearray(_MAX_PLAINTEXT + C.PADDING_MULTIPLE)

    @classmethod
    def of(cls, keypair: Keypair, type_data: int) -> TransportKeypair:
        """A copy of ``keypair`` (one the handshake engine derived) that can
        seal and open, with fresh counters: what a data plane installs."""
        return cls(type_data=type_data, **keypair.info())

    def __repr__(self) -> str:  # never show keys
        return f"{super().__repr__()[:-1]} sent={self.send_counter}>"

    def encrypt(self, packet: bytes, mtu: int | None = None) -> bytearray:
        """One transport datagram carrying ``packet`` (b"" is a keepalive).

        The caller has checked expiry and REJECT_AFTER_MESSAGES (the engine
        does); this raises ExpiredError if the counter space is exhausted.
        """
        counter = self.send_counter
        if counter >= C.REJECT_AFTER_MESSAGES or not self.valid:
            raise ExpiredError("send counter exhausted")
        self.send_counter = counter + 1
        n = len(packet)
        if n > _MAX_PLAINTEXT:
            raise ValueError("packet too large for one datagram")
        padded = (n + C.PADDING_MULTIPLE - 1) & ~(C.PADDING_MULTIPLE - 1)
        if mtu is not None and padded > mtu:
            padded = max(n, mtu)
        scratch = self._scratch
        scratch[:n] = packet
        scratch[n:padded] = bytes(padded - n)
        _COUNTER.pack_into(self._send_nonce, 4, counter)
        out = bytearray(C.DATA_HEADER_LEN + padded + C.AEAD_TAG_LEN)
        _HEADER.pack_into(out, 0, self._type_word, self.remote_index, counter)
        self._send_aead.encrypt_into(self._send_nonce, memoryview(scratch)[:padded], None,
                                     memoryview(out)[C.DATA_HEADER_LEN:])
        return out

    def decrypt(self, datagram: bytes, counter: int) -> bytes:
        """Authenticate and decrypt; returns the padded plaintext.

        Raises DecryptError, or ReplayError for a counter the window refuses
        (checked before decryption to save work, recorded only after).
        """
        if not self.valid:
            raise ExpiredError("keypair is no longer valid")
        replay = self.replay
        if not replay.would_accept(counter):
            raise ReplayError("counter outside the replay window or already seen")
        _COUNTER.pack_into(self._recv_nonce, 4, counter)
        try:
            plain = self._recv_aead.decrypt(self._recv_nonce, memoryview(datagram)[C.DATA_HEADER_LEN:], None)
        except InvalidTag:
            raise DecryptError("transport authentication failed") from None
        if not replay.check(counter):
            raise ReplayError("replayed counter")
        return plain

    def zero(self) -> None:
        """Overwrite the keys and drop the AEAD objects. These keep their own
        copies inside OpenSSL, which Python cannot reach; dropped, they are freed."""
        super().zero()
        self._send_aead = None
        self._recv_aead = None


def _inner_length(plain: bytes) -> int:
    """Length of the IP packet at the start of ``plain`` (strips padding)."""
    version = plain[0] >> 4
    if version == 4 and len(plain) >= 20:
        n = int.from_bytes(plain[2:4], "big")
        if 20 <= n <= len(plain):
            return n
    elif version == 6 and len(plain) >= 40:
        n = 40 + int.from_bytes(plain[4:6], "big")
        if n <= len(plain):
            return n
    raise MessageError("decrypted payload is not a valid IP packet")


# --- the engine --------------------------------------------------------------------


class TransportSession(PeerSession):
    """A peer's handshake state plus the transport's: staged packets and the
    data timers (kernel timers.c), fired in the order ``timers`` names them."""

    timers = ("retransmit", "send_keepalive", "new_handshake", "zero_keys", "persistent_keepalive")
    t_send_keepalive = _Timer()
    t_new_handshake = _Timer()
    t_persistent_keepalive = _Timer()

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.staged: deque[bytes] = deque(maxlen=C.MAX_STAGED_PACKETS)
        self.t_send_keepalive: float | None = None
        self.t_new_handshake: float | None = None
        self.t_persistent_keepalive: float | None = None
        self.need_another_keepalive = False
        self.sent_lastminute_handshake = False


class TransportEngine(Engine):
    """The handshake engine with WireGuard's transport in Python. ``mtu`` caps
    padding (WireGuard never pads beyond the MTU)."""

    Session = TransportSession

    def __init__(self, *args, mtu: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.mtu = mtu

    def _new_keypair(self, **fields) -> TransportKeypair:
        return TransportKeypair(type_data=self.mode.type_data, **fields)

    @staticmethod
    def _usable(kp: TransportKeypair | None, now: float) -> bool:
        return Engine._usable(kp, now) and kp.send_counter < C.REJECT_AFTER_MESSAGES

    def remove_peer(self, public_key: bytes) -> None:
        self._peer(public_key).staged.clear()
        super().remove_peer(public_key)

    # --- sending ---------------------------------------------------------------

    def encrypt(self, public_key: bytes, packet: bytes, now: float) -> tuple[bytearray | None, list]:
        """Encrypt one inner packet for a peer.

        Returns ``(datagram, events)``. With a usable session ``datagram`` is
        the transport message to send to the peer's endpoint and ``events``
        is usually empty (it holds an initiation when the key is due for
        rekeying). Without one, ``datagram`` is None: the packet is staged
        (up to MAX_STAGED_PACKETS, oldest dropped) and ``events`` may hold an
        initiation to send; staged packets come out as Transmit events once
        the handshake completes.
        """
        p = self._peer(public_key)
        kp = p.current
        if not self._usable(kp, now) or p.staged:
            p.staged.append(bytes(packet))
            return None, self._send_staged(p, now)
        out = self._seal(p, kp, packet, now)
        return out, self._keep_key_fresh_send(p, kp, now)

    def send_keepalive(self, public_key: bytes, now: float) -> list:
        """Send an empty data packet (starts a handshake if there is no session)."""
        return self._keepalive_due(self._peer(public_key), now)

    def _keepalive_due(self, p: TransportSession, now: float) -> list:
        if not p.staged:
            p.staged.append(b"")
        return self._send_staged(p, now)

    def _confirm_keys(self, p: TransportSession, now: float) -> list:
        return self._keepalive_due(p, now)  # staged data confirms as well as a keepalive

    def _drop_staged(self, p: TransportSession) -> int:
        p.t_send_keepalive = None
        dropped = len(p.staged)
        p.staged.clear()
        return dropped

    def _send_staged(self, p: TransportSession, now: float) -> list:
        kp = p.current
        if not self._usable(kp, now):
            return self._send_initiation(p, now, False)
        events: list = []
        while p.staged:
            if not self._usable(kp, now):  # counter space ran out mid-queue
                return events + self._send_initiation(p, now, False)
            packet = p.staged.popleft()
            events.append(Transmit(p.public_key, bytes(self._seal(p, kp, packet, now)), p.endpoint,
                                   "data" if packet else "keepalive"))
        events.extend(self._keep_key_fresh_send(p, kp, now))
        return events

    def _seal(self, p: TransportSession, kp: TransportKeypair, packet: bytes, now: float) -> bytearray:
        out = kp.encrypt(packet, self.mtu)
        p.tx_bytes += len(out)
        self._t_traversal(p, now)
        p.t_send_keepalive = None
        if packet and p.t_new_handshake is None:
            p.t_new_handshake = now + C.KEEPALIVE_TIMEOUT + C.REKEY_TIMEOUT + self._jitter()
        return out

    def _keep_key_fresh_send(self, p: TransportSession, kp: TransportKeypair, now: float) -> list:
        if kp.send_counter > C.REKEY_AFTER_MESSAGES or (
                kp.is_initiator and now - kp.created >= C.REKEY_AFTER_TIME):
            return self._send_initiation(p, now, False)
        return []

    # --- receiving -------------------------------------------------------------

    def receive(self, datagram: bytes, src, now: float) -> Received:
        # Fast path: a well-formed transport header (type word incl. zero
        # reserved bytes, receiver, counter) without building a DataHeader.
        if len(datagram) >= C.DATA_MIN_LEN:
            word, receiver, counter = DATA_HEADER.unpack_from(datagram)
            if word == self.mode.type_data:
                return self._receive_transport(datagram, receiver, counter, src, now)
        return super().receive(datagram, src, now)

    def _receive_data(self, datagram: bytes, src, now: float) -> Received:
        hdr = parse_data_header(datagram, self.mode)  # raises: too short
        return self._receive_transport(datagram, hdr.receiver, hdr.counter, src, now)

    def _receive_transport(self, datagram: bytes, receiver: int, counter: int, src, now: float) -> Received:
        entry = self._index.get(receiver)
        if entry is None or not isinstance(entry[1], Keypair):
            raise UnknownIndexError("data for no known keypair")
        p, kp = entry
        try:
            if now - kp.created >= C.REJECT_AFTER_TIME:
                raise ExpiredError("keypair older than REJECT_AFTER_TIME")
            plain = kp.decrypt(datagram, counter)
        except ProtocolError as e:
            e.peer = p.public_key
            raise
        p.rx_bytes += len(datagram)
        p.endpoint = src
        events: list = []
        if kp is p.next:  # first packet under the responder's new keypair
            self._drop_keypair(p.previous)
            p.previous, p.current, p.next = p.current, kp, None
            events += self._t_handshake_complete(p, now)
            events += self._send_staged(p, now)
        cur = p.current
        if (cur is not None and cur.is_initiator and not p.sent_lastminute_handshake
                and self._usable(cur, now)
                and now - cur.created >= C.REJECT_AFTER_TIME - C.KEEPALIVE_TIMEOUT - C.REKEY_TIMEOUT):
            p.sent_lastminute_handshake = True
            events += self._send_initiation(p, now, False)
        self._t_any_received(p)
        self._t_traversal(p, now)
        if not plain:
            return Received("keepalive", p.public_key, None, events)
        try:
            n = _inner_length(plain)
        except MessageError as e:
            e.peer = p.public_key
            raise
        if p.t_send_keepalive is None:
            p.t_send_keepalive = now + C.KEEPALIVE_TIMEOUT
        else:
            p.need_another_keepalive = True
        return Received("data", p.public_key, plain[:n] if n != len(plain) else plain, events)

    # --- timers.c -----------------------------------------------------------------

    def _t_any_sent(self, p: TransportSession) -> None:
        p.t_send_keepalive = None

    def _t_any_received(self, p: TransportSession) -> None:
        p.t_new_handshake = None

    def _t_traversal(self, p: TransportSession, now: float) -> None:
        if p.persistent_keepalive:
            p.t_persistent_keepalive = now + p.persistent_keepalive

    def _t_persistent_keepalive_off(self, p: TransportSession) -> None:
        p.t_persistent_keepalive = None

    def _t_handshake_complete(self, p: TransportSession, now: float) -> list:
        p.sent_lastminute_handshake = False
        return super()._t_handshake_complete(p, now)

    def _expired_send_keepalive(self, p: TransportSession, now: float) -> list:
        events = self._keepalive_due(p, now)
        if p.need_another_keepalive:
            p.need_another_keepalive = False
            p.t_send_keepalive = now + C.KEEPALIVE_TIMEOUT
        return events

    def _expired_new_handshake(self, p: TransportSession, now: float) -> list:
        return self._send_initiation(p, now, False)

    def _expired_persistent_keepalive(self, p: TransportSession, now: float) -> list:
        return self._keepalive_due(p, now)
