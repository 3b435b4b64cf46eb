"""A UAPI request and its reply over a daemon's UNIX socket, client side.

Kept apart from :mod:`.uapi` (the backend, which decodes replies into the
model) so that ``sswctl show IFACE dump`` can ask a userspace daemon for its
dump (``ssw_dump=1``) with nothing imported but the socket: see
:mod:`sswctl.main`.
"""

from __future__ import annotations

import _socket
import errno

from . import IPCError

TIMEOUT = 10.0  # to connect: a live daemon accepts at once
# Then to answer: a daemon applies a set (or formats a get) whole before it replies, and
# 10,000 peers take it seconds on a loaded machine; wg(8) waits without a limit.
ANSWER_TIMEOUT = 300.0
MAX_REPLY = 64 << 20


class UnixSocket(_socket.socket):
    """A UNIX stream socket that closes at the end of a ``with`` block.

    Made on ``_socket``, the C module ``socket`` wraps, as ``socket.socket`` is:
    importing ``socket`` itself (its enum conversions, selectors) would be a
    tenth of ``sswctl set``'s whole run (sswctl/main.py).
    """

    def __init__(self) -> None:
        super().__init__(_socket.AF_UNIX, _socket.SOCK_STREAM)

    def __enter__(self) -> UnixSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def complete(buf: bytearray) -> bool:
    """A reply ends with an ``errno=N`` line and a blank line."""
    if not buf.endswith(b"\n\n"):
        return False
    return buf[:-2].rsplit(b"\n", 1)[-1].startswith(b"errno=")


def transact(path: str, request: str) -> bytes:
    """Send ``request``, return the whole reply (its ``errno=N`` line included)."""
    with UnixSocket() as s:
        s.settimeout(TIMEOUT)
        try:
            s.connect(path)
            s.settimeout(ANSWER_TIMEOUT)
            s.sendall(request.encode())
            buf = bytearray()
            while not complete(buf):
                chunk = s.recv(1 << 20)
                if not chunk:
                    raise IPCError(f"{path}: daemon closed the connection", errno.EPROTO)
                buf += chunk
                if len(buf) > MAX_REPLY:
                    raise IPCError(f"{path}: reply too large", errno.EMSGSIZE)
        except ConnectionRefusedError:
            raise IPCError(f"{path}: daemon is not running (stale socket)", errno.ENODEV) from None
        except TimeoutError:
            raise IPCError(f"{path}: the daemon did not answer in time (a set may still be applied)",
                           errno.ETIMEDOUT) from None
        except OSError as e:
            raise IPCError(f"{path}: {e.strerror or e}", e.errno or errno.EIO) from None
    return bytes(buf)


def reply_errno(reply: bytes) -> int:
    """The N of a complete reply's last line, ``errno=N``; EPROTO's negative if it is not a number."""
    try:
        return int(reply[:-2].rsplit(b"\n", 1)[-1][6:])
    except ValueError:
        return -errno.EPROTO
