"""``sswctl pubkey [FILE]``: the public key of a private key, as ``wg pubkey``."""

from __future__ import annotations

from .. import keys
from . import Command, Param


def pubkey(private_key: bytes) -> str:
    """``private_key`` is the text read from FILE or stdin (base64, whitespace around allowed)."""
    return keys.to_base64(keys.public_key(keys.parse_key_text(private_key))) + "\n"


COMMAND = Command(
    name="pubkey",
    run=pubkey,
    help="Read a private key from FILE (stdin when omitted or '-') and print its public key.",
    params=(Param("private_key", kind="input", required=False, default="-", metavar="[FILE]"),),
)
