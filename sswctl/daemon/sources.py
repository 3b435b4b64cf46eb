"""Sticky sources: which of our addresses a peer is answered from.

A multihomed server answers each peer from the local address the peer last
wrote to, so that a client which dialled one of the server's addresses hears
back from that address (WireGuard: socket.c's per-endpoint src4/src6). Per
peer this keeps (the peer's endpoint, our local address it wrote to). The
userspace daemon's handshake messages take their source from here; the data
plane keeps its own copy for data, which the daemon keeps in step
(sswctl/daemon/core.py). WireGuard's rules, all here:

- every authenticated datagram from the peer sets it (handshake messages here,
  data in the data plane, which reports the change as an ``endpoint`` event);
- a handshake retransmit clears it, in case it is what goes wrong;
- a local address the kernel refuses as a source (it is gone) is forgotten
  for every peer;
- after a routing change a source stays only while routing still sends to the
  peer out of the interface the source arrived on (the src_if4 rule); a
  datagram already in flight to the dropped address must not make it sticky
  again.

No I/O: the daemon passes in what routing says (``route_oif``) and performs
what the answers imply on the data plane.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable


class Sources:
    """Per peer (by public key): (its endpoint, our local address) or nothing."""

    def __init__(self) -> None:
        self._src: dict[bytes, tuple[tuple, str]] = {}
        # Per peer, the source the last routing check dropped.
        self._unfit: dict[bytes, str] = {}

    def learn(self, key: bytes, endpoint: tuple, local: str | None) -> str | None:
        """An authenticated datagram from ``endpoint`` to our ``local``. Returns
        the source the peer now has: ``local``, or None when there is none or
        routing just moved away from it (the caller then clears the data
        plane's copy too)."""
        if local is not None and self._unfit.get(key) == local:
            local = None
        if local is None:
            self._src.pop(key, None)
        else:
            self._src[key] = (endpoint, local)
        return local

    def source_for(self, key: bytes, dest: tuple) -> str | None:
        """The local address sends to ``key`` at ``dest`` leave from, or None (routing picks)."""
        s = self._src.get(key)
        return s[1] if s is not None and s[0] == dest else None

    def forget(self, key: bytes) -> None:
        """``key`` has no source (removed, a new endpoint configured, a retransmit)."""
        self._src.pop(key, None)

    def forget_local(self, local: str) -> None:
        """The kernel refused ``local`` as a source: no peer keeps it."""
        for key in [k for k, s in self._src.items() if s[1] == local]:
            del self._src[key]

    def clear(self) -> None:
        self._src.clear()

    def recheck(self, peers: Iterable[tuple[bytes, tuple | None, str | None, int]],
                route_oif: Callable[[tuple, str], int | None]) -> list[tuple[bytes, str]]:
        """Routing changed. ``peers``: (key, endpoint, source, the index of the
        interface that source's datagrams arrived on), as the data plane holds
        them. Returns the (key, source) pairs to drop, already dropped here and
        remembered as unfit until the next check."""
        self._unfit = {}
        dropped = []
        for key, endpoint, source, ifindex in peers:
            if source is None or not ifindex or endpoint is None:
                continue
            if route_oif(endpoint, source) != ifindex:
                self._src.pop(key, None)
                self._unfit[key] = source
                dropped.append((key, source))
        return dropped
