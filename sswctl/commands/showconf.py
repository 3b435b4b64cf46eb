"""``sswctl showconf IFACE``: the running configuration as ``wg showconf`` prints it.

Field order and spelling are wireguard-tools' showconf.c. SecureSwift adds
``Protocol`` and ``Cipher`` after the private key and a ``# Name =`` comment
in a named peer's section, so ``sswctl setconf`` restores the interface exactly.
"""

from __future__ import annotations

from .. import config
from ..ipc.dispatch import get_device
from ..model import Device
from . import Command, Param


def format_showconf(dev: Device) -> str:
    out = ["[Interface]", *config.interface_lines(dev, running=True)]
    out.append("")  # as wg: a blank line after [Interface], and between peers
    for i, p in enumerate(dev.peers):
        out += ([""] if i else []) + config.peer_section(p, running=True)
    return "\n".join(out) + "\n"


def showconf(name: str) -> str:
    return format_showconf(get_device(name))


COMMAND = Command(
    name="showconf",
    run=showconf,
    help="Print IFACE's running configuration in wg's config format (as wg showconf).",
    params=(Param("name", metavar="IFACE"),),
)
