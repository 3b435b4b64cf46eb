"""What the engine hands back: events for the caller to act on (send a
datagram, install a keypair, log a handshake) and the outcome of a receive.
Plain frozen records; the engine never performs I/O itself."""

from __future__ import annotations

from dataclasses import dataclass, field

from .keypair import Keypair


@dataclass(frozen=True)
class Transmit:
    """Send ``data`` as one UDP datagram.

    ``dest`` is where to send it: the source address of the datagram being
    answered, else the peer's last authenticated source address, else None
    (the caller uses the peer's configured endpoint; with none, it cannot send).
    ``kind``: "initiation", "response" or "cookie" ("data" and "keepalive"
    come from the tests' transport oracle only).
    """

    peer: bytes | None
    data: bytes
    dest: object
    kind: str


@dataclass(frozen=True)
class KeypairCreated:
    """A handshake derived a new keypair: install it into the data plane.

    ``keypair`` is the live :class:`~sswctl.protocol.keypair.Keypair`; see its
    ``local_index``, ``remote_index``, ``send_key``, ``receive_key``,
    ``cipher``, ``is_initiator``, ``created``.
    """

    peer: bytes
    keypair: Keypair


@dataclass(frozen=True)
class HandshakeCompleted:
    """The initiator consumed a response: its keys are confirmed. (A
    responder's keys are confirmed by the first data packet under them,
    which the data plane sees.)"""

    peer: bytes
    wall_time: float


@dataclass(frozen=True)
class HandshakeGaveUp:
    """No response after MAX_TIMER_HANDSHAKES retries. The packets waiting for
    the handshake wait in the data plane, which drops them; ``dropped_packets``
    counts those the engine held (none; the transport oracle holds some)."""

    peer: bytes
    dropped_packets: int


@dataclass(frozen=True)
class KeysZeroed:
    """3 x REJECT_AFTER_TIME after the last session: all keys overwritten."""

    peer: bytes


Event = Transmit | KeypairCreated | HandshakeCompleted | HandshakeGaveUp | KeysZeroed


@dataclass
class Received:
    """Outcome of :meth:`Engine.receive` for an accepted datagram.

    ``kind``: "initiation", "response", "cookie" (a cookie reply consumed)
    or "cookie_sent" (under load: we answered a handshake message with a
    cookie reply instead of processing it). The transport oracle adds "data"
    and "keepalive", with the inner IP packet in ``packet``.
    """

    kind: str
    peer: bytes | None
    packet: bytes | None = None
    events: list = field(default_factory=list)
