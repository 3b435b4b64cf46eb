/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SSW_QUEUEING_H
#define _SSW_QUEUEING_H

#include <linux/atomic.h>
#include <linux/netdevice.h>
#include <linux/ptr_ring.h>
#include <linux/skbuff.h>
#include <linux/types.h>
#include <linux/workqueue.h>

struct ssw_device;
struct ssw_keypair;
struct ssw_peer;

/*
 * Parallel crypto with per-peer order, as WireGuard does it. Every data
 * packet goes on two queues at once: its peer's ordered queue (tx_queue or
 * rx_queue, in nonce order) and the device's ring, which per-CPU workers
 * drain in any order on any CPU. A worker only flips the packet's state;
 * the peer's single consumer (tx work item / NAPI poll) takes packets off
 * the head of its ordered queue while their state is no longer UNCRYPTED,
 * so a packet sealed early on one CPU waits for those before it.
 */
#define SSW_MAX_QUEUED_PACKETS 1024

enum ssw_packet_state {
	SSW_PACKET_UNCRYPTED,
	SSW_PACKET_CRYPTED,
	SSW_PACKET_DEAD,	/* crypto failed: dropped in order */
	SSW_PACKET_OVERFLOW,	/* the ring was full, no worker saw it: dropped in order */
};

/*
 * Lives in skb->cb while the packet is on a peer queue. On transmit, one
 * queue entry is a whole GSO super-packet, as in WireGuard: the first
 * segment is queued and carries the rest in @more (linked by ->next, which
 * the peer queue needs for itself while the entry is queued), so one ring
 * slot, one worker and one state flip serve all of its segments. Every
 * segment has its own nonce; keypair and state are the first segment's.
 */
struct ssw_packet_cb {
	u64 nonce;
	struct ssw_keypair *keypair;	/* a reference, put by the consumer */
	struct sk_buff *more;		/* the entry's other segments, or NULL */
	atomic_t state;
	u32 mtu;			/* transmit: padding goes no further */
};

#define SSW_PACKET_CB(skb) ((struct ssw_packet_cb *)((skb)->cb))

/* Every segment of the queue entry @skb, in order (not for freeing them). */
#define ssw_for_each_segment(skb, seg) \
	for (seg = (skb); seg; \
	     seg = seg == (skb) ? SSW_PACKET_CB(skb)->more : seg->next)

struct ssw_crypt_worker {
	struct work_struct work;
	struct ssw_crypt_queue *queue;
};

/* One per device and direction: the ring and a work item on every CPU. */
struct ssw_crypt_queue {
	struct ptr_ring ring;
	struct ssw_crypt_worker __percpu *workers;
	int last_cpu;
};

int ssw_crypt_queue_init(struct ssw_crypt_queue *queue, work_func_t function);
void ssw_crypt_queue_free(struct ssw_crypt_queue *queue);

/*
 * Put the entry @skb (SSW_PACKET_CB(skb)->keypair set and referenced,
 * ->more set) on @peer_queue and @queue's ring. With @send_counter, one
 * nonce per segment is taken from it under the peer queue's lock, so that
 * queue order is nonce order. Returns 0; -EPIPE when the ring was full (the
 * entry is on the peer queue, DEAD: the caller kicks the consumer); another
 * error when it is on neither (the caller still owns it).
 */
int ssw_queue_packet(struct ssw_device *ssw, struct ssw_crypt_queue *queue,
		     struct sk_buff_head *peer_queue, struct sk_buff *skb,
		     atomic64_t *send_counter);
/*
 * The head entry of @peer_queue once a worker is done with it, NULL
 * otherwise; its segments are linked from it again by ->next.
 */
struct sk_buff *ssw_queue_dequeue_done(struct sk_buff_head *peer_queue);

/* Per-peer queues, tx work and NAPI; stop flushes and frees what is queued. */
void ssw_peer_queues_init(struct ssw_peer *peer);
void ssw_peer_queues_stop(struct ssw_peer *peer);

/* Device-wide rings, workers and their workqueue. */
int ssw_device_queues_init(struct ssw_device *ssw);
void ssw_device_queues_free(struct ssw_device *ssw);

/*
 * Forget what the stack attached to a packet that now changes layer
 * (sealed into a datagram, or opened into an inner packet); the flow hash
 * survives sealing so the outer packet keeps the flow's queue.
 */
static inline void ssw_reset_packet(struct sk_buff *skb, bool encapsulating)
{
	u32 hash = skb->hash;
	u8 l4_hash = skb->l4_hash, sw_hash = skb->sw_hash;

	skb_scrub_packet(skb, true);
	memset(&skb->headers, 0, sizeof(skb->headers));
	if (encapsulating) {
		skb->hash = hash;
		skb->l4_hash = l4_hash;
		skb->sw_hash = sw_hash;
	}
	skb->queue_mapping = 0;
	skb->nohdr = 0;
	skb->peeked = 0;
	skb->mac_len = 0;
	skb->dev = NULL;
	skb_reset_redirect(skb);
	skb->hdr_len = skb_headroom(skb);
	skb_reset_mac_header(skb);
	skb_reset_network_header(skb);
	skb_reset_transport_header(skb);
	skb_reset_inner_headers(skb);
}

#endif /* _SSW_QUEUEING_H */
