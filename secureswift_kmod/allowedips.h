/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SSW_ALLOWEDIPS_H
#define _SSW_ALLOWEDIPS_H

#include <linux/mutex.h>
#include <linux/list.h>
#include <linux/rcupdate.h>
#include <linux/types.h>

struct ssw_peer;

/*
 * One prefix in a path-compressed binary trie. A node either routes to a
 * peer (peer != NULL, and it sits on that peer's allowedips_list) or is a
 * pure branch point with exactly two children. Keys are in network byte
 * order and masked to cidr.
 */
struct ssw_allowedips_node {
	struct ssw_peer __rcu *peer;
	struct ssw_allowedips_node __rcu *bit[2];
	struct ssw_allowedips_node *parent;	/* writer side only */
	u8 cidr;
	u8 bits_len;				/* 32 or 128 */
	u8 key[16] __aligned(8);
	struct list_head peer_list;
	struct rcu_head rcu;
};

/* Two tries, one per family; readers under RCU, writers hold @lock. */
struct ssw_allowedips {
	struct ssw_allowedips_node __rcu *root4;
	struct ssw_allowedips_node __rcu *root6;
	struct mutex *lock;
	u64 seq;
};

void ssw_allowedips_init(struct ssw_allowedips *table, struct mutex *lock);
void ssw_allowedips_free(struct ssw_allowedips *table);
int ssw_allowedips_insert(struct ssw_allowedips *table, int family,
			  const void *addr, u8 cidr, struct ssw_peer *peer);
int ssw_allowedips_remove(struct ssw_allowedips *table, int family,
			  const void *addr, u8 cidr, struct ssw_peer *peer);
void ssw_allowedips_remove_by_peer(struct ssw_allowedips *table,
				   struct ssw_peer *peer);
/* Longest-prefix match; caller holds rcu_read_lock_bh(). */
struct ssw_peer *ssw_allowedips_lookup(struct ssw_allowedips *table,
				       int family, const void *addr);
/* The prefix a node stands for, as the dump reports it. */
int ssw_allowedips_read_node(const struct ssw_allowedips_node *node,
			     u8 ip[16], u8 *cidr);

int ssw_allowedips_slab_init(void);
void ssw_allowedips_slab_uninit(void);

#endif /* _SSW_ALLOWEDIPS_H */
