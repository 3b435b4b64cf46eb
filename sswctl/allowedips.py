"""Allowed-IPs: longest-prefix match from an address to the peer that owns it.

WireGuard routes an outgoing packet to the peer whose allowed IPs hold the
longest prefix matching the destination, and accepts an incoming packet only
if the longest prefix matching its inner source belongs to the peer that sent
it (cryptokey routing). Each prefix has exactly one owner: inserting a prefix
another peer holds moves it.

The structure is one hash table per prefix length and family, keyed by the
address shifted right to that length. A lookup probes the lengths in use from
the longest down, so it costs at most 33 (v4) or 129 (v6) dictionary probes
and in practice as many as there are distinct lengths configured (usually a
handful). That is the "equivalent" of the kernel's binary trie in
drivers/net/wireguard/allowedips.c with a far smaller constant in Python.

Owners are any hashable objects (the daemon uses its per-peer state).
Per-owner lists keep insertion order, which is the order ``wg show`` prints.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Hashable, Iterator

from .model import IPNetwork

_BITS = {4: 32, 6: 128}
_NETWORK_TYPES = (ipaddress.IPv4Network, ipaddress.IPv6Network)


class _Family:
    __slots__ = ("bits", "lengths", "tables")

    def __init__(self, bits: int):
        self.bits = bits
        # prefix length -> {address >> (bits - length): owner}
        self.tables: dict[int, dict[int, Hashable]] = {}
        # lengths with at least one entry, longest first
        self.lengths: list[int] = []

    def put(self, length: int, key: int, owner: Hashable) -> Hashable | None:
        table = self.tables.get(length)
        if table is None:
            table = self.tables[length] = {}
            self.lengths.append(length)
            self.lengths.sort(reverse=True)
        old = table.get(key)
        table[key] = owner
        return old

    def pop(self, length: int, key: int) -> Hashable | None:
        table = self.tables.get(length)
        if table is None:
            return None
        owner = table.pop(key, None)
        if not table:
            del self.tables[length]
            self.lengths.remove(length)
        return owner

    def match(self, value: int) -> Hashable | None:
        bits = self.bits
        tables = self.tables
        for length in self.lengths:
            owner = tables[length].get(value >> (bits - length))
            if owner is not None:
                return owner
        return None


def _split(network: IPNetwork) -> tuple[int, int, int]:
    """(version, prefix length, key) of a network, host bits ignored."""
    bits = _BITS[network.version]
    length = network.prefixlen
    return network.version, length, int(network.network_address) >> (bits - length)


class AllowedIPs:
    """Longest-prefix table for IPv4 and IPv6 allowed IPs."""

    def __init__(self) -> None:
        self._fam = {4: _Family(32), 6: _Family(128)}
        # owner -> {network: None}, an ordered set in insertion order
        self._by_owner: dict[Hashable, dict[IPNetwork, None]] = {}

    def __len__(self) -> int:
        return sum(len(nets) for nets in self._by_owner.values())

    def insert(self, network: IPNetwork, owner: Hashable) -> None:
        """Give ``network`` to ``owner``, taking it from any previous owner."""
        if owner is None:
            raise ValueError("owner must not be None")
        if not isinstance(network, _NETWORK_TYPES):
            network = ipaddress.ip_network(network, strict=False)
        version, length, key = _split(network)
        old = self._fam[version].put(length, key, owner)
        if old is not None and old != owner:
            self._forget(old, network)
        self._by_owner.setdefault(owner, {})[network] = None

    def remove(self, network: IPNetwork) -> Hashable | None:
        """Drop one prefix; returns the owner it had, or None."""
        if not isinstance(network, _NETWORK_TYPES):
            network = ipaddress.ip_network(network, strict=False)
        version, length, key = _split(network)
        owner = self._fam[version].pop(length, key)
        if owner is not None:
            self._forget(owner, network)
        return owner

    def remove_by_owner(self, owner: Hashable) -> None:
        """Drop every prefix ``owner`` holds."""
        for network in self._by_owner.pop(owner, {}):
            version, length, key = _split(network)
            self._fam[version].pop(length, key)

    def list_by_owner(self, owner: Hashable) -> list[IPNetwork]:
        """The prefixes ``owner`` holds, in the order they were inserted."""
        return list(self._by_owner.get(owner, ()))

    def owners(self) -> Iterator[Hashable]:
        return iter(list(self._by_owner))

    def clear(self) -> None:
        self.__init__()

    def lookup(self, address: bytes) -> Hashable | None:
        """Owner of the longest prefix holding a packed 4- or 16-byte address."""
        n = len(address)
        if n == 4:
            return self._fam[4].match(int.from_bytes(address, "big"))
        if n == 16:
            return self._fam[6].match(int.from_bytes(address, "big"))
        raise ValueError(f"address must be 4 or 16 bytes, not {n}")

    def lookup_ip(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Hashable | None:
        return self._fam[address.version].match(int(address))

    def _forget(self, owner: Hashable, network: IPNetwork) -> None:
        nets = self._by_owner.get(owner)
        if nets is not None:
            nets.pop(network, None)
            if not nets:
                del self._by_owner[owner]


def packet_addresses(packet: bytes | memoryview) -> tuple[bytes, bytes] | None:
    """(source, destination) of an IPv4 or IPv6 packet, or None if it is neither.

    Only the fixed header is checked: enough to route and to verify the inner
    source. A packet shorter than its fixed header yields None.
    """
    if not packet:
        return None
    version = packet[0] >> 4
    if version == 4 and len(packet) >= 20:
        return bytes(packet[12:16]), bytes(packet[16:20])
    if version == 6 and len(packet) >= 40:
        return bytes(packet[8:24]), bytes(packet[24:40])
    return None
