"""The undo log of one ``sswctl up``.

Every change ``up`` makes is recorded as its undo step, persisted after each
step in ``/var/run/secureswift/IFACE.quick`` (0600; ``IFACE@net-INODE.quick``
outside the network namespace of pid 1, as sswctl/paths.py names every per-interface file).
``down`` replays the journal backwards, so it removes exactly what ``up`` added
and nothing else; a failure in the middle of ``up`` replays it at once
(rollback). What each step does and how it is undone is :mod:`.netconf`'s.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field

from ..errors import RuntimeFailure
from ..files import private_dir, write_atomic
from ..ipc import IPCError
from ..paths import journal_path, state_dir
from . import netconf


@dataclass
class Journal:
    """Undo steps of one ``up``, persisted after every change."""

    iface: str
    config_path: str | None = None
    steps: list[dict] = field(default_factory=list)

    @property
    def path(self) -> str:
        # Per network namespace: two namespaces may each bring up their own wg0,
        # and each `down` must find its own journal.
        return journal_path(self.iface)

    def add(self, step: dict) -> None:
        self.steps.append(step)
        self.save()

    def save(self) -> None:
        private_dir(state_dir())
        write_atomic(self.path, json.dumps(
            {"interface": self.iface, "config": self.config_path, "undo": self.steps}).encode())

    @classmethod
    def load(cls, iface: str) -> Journal | None:
        j = cls(iface)
        try:
            with open(j.path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            return None
        return cls(iface, data.get("config"), list(data.get("undo", [])))

    def undo(self) -> None:
        """Replay the undo steps newest first; keep going past failures (reported)."""
        while self.steps:
            step = self.steps.pop()
            try:
                netconf.undo_step(step)
            except (RuntimeFailure, IPCError) as e:
                print(f"sswctl: warning: {e}", file=sys.stderr)
            self.save()
        self.discard()

    def discard(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
