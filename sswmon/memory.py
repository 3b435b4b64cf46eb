"""An in-memory stats source with a hand-driven clock.

It implements the same ``snapshot()`` as :class:`~sswmon.source.BackendSource`,
over devices the caller builds from the shared model as a get returns them
(theirs and every peer's ``status`` filled). The dashboard's tests
use it (a fixed clock gives exact rates and ages), and so can a demo.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

from sswctl.model import Device, Peer

from .stats import Snapshot


class MemorySource:
    def __init__(self, devices: Iterable[Device] = (), now: float = 1_700_000_000.0):
        self.devices = list(devices)
        self.now = now  # Unix seconds; the monotonic clock moves with it
        self.errors: dict[str, str] = {}
        self.reads = 0

    def snapshot(self) -> Snapshot:
        self.reads += 1
        return Snapshot(self.now, self.now, copy.deepcopy(self.devices), dict(self.errors))

    def peer(self, name: str) -> Peer:
        """The peer called ``name`` (friendly name) on any device."""
        for dev in self.devices:
            for p in dev.peers:
                if p.name == name:
                    return p
        raise KeyError(name)

    def tick(self, seconds: float, traffic: dict[str, tuple[int, int]] | None = None) -> None:
        """Advance the clock; ``traffic`` maps a peer name to (rx, tx) bytes added."""
        self.now += seconds
        for name, (rx, tx) in (traffic or {}).items():
            p = self.peer(name)
            p.status.rx_bytes += rx
            p.status.tx_bytes += tx
