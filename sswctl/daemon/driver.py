"""What both daemon backends share: the engine's events and the selector loop.

The engine (sswctl.protocol) is sans-I/O: it returns events and the daemon
performs them. Whatever carries the transport packets (the native data
plane on a TUN device, or secureswift.ko), the handling is the same:
install every new keypair first (the handshake message that follows makes
the peer send under it at once), then send the handshake messages, tell the
data path about zeroed keys, log completions and give-ups, and start a
handshake when the data path asks for one. A backend subclasses
``EngineDriver``, supplies the I/O hooks and registers its sockets with
``sel``; ``run`` is the loop (one thread), with the engine's timers every
TICK and a wake-up pipe for SIGTERM/SIGINT. Nothing here logs key material.
"""

from __future__ import annotations

import base64
import logging
import os
import selectors
import signal
import time

from ..protocol import (
    ConfigError,
    Engine,
    HandshakeCompleted,
    HandshakeGaveUp,
    KeypairCreated,
    KeysZeroed,
    Transmit,
)
from ..protocol.keypair import Keypair

log = logging.getLogger("sswctl.daemon")

# Engine timers fire every TICK. Every deadline the engine sets is at least a
# second away (keepalive, retransmit, rekey), so a 250 ms granularity costs
# nothing; a tick visits only the peers with a timer due (the engine's heap).
TICK = 0.25


def short_key(key: bytes) -> str:
    """A public key abbreviated for logs (public keys only, never secrets)."""
    return base64.b64encode(key).decode()[:8] + "..."


class EngineDriver:
    """The engine-event half of a daemon. Subclasses set ``name`` and ``engine``
    and implement the hooks below."""

    name: str
    engine: Engine | None = None
    sel: selectors.BaseSelector
    running = False
    _wake_r = _wake_w = -1

    # --- hooks ----------------------------------------------------------------

    def transmit(self, ev: Transmit) -> None:
        """Send one datagram the engine produced."""
        raise NotImplementedError

    def install_keypair(self, peer: bytes, keypair: Keypair) -> None:
        """Give the data path a new session's transport keys."""

    def keys_zeroed(self, peer: bytes) -> None:
        """The engine wiped the peer's keys (3 x REJECT_AFTER_TIME): so must the data path."""

    def gave_up(self, peer: bytes, dropped: int) -> None:
        """A handshake got no answer after every retry."""

    # --- the driver -----------------------------------------------------------

    def handle(self, events) -> None:
        """Perform the engine's events: keypairs first, then everything else in order."""
        if not events:
            return
        for ev in events:
            if isinstance(ev, KeypairCreated):
                self.install_keypair(ev.peer, ev.keypair)
        for ev in events:
            if isinstance(ev, Transmit):
                self.transmit(ev)
            elif isinstance(ev, KeysZeroed):
                self.keys_zeroed(ev.peer)
            elif isinstance(ev, HandshakeCompleted):
                log.info("%s: handshake completed with peer %s", self.name, short_key(ev.peer))
            elif isinstance(ev, HandshakeGaveUp):
                self.gave_up(ev.peer, ev.dropped_packets)
                log.info("%s: no handshake response from peer %s", self.name, short_key(ev.peer))

    def need_handshake(self, peer: bytes, now: float) -> None:
        """The data path has packets for ``peer`` and no usable keys (or wants a rekey)."""
        if self.engine is None or peer is None:
            return
        try:
            events = self.engine.initiate(peer, now)
        except ConfigError:
            return  # not (or no longer) one of our peers
        self.handle(events)

    def drop_engine(self) -> None:
        """Forget the engine, overwriting every peer's keys first."""
        engine, self.engine = self.engine, None
        if engine is not None:
            for sess in engine.peers():
                engine.remove_peer(sess.public_key)

    def release(self) -> None:
        """The end of a close, the same for both daemons: the wake pipe, the
        engine's keys (overwritten), the timestamp file and the interface lock."""
        self.close_wake_pipe()
        self.drop_engine()
        if self.stamps is not None:
            self.stamps.close()
            self.stamps = None
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    # --- the loop -------------------------------------------------------------

    def pending(self, now: float) -> float | None:
        """Hook: do deferred work due at ``now``; return when to be woken for more."""
        return None

    def run(self) -> None:
        next_tick = 0.0
        while self.running:
            now = time.monotonic()
            if now >= next_tick:
                if self.engine is not None:
                    self.handle(self.engine.tick(now))
                next_tick = now + TICK
            wake = self.pending(now)
            wake = next_tick if wake is None else min(wake, next_tick)
            for key, mask in self.sel.select(max(0.0, wake - time.monotonic())):
                key.data(key.fileobj, mask)
                if not self.running:
                    break

    def open_wake_pipe(self) -> None:
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.sel.register(self._wake_r, selectors.EVENT_READ, self._on_wake)

    def close_wake_pipe(self) -> None:
        if self._wake_r >= 0:
            try:
                self.sel.unregister(self._wake_r)
            except (KeyError, ValueError):
                pass
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1

    def _on_wake(self, fd, _mask) -> None:
        try:
            os.read(fd, 64)
        except BlockingIOError:
            pass

    def stop(self) -> None:
        """Ask the loop to finish (safe from a signal handler)."""
        self.running = False
        if self._wake_w >= 0:
            try:
                os.write(self._wake_w, b"\0")
            except OSError:
                pass

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop())
