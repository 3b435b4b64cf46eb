"""Allowed-IPs longest-prefix table, checked against a naive reference."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sswctl.allowedips import AllowedIPs, packet_addresses

OWNERS = ["a", "b", "c"]


def _net(version: int, value: int, length: int):
    bits = 32 if version == 4 else 128
    cls = ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network
    value &= ((1 << bits) - 1) ^ ((1 << (bits - length)) - 1)
    return cls((value, length))


# Bias addresses toward a few shared leading bits so prefixes overlap often.
def _nets(version: int):
    bits = 32 if version == 4 else 128
    return st.builds(
        lambda hi, lo, length: _net(version, (hi << (bits - 4)) | lo, length),
        st.integers(0, 1),
        st.integers(0, (1 << (bits - 4)) - 1),
        st.integers(0, bits),
    )


def _ops(version: int):
    net = _nets(version)
    return st.lists(
        st.one_of(
            st.tuples(st.just("insert"), net, st.sampled_from(OWNERS)),
            st.tuples(st.just("remove"), net, st.none()),
            st.tuples(st.just("remove_owner"), st.none(), st.sampled_from(OWNERS)),
        ),
        max_size=40,
    )


class Naive:
    """Reference: a list of (network, owner); lookup scans everything."""

    def __init__(self):
        self.entries: dict = {}

    def insert(self, net, owner):
        self.entries.pop(net, None)
        self.entries[net] = owner

    def remove(self, net):
        return self.entries.pop(net, None)

    def remove_owner(self, owner):
        self.entries = {n: o for n, o in self.entries.items() if o != owner}

    def lookup(self, addr):
        best = None
        for net, owner in self.entries.items():
            fits = net.version == addr.version and addr in net
            if fits and (best is None or net.prefixlen > best[0].prefixlen):
                best = (net, owner)
        return best[1] if best else None

    def by_owner(self, owner):
        return [n for n, o in self.entries.items() if o == owner]


def _run(version, ops, probes):
    table, ref = AllowedIPs(), Naive()
    for op, net, owner in ops:
        if op == "insert":
            table.insert(net, owner)
            ref.insert(net, owner)
        elif op == "remove":
            assert table.remove(net) == ref.remove(net)
        else:
            table.remove_by_owner(owner)
            ref.remove_owner(owner)
    probe_addrs = [net.network_address for _, net, _ in ops if net is not None]
    cls = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    probe_addrs += [cls(p) for p in probes]
    for addr in probe_addrs:
        assert table.lookup(addr.packed) == ref.lookup(addr)
        assert table.lookup_ip(addr) == ref.lookup(addr)
    for owner in OWNERS:
        assert sorted(table.list_by_owner(owner)) == sorted(ref.by_owner(owner))
    assert len(table) == len(ref.entries)


@settings(max_examples=300, deadline=None)
@given(_ops(4), st.lists(st.integers(0, 2**32 - 1), max_size=20))
def test_v4_matches_naive_reference(ops, probes):
    _run(4, ops, probes)


@settings(max_examples=300, deadline=None)
@given(_ops(6), st.lists(st.integers(0, 2**128 - 1), max_size=20))
def test_v6_matches_naive_reference(ops, probes):
    _run(6, ops, probes)


def test_more_specific_prefix_wins_and_falls_back_on_removal():
    t = AllowedIPs()
    t.insert(ipaddress.ip_network("10.0.0.0/8"), "wide")
    t.insert(ipaddress.ip_network("10.1.2.0/24"), "narrow")
    assert t.lookup(bytes([10, 1, 2, 3])) == "narrow"
    assert t.lookup(bytes([10, 9, 9, 9])) == "wide"
    assert t.lookup(bytes([11, 0, 0, 1])) is None
    t.remove(ipaddress.ip_network("10.1.2.0/24"))
    assert t.lookup(bytes([10, 1, 2, 3])) == "wide"


def test_inserting_an_owned_prefix_moves_it():
    t = AllowedIPs()
    net = ipaddress.ip_network("fd00::/64")
    t.insert(net, "a")
    t.insert(net, "b")
    assert t.list_by_owner("a") == []
    assert t.list_by_owner("b") == [net]
    assert t.lookup(ipaddress.ip_address("fd00::1").packed) == "b"


def test_default_routes_and_family_separation():
    t = AllowedIPs()
    t.insert(ipaddress.ip_network("0.0.0.0/0"), "v4")
    assert t.lookup(bytes(16)) is None
    t.insert(ipaddress.ip_network("::/0"), "v6")
    assert t.lookup(bytes(16)) == "v6"
    assert t.lookup(bytes(4)) == "v4"


def test_list_by_owner_keeps_insertion_order():
    t = AllowedIPs()
    nets = [ipaddress.ip_network(n) for n in ("10.0.0.2/32", "fd00::/8", "10.0.0.1/32")]
    for n in nets:
        t.insert(n, "p")
    assert t.list_by_owner("p") == nets


def test_bad_address_length_is_a_typed_error():
    with pytest.raises(ValueError):
        AllowedIPs().lookup(b"\x01\x02\x03")


def test_packet_addresses_reads_v4_and_v6_headers_and_rejects_short():
    v4 = bytes([0x45, 0, 0, 20]) + bytes(8) + bytes([1, 2, 3, 4, 5, 6, 7, 8])
    assert packet_addresses(v4) == (bytes([1, 2, 3, 4]), bytes([5, 6, 7, 8]))
    v6 = bytes([0x60]) + bytes(7) + bytes(range(32))
    assert packet_addresses(v6) == (bytes(range(16)), bytes(range(16, 32)))
    assert packet_addresses(v4[:19]) is None
    assert packet_addresses(b"") is None
    assert packet_addresses(bytes([0x50]) + bytes(40)) is None
