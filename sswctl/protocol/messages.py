"""Message codecs for both protocol modes.

Each ``parse_*`` returns a typed, frozen message or raises
:class:`~sswctl.protocol.errors.MessageError` (``WrongProtocolError`` for a
well-formed message of the other mode). Parsers check only structure (type,
reserved bytes, exact length); MACs and AEADs are checked by the engine.

All integers are little-endian. The first four bytes of every message are
the type byte and three reserved zero bytes, read as one u32 as WireGuard does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from . import constants as c
from .errors import MessageError, WrongProtocolError
from .modes import Mode

_U32 = struct.Struct("<I")
DATA_HEADER = struct.Struct("<IIQ")  # type|reserved, receiver, counter
_COOKIE = struct.Struct("<II24s32s")
_MAX_DATAGRAM = 65535

_ALL_TYPES = {
    c.WG_TYPE_INITIATION, c.WG_TYPE_RESPONSE, c.WG_TYPE_COOKIE_REPLY, c.WG_TYPE_DATA,
    c.SSW_TYPE_INITIATION, c.SSW_TYPE_RESPONSE, c.SSW_TYPE_COOKIE_REPLY, c.SSW_TYPE_DATA,
}


@dataclass(frozen=True, slots=True)
class Initiation:
    sender: int
    ephemeral: bytes
    kem_public: bytes  # b"" in wireguard mode
    encrypted_static: bytes
    encrypted_timestamp: bytes
    mac1: bytes
    mac2: bytes
    raw: bytes


@dataclass(frozen=True, slots=True)
class Response:
    sender: int
    receiver: int
    ephemeral: bytes
    kem_ciphertext: bytes  # b"" in wireguard mode
    encrypted_nothing: bytes
    mac1: bytes
    mac2: bytes
    raw: bytes


@dataclass(frozen=True, slots=True)
class CookieReply:
    receiver: int
    nonce: bytes
    encrypted_cookie: bytes


@dataclass(frozen=True, slots=True)
class DataHeader:
    receiver: int
    counter: int


def message_type(data: bytes, mode: Mode) -> int:
    """The type of ``data`` in ``mode``, checking the reserved bytes.

    Raises WrongProtocolError for the other mode's types, MessageError else.
    """
    if len(data) < 4:
        raise MessageError("message shorter than its 4-byte header")
    if len(data) > _MAX_DATAGRAM:
        raise MessageError("message longer than a UDP datagram")
    word = _U32.unpack_from(data)[0]
    if word > 0xFF:
        raise MessageError("reserved header bytes are not zero")
    if word in mode.types:
        return word
    if word in _ALL_TYPES:
        raise WrongProtocolError(f"message type {word:#x} belongs to the other protocol mode")
    raise MessageError(f"unknown message type {word:#x}")


def _expect(data: bytes, mode: Mode, msg_type: int, length: int, what: str) -> None:
    if message_type(data, mode) != msg_type:
        raise MessageError(f"not a {what}")
    if len(data) != length:
        raise MessageError(f"{what} is {len(data)} bytes, expected {length}")


def parse_initiation(data: bytes, mode: Mode) -> Initiation:
    _expect(data, mode, mode.type_initiation, mode.initiation_len, "handshake initiation")
    data = bytes(data)
    kem_len = c.MLKEM768_PUBLIC_KEY_LEN if mode.hybrid else 0
    o = 8 + 32
    kem = data[o:o + kem_len]
    o += kem_len
    return Initiation(
        sender=_U32.unpack_from(data, 4)[0],
        ephemeral=data[8:40],
        kem_public=kem,
        encrypted_static=data[o:o + 48],
        encrypted_timestamp=data[o + 48:o + 76],
        mac1=data[-32:-16],
        mac2=data[-16:],
        raw=data,
    )


def parse_response(data: bytes, mode: Mode) -> Response:
    _expect(data, mode, mode.type_response, mode.response_len, "handshake response")
    data = bytes(data)
    kem_len = c.MLKEM768_CIPHERTEXT_LEN if mode.hybrid else 0
    o = 12 + 32
    return Response(
        sender=_U32.unpack_from(data, 4)[0],
        receiver=_U32.unpack_from(data, 8)[0],
        ephemeral=data[12:44],
        kem_ciphertext=data[o:o + kem_len],
        encrypted_nothing=data[o + kem_len:o + kem_len + 16],
        mac1=data[-32:-16],
        mac2=data[-16:],
        raw=data,
    )


def parse_cookie_reply(data: bytes, mode: Mode) -> CookieReply:
    _expect(data, mode, mode.type_cookie, c.COOKIE_REPLY_LEN, "cookie reply")
    _, receiver, nonce, enc = _COOKIE.unpack(bytes(data))
    return CookieReply(receiver=receiver, nonce=nonce, encrypted_cookie=enc)


def parse_data_header(data: bytes, mode: Mode) -> DataHeader:
    if message_type(data, mode) != mode.type_data:
        raise MessageError("not a transport data message")
    if len(data) < c.DATA_MIN_LEN:
        raise MessageError(f"transport data is {len(data)} bytes, minimum {c.DATA_MIN_LEN}")
    _, receiver, counter = DATA_HEADER.unpack_from(data)
    return DataHeader(receiver=receiver, counter=counter)


def parse(data: bytes, mode: Mode) -> Initiation | Response | CookieReply | DataHeader:
    """Parse any message of ``mode`` into its typed form."""
    t = message_type(data, mode)
    if t == mode.type_initiation:
        return parse_initiation(data, mode)
    if t == mode.type_response:
        return parse_response(data, mode)
    if t == mode.type_cookie:
        return parse_cookie_reply(data, mode)
    return parse_data_header(data, mode)


# --- encoders --------------------------------------------------------------


def _encode(msg_type: int, length: int, ints: tuple[int, ...], *parts: bytes) -> bytearray:
    """Type word, u32 fields, byte fields, then 32 zero bytes for mac1/mac2."""
    out = bytearray(_U32.pack(msg_type))
    for v in ints:
        out += _U32.pack(v)
    for part in parts:
        out += part
    out += bytes(32)
    if len(out) != length:
        raise AssertionError("encoded handshake message has the wrong length")
    return out


def encode_initiation_body(mode: Mode, sender: int, ephemeral: bytes, kem_public: bytes,
                           encrypted_static: bytes, encrypted_timestamp: bytes) -> bytearray:
    """The initiation with zeroed mac1/mac2 (the engine fills them in)."""
    return _encode(mode.type_initiation, mode.initiation_len, (sender,),
                   ephemeral, kem_public, encrypted_static, encrypted_timestamp)


def encode_response_body(mode: Mode, sender: int, receiver: int, ephemeral: bytes,
                         kem_ciphertext: bytes, encrypted_nothing: bytes) -> bytearray:
    return _encode(mode.type_response, mode.response_len, (sender, receiver),
                   ephemeral, kem_ciphertext, encrypted_nothing)


def encode_cookie_reply(mode: Mode, receiver: int, nonce: bytes, encrypted_cookie: bytes) -> bytes:
    return _COOKIE.pack(mode.type_cookie, receiver, nonce, encrypted_cookie)
