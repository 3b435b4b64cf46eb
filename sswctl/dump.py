"""``wg show dump``'s format, written once.

The CLI formats a Device with :func:`format_dump`; the userspace daemon
answers a dump request (``ssw_dump=1``, sswctl/ipc/uapi_codec.py) line by
line from the parts :func:`peer_parts` renders once per configuration
change, so a dump of 100,000 peers formats only what changes between two
reads: endpoint, latest handshake and transfer.

Columns as wireguard-tools' show.c ``dump``: the interface line holds private
key, public key, listen port and fwmark; each peer line public key, preshared
key, endpoint, allowed IPs, latest handshake (whole seconds), received bytes,
sent bytes, persistent keepalive. Tabs between columns; ``(none)`` and
``off`` for what is unset.
"""

from __future__ import annotations

from .keys import to_base64
from .model import net_text


def b64(key: bytes | None) -> str:
    return to_base64(key) if key else "(none)"


def fwmark(mark: int | None) -> str:
    return f"0x{mark:x}" if mark else "off"


def interface_line(dev, pre: str = "") -> str:
    return f"{pre}{b64(dev.private_key)}\t{b64(dev.public_key)}\t{dev.listen_port or 0}\t{fwmark(dev.fwmark)}\n"


def peer_parts(p, pre: str = "") -> tuple[str, str, str]:
    """What a peer's line holds between changes of its configuration: the text
    before the endpoint, between endpoint and handshake, and after the counters."""
    return (
        f"{pre}{to_base64(p.public_key)}\t{b64(p.preshared_key)}\t",
        f"\t{','.join(map(net_text, p.allowed_ips)) or '(none)'}\t",
        f"\t{p.persistent_keepalive or 'off'}\n",
    )


def peer_line(parts: tuple[str, str, str], endpoint, handshake: float | None, rx: int, tx: int) -> str:
    head, middle, tail = parts
    ep = "(none)" if endpoint is None else str(endpoint)
    return f"{head}{ep}{middle}{int(handshake) if handshake else 0}\t{rx}\t{tx}{tail}"


def format_dump(dev, with_interface: bool = False) -> str:
    pre = f"{dev.name}\t" if with_interface else ""
    return interface_line(dev, pre) + "".join(
        peer_line(peer_parts(p, pre), p.endpoint, p.status.last_handshake, p.status.rx_bytes, p.status.tx_bytes)
        for p in dev.peers)
