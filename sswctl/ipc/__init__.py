"""Control transports behind one interface.

Like wireguard-tools' ipc.h: three calls, one backend per transport.

- ``uapi``: the WireGuard cross-platform text protocol on a UNIX socket,
  served by the userspace daemon (``sswctl daemon``).
- ``genl``: the ``secureswift`` generic netlink family of the kernel module.

Both speak in terms of :mod:`sswctl.model`; neither knows about click.
"""

from __future__ import annotations

import abc

from ..model import Device


class IPCError(Exception):
    """A control request failed; ``errno`` is the positive errno reported."""

    def __init__(self, message: str, errno: int = 0):
        super().__init__(message)
        self.errno = errno


class ControlBackend(abc.ABC):
    kind: str = ""  # "userspace" or "kernel"

    @abc.abstractmethod
    def list_devices(self) -> list[str]:
        """Names of the interfaces this transport controls."""

    @abc.abstractmethod
    def get_device(self, name: str) -> Device:
        """The full running state of one interface, runtime counters included."""

    @abc.abstractmethod
    def set_device(self, device: Device) -> None:
        """Apply a set request atomically (flags as in ``wg set``)."""
