"""The native plane's allowed-IPs trie and peer tables, changed in place.

The trie (sswctl/_datapath/allowedips.c) is checked against a reference model
(tests/allowedips_oracle.py) over random sequences of sets, peer removals and
lookups, v4 and v6 mixed; the cost of one change is checked by the work
counter the C side keeps (trie nodes and hash entries visited by control
calls), which must not grow with the number of peers.
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from sswctl import datapath
from sswctl.protocol.constants import WG_TYPE_DATA
from tests.allowedips_oracle import AllowedIPsOracle

if datapath.native is None:  # the build is part of `make venv`; its absence is a failure here
    pytest.fail("sswctl._datapath did not build", pytrace=False)

# Prefixes drawn from small clusters, so they nest, collide and share paths.
_v4 = st.tuples(st.sampled_from([0x0A000000, 0x0A000100, 0xC0A80000, 0]), st.integers(0, 0x1FF),
                st.integers(0, 32)).map(lambda t: ipaddress.ip_network((t[0] | t[1], t[2]), strict=False))
_v6 = st.tuples(st.sampled_from([0xFD00 << 112, (0xFD00 << 112) | (1 << 64), 0x2001_0DB8 << 96]),
                st.integers(0, 0x3FF), st.integers(0, 128)).map(
    lambda t: ipaddress.ip_network((t[0] | t[1], t[2]), strict=False))
_prefix = st.one_of(_v4, _v6)
_addr = st.one_of(_v4, _v6).map(lambda n: n.network_address)


class TrieMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dp = datapath.Datapath(WG_TYPE_DATA)
        self.model = AllowedIPsOracle()
        self.peers: set = set()

    @rule(peer=st.integers(0, 7), nets=st.lists(_prefix, max_size=6))
    def set_allowed_ips(self, peer, nets):
        if peer not in self.peers:
            self.dp.set_peer(peer)
            self.peers.add(peer)
        self.dp.set_allowed_ips(peer, nets)
        self.model.set(peer, nets)

    @rule(peer=st.integers(0, 7))
    def remove_peer(self, peer):
        if peer in self.peers:
            self.dp.remove_peer(peer)
            self.peers.discard(peer)
            self.model.remove_peer(peer)

    @rule(addr=_addr)
    def lookup(self, addr):
        assert self.dp.route(addr) == self.model.lookup(addr), addr

    @invariant()
    def every_prefix_still_routes(self):
        # Most specific wins, and no change disturbed a prefix it did not name:
        # each prefix's first and last address go where the model says.
        for net in self.model.owner:
            for addr in (net.network_address, net.broadcast_address):
                assert self.dp.route(addr) == self.model.lookup(addr), (net, addr)


TrieMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
test_trie_matches_the_reference_model = TrieMachine.TestCase


def _populate(dp: datapath.Datapath, n: int) -> None:
    for i in range(n):
        dp.set_peer(i)
        dp.set_allowed_ips(i, [f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}/32", f"fd00::{i:x}/128"])


def _one_change_work(dp: datapath.Datapath, peer: int) -> int:
    """Work to add a peer with a v4 /32 and a v6 /128, look it up, move one
    prefix to another peer, then remove it."""
    before = dp.control_work()
    dp.set_peer(peer)
    dp.set_allowed_ips(peer, ["10.255.0.1/32", "fd00:ffff::1/128", "10.0.0.0/32"])
    dp.set_endpoint(peer, ("192.0.2.1", 51820))
    dp.remove_keypair(peer)
    dp.remove_peer(peer)
    return dp.control_work() - before


def test_one_change_costs_the_same_at_1k_and_10k_peers():
    """The cost of adding, changing and removing one peer does not depend on
    how many there are: the same count of trie nodes and hash entries at 1,000
    and at 10,000 peers (a scan of the peers would be 10x; the bound allows
    the trie to be a few levels deeper, log2(10) of them, and nothing more)."""
    small, large = datapath.Datapath(WG_TYPE_DATA), datapath.Datapath(WG_TYPE_DATA)
    _populate(small, 1000)
    _populate(large, 10000)
    w_small = _one_change_work(small, 10**6)
    w_large = _one_change_work(large, 10**6)
    assert 0 < w_small and w_large <= w_small + 3 * 4 * 2, (w_small, w_large)
    # and what was not named is untouched
    assert large.route("10.0.0.0") is None and large.route("10.0.39.15") == 9999
    assert large.route("fd00::270f") == 9999 and large.route("fd00::1") == 1


def _with(dp, peer, *nets) -> None:
    dp.set_peer(peer)
    dp.set_allowed_ips(peer, nets)


def test_the_more_specific_prefix_wins_and_the_wider_one_takes_over_when_it_goes():
    dp = datapath.Datapath(WG_TYPE_DATA)
    _with(dp, "wide", "10.0.0.0/8")
    _with(dp, "narrow", "10.1.2.0/24")
    assert dp.route("10.1.2.3") == "narrow" and dp.route("10.9.9.9") == "wide"
    assert dp.route("11.0.0.1") is None
    dp.set_allowed_ips("narrow", [])
    assert dp.route("10.1.2.3") == "wide"


def test_a_prefix_set_on_another_peer_moves_to_it():
    dp = datapath.Datapath(WG_TYPE_DATA)
    _with(dp, "a", "fd00::/64")
    _with(dp, "b", "fd00::/64")
    assert dp.route("fd00::1") == "b"
    dp.remove_peer("b")  # a lost it for good: it does not come back
    assert dp.route("fd00::1") is None


def test_default_routes_stay_in_their_family():
    dp = datapath.Datapath(WG_TYPE_DATA)
    _with(dp, "v4", "0.0.0.0/0")
    assert dp.route("::") is None and dp.route("0.0.0.0") == "v4"
    _with(dp, "v6", "::/0")
    assert dp.route("::") == "v6" and dp.route("255.255.255.255") == "v4"


def test_peer_table_survives_growth_and_removal():
    """Peers found by id through table doublings and swap-removals."""
    dp = datapath.Datapath(WG_TYPE_DATA)
    _populate(dp, 3000)
    for i in range(0, 3000, 3):
        dp.remove_peer(i)
    for i in range(3000):
        want = None if i % 3 == 0 else i
        assert dp.route(f"10.0.{(i >> 8) & 255}.{i & 255}") == want
        if i % 3:
            dp.clear_source(i)  # found by id
        else:
            with pytest.raises(KeyError):
                dp.clear_source(i)
    assert len(dp.stats()["peers"]) == 2000


def test_siphash_reference_vector():
    """SipHash-2-4 (the tables' keyed hash), the reference implementation's
    vector for the 8-byte message 00..07 under key 00..0f."""
    k0 = int.from_bytes(bytes(range(8)), "little")
    k1 = int.from_bytes(bytes(range(8, 16)), "little")
    got = datapath.native.siphash(k0, k1, int.from_bytes(bytes(range(8)), "little"))
    assert got.to_bytes(8, "little") == bytes.fromhex("6224939a79f5f593")
