"""The transport oracle's 8192-bit replay window (the one the C plane's is
checked against): edges, and hypothesis against a naive set."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sswctl.protocol import COUNTER_WINDOW_SIZE, REJECT_AFTER_MESSAGES
from tests.transport_oracle import ReplayWindow


def test_in_order_counters_are_accepted_once():
    w = ReplayWindow()
    assert all(w.check(i) for i in range(20000))
    assert not any(w.check(i) for i in range(20000 - COUNTER_WINDOW_SIZE, 20000))


def test_duplicate_is_rejected():
    w = ReplayWindow()
    assert w.check(0)
    assert not w.check(0)
    assert w.check(5)
    assert not w.check(5)


def test_out_of_order_within_the_window_is_accepted():
    w = ReplayWindow()
    assert w.check(10000)
    assert w.check(10000 - 1)
    assert w.check(10000 - COUNTER_WINDOW_SIZE)  # the oldest still inside
    assert not w.check(10000 - COUNTER_WINDOW_SIZE)


def test_too_old_is_rejected():
    w = ReplayWindow()
    assert w.check(10000)
    assert not w.check(10000 - COUNTER_WINDOW_SIZE - 1)
    assert not w.check(0)


def test_jump_far_ahead_clears_the_old_bitmap():
    w = ReplayWindow()
    for i in range(64):
        assert w.check(i)
    assert w.check(1_000_000)
    # Counters just behind the new top were never seen: accepted.
    assert w.check(1_000_000 - 64)
    assert w.check(1_000_000 - COUNTER_WINDOW_SIZE)


def test_counter_limits():
    w = ReplayWindow()
    assert not w.check(REJECT_AFTER_MESSAGES)
    assert not w.check(2**64 - 1)
    assert w.check(REJECT_AFTER_MESSAGES - 1)  # the last allowed counter
    assert not w.check(REJECT_AFTER_MESSAGES - 1)
    assert w.check(REJECT_AFTER_MESSAGES - 2)
    assert not w.check(REJECT_AFTER_MESSAGES - 1 - COUNTER_WINDOW_SIZE - 1)


def test_would_accept_does_not_record():
    w = ReplayWindow()
    assert w.would_accept(3) and w.would_accept(3)
    assert w.check(3)
    assert not w.would_accept(3)


class NaiveWindow:
    """The specification: accept n iff n < REJECT_AFTER_MESSAGES, unseen, and
    no more than COUNTER_WINDOW_SIZE below the greatest accepted counter."""

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.top = -1

    def check(self, n: int) -> bool:
        if n >= REJECT_AFTER_MESSAGES or n in self.seen or n < self.top - COUNTER_WINDOW_SIZE:
            return False
        self.seen.add(n)
        self.top = max(self.top, n)
        return True


def _counters(base: int):
    # Mostly near a moving frontier so the window edges are hit often.
    return st.lists(
        st.one_of(
            st.integers(0, 20000),
            st.integers(-9000, 200).map(lambda d: max(0, base + d)),
            st.integers(REJECT_AFTER_MESSAGES - 10000, 2**64 - 1),
        ),
        max_size=300,
    )


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 50000).flatmap(_counters))
def test_window_matches_a_naive_set(counters):
    w, ref = ReplayWindow(), NaiveWindow()
    for n in counters:
        assert w.check(n) == ref.check(n), n
