"""The ``sswctl`` console entry point.

``sswctl show IFACE dump`` on a userspace interface is what monitoring
scripts run every few seconds against servers with thousands of peers, so it
takes a short path: without the CLI framework, the model or the codecs, it
asks the daemon for its dump (``ssw_dump=1``, which the daemon formats with
sswctl/dump.py) and copies the text to stdout. Anything else, or anything
unexpected on that path (no such socket, an older daemon refusing the
option), goes to the full CLI, which gives the answer or the error as
always.
"""

from __future__ import annotations

import sys


def _dump(name: str) -> bool:
    """Printed ``name``'s dump; False when the full CLI should answer instead."""
    import os
    import stat

    from .ipc import IPCError
    from .ipc.uapi_socket import reply_errno, transact
    from .paths import InvalidName, socket_path

    try:
        path = socket_path(name)
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            return False
        reply = transact(path, "get=1\nssw_dump=1\n\n")
    except (InvalidName, OSError, IPCError):
        return False
    if reply_errno(reply) != 0:
        return False
    body = reply[: reply.rindex(b"errno=")]
    try:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away: as the full CLI, quietly, status 1
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    return True


def main() -> None:
    argv = sys.argv[1:]
    if len(argv) == 3 and argv[0] == "show" and argv[2] == "dump" and argv[1] not in ("all", "interfaces") \
            and not argv[1].startswith("-") and _dump(argv[1]):
        return
    from .cli import main as cli_main

    cli_main()
