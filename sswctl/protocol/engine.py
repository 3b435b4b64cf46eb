"""The device-level handshake engine (see the package docstring for the API).

It negotiates keypairs and runs the handshake's timers; the data plane (the
kernel module or the userspace C plane) carries the transport packets. Where
a data plane's behaviour touches the handshake (confirming new keys, staged
packets, keepalives, the data timers), :class:`Engine` calls a small hook that
does nothing here; tests/transport_oracle.py fills them in for the Python
reference transport the tests compare the data planes with."""

from __future__ import annotations

import heapq
import itertools
import os
import random
from collections.abc import Callable

from ..model import Cipher, Protocol
from . import constants as C
from .cookie import CookieChecker, CookieMaker, MacState
from .errors import (
    ConfigError,
    MacError,
    MessageError,
    ProtocolError,
    UnknownIndexError,
)
from .events import HandshakeCompleted, HandshakeGaveUp, KeypairCreated, KeysZeroed, Received, Transmit
from .keypair import Keypair
from .messages import (
    message_type,
    parse_cookie_reply,
    parse_initiation,
    parse_response,
)
from .modes import Mode, mode_for
from .noise import (
    Handshake,
    PeerKeys,
    StaticIdentity,
    check_initiation,
    consume_response,
    create_initiation,
    create_response,
    derive_transport_keys,
)
from .primitives import tai64n, tai64n_after

_UNSET = object()
_NO_TIMESTAMP = bytes(C.TIMESTAMP_LEN)


class Timestamps:
    """Per peer, the TAI64N timestamp of the last initiation sent to it and the
    greatest one accepted from it. The engine reads a peer's pair when the peer
    is added and calls ``record`` before it uses a new value (before the
    initiation carrying it is returned, before an accepted initiation changes
    any state), so a store that outlives the process (the daemon's, in
    sswctl/daemon/stamps.py) keeps a restarted daemon from sending a timestamp
    its peer already saw and from accepting a recorded initiation again.
    This one keeps them in memory: what an engine without a store uses."""

    def __init__(self) -> None:
        self._pairs: dict[bytes, tuple[bytes, bytes]] = {}

    def load(self, peer: bytes) -> tuple[bytes, bytes]:
        """(last sent, greatest accepted); zeros when nothing is known."""
        return self._pairs.get(peer, (_NO_TIMESTAMP, _NO_TIMESTAMP))

    def record(self, peer: bytes, sent: bytes, accepted: bytes) -> None:
        self._pairs[peer] = (sent, accepted)


# --- per-peer state ---------------------------------------------------------


_timer_seq = itertools.count()


class _Timer:
    """A peer's timer: an absolute deadline or None. Setting one earlier than
    the peer's next deadline puts the peer in its engine's heap, so that
    Engine.tick visits the peers with a timer due, not all of them."""

    def __set_name__(self, owner, name: str) -> None:
        self.attr = "_" + name

    def __get__(self, obj, owner=None):
        return self if obj is None else obj.__dict__[self.attr]

    def __set__(self, obj, value: float | None) -> None:
        obj.__dict__[self.attr] = value
        if value is not None and (obj._due is None or value < obj._due):
            obj._due = value
            heapq.heappush(obj._heap, (value, next(_timer_seq), obj))


class PeerSession:
    """Everything the engine keeps per peer. Read-only for callers, except
    through Engine.update_peer. Times are on the engine's monotonic clock,
    ``last_handshake`` is wall-clock (Unix) time."""

    # Timers: absolute deadlines or None (kernel timers.c). ``timers`` names
    # them in the order a tick fires them, each by Engine._expired_<name>.
    timers = ("retransmit", "zero_keys")
    t_retransmit = _Timer()
    t_zero_keys = _Timer()

    def __init__(self, identity: StaticIdentity, mode: Mode, public_key: bytes,
                 preshared_key: bytes | None, persistent_keepalive: int, endpoint, heap: list) -> None:
        self._heap = heap  # the engine's (deadline, seq, session) heap
        self._due: float | None = None  # this peer's earliest deadline in it
        self.public_key = public_key
        self.keys = PeerKeys(identity, public_key, preshared_key)
        self.handshake = Handshake(public_key)
        self.cookie = CookieMaker(mode, public_key)
        self.current: Keypair | None = None
        self.previous: Keypair | None = None
        self.next: Keypair | None = None
        self.endpoint = endpoint
        self.persistent_keepalive = persistent_keepalive
        self.t_retransmit: float | None = None
        self.t_zero_keys: float | None = None
        self.handshake_attempts = 0
        self.last_sent_handshake: float | None = None
        self.last_sent_timestamp = _NO_TIMESTAMP  # TAI64N of our last initiation to it
        self.last_handshake: float | None = None
        self.rx_bytes = 0
        self.tx_bytes = 0

    def __repr__(self) -> str:
        return f"<PeerSession {self.public_key[:4].hex()}...>"

    def deadlines(self) -> list[float]:
        found = (getattr(self, "t_" + name) for name in self.timers)
        return [t for t in found if t is not None]


class Engine:
    """One interface's handshake state. Sans-I/O: the caller passes ``now``
    (monotonic seconds) to every call and performs the I/O the returned
    events ask for."""

    #: The per-peer state class (the transport oracle's has more timers).
    Session = PeerSession

    def __init__(self, private_key: bytes, protocol: Protocol | str = Protocol.SECURESWIFT,
                 cipher: Cipher | str | None = None, *,
                 wall_clock: Callable[[], float] | None = None, wall_offset: float | None = None,
                 timestamps: Timestamps | None = None,
                 rng: Callable[[int], bytes] = os.urandom) -> None:
        """``wall_clock()`` returns the real-time clock (Unix seconds), read
        for every initiation's TAI64N timestamp and handshake time, so a clock
        stepped after start (NTP on a router without RTC) is followed; a
        timestamp never goes below the last one sent to the peer, whatever the
        clock does. ``wall_offset`` instead ties the wall clock to the
        caller's ``now`` (``now + wall_offset``), for tests and tools that run
        the engine on a synthetic clock. One of the two is required: the
        engine reads no clock of its own.
        ``timestamps`` keeps the per-peer timestamps (:class:`Timestamps`;
        the daemon passes one that survives restarts).
        ``rng(n)`` returns n random bytes (tests inject a deterministic one).

        The data plane owns every transport packet: the engine never
        encrypts one (so a keypair's counters are used by the data plane
        alone, never twice), and only the handshake timers run here
        (retransmit, give-up, key zeroing). The data plane sends the
        initiator's key-confirming keepalive itself when it installs a
        keypair with ``is_initiator``, runs the data timers, and asks for
        handshakes (``initiate``) when it needs one."""
        self.mode = mode_for(protocol, cipher)
        self._rng = rng
        self._jitter_rng = random.Random(int.from_bytes(rng(8), "little"))
        self.wall_offset = wall_offset
        if (wall_clock is None) == (wall_offset is None):
            raise ConfigError("give the engine one of wall_clock or wall_offset")
        self._wall_clock = wall_clock
        self.timestamps = timestamps if timestamps is not None else Timestamps()
        self.under_load = False
        self._peers: dict[bytes, PeerSession] = {}
        # (deadline, seq, session): each peer's earliest timer (PeerSession's
        # _Timer), plus entries made stale by earlier ones, skipped when popped.
        self._timers: list = []
        self.timer_visits = 0  # peers tick() looked at: those with a timer due
        self._index: dict[int, tuple[PeerSession, Handshake | Keypair]] = {}
        self._set_identity(private_key)

    # --- configuration -----------------------------------------------------

    def _set_identity(self, private_key: bytes) -> None:
        if not isinstance(private_key, (bytes, bytearray)) or len(private_key) != C.KEY_LEN:
            raise ConfigError("private key must be 32 bytes")
        self.identity = StaticIdentity(self.mode, bytes(private_key))
        self.checker = CookieChecker(self.mode, self.identity.public, self._rng)

    @property
    def protocol(self) -> Protocol:
        return self.mode.protocol

    @property
    def cipher(self) -> Cipher:
        return self.mode.cipher

    @property
    def public_key(self) -> bytes:
        return self.identity.public

    def set_private_key(self, private_key: bytes) -> None:
        """Replace the static key: every session and handshake is dropped,
        per-peer precomputations are redone, the handshake rate limit is
        lifted so the next packet handshakes at once; a peer with our own new public
        key is removed (as the kernel does)."""
        old_identity, old_checker = self.identity, self.checker
        self._set_identity(private_key)
        old_identity.zero()
        old_checker.zero()
        self._peers.pop(self.identity.public, None)
        for p in list(self._peers.values()):
            self._clear_keys(p)
            # The next packet handshakes at once under the new key, not after
            # REKEY_TIMEOUT (noise.c wg_noise_reset_last_sent_handshake).
            p.last_sent_handshake = None
            psk = bytes(p.keys.psk)
            p.keys.zero()
            p.keys = PeerKeys(self.identity, p.public_key, psk)
        self._index = {}

    def add_peer(self, public_key: bytes, *, preshared_key: bytes | None = None,
                 persistent_keepalive: int = 0, endpoint=None, now: float | None = None) -> list:
        """Add a peer. Returns events (with ``now`` and persistent keepalive
        on, a first keepalive is due, which starts a handshake)."""
        if public_key in self._peers:
            raise ConfigError("peer already exists")
        self._check_key(public_key, "public key")
        if preshared_key is not None:
            self._check_key(preshared_key, "preshared key")
        if public_key == self.identity.public:
            raise ConfigError("peer public key equals the interface's own")
        p = self._peers[bytes(public_key)] = self.Session(
            self.identity, self.mode, bytes(public_key), preshared_key,
            self._check_keepalive(persistent_keepalive), endpoint, self._timers)
        p.last_sent_timestamp, p.handshake.latest_timestamp = self.timestamps.load(p.public_key)
        if now is not None and persistent_keepalive:
            return self._keepalive_due(p, now)
        return []

    def update_peer(self, public_key: bytes, *, preshared_key=_UNSET, persistent_keepalive=_UNSET,
                    endpoint=_UNSET, now: float | None = None) -> list:
        """Change a peer at runtime. ``preshared_key=None`` removes the PSK;
        the new PSK applies from the next handshake."""
        p = self._peer(public_key)
        if preshared_key is not _UNSET:
            if preshared_key is not None:
                self._check_key(preshared_key, "preshared key")
            p.keys.psk[:] = preshared_key if preshared_key is not None else bytes(32)
        if endpoint is not _UNSET:
            p.endpoint = endpoint
        if persistent_keepalive is not _UNSET:
            old = p.persistent_keepalive
            p.persistent_keepalive = self._check_keepalive(persistent_keepalive)
            if not p.persistent_keepalive:
                self._t_persistent_keepalive_off(p)
            elif p.persistent_keepalive != old and now is not None:
                return self._keepalive_due(p, now)
        return []

    def remove_peer(self, public_key: bytes) -> None:
        """Remove a peer, overwriting its keys."""
        p = self._peer(public_key)
        self._clear_keys(p)
        p.keys.zero()
        p.cookie.zero()
        del self._peers[p.public_key]

    def forget_keypairs(self, public_key: bytes) -> None:
        """Overwrite and drop the peer's keypairs, keeping a handshake in flight.

        The kernel backend calls it when the module reports that it zeroed the
        peer's keys (KEYS_EXPIRED): the engine's copies go too, and its own
        zeroing timer has nothing left to do."""
        p = self._peer(public_key)
        for kp in (p.current, p.previous, p.next):
            self._drop_keypair(kp)
        p.current = p.previous = p.next = None
        p.t_zero_keys = None

    def peer(self, public_key: bytes) -> PeerSession:
        return self._peer(public_key)

    def peers(self) -> list[PeerSession]:
        return list(self._peers.values())

    def keypairs(self, public_key: bytes) -> dict[str, Keypair | None]:
        p = self._peer(public_key)
        return {"current": p.current, "previous": p.previous, "next": p.next}

    def next_deadline(self) -> float | None:
        """The earliest timer deadline of any peer (sleep until then), or None.

        Read off the timer heap, as tick() uses it: entries of removed peers
        or superseded by an earlier deadline are dropped, and a peer whose
        earliest timer was cancelled or moved later since its entry was made
        is put back at its real earliest one. O(log peers) amortised, however
        many peers are idle."""
        heap = self._timers
        while heap:
            deadline, _, p = heap[0]
            if deadline != p._due or self._peers.get(p.public_key) is not p:
                heapq.heappop(heap)
                continue
            rest = p.deadlines()
            first = min(rest) if rest else None
            if first == deadline:
                return deadline
            # A timer never moves earlier without a new entry (_Timer), so first > deadline.
            heapq.heappop(heap)
            p._due = first
            if first is not None:
                heapq.heappush(heap, (first, next(_timer_seq), p))
        return None

    @staticmethod
    def _check_key(key, what: str) -> None:
        if not isinstance(key, (bytes, bytearray)) or len(key) != C.KEY_LEN:
            raise ConfigError(f"{what} must be 32 bytes")

    @staticmethod
    def _check_keepalive(value) -> int:
        if not isinstance(value, int) or not 0 <= value <= 65535:
            raise ConfigError("persistent keepalive must be 0..65535 seconds")
        return value

    def _peer(self, public_key: bytes) -> PeerSession:
        try:
            return self._peers[bytes(public_key)]
        except (KeyError, TypeError):
            raise ConfigError("no such peer") from None

    # --- helpers ---------------------------------------------------------------

    def wall_time(self, now: float) -> float:
        """The real-time clock (Unix seconds); ``now`` is the monotonic one."""
        return self._wall_clock() if self._wall_clock is not None else now + self.wall_offset

    def _jitter(self) -> float:
        # Timer jitter needs no cryptographic randomness; a PRNG seeded from
        # rng spares a system call per timer.
        return C.REKEY_TIMEOUT_JITTER_MAX * self._jitter_rng.random()

    def _new_index(self, p: PeerSession, owner: Handshake | Keypair) -> int:
        while True:
            idx = int.from_bytes(self._rng(4), "little")
            if idx not in self._index:
                self._index[idx] = (p, owner)
                return idx

    def _drop_index(self, idx: int, owner) -> None:
        entry = self._index.get(idx)
        if entry is not None and entry[1] is owner:
            del self._index[idx]

    def _drop_keypair(self, kp: Keypair | None) -> None:
        if kp is not None:
            self._drop_index(kp.local_index, kp)
            kp.zero()

    def _clear_keys(self, p: PeerSession) -> None:
        for kp in (p.current, p.previous, p.next):
            self._drop_keypair(kp)
        p.current = p.previous = p.next = None
        self._drop_index(p.handshake.local_index, p.handshake)
        p.handshake.zero()

    @staticmethod
    def _usable(kp: Keypair | None, now: float) -> bool:
        return kp is not None and kp.valid and now - kp.created < C.REJECT_AFTER_TIME

    def _new_keypair(self, **fields) -> Keypair:
        """The keypair a finished handshake derived (``Keypair``'s fields)."""
        return Keypair(**fields)

    # --- what the data plane does -------------------------------------------
    # Hooks where a transport acts. Here they leave it to the data plane
    # (kernel module, userspace C plane); tests/transport_oracle.py fills them in.

    def _keepalive_due(self, p: PeerSession, now: float) -> list:
        """A keepalive is due (a peer added or its persistent keepalive
        changed). The data plane sends it; the engine makes sure there is a
        session to send it under."""
        return [] if self._usable(p.current, now) else self._send_initiation(p, now, False)

    def _confirm_keys(self, p: PeerSession, now: float) -> list:
        """The initiator consumed a response: its first packet under the new
        keypair (a keepalive if nothing waits) confirms the keys to the
        responder. The data plane sends it when it installs the keypair."""
        return []

    def _drop_staged(self, p: PeerSession) -> int:
        """The handshake gave up: drop the packets that waited for it; returns
        how many. They wait in the data plane, which drops them itself."""
        return 0

    def _receive_data(self, datagram: bytes, src, now: float) -> Received:
        """A transport data message: the data plane's. The daemons never hand
        one to the engine; a caller that does has it refused."""
        raise MessageError("a transport data message: the data plane takes these, not the handshake engine")

    # timers.c's event hooks. The first four serve the data timers (the data
    # plane's), so they do nothing here.
    def _t_any_sent(self, p: PeerSession) -> None:
        pass

    def _t_any_received(self, p: PeerSession) -> None:
        pass

    def _t_traversal(self, p: PeerSession, now: float) -> None:
        pass

    def _t_persistent_keepalive_off(self, p: PeerSession) -> None:
        pass

    def _t_handshake_complete(self, p: PeerSession, now: float) -> list:
        p.t_retransmit = None
        p.handshake_attempts = 0
        p.last_handshake = self.wall_time(now)
        return [HandshakeCompleted(p.public_key, p.last_handshake)]

    def _t_session_derived(self, p: PeerSession, now: float) -> None:
        p.t_zero_keys = now + C.ZERO_KEYS_AFTER

    # --- sending --------------------------------------------------------------

    def _send_initiation(self, p: PeerSession, now: float, is_retry: bool) -> list:
        if not is_retry:
            p.handshake_attempts = 0
        if p.last_sent_handshake is not None and now - p.last_sent_handshake < C.REKEY_TIMEOUT:
            return []
        if p.keys.static_static is None:
            return []
        hs = p.handshake
        ts = tai64n(self.wall_time(now))
        if ts <= p.last_sent_timestamp:  # the clock stepped back, or stands still
            ts = tai64n_after(p.last_sent_timestamp)
        self.timestamps.record(p.public_key, ts, hs.latest_timestamp)
        p.last_sent_timestamp = ts
        p.last_sent_handshake = now
        self._drop_index(hs.local_index, hs)
        idx = self._new_index(p, hs)
        body = create_initiation(self.identity, p.keys, hs, idx, ts, self._rng)
        data = p.cookie.add_macs(body, now)
        self._t_traversal(p, now)
        self._t_any_sent(p)
        p.t_retransmit = now + C.REKEY_TIMEOUT + self._jitter()
        p.tx_bytes += len(data)
        return [Transmit(p.public_key, data, p.endpoint, "initiation")]

    def initiate(self, public_key: bytes, now: float) -> list:
        """Start a handshake now (rate-limited to one per REKEY_TIMEOUT)."""
        return self._send_initiation(self._peer(public_key), now, False)

    # --- receiving ------------------------------------------------------------

    def receive(self, datagram: bytes, src, now: float) -> Received:
        """Process one handshake message or cookie reply from ``src`` (an
        address tuple, opaque except for cookies). Returns a :class:`Received`;
        raises a :class:`~sswctl.protocol.errors.ProtocolError` subclass when
        the datagram is dropped (its ``reason`` names the counter), as every
        transport data message is (``_receive_data``)."""
        mode = self.mode
        t = message_type(datagram, mode)
        if t == mode.type_data:
            return self._receive_data(datagram, src, now)
        if t == mode.type_initiation:
            return self._receive_initiation(datagram, src, now)
        if t == mode.type_response:
            return self._receive_response(datagram, src, now)
        return self._receive_cookie(datagram, now)

    def _check_macs(self, raw: bytes, sender: int, src, now: float) -> Received | None:
        """mac1 always; under load, demand mac2 or answer with a cookie."""
        state = self.checker.validate(raw, src, now, self.under_load)
        if state is MacState.INVALID_MAC:
            raise MacError("mac1 did not verify")
        if self.under_load and state is not MacState.VALID_MAC_WITH_COOKIE:
            reply = self.checker.make_reply(raw, sender, src, now)
            return Received("cookie_sent", None, None, [Transmit(None, reply, src, "cookie")])
        return None

    def _receive_initiation(self, datagram: bytes, src, now: float) -> Received:
        msg = parse_initiation(datagram, self.mode)
        cookie = self._check_macs(msg.raw, msg.sender, src, now)
        if cookie is not None:
            return cookie
        # Everything that can refuse the message runs first (check_initiation
        # includes the ML-KEM key); the timestamp is stored before any state
        # changes, so a refused message leaves the engine as it was.
        checked = check_initiation(self.identity, msg, self._peers.get, now)
        p: PeerSession = checked.session
        self.timestamps.record(p.public_key, p.last_sent_timestamp, checked.timestamp)
        checked.commit()
        p.rx_bytes += len(datagram)
        p.endpoint = src
        self._t_any_received(p)
        self._t_traversal(p, now)
        hs = p.handshake
        self._drop_index(hs.local_index, hs)
        idx = self._new_index(p, hs)
        body = create_response(self.identity, p.keys, hs, idx, self._rng)
        data = p.cookie.add_macs(body, now)
        kp = self._begin_session(p, now)
        self._t_traversal(p, now)
        self._t_any_sent(p)
        p.tx_bytes += len(data)
        return Received("initiation", p.public_key, None,
                        [Transmit(p.public_key, data, src, "response"), KeypairCreated(p.public_key, kp)])

    def _receive_response(self, datagram: bytes, src, now: float) -> Received:
        msg = parse_response(datagram, self.mode)
        cookie = self._check_macs(msg.raw, msg.sender, src, now)
        if cookie is not None:
            return cookie
        entry = self._index.get(msg.receiver)
        if entry is None or not isinstance(entry[1], Handshake):
            raise UnknownIndexError("response for no pending handshake")
        p = entry[0]
        try:
            consume_response(self.identity, p.keys, p.handshake, msg)
        except ProtocolError as e:
            e.peer = p.public_key
            raise
        p.rx_bytes += len(datagram)
        p.endpoint = src
        self._t_any_received(p)
        self._t_traversal(p, now)
        kp = self._begin_session(p, now)
        events: list = [KeypairCreated(p.public_key, kp)]
        events += self._t_handshake_complete(p, now)
        events += self._confirm_keys(p, now)
        return Received("response", p.public_key, None, events)

    def _receive_cookie(self, datagram: bytes, now: float) -> Received:
        reply = parse_cookie_reply(datagram, self.mode)
        entry = self._index.get(reply.receiver)
        if entry is None:
            raise UnknownIndexError("cookie reply for no known index")
        p = entry[0]
        try:
            p.cookie.consume_reply(reply, now)
        except ProtocolError as e:
            e.peer = p.public_key
            raise
        return Received("cookie", p.public_key)

    def _begin_session(self, p: PeerSession, now: float) -> Keypair:
        """Derive the keypair from the finished handshake and slot it in
        (noise.c: wg_noise_handshake_begin_session / add_new_keypair)."""
        hs = p.handshake
        send, recv, is_initiator = derive_transport_keys(hs)
        kp = self._new_keypair(cipher=self.mode.cipher, send_key=send, receive_key=recv,
                               local_index=hs.local_index, remote_index=hs.remote_index,
                               is_initiator=is_initiator, created=now)
        self._index[kp.local_index] = (p, kp)  # the keypair takes over the handshake's index
        hs.local_index = 0
        hs.zero()
        if is_initiator:
            if p.next is not None:
                self._drop_keypair(p.previous)
                p.previous, p.next = p.next, None
                self._drop_keypair(p.current)
            else:
                self._drop_keypair(p.previous)
                p.previous = p.current
            p.current = kp
        else:
            self._drop_keypair(p.next)
            p.next = kp
            self._drop_keypair(p.previous)
            p.previous = None
        self._t_session_derived(p, now)
        return kp

    # --- timers -----------------------------------------------------------------

    def tick(self, now: float) -> list:
        """Fire every timer due at ``now``; returns the resulting events. Costs
        the peers with a timer due, not all of them: 100,000 idle peers cost
        nothing. A timer a firing sets to ``now`` or earlier fires next tick."""
        heap = self._timers
        due = []
        while heap and heap[0][0] <= now:
            deadline, _, p = heapq.heappop(heap)
            if deadline == p._due and self._peers.get(p.public_key) is p:
                p._due = None
                due.append(p)
        events: list = []
        for p in due:
            self.timer_visits += 1
            events += self._fire(p, now)
            rest = p.deadlines()
            first = min(rest) if rest else None
            if first is not None and (p._due is None or first < p._due):
                p._due = first
                heapq.heappush(heap, (first, next(_timer_seq), p))
        return events

    def _fire(self, p: PeerSession, now: float) -> list:
        """The timers of ``p`` due at ``now``, in the order ``p.timers`` names them."""
        events: list = []
        for name in p.timers:
            deadline = getattr(p, "t_" + name)
            if deadline is not None and deadline <= now:
                setattr(p, "t_" + name, None)
                events += getattr(self, "_expired_" + name)(p, now)
        return events

    # The timers' handlers (kernel timers.c's wg_expired_*).

    def _expired_retransmit(self, p: PeerSession, now: float) -> list:
        if p.handshake_attempts > C.MAX_TIMER_HANDSHAKES:
            events: list = [HandshakeGaveUp(p.public_key, self._drop_staged(p))]
            if p.t_zero_keys is None:
                p.t_zero_keys = now + C.ZERO_KEYS_AFTER
            return events
        p.handshake_attempts += 1
        return self._send_initiation(p, now, True)

    def _expired_zero_keys(self, p: PeerSession, now: float) -> list:
        self._clear_keys(p)
        return [KeysZeroed(p.public_key)]
