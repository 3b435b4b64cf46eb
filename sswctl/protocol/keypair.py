"""Transport keypairs: the data-message hot path.

One :class:`Keypair` per completed handshake. It owns preallocated AEAD
objects, a nonce buffer and a plaintext scratch buffer, so encrypting one
packet allocates only the output datagram. The byte format is fixed (the C
fast path and the kernel module produce the same bytes):

    0      1        4             8                16
    | type | 0 0 0  | receiver LE | counter u64 LE | AEAD(P || 0-pad to 16k) | tag(16) |

The AEAD nonce is 4 zero bytes then the counter as u64 little-endian; there
is no associated data.
"""

from __future__ import annotations

import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from ..model import Cipher
from .constants import (
    AEAD_TAG_LEN,
    DATA_HEADER_LEN,
    PADDING_MULTIPLE,
    REJECT_AFTER_MESSAGES,
)
from .errors import DecryptError, ExpiredError, ReplayError
from .replay import ReplayWindow

_HEADER = struct.Struct("<IIQ")
_COUNTER = struct.Struct("<Q")
_MAX_PLAINTEXT = 65535 - DATA_HEADER_LEN - AEAD_TAG_LEN


def _aead(cipher: Cipher, key: bytes):
    if cipher is Cipher.AES_256_GCM:
        return AESGCM(bytes(key))
    return ChaCha20Poly1305(bytes(key))


class Keypair:
    """A pair of transport keys with counters and a replay window.

    Public read-only attributes (the kernel backend installs these):
    ``local_index`` (our receiver index: the peer puts it in data headers it
    sends us), ``remote_index`` (the peer's index, put in headers we send),
    ``send_key`` / ``receive_key`` (32-byte bytearrays), ``cipher``,
    ``is_initiator``, ``created`` (the engine clock when derived).
    """

    __slots__ = (
        "local_index", "remote_index", "send_key", "receive_key", "cipher",
        "is_initiator", "created", "send_counter", "replay", "valid",
        "_type_word", "_send_aead", "_recv_aead", "_send_nonce", "_recv_nonce", "_scratch",
    )

    def __init__(self, *, type_data: int, cipher: Cipher, send_key: bytes, receive_key: bytes,
                 local_index: int, remote_index: int, is_initiator: bool, created: float) -> None:
        self.local_index = local_index
        self.remote_index = remote_index
        self.send_key = bytearray(send_key)
        self.receive_key = bytearray(receive_key)
        self.cipher = cipher
        self.is_initiator = is_initiator
        self.created = created
        self.send_counter = 0
        self.replay = ReplayWindow()
        self.valid = True
        self._type_word = type_data
        self._send_aead = _aead(cipher, self.send_key)
        self._recv_aead = _aead(cipher, self.receive_key)
        self._send_nonce = bytearray(12)
        self._recv_nonce = bytearray(12)
        self._scratch = bytearray(_MAX_PLAINTEXT + PADDING_MULTIPLE)

    def info(self) -> dict:
        """A snapshot for installing into the kernel; contains key material."""
        return {
            "local_index": self.local_index,
            "remote_index": self.remote_index,
            "send_key": bytes(self.send_key),
            "receive_key": bytes(self.receive_key),
            "cipher": self.cipher,
            "is_initiator": self.is_initiator,
            "created": self.created,
        }

    def __repr__(self) -> str:  # never show keys
        return (f"<Keypair local={self.local_index:#010x} remote={self.remote_index:#010x} "
                f"initiator={self.is_initiator} sent={self.send_counter}>")

    def encrypt(self, packet: bytes, mtu: int | None = None) -> bytearray:
        """One transport datagram carrying ``packet`` (b"" is a keepalive).

        The caller has checked expiry and REJECT_AFTER_MESSAGES (the engine
        does); this raises ExpiredError if the counter space is exhausted.
        """
        counter = self.send_counter
        if counter >= REJECT_AFTER_MESSAGES or not self.valid:
            raise ExpiredError("send counter exhausted")
        self.send_counter = counter + 1
        n = len(packet)
        if n > _MAX_PLAINTEXT:
            raise ValueError("packet too large for one datagram")
        padded = (n + PADDING_MULTIPLE - 1) & ~(PADDING_MULTIPLE - 1)
        if mtu is not None and padded > mtu:
            padded = max(n, mtu)
        scratch = self._scratch
        scratch[:n] = packet
        scratch[n:padded] = bytes(padded - n)
        _COUNTER.pack_into(self._send_nonce, 4, counter)
        out = bytearray(DATA_HEADER_LEN + padded + AEAD_TAG_LEN)
        _HEADER.pack_into(out, 0, self._type_word, self.remote_index, counter)
        self._send_aead.encrypt_into(self._send_nonce, memoryview(scratch)[:padded], None,
                                     memoryview(out)[DATA_HEADER_LEN:])
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
            plain = self._recv_aead.decrypt(self._recv_nonce, memoryview(datagram)[DATA_HEADER_LEN:], None)
        except InvalidTag:
            raise DecryptError("transport authentication failed") from None
        if not replay.check(counter):
            raise ReplayError("replayed counter")
        return plain

    def zero(self) -> None:
        """Overwrite the key bytes we hold and make the keypair unusable.

        The AEAD objects keep their own copies inside OpenSSL, which Python
        cannot reach; they are dropped here so they are freed (docs/protocol.md).
        """
        self.valid = False
        for buf in (self.send_key, self.receive_key):
            buf[:] = bytes(len(buf))
        self._send_aead = None
        self._recv_aead = None
