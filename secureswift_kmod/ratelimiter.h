/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SSW_RATELIMITER_H
#define _SSW_RATELIMITER_H

#include <linux/siphash.h>
#include <linux/spinlock.h>
#include <linux/types.h>

#include "wire.h"

/*
 * Per-source limit on handshake messages handed up to the daemon while
 * under load, as WireGuard's: 20 per second with a burst of 5 per source
 * address (IPv6 sources by /64). It is asked only about sources that
 * proved their address with a cookie (mac2), so a spoofed flood cannot
 * spend a real sender's budget. Sources share a fixed table of token
 * buckets chosen by keyed hash, so memory is bounded whatever the flood;
 * two sources in one bucket share its budget.
 */
#define SSW_RATELIMIT_BUCKETS 1024
/* The rate and burst: SSW_RATELIMIT_PER_SECOND, SSW_RATELIMIT_BURST (wire.h). */

struct ssw_token_bucket {
	u64 last_ns;	/* 0: never used, full */
	u64 tokens;	/* in nanoseconds of budget */
};

/*
 * Take one message from @b, which refills at @per_second up to @burst.
 * Caller serialises.
 */
bool ssw_token_take(struct ssw_token_bucket *b, u64 now, u32 per_second, u32 burst);

struct ssw_ratelimiter {
	spinlock_t lock;
	siphash_key_t key;
	struct ssw_token_bucket bucket[SSW_RATELIMIT_BUCKETS];
};

void ssw_ratelimiter_init(struct ssw_ratelimiter *rl);
/* May a handshake message from @family/@addr go up now? */
bool ssw_ratelimiter_allow(struct ssw_ratelimiter *rl, int family, const void *addr);

#endif /* _SSW_RATELIMITER_H */
