// SPDX-License-Identifier: GPL-2.0
/*
 * Load-time self-test of the allowed-IPs trie's longest-prefix lookup,
 * run when the module is loaded with selftest=1 (the VM suite does).
 *
 * The data path is what normally exercises lookup; this pins it without
 * any packets: fixed cases with nested, adjacent and default routes in
 * both families, then random tables checked against a linear scan, then
 * the same after random removals. A failure refuses the module load.
 */

#include "selftest.h"
#include "allowedips.h"
#include "compat.h"
#include "peer.h"

#include <linux/mutex.h>
#include <linux/prandom.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/socket.h>
#include <linux/string.h>

#define NPEERS 8
#define NRANDOM 512
#define NPROBES 2048

struct ref_entry {
	u8 key[16];
	u8 cidr;
	u8 bits;
	bool live;
	struct ssw_peer *peer;
};

static bool prefix_match(const u8 *key, const u8 *addr, u8 cidr)
{
	unsigned int whole = cidr / 8, rest = cidr % 8;

	if (memcmp(key, addr, whole))
		return false;
	if (!rest)
		return true;
	return !((key[whole] ^ addr[whole]) & (0xff00 >> rest));
}

/* Longest live prefix of @ref containing @addr; later entries win ties. */
static struct ssw_peer *ref_lookup(const struct ref_entry *ref, unsigned int n,
				   u8 bits, const u8 *addr)
{
	struct ssw_peer *found = NULL;
	int best = -1;
	unsigned int i;

	for (i = 0; i < n; ++i) {
		if (!ref[i].live || ref[i].bits != bits || (int)ref[i].cidr < best)
			continue;
		if (prefix_match(ref[i].key, addr, ref[i].cidr)) {
			best = ref[i].cidr;
			found = ref[i].peer;
		}
	}
	return found;
}

static struct ssw_peer *lookup(struct ssw_allowedips *t, int family,
			       const void *addr)
{
	struct ssw_peer *peer;

	rcu_read_lock_bh();
	peer = ssw_allowedips_lookup(t, family, addr);
	rcu_read_unlock_bh();
	return peer;
}

static void mask(u8 *key, u8 bits, u8 cidr)
{
	unsigned int i;

	for (i = cidr; i < bits; ++i)
		key[i / 8] &= ~(0x80 >> (i % 8));
}

struct fixed_case {
	int family;
	const char *addr;	/* v4 dotted quad or 16 hex bytes */
	u8 cidr;
	int peer;
};

static int parse_addr(int family, const char *s, u8 out[16])
{
	memset(out, 0, 16);
	if (family == AF_INET) {
		unsigned int a, b, c, d;

		if (sscanf(s, "%u.%u.%u.%u", &a, &b, &c, &d) != 4)
			return -EINVAL;
		out[0] = a;
		out[1] = b;
		out[2] = c;
		out[3] = d;
		return 0;
	}
	return hex2bin(out, s, 16);
}

static const struct fixed_case inserts[] = {
	{ AF_INET, "0.0.0.0", 0, 0 },
	{ AF_INET, "10.0.0.0", 8, 1 },
	{ AF_INET, "10.1.0.0", 16, 2 },
	{ AF_INET, "10.1.2.0", 24, 3 },
	{ AF_INET, "10.1.2.128", 25, 4 },
	{ AF_INET, "10.1.2.200", 32, 5 },
	{ AF_INET, "192.168.0.0", 16, 6 },
	{ AF_INET, "192.169.0.0", 16, 7 },
	{ AF_INET6, "fd000000000000000000000000000000", 8, 1 },
	{ AF_INET6, "fd120000000000000000000000000000", 16, 2 },
	{ AF_INET6, "fd123456000000000000000000000000", 32, 3 },
	{ AF_INET6, "fd123456000000000000000000000001", 128, 4 },
	{ AF_INET6, "20010db8000000000000000000000000", 32, 5 },
};

static const struct fixed_case probes[] = {
	{ AF_INET, "10.1.2.200", 0, 5 },
	{ AF_INET, "10.1.2.201", 0, 4 },
	{ AF_INET, "10.1.2.127", 0, 3 },
	{ AF_INET, "10.1.3.1", 0, 2 },
	{ AF_INET, "10.2.0.1", 0, 1 },
	{ AF_INET, "11.0.0.1", 0, 0 },
	{ AF_INET, "192.168.255.255", 0, 6 },
	{ AF_INET, "192.169.0.0", 0, 7 },
	{ AF_INET, "192.170.0.0", 0, 0 },
	{ AF_INET6, "fd123456000000000000000000000001", 0, 4 },
	{ AF_INET6, "fd123456000000000000000000000002", 0, 3 },
	{ AF_INET6, "fd12ffff000000000000000000000000", 0, 2 },
	{ AF_INET6, "fdff0000000000000000000000000000", 0, 1 },
	{ AF_INET6, "20010db8ffff00000000000000000000", 0, 5 },
	{ AF_INET6, "20010db9000000000000000000000000", 0, -1 },
};

static bool fixed_cases(struct ssw_allowedips *t, struct ssw_peer **peers)
{
	unsigned int i;
	u8 addr[16];

	for (i = 0; i < ARRAY_SIZE(inserts); ++i) {
		if (parse_addr(inserts[i].family, inserts[i].addr, addr) ||
		    ssw_allowedips_insert(t, inserts[i].family, addr,
					  inserts[i].cidr,
					  peers[inserts[i].peer]))
			return false;
	}
	for (i = 0; i < ARRAY_SIZE(probes); ++i) {
		struct ssw_peer *want = probes[i].peer < 0 ? NULL : peers[probes[i].peer];

		if (parse_addr(probes[i].family, probes[i].addr, addr))
			return false;
		if (lookup(t, probes[i].family, addr) != want) {
			pr_err("self-test: fixed probe %u (%s) failed\n", i, probes[i].addr);
			return false;
		}
	}
	/* Removing the /25 exposes the /24 under it; the /32 stays. */
	parse_addr(AF_INET, "10.1.2.128", addr);
	ssw_allowedips_remove(t, AF_INET, addr, 25, peers[4]);
	parse_addr(AF_INET, "10.1.2.201", addr);
	if (lookup(t, AF_INET, addr) != peers[3])
		return false;
	parse_addr(AF_INET, "10.1.2.200", addr);
	if (lookup(t, AF_INET, addr) != peers[5])
		return false;
	/* Only the owner can remove a prefix. */
	parse_addr(AF_INET, "10.0.0.0", addr);
	ssw_allowedips_remove(t, AF_INET, addr, 8, peers[2]);
	parse_addr(AF_INET, "10.9.9.9", addr);
	return lookup(t, AF_INET, addr) == peers[1];
}

static void random_prefix(struct rnd_state *rnd, struct ref_entry *e)
{
	static const u8 cidrs4[] = { 0, 1, 7, 8, 12, 16, 20, 24, 25, 30, 31, 32 };
	static const u8 cidrs6[] = { 0, 1, 16, 32, 48, 63, 64, 65, 96, 127, 128 };

	e->bits = prandom_u32_state(rnd) & 1 ? 32 : 128;
	prandom_bytes_state(rnd, e->key, sizeof(e->key));
	/* A narrow address space makes nesting and shared prefixes likely. */
	e->key[0] = 10 + (prandom_u32_state(rnd) & 1);
	e->key[1] &= 0x03;
	if (e->bits == 32)
		e->cidr = cidrs4[prandom_u32_state(rnd) % ARRAY_SIZE(cidrs4)];
	else
		e->cidr = cidrs6[prandom_u32_state(rnd) % ARRAY_SIZE(cidrs6)];
	memset(e->key + e->bits / 8, 0, sizeof(e->key) - e->bits / 8);
	mask(e->key, e->bits, e->cidr);
}

static bool random_probe(struct ssw_allowedips *t, struct ref_entry *ref,
			 unsigned int n, struct rnd_state *rnd)
{
	unsigned int i;
	u8 addr[16];
	u8 bits;

	for (i = 0; i < NPROBES; ++i) {
		const struct ref_entry *near = &ref[prandom_u32_state(rnd) % n];

		/* Half the probes land inside a stored prefix, the rest anywhere nearby. */
		bits = near->bits;
		prandom_bytes_state(rnd, addr, sizeof(addr));
		if (i & 1) {
			unsigned int b;

			for (b = 0; b < near->cidr; ++b) {
				addr[b / 8] &= ~(0x80 >> (b % 8));
				addr[b / 8] |= near->key[b / 8] & (0x80 >> (b % 8));
			}
		} else {
			addr[0] = 10 + (prandom_u32_state(rnd) & 1);
			addr[1] &= 0x03;
		}
		if (lookup(t, bits == 32 ? AF_INET : AF_INET6, addr) !=
		    ref_lookup(ref, n, bits, addr)) {
			pr_err("self-test: random probe %u (/%u family) mismatch\n", i, bits);
			return false;
		}
	}
	return true;
}

static bool random_cases(struct ssw_allowedips *t, struct ssw_peer **peers)
{
	struct ref_entry *ref;
	struct rnd_state rnd;
	unsigned int i, j;
	bool ok = false;

	ref = kcalloc(NRANDOM, sizeof(*ref), GFP_KERNEL);
	if (!ref)
		return false;
	prandom_seed_state(&rnd, get_random_u64());
	for (i = 0; i < NRANDOM; ++i) {
		random_prefix(&rnd, &ref[i]);
		ref[i].peer = peers[prandom_u32_state(&rnd) % NPEERS];
		ref[i].live = true;
		/* A prefix belongs to its last inserter: retire earlier copies. */
		for (j = 0; j < i; ++j) {
			if (ref[j].bits == ref[i].bits && ref[j].cidr == ref[i].cidr &&
			    !memcmp(ref[j].key, ref[i].key, 16))
				ref[j].live = false;
		}
		if (ssw_allowedips_insert(t, ref[i].bits == 32 ? AF_INET : AF_INET6,
					  ref[i].key, ref[i].cidr, ref[i].peer))
			goto out;
	}
	if (!random_probe(t, ref, NRANDOM, &rnd))
		goto out;
	for (i = 0; i < NRANDOM; ++i) {
		if (!ref[i].live || prandom_u32_state(&rnd) % 3)
			continue;
		ssw_allowedips_remove(t, ref[i].bits == 32 ? AF_INET : AF_INET6,
				      ref[i].key, ref[i].cidr, ref[i].peer);
		ref[i].live = false;
	}
	if (!random_probe(t, ref, NRANDOM, &rnd))
		goto out;
	/* A peer's removal takes all its prefixes. */
	ssw_allowedips_remove_by_peer(t, peers[0]);
	for (i = 0; i < NRANDOM; ++i)
		if (ref[i].peer == peers[0])
			ref[i].live = false;
	ok = random_probe(t, ref, NRANDOM, &rnd);
out:
	kfree(ref);
	return ok;
}

int __init ssw_selftest_allowedips(void)
{
	struct ssw_peer *peers[NPEERS] = { };
	struct ssw_allowedips table;
	static DEFINE_MUTEX(lock);
	bool ok = false;
	unsigned int i;

	for (i = 0; i < NPEERS; ++i) {
		peers[i] = kzalloc(sizeof(*peers[i]), GFP_KERNEL);
		if (!peers[i])
			goto out;
		INIT_LIST_HEAD(&peers[i]->allowedips_list);
	}

	mutex_lock(&lock);
	ssw_allowedips_init(&table, &lock);
	ok = fixed_cases(&table, peers);
	ssw_allowedips_free(&table);
	if (ok) {
		ssw_allowedips_init(&table, &lock);
		ok = random_cases(&table, peers);
		ssw_allowedips_free(&table);
	}
	mutex_unlock(&lock);
	rcu_barrier(); /* trie nodes freed before their peers */
out:
	for (i = 0; i < NPEERS; ++i)
		kfree(peers[i]);
	if (!ok) {
		pr_err("allowedips self-test: FAIL\n");
		return -ENOTRECOVERABLE;
	}
	pr_info("allowedips self-test: pass\n");
	return 0;
}
