// SPDX-License-Identifier: GPL-2.0
/*
 * Token buckets for handshake upcalls (see ratelimiter.h).
 */

#include "ratelimiter.h"

#include <linux/random.h>
#include <linux/socket.h>
#include <linux/string.h>
#include <linux/timekeeping.h>

#define PACKETS_PER_SECOND 20
#define PACKETS_BURST 5
#define PACKET_COST (NSEC_PER_SEC / PACKETS_PER_SECOND)
#define TOKEN_MAX (PACKET_COST * PACKETS_BURST)

void ssw_ratelimiter_init(struct ssw_ratelimiter *rl)
{
	spin_lock_init(&rl->lock);
	get_random_bytes(&rl->key, sizeof(rl->key));
	memset(rl->bucket, 0, sizeof(rl->bucket));
}

bool ssw_ratelimiter_allow(struct ssw_ratelimiter *rl, int family, const void *addr)
{
	struct ssw_ratelimit_bucket *b;
	u64 now = ktime_get_coarse_boottime_ns();
	u8 src[9] = { };
	bool ok = false;

	/* A v6 host owns its whole /64: limit it as one source. */
	src[0] = family;
	memcpy(src + 1, addr, family == AF_INET ? 4 : 8);
	b = &rl->bucket[siphash(src, sizeof(src), &rl->key) % SSW_RATELIMIT_BUCKETS];

	spin_lock_bh(&rl->lock);
	if (!b->last_ns) {
		b->tokens = TOKEN_MAX;
	} else {
		b->tokens += now - b->last_ns;
		if (b->tokens > TOKEN_MAX)
			b->tokens = TOKEN_MAX;
	}
	b->last_ns = now;
	if (b->tokens >= PACKET_COST) {
		b->tokens -= PACKET_COST;
		ok = true;
	}
	spin_unlock_bh(&rl->lock);
	return ok;
}
