"""Where snapshots come from.

A *source* is anything with ``snapshot() -> Snapshot``. :class:`BackendSource`
reads running interfaces through the project's control transports
(:class:`sswctl.ipc.ControlBackend`: UAPI to the userspace daemon, generic
netlink to the kernel module), so sswmon works with both backends and never
parses anything itself. Tests use an in-memory source with the same method.

Backends are sswctl's own list (:func:`sswctl.ipc.dispatch.backends`: kernel
first when the module answers, then the userspace daemon's sockets); an interface belongs to the first backend
that lists it, as for ``sswctl show``.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from typing import IO, Protocol

import click

from sswctl.errors import EXIT_RUNTIME
from sswctl.ipc import ControlBackend, IPCError
from sswctl.ipc.dispatch import backends as available_backends

from .stats import Snapshot

ALL = "all"


class MonitorError(click.ClickException):
    """A failure reported to the user as ``sswmon: message`` with exit code 1."""

    exit_code = EXIT_RUNTIME

    def show(self, file: IO[str] | None = None) -> None:
        click.echo(f"sswmon: {self.format_message()}", file=file, err=file is None)


class InterfaceNotFound(MonitorError):
    def __init__(self, name: str):
        super().__init__(f"{name}: no such SecureSwift interface (is its daemon running? try `sswctl show interfaces`)")


class AccessDenied(MonitorError):
    def __init__(self, what: str):
        super().__init__(f"{what}: permission denied (sswmon needs root or CAP_NET_ADMIN to read interfaces)")


class StatsSource(Protocol):
    def snapshot(self) -> Snapshot: ...


_NOT_FOUND = {errno.ENODEV, errno.ENOENT, errno.ECONNREFUSED, errno.ENXIO}
_DENIED = {errno.EACCES, errno.EPERM}


def error_for(name: str, err: IPCError | OSError) -> MonitorError:
    """The user-facing error for a failed read of interface ``name``."""
    code = err.errno or 0
    if code in _NOT_FOUND:
        return InterfaceNotFound(name)
    if code in _DENIED:
        return AccessDenied(name)
    return MonitorError(f"{name}: {err}")


def _list(backend: ControlBackend) -> list[str]:
    try:
        return backend.list_devices()
    except PermissionError as e:
        raise AccessDenied(e.filename or backend.kind) from None
    except IPCError as e:
        if e.errno in _DENIED:
            raise AccessDenied(backend.kind) from None
        return []


class BackendSource:
    """Snapshots of ``target`` (an interface name or ``"all"``) from real backends."""

    def __init__(
        self,
        target: str,
        backends: list[ControlBackend] | None = None,
        wall: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
    ):
        self.target = target
        self.backends = backends if backends is not None else available_backends()
        self._wall = wall
        self._mono = mono

    def resolve(self) -> list[tuple[ControlBackend, str]]:
        """(backend, interface) pairs to read; raises when a named interface is nowhere."""
        pairs: list[tuple[ControlBackend, str]] = []
        taken: set[str] = set()
        for backend in self.backends:
            for name in _list(backend):
                if name not in taken and self.target in (ALL, name):
                    taken.add(name)
                    pairs.append((backend, name))
        if self.target != ALL and not pairs:
            raise InterfaceNotFound(self.target)
        return sorted(pairs, key=lambda pair: pair[1])

    def _read(self) -> tuple[Snapshot, dict[str, MonitorError]]:
        wall, mono = self._wall(), self._mono()
        devices, failures = [], {}
        try:
            pairs = self.resolve()
        except MonitorError as e:  # not found, or the socket directory is unreadable
            pairs, failures[self.target] = [], e
        for backend, name in pairs:
            try:
                dev = backend.get_device(name)
            except IPCError as e:
                failures[name] = error_for(name, e)
                continue
            dev.name = dev.name or name
            dev.status.backend = dev.status.backend or backend.kind
            devices.append(dev)
        errors = {name: e.format_message() for name, e in failures.items()}
        return Snapshot(wall, mono, devices, errors), failures

    def snapshot(self) -> Snapshot:
        """Read every interface; failures are recorded in ``errors``, never raised
        (a dashboard outlives a daemon restart)."""
        return self._read()[0]

    def check(self) -> Snapshot:
        """A snapshot for start-up and one-shot modes: raises when the named
        interface (or, for ``all``, the list of interfaces) cannot be read.
        With ``all``, an interface that fails alone stays in ``errors``."""
        snap, failures = self._read()
        if self.target in failures:
            raise failures[self.target]
        return snap
