"""``sswctl set IFACE ...``: wg's set syntax, applied as one atomic request.

The arguments are parsed completely (sswctl.config.parse_set_args) before
anything is sent, and the daemon applies a request all or nothing, so bad
input exits 2 with the running configuration unchanged.
"""

from __future__ import annotations

import ipaddress
import socket

from .. import config
from ..errors import RuntimeFailure
from ..ipc import dispatch
from ..model import Device, Endpoint
from . import Command, Param


def resolve_endpoints(device: Device) -> None:
    """Hostnames to IP literals, as wg does before talking to the device."""
    for p in device.peers:
        ep = p.endpoint
        if ep is None:
            continue
        try:
            ipaddress.ip_address(ep.host.split("%", 1)[0])
            continue
        except ValueError:
            pass
        try:
            info = socket.getaddrinfo(ep.host, ep.port, type=socket.SOCK_DGRAM)
        except socket.gaierror as e:
            raise RuntimeFailure(f"{ep.host}: {e.strerror}") from None
        p.endpoint = Endpoint(info[0][4][0], ep.port)


def apply(name: str, device: Device) -> None:
    """Send one set request to whichever backend serves ``name``."""
    device.name = name
    resolve_endpoints(device)
    dispatch.set_device(device)


def set_(name: str, args: tuple[str, ...] = ()) -> None:
    apply(name, config.parse_set_args(list(args), name))


COMMAND = Command(
    name="set",
    run=set_,
    help=(
        "Change IFACE: [listen-port P] [fwmark M] [private-key FILE] [protocol P] [cipher C] "
        "[peer KEY [remove] [update-only] [preshared-key FILE] [endpoint H:P] "
        "[persistent-keepalive N|off] [allowed-ips IP/CIDR,...] [name NAME]]..."
    ),
    params=(Param("name", metavar="IFACE"), Param("args", kind="rest", metavar="ARGS...")),
)
