"""Control transports behind one interface.

Like wireguard-tools' ipc.h: three calls, one backend per transport.

- ``uapi``: the WireGuard cross-platform text protocol on a UNIX socket,
  served by the userspace daemon (``sswctl daemon``).
- ``genl``: the ``secureswift`` generic netlink family of the kernel module.
- ``dispatch``: which of the two serves an interface, and the one ``auto``
  rule for a new one (as wireguard-tools' ipc.c).
- ``rtnl``: creating and deleting kernel links; ``netlink``: the framing
  ``genl`` and ``rtnl`` share.
- ``uapi_codec``: the UAPI text protocol as pure functions, shared with the
  daemon's server; ``genl_schema``: the generic netlink family, the one
  source ``genl`` and the generated C headers derive from.

All speak in terms of :mod:`sswctl.model` and raise :class:`IPCError`;
none knows about click (:func:`sswctl.errors.failure` maps errors to exit codes).
"""

from __future__ import annotations

import abc

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (sswctl/main.py's short paths)
if TYPE_CHECKING:  # the model only in annotations
    from ..model import Device


class IPCError(Exception):
    """A control request failed; ``errno`` is the positive errno reported."""

    def __init__(self, message: str, errno: int = 0):
        super().__init__(message)
        self.errno = errno


class RequestRefused(IPCError):
    """The backend refused a set request's content (EINVAL, ERANGE): the input
    is wrong, not the machine, so the CLI exits 2 rather than 1."""


class ControlBackend(abc.ABC):
    kind: str = ""  # "userspace" or "kernel"

    @abc.abstractmethod
    def list_devices(self) -> list[str]:
        """Names of the interfaces this transport controls."""

    @abc.abstractmethod
    def get_device(self, name: str) -> Device:
        """The full running state of one interface: its and every peer's ``status`` filled."""

    @abc.abstractmethod
    def set_device(self, device: Device) -> None:
        """Apply a set request atomically (flags as in ``wg set``)."""
