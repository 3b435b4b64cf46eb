"""``sswctl create IFACE [--backend userspace|kernel|auto]``, and backend lookup.

``kernel`` adds a link of type ``secureswift`` (the module's rtnl_link_ops)
and starts the handshake daemon's kernel backend for it in the background,
returning once the daemon is subscribed to the module's notifications;
``userspace`` starts ``sswctl daemon IFACE`` (TUN) in the background and
returns once its UAPI socket is up; ``auto`` is the kernel backend when
secureswift.ko is loaded or loads (``modprobe``), else userspace.

The helpers here (``backend_for``, ``all_devices``, ``ipc_errors``) are how
every other command finds the one control transport serving an interface.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess

from ..errors import RuntimeFailure, UsageError
from ..ipc import ControlBackend, IPCError
from ..ipc.uapi import UAPIBackend
from ..model import Cipher, Protocol
from . import Command, Param

BACKENDS = ("auto", "kernel", "userspace")

# ``auto`` picks the module when it is there: it carries traffic end to end
# with the daemon's kernel backend installing keys (issue 6).
KERNEL_CARRIES_TRAFFIC = True
MODULE = "secureswift"


def kernel_backend(load: bool = False) -> ControlBackend | None:
    """The generic-netlink backend if secureswift.ko's family is registered; with
    ``load``, try ``modprobe secureswift`` first when it is not."""
    from ..ipc.genl import GenlBackend

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
    found: list[ControlBackend] = []
    kb = kernel_backend()
    if kb is not None:
        found.append(kb)
    found.append(UAPIBackend())
    return found


def backend_for(name: str) -> ControlBackend:
    """The backend that serves ``name``; RuntimeFailure if none does."""
    with ipc_errors():
        for b in backends():
            if name in b.list_devices():
                return b
    raise RuntimeFailure(f"Unable to access interface {name}: No such device")


def all_devices() -> list[tuple[str, ControlBackend]]:
    """Every interface either backend serves, sorted by name as wg lists them."""
    seen: dict[str, ControlBackend] = {}
    with ipc_errors():
        for b in backends():
            for name in b.list_devices():
                seen.setdefault(name, b)
    return sorted(seen.items())


@contextlib.contextmanager
def ipc_errors(usage_errnos: tuple[int, ...] = ()):
    """Turn transport errors into sswctl errors (exit 2 for ``usage_errnos``, else 1)."""
    try:
        yield
    except IPCError as e:
        if e.errno in usage_errnos:
            raise UsageError(str(e)) from None
        raise RuntimeFailure(str(e)) from None


def _create_kernel(name: str) -> None:
    from ..ipc.genl import create_link

    try:
        create_link(name)
    except IPCError as e:
        raise RuntimeFailure(f"cannot create {name} with the kernel backend: {os.strerror(e.errno)}") from None


def _configure_kernel(name: str, protocol: str | None, cipher: str | None, listen_port: int) -> None:
    settings = {}
    if protocol:
        settings["protocol"] = Protocol(protocol)
    if cipher:
        settings["cipher"] = Cipher(cipher)
    if settings or listen_port:
        from ..model import Device

        with ipc_errors((errno.EINVAL,)):
            backend_for(name).set_device(Device(name=name, listen_port=listen_port or None, **settings))


def _delete_kernel(name: str) -> None:
    from ..ipc.genl import delete_link

    try:
        delete_link(name)
    except IPCError as e:
        raise RuntimeFailure(f"cannot delete {name}: {os.strerror(e.errno)}") from None


def create(
    name: str,
    backend: str = "auto",
    protocol: str | None = None,
    cipher: str | None = None,
    listen_port: int = 0,
    wg_socket: bool = False,
) -> str | None:
    from .. import daemon
    from ..paths import InvalidName, check_ifname

    try:
        check_ifname(name)
    except InvalidName as e:
        raise UsageError(e.strerror) from None
    if name in dict(all_devices()):
        raise RuntimeFailure(f"{name} already exists")
    if backend == "kernel" or (backend == "auto" and KERNEL_CARRIES_TRAFFIC and kernel_backend(load=True)):
        try:
            _create_kernel(name)
        except RuntimeFailure:
            if backend == "kernel":
                raise
        else:
            try:
                _configure_kernel(name, protocol, cipher, listen_port)
                daemon.run(name, backend="kernel", background=True)
            except BaseException as e:
                _delete_kernel(name)
                if isinstance(e, daemon.DaemonError):
                    raise RuntimeFailure(str(e)) from None
                raise
            return None
    try:
        daemon.run(name, background=True, wg_socket=wg_socket, listen_port=listen_port,
                   protocol=protocol or Protocol.SECURESWIFT, cipher=cipher or Cipher.CHACHA20_POLY1305)
    except daemon.DaemonError as e:
        raise RuntimeFailure(str(e)) from None
    except ValueError as e:
        raise UsageError(str(e)) from None
    return None


COMMAND = Command(
    name="create",
    run=create,
    help="Create interface IFACE (kernel module if available, else the userspace daemon).",
    params=(
        Param("name", metavar="IFACE"),
        Param("backend", flags=("--backend",), choices=BACKENDS, default="auto", required=False,
              help="kernel (secureswift.ko plus the handshake daemon), userspace (TUN daemon), or auto "
                   "(kernel when the module loads)."),
        Param("protocol", flags=("--protocol",), choices=("secureswift", "wireguard"), required=False,
              help="Wire protocol (default secureswift)."),
        Param("cipher", flags=("--cipher",), choices=("chacha20-poly1305", "aes-256-gcm"), required=False,
              help="Transport cipher suite (default chacha20-poly1305)."),
        Param("listen_port", flags=("--listen-port",), kind="int", default=0, required=False,
              help="UDP port (0 = random)."),
        Param("wg_socket", flags=("--wg-socket",), kind="flag",
              help="Userspace: also serve /var/run/wireguard/IFACE.sock so wg(8) can show and set it."),
    ),
)
