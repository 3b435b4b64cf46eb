"""Creating private files and directories safely (keys, configs, journals,
locks, state files, sockets).

Everything sswctl writes lives in directories only root (the owner) can
write: a directory is created 0700 and, when it already exists, checked
again: a symlink, a foreign owner or group/world write permission is refused
with :class:`UnsafePathError` (a process that can write into the directory
could swap a file for a link between our check and our open). Files are
opened with O_NOFOLLOW, O_EXCL where they must be new, and are then checked
(regular file, ours, one link) before anything is written; a file replaced
as a whole is written to a fresh temporary name and renamed over the old one,
which replaces a planted link rather than writing through it.
"""

from __future__ import annotations

import errno
import os
import stat

from .errors import SSWError


class UnsafePathError(SSWError):
    """A path sswctl must write is not safe to write (named in the message)."""


def private_dir(path: str, mode: int = 0o700) -> str:
    """Create ``path`` (and its parents) with ``mode`` if missing, then check
    that it is a real directory owned by us that nobody else can write."""
    try:
        os.makedirs(path, mode=mode, exist_ok=True)
    except FileExistsError:
        pass  # a symlink to nothing, or a file: reported below
    try:
        st = os.lstat(path)
    except OSError as e:
        raise UnsafePathError(f"{path}: {e.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        kind = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a directory"
        raise UnsafePathError(f"{path}: is {kind}; refusing to use it (remove it)")
    if st.st_uid != os.geteuid():
        raise UnsafePathError(f"{path}: owned by uid {st.st_uid}, not by us (uid {os.geteuid()}); "
                              "refusing to use it (chown it or remove it)")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafePathError(f"{path}: writable by group or others (mode {stat.S_IMODE(st.st_mode):04o}); "
                              f"refusing to use it (chmod go-w {path})")
    return path


def _check_fd(fd: int, path: str) -> None:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_nlink != 1:
        raise UnsafePathError(f"{path}: not a regular file of ours with one link; refusing to write it")


def open_private(path: str, flags: int, mode: int = 0o600) -> int:
    """``os.open`` for a private file: never through a symlink (O_NOFOLLOW),
    created with ``mode``; an existing file must be a regular file of ours with
    one link, and is brought to ``mode``. Returns the fd."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as e:
        if e.errno == errno.ELOOP:  # the last component is a symlink
            raise UnsafePathError(f"{path}: is a symbolic link; refusing to write through it") from None
        raise
    try:
        _check_fd(fd, path)
        if stat.S_IMODE(os.fstat(fd).st_mode) != mode:
            os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_atomic(path: str, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data``: a new file (O_EXCL, O_NOFOLLOW, ``mode``)
    next to it, synced, then renamed over it; a crash leaves the old or the new.
    A symlink at ``path`` is refused (renaming over it would not write through
    it, but whoever planted it meant something)."""
    if os.path.islink(path):
        raise UnsafePathError(f"{path}: is a symbolic link; refusing to write through it")
    tmp = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        os.unlink(tmp)  # left by a crashed run of this pid
    except FileNotFoundError:
        pass
    fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
