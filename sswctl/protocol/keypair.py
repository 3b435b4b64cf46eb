"""Transport keypairs: what a handshake hands to the data plane.

One :class:`Keypair` per completed handshake: the two transport keys, the
indices that name it on the wire and which side initiated. The engine derives
keypairs, slots them (current, previous, next) and overwrites them; it never
uses one. The data plane that carries transport packets (the kernel module or
the userspace C plane) installs a copy and keeps what using it takes: the
send counter, the replay window and the AEAD state (the byte format is in
docs/protocol.md). tests/transport_oracle.py builds the Python reference
transport on this class.
"""

from __future__ import annotations

from ..model import Cipher


class Keypair:
    """A pair of transport keys.

    Public read-only attributes (the data planes install these):
    ``local_index`` (our receiver index: the peer puts it in data headers it
    sends us), ``remote_index`` (the peer's index, put in headers we send),
    ``send_key`` / ``receive_key`` (32-byte bytearrays), ``cipher``,
    ``is_initiator``, ``created`` (the engine clock when derived), ``valid``
    (False once :meth:`zero` ran).
    """

    __slots__ = ("local_index", "remote_index", "send_key", "receive_key", "cipher",
                 "is_initiator", "created", "valid")

    def __init__(self, *, cipher: Cipher, send_key: bytes, receive_key: bytes,
                 local_index: int, remote_index: int, is_initiator: bool, created: float) -> None:
        self.local_index = local_index
        self.remote_index = remote_index
        self.send_key = bytearray(send_key)
        self.receive_key = bytearray(receive_key)
        self.cipher = cipher
        self.is_initiator = is_initiator
        self.created = created
        self.valid = True

    def info(self) -> dict:
        """A snapshot for installing into a data plane; contains key material."""
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
        return (f"<{type(self).__name__} local={self.local_index:#010x} "
                f"remote={self.remote_index:#010x} initiator={self.is_initiator}>")

    def zero(self) -> None:
        """Overwrite the key bytes we hold and make the keypair unusable."""
        self.valid = False
        for buf in (self.send_key, self.receive_key):
            buf[:] = bytes(len(buf))
