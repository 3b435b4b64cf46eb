"""``python -m sswctl.daemon IFACE``: the same as ``sswctl daemon IFACE``."""

from __future__ import annotations

import argparse
import sys

from . import DaemonError, run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sswctl.daemon", description=__doc__)
    ap.add_argument("interface")
    ap.add_argument("--background", action="store_true", help="fork; return once serving")
    ap.add_argument("--wg-socket", action="store_true",
                    help="also serve /var/run/wireguard/IFACE.sock so wg(8) sees the interface")
    ap.add_argument("--listen-port", type=int, default=0)
    ap.add_argument("--mtu", type=int, default=1420)
    ap.add_argument("--protocol", choices=["secureswift", "wireguard"], default="secureswift")
    ap.add_argument("--cipher", choices=["chacha20-poly1305", "aes-256-gcm"], default="chacha20-poly1305")
    ap.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    args = ap.parse_args(argv)
    try:
        pid = run(args.interface, background=args.background, wg_socket=args.wg_socket,
                  listen_port=args.listen_port, mtu=args.mtu, protocol=args.protocol,
                  cipher=args.cipher, log_level=args.log_level)
    except DaemonError as e:
        print(f"sswctl daemon: {e}", file=sys.stderr)
        return 1
    if pid:
        print(pid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
