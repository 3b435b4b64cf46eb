"""Which control transport serves an interface, and the one ``auto`` rule.

As wireguard-tools' ipc.c picks the kernel or the userspace implementation
behind get device / set device / list devices, this module picks between
the kernel module's generic netlink family (:class:`~.genl.GenlBackend`)
and the userspace daemons' UAPI sockets (:class:`~.uapi.UAPIBackend`).
Every subcommand, ``sswctl up``/``down`` and sswmon find interfaces here.

The kernel backend is asked first when secureswift.ko's family is
registered; an interface belongs to the first backend that lists it.
Errors are :class:`~sswctl.ipc.IPCError`; the CLI turns them into exit codes.
"""

from __future__ import annotations

import errno
import socket
import subprocess

from ..genl_schema import FAMILY_NAME
from ..model import Cipher, Device, Protocol
from . import ControlBackend, IPCError, RequestRefused
from .uapi import UAPIBackend

BACKENDS = ("auto", "kernel", "userspace")
MODULE = FAMILY_NAME  # secureswift.ko
# What a backend refusing a set request's content answers: the input is wrong (exit 2).
REFUSAL_ERRNOS = (errno.EINVAL, errno.ERANGE)


def kernel_backend(load: bool = False) -> ControlBackend | None:
    """The generic-netlink backend if secureswift.ko's family is registered; with
    ``load``, try ``modprobe secureswift`` first when it is not."""
    from .genl import GenlBackend

    backend = GenlBackend()
    try:
        backend.family_id()
    except IPCError as e:
        if e.errno != errno.ENOENT:  # the controller answered something else: a real failure
            raise
        if load and _modprobe():
            return kernel_backend()
        return None  # family not registered: the module is not loaded
    except OSError as e:
        if e.errno in (errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT):
            return None  # no generic netlink at all (a sandbox): no module either
        raise
    return backend


def _modprobe() -> bool:
    try:
        return subprocess.run(["modprobe", "-q", MODULE], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def backends() -> list[ControlBackend]:
    """The transports present: the kernel's when the module is loaded, then UAPI."""
    found: list[ControlBackend] = []
    kb = kernel_backend()
    if kb is not None:
        found.append(kb)
    found.append(UAPIBackend())
    return found


def all_devices() -> list[tuple[str, ControlBackend]]:
    """Every interface either backend serves, sorted by name as wg lists them."""
    seen: dict[str, ControlBackend] = {}
    for b in backends():
        for name in b.list_devices():
            seen.setdefault(name, b)
    return sorted(seen.items())


def backend_for(name: str) -> ControlBackend:
    """The backend that serves ``name``; IPCError ENODEV if none does."""
    for b in backends():
        if name in b.list_devices():
            return b
    raise IPCError(f"Unable to access interface {name}: No such device", errno.ENODEV)


def get_device(name: str) -> Device:
    return backend_for(name).get_device(name)


def set_device(device: Device) -> None:
    """Apply a set request to whichever backend serves ``device.name``; a refusal
    of its content (:data:`REFUSAL_ERRNOS`) is :class:`RequestRefused`."""
    backend = backend_for(device.name)
    try:
        backend.set_device(device)
    except RequestRefused:
        raise
    except IPCError as e:
        if e.errno in REFUSAL_ERRNOS:
            raise RequestRefused(str(e), e.errno) from None
        raise


def apply_settings(name: str, protocol: str | None = None, cipher: str | None = None, listen_port: int = 0) -> None:
    """The settings ``sswctl create``/``daemon`` take on their command line, applied
    to a new kernel link (a userspace daemon takes them as arguments)."""
    settings = {}
    if protocol:
        settings["protocol"] = Protocol(protocol)
    if cipher:
        settings["cipher"] = Cipher(cipher)
    if settings or listen_port:
        set_device(Device(name=name, listen_port=listen_port or None, **settings))


def _link_exists(name: str) -> bool:
    try:
        socket.if_nametoindex(name)
    except OSError:
        return False
    return True


def choose(name: str, requested: str = "auto") -> tuple[str, bool]:
    """The one ``auto`` rule: (backend, serving) for interface ``name``.

    ``serving`` is True when secureswift.ko already has a link of that name.
    ``userspace`` is always userspace. Otherwise the kernel serves a name that
    is its link already, and, when the module is loaded or loads (modprobe),
    a name no link has yet; ``auto`` falls back to userspace, ``kernel``
    raises (ENOENT without the module, EEXIST for another kind's link).
    """
    if requested == "userspace":
        return "userspace", False
    kb = kernel_backend(load=True)
    if kb is not None and name in kb.list_devices():
        return "kernel", True
    free = not _link_exists(name)
    if kb is not None and free:
        return "kernel", False
    if requested == "kernel":
        if kb is None:
            raise IPCError(f"{name}: the kernel backend needs secureswift.ko, which is not loaded", errno.ENOENT)
        raise IPCError(f"{name} exists and is not a secureswift link", errno.EEXIST)
    return "userspace", False
