"""Curve25519 keys in WireGuard's encoding.

Byte-for-byte compatible with wireguard-tools: private keys are 32 random
bytes clamped as in RFC 7748 section 5 (``wg genkey``), public keys are
X25519(private, 9), and every key travels as standard base64 of 32 bytes
(44 characters, one ``=`` of padding).
"""

from __future__ import annotations

# binascii rather than base64, which wraps it: `sswctl set`'s short path
# (sswctl/main.py) imports this module, and base64's import (with struct's) is
# time its whole run feels; so is sswctl.files', imported where a secret is written.
import binascii
import os
import re
import stat

from .errors import KeyFormatError, UsageError
from .model import KEY_LEN

_B64_KEY = re.compile(r"[A-Za-z0-9+/]{43}=")
# wg's char_is_space(): the C locale's isspace().
ASCII_SPACE = " \t\n\r\v\f"


def clamp(secret: bytes) -> bytes:
    """RFC 7748 clamping, as ``wg genkey`` applies it before printing."""
    b = bytearray(secret)
    b[0] &= 248
    b[31] = (b[31] & 127) | 64
    return bytes(b)


def generate_private_key() -> bytes:
    return clamp(os.urandom(KEY_LEN))


def generate_preshared_key() -> bytes:
    return os.urandom(KEY_LEN)


def public_key(private_key: bytes) -> bytes:
    """X25519 public key; the private key is clamped first, as wg does."""
    if len(private_key) != KEY_LEN:
        raise KeyFormatError(f"a private key is {KEY_LEN} bytes, got {len(private_key)}")
    # Imported here: most sswctl commands never derive a public key, and loading
    # cryptography's bindings is a large part of a command's start-up.
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    pub = X25519PrivateKey.from_private_bytes(private_key).public_key()
    return pub.public_bytes(Encoding.Raw, PublicFormat.Raw)


def to_base64(key: bytes) -> str:
    if len(key) != KEY_LEN:
        raise KeyFormatError(f"a key is {KEY_LEN} bytes, got {len(key)}")
    return binascii.b2a_base64(key, newline=False).decode("ascii")


def from_base64(text: str) -> bytes:
    """Decode one key. The message never echoes the input: it may be a secret."""
    if not _B64_KEY.fullmatch(text):
        raise KeyFormatError(
            f"key is not the correct length or format (need 44 base64 characters "
            f"ending in '=', got {len(text)} characters)"
        )
    try:
        key = binascii.a2b_base64(text)  # the regex has checked what validate=True would
    except binascii.Error as e:  # unreachable after the regex; kept as a guard
        raise KeyFormatError("key is not valid base64") from e
    if to_base64(key) != text:
        # As wg: the unused low bits of the last character must be zero.
        raise KeyFormatError("key is not canonical base64 (its last character has stray low bits)")
    return key


def parse_key_text(data: bytes | str) -> bytes:
    """A key as read from a file or stdin: surrounding whitespace allowed, nothing else."""
    if isinstance(data, bytes):
        try:
            data = data.decode("ascii")
        except UnicodeDecodeError:
            raise KeyFormatError("key contains non-ASCII bytes") from None
    text = data.strip(ASCII_SPACE)
    if any(c in ASCII_SPACE for c in text):
        raise KeyFormatError("trailing characters found after key")
    return from_base64(text)


def read_key_file(path: str) -> bytes:
    """Read a key file as ``wg set ... private-key FILE`` does.

    An empty file (or one holding only whitespace, such as /dev/null) yields
    32 zero bytes, which wg and sswctl treat as "remove this key".
    """
    try:
        with open(path, "rb") as f:
            data = f.read(4096)
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the path
        raise UsageError(f"cannot read key file {path!r}: {getattr(e, 'strerror', None) or e}") from None
    if not data.strip(ASCII_SPACE.encode()):
        return bytes(KEY_LEN)
    return parse_key_text(data)


def write_secret_file(path: str, data: bytes | str) -> None:
    """Write a secret (key file, saved config) so that only its owner can read it.

    A new file is created 0600 (O_EXCL, O_NOFOLLOW) next to ``path`` and
    renamed over it, so the secret is never readable by others, a crash never
    leaves half a key, and a symlink at ``path`` is refused
    (:func:`sswctl.files.write_atomic`).
    """
    from .files import write_atomic

    if isinstance(data, str):
        data = data.encode()
    write_atomic(path, data, 0o600)


def is_world_accessible(fd: int) -> bool:
    """True when fd is a regular file others may access: wg genkey warns then."""
    try:
        st = os.fstat(fd)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and bool(st.st_mode & stat.S_IRWXO)
