"""``sswctl up IFACE|FILE``: bring a tunnel up with wg-quick semantics (see :mod:`sswctl.quick.tunnel`)."""

from __future__ import annotations

from ..quick import tunnel
from . import Command, Param

COMMAND = Command(
    name="up",
    run=tunnel.up,
    help=(
        "Bring up the tunnel configured in FILE (NAME.conf) or /etc/secureswift/IFACE.conf: create the device, "
        "apply the config, addresses, MTU, DNS, routes, hooks. Without a config file, bring the existing link up."
    ),
    params=(
        Param("target", metavar="IFACE|FILE"),
        Param("backend", flags=("--backend",), choices=("auto", "kernel", "userspace"), default="auto",
              required=False, help="Data plane: the kernel module or the userspace daemon (default: auto)."),
        Param("existing", flags=("--existing",), kind="flag",
              help="The device already exists (systemd's ExecStart runs the daemon): configure it, skip PreUp."),
    ),
)
