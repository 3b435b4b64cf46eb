"""One daemon per interface: an flock'd pid file next to the UAPI socket.

An interface is a name in its network namespace (either backend): the lock
is ``IFACE.lock`` in the namespace of pid 1 and ``IFACE@net-INODE.lock`` in
any other, so two namespaces may each run a daemon for their own ``ssw0``
(sswctl/paths.py names the files).
"""

from __future__ import annotations

import errno
import fcntl
import os

from ..files import open_private, private_dir
from ..paths import lock_path


class AlreadyRunning(RuntimeError):
    """Another daemon already serves this interface."""


class InterfaceLock:
    """Held for the daemon's lifetime; the kernel drops it if the process dies."""

    def __init__(self, directory: str, name: str):
        self.path = lock_path(name, directory)
        private_dir(directory)
        self.fd = open_private(self.path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            other = os.pread(self.fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(self.fd)
            self.fd = -1
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise AlreadyRunning(
                    f"interface {name} is already served by a daemon (pid {other}); "
                    f"stop it first (sswctl destroy {name})"
                ) from None
            raise
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        if self.fd >= 0:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            os.close(self.fd)
            self.fd = -1
