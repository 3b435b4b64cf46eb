"""``sswctl showconf IFACE``: the running configuration as ``wg showconf`` prints it.

Field order and spelling are wireguard-tools' showconf.c. SecureSwift adds
``Protocol`` and ``Cipher`` after the private key and a ``# Name =`` comment
in a named peer's section, so ``sswctl setconf`` restores the interface exactly.
"""

from __future__ import annotations

from .. import keys
from ..ipc.dispatch import get_device
from ..model import Device, net_text
from . import Command, Param


def format_showconf(dev: Device) -> str:
    out = ["[Interface]"]
    if dev.listen_port:
        out.append(f"ListenPort = {dev.listen_port}")
    if dev.fwmark:
        out.append(f"FwMark = 0x{dev.fwmark:x}")
    if dev.private_key:
        out.append(f"PrivateKey = {keys.to_base64(dev.private_key)}")
    if dev.protocol is not None:
        out.append(f"Protocol = {dev.protocol}")
    if dev.cipher is not None:
        out.append(f"Cipher = {dev.cipher}")
    out.append("")
    for i, p in enumerate(dev.peers):
        out.append("[Peer]")
        if p.name:
            out.append(f"# Name = {p.name}")
        out.append(f"PublicKey = {keys.to_base64(p.public_key)}")
        if p.preshared_key:
            out.append(f"PresharedKey = {keys.to_base64(p.preshared_key)}")
        if p.allowed_ips:
            out.append(f"AllowedIPs = {', '.join(map(net_text, p.allowed_ips))}")
        if p.endpoint is not None:
            out.append(f"Endpoint = {p.endpoint}")
        if p.persistent_keepalive:
            out.append(f"PersistentKeepalive = {p.persistent_keepalive}")
        if i + 1 < len(dev.peers):
            out.append("")
    return "\n".join(out) + "\n"


def showconf(name: str) -> str:
    return format_showconf(get_device(name))


COMMAND = Command(
    name="showconf",
    run=showconf,
    help="Print IFACE's running configuration in wg's config format (as wg showconf).",
    params=(Param("name", metavar="IFACE"),),
)
