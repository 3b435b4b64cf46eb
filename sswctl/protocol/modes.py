"""Per-mode protocol parameters: strings, type bytes, sizes, suite binding."""

from __future__ import annotations

from dataclasses import dataclass

from ..model import Cipher, Protocol
from . import constants as c
from .errors import ConfigError


@dataclass(frozen=True)
class Mode:
    """Everything that differs between ``wireguard`` and ``secureswift`` mode.

    ``construction`` seeds the chaining key and so binds the protocol mode and
    the transport cipher suite into every later hash and key: two peers that
    disagree on either derive different keys and the first AEAD fails.
    """

    protocol: Protocol
    cipher: Cipher
    construction: bytes
    identifier: bytes
    label_mac1: bytes
    label_cookie: bytes
    type_initiation: int
    type_response: int
    type_cookie: int
    type_data: int
    initiation_len: int
    response_len: int
    hybrid: bool

    @property
    def types(self) -> tuple[int, int, int, int]:
        return (self.type_initiation, self.type_response, self.type_cookie, self.type_data)


# WireGuard paper section 5.4 and noise.c: the exact strings.
_WG_CONSTRUCTION = b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
_WG_IDENTIFIER = b"WireGuard v1 zx2c4 Jason@zx2c4.com"

_SSW_CONSTRUCTION = b"SecureSwift v1 Noise_IKpsk2_25519+MLKEM768_ChaChaPoly_BLAKE2s"
_SSW_IDENTIFIER = b"SecureSwift v1 hybrid handshake"
_SSW_SUITE_TAG = {
    Cipher.CHACHA20_POLY1305: b" transport=ChaCha20Poly1305",
    Cipher.AES_256_GCM: b" transport=AES256GCM",
}


def mode_for(protocol: Protocol | str, cipher: Cipher | str | None = None) -> Mode:
    """The parameters of ``protocol`` with transport ``cipher`` (default ChaCha20).

    Raises ConfigError for an unknown name or AES-256-GCM in wireguard mode
    (WireGuard has exactly one suite).
    """
    try:
        protocol = Protocol(protocol)
        cipher = Cipher(cipher) if cipher is not None else Cipher.CHACHA20_POLY1305
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if protocol is Protocol.WIREGUARD:
        if cipher is not Cipher.CHACHA20_POLY1305:
            raise ConfigError("wireguard mode supports only chacha20-poly1305")
        return Mode(
            protocol=protocol,
            cipher=cipher,
            construction=_WG_CONSTRUCTION,
            identifier=_WG_IDENTIFIER,
            label_mac1=c.LABEL_MAC1_WIREGUARD,
            label_cookie=c.LABEL_COOKIE_WIREGUARD,
            type_initiation=c.WG_TYPE_INITIATION,
            type_response=c.WG_TYPE_RESPONSE,
            type_cookie=c.WG_TYPE_COOKIE_REPLY,
            type_data=c.WG_TYPE_DATA,
            initiation_len=c.WG_INITIATION_LEN,
            response_len=c.WG_RESPONSE_LEN,
            hybrid=False,
        )
    return Mode(
        protocol=protocol,
        cipher=cipher,
        construction=_SSW_CONSTRUCTION + _SSW_SUITE_TAG[cipher],
        identifier=_SSW_IDENTIFIER,
        label_mac1=c.LABEL_MAC1_SECURESWIFT,
        label_cookie=c.LABEL_COOKIE_SECURESWIFT,
        type_initiation=c.SSW_TYPE_INITIATION,
        type_response=c.SSW_TYPE_RESPONSE,
        type_cookie=c.SSW_TYPE_COOKIE_REPLY,
        type_data=c.SSW_TYPE_DATA,
        initiation_len=c.SSW_INITIATION_LEN,
        response_len=c.SSW_RESPONSE_LEN,
        hybrid=True,
    )
