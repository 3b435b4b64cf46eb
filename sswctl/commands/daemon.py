"""``sswctl daemon IFACE``: run the userspace backend (foreground, for systemd)."""

from __future__ import annotations

from .. import daemon as _daemon
from ..errors import RuntimeFailure
from . import Command, Param


def daemon(name: str, background: bool = False, wg_socket: bool = False, listen_port: int = 0,
           mtu: int = 1420, protocol: str = "secureswift", cipher: str = "chacha20-poly1305",
           log_level: str = "info", no_offload: bool = False, no_native: bool = False) -> str | None:
    try:
        pid = _daemon.run(name, background=background, wg_socket=wg_socket, listen_port=listen_port, mtu=mtu,
                          protocol=protocol, cipher=cipher, log_level=log_level, tun_offload=not no_offload,
                          native=not no_native)
    except _daemon.DaemonError as e:
        raise RuntimeFailure(str(e)) from None
    return f"{pid}\n" if pid else None


COMMAND = Command(
    name="daemon",
    run=daemon,
    help=(
        "Serve IFACE in userspace: TUN device, UDP sockets, protocol engine, UAPI socket "
        "/var/run/secureswift/IFACE.sock. Foreground unless --background; READY=1 to systemd."
    ),
    params=(
        Param("name", metavar="IFACE"),
        Param("background", flags=("--background",), kind="flag", help="Fork; print the pid once serving."),
        Param("wg_socket", flags=("--wg-socket",), kind="flag",
              help="Also serve /var/run/wireguard/IFACE.sock so wg(8) can show and set it."),
        Param("listen_port", flags=("--listen-port",), kind="int", default=0, required=False),
        Param("mtu", flags=("--mtu",), kind="int", default=1420, required=False),
        Param("protocol", flags=("--protocol",), choices=("secureswift", "wireguard"), default="secureswift",
              required=False),
        Param("cipher", flags=("--cipher",), choices=("chacha20-poly1305", "aes-256-gcm"),
              default="chacha20-poly1305", required=False),
        Param("no_offload", flags=("--no-offload",), kind="flag",
              help="Plain TUN I/O: no TCP segmentation/coalescing offload (one packet per system call)."),
        Param("no_native", flags=("--no-native",), kind="flag",
              help="Keep the data plane in Python even when the native one (sswctl._datapath) is built."),
        Param("log_level", flags=("--log-level",), choices=("debug", "info", "warning", "error"), default="info",
              required=False),
    ),
)
