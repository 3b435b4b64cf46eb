/* Allowed-IPs: one binary trie per family, rebuilt from the peers' lists
 * whenever they change (under the device write lock), walked bit by bit
 * on lookup, remembering the deepest node that names a peer (longest
 * prefix). Simple rather than path-compressed: at most 32 or 128 steps. */
#include "dp.h"

#include <stdlib.h>
#include <string.h>

static int bit_at(const uint8_t *addr, int i)
{
	return (addr[i >> 3] >> (7 - (i & 7))) & 1;
}

int ssw_trie_insert(struct ssw_trie **root, const uint8_t *addr, int bits, struct ssw_peer *peer)
{
	struct ssw_trie **slot = root;

	for (int i = 0;; i++) {
		if (!*slot) {
			*slot = calloc(1, sizeof(**slot));
			if (!*slot)
				return -1;
		}
		if (i == bits)
			break;
		slot = &(*slot)->child[bit_at(addr, i)];
	}
	(*slot)->peer = peer;
	return 0;
}

struct ssw_peer *ssw_trie_lookup(const struct ssw_trie *node, const uint8_t *addr, int maxbits)
{
	struct ssw_peer *best = NULL;

	for (int i = 0; node; i++) {
		if (node->peer)
			best = node->peer;
		if (i == maxbits)
			break;
		node = node->child[bit_at(addr, i)];
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
	int bits = a->family == 4 ? 32 : 128;

	for (int i = a->cidr; i < bits; i++)
		a->addr[i >> 3] &= (uint8_t)~(0x80 >> (i & 7));
	if (a->family == 4)
		memset(a->addr + 4, 0, 12);
}
