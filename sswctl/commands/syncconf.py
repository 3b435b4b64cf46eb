"""``sswctl syncconf IFACE FILE``: make IFACE match FILE without disturbing sessions.

As ``wg syncconf``: the file's settings and peers are applied, and peers the
interface has but the file lacks are removed one by one (no replace_peers),
so unchanged peers keep their sessions.
"""

from __future__ import annotations

from ..ipc import dispatch
from ..model import Peer
from . import Command, Param
from .set import apply
from .setconf import read


def syncconf(name: str, path: str) -> None:
    dev = read(path)
    running = dispatch.get_device(name)
    wanted = {p.public_key for p in dev.peers}
    dev.peers.extend(Peer(public_key=p.public_key, remove=True) for p in running.peers if p.public_key not in wanted)
    apply(name, dev)


COMMAND = Command(
    name="syncconf",
    run=syncconf,
    help="Make IFACE match the wg-format FILE, removing absent peers, keeping live sessions (as wg syncconf).",
    params=(Param("name", metavar="IFACE"), Param("path", metavar="FILE")),
)
