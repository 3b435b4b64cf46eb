"""SecureSwift handshake engine: WireGuard-exact and ML-KEM-768 hybrid
handshakes, cookies and the handshake's timers, as a sans-I/O library.

The engine negotiates keypairs and hands each one over (``KeypairCreated``);
the data plane (the kernel module, or the userspace backend's C plane,
sswctl._datapath) installs it and carries every transport packet: counters,
replay window, keepalives and the data timers are its own. The engine takes
handshake messages and cookie replies; a transport data message given to
``receive`` is refused (``MessageError``).

No sockets, threads, sleeps or clock reads inside: the caller passes ``now``
(monotonic seconds, float) to every call and a real-time clock function
(``wall_clock``) at construction, and does the I/O that the returned events
ask for. The byte layouts and the key schedule are in docs/protocol.md.

Driving it (what the daemons do)::

    import os, time
    from sswctl.protocol import Engine, Transmit, KeypairCreated, ProtocolError

    eng = Engine(private_key, "secureswift", "chacha20-poly1305", wall_clock=time.time)
    eng.add_peer(peer_pub, preshared_key=psk, persistent_keepalive=25,
                 endpoint=("192.0.2.1", 51820))

    # a handshake message the data plane handed up
    try:
        r = eng.receive(payload, src_addr, time.monotonic())
    except ProtocolError as e:
        drops[e.reason] += 1          # typed, never contains key material
    else:
        handle(r.events)

    # the data plane has packets for peer_pub and no usable keypair, or wants a rekey
    handle(eng.initiate(peer_pub, time.monotonic()))

    # timers: sleep until eng.next_deadline(), then
    handle(eng.tick(time.monotonic()))

    def handle(events):
        for ev in events:
            if isinstance(ev, KeypairCreated):    # first: the peer's next packet needs it
                data_plane.install_keypair(ev.peer, ev.keypair)
        for ev in events:
            if isinstance(ev, Transmit):          # initiation/response/cookie
                sock.sendto(ev.data, ev.dest or configured_endpoint(ev.peer))

Engine API (stable):

- ``Engine(private_key, protocol="secureswift", cipher=None, *, wall_clock | wall_offset,
  timestamps=None, rng=os.urandom)``
  ``wall_clock()`` is read for every initiation's TAI64N timestamp, which
  never goes below the last one sent to that peer (a clock stepped back sends
  one rounding step above it); ``wall_offset`` (wall = ``now + wall_offset``)
  is for tests on a synthetic clock. ``timestamps`` is a :class:`Timestamps`
  store (per peer: last sent, greatest accepted) that the engine reads when a
  peer is added and writes before it uses a new value; the daemon's survives
  restarts (sswctl/daemon/stamps.py).
  ``protocol``/``cipher`` take :class:`sswctl.model.Protocol` / ``Cipher`` or
  their string values; AES-256-GCM is secureswift-only (``ConfigError``).
- ``add_peer(pub, *, preshared_key=None, persistent_keepalive=0, endpoint=None, now=None) -> events``
  (with ``now`` and a persistent keepalive, a handshake starts: the data
  plane's first keepalive needs a session)
- ``update_peer(pub, *, preshared_key=..., persistent_keepalive=..., endpoint=..., now=None) -> events``
  (only the given fields change; ``preshared_key=None`` clears the PSK)
- ``remove_peer(pub)``; ``set_private_key(key)`` (drops all sessions);
  ``forget_keypairs(pub)`` (the data plane zeroed that peer's keys; a handshake in flight stays)
- ``receive(datagram, src, now) -> Received`` (``kind``, ``peer``, ``events``)
  or raises a ``ProtocolError`` subclass: ``reason`` is a short token for
  drop counters, ``peer`` the public key it was attributed to (or None when
  the datagram never got that far)
- ``initiate(pub, now) -> events`` (rate-limited to one per REKEY_TIMEOUT)
- ``tick(now) -> events``; ``next_deadline() -> float | None``
- ``under_load`` (bool, set by the caller): handshake messages without a
  valid mac2 are answered with a cookie reply instead of being processed
- ``peer(pub) -> PeerSession`` (``endpoint``, ``last_handshake`` wall time,
  ``rx_bytes``, ``tx_bytes`` of handshake messages, ``current``/``previous``/``next``
  keypairs); ``keypairs(pub) -> {"current"|"previous"|"next": Keypair | None}``
- ``public_key``, ``protocol``, ``cipher``, ``mode``

Events (events.py, their own module): :class:`Transmit` (peer, data, dest, kind), :class:`KeypairCreated`
(peer, keypair), :class:`HandshakeCompleted` (peer, wall_time),
:class:`HandshakeGaveUp` (peer, dropped_packets), :class:`KeysZeroed` (peer).

A :class:`Keypair` holds ``local_index``, ``remote_index``, ``send_key``,
``receive_key`` (bytearrays), ``cipher``, ``is_initiator``, ``created``,
``valid`` and ``info()``: what a data plane installs. The engine never
encrypts with it. The Python reference transport the tests compare the data
planes with is tests/transport_oracle.py, not part of this package.
"""

from .constants import *  # noqa: F403
from .engine import Engine, PeerSession, Timestamps
from .errors import (
    ConfigError,
    DecryptError,
    ExpiredError,
    MacError,
    MessageError,
    ProtocolError,
    RateLimitedError,
    ReplayError,
    UnknownIndexError,
    UnknownPeerError,
    WrongProtocolError,
)
from .events import Event, HandshakeCompleted, HandshakeGaveUp, KeypairCreated, KeysZeroed, Received, Transmit
from .keypair import Keypair
from .modes import Mode, mode_for

__all__ = [
    "ConfigError", "DecryptError", "Engine", "Event", "ExpiredError", "HandshakeCompleted",
    "HandshakeGaveUp", "Keypair", "KeypairCreated", "KeysZeroed", "MacError", "MessageError",
    "Mode", "PeerSession", "ProtocolError", "RateLimitedError", "Received", "ReplayError",
    "Timestamps", "Transmit", "UnknownIndexError", "UnknownPeerError", "WrongProtocolError",
    "mode_for",
]
