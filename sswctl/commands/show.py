"""``sswctl show [IFACE|all|interfaces] [FIELD|dump] [--json]``: as ``wg show``.

The text formats are wireguard-tools' src/show.c, byte for byte (without
colour): the pretty form sorts peers by latest handshake, newest first,
peers that never shook hands last; the field forms and ``dump`` keep the
backend's peer order and separate columns by tabs; with ``all`` every line
starts with the interface name. ``WG_HIDE_KEYS=never`` shows private and
preshared keys in the pretty form, as wg.

``all`` carries on past an interface that cannot be read (its daemon went
away after the listing), as wg does: "Unable to access interface NAME:
reason" on stderr, the others shown, exit status 1 only when none could be
read.

``--json`` prints {"interfaces": [...]} with SecureSwift's extra state
(protocol, cipher, backend, packet and drop counters, peer names) and never
any private or preshared key (only whether a preshared key is set).
"""

from __future__ import annotations

import json as _json
import os
import time

from .. import keys
from ..dump import b64, format_dump, fwmark
from ..errors import EXIT_RUNTIME, UsageError
from ..ipc import IPCError, dispatch
from ..model import Device, Peer, net_text
from . import Command, Output, Param

FIELDS = (
    "public-key", "private-key", "listen-port", "fwmark", "peers", "preshared-keys", "endpoints",
    "allowed-ips", "latest-handshakes", "transfer", "persistent-keepalive", "dump",
)


def _hidden(key: bytes) -> str:
    return keys.to_base64(key) if os.environ.get("WG_HIDE_KEYS") == "never" else "(hidden)"


def _hs_sec(p: Peer) -> int:
    hs = p.status.last_handshake
    return int(hs) if hs else 0


def pretty_time(seconds: int) -> str:
    parts = []
    for unit, size in (("year", 365 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        n, seconds = divmod(seconds, size)
        if n:
            parts.append(f"{n} {unit}{'' if n == 1 else 's'}")
    return ", ".join(parts)


def ago(when: int, now: int) -> str:
    if now == when:
        return "Now"
    if now < when:
        return "(System clock wound backward; connection problems may ensue.)"
    return pretty_time(now - when) + " ago"


def human_bytes(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    for unit, size in (("KiB", 1024), ("MiB", 1024**2), ("GiB", 1024**3)):
        if n < size * 1024:
            return f"{n / size:.2f} {unit}"
    return f"{n / 1024**4:.2f} TiB"


def sorted_peers(peers: list[Peer]) -> list[Peer]:
    """wg's peer_cmp: newest handshake first, never-handshaken last, ties stable."""
    return sorted(peers, key=lambda p: (p.status.last_handshake is None, -(p.status.last_handshake or 0.0)))


def format_pretty(dev: Device, now: int | None = None) -> str:
    now = int(time.time()) if now is None else now
    out = [f"interface: {dev.name}"]
    if dev.public_key:
        out.append(f"  public key: {keys.to_base64(dev.public_key)}")
    if dev.private_key:
        out.append(f"  private key: {_hidden(dev.private_key)}")
    if dev.listen_port:
        out.append(f"  listening port: {dev.listen_port}")
    if dev.fwmark:
        out.append(f"  fwmark: 0x{dev.fwmark:x}")
    for p in sorted_peers(dev.peers):
        out.append("")
        out.append(f"peer: {keys.to_base64(p.public_key)}")
        if p.preshared_key:
            out.append(f"  preshared key: {_hidden(p.preshared_key)}")
        if p.endpoint is not None:
            out.append(f"  endpoint: {p.endpoint}")
        out.append(f"  allowed ips: {', '.join(map(net_text, p.allowed_ips)) or '(none)'}")
        if _hs_sec(p):
            out.append(f"  latest handshake: {ago(_hs_sec(p), now)}")
        st = p.status
        if st.rx_bytes or st.tx_bytes:
            out.append(f"  transfer: {human_bytes(st.rx_bytes)} received, {human_bytes(st.tx_bytes)} sent")
        if p.persistent_keepalive:
            out.append(f"  persistent keepalive: every {pretty_time(p.persistent_keepalive)}")
    return "\n".join(out) + "\n"


def format_field(dev: Device, field: str, with_interface: bool = False) -> str:
    """One of wg's ugly_print fields (see FIELDS)."""
    pre = f"{dev.name}\t" if with_interface else ""
    if field == "dump":
        return format_dump(dev, with_interface)
    device_fields = {
        "public-key": lambda: b64(dev.public_key),
        "private-key": lambda: b64(dev.private_key),
        "listen-port": lambda: str(dev.listen_port or 0),
        "fwmark": lambda: fwmark(dev.fwmark),
    }
    if field in device_fields:
        return f"{pre}{device_fields[field]()}\n"
    peer_fields = {
        "peers": lambda p: "",
        "preshared-keys": lambda p: b64(p.preshared_key),
        "endpoints": lambda p: str(p.endpoint) if p.endpoint is not None else "(none)",
        "allowed-ips": lambda p: " ".join(map(net_text, p.allowed_ips)) or "(none)",
        "latest-handshakes": lambda p: str(_hs_sec(p)),
        "transfer": lambda p: f"{p.status.rx_bytes}\t{p.status.tx_bytes}",
        "persistent-keepalive": lambda p: str(p.persistent_keepalive) if p.persistent_keepalive else "off",
    }
    if field not in peer_fields:
        raise UsageError(f"Invalid parameter: `{field}' (one of: {', '.join(FIELDS)})")
    out = []
    for p in dev.peers:
        value = peer_fields[field](p)
        out.append(f"{pre}{keys.to_base64(p.public_key)}" + (f"\t{value}" if field != "peers" else ""))
    return "".join(line + "\n" for line in out)


def to_json(dev: Device) -> dict:
    return {
        "name": dev.name,
        "backend": dev.status.backend,
        "protocol": str(dev.protocol) if dev.protocol else None,
        "cipher": str(dev.cipher) if dev.cipher else None,
        "public_key": keys.to_base64(dev.public_key) if dev.public_key else None,
        "listen_port": dev.listen_port or 0,
        "fwmark": dev.fwmark or 0,
        "drops": dict(sorted(dev.status.drops.items())),
        "handshake": dict(sorted(dev.status.handshake.items())),
        "peers": [
            {
                "public_key": keys.to_base64(p.public_key),
                "name": p.name,
                "preshared_key": p.preshared_key is not None,
                "endpoint": str(p.endpoint) if p.endpoint is not None else None,
                "allowed_ips": [str(n) for n in p.allowed_ips],
                "latest_handshake": p.status.last_handshake,
                "rx_bytes": p.status.rx_bytes,
                "tx_bytes": p.status.tx_bytes,
                "rx_packets": p.status.rx_packets,
                "tx_packets": p.status.tx_packets,
                "persistent_keepalive": p.persistent_keepalive or 0,
                "drops": dict(sorted(p.status.drops.items())),
            }
            for p in dev.peers
        ],
    }


def read_all() -> tuple[list[Device | None], list[str]]:
    """Every listed interface's state, in list order (None where it could not be
    read), and wg's "Unable to access interface" line for each of those."""
    devices: list[Device | None] = []
    warnings = []
    for name, backend in dispatch.all_devices():
        try:
            devices.append(backend.get_device(name))
        except IPCError as e:
            devices.append(None)
            reason = os.strerror(e.errno) if e.errno else str(e)
            warnings.append(f"Unable to access interface {name}: {reason}")
    return devices, warnings


def _show_all(field: str | None, json: bool) -> str | Output:
    listed, warnings = read_all()
    devices = [d for d in listed if d is not None]
    if json:
        text = _json.dumps({"interfaces": [to_json(d) for d in devices]}, indent=2) + "\n"
    elif field is not None:
        text = "".join(format_field(d, field, with_interface=True) for d in devices)
    else:  # as wg: a blank line after each device shown that is not the last listed
        text = "".join(format_pretty(d) + ("\n" if i + 1 < len(listed) else "")
                       for i, d in enumerate(listed) if d is not None)
    if not warnings:
        return text
    return Output(text, tuple(warnings), EXIT_RUNTIME if not devices else 0)


def show(target: str | None = None, field: str | None = None, json: bool = False) -> str | Output:
    target = target or "all"
    if field is not None and field not in FIELDS:
        raise UsageError(f"Invalid parameter: `{field}' (one of: {', '.join(FIELDS)})")
    if json and field is not None:
        raise UsageError("--json shows everything; it cannot be combined with a field")
    if target == "interfaces":
        if field is not None:
            raise UsageError("`show interfaces' takes no field")
        names = [n for n, _ in dispatch.all_devices()]
        return " ".join(names) + "\n" if names else ""
    if target == "all":
        return _show_all(field, json)
    dev = dispatch.get_device(target)
    if json:
        return _json.dumps({"interfaces": [to_json(dev)]}, indent=2) + "\n"
    if field is not None:
        return format_field(dev, field)
    return format_pretty(dev)


COMMAND = Command(
    name="show",
    run=show,
    help="Show interfaces as `wg show` does: [IFACE|all|interfaces] [FIELD|dump] (FIELD: "
    + ", ".join(FIELDS[:-1]) + ").",
    params=(
        Param("target", required=False, metavar="[IFACE|all|interfaces]"),
        Param("field", required=False, metavar="[FIELD|dump]"),
        Param("json", flags=("--json",), kind="flag", help="Machine-readable JSON with counters; no secrets."),
    ),
)
