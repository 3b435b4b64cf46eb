// SPDX-License-Identifier: GPL-2.0
/*
 * Peers: creation, lookup by public key, removal. Callers hold the
 * device's update lock for every write; readers of the hash use RCU.
 */

#include "peer.h"
#include "device.h"
#include "allowedips.h"
#include "daemon.h"
#include "queueing.h"
#include "socket.h"
#include "timers.h"

#include <linux/rculist.h>
#include <linux/siphash.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <net/sock.h>
#include <crypto/algapi.h>

static siphash_key_t pubkey_hash_key;

static u32 pubkey_bucket(const u8 public_key[SSW_KEY_LEN])
{
	return hash_64(siphash(public_key, SSW_KEY_LEN, &pubkey_hash_key),
		       SSW_PEER_HASH_BITS);
}

struct ssw_peer *ssw_peer_create(struct ssw_device *ssw,
				 const u8 public_key[SSW_KEY_LEN])
{
	struct ssw_peer *peer;

	lockdep_assert_held(&ssw->device_update_lock);
	if (ssw->num_peers >= SSW_MAX_PEERS_PER_DEVICE)
		return ERR_PTR(-E2BIG);

	peer = kzalloc(sizeof(*peer), GFP_KERNEL);
	if (!peer)
		return ERR_PTR(-ENOMEM);
	if (dst_cache_init(&peer->route_cache.cache, GFP_KERNEL)) {
		kfree(peer);
		return ERR_PTR(-ENOMEM);
	}
	peer->device = ssw;
	memcpy(peer->public_key, public_key, SSW_KEY_LEN);
	INIT_LIST_HEAD(&peer->allowedips_list);
	rwlock_init(&peer->endpoint_lock);
	ssw_keypairs_init(&peer->keypairs);
	skb_queue_head_init(&peer->staged_packets);
	ssw_timers_init(peer);
	kref_init(&peer->refcount);
	peer->internal_id = ++ssw->peer_counter;
	ssw_peer_queues_init(peer);

	list_add_tail(&peer->peer_list, &ssw->peer_list);
	hlist_add_head_rcu(&peer->pubkey_hash,
			   &ssw->peer_hash[pubkey_bucket(public_key)]);
	++ssw->num_peers;
	pr_debug("%s: peer %llu created\n", ssw->dev->name, peer->internal_id);
	return peer;
}

struct ssw_peer *ssw_peer_lookup(struct ssw_device *ssw,
				 const u8 public_key[SSW_KEY_LEN])
{
	struct ssw_peer *peer;

	lockdep_assert_held(&ssw->device_update_lock);
	hlist_for_each_entry(peer, &ssw->peer_hash[pubkey_bucket(public_key)],
			     pubkey_hash) {
		if (!crypto_memneq(peer->public_key, public_key, SSW_KEY_LEN))
			return peer;
	}
	return NULL;
}

void ssw_peer_set_preshared_key(struct ssw_peer *peer, const u8 *key)
{
	static const u8 zero[SSW_KEY_LEN];

	memzero_explicit(peer->preshared_key, SSW_KEY_LEN);
	peer->has_preshared_key = key && crypto_memneq(key, zero, SSW_KEY_LEN);
	if (peer->has_preshared_key)
		memcpy(peer->preshared_key, key, SSW_KEY_LEN);
}

static void peer_free_rcu(struct rcu_head *rcu)
{
	struct ssw_peer *peer = container_of(rcu, struct ssw_peer, rcu);

	memzero_explicit(peer->preshared_key, sizeof(peer->preshared_key));
	dst_cache_destroy(&peer->route_cache.cache);
	kfree(peer);
}

static void peer_release(struct kref *refcount)
{
	struct ssw_peer *peer = container_of(refcount, struct ssw_peer, refcount);

	call_rcu(&peer->rcu, peer_free_rcu);
}

void ssw_peer_put(struct ssw_peer *peer)
{
	if (peer)
		kref_put(&peer->refcount, peer_release);
}

/*
 * Removal is WireGuard's two steps. First the peer leaves every lookup
 * structure and is marked dead; after a grace period no packet path that
 * could still see it alive is running, so nothing re-arms its timers or
 * queues new packets, and timers and crypto queues can be stopped for good
 * before the last reference goes.
 */
static void peer_make_dead(struct ssw_peer *peer)
{
	struct ssw_device *ssw = peer->device;

	hlist_del_rcu(&peer->pubkey_hash);
	list_del_init(&peer->peer_list);
	--ssw->num_peers;
	WRITE_ONCE(peer->is_dead, true);
}

static void peer_remove_after_dead(struct ssw_peer *peer)
{
	ssw_keypairs_clear(peer);
	ssw_timers_stop(peer);
	/* Packets in flight hold keypairs, which point at the peer. */
	ssw_peer_queues_stop(peer);
	skb_queue_purge(&peer->staged_packets);
	memzero_explicit(peer->preshared_key, sizeof(peer->preshared_key));
	pr_debug("%s: peer %llu removed\n", peer->device->dev->name,
		 peer->internal_id);
	ssw_peer_put(peer);
}

void ssw_peer_remove(struct ssw_peer *peer)
{
	struct ssw_device *ssw = peer->device;

	lockdep_assert_held(&ssw->device_update_lock);
	if (peer->is_dead)
		return;
	ssw_allowedips_remove_by_peer(&ssw->allowedips, peer);
	peer_make_dead(peer);
	synchronize_net();
	peer_remove_after_dead(peer);
}

void ssw_peer_remove_all(struct ssw_device *ssw)
{
	struct ssw_peer *peer, *tmp;
	LIST_HEAD(dead);

	lockdep_assert_held(&ssw->device_update_lock);
	/* One walk over the tries instead of one per peer, one grace period. */
	ssw_allowedips_free(&ssw->allowedips);
	list_for_each_entry_safe(peer, tmp, &ssw->peer_list, peer_list) {
		peer_make_dead(peer);
		list_add_tail(&peer->peer_list, &dead);
	}
	synchronize_net();
	list_for_each_entry_safe(peer, tmp, &dead, peer_list) {
		list_del_init(&peer->peer_list);
		peer_remove_after_dead(peer);
	}
}

void ssw_peer_want_handshake(struct ssw_peer *peer)
{
	u64 now = ktime_get_coarse_boottime_ns();
	bool ask;

	/* The staged queue's lock guards the time of the last request. */
	spin_lock_bh(&peer->staged_packets.lock);
	ask = !peer->last_need_handshake_ns ||
	      now - peer->last_need_handshake_ns >= SSW_REKEY_TIMEOUT_NS;
	if (ask)
		peer->last_need_handshake_ns = now;
	spin_unlock_bh(&peer->staged_packets.lock);
	if (ask)
		ssw_daemon_need_handshake(peer);
}

void ssw_peer_count_rx(struct ssw_peer *peer, unsigned int len)
{
	atomic64_add(len, &peer->rx_bytes);
	atomic64_inc(&peer->rx_packets);
	dev_sw_netstats_rx_add(peer->device->dev, len);
}

void ssw_peer_identity_changed(struct ssw_peer *peer)
{
	bool waiting;

	ssw_keypairs_clear(peer);
	spin_lock_bh(&peer->staged_packets.lock);
	peer->last_need_handshake_ns = 0;	/* the old limit was for the old identity */
	waiting = !skb_queue_empty(&peer->staged_packets);
	spin_unlock_bh(&peer->staged_packets.lock);
	if (waiting)
		ssw_peer_want_handshake(peer);
}

bool ssw_peer_set_endpoint(struct ssw_peer *peer, const struct ssw_endpoint *ep)
{
	bool changed;

	write_lock_bh(&peer->endpoint_lock);
	changed = memcmp(&peer->endpoint, ep, sizeof(*ep));
	peer->endpoint = *ep;
	write_unlock_bh(&peer->endpoint_lock);
	/* The sender's route cache notices the new address by itself. */
	return changed;
}

unsigned int ssw_peer_purge_staged(struct ssw_peer *peer)
{
	struct sk_buff_head packets;
	unsigned int dropped;

	__skb_queue_head_init(&packets);
	spin_lock_bh(&peer->staged_packets.lock);
	skb_queue_splice_init(&peer->staged_packets, &packets);
	/* The next packet asks for a fresh handshake at once. */
	peer->last_need_handshake_ns = 0;
	spin_unlock_bh(&peer->staged_packets.lock);
	dropped = skb_queue_len(&packets);
	DEV_STATS_ADD(peer->device->dev, tx_dropped, dropped);
	__skb_queue_purge(&packets);
	return dropped;
}

int __init ssw_peer_hash_init(void)
{
	get_random_bytes(&pubkey_hash_key, sizeof(pubkey_hash_key));
	return 0;
}
