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

from ..ipc import dispatch
from . import Command, Param

COMMAND = Command(
    name="create",
    run=dispatch.create_device,
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
