"""``sswctl set IFACE ...``: wg's set syntax, applied as one atomic request.

The arguments are parsed completely (sswctl.config.parse_set_args) before
anything is sent, and the daemon applies a request all or nothing, so bad
input exits 2 with the running configuration unchanged.
"""

from __future__ import annotations

from .. import config
from ..ipc import ControlBackend, dispatch
from . import Command, Param


def set_(name: str, args: tuple[str, ...] = (), backend: ControlBackend | None = None) -> None:
    """``backend``: the one serving ``name`` when the caller knows it (sswctl/main.py's short path)."""
    dispatch.set_config(config.parse_set_args(list(args), name), backend)


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
