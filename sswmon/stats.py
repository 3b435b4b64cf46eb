"""Pure bookkeeping over successive snapshots: rates, history, freshness.

Nothing here reads a clock or a socket: every snapshot carries the times it
was taken, so tests drive it with a fixed clock and get exact figures.

Rates come from counter deltas between two snapshots of the same peer. A
counter that goes *down* means the peer was removed and re-added or the
daemon restarted; that interval has no rate (``None``), the history records
zero for it, and the next interval is measured from the new baseline. So a
reset never yields a negative or absurd rate.
"""

from __future__ import annotations

import base64
from collections import deque
from dataclasses import dataclass, field

from sswctl.model import Device, Peer

STALE_AFTER = 180.0  # seconds: WireGuard's REJECT_AFTER_TIME; older sessions are dead
HISTORY_LEN = 60  # samples kept per peer for the sparkline
SPARK_FLOOR = 16384.0  # bytes/s: the least a full-height sparkline stands for (handshake retries stay flat)

FRESH = "fresh"
STALE = "stale"
NEVER = "never"


@dataclass
class Snapshot:
    """What a source returns: devices as read, and when.

    ``wall`` is Unix time (for handshake ages); ``mono`` is a monotonic clock
    (for rate intervals, immune to wall-clock jumps). ``errors`` maps an
    interface that could not be read to the reason.
    """

    wall: float
    mono: float
    devices: list[Device]
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class PeerStats:
    interface: str
    peer: Peer
    rx_rate: float | None  # bytes/s over the last interval; None = unknown (first sample, reset)
    tx_rate: float | None
    history: tuple[float, ...]  # recent rx+tx rates, oldest first
    handshake_age: float | None  # seconds; None = never
    freshness: str  # FRESH, STALE or NEVER

    @property
    def drops(self) -> int:
        return sum(self.peer.status.drops.values())


@dataclass
class InterfaceStats:
    device: Device
    peers: list[PeerStats]

    @property
    def rx_bytes(self) -> int:
        return sum(p.peer.status.rx_bytes for p in self.peers)

    @property
    def tx_bytes(self) -> int:
        return sum(p.peer.status.tx_bytes for p in self.peers)

    @property
    def rx_rate(self) -> float | None:
        return _sum_known(p.rx_rate for p in self.peers)

    @property
    def tx_rate(self) -> float | None:
        return _sum_known(p.tx_rate for p in self.peers)


@dataclass
class View:
    """Everything the dashboard shows for one refresh."""

    wall: float
    interfaces: list[InterfaceStats]
    errors: dict[str, str]

    @property
    def peers(self) -> list[PeerStats]:
        return [p for i in self.interfaces for p in i.peers]


def _sum_known(values) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def freshness(last_handshake: float | None, now: float, stale_after: float = STALE_AFTER) -> tuple[float | None, str]:
    """(age in seconds, FRESH/STALE/NEVER). A handshake in the future (clock skew) has age 0."""
    if not last_handshake:
        return None, NEVER
    age = max(0.0, now - last_handshake)
    return age, STALE if age > stale_after else FRESH


def rate(prev: int, cur: int, dt: float) -> float | None:
    """Bytes per second between two counter readings; None when it cannot be known."""
    if dt <= 0 or cur < prev:
        return None
    return (cur - prev) / dt


@dataclass
class _Last:
    mono: float
    rx: int
    tx: int
    history: deque


class Tracker:
    """Feeds on snapshots, remembers the previous counters of every peer."""

    def __init__(self, history_len: int = HISTORY_LEN, stale_after: float = STALE_AFTER):
        self.history_len = history_len
        self.stale_after = stale_after
        self._last: dict[tuple[str, bytes], _Last] = {}

    def update(self, snap: Snapshot) -> View:
        seen: dict[tuple[str, bytes], _Last] = {}
        interfaces = []
        for dev in snap.devices:
            peers = []
            for peer in dev.peers:
                st = peer.status
                key = (dev.name, peer.public_key)
                last = self._last.get(key)
                if last is None:
                    rx_rate = tx_rate = None
                    hist: deque = deque(maxlen=self.history_len)
                else:
                    dt = snap.mono - last.mono
                    rx_rate = rate(last.rx, st.rx_bytes, dt)
                    tx_rate = rate(last.tx, st.tx_bytes, dt)
                    hist = last.history
                    if dt > 0:  # a repeated snapshot adds no sample
                        hist.append((rx_rate or 0.0) + (tx_rate or 0.0))
                seen[key] = _Last(snap.mono, st.rx_bytes, st.tx_bytes, hist)
                age, fresh = freshness(st.last_handshake, snap.wall, self.stale_after)
                peers.append(PeerStats(dev.name, peer, rx_rate, tx_rate, tuple(hist), age, fresh))
            interfaces.append(InterfaceStats(dev, peers))
        # Peers (and interfaces) that disappeared are forgotten: if they come
        # back, they start over from a new baseline.
        for dev_name in snap.errors:
            seen.update({k: v for k, v in self._last.items() if k[0] == dev_name})
        self._last = seen
        return View(snap.wall, interfaces, dict(snap.errors))


# -- presentation helpers shared by the dashboard and the text output --


def short_key(key: bytes | None) -> str:
    """The first 8 base64 characters of a key, as a compact label."""
    return base64.b64encode(key).decode()[:8] + "…" if key else "-"


def peer_label(p: PeerStats) -> str:
    """A peer's friendly name, else its short key."""
    return p.peer.name or short_key(p.peer.public_key)


SPARK_CHARS = "▁▂▃▄▅▆▇█"


def sparkline(values: tuple[float, ...] | list[float], width: int, floor: float = 0.0) -> str:
    """The last ``width`` values as block characters scaled to their maximum.

    The scale's top is at least ``floor``, so a trickle (keepalives, handshake
    retries) stays a flat line instead of filling the cell. Zero is the lowest
    block; the result is left-padded with spaces to ``width`` so columns line up.
    """
    window = list(values)[-width:] if width > 0 else []
    top = max([*window, floor])
    levels = len(SPARK_CHARS) - 1
    if top <= 0:
        chars = SPARK_CHARS[0] * len(window)
    else:
        chars = "".join(SPARK_CHARS[min(levels, round(v / top * levels))] for v in window)
    return chars.rjust(width)


_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_bytes(n: float) -> str:
    """1023 -> '1023 B', 1536 -> '1.50 KiB' (wg show's units)."""
    value = float(n)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def human_rate(r: float | None) -> str:
    return "-" if r is None else human_bytes(r) + "/s"


def human_age(age: float | None) -> str:
    """Compact age: '12s', '4m02s', '3h05m', '2d04h'; 'never' for None."""
    if age is None:
        return "never"
    s = int(age)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"
