"""``sswctl save IFACE|FILE``: write the running configuration back to its config file."""

from __future__ import annotations

from ..quick import tunnel
from . import Command, Param

COMMAND = Command(
    name="save",
    run=tunnel.save,
    help="Save the running configuration (keys, peers, endpoints, addresses) to the config file, mode 0600.",
    params=(Param("target", metavar="IFACE|FILE"),),
)
