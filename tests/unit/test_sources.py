"""Sticky sources (sswctl/daemon/sources.py): WireGuard's rules as pure bookkeeping."""

from __future__ import annotations

from sswctl.daemon.sources import Sources

A, B = b"a" * 32, b"b" * 32
EP_A, EP_B = ("192.0.2.1", 51820), ("2001:db8::2", 51820, 0, 0)


def test_a_peer_is_answered_from_the_address_it_wrote_to_at_that_endpoint_only():
    s = Sources()
    assert s.source_for(A, EP_A) is None
    assert s.learn(A, EP_A, "198.51.100.7") == "198.51.100.7"
    assert s.source_for(A, EP_A) == "198.51.100.7"
    assert s.source_for(A, ("192.0.2.9", 51820)) is None  # it moved: routing picks
    assert s.learn(A, EP_A, None) is None  # a datagram without a known local address
    assert s.source_for(A, EP_A) is None


def test_a_refused_local_address_is_forgotten_by_every_peer():
    s = Sources()
    s.learn(A, EP_A, "198.51.100.7")
    s.learn(B, EP_B, "198.51.100.7")
    s.learn(b"c" * 32, EP_A, "198.51.100.8")
    s.forget_local("198.51.100.7")
    assert (s.source_for(A, EP_A), s.source_for(B, EP_B)) == (None, None)
    assert s.source_for(b"c" * 32, EP_A) == "198.51.100.8"
    s.forget(b"c" * 32)
    assert s.source_for(b"c" * 32, EP_A) is None


def test_a_routing_change_drops_sources_routing_no_longer_sends_by_and_keeps_them_dropped():
    s = Sources()
    s.learn(A, EP_A, "198.51.100.7")
    s.learn(B, EP_B, "2001:db8:1::1")
    routes = {EP_A: 3, EP_B: 4}  # the interface routing now sends each endpoint out of
    asked = []

    def route_oif(dest, source):
        asked.append((dest, source))
        return routes[dest]

    held = [(A, EP_A, "198.51.100.7", 2), (B, EP_B, "2001:db8:1::1", 4),
            (b"c" * 32, EP_A, None, 2), (b"d" * 32, None, "198.51.100.7", 2), (b"e" * 32, EP_A, "x", 0)]
    assert s.recheck(held, route_oif) == [(A, "198.51.100.7")]
    assert asked == [(EP_A, "198.51.100.7"), (EP_B, "2001:db8:1::1")]  # only complete entries
    assert s.source_for(A, EP_A) is None and s.source_for(B, EP_B) == "2001:db8:1::1"
    # A datagram A sent to the dropped address before it heard from the new one:
    # not sticky again; another address is.
    assert s.learn(A, EP_A, "198.51.100.7") is None and s.source_for(A, EP_A) is None
    assert s.learn(A, EP_A, "198.51.100.9") == "198.51.100.9"
    # The next check starts afresh: the old address may be learned again.
    assert s.recheck([], route_oif) == []
    assert s.learn(A, EP_A, "198.51.100.7") == "198.51.100.7"


def test_clear_forgets_every_peer():
    s = Sources()
    s.learn(A, EP_A, "198.51.100.7")
    s.learn(B, EP_B, "2001:db8:1::1")
    s.clear()
    assert (s.source_for(A, EP_A), s.source_for(B, EP_B)) == (None, None)
