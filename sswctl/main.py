"""The ``sswctl`` console entry point.

Two commands take a short path, without the CLI framework (click), the
command registry or the kernel's transports, because they are run often
and their whole run is otherwise mostly Python importing them:

- ``sswctl show IFACE dump`` on a userspace interface, what monitoring
  scripts run every few seconds against servers with thousands of peers:
  without the model or the codecs either, it asks the daemon for its dump
  (``ssw_dump=1``, which the daemon formats with sswctl/dump.py) and copies
  the text to stdout.
- ``sswctl set IFACE ...`` when one of our userspace daemons answers for
  IFACE (sswctl.ipc.dispatch.userspace_backend), what adds and removes
  peers one at a time: the set command's own function (the same parser,
  codec and transport) is run with that backend, and its errors are shown
  as the full CLI shows them (sswctl.errors.failure).

Anything else, or anything unexpected there (no such socket, a stale one,
an older daemon refusing ``ssw_dump``), goes to the full CLI, which gives
the answer or the error as always.
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


def _set(name: str, args: list[str]) -> int | None:
    """Ran ``sswctl set name args...`` against our userspace daemon for ``name``:
    the exit status; None (nothing sent) when the full CLI should run it."""
    from .ipc import dispatch

    backend = dispatch.userspace_backend(name)
    if backend is None:
        return None
    from .commands.set import set_
    from .errors import SSWError, failure
    from .ipc import IPCError

    try:
        set_(name, tuple(args), backend)
    except (SSWError, IPCError) as e:
        message, code = failure(e)
        sys.stderr.write(message + "\n")
        return code
    except KeyboardInterrupt:  # as click's standalone mode
        sys.stderr.write("\nAborted!\n")
        return 1
    return 0


def _finish(status: int) -> None:
    """Exit with ``status`` at the end of a short path, its objects frozen first:
    Python's collections at exit would otherwise walk every object the imports
    made, about 3 ms of a 20 ms ``sswctl set`` on a busy 2-core machine (the
    daemon freezes its survivors after a large change for the same reason).
    Nothing is left to collect: sockets and files are closed, stdout flushed."""
    import gc

    gc.freeze()
    sys.exit(status)


def main() -> None:
    argv = sys.argv[1:]
    if len(argv) == 3 and argv[0] == "show" and argv[2] == "dump" and argv[1] not in ("all", "interfaces") \
            and not argv[1].startswith("-") and _dump(argv[1]):
        _finish(0)
    # click would read an IFACE starting with '-' as an option; after IFACE it passes everything on as it is.
    if len(argv) >= 2 and argv[0] == "set" and not argv[1].startswith("-"):
        status = _set(argv[1], argv[2:])
        if status is not None:
            _finish(status)
    from .cli import main as cli_main

    cli_main()
