// SPDX-License-Identifier: GPL-2.0
/*
 * The transmit path: an inner packet is routed to a peer by its
 * destination (allowed IPs), sealed under the peer's current keypair and
 * sent to the peer's endpoint from the device's socket. GSO super-packets
 * are segmented first: each datagram carries one packet.
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
#include "netlink.h"
#include "peer.h"
#include "socket.h"

#include <linux/icmp.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <net/icmp.h>
#include <net/ip_tunnels.h>
#include <net/ipv6.h>


static unsigned int padded_len(unsigned int len, unsigned int mtu)
{
	unsigned int padded = ALIGN(len, SSW_DATA_PADDING);

	/* Padding never pushes a packet that fits the MTU beyond it. */
	if (len <= mtu && padded > mtu)
		padded = mtu;
	return padded;
}

/*
 * Seal @plain (may be NULL for a keepalive) into a fresh datagram under
 * @keypair and send it. Consumes nothing: the caller frees @plain. The
 * copy into a fresh linear buffer is the simple first version: in-place
 * sealing over the scatterlist is the next step for throughput.
 */
static int seal_and_send(struct ssw_peer *peer, struct ssw_keypair *keypair,
			 struct sk_buff *plain)
{
	struct ssw_device *ssw = peer->device;
	unsigned int len = plain ? plain->len : 0;
	unsigned int padded = padded_len(len, READ_ONCE(ssw->dev->mtu));
	struct ssw_data_header *hdr;
	struct sk_buff *skb;
	u64 counter;
	u8 *body;
	int ret;

	counter = atomic64_inc_return(&keypair->send_counter) - 1;
	if (unlikely(counter >= SSW_REJECT_AFTER_MESSAGES))
		return -EKEYEXPIRED;

	skb = alloc_skb(SSW_TX_HEADROOM + sizeof(*hdr) + padded + SSW_AEAD_TAG_LEN,
			GFP_ATOMIC);
	if (unlikely(!skb))
		return -ENOMEM;
	skb_reserve(skb, SSW_TX_HEADROOM);
	/*
	 * The tunnel transmit counts from the inner network header on: with
	 * it at the message, device tx bytes are message bytes, as the
	 * peer's tx_bytes (and WireGuard's).
	 */
	skb_reset_network_header(skb);
	skb_reset_inner_headers(skb);
	hdr = skb_put(skb, sizeof(*hdr));
	hdr->type = cpu_to_le32(ssw_data_type(READ_ONCE(ssw->protocol)));
	hdr->receiver_index = keypair->remote_index;
	hdr->counter = cpu_to_le64(counter);
	body = skb_put(skb, padded + SSW_AEAD_TAG_LEN);
	if (len && skb_copy_bits(plain, 0, body, len)) {
		kfree_skb(skb);
		return -EINVAL;
	}
	memset(body + len, 0, padded - len);
	if (unlikely(!ssw_aead_seal(keypair, body, padded, counter))) {
		kfree_skb(skb);
		return -ENOMEM;
	}
	if (plain)
		skb->hash = plain->hash;

	len = skb->len;
	ret = ssw_socket_send_to_peer(peer, skb);
	if (likely(!ret)) {
		atomic64_add(len, &peer->tx_bytes);
		atomic64_inc(&peer->tx_packets);
	}
	return ret;
}

void ssw_send_keepalive(struct ssw_peer *peer)
{
	struct ssw_keypair *keypair;

	rcu_read_lock_bh();
	keypair = rcu_dereference_bh(peer->keypairs.current_keypair);
	if (ssw_keypair_usable(keypair))
		seal_and_send(peer, keypair, NULL);
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

/* Seal and send @skb (GSO or not) under @keypair; consumes @skb. */
static void send_packet(struct ssw_peer *peer, struct ssw_keypair *keypair,
			struct sk_buff *skb)
{
	struct net_device *dev = peer->device->dev;
	struct sk_buff *segs, *seg, *next;

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
	skb_list_walk_safe(segs, seg, next) {
		skb_mark_not_on_list(seg);
		/* Sent messages are counted by the UDP tunnel transmit. */
		if (unlikely(seal_and_send(peer, keypair, seg)))
			DEV_STATS_INC(dev, tx_dropped);
		consume_skb(seg);
	}
}

/*
 * No usable keypair: keep the packet (the newest SSW_MAX_STAGED_PACKETS) and
 * ask the daemon for a handshake, at most once per REKEY_TIMEOUT.
 */
static void stage_packet(struct ssw_peer *peer, struct sk_buff *skb)
{
	struct sk_buff_head *staged = &peer->staged_packets;
	struct sk_buff *old = NULL;
	u64 now = ktime_get_coarse_boottime_ns();
	bool ask;

	spin_lock_bh(&staged->lock);
	if (skb_queue_len(staged) >= SSW_MAX_STAGED_PACKETS)
		old = __skb_dequeue(staged);
	__skb_queue_tail(staged, skb);
	ask = !peer->last_need_handshake_ns ||
	      now - peer->last_need_handshake_ns >= SSW_REKEY_TIMEOUT_NS;
	if (ask)
		peer->last_need_handshake_ns = now;
	spin_unlock_bh(&staged->lock);
	if (old) {
		DEV_STATS_INC(peer->device->dev, tx_dropped);
		kfree_skb(old);
	}
	if (ask)
		ssw_netlink_need_handshake(peer);
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
	keypair = rcu_dereference_bh(peer->keypairs.current_keypair);
	if (likely(ssw_keypair_usable(keypair)))
		send_packet(peer, keypair, skb);
	else
		stage_packet(peer, skb);
	rcu_read_unlock_bh();
	return NETDEV_TX_OK;
}
