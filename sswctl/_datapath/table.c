/* Hash tables keyed by a 64-bit integer: peers by id, keypairs by receiver
 * index. Chained buckets, a power of two of them, doubled when the table
 * holds more entries than buckets so a lookup stays O(1) at any peer count.
 * The bucket is chosen by SipHash-2-4 under a key drawn at start-up, so no
 * one who can pick keys (a peer set, or indexes) can aim them at one chain.
 * Writers hold the device lock for writing, readers for reading. */
#include "dp.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                                 \
	do {                                                                                                     \
		v0 += v1;                                                                                        \
		v1 = ROTL(v1, 13);                                                                               \
		v1 ^= v0;                                                                                        \
		v0 = ROTL(v0, 32);                                                                               \
		v2 += v3;                                                                                        \
		v3 = ROTL(v3, 16);                                                                               \
		v3 ^= v2;                                                                                        \
		v0 += v3;                                                                                        \
		v3 = ROTL(v3, 21);                                                                               \
		v3 ^= v0;                                                                                        \
		v2 += v1;                                                                                        \
		v1 = ROTL(v1, 17);                                                                               \
		v1 ^= v2;                                                                                        \
		v2 = ROTL(v2, 32);                                                                               \
	} while (0)

/* SipHash-2-4 of the 8 little-endian bytes of m (Aumasson and Bernstein). */
uint64_t ssw_siphash_u64(const uint64_t key[2], uint64_t m)
{
	uint64_t v0 = key[0] ^ 0x736f6d6570736575ULL, v1 = key[1] ^ 0x646f72616e646f6dULL;
	uint64_t v2 = key[0] ^ 0x6c7967656e657261ULL, v3 = key[1] ^ 0x7465646279746573ULL;
	uint64_t last = 8ULL << 56; /* the length byte; no tail bytes */

	v3 ^= m;
	SIPROUND;
	SIPROUND;
	v0 ^= m;
	v3 ^= last;
	SIPROUND;
	SIPROUND;
	v0 ^= last;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

#define MIN_BUCKETS 64

int ssw_htab_init(struct ssw_htab *t)
{
	memset(t, 0, sizeof(*t));
	if (getrandom(t->key, sizeof(t->key), 0) != sizeof(t->key))
		return -1;
	t->buckets = calloc(MIN_BUCKETS, sizeof(*t->buckets));
	if (!t->buckets)
		return -1;
	t->mask = MIN_BUCKETS - 1;
	return 0;
}

void ssw_htab_free(struct ssw_htab *t)
{
	free(t->buckets);
	t->buckets = NULL;
	t->n = 0;
}

static size_t bucket_of(const struct ssw_htab *t, uint64_t key)
{
	return (size_t)(ssw_siphash_u64(t->key, key) & t->mask);
}

/* Doubling: each entry moves once per doubling, so adds stay O(1) amortised.
 * A failed allocation leaves the table as it was (only longer chains). */
static void grow(struct ssw_htab *t)
{
	size_t n = (t->mask + 1) * 2;
	struct ssw_hnode **b = calloc(n, sizeof(*b));
	struct ssw_hnode **old = t->buckets;

	if (!b)
		return;
	t->mask = n - 1;
	for (size_t i = 0; i < n / 2; i++) {
		struct ssw_hnode *e = old[i];

		while (e) {
			struct ssw_hnode *next = e->next;
			size_t h = bucket_of(t, e->key);

			e->next = b[h];
			b[h] = e;
			e = next;
		}
	}
	t->buckets = b;
	free(old);
}

void ssw_htab_add(struct ssw_htab *t, struct ssw_hnode *e, uint64_t key)
{
	size_t h;

	if (t->n >= t->mask + 1)
		grow(t);
	h = bucket_of(t, key);
	e->key = key;
	e->next = t->buckets[h];
	t->buckets[h] = e;
	t->n++;
}

struct ssw_hnode *ssw_htab_find(const struct ssw_htab *t, uint64_t key, uint64_t *work)
{
	for (struct ssw_hnode *e = t->buckets[bucket_of(t, key)]; e; e = e->next) {
		if (work)
			(*work)++;
		if (e->key == key)
			return e;
	}
	return NULL;
}

void ssw_htab_del(struct ssw_htab *t, struct ssw_hnode *e, uint64_t *work)
{
	for (struct ssw_hnode **b = &t->buckets[bucket_of(t, e->key)]; *b; b = &(*b)->next) {
		if (work)
			(*work)++;
		if (*b == e) {
			*b = e->next;
			t->n--;
			return;
		}
	}
}
