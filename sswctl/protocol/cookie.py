"""mac1 / mac2 and cookie replies (WireGuard paper section 5.4.4, 5.4.7).

:class:`CookieChecker` is the device's responder side (verifies macs, makes
cookie replies from a secret that rotates every COOKIE_SECRET_MAX_AGE);
:class:`CookieMaker` is per peer (adds macs to what we send, stores the
cookie a peer gave us).
"""

from __future__ import annotations

import enum
import hmac
import ipaddress

from .constants import COOKIE_SECRET_LATENCY, COOKIE_SECRET_MAX_AGE, MAC_LEN
from .errors import ReplayError
from .messages import CookieReply, encode_cookie_reply
from .modes import Mode
from .primitives import blake2s_hash, mac, xaead_decrypt, xaead_encrypt


def source_bytes(src) -> bytes:
    """The cookie input for a UDP source: the IP address bytes then the port
    big-endian, as the Linux driver hashes them. ``src`` is a socket address
    tuple (host, port, ...) or None."""
    if src is None:
        return b""
    try:
        host, port = src[0], int(src[1])
        return ipaddress.ip_address(host.split("%", 1)[0]).packed + port.to_bytes(2, "big")
    except (ValueError, TypeError, IndexError, AttributeError, OverflowError):
        return repr(src).encode()


class MacState(enum.Enum):
    INVALID_MAC = 0
    VALID_MAC_BUT_NO_COOKIE = 1
    VALID_MAC_WITH_COOKIE = 2


class CookieChecker:
    """Device-level verifier for mac1/mac2 and maker of cookie replies."""

    def __init__(self, mode: Mode, local_public: bytes, rng) -> None:
        self.mode = mode
        self._rng = rng
        self.mac1_key = blake2s_hash(mode.label_mac1, local_public)
        self._cookie_key = blake2s_hash(mode.label_cookie, local_public)
        self._secret = bytearray(32)
        self._secret_birth: float | None = None

    def _cookie(self, src, now: float) -> bytes:
        if self._secret_birth is None or now - self._secret_birth >= COOKIE_SECRET_MAX_AGE:
            self._secret[:] = self._rng(32)
            self._secret_birth = now
        return mac(bytes(self._secret), source_bytes(src))

    def validate(self, raw: bytes, src, now: float, check_cookie: bool) -> MacState:
        m1 = mac(self.mac1_key, raw[:-32])
        if not hmac.compare_digest(m1, raw[-32:-16]):
            return MacState.INVALID_MAC
        if not check_cookie:
            return MacState.VALID_MAC_BUT_NO_COOKIE
        m2 = mac(self._cookie(src, now), raw[:-16])
        if not hmac.compare_digest(m2, raw[-16:]):
            return MacState.VALID_MAC_BUT_NO_COOKIE
        return MacState.VALID_MAC_WITH_COOKIE

    def make_reply(self, raw: bytes, sender_index: int, src, now: float) -> bytes:
        """A cookie reply to the handshake message ``raw`` from ``src``."""
        nonce = bytes(self._rng(24))
        enc = xaead_encrypt(self._cookie_key, nonce, self._cookie(src, now), raw[-32:-16])
        return encode_cookie_reply(self.mode, sender_index, nonce, enc)

    def zero(self) -> None:
        self._secret[:] = bytes(32)
        self._secret_birth = None


class CookieMaker:
    """Per-peer: mac1/mac2 on our handshake messages, cookie from their replies."""

    def __init__(self, mode: Mode, remote_public: bytes) -> None:
        self.mac1_key = blake2s_hash(mode.label_mac1, remote_public)
        self._cookie_key = blake2s_hash(mode.label_cookie, remote_public)
        self._cookie = bytearray(MAC_LEN)
        self._cookie_birth: float | None = None
        self._last_mac1: bytes | None = None

    def has_valid_cookie(self, now: float) -> bool:
        return (self._cookie_birth is not None
                and now - self._cookie_birth < COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY)

    def add_macs(self, msg: bytearray, now: float) -> bytes:
        """Fill the last 32 bytes of ``msg`` with mac1 and mac2; returns bytes."""
        m1 = mac(self.mac1_key, bytes(msg[:-32]))
        msg[-32:-16] = m1
        self._last_mac1 = m1
        if self.has_valid_cookie(now):
            msg[-16:] = mac(bytes(self._cookie), bytes(msg[:-16]))
        else:
            msg[-16:] = bytes(16)
        return bytes(msg)

    def consume_reply(self, reply: CookieReply, now: float) -> None:
        if self._last_mac1 is None:
            raise ReplayError("cookie reply without a message awaiting one")
        cookie = xaead_decrypt(self._cookie_key, reply.nonce, reply.encrypted_cookie, self._last_mac1)
        self._cookie[:] = cookie
        self._cookie_birth = now
        self._last_mac1 = None

    def zero(self) -> None:
        self._cookie[:] = bytes(MAC_LEN)
        self._cookie_birth = None
        self._last_mac1 = None
