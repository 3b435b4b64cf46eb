// SPDX-License-Identifier: GPL-2.0
/*
 * The handshake backlog towards the daemon (see upcall.h): a bounded
 * queue drained by a work item that multicasts each message on the
 * "handshake" group, the under-load rule, and the counters of what the
 * receive path shed.
 */

#include "upcall.h"
#include "daemon.h"
#include "device.h"
#include "peer.h"
#include "socket.h"

#include <linux/timekeeping.h>
#include <net/netlink.h>

#define UNDER_LOAD_AFTER_NS NSEC_PER_SEC

static void mark_under_load(struct ssw_upcalls *u, u64 now)
{
	WRITE_ONCE(u->last_under_load_ns, now ?: 1);
}

static bool recently_under_load(const struct ssw_upcalls *u, u64 now)
{
	u64 last = READ_ONCE(u->last_under_load_ns);

	return last && now - last < UNDER_LOAD_AFTER_NS;
}

static void upcall_worker(struct work_struct *work)
{
	struct ssw_upcalls *u = container_of(work, struct ssw_upcalls, work);
	struct ssw_device *ssw = container_of(u, struct ssw_device, upcalls);
	struct ssw_endpoint from;
	struct sk_buff *skb;
	int ret;

	while ((skb = skb_dequeue(&u->queue)) != NULL) {
		ssw_socket_endpoint_from_skb(&from, skb);
		ret = ssw_daemon_handshake_upcall(ssw, skb->data, skb->len, &from);
		if (likely(!ret)) {
			atomic64_inc(&u->upcalled);
		} else if (ret == -ENOBUFS) {
			/* The daemon's socket is full: it is the backlog now. */
			mark_under_load(u, ktime_get_coarse_boottime_ns());
			ssw_upcalls_shed(ssw, SSW_SHED_BACKLOG_FULL);
		} else {
			DEV_STATS_INC(ssw->dev, rx_dropped);	/* no daemon listening */
		}
		consume_skb(skb);
		cond_resched();
	}
}

void ssw_upcalls_init(struct ssw_upcalls *u)
{
	unsigned int i;

	skb_queue_head_init(&u->queue);
	INIT_WORK(&u->work, upcall_worker);
	u->last_under_load_ns = 0;
	spin_lock_init(&u->budget_lock);
	memset(&u->budget, 0, sizeof(u->budget));
	for (i = 0; i < SSW_SHED_MAX; ++i)
		atomic64_set(&u->shed[i], 0);
	atomic64_set(&u->upcalled, 0);
	atomic64_set(&u->cookie_replies, 0);
}

void ssw_upcalls_uninit(struct ssw_upcalls *u)
{
	cancel_work_sync(&u->work);
	skb_queue_purge(&u->queue);
}

bool ssw_upcalls_need_cookie(struct ssw_upcalls *u)
{
	u64 now = ktime_get_coarse_boottime_ns();
	bool over;

	/*
	 * Every mac1-valid message spends from the budget, answered with a
	 * cookie or not: under a sustained flood it never refills, so the
	 * device stays under load until a second after the flood ends,
	 * instead of letting a burst through every second.
	 */
	spin_lock_bh(&u->budget_lock);
	over = !ssw_token_take(&u->budget, now, SSW_UPCALL_RATE, SSW_UPCALL_BURST);
	spin_unlock_bh(&u->budget_lock);
	if (over || skb_queue_len_lockless(&u->queue) >= SSW_UPCALL_QUEUE_MAX / 8) {
		mark_under_load(u, now);
		return true;
	}
	return recently_under_load(u, now);
}

void ssw_upcalls_queue(struct ssw_device *ssw, struct sk_buff *skb)
{
	struct ssw_upcalls *u = &ssw->upcalls;

	/* The worker needs the headers and the payload, not the route it came by. */
	skb_dst_drop(skb);
	spin_lock_bh(&u->queue.lock);
	if (unlikely(skb_queue_len(&u->queue) >= SSW_UPCALL_QUEUE_MAX)) {
		spin_unlock_bh(&u->queue.lock);
		ssw_upcalls_shed(ssw, SSW_SHED_BACKLOG_FULL);
		kfree_skb(skb);
		return;
	}
	__skb_queue_tail(&u->queue, skb);
	spin_unlock_bh(&u->queue.lock);
	/* Unbound: another CPU than the one taking the flood's softirqs, if any. */
	queue_work(system_unbound_wq, &u->work);
}

void ssw_upcalls_shed(struct ssw_device *ssw, enum ssw_shed_reason reason)
{
	atomic64_inc(&ssw->upcalls.shed[reason]);
	DEV_STATS_INC(ssw->dev, rx_dropped);
}

int ssw_upcalls_put_stats(struct sk_buff *msg, struct ssw_upcalls *u)
{
	static const struct {
		int attr;
		enum ssw_shed_reason reason;
	} shed[] = {
		{ SSWDEVICE_A_SHED_BAD_MAC1, SSW_SHED_BAD_MAC1 },
		{ SSWDEVICE_A_SHED_NO_MAC2, SSW_SHED_NO_MAC2 },
		{ SSWDEVICE_A_SHED_RATE_LIMITED, SSW_SHED_RATE_LIMITED },
		{ SSWDEVICE_A_SHED_BACKLOG_FULL, SSW_SHED_BACKLOG_FULL },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(shed); ++i)
		if (nla_put_u64_64bit(msg, shed[i].attr,
				      atomic64_read(&u->shed[shed[i].reason]), 0))
			return -EMSGSIZE;
	if (nla_put_u64_64bit(msg, SSWDEVICE_A_HANDSHAKES_UPCALLED,
			      atomic64_read(&u->upcalled), 0) ||
	    nla_put_u64_64bit(msg, SSWDEVICE_A_COOKIE_REPLIES_SENT,
			      atomic64_read(&u->cookie_replies), 0) ||
	    nla_put_u8(msg, SSWDEVICE_A_UNDER_LOAD,
		       recently_under_load(u, ktime_get_coarse_boottime_ns())))
		return -EMSGSIZE;
	return 0;
}
