"""``sswctl addconf IFACE FILE``: add FILE's settings and peers to IFACE (as wg addconf)."""

from __future__ import annotations

from . import Command, Param
from .set import apply
from .setconf import read


def addconf(name: str, path: str) -> None:
    apply(name, read(path))


COMMAND = Command(
    name="addconf",
    run=addconf,
    help="Append the wg-format FILE's settings and peers to IFACE (as wg addconf).",
    params=(Param("name", metavar="IFACE"), Param("path", metavar="FILE")),
)
