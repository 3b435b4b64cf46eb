"""One daemon per interface: an flock'd pid file next to the UAPI socket."""

from __future__ import annotations

import errno
import fcntl
import os


class AlreadyRunning(RuntimeError):
    """Another daemon already serves this interface."""


class InterfaceLock:
    """Held for the daemon's lifetime; the kernel drops it if the process dies."""

    def __init__(self, directory: str, name: str):
        self.path = os.path.join(directory, name + ".lock")
        os.makedirs(directory, mode=0o700, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
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
