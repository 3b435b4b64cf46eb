"""``sswctl status IFACE``: a human summary (backend, mode, suite, peers, totals).

A peer is "up" when its latest handshake is younger than 180 s
(REJECT_AFTER_TIME: after that no session key may be used), "stale" when
older, "never" when it has not completed one. The format is for people;
scripts use ``sswctl show IFACE dump`` or ``--json``.
"""

from __future__ import annotations

import time

from .. import keys
from ..ipc.dispatch import get_device
from ..model import Device, Peer
from ..protocol.constants import REJECT_AFTER_TIME
from . import Command, Param
from .show import ago, human_bytes


def peer_state(p: Peer, now: float) -> str:
    hs = p.status.last_handshake
    if not hs:
        return "never"
    return "up" if now - hs < REJECT_AFTER_TIME else "stale"


def _drops(d: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(d.items()) if v) or "none"


def format_status(dev: Device, now: float | None = None) -> str:
    now = time.time() if now is None else now
    states = [peer_state(p, now) for p in dev.peers]
    rx = sum(p.status.rx_bytes for p in dev.peers)
    tx = sum(p.status.tx_bytes for p in dev.peers)
    out = [
        f"interface: {dev.name} ({dev.status.backend or 'unknown'} backend)",
        f"  protocol: {dev.protocol or 'secureswift'}, cipher: {dev.cipher or 'chacha20-poly1305'}",
        f"  public key: {keys.to_base64(dev.public_key) if dev.public_key else '(none: no private key set)'}",
        f"  listening port: {dev.listen_port or 0}",
        f"  peers: {len(states)} ({states.count('up')} up, {states.count('stale')} stale, "
        f"{states.count('never')} never)",
        f"  transfer: {human_bytes(rx)} received, {human_bytes(tx)} sent; "
        f"{sum(p.status.rx_packets for p in dev.peers)} packets in, "
        f"{sum(p.status.tx_packets for p in dev.peers)} out",
        f"  drops: {_drops(dev.status.drops)}",
    ]
    for p, state in zip(dev.peers, states, strict=True):
        label = p.name or keys.to_base64(p.public_key)
        st = p.status
        hs = ago(int(st.last_handshake), int(now)) if st.last_handshake else "no handshake yet"
        ep = str(p.endpoint) if p.endpoint is not None else "no endpoint"
        out.append(f"  peer {label}: {state}, {hs}, {ep}, "
                   f"{human_bytes(st.rx_bytes)} in / {human_bytes(st.tx_bytes)} out, drops: {_drops(st.drops)}")
    return "\n".join(out) + "\n"


def status(name: str) -> str:
    return format_status(get_device(name))


COMMAND = Command(
    name="status",
    run=status,
    help="Summarise IFACE for people: backend, protocol and cipher, peers up/stale, traffic, drops.",
    params=(Param("name", metavar="IFACE"),),
)
