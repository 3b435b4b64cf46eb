/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SSW_PEER_H
#define _SSW_PEER_H

#include <linux/in.h>
#include <linux/in6.h>
#include <linux/kref.h>
#include <linux/skbuff.h>
#include <linux/list.h>
#include <linux/netdevice.h>
#include <linux/spinlock.h>
#include <linux/time64.h>
#include <linux/timer.h>
#include <linux/types.h>
#include <net/dst_cache.h>

#include "uapi/secureswift.h"
#include "keypair.h"

struct ssw_device;

/*
 * Where a peer is: its address, and the address of ours it last reached
 * (sticky source, as WireGuard's struct endpoint): replies leave from the
 * address the peer wrote to, not from whatever the routing table prefers,
 * so a multi-homed host or a floating address answers from the address a
 * NAT or firewall in front of the peer expects. Zero source: any.
 * Always zeroed before filling: whole endpoints are compared with memcmp.
 */
struct ssw_endpoint {
	union {
		struct sockaddr addr;
		struct sockaddr_in addr4;
		struct sockaddr_in6 addr6;
	};
	union {
		struct in_addr src4;
		struct in6_addr src6;
	};
	/* The interface the source was seen on; 0: not known. */
	int src_if;
};

struct ssw_peer {
	struct ssw_device *device;
	struct hlist_node pubkey_hash;		/* device->peer_hash, RCU */
	struct list_head peer_list;		/* device->peer_list */
	struct list_head allowedips_list;	/* nodes routing to us */
	/* Creation order; dumps resume from it. Never reused. */
	u64 internal_id;

	u8 public_key[SSW_KEY_LEN];
	u8 preshared_key[SSW_KEY_LEN];
	bool has_preshared_key;

	rwlock_t endpoint_lock;
	struct ssw_endpoint endpoint;		/* family AF_UNSPEC: none */
	/* The outer route to the endpoint; the tx work item's alone (socket.c). */
	struct ssw_route_cache {
		struct dst_cache cache;
		struct ssw_endpoint endpoint;	/* what it was filled for */
		u32 fwmark;
		u16 port;
		u32 flushed;			/* ->flushes when last reset */
		u32 addr_gen;			/* the netns's dev_addr_genid then */
		atomic_t flushes;		/* ssw_socket_clear_src() */
	} route_cache;

	u16 persistent_keepalive_interval;	/* seconds, 0: off; timers.c */
	char name[SSW_PEER_NAME_MAX + 1];

	/* Data-path counters: encrypted UDP payload bytes, as WireGuard counts. */
	atomic64_t rx_bytes, tx_bytes, rx_packets, tx_packets;
	/* Wall time of the last keypair install (the daemon's handshake). */
	struct timespec64 walltime_last_handshake;
	struct ssw_peer_keypairs keypairs;
	/* Waiting for a keypair; its lock also guards last_need_handshake_ns. */
	struct sk_buff_head staged_packets;
	u64 last_need_handshake_ns;
	/* The data path's ordered queues and their consumers (queueing.h). */
	struct sk_buff_head tx_queue, rx_queue;
	struct work_struct tx_work;
	int tx_cpu;
	struct napi_struct napi;

	/* timers.c */
	struct timer_list timer_send_keepalive;
	struct timer_list timer_new_handshake;
	struct timer_list timer_zero_key_material;
	struct timer_list timer_persistent_keepalive;
	bool timer_need_another_keepalive;
	bool sent_lastminute_handshake;

	struct kref refcount;
	struct rcu_head rcu;
	bool is_dead;	/* WRITE_ONCE under device_update_lock, then a grace period */
};

struct ssw_peer *ssw_peer_create(struct ssw_device *ssw,
				 const u8 public_key[SSW_KEY_LEN]);
struct ssw_peer *ssw_peer_lookup(struct ssw_device *ssw,
				 const u8 public_key[SSW_KEY_LEN]);
void ssw_peer_remove(struct ssw_peer *peer);
void ssw_peer_remove_all(struct ssw_device *ssw);
void ssw_peer_put(struct ssw_peer *peer);
void ssw_peer_set_preshared_key(struct ssw_peer *peer, const u8 *key);
/* NEED_HANDSHAKE for @peer, at most once per REKEY_TIMEOUT (any context). */
void ssw_peer_want_handshake(struct ssw_peer *peer);

/*
 * Our private key changed: the sessions made with the old one end now, as
 * WireGuard expires them (not up to REJECT_AFTER_TIME later), and a peer
 * with packets waiting asks for a handshake at once.
 */
void ssw_peer_identity_changed(struct ssw_peer *peer);

/*
 * Move the peer's endpoint to @ep (SET_DEVICE, or a handshake the daemon
 * authenticated). True when that changed it.
 */
bool ssw_peer_set_endpoint(struct ssw_peer *peer, const struct ssw_endpoint *ep);
/*
 * The daemon gave up on a handshake: drop the staged packets, counted in
 * tx_dropped as WireGuard does. Returns how many went.
 */
unsigned int ssw_peer_purge_staged(struct ssw_peer *peer);

/*
 * @len bytes of UDP payload received from @peer, on its counters and the
 * device's (`ip -s link` is the peers' sum). BHs off: per-CPU counters.
 */
void ssw_peer_count_rx(struct ssw_peer *peer, unsigned int len);

int ssw_peer_hash_init(void);

#endif /* _SSW_PEER_H */
