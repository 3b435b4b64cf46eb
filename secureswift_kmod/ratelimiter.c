// SPDX-License-Identifier: GPL-2.0
/*
 * Token buckets for handshake upcalls (see ratelimiter.h).
 */

#include "ratelimiter.h"

#include <linux/random.h>
#include <linux/socket.h>
#include <linux/string.h>
#include <linux/timekeeping.h>

bool ssw_token_take(struct ssw_token_bucket *b, u64 now, u32 per_second, u32 burst)
{
	u64 cost = NSEC_PER_SEC / per_second, max = cost * burst;

	if (!b->last_ns) {
		b->tokens = max;
	} else {
		b->tokens += now - b->last_ns;
		if (b->tokens > max)
			b->tokens = max;
	}
	b->last_ns = now ?: 1;
	if (b->tokens < cost)
		return false;
	b->tokens -= cost;
	return true;
}

void ssw_ratelimiter_init(struct ssw_ratelimiter *rl)
{
	spin_lock_init(&rl->lock);
	get_random_bytes(&rl->key, sizeof(rl->key));
	memset(rl->bucket, 0, sizeof(rl->bucket));
}

bool ssw_ratelimiter_allow(struct ssw_ratelimiter *rl, int family, const void *addr)
{
	struct ssw_token_bucket *b;
	u64 now = ktime_get_coarse_boottime_ns();
	u8 src[9] = { };
	bool ok;

	/* A v6 host owns its whole /64: limit it as one source. */
	src[0] = family;
	memcpy(src + 1, addr, family == AF_INET ? 4 : 8);
	b = &rl->bucket[siphash(src, sizeof(src), &rl->key) % SSW_RATELIMIT_BUCKETS];

	spin_lock_bh(&rl->lock);
	ok = ssw_token_take(b, now, SSW_RATELIMIT_PER_SECOND, SSW_RATELIMIT_BURST);
	spin_unlock_bh(&rl->lock);
	return ok;
}
