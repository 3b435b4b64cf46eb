"""``sswctl strip FILE|IFACE``: only what ``wg setconf`` understands, as ``wg-quick strip``."""

from __future__ import annotations

import os
import re

from .. import config
from . import Command, Param

# SSW_CONFIG_DIR: another directory for IFACE.conf (tests, unusual installs).
CONFIG_DIR = os.environ.get("SSW_CONFIG_DIR", "/etc/secureswift")
_IFACE = re.compile(r"[a-zA-Z0-9_=+.-]{1,15}")


def config_path(target: str) -> str:
    """A config file path, or an interface name meaning CONFIG_DIR/IFACE.conf (as wg-quick)."""
    if os.path.exists(target) or not _IFACE.fullmatch(target):
        return target
    return os.path.join(CONFIG_DIR, f"{target}.conf")


def strip(target: str, extensions: bool = False) -> str:
    device = config.load_config(config_path(target), config.QUICK)
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
