"""``sswctl create IFACE [--backend userspace|kernel|auto]``, and backend lookup.

``kernel`` adds a link of type ``secureswift`` (the module's rtnl_link_ops);
``userspace`` starts ``sswctl daemon IFACE`` in the background and returns
once its UAPI socket is up; ``auto`` is the userspace daemon for now (see
``KERNEL_CARRIES_TRAFFIC``).

The helpers here (``backend_for``, ``all_devices``, ``ipc_errors``) are how
every other command finds the one control transport serving an interface.
"""

from __future__ import annotations

import contextlib
import errno

from ..errors import RuntimeFailure, UsageError
from ..ipc import ControlBackend, IPCError
from ..ipc.uapi import UAPIBackend
from ..model import Cipher, Protocol
from . import Command, Param

BACKENDS = ("auto", "kernel", "userspace")

# The module configures links but does not yet carry packets with keys from
# the handshake daemon (issue 6: kernel data path + the daemon's kernel
# backend). Until it does, ``auto`` must not hand a user a link that passes no
# traffic just because DKMS loaded the module: it means the userspace daemon.
# Set to True in the change that makes a kernel tunnel work end to end.
KERNEL_CARRIES_TRAFFIC = False


def kernel_backend() -> ControlBackend | None:
    """The generic-netlink backend if its module is importable and the family exists."""
    try:
        from ..ipc import genl
    except ImportError:
        return None
    for obj in vars(genl).values():
        if isinstance(obj, type) and issubclass(obj, ControlBackend) and obj.kind == "kernel":
            try:
                backend = obj()
                backend.list_devices()
            except Exception:  # family not registered: the module is not loaded
                return None
            return backend
    return None


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
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        with IPRoute() as ipr:
            ipr.link("add", ifname=name, kind="secureswift")
    except NetlinkError as e:
        raise RuntimeFailure(f"cannot create {name} with the kernel backend: {e.args[1]}") from None


def create(
    name: str,
    backend: str = "auto",
    protocol: str | None = None,
    cipher: str | None = None,
    listen_port: int = 0,
    wg_socket: bool = False,
) -> str | None:
    from .. import daemon
    from ..tun import TunError, check_ifname

    try:
        check_ifname(name)
    except TunError as e:
        raise UsageError(e.strerror) from None
    if name in dict(all_devices()):
        raise RuntimeFailure(f"{name} already exists")
    if backend == "kernel" or (backend == "auto" and KERNEL_CARRIES_TRAFFIC):
        try:
            _create_kernel(name)
        except RuntimeFailure:
            if backend == "kernel":
                raise
        else:
            settings = {}
            if protocol:
                settings["protocol"] = Protocol(protocol)
            if cipher:
                settings["cipher"] = Cipher(cipher)
            if settings or listen_port:
                from ..model import Device

                with ipc_errors((errno.EINVAL,)):
                    backend_for(name).set_device(Device(name=name, listen_port=listen_port or None, **settings))
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
              help="kernel, userspace, or auto (userspace until the kernel data path lands)."),
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
