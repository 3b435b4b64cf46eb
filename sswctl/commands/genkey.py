"""``sswctl genkey``: a new private key, base64, as ``wg genkey``."""

from __future__ import annotations

from collections.abc import Callable

from .. import keys
from . import Command


def key_command(name: str, generate: Callable[[], bytes], what: str) -> Command:
    """A command printing one fresh key; genpsk reuses it."""

    def run() -> str:
        return keys.to_base64(generate()) + "\n"

    return Command(
        name=name,
        run=run,
        help=f"Print a new {what} (base64). Run with umask 077 when writing it to a file.",
        secret_output=True,
    )


COMMAND = key_command("genkey", keys.generate_private_key, "private key")
