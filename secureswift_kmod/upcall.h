/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SSW_UPCALL_H
#define _SSW_UPCALL_H

#include <linux/atomic.h>
#include <linux/skbuff.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>

#include "ratelimiter.h"
#include "wire.h"

/*
 * The handshake backlog towards the daemon, and what "under load" means
 * for the kernel (docs/kernel-module.md, "Handshake floods").
 *
 * Handshake messages that pass the receive path's checks wait in a
 * bounded queue (SSW_UPCALL_QUEUE_MAX, WireGuard's
 * MAX_QUEUED_INCOMING_HANDSHAKES) for a work item that multicasts them to
 * the daemon. The device is under load, as WireGuard's, while that queue
 * holds more than an eighth of its bound, and for a second after; the
 * daemon's own backlog is its netlink socket, which the kernel cannot
 * read, so two more signals stand for it: a multicast the daemon's full
 * socket refused (-ENOBUFS), and mac1-valid messages arriving faster than
 * a global budget (SSW_UPCALL_RATE per second, burst SSW_UPCALL_BURST),
 * which also bounds what reaches the daemon without a cookie.
 */
#define SSW_UPCALL_QUEUE_MAX SSW_MAX_QUEUED_INCOMING_HANDSHAKES
#define SSW_UPCALL_RATE 100
#define SSW_UPCALL_BURST 8

/* Why a handshake message went no further (GET_DEVICE counters). */
enum ssw_shed_reason {
	SSW_SHED_BAD_MAC1,
	SSW_SHED_NO_MAC2,	/* under load, answered with a cookie reply */
	SSW_SHED_RATE_LIMITED,	/* per-source limit on proven sources */
	SSW_SHED_BACKLOG_FULL,	/* the queue, or the daemon's socket, full */
	SSW_SHED_MAX
};

struct ssw_upcalls {
	struct sk_buff_head queue;
	struct work_struct work;
	u64 last_under_load_ns;		/* 0: never */
	spinlock_t budget_lock;
	struct ssw_token_bucket budget;
	atomic64_t shed[SSW_SHED_MAX];
	atomic64_t upcalled;
	atomic64_t cookie_replies;
};

struct ssw_device;

void ssw_upcalls_init(struct ssw_upcalls *u);
/* After the sockets are closed: no more messages come in. Drops the backlog. */
void ssw_upcalls_uninit(struct ssw_upcalls *u);
/* Must a mac1-valid message prove its source (mac2) now? Spends from the budget. */
bool ssw_upcalls_need_cookie(struct ssw_upcalls *u);
/* Queue @skb (data: the message; headers: its source) for the daemon; consumes it. */
void ssw_upcalls_queue(struct ssw_device *ssw, struct sk_buff *skb);
/* Count a handshake message the receive path went no further with (and rx_dropped). */
void ssw_upcalls_shed(struct ssw_device *ssw, enum ssw_shed_reason reason);
/* The counters as GET_DEVICE attributes. */
int ssw_upcalls_put_stats(struct sk_buff *msg, struct ssw_upcalls *u);

#endif /* _SSW_UPCALL_H */
