"""The daemon's side of the UAPI socket: framing, limits, non-blocking I/O.

Each connection may carry several requests in a row (as wireguard-go's
IpcHandle). A request is ``get=1`` or ``set=1`` and its lines up to a
blank line. What the request means is the daemon's business: this module
hands complete requests to two callbacks and writes their replies.

Hostile clients: a request larger than MAX_REQUEST, a line without ``=``
or an unknown operation gets an errno reply and the connection is closed. A
request the daemon refuses gets ``errno=N`` and changes nothing (the set is
validated whole before anything is applied); an unexpected exception while
handling one is logged and answered with EIO, never fatal.
Sockets are created with mode 0600 (umask held at 0177 around bind, no chmod after).
"""

from __future__ import annotations

import errno
import logging
import os
import selectors
import socket
import stat
from collections.abc import Callable

from ..files import private_dir
from ..ipc.uapi_codec import DUMP_LINE, EXTENSIONS_LINE, UAPIError, decode_set, errno_reply, split_lines

log = logging.getLogger("sswctl.daemon")

MAX_REQUEST = 64 << 20  # a 10k-peer setconf is ~3 MiB; leave ample room
# What a get may carry before its blank line: nothing (wg's get), or one
# SecureSwift option line (sswctl/ipc/uapi_codec.py).
GET_OPTIONS = ("", EXTENSIONS_LINE, DUMP_LINE)


def bind_unix(path: str) -> socket.socket:
    """A listening UNIX socket at ``path``, created with mode 0600 (the umask
    is 0177 during bind: there is no moment at which others may connect, as
    there would be between bind and a chmod), in a directory only we can
    write (checked even when it exists: sswctl.files.private_dir). A socket left
    there is replaced only when nothing answers on it (EADDRINUSE otherwise):
    the interface lock covers our own directory, not the wg socket, which is
    one path for every network namespace."""
    private_dir(os.path.dirname(path))
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISSOCK(st.st_mode):
            raise OSError(errno.EEXIST, f"{path} exists and is not a socket")
        if _answers(path):
            raise OSError(errno.EADDRINUSE, f"{path} is served by another running daemon")
        os.unlink(path)  # stale
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    old = os.umask(0o177)
    try:
        s.bind(path)
    finally:
        os.umask(old)
    s.listen(16)
    s.setblocking(False)
    return s


def _answers(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as s:
        s.settimeout(5)
        try:
            s.connect(path)
        except OSError:
            return False
    return True


class _Conn:
    __slots__ = ("closing", "inbuf", "outbuf", "sock")

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.closing = False


class UAPIServer:
    """Serves get/set on one or more listening sockets via a selector."""

    def __init__(
        self,
        selector: selectors.BaseSelector,
        on_get: Callable[[str], str],
        on_set: Callable[[object], None],
    ):
        self.sel = selector
        self.on_get = on_get  # (option line of GET_OPTIONS) -> full reply text
        self.on_set = on_set  # (Device in set form) -> None or raise UAPIError
        self.listeners: list[tuple[socket.socket, str]] = []

    def listen(self, path: str) -> None:
        s = bind_unix(path)
        self.listeners.append((s, path))
        self.sel.register(s, selectors.EVENT_READ, self._accept)

    def close(self) -> None:
        for s, path in self.listeners:
            self.sel.unregister(s)
            s.close()
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        self.listeners.clear()
        for key in list(self.sel.get_map().values()):
            if isinstance(key.data, _Handler):
                self._drop(key.data.conn)

    # -- selector callbacks --

    def _accept(self, sock: socket.socket, _mask: int) -> None:
        try:
            c, _ = sock.accept()
        except BlockingIOError:
            return
        c.setblocking(False)
        conn = _Conn(c)
        self.sel.register(c, selectors.EVENT_READ, _Handler(self, conn))

    def _readable(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(262144)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        conn.inbuf += data
        self._process(conn)

    def _writable(self, conn: _Conn) -> None:
        try:
            n = conn.sock.send(conn.outbuf)
        except BlockingIOError:
            return
        except OSError:
            self._drop(conn)
            return
        del conn.outbuf[:n]
        self._update(conn)

    # -- request handling --

    def _process(self, conn: _Conn) -> None:
        while not conn.closing:
            end = conn.inbuf.find(b"\n\n")
            if end < 0:
                if len(conn.inbuf) > MAX_REQUEST:
                    self._fail(conn, errno.EMSGSIZE, "request too large")
                elif conn.inbuf and not self._prefix_ok(conn.inbuf):
                    self._fail(conn, errno.EPROTO, "unknown UAPI operation")
                break
            request = bytes(conn.inbuf[: end + 2])
            del conn.inbuf[: end + 2]
            conn.outbuf += self._handle(request, conn).encode()
        self._update(conn)

    @staticmethod
    def _prefix_ok(buf: bytearray) -> bool:
        line = bytes(buf[:6])
        return b"get=1\n".startswith(line) or b"set=1\n".startswith(line)

    def _handle(self, request: bytes, conn: _Conn) -> str:
        try:
            text = request.decode("utf-8")
        except UnicodeDecodeError:
            conn.closing = True
            return errno_reply(errno.EPROTO)
        op, _, body = text.partition("\n")
        try:
            if op == "get=1":
                option = body[:-2] if body != "\n" else ""
                if option not in GET_OPTIONS:
                    raise UAPIError("trailing lines in get", errno.EINVAL)
                return self.on_get(option)
            if op == "set=1":
                self.on_set(decode_set(split_lines(body)))
                return errno_reply(0)
            conn.closing = True
            log.warning("UAPI: unknown operation, closing connection")
            return errno_reply(errno.EPROTO)
        except UAPIError as e:
            log.warning("UAPI %s refused: %s", op[:8], e)
            return errno_reply(e.errno or errno.EINVAL)
        except Exception as e:  # a bug: answer and keep serving, never die of one request
            # The type only: a message might quote the request, which may hold a key.
            log.error("UAPI %s failed: %s (a bug; please report it)", op[:8], type(e).__name__)
            log.debug("UAPI failure", exc_info=True)
            return errno_reply(errno.EIO)

    def _fail(self, conn: _Conn, err: int, why: str) -> None:
        log.warning("UAPI: %s, closing connection", why)
        conn.inbuf.clear()
        conn.outbuf += errno_reply(err).encode()
        conn.closing = True

    def _update(self, conn: _Conn) -> None:
        if conn.sock.fileno() < 0:
            return
        if conn.outbuf:
            self.sel.modify(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, _Handler(self, conn))
        elif conn.closing:
            self._drop(conn)
        else:
            self.sel.modify(conn.sock, selectors.EVENT_READ, _Handler(self, conn))

    def _drop(self, conn: _Conn) -> None:
        if conn.sock.fileno() >= 0:
            self.sel.unregister(conn.sock)
            conn.sock.close()


class _Handler:
    """Selector data for a client connection: dispatches read/write readiness."""

    __slots__ = ("conn", "server")

    def __init__(self, server: UAPIServer, conn: _Conn):
        self.server = server
        self.conn = conn

    def __call__(self, _sock: socket.socket, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            self.server._writable(self.conn)
        if mask & selectors.EVENT_READ and self.conn.sock.fileno() >= 0:
            self.server._readable(self.conn)
