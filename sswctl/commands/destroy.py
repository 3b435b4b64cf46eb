"""``sswctl destroy IFACE``: remove an interface, whichever backend serves it.

Userspace: SIGTERM to the daemon whose pid its lock file records; the
daemon removes its TUN device and sockets itself. Kernel: delete the link.
"""

from __future__ import annotations

import os
import signal
import time

from ..errors import RuntimeFailure
from ..ipc.uapi import SSW_SOCK_DIR
from . import Command, Param
from .create import backend_for


def _daemon_pid(name: str) -> int:
    try:
        with open(os.path.join(SSW_SOCK_DIR, f"{name}.lock")) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def destroy(name: str, timeout: float = 10.0) -> None:
    backend = backend_for(name)
    if backend.kind == "kernel":
        from pyroute2 import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError

        try:
            with IPRoute() as ipr:
                ipr.link("del", ifname=name)
        except NetlinkError as e:
            raise RuntimeFailure(f"cannot delete {name}: {e.args[1]}") from None
        return
    pid = _daemon_pid(name)
    if pid <= 0:
        raise RuntimeFailure(f"{name}: no daemon pid recorded in {SSW_SOCK_DIR}/{name}.lock")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    sock = os.path.join(SSW_SOCK_DIR, f"{name}.sock")
    deadline = time.monotonic() + timeout
    while os.path.exists(sock) or _daemon_pid(name) == pid:
        if time.monotonic() > deadline:
            raise RuntimeFailure(f"{name}: daemon (pid {pid}) did not stop within {timeout:g} s")
        time.sleep(0.05)


COMMAND = Command(
    name="destroy",
    run=destroy,
    help="Remove interface IFACE (stops its userspace daemon, or deletes the kernel link).",
    params=(Param("name", metavar="IFACE"),),
)
