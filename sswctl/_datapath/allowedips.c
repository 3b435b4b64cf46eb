/* Allowed-IPs: one path-compressed binary trie per family, changed in place.
 *
 * As WireGuard's allowedips.c: every node holds a prefix (bits, cidr); a
 * node's children hold longer prefixes inside it, child[b] those whose bit
 * number cidr is b. A node without a peer only branches (it has two
 * children). Insert, remove and lookup walk one root-to-leaf path, so each
 * costs O(prefix length) whatever the number of peers, and a change touches
 * only the nodes on that path: no rebuild, and no other prefix moves.
 * Writers hold the device lock for writing; the workers look up under the
 * read lock, and hold it only for the length of one lookup.
 *
 * Memory for a change is taken before the change (ssw_trie_reserve), so a
 * set of allowed IPs is applied whole or not at all. */
#include "dp.h"

#include <stdlib.h>
#include <string.h>

static int bit_at(const uint8_t *addr, int i)
{
	return (addr[i >> 3] >> (7 - (i & 7))) & 1;
}

/* How many leading bits a and b share, at most max. */
static int common_bits(const uint8_t *a, const uint8_t *b, int max)
{
	int i = 0;

	while (i + 8 <= max && a[i >> 3] == b[i >> 3])
		i += 8;
	while (i < max && bit_at(a, i) == bit_at(b, i))
		i++;
	return i;
}

static bool contains(const struct ssw_trie *n, const uint8_t *addr)
{
	return common_bits(n->bits, addr, n->cidr) == n->cidr;
}

static void mask_bits(uint8_t *bits, int cidr)
{
	for (int i = cidr; i < 128; i++)
		bits[i >> 3] &= (uint8_t)~(0x80 >> (i & 7));
}

int ssw_trie_reserve(struct ssw_trie_pool *pool, size_t inserts)
{
	/* an insert adds at most two nodes: its own and a branch */
	for (size_t want = pool->n + 2 * inserts; pool->n < want; pool->n++) {
		struct ssw_trie *n = calloc(1, sizeof(*n));

		if (!n)
			return -1;
		n->child[0] = pool->free;
		pool->free = n;
	}
	return 0;
}

void ssw_trie_pool_drain(struct ssw_trie_pool *pool)
{
	while (pool->free) {
		struct ssw_trie *n = pool->free;

		pool->free = n->child[0];
		free(n);
	}
	pool->n = 0;
}

static struct ssw_trie *node_new(struct ssw_trie_pool *pool, const uint8_t *addr, int cidr, struct ssw_peer *peer)
{
	struct ssw_trie *n = pool->free;

	pool->free = n->child[0];
	pool->n--;
	memset(n, 0, sizeof(*n));
	memcpy(n->bits, addr, 16);
	mask_bits(n->bits, cidr);
	n->cidr = (uint8_t)cidr;
	n->peer = peer;
	return n;
}

/* The pool holds at least two nodes (ssw_trie_reserve(pool, 1)). */
void ssw_trie_insert(struct ssw_trie **root, struct ssw_trie_pool *pool, const uint8_t *addr, int cidr,
		     struct ssw_peer *peer, uint64_t *work)
{
	struct ssw_trie **slot = root, *node, *leaf, *branch;
	int common;

	while ((node = *slot)) {
		(*work)++;
		common = common_bits(node->bits, addr, node->cidr < cidr ? node->cidr : cidr);
		if (common == node->cidr) {
			if (node->cidr == cidr) { /* the same prefix: it changes hands */
				node->peer = peer;
				return;
			}
			slot = &node->child[bit_at(addr, node->cidr)];
			continue;
		}
		leaf = node_new(pool, addr, cidr, peer);
		if (common == cidr) { /* the new prefix holds node */
			leaf->child[bit_at(node->bits, cidr)] = node;
			*slot = leaf;
			return;
		}
		/* they part at bit common: a branch above both */
		branch = node_new(pool, addr, common, NULL);
		branch->child[bit_at(addr, common)] = leaf;
		branch->child[bit_at(node->bits, common)] = node;
		*slot = branch;
		return;
	}
	*slot = node_new(pool, addr, cidr, peer);
}

/* The node holding exactly addr/cidr with a peer, and the slots pointing at
 * it and at its parent (for remove). */
static struct ssw_trie *find_exact(struct ssw_trie **root, const uint8_t *addr, int cidr,
				   struct ssw_trie ***slot_out, struct ssw_trie ***parent_slot_out, uint64_t *work)
{
	struct ssw_trie **slot = root, **parent_slot = NULL, *node;

	while ((node = *slot) && node->cidr <= cidr) {
		(*work)++;
		if (!contains(node, addr))
			return NULL;
		if (node->cidr == cidr) {
			if (!node->peer)
				return NULL;
			*slot_out = slot;
			*parent_slot_out = parent_slot;
			return node;
		}
		parent_slot = slot;
		slot = &node->child[bit_at(addr, node->cidr)];
	}
	return NULL;
}

struct ssw_peer *ssw_trie_owner(struct ssw_trie **root, const uint8_t *addr, int cidr, uint64_t *work)
{
	struct ssw_trie **slot, **parent_slot;
	struct ssw_trie *n = find_exact(root, addr, cidr, &slot, &parent_slot, work);

	return n ? n->peer : NULL;
}

/* A node that lost its peer or a child stays only if it still branches. */
static void prune(struct ssw_trie **slot)
{
	struct ssw_trie *n = *slot;

	if (n->peer || (n->child[0] && n->child[1]))
		return;
	*slot = n->child[0] ? n->child[0] : n->child[1];
	free(n);
}

bool ssw_trie_remove(struct ssw_trie **root, const uint8_t *addr, int cidr, const struct ssw_peer *peer,
		     uint64_t *work)
{
	struct ssw_trie **slot, **parent_slot;
	struct ssw_trie *n = find_exact(root, addr, cidr, &slot, &parent_slot, work);
	bool leaf;

	if (!n || n->peer != peer)
		return false;
	n->peer = NULL;
	leaf = !n->child[0] && !n->child[1];
	prune(slot);
	/* a leaf gone can leave its parent, a bare branch, with one child */
	if (leaf && parent_slot)
		prune(parent_slot);
	return true;
}

struct ssw_peer *ssw_trie_lookup(const struct ssw_trie *node, const uint8_t *addr, int maxbits)
{
	struct ssw_peer *best = NULL;

	while (node && contains(node, addr)) {
		if (node->peer)
			best = node->peer;
		if (node->cidr == maxbits)
			break;
		node = node->child[bit_at(addr, node->cidr)];
	}
	return best;
}

void ssw_trie_free(struct ssw_trie *root)
{
	if (!root)
		return;
	ssw_trie_free(root->child[0]);
	ssw_trie_free(root->child[1]);
	free(root);
}

void ssw_aip_mask(struct ssw_aip *a)
{
	mask_bits(a->addr, a->cidr);
	if (a->family == 4)
		memset(a->addr + 4, 0, 12);
}
