"""``sswctl destroy IFACE``: remove an interface, whichever backend serves it.

Userspace: SIGTERM to the daemon whose pid its lock file records; the
daemon removes its TUN device and sockets itself. Kernel: delete the link;
its handshake daemon sees the link go and exits by itself, which destroy
waits for (so a create of the same name right after finds no daemon).
"""

from __future__ import annotations

from ..ipc import dispatch
from . import Command, Param

COMMAND = Command(
    name="destroy",
    run=dispatch.destroy_device,
    help="Remove interface IFACE (stops its userspace daemon, or deletes the kernel link).",
    params=(Param("name", metavar="IFACE"),),
)
