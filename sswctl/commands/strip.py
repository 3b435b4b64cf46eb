"""``sswctl strip FILE|IFACE``: only what ``wg setconf`` understands, as ``wg-quick strip``."""

from __future__ import annotations

from .. import config
from ..paths import config_file
from . import Command, Param


def strip(target: str, extensions: bool = False) -> str:
    device = config.load_config(config_file(target), config.QUICK)
    return config.strip_config(device, extensions=extensions)


COMMAND = Command(
    name="strip",
    run=strip,
    help=(
        "Print the config FILE (or /etc/secureswift/IFACE.conf) without the wg-quick keys, "
        "in the canonical form `wg setconf` accepts; peer names stay as '# Name =' comments."
    ),
    params=(
        Param("target", metavar="FILE|IFACE"),
        Param(
            "extensions",
            flags=("--extensions",),
            kind="flag",
            help="Keep SecureSwift's Protocol and Cipher keys (for sswctl setconf; wg refuses them).",
        ),
    ),
)
