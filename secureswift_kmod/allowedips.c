// SPDX-License-Identifier: GPL-2.0
/*
 * Allowed IPs: a path-compressed binary trie per address family, the
 * routing table from inner destination address to peer and the source
 * filter for decrypted packets. The shape follows the idea of WireGuard's
 * allowedips.c (a node per stored prefix plus branch nodes where prefixes
 * diverge); the code is our own.
 *
 * Readers walk under RCU; every writer holds the device's update lock.
 * New nodes are fully built before rcu_assign_pointer() publishes them,
 * and unlinked nodes are freed after a grace period, so a reader always
 * sees either the old or the new shape.
 */

#include "allowedips.h"
#include "peer.h"

#include <linux/slab.h>
#include <linux/string.h>
#include <linux/socket.h>
#include <linux/in6.h>

static struct kmem_cache *node_cache;

static inline unsigned int bit_at(const u8 *key, unsigned int i)
{
	return (key[i / 8] >> (7 - (i % 8))) & 1;
}

static void mask_key(u8 *key, unsigned int bits_len, u8 cidr)
{
	unsigned int i;

	for (i = cidr; i < bits_len; ++i)
		key[i / 8] &= ~(0x80 >> (i % 8));
}

/* Number of leading bits @a and @b share, at most @max. */
static unsigned int common_bits(const u8 *a, const u8 *b, unsigned int max)
{
	unsigned int i = 0;

	while (i + 8 <= max && a[i / 8] == b[i / 8])
		i += 8;
	while (i < max && bit_at(a, i) == bit_at(b, i))
		++i;
	return i;
}

static struct ssw_allowedips_node __rcu **
root_of(struct ssw_allowedips *table, int family)
{
	return family == AF_INET ? &table->root4 : &table->root6;
}

/* The slot (root or parent's child pointer) that holds @node. */
static struct ssw_allowedips_node __rcu **
slot_of(struct ssw_allowedips *table, struct ssw_allowedips_node *node)
{
	struct ssw_allowedips_node *parent = node->parent;

	if (!parent)
		return root_of(table, node->bits_len == 32 ? AF_INET : AF_INET6);
	if (rcu_access_pointer(parent->bit[0]) == node)
		return &parent->bit[0];
	return &parent->bit[1];
}

static struct ssw_allowedips_node *
deref(struct ssw_allowedips *table, struct ssw_allowedips_node __rcu *p)
{
	return rcu_dereference_protected(p, lockdep_is_held(table->lock));
}

static struct ssw_allowedips_node *new_node(const u8 *key, u8 bits_len, u8 cidr)
{
	struct ssw_allowedips_node *node;

	node = kmem_cache_zalloc(node_cache, GFP_KERNEL);
	if (!node)
		return NULL;
	memcpy(node->key, key, bits_len / 8);
	node->bits_len = bits_len;
	node->cidr = cidr;
	INIT_LIST_HEAD(&node->peer_list);
	return node;
}

static void node_free_rcu(struct rcu_head *rcu)
{
	kmem_cache_free(node_cache, container_of(rcu, struct ssw_allowedips_node, rcu));
}

static void set_child(struct ssw_allowedips_node *parent, unsigned int b,
		      struct ssw_allowedips_node *child)
{
	if (child)
		child->parent = parent;
	rcu_assign_pointer(parent->bit[b], child);
}

static void attach_peer(struct ssw_allowedips_node *node, struct ssw_peer *peer)
{
	list_del_init(&node->peer_list);
	list_add_tail(&node->peer_list, &peer->allowedips_list);
	rcu_assign_pointer(node->peer, peer);
}

/* Checks family and cidr, and yields the masked key of @addr/@cidr. */
static int make_key(u8 key[16], int family, const void *addr, u8 cidr,
		    unsigned int *bits_len)
{
	if (family == AF_INET)
		*bits_len = 32;
	else if (family == AF_INET6)
		*bits_len = 128;
	else
		return -EAFNOSUPPORT;
	if (cidr > *bits_len)
		return -EINVAL;
	memset(key, 0, 16);
	memcpy(key, addr, *bits_len / 8);
	mask_key(key, *bits_len, cidr);
	return 0;
}

void ssw_allowedips_init(struct ssw_allowedips *table, struct mutex *lock)
{
	RCU_INIT_POINTER(table->root4, NULL);
	RCU_INIT_POINTER(table->root6, NULL);
	table->lock = lock;
	table->seq = 1;
}

int ssw_allowedips_insert(struct ssw_allowedips *table, int family,
			  const void *addr, u8 cidr, struct ssw_peer *peer)
{
	struct ssw_allowedips_node __rcu **slot;
	struct ssw_allowedips_node *node, *parent = NULL, *fresh, *branch;
	unsigned int bits_len, common;
	u8 key[16];
	int ret;

	ret = make_key(key, family, addr, cidr, &bits_len);
	if (ret)
		return ret;
	++table->seq;

	slot = root_of(table, family);
	node = deref(table, *slot);
	while (node) {
		common = common_bits(node->key, key, min(node->cidr, cidr));
		if (common == node->cidr) {
			if (node->cidr == cidr) {
				attach_peer(node, peer);
				return 0;
			}
			/* @node is a proper prefix of the new key: descend. */
			parent = node;
			slot = &node->bit[bit_at(key, node->cidr)];
			node = deref(table, *slot);
			continue;
		}
		break;
	}

	fresh = new_node(key, bits_len, cidr);
	if (!fresh)
		return -ENOMEM;
	if (!node) {
		/* An empty slot under a node whose prefix we extend. */
		fresh->parent = parent;
		attach_peer(fresh, peer);
		rcu_assign_pointer(*slot, fresh);
		return 0;
	}

	if (common == cidr) {
		/* The new prefix contains @node: it goes in between. */
		set_child(fresh, bit_at(node->key, cidr), node);
		fresh->parent = parent;
		attach_peer(fresh, peer);
		rcu_assign_pointer(*slot, fresh);
		return 0;
	}

	/* The two diverge at bit @common: a branch node holds both. */
	branch = new_node(key, bits_len, common);
	if (!branch) {
		kmem_cache_free(node_cache, fresh);
		return -ENOMEM;
	}
	mask_key(branch->key, bits_len, common);
	set_child(branch, bit_at(key, common), fresh);
	set_child(branch, bit_at(node->key, common), node);
	branch->parent = parent;
	attach_peer(fresh, peer);
	rcu_assign_pointer(*slot, branch);
	return 0;
}

/* Take @node (no longer routing anywhere) out of the trie if it is redundant. */
static void compact(struct ssw_allowedips *table, struct ssw_allowedips_node *node)
{
	struct ssw_allowedips_node *child0, *child1, *child, *parent;

	while (node && !rcu_access_pointer(node->peer)) {
		child0 = deref(table, node->bit[0]);
		child1 = deref(table, node->bit[1]);
		if (child0 && child1)
			return;
		child = child0 ? child0 : child1;
		parent = node->parent;
		if (child)
			child->parent = parent;
		rcu_assign_pointer(*slot_of(table, node), child);
		call_rcu(&node->rcu, node_free_rcu);
		/* A childless removal can leave the parent a one-child branch. */
		if (child)
			return;
		node = parent;
	}
}

static void detach(struct ssw_allowedips *table, struct ssw_allowedips_node *node)
{
	list_del_init(&node->peer_list);
	RCU_INIT_POINTER(node->peer, NULL);
	compact(table, node);
}

int ssw_allowedips_remove(struct ssw_allowedips *table, int family,
			  const void *addr, u8 cidr, struct ssw_peer *peer)
{
	struct ssw_allowedips_node *node;
	unsigned int bits_len;
	u8 key[16];
	int ret;

	ret = make_key(key, family, addr, cidr, &bits_len);
	if (ret)
		return ret;

	node = deref(table, *root_of(table, family));
	while (node && node->cidr <= cidr &&
	       common_bits(node->key, key, node->cidr) == node->cidr) {
		if (node->cidr == cidr)
			break;
		node = deref(table, node->bit[bit_at(key, node->cidr)]);
	}
	/* Only the peer that owns a prefix can give it up, as in WireGuard. */
	if (!node || node->cidr != cidr ||
	    rcu_access_pointer(node->peer) != peer)
		return 0;
	++table->seq;
	detach(table, node);
	return 0;
}

void ssw_allowedips_remove_by_peer(struct ssw_allowedips *table,
				   struct ssw_peer *peer)
{
	struct ssw_allowedips_node *node, *tmp;

	++table->seq;
	list_for_each_entry_safe(node, tmp, &peer->allowedips_list, peer_list)
		detach(table, node);
}

static void free_trie(struct ssw_allowedips *table,
		      struct ssw_allowedips_node __rcu **root)
{
	struct ssw_allowedips_node *node = deref(table, *root), *parent, *next;

	RCU_INIT_POINTER(*root, NULL);
	/* Post-order walk over parent pointers: no stack, no recursion. */
	while (node) {
		next = deref(table, node->bit[0]);
		if (!next)
			next = deref(table, node->bit[1]);
		if (next) {
			node = next;
			continue;
		}
		parent = node->parent;
		if (parent) {
			if (rcu_access_pointer(parent->bit[0]) == node)
				RCU_INIT_POINTER(parent->bit[0], NULL);
			else
				RCU_INIT_POINTER(parent->bit[1], NULL);
		}
		list_del_init(&node->peer_list);
		call_rcu(&node->rcu, node_free_rcu);
		node = parent;
	}
}

void ssw_allowedips_free(struct ssw_allowedips *table)
{
	++table->seq;
	free_trie(table, &table->root4);
	free_trie(table, &table->root6);
}

struct ssw_peer *ssw_allowedips_lookup(struct ssw_allowedips *table,
				       int family, const void *addr)
{
	struct ssw_allowedips_node *node;
	struct ssw_peer *found = NULL, *peer;
	unsigned int bits_len = family == AF_INET ? 32 : 128;
	const u8 *key = addr;

	if (family != AF_INET && family != AF_INET6)
		return NULL;
	node = rcu_dereference_bh(*root_of(table, family));
	while (node && common_bits(node->key, key, node->cidr) == node->cidr) {
		peer = rcu_dereference_bh(node->peer);
		if (peer)
			found = peer;
		if (node->cidr == bits_len)
			break;
		node = rcu_dereference_bh(node->bit[bit_at(key, node->cidr)]);
	}
	return found;
}

int ssw_allowedips_read_node(const struct ssw_allowedips_node *node,
			     u8 ip[16], u8 *cidr)
{
	memcpy(ip, node->key, node->bits_len / 8);
	*cidr = node->cidr;
	return node->bits_len == 32 ? AF_INET : AF_INET6;
}

int __init ssw_allowedips_slab_init(void)
{
	node_cache = KMEM_CACHE(ssw_allowedips_node, 0);
	return node_cache ? 0 : -ENOMEM;
}

void ssw_allowedips_slab_uninit(void)
{
	rcu_barrier();
	kmem_cache_destroy(node_cache);
}
