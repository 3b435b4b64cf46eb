// SPDX-License-Identifier: GPL-2.0
/*
 * The transmit path: an inner packet is routed to a peer by its
 * destination (allowed IPs), GSO super-packets are segmented (each datagram
 * carries one packet), each packet takes the next nonce of the peer's
 * current keypair and joins the peer's ordered tx queue and the device's
 * encryption ring (queueing.h). Workers on every CPU seal packets in place;
 * the peer's tx work item sends them, in nonce order, to the peer's
 * endpoint from the device's socket.
 *
 * Packets with no peer or no endpoint are dropped and counted; packets
 * waiting for a keypair are staged (bounded) while the daemon is asked for
 * a handshake, and sent as soon as one is installed.
 */

#include "send.h"
#include "aead.h"
#include "compat.h"
#include "device.h"
#include "keypair.h"
#include "messages.h"
#include "peer.h"
#include "queueing.h"
#include "socket.h"
#include "timers.h"

#include <linux/icmp.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <net/dst_metadata.h>
#include <net/icmp.h>
#include <net/ip_tunnels.h>
#include <net/ipv6.h>
#include <linux/scatterlist.h>


static unsigned int padded_len(unsigned int len, unsigned int mtu)
{
	unsigned int padded = ALIGN(len, SSW_DATA_PADDING);

	/* Padding never pushes a packet that fits the MTU beyond it. */
	if (len <= mtu && padded > mtu)
		padded = mtu;
	return padded;
}

/* Seal @skb in place behind a data header; false when it cannot be. */
static bool encrypt_packet(struct sk_buff *skb, struct ssw_keypair *keypair,
			   unsigned int mtu)
{
	struct scatterlist sg[MAX_SKB_FRAGS + 8];
	unsigned int padding, trailer_len, plain_len;
	struct ssw_data_header *hdr;
	struct sk_buff *trailer;
	int num_frags;

	padding = padded_len(skb->len, mtu) - skb->len;
	trailer_len = padding + SSW_AEAD_TAG_LEN;
	plain_len = skb->len + padding;

	/* The checksum covers the inner packet only: finish it before padding. */
	if (skb->ip_summed == CHECKSUM_PARTIAL && skb_checksum_help(skb))
		return false;
	/*
	 * Room for the header first: expanding the head copies the buffer
	 * only up to its tail, so padding zeroed beyond the tail before that
	 * would be lost and uninitialised memory sealed and sent instead.
	 */
	if (unlikely(skb_cow_head(skb, SSW_TX_HEADROOM) < 0))
		return false;
	/* Our own writable data, with room for the padding and the tag. */
	num_frags = skb_cow_data(skb, trailer_len, &trailer);
	if (unlikely(num_frags < 0 || num_frags > ARRAY_SIZE(sg)))
		return false;
	/* Padding and tag are inside the data from here on: nothing drops them. */
	memset(pskb_put(skb, trailer, trailer_len), 0, padding);

	hdr = skb_push(skb, sizeof(*hdr));
	hdr->type = cpu_to_le32(ssw_data_type(READ_ONCE(keypair->peer->device->protocol)));
	hdr->receiver_index = keypair->remote_index;
	hdr->counter = cpu_to_le64(SSW_PACKET_CB(skb)->nonce);

	sg_init_table(sg, num_frags);
	if (skb_to_sgvec(skb, sg, sizeof(*hdr), plain_len + SSW_AEAD_TAG_LEN) <= 0)
		return false;
	return ssw_aead_seal_sg(keypair, sg, plain_len, SSW_PACKET_CB(skb)->nonce);
}

/* The peer's sender runs on one CPU, so its datagrams leave in one stream. */
static void kick_tx(struct ssw_peer *peer)
{
	struct workqueue_struct *wq = peer->device->crypt_wq;
	int cpu = READ_ONCE(peer->tx_cpu);

	if (likely(cpu_online(cpu)))
		queue_work_on(cpu, wq, &peer->tx_work);
	else
		queue_work(wq, &peer->tx_work);
}

void ssw_send_encrypt_worker(struct work_struct *work)
{
	struct ssw_crypt_queue *queue =
		container_of(work, struct ssw_crypt_worker, work)->queue;
	struct ssw_keypair *keypair;
	struct sk_buff *skb, *seg;
	struct ssw_peer *peer;
	unsigned int mtu;
	bool ok;

	while ((skb = ptr_ring_consume_bh(&queue->ring)) != NULL) {
		keypair = SSW_PACKET_CB(skb)->keypair;
		/* Alive until every worker has finished (ssw_peer_queues_stop). */
		peer = keypair->peer;
		mtu = SSW_PACKET_CB(skb)->mtu;
		ok = true;
		/* One bad segment and the entry is dropped whole, as WireGuard does. */
		ssw_for_each_segment(skb, seg) {
			ok = encrypt_packet(seg, keypair, mtu);
			if (unlikely(!ok))
				break;
			ssw_reset_packet(seg, true);
		}
		/* From here on the sender may take and free the packet. */
		atomic_set_release(&SSW_PACKET_CB(skb)->state,
				   ok ? SSW_PACKET_CRYPTED : SSW_PACKET_DEAD);
		kick_tx(peer);
		cond_resched();
	}
}

/* Drop a list of datagrams (linked by ->next) that will not be sent. */
static void drop_list(struct net_device *dev, struct sk_buff *skb)
{
	struct sk_buff *next;

	skb_list_walk_safe(skb, skb, next) {
		skb_mark_not_on_list(skb);
		DEV_STATS_INC(dev, tx_dropped);
		kfree_skb(skb);
	}
}

void ssw_send_tx_worker(struct work_struct *work)
{
	struct ssw_peer *peer = container_of(work, struct ssw_peer, tx_work);
	struct net_device *dev = peer->device->dev;
	struct ssw_keypair *keypair;
	struct sk_buff *skb, *seg, *next;
	unsigned int len;
	bool sent, data;

	while ((skb = ssw_queue_dequeue_done(&peer->tx_queue)) != NULL) {
		keypair = SSW_PACKET_CB(skb)->keypair;
		if (unlikely(atomic_read(&SSW_PACKET_CB(skb)->state) !=
			     SSW_PACKET_CRYPTED)) {
			drop_list(dev, skb);
			goto next;
		}
		sent = data = false;
		skb_list_walk_safe(skb, seg, next) {
			skb_mark_not_on_list(seg);
			len = seg->len;
			/*
			 * The tunnel transmit counts from the inner network
			 * header on: at the message, device tx bytes are
			 * message bytes, as the peer's (and WireGuard's).
			 */
			if (likely(!ssw_socket_send_to_peer(peer, seg))) {
				atomic64_add(len, &peer->tx_bytes);
				atomic64_inc(&peer->tx_packets);
				sent = true;
				/* A keepalive is a message with nothing sealed. */
				data |= len > SSW_DATA_MIN_LEN;
			} else {
				DEV_STATS_INC(dev, tx_dropped);
			}
		}
		/* Once per entry, as WireGuard: timers are not touched per segment. */
		if (sent)
			ssw_timers_packet_sent(peer, data);
next:
		ssw_keypair_put(keypair);
		cond_resched();
	}
}

/*
 * Hand @skb, a list of packets (GSO segments, linked by ->next, no GSO
 * left) to the crypto workers as one entry under @keypair, in the peer's
 * order, padded up to @mtu at most; consumes them. Caller holds
 * rcu_read_lock_bh().
 */
static void queue_for_encryption(struct ssw_peer *peer,
				 struct ssw_keypair *keypair,
				 struct sk_buff *skb, unsigned int mtu)
{
	struct ssw_device *ssw = peer->device;
	int ret;

	if (unlikely(READ_ONCE(peer->is_dead)))
		goto err;
	keypair = ssw_keypair_get(keypair);
	if (unlikely(!keypair))
		goto err;
	SSW_PACKET_CB(skb)->keypair = keypair;
	SSW_PACKET_CB(skb)->mtu = mtu;
	SSW_PACKET_CB(skb)->more = skb->next;
	skb->next = NULL;
	ret = ssw_queue_packet(ssw, &ssw->encrypt_queue, &peer->tx_queue, skb,
			       &keypair->send_counter);
	if (likely(!ret))
		return;
	if (ret == -EPIPE) {	/* on the peer queue, dead: dropped in order */
		kick_tx(peer);
		return;
	}
	skb->next = SSW_PACKET_CB(skb)->more;
	ssw_keypair_put(keypair);
err:
	drop_list(ssw->dev, skb);
}

void ssw_send_keepalive(struct ssw_peer *peer)
{
	struct ssw_keypair *keypair;
	struct sk_buff *skb;

	skb = alloc_skb(SSW_TX_HEADROOM + SSW_DATA_PADDING + SSW_AEAD_TAG_LEN,
			GFP_ATOMIC);
	if (unlikely(!skb))
		return;
	skb_reserve(skb, SSW_TX_HEADROOM);
	skb->dev = peer->device->dev;
	rcu_read_lock_bh();
	keypair = rcu_dereference_bh(peer->keypairs.current_keypair);
	if (ssw_keypair_usable(keypair))
		queue_for_encryption(peer, keypair, skb,
				     READ_ONCE(peer->device->dev->mtu));
	else
		kfree_skb(skb);
	rcu_read_unlock_bh();
}

static struct ssw_peer *route(struct ssw_device *ssw, struct sk_buff *skb)
{
	if (skb->protocol == htons(ETH_P_IP) &&
	    pskb_network_may_pull(skb, sizeof(struct iphdr)) &&
	    ip_hdr(skb)->version == 4)
		return ssw_allowedips_lookup(&ssw->allowedips, AF_INET,
					     &ip_hdr(skb)->daddr);
	if (skb->protocol == htons(ETH_P_IPV6) &&
	    pskb_network_may_pull(skb, sizeof(struct ipv6hdr)) &&
	    ipv6_hdr(skb)->version == 6)
		return ssw_allowedips_lookup(&ssw->allowedips, AF_INET6,
					     &ipv6_hdr(skb)->daddr);
	return NULL;
}

/* Queue @skb (GSO or not) for sealing under @keypair; consumes @skb. */
static void send_packet(struct ssw_peer *peer, struct ssw_keypair *keypair,
			struct sk_buff *skb)
{
	struct net_device *dev = peer->device->dev;
	unsigned int mtu = SSW_PACKET_CB(skb)->mtu;	/* ssw_xmit() */
	struct sk_buff *segs;

	if (skb_is_gso(skb)) {
		segs = skb_gso_segment(skb, 0);
		if (IS_ERR_OR_NULL(segs)) {
			DEV_STATS_INC(dev, tx_dropped);
			kfree_skb(skb);
			return;
		}
		consume_skb(skb);
	} else {
		segs = skb;
		skb_mark_not_on_list(segs);
	}
	/* All segments of one super-packet: one entry, one worker (queueing.h). */
	queue_for_encryption(peer, keypair, segs, mtu);
}

/*
 * No usable keypair: keep the packet (the newest SSW_MAX_STAGED_PACKETS) and
 * ask the daemon for a handshake, at most once per REKEY_TIMEOUT.
 */
static void stage_packet(struct ssw_peer *peer, struct sk_buff *skb)
{
	struct sk_buff_head *staged = &peer->staged_packets;
	struct sk_buff *old = NULL;

	spin_lock_bh(&staged->lock);
	if (skb_queue_len(staged) >= SSW_MAX_STAGED_PACKETS)
		old = __skb_dequeue(staged);
	__skb_queue_tail(staged, skb);
	spin_unlock_bh(&staged->lock);
	if (old) {
		DEV_STATS_INC(peer->device->dev, tx_dropped);
		kfree_skb(old);
	}
	ssw_peer_want_handshake(peer);
}

void ssw_send_staged(struct ssw_peer *peer)
{
	struct sk_buff_head packets;
	struct ssw_keypair *keypair;
	struct sk_buff *skb;

	__skb_queue_head_init(&packets);
	rcu_read_lock_bh();
	keypair = rcu_dereference_bh(peer->keypairs.current_keypair);
	if (!ssw_keypair_usable(keypair))
		goto out;
	spin_lock_bh(&peer->staged_packets.lock);
	skb_queue_splice_init(&peer->staged_packets, &packets);
	peer->last_need_handshake_ns = 0;
	spin_unlock_bh(&peer->staged_packets.lock);
	while ((skb = __skb_dequeue(&packets)) != NULL)
		send_packet(peer, keypair, skb);
out:
	rcu_read_unlock_bh();
}

netdev_tx_t ssw_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct ssw_device *ssw = netdev_priv(dev);
	struct ssw_keypair *keypair;
	struct ssw_peer *peer;

	rcu_read_lock_bh();
	peer = route(ssw, skb);
	if (unlikely(!peer)) {
		DEV_STATS_INC(dev, tx_errors);
		if (skb->protocol == htons(ETH_P_IP))
			icmp_ndo_send(skb, ICMP_DEST_UNREACH, ICMP_HOST_UNREACH, 0);
		else if (skb->protocol == htons(ETH_P_IPV6))
			icmpv6_ndo_send(skb, ICMPV6_DEST_UNREACH, ICMPV6_ADDR_UNREACH, 0);
		rcu_read_unlock_bh();
		kfree_skb(skb);
		return NETDEV_TX_OK;
	}
	/*
	 * The inner route (kept for us: netif_keep_dst) served the ICMP above
	 * and gives the MTU the padding must not pass: it may allow less than
	 * the device (ip route ... mtu), and WireGuard pads to the dst MTU.
	 * Nothing needs it after that, staged packets least of all.
	 */
	SSW_PACKET_CB(skb)->mtu = skb_valid_dst(skb) ? dst_mtu(skb_dst(skb)) :
						       READ_ONCE(dev->mtu);
	skb_dst_drop(skb);
	keypair = rcu_dereference_bh(peer->keypairs.current_keypair);
	if (likely(ssw_keypair_usable(keypair)))
		send_packet(peer, keypair, skb);
	else
		stage_packet(peer, skb);
	rcu_read_unlock_bh();
	return NETDEV_TX_OK;
}
