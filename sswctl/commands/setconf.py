"""``sswctl setconf IFACE FILE``: replace IFACE's configuration with FILE's.

As ``wg setconf``: keys the file leaves out are reset (no private key,
listen port 0 = random, fwmark off), peers not in the file are removed and
each peer's allowed IPs are replaced. Protocol and Cipher change only if
the file names them. Sessions of peers whose keys did not change survive.
"""

from __future__ import annotations

from .. import config
from ..model import Device
from ..uapi import ZERO_KEY
from . import Command, Param
from .set import apply


def read(path: str) -> Device:
    return config.load_config(path, config.SETCONF)


def setconf(name: str, path: str) -> None:
    replace(name, read(path))


def replace(name: str, dev: Device) -> None:
    """Make ``dev`` the whole configuration of ``name`` (what setconf does with a file)."""
    if dev.private_key is None:
        dev.private_key = ZERO_KEY
    if dev.listen_port is None:
        dev.listen_port = 0
    if dev.fwmark is None:
        dev.fwmark = 0
    dev.replace_peers = True
    apply(name, dev)


COMMAND = Command(
    name="setconf",
    run=setconf,
    help="Replace the configuration of IFACE with the wg-format FILE (as wg setconf).",
    params=(Param("name", metavar="IFACE"), Param("path", metavar="FILE")),
)
