"""Helpers shared by the protocol tests: engine pairs and a full handshake.

The pairs are the transport oracle's engines (tests/transport_oracle.py): the
package's handshake engine with WireGuard's transport in Python on top."""

from __future__ import annotations

import random

from sswctl.protocol import Transmit
from tests.transport_oracle import TransportEngine

WALL = 1_700_000_000.0
A_ADDR = ("10.0.0.1", 51820)
B_ADDR = ("10.0.0.2", 51820)

MODES = [
    ("wireguard", "chacha20-poly1305"),
    ("secureswift", "chacha20-poly1305"),
    ("secureswift", "aes-256-gcm"),
]


def seeded_rng(seed: int):
    r = random.Random(seed)
    return lambda n: r.randbytes(n)


def ipv4_packet(payload: bytes = b"hello", src: int = 1, dst: int = 2) -> bytes:
    """A minimal IPv4 header (total length set; checksum not checked by the engine)."""
    total = 20 + len(payload)
    return (bytes([0x45, 0]) + total.to_bytes(2, "big") + bytes(5) + bytes([17]) + bytes(2)
            + bytes([10, 0, 0, src, 10, 0, 0, dst]) + payload)


def pair(protocol: str, cipher: str, psk: bytes | None = None, seed: int = 1,
         keepalive: int = 0) -> tuple[TransportEngine, TransportEngine]:
    rng_a, rng_b = seeded_rng(seed), seeded_rng(seed + 1000)
    a = TransportEngine(rng_a(32), protocol, cipher, wall_offset=WALL, rng=rng_a)
    b = TransportEngine(rng_b(32), protocol, cipher, wall_offset=WALL, rng=rng_b)
    a.add_peer(b.public_key, preshared_key=psk, persistent_keepalive=keepalive, endpoint=B_ADDR)
    b.add_peer(a.public_key, preshared_key=psk, persistent_keepalive=keepalive, endpoint=A_ADDR)
    return a, b


def transmits(events, kind: str | None = None) -> list[Transmit]:
    return [e for e in events if isinstance(e, Transmit) and (kind is None or e.kind == kind)]


def handshake(a: TransportEngine, b: TransportEngine, now: float) -> dict[str, bytes]:
    """A initiates, B responds, A confirms with a keepalive; returns the wire bytes."""
    init = transmits(a.initiate(b.public_key, now), "initiation")[0].data
    r = b.receive(init, A_ADDR, now)
    resp = transmits(r.events, "response")[0].data
    r = a.receive(resp, B_ADDR, now)
    confirm = transmits(r.events)[0].data
    r = b.receive(confirm, A_ADDR, now)
    assert r.kind in ("keepalive", "data")
    return {"initiation": init, "response": resp, "confirm": confirm}
