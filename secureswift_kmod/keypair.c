// SPDX-License-Identifier: GPL-2.0
/*
 * The keypair store: transport keys installed by the handshake daemon,
 * their rotation through a peer's current/previous/next slots, lookup by
 * receiver index for the receive path, and the replay window. No key
 * exchange happens here (or anywhere in the kernel).
 */

#include "keypair.h"
#include "compat.h"
#include "aead.h"
#include "device.h"
#include "peer.h"
#include "timers.h"

#include <linux/hashtable.h>
#include <linux/slab.h>
#include <linux/timekeeping.h>
#include <linux/timer.h>

/* Our own queue, so that module unload can wait for every free. */
static struct workqueue_struct *free_wq;

int __init ssw_keypair_module_init(void)
{
	free_wq = alloc_workqueue("secureswift-free", SSW_COMPAT_WQ_PERCPU, 0);
	return free_wq ? 0 : -ENOMEM;
}

void ssw_keypair_module_exit(void)
{
	rcu_barrier();		/* every pending free is queued ... */
	destroy_workqueue(free_wq);	/* ... and has run */
}

void ssw_keypairs_init(struct ssw_peer_keypairs *keypairs)
{
	RCU_INIT_POINTER(keypairs->current_keypair, NULL);
	RCU_INIT_POINTER(keypairs->previous_keypair, NULL);
	RCU_INIT_POINTER(keypairs->next_keypair, NULL);
	spin_lock_init(&keypairs->lock);
}

static void keypair_free(struct work_struct *work)
{
	struct ssw_keypair *keypair = container_of(to_rcu_work(work),
						   struct ssw_keypair, free_work);

	ssw_aead_free(keypair);
	memzero_explicit(keypair->send_key, sizeof(keypair->send_key));
	memzero_explicit(keypair->receive_key, sizeof(keypair->receive_key));
	kfree_sensitive(keypair);
}

static void keypair_release(struct kref *refcount)
{
	struct ssw_keypair *keypair = container_of(refcount, struct ssw_keypair, refcount);
	struct ssw_device *ssw = keypair->peer->device;

	spin_lock_bh(&ssw->index_hash_lock);
	hash_del_rcu(&keypair->index_hash);
	spin_unlock_bh(&ssw->index_hash_lock);
	queue_rcu_work(free_wq, &keypair->free_work);
}

static void keypair_put(struct ssw_keypair *keypair)
{
	if (keypair)
		kref_put(&keypair->refcount, keypair_release);
}

struct ssw_keypair *ssw_keypair_get(struct ssw_keypair *keypair)
{
	return keypair && kref_get_unless_zero(&keypair->refcount) ? keypair : NULL;
}

void ssw_keypair_put(struct ssw_keypair *keypair)
{
	keypair_put(keypair);
}

/* Swap @slot to @keypair; the old occupant is released. keypairs->lock held. */
static void replace_slot(struct ssw_peer_keypairs *keypairs,
			 struct ssw_keypair __rcu **slot,
			 struct ssw_keypair *keypair)
{
	struct ssw_keypair *old;

	old = rcu_dereference_protected(*slot, lockdep_is_held(&keypairs->lock));
	rcu_assign_pointer(*slot, keypair);
	keypair_put(old);
}

static struct ssw_keypair *slot_get(struct ssw_peer_keypairs *keypairs,
				    struct ssw_keypair __rcu **slot)
{
	return rcu_dereference_protected(*slot, lockdep_is_held(&keypairs->lock));
}

int ssw_keypair_install(struct ssw_peer *peer, u32 local_index,
			u32 remote_index, const u8 send_key[SSW_KEY_LEN],
			const u8 receive_key[SSW_KEY_LEN], bool initiator,
			u8 cipher)
{
	struct ssw_peer_keypairs *keypairs = &peer->keypairs;
	struct ssw_device *ssw = peer->device;
	struct ssw_keypair *keypair, *existing, *next;
	int ret;

	keypair = kzalloc(sizeof(*keypair), GFP_KERNEL);
	if (!keypair)
		return -ENOMEM;
	keypair->peer = peer;
	keypair->local_index = local_index;
	keypair->remote_index = cpu_to_le32(remote_index);
	memcpy(keypair->send_key, send_key, SSW_KEY_LEN);
	memcpy(keypair->receive_key, receive_key, SSW_KEY_LEN);
	atomic64_set(&keypair->send_counter, 0);
	spin_lock_init(&keypair->replay.lock);
	keypair->created_ns = ktime_get_coarse_boottime_ns();
	keypair->initiator = initiator;
	keypair->cipher = cipher;
	kref_init(&keypair->refcount);
	INIT_RCU_WORK(&keypair->free_work, keypair_free);
	ret = ssw_aead_init(keypair);
	if (ret < 0) {
		memzero_explicit(keypair->send_key, SSW_KEY_LEN);
		memzero_explicit(keypair->receive_key, SSW_KEY_LEN);
		kfree_sensitive(keypair);
		return ret;
	}

	spin_lock_bh(&ssw->index_hash_lock);
	hash_for_each_possible(ssw->index_hash, existing, index_hash, local_index) {
		if (existing->local_index == local_index) {
			spin_unlock_bh(&ssw->index_hash_lock);
			ssw_aead_free(keypair);
			kfree_sensitive(keypair);
			return -EEXIST;
		}
	}
	hash_add_rcu(ssw->index_hash, &keypair->index_hash, local_index);
	spin_unlock_bh(&ssw->index_hash_lock);

	spin_lock_bh(&keypairs->lock);
	if (initiator) {
		/*
		 * The responder already has these keys: they are current at
		 * once. What was next (never confirmed) or current becomes
		 * previous, for packets still in flight under it.
		 */
		next = slot_get(keypairs, &keypairs->next_keypair);
		if (next) {
			RCU_INIT_POINTER(keypairs->next_keypair, NULL);
			replace_slot(keypairs, &keypairs->previous_keypair, next);
		} else {
			replace_slot(keypairs, &keypairs->previous_keypair,
				     slot_get(keypairs, &keypairs->current_keypair));
			RCU_INIT_POINTER(keypairs->current_keypair, NULL);
		}
		replace_slot(keypairs, &keypairs->current_keypair, keypair);
	} else {
		/* Not usable for sending until the initiator proves it has it. */
		replace_slot(keypairs, &keypairs->next_keypair, keypair);
		replace_slot(keypairs, &keypairs->previous_keypair, NULL);
	}
	/* Under the lock: the zeroing timer must not eat the new keys. */
	ssw_timers_session_derived(peer);
	spin_unlock_bh(&keypairs->lock);
	return 0;
}

bool ssw_keypair_received_with(struct ssw_keypair *keypair)
{
	struct ssw_peer_keypairs *keypairs = &keypair->peer->keypairs;
	bool promoted = false;

	if (rcu_access_pointer(keypairs->next_keypair) != keypair)
		return false;
	spin_lock_bh(&keypairs->lock);
	if (slot_get(keypairs, &keypairs->next_keypair) == keypair) {
		RCU_INIT_POINTER(keypairs->next_keypair, NULL);
		replace_slot(keypairs, &keypairs->previous_keypair,
			     slot_get(keypairs, &keypairs->current_keypair));
		rcu_assign_pointer(keypairs->current_keypair, keypair);
		promoted = true;
	}
	spin_unlock_bh(&keypairs->lock);
	return promoted;
}

static void clear_slots(struct ssw_peer_keypairs *keypairs)
{
	replace_slot(keypairs, &keypairs->current_keypair, NULL);
	replace_slot(keypairs, &keypairs->previous_keypair, NULL);
	replace_slot(keypairs, &keypairs->next_keypair, NULL);
}

void ssw_keypairs_clear(struct ssw_peer *peer)
{
	struct ssw_peer_keypairs *keypairs = &peer->keypairs;

	spin_lock_bh(&keypairs->lock);
	clear_slots(keypairs);
	spin_unlock_bh(&keypairs->lock);
}

bool ssw_keypairs_expire(struct ssw_peer *peer, struct timer_list *armed)
{
	struct ssw_peer_keypairs *keypairs = &peer->keypairs;
	bool expire;

	spin_lock_bh(&keypairs->lock);
	expire = !timer_pending(armed);
	if (expire)
		clear_slots(keypairs);
	spin_unlock_bh(&keypairs->lock);
	return expire;
}

struct ssw_keypair *ssw_keypair_lookup(struct ssw_device *ssw, __le32 index)
{
	struct ssw_keypair *keypair;
	u32 i = le32_to_cpu(index);

	hash_for_each_possible_rcu(ssw->index_hash, keypair, index_hash, i) {
		if (keypair->local_index == i)
			return keypair;
	}
	return NULL;
}

bool ssw_keypair_usable(const struct ssw_keypair *keypair)
{
	return keypair &&
	       ktime_get_coarse_boottime_ns() - keypair->created_ns <
	       (u64)READ_ONCE(ssw_reject_after_time) * NSEC_PER_SEC;
}

bool ssw_replay_accept(struct ssw_replay *replay, u64 counter)
{
	const unsigned int words = SSW_COUNTER_BITS_TOTAL / BITS_PER_LONG;
	unsigned long bit, word, top, i;
	bool fresh = false;

	if (counter >= SSW_REJECT_AFTER_MESSAGES)
		return false;
	spin_lock_bh(&replay->lock);
	if (counter >= replay->next) {
		/* The window slides forward: clear the words it moves into. */
		word = counter / BITS_PER_LONG;
		top = replay->next ? (replay->next - 1) / BITS_PER_LONG : 0;
		if (!replay->next)
			memset(replay->bitmap, 0, sizeof(replay->bitmap));
		for (i = top + 1; i <= word && i <= top + words; ++i)
			replay->bitmap[i % words] = 0;
		replay->next = counter + 1;
	} else if (replay->next - 1 - counter >= SSW_COUNTER_BITS_TOTAL - BITS_PER_LONG) {
		goto out;	/* too old to tell */
	}
	bit = counter % SSW_COUNTER_BITS_TOTAL;
	fresh = !__test_and_set_bit(bit, replay->bitmap);
out:
	spin_unlock_bh(&replay->lock);
	return fresh;
}
