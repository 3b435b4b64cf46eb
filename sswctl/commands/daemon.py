"""``sswctl daemon IFACE``: the handshake daemon (foreground, for systemd).

``--backend kernel``: IFACE is (or becomes) a secureswift.ko link; the
daemon negotiates keys for it and the module carries the packets.
``--backend userspace``: the daemon is the whole tunnel (TUN, UDP, data
plane, UAPI socket). ``auto``: kernel if IFACE is a secureswift link, or
if it does not exist and the module is loaded or loads; else userspace
(the one rule, :func:`sswctl.ipc.dispatch.choose`, that ``create`` follows too).
"""

from __future__ import annotations

from .. import daemon as _daemon
from ..errors import RuntimeFailure
from ..ipc import dispatch, rtnl
from ..paths import DEFAULT_MTU
from . import Command, Param


def choose_backend(name: str, backend: str, protocol: str, cipher: str, listen_port: int) -> str:
    """"kernel" or "userspace" for IFACE ``name`` (:func:`sswctl.ipc.dispatch.choose`);
    creates the kernel link (with these settings) when it is missing and the kernel
    backend is chosen."""
    chosen, serving = dispatch.choose(name, backend)
    if chosen == "kernel" and not serving:
        rtnl.create_link(name)
        dispatch.apply_settings(name, protocol, cipher, listen_port)
    return chosen


def daemon(name: str, backend: str = "auto", background: bool = False, wg_socket: bool = False,
           listen_port: int = 0, mtu: int = DEFAULT_MTU, protocol: str = "secureswift",
           cipher: str = "chacha20-poly1305", log_level: str = "info", no_offload: bool = False) -> str | None:
    chosen = choose_backend(name, backend, protocol, cipher, listen_port)
    try:
        pid = _daemon.run(name, backend=chosen, background=background, wg_socket=wg_socket,
                          listen_port=listen_port, mtu=mtu, protocol=protocol, cipher=cipher, log_level=log_level,
                          tun_offload=not no_offload)
    except _daemon.DaemonError as e:
        raise RuntimeFailure(str(e)) from None
    return f"{pid}\n" if pid else None


COMMAND = Command(
    name="daemon",
    run=daemon,
    help=(
        "Serve IFACE: with the kernel module, negotiate keys for its secureswift link; in userspace, "
        "run the whole tunnel (TUN device, UDP sockets, protocol engine, UAPI socket "
        "/var/run/secureswift/IFACE.sock). Foreground unless --background; READY=1 to systemd."
    ),
    params=(
        Param("name", metavar="IFACE"),
        Param("backend", flags=("--backend",), choices=dispatch.BACKENDS, default="auto", required=False,
              help="kernel, userspace, or auto: kernel if IFACE is a secureswift link, or is missing "
                   "and the module loads (the link is created then)."),
        Param("background", flags=("--background",), kind="flag", help="Fork; print the pid once serving."),
        Param("wg_socket", flags=("--wg-socket",), kind="flag",
              help="Userspace: also serve /var/run/wireguard/IFACE.sock so wg(8) can show and set it "
                   "(one path for every network namespace: refused while another daemon serves it)."),
        Param("listen_port", flags=("--listen-port",), kind="int", default=0, required=False,
              help="Userspace only (a kernel link's port is set with sswctl set)."),
        Param("mtu", flags=("--mtu",), kind="int", default=DEFAULT_MTU, required=False, help="Userspace only."),
        Param("protocol", flags=("--protocol",), choices=("secureswift", "wireguard"), default="secureswift",
              required=False, help="Userspace only."),
        Param("cipher", flags=("--cipher",), choices=("chacha20-poly1305", "aes-256-gcm"),
              default="chacha20-poly1305", required=False, help="Userspace only."),
        Param("no_offload", flags=("--no-offload",), kind="flag",
              help="Plain TUN I/O: no TCP segmentation/coalescing offload (one packet per system call)."),
        Param("log_level", flags=("--log-level",), choices=("debug", "info", "warning", "error"), default="info",
              required=False),
    ),
)
