"""sswmon's data layer: rates from counter deltas, resets, history, freshness."""

from __future__ import annotations

import pytest

from sswctl.model import Device, DeviceStatus, Peer, PeerStatus
from sswmon.memory import MemorySource
from sswmon.stats import (
    FRESH,
    NEVER,
    STALE,
    Snapshot,
    Tracker,
    freshness,
    human_age,
    human_bytes,
    peer_label,
    rate,
    sparkline,
)

T0 = 1_700_000_000.0
KEY_A = bytes([1]) * 32
KEY_B = bytes([2]) * 32


def _source(**status_kw) -> MemorySource:
    a = Peer(KEY_A, name="alice", status=PeerStatus(last_handshake=T0 - 10, **status_kw))
    b = Peer(KEY_B, status=PeerStatus(last_handshake=None))
    return MemorySource([Device(name="ssw0", peers=[a, b], status=DeviceStatus())], now=T0)


def _got(name: str, *peers: Peer) -> Device:
    """A device as a get returns it (status filled)."""
    return Device(name=name, peers=list(peers), status=DeviceStatus())


def _by_key(view, key):
    return next(p for p in view.peers if p.peer.public_key == key)


def test_first_sample_has_no_rate_then_rate_is_delta_over_interval():
    src = _source()
    tr = Tracker()
    first = _by_key(tr.update(src.snapshot()), KEY_A)
    assert (first.rx_rate, first.tx_rate, first.history) == (None, None, ())
    src.tick(2.0, {"alice": (4000, 1000)})
    second = _by_key(tr.update(src.snapshot()), KEY_A)
    assert (second.rx_rate, second.tx_rate) == (2000.0, 500.0)
    assert second.history == (2500.0,)


def test_counter_reset_gives_unknown_rate_never_negative_then_resumes_from_new_baseline():
    src = _source(rx_bytes=10_000_000, tx_bytes=5_000_000)
    tr = Tracker()
    tr.update(src.snapshot())
    p = src.peer("alice").status
    src.tick(1.0)
    p.rx_bytes, p.tx_bytes = 300, 100  # daemon restarted: counters start over
    reset = _by_key(tr.update(src.snapshot()), KEY_A)
    assert reset.rx_rate is None and reset.tx_rate is None
    assert reset.history == (0.0,)
    src.tick(1.0, {"alice": (700, 900)})
    after = _by_key(tr.update(src.snapshot()), KEY_A)
    assert (after.rx_rate, after.tx_rate) == (700.0, 900.0)
    assert after.history == (0.0, 1600.0)


def test_only_the_counter_that_went_down_is_unknown():
    src = _source(rx_bytes=1000, tx_bytes=1000)
    tr = Tracker()
    tr.update(src.snapshot())
    src.tick(1.0)
    src.peer("alice").status.rx_bytes = 10
    src.peer("alice").status.tx_bytes = 1500
    p = _by_key(tr.update(src.snapshot()), KEY_A)
    assert (p.rx_rate, p.tx_rate) == (None, 500.0)


def test_removed_and_readded_peer_starts_over_even_if_counters_grew():
    src = _source(rx_bytes=100)
    tr = Tracker()
    tr.update(src.snapshot())
    dev = src.devices[0]
    dev.peers.pop(0)
    src.tick(1.0)
    tr.update(src.snapshot())
    dev.peers.append(Peer(KEY_A, name="alice", status=PeerStatus(rx_bytes=5000)))  # re-added: new counters
    src.tick(1.0)
    back = _by_key(tr.update(src.snapshot()), KEY_A)
    assert back.rx_rate is None and back.history == ()


def test_repeated_snapshot_at_same_instant_adds_no_sample():
    src = _source()
    tr = Tracker()
    tr.update(src.snapshot())
    src.tick(1.0, {"alice": (100, 0)})
    tr.update(src.snapshot())
    same = _by_key(tr.update(src.snapshot()), KEY_A)
    assert same.rx_rate is None and same.history == (100.0,)


def test_history_is_bounded_and_ordered_oldest_first():
    src = _source()
    tr = Tracker(history_len=3)
    tr.update(src.snapshot())
    for n in (1, 2, 3, 4, 5):
        src.tick(1.0, {"alice": (n, 0)})
        view = tr.update(src.snapshot())
    assert _by_key(view, KEY_A).history == (3.0, 4.0, 5.0)


def test_unreadable_interface_keeps_its_baseline_until_it_answers_again():
    src = _source()
    tr = Tracker()
    tr.update(src.snapshot())
    saved = src.devices
    src.devices, src.errors = [], {"ssw0": "daemon busy"}
    src.tick(1.0)
    view = tr.update(src.snapshot())
    assert view.peers == [] and view.errors == {"ssw0": "daemon busy"}
    src.devices, src.errors = saved, {}
    src.tick(1.0, {"alice": (1000, 0)})
    assert _by_key(tr.update(src.snapshot()), KEY_A).rx_rate == 500.0


def test_interface_totals_and_aggregate_rate():
    src = _source()
    src.peer("alice").status.rx_bytes = 50
    src.devices[0].peers[1].status.tx_bytes = 70
    tr = Tracker()
    first = tr.update(src.snapshot()).interfaces[0]
    assert (first.rx_bytes, first.tx_bytes, first.rx_rate) == (50, 70, None)
    src.tick(1.0, {"alice": (10, 0)})
    src.devices[0].peers[1].status.rx_bytes += 20
    i = tr.update(src.snapshot()).interfaces[0]
    assert i.rx_rate == 30.0 and i.tx_rate == 0.0


@pytest.mark.parametrize(
    ("last", "now", "expected"),
    [
        (None, T0, (None, NEVER)),
        (0.0, T0, (None, NEVER)),
        (T0 - 5, T0, (5.0, FRESH)),
        (T0 - 180, T0, (180.0, FRESH)),
        (T0 - 180.5, T0, (180.5, STALE)),
        (T0 + 30, T0, (0.0, FRESH)),  # peer clock ahead: never a negative age
    ],
)
def test_freshness(last, now, expected):
    assert freshness(last, now) == expected


def test_freshness_is_computed_from_the_snapshot_time_not_the_real_clock():
    src = _source()
    src.tick(200.0)
    view = Tracker().update(src.snapshot())
    alice, other = _by_key(view, KEY_A), _by_key(view, KEY_B)
    assert (alice.handshake_age, alice.freshness) == (210.0, STALE)
    assert (other.handshake_age, other.freshness) == (None, NEVER)


def test_rate_guards():
    assert rate(100, 50, 1.0) is None
    assert rate(0, 100, 0.0) is None
    assert rate(0, 100, -1.0) is None
    assert rate(0, 300, 2.0) == 150.0


def test_sparkline_scales_to_window_max_and_pads():
    assert sparkline([0, 4, 8], 3) == "▁▅█"
    assert sparkline([1, 2], 5) == "   ▅█"
    assert sparkline([0, 0], 2) == "▁▁"
    assert sparkline([9, 1, 2, 4], 3) == "▃▅█"  # only the last 3 count
    assert sparkline([], 4) == "    "


def test_sparkline_floor_keeps_a_trickle_flat():
    assert sparkline([30, 0, 30], 3, floor=1024) == "▁▁▁"
    assert sparkline([512, 1024, 4096], 3, floor=1024) == "▂▃█"


def test_human_units():
    assert human_bytes(0) == "0 B"
    assert human_bytes(1023) == "1023 B"
    assert human_bytes(1536) == "1.50 KiB"
    assert human_bytes(5 * 1024**3) == "5.00 GiB"
    assert [human_age(a) for a in (None, 0, 59.9, 242, 3600 * 3 + 300, 86400 * 2 + 3600 * 4)] == [
        "never",
        "0s",
        "59s",
        "4m02s",
        "3h05m",
        "2d04h",
    ]


def test_peer_label_prefers_friendly_name():
    view = Tracker().update(_source().snapshot())
    assert peer_label(_by_key(view, KEY_A)) == "alice"
    assert peer_label(_by_key(view, KEY_B)) == "AgICAgIC…"


def test_snapshot_is_the_only_clock():
    snap = Snapshot(wall=T0, mono=5.0, devices=[_got("x", Peer(KEY_A, status=PeerStatus(rx_bytes=10)))])
    tr = Tracker()
    tr.update(snap)
    later = Snapshot(wall=T0 - 3600, mono=7.0, devices=[_got("x", Peer(KEY_A, status=PeerStatus(rx_bytes=30)))])
    # Wall clock jumped back an hour; the monotonic interval (2 s) still gives the rate.
    assert tr.update(later).peers[0].rx_rate == 10.0
