"""The 8192-bit sliding replay window, with WireGuard's semantics.

This follows the Linux driver's ``counter_validate`` (receive.c), itself
RFC 6479's bitmap: a ring of 128 64-bit words; moving the top forward clears
the words it passes. A counter is accepted iff it is below
REJECT_AFTER_MESSAGES, no more than COUNTER_WINDOW_SIZE (8128) behind the
highest counter accepted so far, and not seen before. The kernel module's C
copy must keep exactly these semantics (tests pin them against a naive set).

Call :meth:`ReplayWindow.check` only after the packet authenticated, so forged
packets never move the window.
"""

from __future__ import annotations

from .constants import (
    COUNTER_BITS_TOTAL,
    COUNTER_WINDOW_SIZE,
    COUNTER_WORD_BITS,
    REJECT_AFTER_MESSAGES,
)

_WORDS = COUNTER_BITS_TOTAL // COUNTER_WORD_BITS  # 128
_WORD_MASK = _WORDS - 1
_BIT_MASK = COUNTER_WORD_BITS - 1
_WORD_SHIFT = COUNTER_WORD_BITS.bit_length() - 1  # 6


class ReplayWindow:
    __slots__ = ("counter", "_bitmap")

    def __init__(self) -> None:
        # ``counter`` is one more than the highest accepted counter (0: none).
        self.counter = 0
        self._bitmap = [0] * _WORDS

    def would_accept(self, their_counter: int) -> bool:
        """Cheap pre-check before decrypting (does not change the window)."""
        if their_counter >= REJECT_AFTER_MESSAGES or self.counter >= REJECT_AFTER_MESSAGES + 1:
            return False
        n = their_counter + 1
        if COUNTER_WINDOW_SIZE + n < self.counter:
            return False
        if n > self.counter:
            return True
        word = self._bitmap[(n >> _WORD_SHIFT) & _WORD_MASK]
        return not (word >> (n & _BIT_MASK)) & 1

    def check(self, their_counter: int) -> bool:
        """Record ``their_counter``; False if it is a replay or out of range."""
        if their_counter < 0:
            return False
        if self.counter >= REJECT_AFTER_MESSAGES + 1 or their_counter >= REJECT_AFTER_MESSAGES:
            return False
        n = their_counter + 1
        if COUNTER_WINDOW_SIZE + n < self.counter:
            return False
        index = n >> _WORD_SHIFT
        bitmap = self._bitmap
        if n > self.counter:
            index_current = self.counter >> _WORD_SHIFT
            top = min(index - index_current, _WORDS)
            for i in range(1, top + 1):
                bitmap[(i + index_current) & _WORD_MASK] = 0
            self.counter = n
        index &= _WORD_MASK
        bit = 1 << (n & _BIT_MASK)
        if bitmap[index] & bit:
            return False
        bitmap[index] |= bit
        return True
