/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SSW_DEVICE_H
#define _SSW_DEVICE_H

#include <linux/hashtable.h>
#include <linux/netdevice.h>
#include <linux/mutex.h>
#include <linux/list.h>
#include <linux/types.h>
#include <net/net_namespace.h>

#include "uapi/secureswift.h"
#include "allowedips.h"
#include "cookie.h"
#include "ratelimiter.h"
#include "queueing.h"
#include "upcall.h"

#define SSW_PEER_HASH_BITS 11
#define SSW_MAX_PEERS_PER_DEVICE (1U << 20)
#define SSW_INDEX_HASH_BITS 13

struct ssw_device {
	struct net_device *dev;
	/*
	 * The namespace the device was created in. The UDP socket lives here
	 * for the device's whole life, even after the netdev moves, which
	 * is what lets a tunnel carry one namespace's traffic over another's
	 * network. NULL once that namespace is going away.
	 */
	struct net __rcu *creating_net;
	struct list_head device_list;	/* under RTNL */

	/* Serialises every configuration change and the dump cursor. */
	struct mutex device_update_lock;
	/*
	 * Bumped on every change a dump could observe; a dump that spans a
	 * change is flagged NLM_F_DUMP_INTR and userspace retries.
	 */
	u32 generation;

	/*
	 * Under device_update_lock. The receive path reads none of it, only
	 * the keys the cookie checker derives from it (cookie.h).
	 */
	u8 static_private[SSW_KEY_LEN];
	u8 static_public[SSW_KEY_LEN];
	bool has_identity;

	/* Handshake messages towards the daemon (receive.c, upcall.c). */
	struct ssw_cookie_checker cookie_checker;
	struct ssw_ratelimiter ratelimiter;
	struct ssw_upcalls upcalls;

	struct list_head peer_list;		/* creation order */
	struct hlist_head peer_hash[1 << SSW_PEER_HASH_BITS];
	u32 num_peers;
	u64 peer_counter;			/* last internal_id handed out */
	struct ssw_allowedips allowedips;

	/* Receiver index -> keypair, for the receive path (RCU). */
	DECLARE_HASHTABLE(index_hash, SSW_INDEX_HASH_BITS);
	spinlock_t index_hash_lock;

	/*
	 * The UDP sockets, in creating_net; NULL while the device is down.
	 * Replaced under device_update_lock, read under RCU.
	 */
	struct sock __rcu *sock4;
	struct sock __rcu *sock6;

	/* Parallel crypto (queueing.h); the per-peer consumers are in the peers. */
	struct workqueue_struct *crypt_wq;
	struct ssw_crypt_queue encrypt_queue;
	struct ssw_crypt_queue decrypt_queue;

	u16 incoming_port;
	u32 fwmark;
	u8 protocol;	/* enum ssw_protocol */
	u8 cipher;	/* enum ssw_cipher */
};

int ssw_device_init(void);
/* Change the static identity; removes a peer that has our own public key. */
void ssw_device_set_private_key(struct ssw_device *ssw, const u8 *key);
void ssw_device_uninit(void);

#endif /* _SSW_DEVICE_H */
