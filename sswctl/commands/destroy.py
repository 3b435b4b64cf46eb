"""``sswctl destroy IFACE``: remove an interface, whichever backend serves it.

Userspace: SIGTERM to the daemon whose pid its lock file records; the
daemon removes its TUN device and sockets itself. Kernel: delete the link;
its handshake daemon sees the link go and exits by itself, which destroy
waits for (so a create of the same name right after finds no daemon).
"""

from __future__ import annotations

import os
import signal
import time

from ..errors import RuntimeFailure
from ..ipc import dispatch, rtnl
from ..paths import lock_path, socket_path
from . import Command, Param


def _daemon_pid(name: str) -> int:
    try:
        with open(lock_path(name)) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def destroy(name: str, timeout: float = 10.0) -> None:
    backend = dispatch.backend_for(name)
    kernel = backend.kind == "kernel"
    pid = _daemon_pid(name)
    if kernel:
        rtnl.delete_link(name)
    elif pid <= 0:
        raise RuntimeFailure(f"{name}: no daemon pid recorded in {lock_path(name)}")
    else:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
    if pid > 0:
        _wait_gone(name, pid, timeout, userspace=not kernel)


def _wait_gone(name: str, pid: int, timeout: float, userspace: bool) -> None:
    sock = socket_path(name)
    deadline = time.monotonic() + timeout
    while (userspace and os.path.exists(sock)) or _daemon_pid(name) == pid:
        if not _alive(pid):
            return  # died without cleaning up (SIGKILL): nothing left to wait for
        if time.monotonic() > deadline:
            raise RuntimeFailure(f"{name}: daemon (pid {pid}) did not stop within {timeout:g} s")
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


COMMAND = Command(
    name="destroy",
    run=destroy,
    help="Remove interface IFACE (stops its userspace daemon, or deletes the kernel link).",
    params=(Param("name", metavar="IFACE"),),
)
