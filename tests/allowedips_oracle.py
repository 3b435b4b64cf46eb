"""A reference model of WireGuard's allowed-IPs, for tests only: a plain dict
prefix -> owner, searched exhaustively. Slow and obviously right, so the
data planes' tries can be checked against it."""

from __future__ import annotations

import ipaddress
from collections.abc import Hashable, Iterable


class AllowedIPsOracle:
    def __init__(self) -> None:
        self.owner: dict = {}  # network -> peer

    def set(self, peer: Hashable, networks: Iterable) -> None:
        """Replace ``peer``'s prefixes; a prefix another peer held moves to it."""
        for net in [n for n, p in self.owner.items() if p == peer]:
            del self.owner[net]
        for net in networks:
            self.owner[ipaddress.ip_network(net, strict=False)] = peer

    def remove_peer(self, peer: Hashable) -> None:
        self.set(peer, [])

    def lookup(self, address) -> Hashable | None:
        """The owner of the longest prefix holding ``address``."""
        addr = ipaddress.ip_address(address)
        best = max((n for n in self.owner if n.version == addr.version and addr in n),
                   key=lambda n: n.prefixlen, default=None)
        return None if best is None else self.owner[best]
