"""``sswctl down IFACE|FILE``: undo exactly what ``sswctl up`` did (see :mod:`sswctl.quick.tunnel`)."""

from __future__ import annotations

from ..quick import tunnel
from . import Command, Param

COMMAND = Command(
    name="down",
    run=tunnel.down,
    help="Take the tunnel down: PreDown, SaveConfig, remove routes/rules/DNS/firewall marks, destroy, PostDown.",
    params=(Param("target", metavar="IFACE|FILE"),),
)
