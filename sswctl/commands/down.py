"""``sswctl down IFACE|FILE``: undo exactly what ``sswctl up`` did (see :mod:`sswctl.quick`)."""

from __future__ import annotations

from .. import quick
from . import Command, Param

COMMAND = Command(
    name="down",
    run=quick.down,
    help="Take the tunnel down: PreDown, SaveConfig, remove routes/rules/DNS/firewall marks, destroy, PostDown.",
    params=(Param("target", metavar="IFACE|FILE"),),
)
