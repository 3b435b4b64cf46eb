"""Which control transport serves an interface, and the one ``auto`` rule.

As wireguard-tools' ipc.c picks the kernel or the userspace implementation
behind get device / set device / list devices, this module picks between
the kernel module's generic netlink family (:class:`~.genl.GenlBackend`)
and the userspace daemons' UAPI sockets (:class:`~.uapi.UAPIBackend`).
Every subcommand, ``sswctl up``/``down`` and sswmon find interfaces here;
creating and destroying an interface, and sending it a configuration (as
``set``, ``setconf``, ``addconf`` and wg-quick do), are done here too.

The kernel backend is asked first when secureswift.ko's family is
registered; an interface belongs to the first backend that lists it.
Errors are :class:`~sswctl.ipc.IPCError`; the CLI turns them into exit codes.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import time

from ..errors import RuntimeFailure, UsageError
from ..model import Cipher, Device, Endpoint, Protocol
from ..paths import SOCK_DIR, lock_path, socket_path
from . import ControlBackend, IPCError, RequestRefused
from .uapi import UAPIBackend
from .uapi_codec import ZERO_KEY

# Imported where used: the kernel's transports (genl, rtnl), subprocess, signal and socket.
# `sswctl set` on a userspace interface (sswctl/main.py) needs none of them, and
# its whole run is short enough for their imports to be most of it.

BACKENDS = ("auto", "kernel", "userspace")
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
    import subprocess

    from .genl_schema import FAMILY_NAME  # the module is named after its family: secureswift.ko

    try:
        return subprocess.run(["modprobe", "-q", FAMILY_NAME], capture_output=True, timeout=60).returncode == 0
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


def userspace_backend(name: str) -> ControlBackend | None:
    """The UAPI backend when one of our userspace daemons answers for ``name``
    (at its socket in our namespace's run directory), else None: a kernel link,
    a wireguard-go interface, a stale socket or no such interface.

    Without asking the kernel module, as wg(8) asks a userspace socket first:
    a name is one link in a namespace, and a daemon answering for it there
    has its TUN device under that name, so no kernel link has it.
    :func:`backend_for` would pick the same backend, after probing generic
    netlink; ``sswctl set``'s short path (sswctl/main.py) saves that.
    """
    backend = UAPIBackend(directories=(SOCK_DIR,))
    return backend if backend.serves(name) else None


def get_device(name: str) -> Device:
    return backend_for(name).get_device(name)


def set_device(device: Device, backend: ControlBackend | None = None) -> None:
    """Apply a set request to ``backend``, by default whichever serves ``device.name``;
    a refusal of its content (:data:`REFUSAL_ERRNOS`) is :class:`RequestRefused`."""
    if backend is None:
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
    from . import rtnl

    kb = kernel_backend(load=True)
    if kb is not None and name in kb.list_devices():
        return "kernel", True
    free = not rtnl.link_exists(name)
    if kb is not None and free:
        return "kernel", False
    if requested == "kernel":
        if kb is None:
            raise IPCError(f"{name}: the kernel backend needs secureswift.ko, which is not loaded", errno.ENOENT)
        raise IPCError(f"{name} exists and is not a secureswift link", errno.EEXIST)
    return "userspace", False


# --- a configuration to a device (set, setconf, addconf, syncconf, wg-quick) ------------


def resolve_endpoints(device: Device) -> None:
    """Hostnames to IP literals, as wg does before talking to the device."""
    for p in device.peers:
        ep = p.endpoint
        if ep is None:
            continue
        try:
            ipaddress.ip_address(ep.host.split("%", 1)[0])
            continue
        except ValueError:
            pass
        import socket

        try:
            info = socket.getaddrinfo(ep.host, ep.port, type=socket.SOCK_DGRAM)
        except socket.gaierror as e:
            raise RuntimeFailure(f"{ep.host}: {e.strerror}") from None
        p.endpoint = Endpoint(info[0][4][0], ep.port)


def set_config(device: Device, backend: ControlBackend | None = None) -> None:
    """One set request to ``device.name`` (through ``backend``, by default the one
    serving it), hostnames resolved first (``set``, ``addconf``)."""
    resolve_endpoints(device)
    set_device(device, backend)


def replace_config(device: Device) -> None:
    """Make ``device`` the whole configuration of ``device.name``, as ``wg setconf``:
    keys it leaves out are reset (no private key, listen port 0 = random, fwmark
    off), peers not in it are removed. Protocol and Cipher change only if it names
    them. ``device`` itself is left as it was (the request is a copy)."""
    set_config(device.replace(
        private_key=ZERO_KEY if device.private_key is None else device.private_key,
        listen_port=device.listen_port or 0,
        fwmark=device.fwmark or 0,
        replace_peers=True,
        peers=[p.replace() for p in device.peers],
    ))


# --- creating and destroying interfaces -------------------------------------------------


def create_device(name: str, backend: str = "auto", protocol: str | None = None, cipher: str | None = None,
                  listen_port: int = 0, wg_socket: bool = False) -> None:
    """A new interface ``name`` on the backend :func:`choose` picks: a kernel link
    with its handshake daemon, or a userspace daemon (both started in the background)."""
    from .. import daemon
    from ..paths import InvalidName, check_ifname
    from . import rtnl

    try:
        check_ifname(name)
    except InvalidName as e:
        raise UsageError(e.strerror) from None
    if name in dict(all_devices()):
        raise RuntimeFailure(f"{name} already exists")
    if choose(name, backend)[0] == "kernel":
        try:
            rtnl.create_link(name)
        except IPCError:
            if backend == "kernel":
                raise
        else:
            try:
                apply_settings(name, protocol, cipher, listen_port)
                daemon.run(name, backend="kernel", background=True)
            except BaseException as e:
                rtnl.delete_link(name)
                if isinstance(e, daemon.DaemonError):
                    raise RuntimeFailure(str(e)) from None
                raise
            return
    try:
        daemon.run(name, background=True, wg_socket=wg_socket, listen_port=listen_port,
                   protocol=protocol or Protocol.SECURESWIFT, cipher=cipher or Cipher.CHACHA20_POLY1305)
    except daemon.DaemonError as e:
        raise RuntimeFailure(str(e)) from None
    except ValueError as e:
        raise UsageError(str(e)) from None


def _daemon_pid(name: str) -> int:
    try:
        with open(lock_path(name)) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def destroy_device(name: str, timeout: float = 10.0) -> None:
    """Remove ``name``. Userspace: SIGTERM to the daemon whose pid its lock file
    records (it removes its TUN device and sockets itself). Kernel: delete the link;
    its handshake daemon sees the link go and exits by itself, which is waited for
    (so a create of the same name right after finds no daemon)."""
    import signal

    from . import rtnl

    kernel = backend_for(name).kind == "kernel"
    pid = _daemon_pid(name)
    if kernel:
        rtnl.delete_link(name)
    elif pid <= 0:
        raise RuntimeFailure(f"{name}: no daemon pid recorded in {lock_path(name)}")
    else:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
    if pid > 0:
        _wait_gone(name, pid, timeout, userspace=not kernel)


def _wait_gone(name: str, pid: int, timeout: float, userspace: bool) -> None:
    sock = socket_path(name)
    deadline = time.monotonic() + timeout
    while (userspace and os.path.exists(sock)) or _daemon_pid(name) == pid:
        if not _alive(pid):
            return  # died without cleaning up (SIGKILL): nothing left to wait for
        if time.monotonic() > deadline:
            raise RuntimeFailure(f"{name}: daemon (pid {pid}) did not stop within {timeout:g} s")
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
