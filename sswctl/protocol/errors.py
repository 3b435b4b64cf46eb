"""Typed errors of the protocol engine.

Every failure to accept a datagram raises a subclass of :class:`ProtocolError`;
``reason`` is a short stable token suitable for per-reason drop counters
(``PeerStatus.drops`` in the shared model).
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base class: the datagram was not accepted. Never carries key material.

    ``peer`` is the public key of the peer the datagram was attributed to
    (set when the engine got that far, for per-peer drop counters), else None.
    """

    reason = "invalid"
    peer: bytes | None = None


class MessageError(ProtocolError):
    """Truncated, oversized, wrong-type or otherwise malformed bytes (a
    transport data message is of a type the handshake engine does not take)."""

    reason = "malformed"


class WrongProtocolError(MessageError):
    """A well-formed message of the other protocol mode."""

    reason = "wrong_protocol"


class MacError(ProtocolError):
    """mac1 (or, under load, mac2) did not verify."""

    reason = "mac"


class DecryptError(ProtocolError):
    """An AEAD tag or a public value did not verify."""

    reason = "decrypt"


class UnknownPeerError(ProtocolError):
    """The static key in an initiation names no configured peer."""

    reason = "unknown_peer"


class UnknownIndexError(ProtocolError):
    """No handshake or keypair has this receiver index."""

    reason = "unknown_index"


class ReplayError(ProtocolError):
    """A replayed transport counter, a stale handshake timestamp, or a handshake
    message for a state that already moved on."""

    reason = "replay"


class RateLimitedError(ProtocolError):
    """A peer sent initiations faster than INITIATIONS_PER_SECOND."""

    reason = "flood"


class ExpiredError(ProtocolError):
    """The keypair is older than REJECT_AFTER_TIME or out of counter space.
    The data planes count this as "expired"; in Python only the tests'
    transport oracle (tests/transport_oracle.py) raises it."""

    reason = "expired"


class ConfigError(ValueError):
    """Bad arguments from the caller (key length, unknown peer, bad suite)."""
