/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SSW_KEYPAIR_H
#define _SSW_KEYPAIR_H

#include <linux/atomic.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/rcupdate.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/workqueue.h>

#include "uapi/secureswift.h"
#include "wire.h"

struct ssw_device;
struct ssw_peer;
struct crypto_aead;
struct timer_list;

/*
 * Limits of one keypair, as WireGuard's: wire.h (SSW_REKEY_AFTER_MESSAGES,
 * SSW_REJECT_AFTER_MESSAGES, SSW_MAX_STAGED_PACKETS); REJECT_AFTER_TIME and
 * the other times are timers.h's module parameters.
 */
#define SSW_REKEY_TIMEOUT_NS		((u64)SSW_REKEY_TIMEOUT * NSEC_PER_SEC)

/*
 * Anti-replay window over the receive counters, SSW_COUNTER_BITS_TOTAL
 * (8192) bits. Counter c is bit (c mod 8192); words are cleared lazily as
 * the window slides, so the oldest word is reused before it is entirely
 * out of range, leaving a usable window of 8192 - BITS_PER_LONG counters
 * behind the newest.
 */
struct ssw_replay {
	spinlock_t lock;
	u64 next;		/* one above the highest counter seen */
	unsigned long bitmap[SSW_COUNTER_BITS_TOTAL / BITS_PER_LONG];
};

/*
 * Transport keys the daemon derived for one session with a peer. The
 * kernel never negotiates: it only uses and expires what it is given.
 * Found by the receive path through the device's index hash (RCU), by the
 * send path through the peer's slots (RCU); freed after a grace period
 * with its keys zeroed.
 */
struct ssw_keypair {
	struct ssw_peer *peer;
	struct hlist_node index_hash;		/* device->index_hash */
	u32 local_index;
	__le32 remote_index;
	u8 send_key[SSW_KEY_LEN];
	u8 receive_key[SSW_KEY_LEN];
	atomic64_t send_counter;
	struct ssw_replay replay;
	u64 created_ns;				/* ktime_get_coarse_boottime_ns() */
	bool initiator;
	u8 cipher;				/* enum ssw_cipher */
	struct crypto_aead *send_aead;		/* AES-256-GCM only */
	struct crypto_aead *receive_aead;
	struct kref refcount;
	/* Freed after a grace period in process context (crypto API frees). */
	struct rcu_work free_work;
};

/*
 * A peer's sessions, as in WireGuard: @current sends and receives;
 * @previous only receives (packets in flight across a rekey); @next is a
 * responder's new keypair, promoted to current when the initiator's first
 * packet arrives under it (the proof that the initiator has it too).
 */
struct ssw_peer_keypairs {
	struct ssw_keypair __rcu *current_keypair;
	struct ssw_keypair __rcu *previous_keypair;
	struct ssw_keypair __rcu *next_keypair;
	spinlock_t lock;
};

int ssw_keypair_module_init(void);
void ssw_keypair_module_exit(void);
void ssw_keypairs_init(struct ssw_peer_keypairs *keypairs);
/* Install new keys for @peer; -EEXIST when @local_index is taken. */
int ssw_keypair_install(struct ssw_peer *peer, u32 local_index,
			u32 remote_index, const u8 send_key[SSW_KEY_LEN],
			const u8 receive_key[SSW_KEY_LEN], bool initiator,
			u8 cipher);
/* Drop (and zero) all of a peer's keys. */
void ssw_keypairs_clear(struct ssw_peer *peer);
/*
 * The same, for the zeroing timer @armed: unless a newer install re-armed
 * it (installs arm it under the same lock); true when keys were dropped.
 */
bool ssw_keypairs_expire(struct ssw_peer *peer, struct timer_list *armed);
/* Receive side: the keypair for @index; caller holds rcu_read_lock_bh(). */
struct ssw_keypair *ssw_keypair_lookup(struct ssw_device *ssw, __le32 index);
/* @keypair received an authentic packet: promote it if it was next (true). */
bool ssw_keypair_received_with(struct ssw_keypair *keypair);
/* A reference for a packet in flight; NULL if @keypair is being freed. */
struct ssw_keypair *ssw_keypair_get(struct ssw_keypair *keypair);
void ssw_keypair_put(struct ssw_keypair *keypair);
bool ssw_keypair_usable(const struct ssw_keypair *keypair);
/* Accept @counter once (replay window); false for replays and stale ones. */
bool ssw_replay_accept(struct ssw_replay *replay, u64 counter);

#endif /* _SSW_KEYPAIR_H */
