"""``sswctl genpsk``: a new preshared key, base64, as ``wg genpsk``."""

from __future__ import annotations

from .. import keys
from .genkey import key_command

COMMAND = key_command("genpsk", keys.generate_preshared_key, "preshared key")
