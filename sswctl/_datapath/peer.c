/* Peers, keypairs and the receiver-index table. Everything that frees runs
 * with the device lock held for writing, so no worker holds a pointer to
 * what is freed (the workers only use these under the read lock). */
#include "dp.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>

const char *const ssw_drop_names[SSW_DROP__MAX] = {
	[SSW_DROP_REPLAY] = "replay",
	[SSW_DROP_DECRYPT] = "decrypt",
	[SSW_DROP_ALLOWED_IPS] = "allowed_ips",
	[SSW_DROP_NO_KEYPAIR] = "no_keypair",
	[SSW_DROP_UNKNOWN_INDEX] = "unknown_index",
	[SSW_DROP_MALFORMED] = "malformed",
	[SSW_DROP_EXPIRED] = "expired",
	[SSW_DROP_NO_ROUTE] = "no_route",
	[SSW_DROP_NO_ENDPOINT] = "no_endpoint",
	[SSW_DROP_SEND_ERROR] = "send_error",
	[SSW_DROP_TUN_WRITE] = "tun_write",
	[SSW_DROP_EVENT_OVERFLOW] = "event_overflow",
};

uint64_t ssw_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

double ssw_now(void)
{
	return (double)ssw_now_ns() / 1e9;
}

int ssw_dev_init(struct ssw_dev *d, uint8_t type_data, int mtu)
{
	pthread_rwlockattr_t attr;

	memset(d, 0, sizeof(*d));
	if (ssw_htab_init(&d->peer_table))
		return -1;
	if (ssw_htab_init(&d->index_table)) {
		ssw_htab_free(&d->peer_table);
		return -1;
	}
	/* Writer preference: control calls must not starve behind workers. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&d->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_mutex_init(&d->ev_lock, NULL);
	d->type_data = type_data;
	d->mtu = mtu;
	d->tun_fd = d->udp4_fd = d->udp6_fd = d->stop_fd = d->event_fd = -1;
	return 0;
}

void ssw_dev_destroy(struct ssw_dev *d)
{
	while (d->n_peers)
		ssw_peer_remove(d, d->peers[d->n_peers - 1]);
	free(d->peers);
	d->peers = NULL;
	d->cap_peers = 0;
	ssw_trie_free(d->trie4);
	ssw_trie_free(d->trie6);
	d->trie4 = d->trie6 = NULL;
	ssw_htab_free(&d->peer_table);
	ssw_htab_free(&d->index_table);
	ssw_events_free(d->events, d->n_events);
	d->events = NULL;
	d->n_events = d->n_staged = 0;
	pthread_rwlock_destroy(&d->lock);
	pthread_mutex_destroy(&d->ev_lock);
}

struct ssw_peer *ssw_peer_find(struct ssw_dev *d, uint64_t id)
{
	struct ssw_hnode *e = ssw_htab_find(&d->peer_table, id, &d->control_work);

	return e ? (struct ssw_peer *)((char *)e - offsetof(struct ssw_peer, hnode)) : NULL;
}

struct ssw_peer *ssw_peer_add(struct ssw_dev *d, uint64_t id)
{
	struct ssw_peer *p;

	if (d->n_peers == d->cap_peers) {
		size_t cap = d->cap_peers ? d->cap_peers * 2 : 16;
		struct ssw_peer **n = realloc(d->peers, cap * sizeof(*n));

		if (!n)
			return NULL;
		d->peers = n;
		d->cap_peers = cap;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->id = id;
	pthread_spin_init(&p->ep_lock, PTHREAD_PROCESS_PRIVATE);
	p->slot = d->n_peers;
	d->peers[d->n_peers++] = p;
	ssw_htab_add(&d->peer_table, &p->hnode, id);
	return p;
}

static struct ssw_trie **trie_of(struct ssw_dev *d, const struct ssw_aip *a)
{
	return a->family == 4 ? &d->trie4 : &d->trie6;
}

void ssw_peer_remove(struct ssw_dev *d, struct ssw_peer *p)
{
	ssw_peer_clear_keypairs(d, p);
	for (size_t i = 0; i < p->n_aips; i++)
		ssw_trie_remove(trie_of(d, &p->aips[i]), p->aips[i].addr, p->aips[i].cidr, p, &d->control_work);
	free(p->aips);
	p->aips = NULL;
	p->n_aips = 0;
	ssw_htab_del(&d->peer_table, &p->hnode, &d->control_work);
	d->peers[p->slot] = d->peers[--d->n_peers];
	d->peers[p->slot]->slot = p->slot;
	pthread_spin_destroy(&p->ep_lock);
	free(p);
}

int ssw_peer_set_endpoint(struct ssw_peer *p, const struct sockaddr *sa, socklen_t len, const struct ssw_src *src)
{
	if (len > sizeof(p->endpoint))
		return -1;
	pthread_spin_lock(&p->ep_lock);
	memset(&p->endpoint, 0, sizeof(p->endpoint));
	if (sa)
		memcpy(&p->endpoint, sa, len);
	p->endpoint_len = sa ? len : 0;
	if (sa && src && src->family == sa->sa_family)
		p->src = *src;
	else
		memset(&p->src, 0, sizeof(p->src));
	pthread_spin_unlock(&p->ep_lock);
	return 0;
}

bool ssw_peer_get_endpoint(struct ssw_peer *p, struct sockaddr_storage *out, socklen_t *len, struct ssw_src *src)
{
	pthread_spin_lock(&p->ep_lock);
	*out = p->endpoint;
	*len = p->endpoint_len;
	if (src)
		*src = p->src;
	pthread_spin_unlock(&p->ep_lock);
	return *len != 0;
}

void ssw_peer_clear_src(struct ssw_peer *p)
{
	pthread_spin_lock(&p->ep_lock);
	memset(&p->src, 0, sizeof(p->src));
	pthread_spin_unlock(&p->ep_lock);
}

bool ssw_same_src(const struct ssw_src *a, const struct ssw_src *b)
{
	if (a->family != b->family)
		return false;
	if (a->family == AF_INET)
		return a->v4.s_addr == b->v4.s_addr;
	if (a->family == AF_INET6)
		return !memcmp(&a->v6, &b->v6, sizeof(a->v6));
	return true;
}

void ssw_dev_forget_src(struct ssw_dev *d, const struct ssw_src *src)
{
	for (size_t i = 0; i < d->n_peers; i++) {
		struct ssw_peer *p = d->peers[i];

		pthread_spin_lock(&p->ep_lock);
		if (ssw_same_src(&p->src, src))
			memset(&p->src, 0, sizeof(p->src));
		pthread_spin_unlock(&p->ep_lock);
	}
}

static bool aip_equal(const struct ssw_aip *a, const struct ssw_aip *b)
{
	return a->family == b->family && a->cidr == b->cidr && !memcmp(a->addr, b->addr, 16);
}

/* o no longer holds a: it went to another peer */
static void aip_forget(struct ssw_peer *o, const struct ssw_aip *a)
{
	for (size_t j = 0; j < o->n_aips; j++) {
		if (aip_equal(&o->aips[j], a)) {
			memmove(&o->aips[j], &o->aips[j + 1], (o->n_aips - j - 1) * sizeof(*a));
			o->n_aips--;
			return;
		}
	}
}

/* Replace p's list, in the tries in place; as in WireGuard a prefix belongs
 * to one peer, so it is taken away from any other peer that had it. Costs
 * the prefixes of p's old and new lists (and of those it takes), not the
 * peers. All memory is taken first: -1 changes nothing. */
int ssw_peer_set_aips(struct ssw_dev *d, struct ssw_peer *p, const struct ssw_aip *a, size_t n)
{
	struct ssw_trie_pool pool = { 0 };
	struct ssw_aip *copy = NULL;

	if (n) {
		copy = malloc(n * sizeof(*copy));
		if (!copy)
			return -1;
		memcpy(copy, a, n * sizeof(*copy));
		for (size_t i = 0; i < n; i++)
			ssw_aip_mask(&copy[i]);
	}
	if (ssw_trie_reserve(&pool, n)) {
		ssw_trie_pool_drain(&pool);
		free(copy);
		return -1;
	}
	for (size_t i = 0; i < p->n_aips; i++)
		ssw_trie_remove(trie_of(d, &p->aips[i]), p->aips[i].addr, p->aips[i].cidr, p, &d->control_work);
	for (size_t i = 0; i < n; i++) {
		struct ssw_trie **root = trie_of(d, &copy[i]);
		struct ssw_peer *o = ssw_trie_owner(root, copy[i].addr, copy[i].cidr, &d->control_work);

		if (o && o != p)
			aip_forget(o, &copy[i]);
		ssw_trie_insert(root, &pool, copy[i].addr, copy[i].cidr, p, &d->control_work);
	}
	ssw_trie_pool_drain(&pool);
	free(p->aips);
	p->aips = copy;
	p->n_aips = n;
	return 0;
}

struct ssw_keypair *ssw_keypair_new(uint32_t local_index, uint32_t remote_index, const uint8_t *send_key,
				    const uint8_t *recv_key, int cipher, bool is_initiator, double created)
{
	struct ssw_keypair *kp = calloc(1, sizeof(*kp));

	if (!kp)
		return NULL;
	kp->local_index = local_index;
	kp->remote_index = remote_index;
	kp->is_initiator = is_initiator;
	kp->created = created;
	ssw_replay_init(&kp->replay);
	if (ssw_aead_init(&kp->send, cipher, send_key, 1))
		goto err_send;
	if (ssw_aead_init(&kp->recv, cipher, recv_key, 0))
		goto err_recv;
	return kp;

err_recv:
	ssw_aead_free(&kp->send);
err_send:
	free(kp);
	return NULL;
}

void ssw_keypair_free(struct ssw_keypair *kp)
{
	if (!kp)
		return;
	ssw_aead_free(&kp->send);
	ssw_aead_free(&kp->recv);
	OPENSSL_cleanse(kp, sizeof(*kp));
	free(kp);
}

void ssw_index_add(struct ssw_dev *d, struct ssw_keypair *kp)
{
	ssw_htab_add(&d->index_table, &kp->hnode, kp->local_index);
}

void ssw_index_del(struct ssw_dev *d, struct ssw_keypair *kp)
{
	ssw_htab_del(&d->index_table, &kp->hnode, &d->control_work);
}

/* The receive worker's lookup (read lock): it counts no work. */
struct ssw_keypair *ssw_index_find(struct ssw_dev *d, uint32_t local_index)
{
	struct ssw_hnode *e = ssw_htab_find(&d->index_table, local_index, NULL);

	return e ? (struct ssw_keypair *)((char *)e - offsetof(struct ssw_keypair, hnode)) : NULL;
}

void ssw_keypair_drop(struct ssw_dev *d, struct ssw_keypair *kp)
{
	if (!kp)
		return;
	ssw_index_del(d, kp);
	ssw_keypair_free(kp);
}

/* noise.c add_new_keypair: an initiator's keypair is confirmed (it received
 * the response), so it becomes current at once; a responder's waits in
 * next until the first data packet under it arrives (receive.c). */
void ssw_peer_install(struct ssw_dev *d, struct ssw_peer *p, struct ssw_keypair *kp)
{
	struct ssw_keypair *cur = p->current, *prev = p->previous, *nxt = p->next;

	kp->peer = p;
	ssw_index_add(d, kp);
	if (kp->is_initiator) {
		if (nxt) {
			p->next = NULL;
			p->previous = nxt;
			ssw_keypair_drop(d, cur);
		} else {
			p->previous = cur;
		}
		ssw_keypair_drop(d, prev);
		p->current = kp;
	} else {
		p->next = kp;
		ssw_keypair_drop(d, nxt);
		p->previous = NULL;
		ssw_keypair_drop(d, prev);
	}
}

void ssw_peer_clear_keypairs(struct ssw_dev *d, struct ssw_peer *p)
{
	struct ssw_keypair *k[3] = { p->current, p->previous, p->next };

	p->current = p->previous = p->next = NULL;
	for (int i = 0; i < 3; i++)
		ssw_keypair_drop(d, k[i]);
}

bool ssw_keypair_usable(const struct ssw_keypair *kp, double now)
{
	return kp && now - kp->created < SSW_REJECT_AFTER_TIME &&
	       atomic_load_explicit(&kp->send_counter, memory_order_relaxed) < SSW_REJECT_AFTER_MESSAGES;
}
