/* The 8192-bit replay window: RFC 6479's bitmap as in the Linux driver's
 * counter_validate (receive.c), with exactly the semantics of
 * the ReplayWindow of tests/transport_oracle.py (a hypothesis test runs both
 * side by side). */
#include "dp.h"

#include <string.h>

#define WORD_SHIFT 6
#define WORD_MASK (SSW_REPLAY_WORDS - 1)
#define BIT_MASK (SSW_COUNTER_WORD_BITS - 1)
#define WINDOW SSW_COUNTER_WINDOW_SIZE

void ssw_replay_init(struct ssw_replay *r)
{
	memset(r, 0, sizeof(*r));
}

bool ssw_replay_would_accept(const struct ssw_replay *r, uint64_t their)
{
	uint64_t n;

	if (their >= SSW_REJECT_AFTER_MESSAGES || r->counter >= SSW_REJECT_AFTER_MESSAGES + 1)
		return false;
	n = their + 1;
	if (WINDOW + n < r->counter)
		return false;
	if (n > r->counter)
		return true;
	return !((r->bitmap[(n >> WORD_SHIFT) & WORD_MASK] >> (n & BIT_MASK)) & 1);
}

bool ssw_replay_check(struct ssw_replay *r, uint64_t their)
{
	uint64_t n, index, bit;

	if (r->counter >= SSW_REJECT_AFTER_MESSAGES + 1 || their >= SSW_REJECT_AFTER_MESSAGES)
		return false;
	n = their + 1;
	if (WINDOW + n < r->counter)
		return false;
	index = n >> WORD_SHIFT;
	if (n > r->counter) {
		uint64_t current = r->counter >> WORD_SHIFT;
		uint64_t top = index - current;

		if (top > SSW_REPLAY_WORDS)
			top = SSW_REPLAY_WORDS;
		for (uint64_t i = 1; i <= top; i++)
			r->bitmap[(i + current) & WORD_MASK] = 0;
		r->counter = n;
	}
	index &= WORD_MASK;
	bit = 1ULL << (n & BIT_MASK);
	if (r->bitmap[index] & bit)
		return false;
	r->bitmap[index] |= bit;
	return true;
}
