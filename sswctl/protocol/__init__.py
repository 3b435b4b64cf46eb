"""SecureSwift protocol engine: WireGuard-exact and ML-KEM-768 hybrid handshakes,
transport crypto, cookies, replay window and timers, as a sans-I/O library.

No sockets, threads, sleeps or clock reads inside: the caller passes ``now``
(monotonic seconds, float) to every call and a real-time clock function
(``wall_clock``) at construction, and does the I/O that the returned events
ask for. The byte layouts and the key schedule are in docs/protocol.md.

Driving it (what the daemon does)::

    import os, time
    from sswctl.protocol import Engine, Transmit, KeypairCreated, ProtocolError

    eng = Engine(private_key, "secureswift", "chacha20-poly1305", wall_clock=time.time)
    eng.add_peer(peer_pub, preshared_key=psk, persistent_keepalive=25,
                 endpoint=("192.0.2.1", 51820))

    # a UDP datagram arrived
    try:
        r = eng.receive(payload, src_addr, time.monotonic())
    except ProtocolError as e:
        drops[e.reason] += 1          # typed, never contains key material
    else:
        if r.kind == "data":
            tun.write(r.packet)       # inner IP packet, padding stripped
        handle(r.events)

    # a packet from TUN routed (by allowed-ips) to peer_pub
    datagram, events = eng.encrypt(peer_pub, ip_packet, time.monotonic())
    if datagram is not None:
        sock.sendto(datagram, endpoint_of(peer_pub))
    handle(events)

    # timers: sleep until eng.next_deadline(), then
    handle(eng.tick(time.monotonic()))

    def handle(events):
        for ev in events:
            if isinstance(ev, Transmit):          # initiation/response/cookie/data/keepalive
                sock.sendto(ev.data, ev.dest or configured_endpoint(ev.peer))
            elif isinstance(ev, KeypairCreated):  # kernel backend: install ev.keypair
                ...

Engine API (stable):

- ``Engine(private_key, protocol="secureswift", cipher=None, *, wall_clock | wall_offset,
  timestamps=None, rng=os.urandom, mtu=None, handshake_only=False)``
  ``wall_clock()`` is read for every initiation's TAI64N timestamp, which
  never goes below the last one sent to that peer (a clock stepped back sends
  one rounding step above it); ``wall_offset`` (wall = ``now + wall_offset``)
  is for tests on a synthetic clock. ``timestamps`` is a :class:`Timestamps`
  store (per peer: last sent, greatest accepted) that the engine reads when a
  peer is added and writes before it uses a new value; the daemon's survives
  restarts (sswctl/daemon/stamps.py).
  ``protocol``/``cipher`` take :class:`sswctl.model.Protocol` / ``Cipher`` or
  their string values; AES-256-GCM is secureswift-only (``ConfigError``).
  ``handshake_only=True`` is the kernel backend's mode: the engine negotiates
  and reports keypairs (``KeypairCreated``) but never encrypts transport
  packets, so the kernel is the only user of a keypair's nonces; the kernel
  sends the initiator's confirming keepalive after installing the keypair.
- ``add_peer(pub, *, preshared_key=None, persistent_keepalive=0, endpoint=None, now=None) -> events``
- ``update_peer(pub, *, preshared_key=..., persistent_keepalive=..., endpoint=..., now=None) -> events``
  (only the given fields change; ``preshared_key=None`` clears the PSK)
- ``remove_peer(pub)``; ``set_private_key(key)`` (drops all sessions);
  ``forget_keypairs(pub)`` (the kernel zeroed that peer's keys; a handshake in flight stays)
- ``receive(datagram, src, now) -> Received`` (``kind``, ``peer``, ``packet``,
  ``events``) or raises a ``ProtocolError`` subclass: ``reason`` is a short
  token for drop counters, ``peer`` the public key it was attributed to (or
  None when the datagram never got that far)
- ``encrypt(pub, packet, now) -> (datagram | None, events)``; None means the
  packet was staged until a handshake completes
- ``initiate(pub, now)``, ``send_keepalive(pub, now)`` -> events
- ``tick(now) -> events``; ``next_deadline() -> float | None``
- ``under_load`` (bool, set by the caller): handshake messages without a
  valid mac2 are answered with a cookie reply instead of being processed
- ``peer(pub) -> PeerSession`` (``endpoint``, ``last_handshake`` wall time,
  ``rx_bytes``, ``tx_bytes``, ``current``/``previous``/``next`` keypairs);
  ``keypairs(pub) -> {"current"|"previous"|"next": Keypair | None}``
- ``public_key``, ``protocol``, ``cipher``, ``mode``

Events: :class:`Transmit` (peer, data, dest, kind), :class:`KeypairCreated`
(peer, keypair), :class:`HandshakeCompleted` (peer, wall_time),
:class:`HandshakeGaveUp` (peer, dropped_packets), :class:`KeysZeroed` (peer).

A :class:`Keypair` exposes ``local_index``, ``remote_index``, ``send_key``,
``receive_key`` (bytearrays), ``cipher``, ``is_initiator``, ``created``,
``send_counter`` and ``info()``; its ``encrypt``/``decrypt`` are the
transport hot path.
"""

from .constants import *  # noqa: F403
from .engine import (
    Engine,
    Event,
    HandshakeCompleted,
    HandshakeGaveUp,
    KeypairCreated,
    KeysZeroed,
    PeerSession,
    Received,
    Timestamps,
    Transmit,
)
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
from .keypair import Keypair
from .modes import Mode, mode_for
from .replay import ReplayWindow

__all__ = [
    "ConfigError", "DecryptError", "Engine", "Event", "ExpiredError", "HandshakeCompleted",
    "HandshakeGaveUp", "Keypair", "KeypairCreated", "KeysZeroed", "MacError", "MessageError",
    "Mode", "PeerSession", "ProtocolError", "RateLimitedError", "Received", "ReplayError",
    "ReplayWindow", "Timestamps", "Transmit", "UnknownIndexError", "UnknownPeerError", "WrongProtocolError",
    "mode_for",
]
