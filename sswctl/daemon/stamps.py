"""The daemon's per-interface handshake timestamps, kept across restarts.

Per peer: the TAI64N timestamp of the last initiation we sent it and the
greatest one we accepted from it (the engine's :class:`Timestamps`). Kept in
``IFACE.stamps`` next to the interface's lock (``IFACE@net-INODE.stamps``
outside pid 1's network namespace, as the lock), 0600, so that

- a restarted daemon never sends a timestamp its peer already saw: the peer
  would refuse every initiation as a replay until our clock passed it (a
  router whose clock is behind until NTP syncs);
- with the kernel backend, whose sessions outlive the daemon, a recorded old
  initiation is not accepted again after a restart (it would move the peer's
  endpoint).

Both backends use this store. Layout: a 64-byte header (``MAGIC``), then one
64-byte record per peer: public key (32), last sent (12), greatest accepted
(12), 8 zero bytes. A change is one ``pwrite`` of a record, which lies in one
page (64 divides the page size), so it is atomic: a crash leaves the old or
the new record, and a handshake costs O(1) I/O however many peers there are.
The file lives in the run directory: a reboot empties it, as it empties the
kernel's sessions; the wall clock (the unit starts after time-sync.target)
then orders new initiations. Records of removed peers stay, so a peer
removed and added again is still protected.
"""

from __future__ import annotations

import logging
import os

from ..files import UnsafePathError, open_private, private_dir
from ..paths import stamps_path
from ..protocol.constants import KEY_LEN, TIMESTAMP_LEN
from ..protocol.engine import Timestamps

log = logging.getLogger("sswctl.daemon")

MAGIC = b"SecureSwift handshake timestamps v1\n".ljust(64, b"\0")
RECORD = 64
_SENT = KEY_LEN
_ACCEPTED = KEY_LEN + TIMESTAMP_LEN
_ZERO = bytes(TIMESTAMP_LEN)


class TimestampFile(Timestamps):
    """The engine's timestamp store, backed by a state file (see the module doc)."""

    def __init__(self, directory: str, name: str) -> None:
        super().__init__()
        private_dir(directory)
        self.path = stamps_path(name, directory)
        self.fd = open_private(self.path, os.O_RDWR | os.O_CREAT)
        self.errors = 0  # failed writes (logged; the engine goes on with memory)
        try:
            self._slots = self._load()
        except BaseException:
            os.close(self.fd)
            raise

    def _load(self) -> dict[bytes, int]:
        size = os.fstat(self.fd).st_size
        data = os.pread(self.fd, size, 0) if size else b""
        if not data:
            os.pwrite(self.fd, MAGIC, 0)
            return {}
        if data[:RECORD] != MAGIC:
            raise UnsafePathError(f"{self.path}: not a SecureSwift timestamp file; "
                                  "refusing to start (move it away)")
        slots: dict[bytes, int] = {}
        for off in range(RECORD, len(data) - RECORD + 1, RECORD):
            rec = data[off:off + RECORD]
            key = rec[:KEY_LEN]
            slots[key] = off
            self._pairs[key] = (rec[_SENT:_SENT + TIMESTAMP_LEN], rec[_ACCEPTED:_ACCEPTED + TIMESTAMP_LEN])
        return slots

    def record(self, peer: bytes, sent: bytes, accepted: bytes) -> None:
        peer = bytes(peer)
        super().record(peer, sent, accepted)
        off = self._slots.get(peer)
        try:
            if off is None:
                off = RECORD * (1 + len(self._slots))
                os.pwrite(self.fd, peer + sent + accepted + bytes(RECORD - KEY_LEN - 2 * TIMESTAMP_LEN), off)
                self._slots[peer] = off
            else:
                os.pwrite(self.fd, sent + accepted, off + _SENT)
        except OSError as e:
            # Refusing every handshake because a state file cannot be written
            # would turn a full disk into an outage: memory still protects
            # this run.
            self.errors += 1
            log.warning("%s: cannot record handshake timestamps: %s", self.path, e.strerror)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
