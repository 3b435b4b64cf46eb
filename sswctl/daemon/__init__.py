"""``sswctl daemon IFACE``: the handshake daemon, with one of two backends.

``userspace`` (core.Daemon): TUN device, UDP sockets, the native data plane
(sswctl._datapath; without it the daemon refuses to start and says how to
build it) and UAPI socket in this process. ``kernel`` (kernel.KernelDaemon): secureswift.ko
carries the packets and holds the configuration; the daemon negotiates
keys over the module's generic netlink family. Both drive one protocol
engine through driver.EngineDriver.

Foreground by default, as systemd wants it; tells systemd it is ready
(``READY=1`` on $NOTIFY_SOCKET) once it serves: for userspace, once the TUN
device, the UDP sockets and the UAPI socket exist; for kernel, once it is
subscribed to the module's notifications and has read the device.
``background=True`` forks, and the parent returns only when the child is
ready (or has failed, with its error), so ``sswctl create`` can configure
the interface right after.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from typing import TYPE_CHECKING

from ..ipc import IPCError
from ..model import Cipher, Protocol
from ..paths import DEFAULT_MTU
from .lock import AlreadyRunning

if TYPE_CHECKING:
    from .core import Daemon
    from .kernel import KernelDaemon

__all__ = ["AlreadyRunning", "Daemon", "DaemonError", "KernelDaemon", "run"]


def __getattr__(name: str):
    # Each backend is imported only when asked for: a kernel-backend daemon never
    # loads the userspace data plane, and every module counts at start-up in the
    # emulated test VMs.
    if name == "Daemon":
        from .core import Daemon

        return Daemon
    if name == "KernelDaemon":
        from .kernel import KernelDaemon

        return KernelDaemon
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

log = logging.getLogger("sswctl.daemon")


class DaemonError(RuntimeError):
    """The daemon could not start; the message says why."""


def sd_notify(state: str) -> bool:
    """Send ``state`` to systemd's notify socket if there is one."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    if path.startswith("@"):
        path = "\0" + path[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
        try:
            s.connect(path)
            s.sendall(state.encode())
        except OSError:
            return False
    return True


def _setup_logging(level: str, syslog: bool = False) -> None:
    """stderr (the journal under systemd) in the foreground; syslog when detached."""
    root = logging.getLogger("sswctl")
    for h in list(root.handlers):
        root.removeHandler(h)
    if syslog:
        from logging.handlers import SysLogHandler

        if not os.path.exists("/dev/log"):
            root.addHandler(logging.NullHandler())
            return
        handler: logging.Handler = SysLogHandler("/dev/log", facility=SysLogHandler.LOG_DAEMON)
        handler.setFormatter(logging.Formatter("sswctl-daemon[%(process)d]: %(levelname)s: %(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        # Under systemd the journal adds time and unit; stderr lines stay short.
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))


def _start(name: str, backend: str, **kw) -> Daemon | KernelDaemon:
    if backend == "kernel":
        from .kernel import KernelDaemon

        d: Daemon | KernelDaemon = KernelDaemon(name, **kw)
    else:
        from .core import Daemon

        d = Daemon(name, **kw)
    try:
        d.start()
    except AlreadyRunning as e:
        raise DaemonError(str(e)) from None
    except IPCError as e:
        raise DaemonError(f"cannot start {name}: {e}") from None
    except OSError as e:
        raise DaemonError(f"cannot start {name}: {e.strerror or e}") from None
    return d


def run(
    name: str,
    *,
    backend: str = "userspace",
    background: bool = False,
    wg_socket: bool = False,
    listen_port: int = 0,
    mtu: int = DEFAULT_MTU,
    protocol: Protocol | str = Protocol.SECURESWIFT,
    cipher: Cipher | str = Cipher.CHACHA20_POLY1305,
    log_level: str = "info",
    sock_dir: str | None = None,
    tun_offload: bool = True,
) -> int | None:
    """Run the daemon (``backend`` "userspace" or "kernel"; the device options are the
    userspace backend's, a kernel device has them in the kernel); in background mode
    return the child's pid once ready."""
    if backend == "kernel":
        kw: dict = {}
    else:
        from .. import datapath

        try:
            datapath.require()  # before anything is created (or forked): nothing to undo
        except datapath.NotBuilt as e:
            raise DaemonError(f"cannot start {name}: {e}") from None
        kw = dict(wg_socket=wg_socket, listen_port=listen_port, mtu=mtu, tun_offload=tun_offload,
                  protocol=Protocol(protocol), cipher=Cipher(cipher))
    if sock_dir:
        kw["sock_dir"] = sock_dir
    if background:
        return _background(name, backend, log_level, kw)
    _setup_logging(log_level)
    d = _start(name, backend, **kw)
    d.install_signal_handlers()
    what = "handshakes (kernel module) for" if backend == "kernel" else "serving"
    sd_notify(f"READY=1\nSTATUS={what} {name} on UDP port {d.config.listen_port}\nMAINPID={os.getpid()}")
    try:
        d.run()
    finally:
        sd_notify("STOPPING=1")
        d.close()
    return None


def _background(name: str, backend: str, log_level: str, kw: dict) -> int:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: detach, start, report, serve
        os.close(r)
        code = 0
        try:
            os.setsid()
            if os.fork() > 0:
                os._exit(0)
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            os.close(devnull)
            _setup_logging(log_level, syslog=True)
            try:
                d = _start(name, backend, **kw)
            except DaemonError as e:
                os.write(w, f"E{e}".encode())
                os._exit(1)
            os.write(w, f"OK{os.getpid()}".encode())
            os.close(w)
            d.install_signal_handlers()
            try:
                d.run()
            finally:
                d.close()
        except BaseException:
            code = 1
        os._exit(code)
    os.close(w)
    os.waitpid(pid, 0)
    with os.fdopen(r, "rb") as f:
        msg = f.read().decode(errors="replace")
    if msg.startswith("OK"):
        return int(msg[2:])
    raise DaemonError(msg[1:] if msg.startswith("E") else f"daemon for {name} failed to start")
