// SPDX-License-Identifier: GPL-2.0
/*
 * The receive path: UDP datagrams from the device's sockets. Transport
 * data is queued (queueing.h) with the keypair its receiver index names,
 * opened in place by a decryption worker on any CPU, and taken in order by
 * the peer's NAPI poll: replay window, roaming, and, once authentic, its
 * inner source against the sending peer's allowed IPs before it reaches
 * the stack through GRO. Handshake
 * messages are for the daemon: the kernel checks their size, mac1 and,
 * under load, mac2 (answering those without one with a cookie reply,
 * cookie.c) and a per-source rate, then queues them for the "handshake"
 * multicast group with their source address (upcall.c).
 */

#include "receive.h"
#include "compat.h"
#include "aead.h"
#include "cookie.h"
#include "daemon.h"
#include "device.h"
#include "keypair.h"
#include "messages.h"
#include "peer.h"
#include "queueing.h"
#include "send.h"
#include "socket.h"
#include "timers.h"
#include "upcall.h"

#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/scatterlist.h>
#include <linux/udp.h>
#include <net/ip_tunnels.h>

/* Counted, and told to dynamic debug (off by default, rate-limited). */
static void rx_dropped(struct ssw_device *ssw, const char *why)
{
	DEV_STATS_INC(ssw->dev, rx_dropped);
	net_dbg_ratelimited("%s: packet dropped: %s\n", ssw->dev->name, why);
}

/* Strip the outer headers: @skb->data becomes the UDP payload. */
static int pull_udp_payload(struct sk_buff *skb)
{
	struct udphdr *udp;
	size_t offset, len;

	if (unlikely(skb_linearize(skb)))
		return -ENOMEM;
	udp = udp_hdr(skb);
	offset = (u8 *)udp + sizeof(*udp) - skb->data;
	if (unlikely(offset > skb->len || ntohs(udp->len) < sizeof(*udp)))
		return -EINVAL;
	len = ntohs(udp->len) - sizeof(*udp);
	if (unlikely(len > skb->len - offset))
		return -EINVAL;
	skb_pull(skb, offset);
	return pskb_trim(skb, len);
}

/*
 * The inner packet's length from its own header; 0 when it is not IP or
 * claims less than its own header (trimmed to that, the allowed-IPs check
 * would read the source address beyond the packet).
 */
static unsigned int inner_len(struct sk_buff *skb, __be16 *protocol)
{
	unsigned int len;

	if (skb->len >= sizeof(struct iphdr) && ip_hdr(skb)->version == 4) {
		*protocol = htons(ETH_P_IP);
		len = ntohs(ip_hdr(skb)->tot_len);
		if (ip_hdr(skb)->ihl < 5 || len < ip_hdr(skb)->ihl * 4)
			return 0;
		return len;
	}
	if (skb->len >= sizeof(struct ipv6hdr) && ipv6_hdr(skb)->version == 6) {
		*protocol = htons(ETH_P_IPV6);
		return ntohs(ipv6_hdr(skb)->payload_len) + sizeof(struct ipv6hdr);
	}
	return 0;
}

/*
 * A data message: find its keypair and queue it for the decryption
 * workers and, in order, for the peer's NAPI poll. Nothing about the
 * message is believed until a worker has opened it.
 */
static void receive_data(struct ssw_device *ssw, struct sk_buff *skb)
{
	const struct ssw_data_header *hdr = (const void *)skb->data;
	struct ssw_keypair *keypair;
	struct ssw_peer *peer;
	int ret;

	rcu_read_lock_bh();
	keypair = ssw_keypair_get(ssw_keypair_lookup(ssw, hdr->receiver_index));
	if (unlikely(!keypair))
		goto err;
	peer = keypair->peer;
	if (unlikely(!ssw_keypair_usable(keypair) || READ_ONCE(peer->is_dead)))
		goto err_keypair;
	SSW_PACKET_CB(skb)->keypair = keypair;
	SSW_PACKET_CB(skb)->nonce = le64_to_cpu(hdr->counter);
	SSW_PACKET_CB(skb)->more = NULL;	/* one datagram per entry */
	ret = ssw_queue_packet(ssw, &ssw->decrypt_queue, &peer->rx_queue, skb, NULL);
	if (unlikely(ret == -EPIPE))	/* on the peer queue, dead: dropped in order */
		napi_schedule(&peer->napi);
	else if (unlikely(ret == -ENOBUFS))
		goto err_full;
	else if (unlikely(ret))
		goto err_keypair;
	rcu_read_unlock_bh();
	return;

err_full:
	/* Back-pressure, not a bad packet: counted apart (`ip -s -s link`: missed). */
	DEV_STATS_INC(ssw->dev, rx_missed_errors);
	ssw_keypair_put(keypair);
	rcu_read_unlock_bh();
	kfree_skb(skb);
	return;

err_keypair:
	ssw_keypair_put(keypair);
err:
	rcu_read_unlock_bh();
	rx_dropped(ssw, "no usable key for its index");
	kfree_skb(skb);
}

/*
 * Open a queued message in place. On success the skb's data is the padded
 * inner packet; the outer IP and UDP headers stay in front of it for the
 * roaming update.
 */
static bool decrypt_packet(struct sk_buff *skb, struct ssw_keypair *keypair)
{
	struct scatterlist sg[MAX_SKB_FRAGS + 8];
	struct sk_buff *trailer;
	unsigned int offset;
	int num_frags;

	/* Copy-on-write from the outer headers on, so that they come along. */
	offset = -skb_network_offset(skb);
	skb_push(skb, offset);
	num_frags = skb_cow_data(skb, 0, &trailer);
	offset += sizeof(struct ssw_data_header);
	skb_pull(skb, offset);
	if (unlikely(num_frags < 0 || num_frags > ARRAY_SIZE(sg)))
		return false;

	sg_init_table(sg, num_frags);
	if (skb_to_sgvec(skb, sg, 0, skb->len) <= 0)
		return false;
	if (!ssw_aead_open_sg(keypair, sg, skb->len, SSW_PACKET_CB(skb)->nonce))
		return false;

	/* Drop the tag; pskb_trim may reallocate, so keep the headers inside. */
	skb_push(skb, offset);
	if (pskb_trim(skb, skb->len - SSW_AEAD_TAG_LEN))
		return false;
	skb_pull(skb, offset);
	return true;
}

#define SSW_RX_BATCH 32

static void run_softirqs(void)
{
	local_bh_disable();
	local_bh_enable();
}

void ssw_receive_decrypt_worker(struct work_struct *work)
{
	struct ssw_crypt_queue *queue =
		container_of(work, struct ssw_crypt_worker, work)->queue;
	struct ssw_keypair *keypair;
	struct ssw_peer *peer;
	struct sk_buff *skb;
	unsigned int n = 0;
	bool ok;

	while ((skb = ptr_ring_consume_bh(&queue->ring)) != NULL) {
		keypair = SSW_PACKET_CB(skb)->keypair;
		/* Alive until every worker has finished (ssw_peer_queues_stop). */
		peer = keypair->peer;
		ok = decrypt_packet(skb, keypair);
		atomic_set_release(&SSW_PACKET_CB(skb)->state,
				   ok ? SSW_PACKET_CRYPTED : SSW_PACKET_DEAD);
		napi_schedule(&peer->napi);
		/*
		 * The poll runs as a softirq, here when BHs come back on: every
		 * few packets rather than each, so that GRO has a batch to merge.
		 */
		if (!(++n % SSW_RX_BATCH))
			run_softirqs();
		cond_resched();
	}
	run_softirqs();
}

/*
 * An opened message, in the peer's order: replay window, roaming,
 * counters, then the inner packet's checks and delivery through GRO.
 * Consumes @skb.
 */
static void consume_data(struct ssw_peer *peer, struct ssw_keypair *keypair,
			 struct sk_buff *skb)
{
	struct ssw_device *ssw = peer->device;
	struct ssw_peer *routed;
	unsigned int len, plain_len = skb->len;
	__be16 protocol = 0;

	/* Only after authentication may a counter move the window. */
	if (unlikely(!ssw_replay_accept(&keypair->replay, SSW_PACKET_CB(skb)->nonce)))
		goto drop;

	if (ssw_socket_update_endpoint(peer, skb))
		ssw_daemon_endpoint_changed(peer);
	ssw_timers_packet_received(peer, plain_len);
	if (ssw_keypair_received_with(keypair))
		ssw_send_staged(peer);	/* a responder may send now */
	/* Message bytes, keepalives included, on the peer and the device alike. */
	ssw_peer_count_rx(peer, plain_len + SSW_DATA_MIN_LEN);

	if (!plain_len) {	/* keepalive */
		consume_skb(skb);
		return;
	}
	ssw_reset_packet(skb, false);
	len = inner_len(skb, &protocol);
	if (unlikely(!len || len > skb->len)) {
		DEV_STATS_INC(ssw->dev, rx_errors);
		DEV_STATS_INC(ssw->dev, rx_frame_errors);
		goto dishonest;
	}
	if (pskb_trim(skb, len))
		goto drop;

	routed = ssw_allowedips_lookup(&ssw->allowedips,
				       protocol == htons(ETH_P_IP) ? AF_INET : AF_INET6,
				       protocol == htons(ETH_P_IP) ?
				       (const void *)&ip_hdr(skb)->saddr :
				       (const void *)&ipv6_hdr(skb)->saddr);
	if (unlikely(routed != peer)) {
		/* Inner source not among the sender's allowed IPs: spoofed. */
		DEV_STATS_INC(ssw->dev, rx_errors);
		goto dishonest;
	}

	skb->dev = ssw->dev;
	skb->protocol = protocol;
	skb->pkt_type = PACKET_HOST;
	/* AEAD-authenticated end to end: no need to check the inner sums. */
	skb->ip_summed = CHECKSUM_UNNECESSARY;
	skb->csum_level = ~0;
	skb_probe_transport_header(skb);
	napi_gro_receive(&peer->napi, skb);
	return;

drop:
	rx_dropped(ssw, "replayed or malformed data");
dishonest:	/* authentic but refused: counted as an error, not a drop */
	kfree_skb(skb);
}

int ssw_receive_poll(struct napi_struct *napi, int budget)
{
	struct ssw_peer *peer = container_of(napi, struct ssw_peer, napi);
	struct ssw_keypair *keypair;
	struct sk_buff *skb;
	int work_done = 0;
	int state;

	if (unlikely(budget <= 0))
		return 0;
	rcu_read_lock_bh();
	while (work_done < budget &&
	       (skb = ssw_queue_dequeue_done(&peer->rx_queue)) != NULL) {
		keypair = SSW_PACKET_CB(skb)->keypair;
		state = atomic_read(&SSW_PACKET_CB(skb)->state);
		if (likely(state == SSW_PACKET_CRYPTED)) {
			consume_data(peer, keypair, skb);
		} else {
			if (state == SSW_PACKET_OVERFLOW)
				DEV_STATS_INC(peer->device->dev, rx_missed_errors);
			else
				rx_dropped(peer->device, "authentication failed");
			kfree_skb(skb);
		}
		ssw_keypair_put(keypair);
		++work_done;
	}
	rcu_read_unlock_bh();
	if (work_done < budget)
		napi_complete_done(napi, work_done);
	return work_done;
}

/*
 * A handshake message of the device's mode, of its exact size. Only what
 * knows our public key (mac1) may cost the daemon anything; under load
 * (upcall.h) only what also proved its source address (mac2, the cookie
 * of a reply we sent), at most SSW_RATELIMIT_PER_SECOND per proven source,
 * while everything else gets a cookie reply from here and goes no further.
 */
static void receive_handshake(struct ssw_device *ssw, struct sk_buff *skb,
			      u8 protocol, u32 type)
{
	struct ssw_upcalls *u = &ssw->upcalls;
	struct ssw_endpoint from;

	ssw_socket_endpoint_from_skb(&from, skb);
	/*
	 * A cookie reply has no mac1: it answers one of the daemon's own
	 * messages, which only the daemon can match. Limited per source.
	 */
	if (type == SSW_MESSAGE_WG_HANDSHAKE_COOKIE ||
	    type == SSW_MESSAGE_SSW_HANDSHAKE_COOKIE)
		goto rate_limited;

	if (!ssw_cookie_mac1_valid(&ssw->cookie_checker, protocol, skb->data, skb->len)) {
		ssw_upcalls_shed(ssw, SSW_SHED_BAD_MAC1);
		goto free;
	}
	if (!ssw_upcalls_need_cookie(u))
		goto queue;
	if (!ssw_cookie_mac2_valid(&ssw->cookie_checker, skb->data, skb->len, &from)) {
		ssw_upcalls_shed(ssw, SSW_SHED_NO_MAC2);
		if (!ssw_cookie_send_reply(ssw, protocol, skb->data, skb->len, &from))
			atomic64_inc(&u->cookie_replies);
		goto free;
	}
rate_limited:
	if (!ssw_ratelimiter_allow(&ssw->ratelimiter, from.addr.sa_family,
				   from.addr.sa_family == AF_INET ?
				   (const void *)&from.addr4.sin_addr :
				   (const void *)&from.addr6.sin6_addr)) {
		ssw_upcalls_shed(ssw, SSW_SHED_RATE_LIMITED);
		goto free;
	}
queue:
	ssw_upcalls_queue(ssw, skb);
	return;
free:
	kfree_skb(skb);
}

int ssw_receive(struct sock *sk, struct sk_buff *skb)
{
	struct ssw_device *ssw = rcu_dereference_sk_user_data(sk);
	u8 protocol;
	__le32 type;
	size_t len;

	if (unlikely(!ssw)) {
		kfree_skb(skb);
		return 0;
	}
	if (unlikely(pull_udp_payload(skb) < 0 || skb->len < sizeof(type))) {
		rx_dropped(ssw, "runt datagram");
		kfree_skb(skb);
		return 0;
	}
	type = *(__le32 *)skb->data;
	protocol = READ_ONCE(ssw->protocol);
	if (type == cpu_to_le32(ssw_data_type(protocol)) &&
	    skb->len >= SSW_DATA_MIN_LEN) {
		receive_data(ssw, skb);
		return 0;
	}
	len = ssw_handshake_len(protocol, le32_to_cpu(type));
	if (len && skb->len == len) {
		receive_handshake(ssw, skb, protocol, le32_to_cpu(type));
		return 0;
	}
	rx_dropped(ssw, "unknown message type or size");
	kfree_skb(skb);
	return 0;
}
