"""``sswctl create IFACE [--backend userspace|kernel|auto]``.

``kernel`` adds a link of type ``secureswift`` (the module's rtnl_link_ops)
and starts the handshake daemon's kernel backend for it in the background,
returning once the daemon is subscribed to the module's notifications;
``userspace`` starts ``sswctl daemon IFACE`` (TUN) in the background and
returns once its UAPI socket is up; ``auto`` follows the one rule in
:func:`sswctl.ipc.dispatch.choose` (the kernel when secureswift.ko is loaded
or loads, else userspace).
"""

from __future__ import annotations

from ..errors import RuntimeFailure, UsageError
from ..ipc import IPCError, dispatch, rtnl
from ..model import Cipher, Protocol
from . import Command, Param


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
    if name in dict(dispatch.all_devices()):
        raise RuntimeFailure(f"{name} already exists")
    if dispatch.choose(name, backend)[0] == "kernel":
        try:
            rtnl.create_link(name)
        except IPCError:
            if backend == "kernel":
                raise
        else:
            try:
                dispatch.apply_settings(name, protocol, cipher, listen_port)
                daemon.run(name, backend="kernel", background=True)
            except BaseException as e:
                rtnl.delete_link(name)
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
        Param("backend", flags=("--backend",), choices=dispatch.BACKENDS, default="auto", required=False,
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
