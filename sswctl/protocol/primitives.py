"""Cryptographic building blocks of the handshake, in WireGuard's notation.

HASH is BLAKE2s-256, MAC is keyed BLAKE2s-128, HMAC is HMAC-BLAKE2s
(RFC 2104 over BLAKE2s, 64-byte blocks), KDF1/2/3 are HKDF with that HMAC
(WireGuard paper section 5.4). DH is X25519 (RFC 7748), AEAD is
ChaCha20-Poly1305 (RFC 8439) with a 64-bit little-endian counter nonce,
XAEAD is XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha), built here from an
HChaCha20 written in Python because ``cryptography`` does not expose it.
ML-KEM-768 (FIPS 203) comes from ``cryptography`` (>= 47).
"""

from __future__ import annotations

import hashlib
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import mlkem
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from .constants import TIMESTAMP_LEN
from .errors import DecryptError

ZERO_NONCE = bytes(12)


def blake2s_hash(*parts: bytes) -> bytes:
    h = hashlib.blake2s()
    for p in parts:
        h.update(p)
    return h.digest()


def mac(key: bytes, data: bytes) -> bytes:
    """Keyed BLAKE2s with a 16-byte output (mac1, mac2, cookie)."""
    return hashlib.blake2s(data, key=key, digest_size=16).digest()


_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


def hmac_blake2s(key: bytes, data: bytes) -> bytes:
    """RFC 2104 HMAC over BLAKE2s (64-byte block), written out because the
    stdlib ``hmac`` takes a slow generic path for BLAKE2s."""
    if len(key) > 64:
        key = hashlib.blake2s(key).digest()
    k = bytes(key).ljust(64, b"\x00")
    inner = hashlib.blake2s(k.translate(_IPAD))
    inner.update(data)
    return hashlib.blake2s(k.translate(_OPAD) + inner.digest()).digest()


def kdf(chaining_key: bytes, data: bytes, n: int) -> list[bytes]:
    """HKDF with HMAC-BLAKE2s returning ``n`` (1..3) 32-byte outputs."""
    prk = hmac_blake2s(chaining_key, data)
    out: list[bytes] = []
    prev = b""
    for i in range(1, n + 1):
        prev = hmac_blake2s(prk, prev + bytes((i,)))
        out.append(prev)
    return out


def kdf1(ck: bytes, data: bytes) -> bytes:
    return kdf(ck, data, 1)[0]


def kdf2(ck: bytes, data: bytes) -> tuple[bytes, bytes]:
    a, b = kdf(ck, data, 2)
    return a, b


def kdf3(ck: bytes, data: bytes) -> tuple[bytes, bytes, bytes]:
    a, b, c = kdf(ck, data, 3)
    return a, b, c


def aead_encrypt(key: bytes, counter: int, plaintext: bytes, ad: bytes) -> bytes:
    nonce = b"\x00\x00\x00\x00" + counter.to_bytes(8, "little")
    return ChaCha20Poly1305(key).encrypt(nonce, plaintext, ad)


def aead_decrypt(key: bytes, counter: int, ciphertext: bytes, ad: bytes) -> bytes:
    nonce = b"\x00\x00\x00\x00" + counter.to_bytes(8, "little")
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, ciphertext, ad)
    except InvalidTag:
        raise DecryptError("authentication failed") from None


# --- X25519 -------------------------------------------------------------


def x25519_key(private: bytes) -> X25519PrivateKey:
    """The key object for 32 private bytes (clamping happens inside X25519).
    Building it is the costly step, so callers keep it while they need it."""
    return X25519PrivateKey.from_private_bytes(bytes(private))


def public_key(private: bytes | X25519PrivateKey) -> bytes:
    if not isinstance(private, X25519PrivateKey):
        private = x25519_key(private)
    return private.public_key().public_bytes_raw()


def dh(private: bytes | X25519PrivateKey, public: bytes) -> bytes:
    """X25519; an all-zero result (low-order point) is an error, as in WireGuard."""
    if not isinstance(private, X25519PrivateKey):
        private = x25519_key(private)
    try:
        return private.exchange(X25519PublicKey.from_public_bytes(bytes(public)))
    except ValueError:
        raise DecryptError("invalid X25519 public value") from None


# --- ML-KEM-768 (FIPS 203) ---------------------------------------------------


def mlkem_generate(rng) -> tuple[mlkem.MLKEM768PrivateKey, bytes]:
    """An ML-KEM-768 key pair from a 64-byte seed (d || z) taken from ``rng``."""
    sk = mlkem.MLKEM768PrivateKey.from_seed_bytes(bytes(rng(64)))
    return sk, sk.public_key().public_bytes_raw()


def mlkem_public_key(public: bytes) -> mlkem.MLKEM768PublicKey:
    """Parse an encapsulation key, with FIPS 203's modulus check; DecryptError if bad."""
    try:
        return mlkem.MLKEM768PublicKey.from_public_bytes(bytes(public))
    except ValueError:
        raise DecryptError("invalid ML-KEM-768 public key") from None


def mlkem_encapsulate(public: bytes | mlkem.MLKEM768PublicKey) -> tuple[bytes, bytes]:
    """Return (shared_secret, ciphertext); raises DecryptError on a bad key.

    ``cryptography`` draws the encapsulation randomness itself; it cannot be
    injected, so secureswift responses are not reproducible byte for byte.
    """
    if not isinstance(public, mlkem.MLKEM768PublicKey):
        public = mlkem_public_key(public)
    return public.encapsulate()


def mlkem_decapsulate(private: mlkem.MLKEM768PrivateKey, ciphertext: bytes) -> bytes:
    # ML-KEM decapsulation never fails on a well-sized ciphertext (implicit
    # rejection returns a pseudorandom secret); the AEAD after it catches it.
    return private.decapsulate(bytes(ciphertext))


# --- HChaCha20 / XChaCha20-Poly1305 ------------------------------------------

_SIGMA = struct.unpack("<4I", b"expand 32-byte k")
_M32 = 0xFFFFFFFF


def _rotl(v: int, c: int) -> int:
    return ((v << c) & _M32) | (v >> (32 - c))


def _quarter(s: list[int], a: int, b: int, c: int, d: int) -> None:
    s[a] = (s[a] + s[b]) & _M32
    s[d] = _rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & _M32
    s[b] = _rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & _M32
    s[d] = _rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & _M32
    s[b] = _rotl(s[b] ^ s[c], 7)


def hchacha20(key: bytes, nonce16: bytes) -> bytes:
    """HChaCha20 (draft-irtf-cfrg-xchacha section 2.2): 20 ChaCha rounds with
    no final addition; the output is state words 0-3 and 12-15."""
    if len(key) != 32 or len(nonce16) != 16:
        raise ValueError("hchacha20 needs a 32-byte key and a 16-byte nonce")
    s = [*_SIGMA, *struct.unpack("<8I", key), *struct.unpack("<4I", nonce16)]
    for _ in range(10):
        _quarter(s, 0, 4, 8, 12)
        _quarter(s, 1, 5, 9, 13)
        _quarter(s, 2, 6, 10, 14)
        _quarter(s, 3, 7, 11, 15)
        _quarter(s, 0, 5, 10, 15)
        _quarter(s, 1, 6, 11, 12)
        _quarter(s, 2, 7, 8, 13)
        _quarter(s, 3, 4, 9, 14)
    return struct.pack("<8I", *s[0:4], *s[12:16])


def xaead_encrypt(key: bytes, nonce24: bytes, plaintext: bytes, ad: bytes) -> bytes:
    subkey = hchacha20(key, nonce24[:16])
    return ChaCha20Poly1305(subkey).encrypt(b"\x00" * 4 + nonce24[16:], plaintext, ad)


def xaead_decrypt(key: bytes, nonce24: bytes, ciphertext: bytes, ad: bytes) -> bytes:
    subkey = hchacha20(key, nonce24[:16])
    try:
        return ChaCha20Poly1305(subkey).decrypt(b"\x00" * 4 + nonce24[16:], ciphertext, ad)
    except InvalidTag:
        raise DecryptError("cookie authentication failed") from None


# --- TAI64N --------------------------------------------------------------

# The kernel rounds the nanoseconds down to a power of two at or below
# NSEC_PER_SEC / INITIATIONS_PER_SECOND so the timestamp does not leak a
# precise clock (noise.c: tai64n_now).
_TAI_NSEC_ROUND = 1 << 24  # rounddown_pow_of_two(20_000_000)
_TAI_BASE = 0x400000000000000A  # 2**62 + 10 leap seconds, as WireGuard


def tai64n(unix_time: float) -> bytes:
    if unix_time < 0:
        raise ValueError("wall-clock time before 1970")
    sec = int(unix_time)
    nsec = int(round((unix_time - sec) * 1e9))
    if nsec >= 1_000_000_000:
        sec, nsec = sec + 1, nsec - 1_000_000_000
    nsec -= nsec % _TAI_NSEC_ROUND
    out = struct.pack(">QI", _TAI_BASE + sec, nsec)
    assert len(out) == TIMESTAMP_LEN
    return out


def tai64n_after(timestamp: bytes) -> bytes:
    """The smallest rounded TAI64N timestamp greater than ``timestamp``: what an
    initiator sends when its clock reads no later than its last initiation."""
    sec, nsec = struct.unpack(">QI", timestamp)
    nsec = nsec - nsec % _TAI_NSEC_ROUND + _TAI_NSEC_ROUND
    if nsec >= 1_000_000_000:
        sec, nsec = sec + 1, 0
    return struct.pack(">QI", sec, nsec)
