/* The send worker: TUN -> allowed-IPs -> current keypair -> AEAD -> UDP.
 *
 * Reads up to SSW_BATCH packets from the (non-blocking) TUN device, then
 * takes the device lock for reading once for the whole batch to route and
 * seal them in place, drops the lock, and sends each socket's share with
 * one sendmmsg. Packets for a peer without a usable keypair go up to
 * Python (SSW_EV_STAGED) so the engine can start a handshake. */
#include "dp.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>

int ssw_socket_for(struct ssw_dev *d, int family)
{
	return family == AF_INET6 ? d->udp6_fd : d->udp4_fd;
}

/* h's control data: the sticky source as IP_PKTINFO / IPV6_PKTINFO (the
 * kernel then sends from that address, or refuses it (src_refused) once it is
 * no longer ours) and, when seg is set, UDP_SEGMENT.
 * The interface is left to routing (index 0). */
void ssw_set_ctrl(struct msghdr *h, union ssw_ctrl *ctrl, const struct ssw_src *src, uint16_t seg)
{
	struct cmsghdr *c;
	size_t used = 0;

	memset(ctrl, 0, sizeof(*ctrl));
	if (src && src->family) {
		struct in_pktinfo pi4 = { .ipi_spec_dst = src->v4 };
		struct in6_pktinfo pi6 = { .ipi6_addr = src->v6 };
		bool v6 = src->family == AF_INET6;
		size_t n = v6 ? sizeof(pi6) : sizeof(pi4);

		c = (struct cmsghdr *)ctrl->buf;
		c->cmsg_level = v6 ? IPPROTO_IPV6 : IPPROTO_IP;
		c->cmsg_type = v6 ? IPV6_PKTINFO : IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(n);
		memcpy(CMSG_DATA(c), v6 ? (const void *)&pi6 : (const void *)&pi4, n);
		used = CMSG_SPACE(n);
	}
	if (seg) {
		c = (struct cmsghdr *)(ctrl->buf + used);
		c->cmsg_level = SOL_UDP;
		c->cmsg_type = UDP_SEGMENT;
		c->cmsg_len = CMSG_LEN(sizeof(seg));
		memcpy(CMSG_DATA(c), &seg, sizeof(seg));
		used += CMSG_SPACE(sizeof(seg));
	}
	h->msg_control = used ? ctrl->buf : NULL;
	h->msg_controllen = used;
}

/* How the kernel refuses a source address that is no longer ours: IPv6
 * checks the IPV6_PKTINFO address (EINVAL), IPv4's output route lookup
 * finds no device that has it (ENETUNREACH). Either way the send is
 * repeated without it; if it was something else, it fails again. */
static bool src_refused(int err)
{
	return err == EINVAL || err == ENETUNREACH;
}

/* buf holds the plaintext at buf + SSW_DATA_HEADER_LEN; seals it in place and
 * returns the datagram length. The header and padding rule are
 * tests/transport_oracle.py's: type|0|0|0|receiver LE|counter LE, zero padding to 16. */
size_t ssw_encrypt_packet(struct ssw_keypair *kp, uint8_t type_data, int mtu, uint64_t counter, uint8_t *buf,
			  size_t len)
{
	size_t padded = ssw_padded_len(len, mtu);
	uint8_t *p = buf + SSW_DATA_HEADER_LEN;

	memset(p + len, 0, padded - len);
	buf[0] = type_data;
	buf[1] = buf[2] = buf[3] = 0;
	for (int i = 0; i < 4; i++)
		buf[4 + i] = (uint8_t)(kp->remote_index >> (8 * i));
	for (int i = 0; i < 8; i++)
		buf[8 + i] = (uint8_t)(counter >> (8 * i));
	if (ssw_aead_seal(&kp->send, counter, p, padded, p))
		return 0;
	return SSW_DATA_HEADER_LEN + padded + SSW_AEAD_TAG_LEN;
}

void ssw_note_sent(struct ssw_peer *p, size_t wire, bool data)
{
	uint64_t now = ssw_now_ns(), unarmed = 0;

	ssw_count(&p->c.tx_bytes, wire);
	atomic_store_explicit(&p->c.last_tx_ns, now, memory_order_relaxed);
	atomic_store_explicit(&p->c.rx_data_unanswered_ns, 0, memory_order_relaxed);
	if (data) {
		ssw_count(&p->c.tx_packets, 1);
		atomic_store_explicit(&p->c.last_tx_data_ns, now, memory_order_relaxed);
		atomic_compare_exchange_strong(&p->c.tx_data_unanswered_ns, &unarmed, now);
	}
}

/* Seal one packet for p under its current keypair; 0 if it went up instead. */
static size_t seal_for_peer(struct ssw_dev *d, struct ssw_peer *p, uint8_t *buf, size_t len, double now)
{
	struct ssw_keypair *kp = p->current;
	uint64_t counter;
	size_t out;

	if (!ssw_keypair_usable(kp, now)) {
		if (!ssw_event_push(d, SSW_EV_STAGED, p->id, 0, buf + SSW_DATA_HEADER_LEN, len, NULL, 0, NULL))
			ssw_count(&p->c.drops[SSW_DROP_NO_KEYPAIR], 1);
		return 0;
	}
	counter = atomic_fetch_add_explicit(&kp->send_counter, 1, memory_order_relaxed);
	if (counter >= SSW_REJECT_AFTER_MESSAGES) {
		ssw_count(&p->c.drops[SSW_DROP_EXPIRED], 1);
		return 0;
	}
	out = ssw_encrypt_packet(kp, d->type_data, d->mtu, counter, buf, len);
	/* send.c keep_key_fresh: the initiator rekeys by age, anyone by count. */
	if ((counter + 1 > SSW_REKEY_AFTER_MESSAGES || (kp->is_initiator && now - kp->created >= SSW_REKEY_AFTER_TIME)) &&
	    !atomic_exchange(&kp->rekey_asked, true))
		ssw_event_push(d, SSW_EV_REKEY, p->id, kp->local_index, NULL, 0, NULL, 0, NULL);
	return out;
}

/* With the write lock held (control): one packet to p under its current
 * keypair, e.g. the initiator's key-confirming keepalive (len 0) or a packet
 * the daemon staged while a handshake ran. */
int ssw_send_packet(struct ssw_dev *d, struct ssw_peer *p, const uint8_t *pkt, size_t len)
{
	uint8_t *buf;
	struct sockaddr_storage ep;
	socklen_t eplen;
	struct ssw_src src;
	union ssw_ctrl ctrl;
	struct iovec iov;
	struct msghdr h;
	size_t n;
	int fd, ret = -1;

	if (len > SSW_MAX_PLAINTEXT)
		return -1;
	if (!ssw_peer_get_endpoint(p, &ep, &eplen, &src) || (fd = ssw_socket_for(d, ep.ss_family)) < 0) {
		ssw_count(&p->c.drops[SSW_DROP_NO_ENDPOINT], 1);
		return -1;
	}
	buf = malloc(SSW_DATA_HEADER_LEN + len + SSW_PADDING_MULTIPLE + SSW_AEAD_TAG_LEN);
	if (!buf)
		return -1;
	if (len)
		memcpy(buf + SSW_DATA_HEADER_LEN, pkt, len);
	n = seal_for_peer(d, p, buf, len, ssw_now());
	if (!n)
		goto out;
	iov = (struct iovec){ buf, n };
	h = (struct msghdr){ .msg_name = &ep, .msg_namelen = eplen, .msg_iov = &iov, .msg_iovlen = 1 };
	ssw_set_ctrl(&h, &ctrl, &src, 0);
	while (sendmsg(fd, &h, MSG_DONTWAIT) < 0) {
		if (src_refused(errno) && src.family) {
			/* the source is gone: forget it, let routing pick */
			ssw_dev_forget_src(d, &src);
			src.family = 0;
			ssw_set_ctrl(&h, &ctrl, &src, 0);
			continue;
		}
		ssw_count(&d->drops[SSW_DROP_SEND_ERROR], 1);
		goto out;
	}
	ssw_note_sent(p, n, len != 0);
	ret = 0;
out:
	OPENSSL_cleanse(buf, SSW_DATA_HEADER_LEN + len);
	free(buf);
	return ret;
}

static struct ssw_peer *route(struct ssw_dev *d, const uint8_t *pkt, size_t len)
{
	if (len >= 20 && (pkt[0] >> 4) == 4)
		return ssw_trie_lookup(d->trie4, pkt + 16, 32);
	if (len >= 40 && (pkt[0] >> 4) == 6)
		return ssw_trie_lookup(d->trie6, pkt + 24, 128);
	return NULL;
}

struct out {
	struct mmsghdr msg[SSW_OFFLOAD_SLOTS];
	struct iovec iov[SSW_OFFLOAD_SLOTS];
	struct sockaddr_storage dst[SSW_OFFLOAD_SLOTS];
	struct ssw_src src[SSW_OFFLOAD_SLOTS]; /* each datagram's sticky source */
	union ssw_ctrl ctrl[SSW_OFFLOAD_SLOTS];
	int n;
	/* UDP GSO: runs of equal-sized datagrams to one destination (from one
	 * source) go out as one message with UDP_SEGMENT (the kernel, or the
	 * receiver's UDP GRO, handles the rest). A segment size the kernel
	 * refuses (EINVAL: larger than the path MTU, e.g. a big tunnel MTU whose
	 * datagrams must be fragmented) and every larger one go plain from then
	 * on; any other refusal (no support) turns GSO off for good. */
	struct mmsghdr gmsg[SSW_OFFLOAD_SLOTS];
	int gfirst[SSW_OFFLOAD_SLOTS];
	union ssw_ctrl gctrl[SSW_OFFLOAD_SLOTS];
	size_t gso_refused; /* 0: none */
	bool no_gso;
};

/* Per-thread buffers. Plain reads land in nslots fixed slots of cap
 * plaintext bytes, with room for the header in front and padding + tag
 * behind. Offload reads go to rbuf and their segments are laid out back to
 * back in mem (used bytes so far), each slot as long as that read's longest
 * segment needs, so any tunnel MTU fits. */
struct tx {
	int nslots;
	size_t cap, stride, mem_len, used;
	uint8_t *mem, *rbuf;
	uint8_t *pt[SSW_OFFLOAD_SLOTS]; /* plaintext start: slot + SSW_DATA_HEADER_LEN */
	size_t len[SSW_OFFLOAD_SLOTS];
	struct out o4, o6;
};

/* A slot's length for cap plaintext bytes, kept 16-byte aligned. */
static size_t slot_len(size_t cap)
{
	return (SSW_DATA_HEADER_LEN + cap + SSW_PADDING_MULTIPLE + SSW_AEAD_TAG_LEN + 15) & ~(size_t)15;
}

#define GSO_MAX_SEGS 64
#define GSO_MAX_BYTES 65000

/* The kernel refused message k's source (the address is no longer ours,
 * WireGuard's cue to clear it): every peer forgets it, and
 * the batch's messages from it go again from what routing picks. */
static void unstick(struct ssw_dev *d, struct out *o, int k)
{
	struct ssw_src gone = o->src[k];

	pthread_rwlock_rdlock(&d->lock);
	ssw_dev_forget_src(d, &gone);
	pthread_rwlock_unlock(&d->lock);
	for (int i = k; i < o->n; i++) {
		if (ssw_same_src(&o->src[i], &gone)) {
			memset(&o->src[i], 0, sizeof(o->src[i]));
			ssw_set_ctrl(&o->msg[i].msg_hdr, &o->ctrl[i], NULL, 0);
		}
	}
}

/* One datagram per message, from index first on. */
static void flush_plain(struct ssw_dev *d, int fd, struct out *o, int first)
{
	int done = first;

	while (done < o->n) {
		int r = sendmmsg(fd, o->msg + done, o->n - done, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (src_refused(errno) && o->src[done].family) {
				unstick(d, o, done);
				continue;
			}
			/* skip the datagram that failed (e.g. unreachable) and go on */
			ssw_count(&d->drops[SSW_DROP_SEND_ERROR], 1);
			done++;
			continue;
		}
		ssw_count(&d->udp_send_msgs, (uint64_t)r);
		done += r;
	}
}

static bool same_dst(const struct out *o, int a, int b)
{
	return o->msg[a].msg_hdr.msg_namelen == o->msg[b].msg_hdr.msg_namelen &&
	       !memcmp(&o->dst[a], &o->dst[b], o->msg[a].msg_hdr.msg_namelen) &&
	       ssw_same_src(&o->src[a], &o->src[b]);
}

/* Group the messages from first on into GSO runs (gmsg from index 0);
 * returns how many. */
static int gso_runs(struct out *o, int first)
{
	int g = 0;

	for (int k = first, m; k < o->n; k += m) {
		size_t size = o->iov[k].iov_len, total = size;
		struct msghdr *h = &o->gmsg[g].msg_hdr;
		int max = o->gso_refused && size >= o->gso_refused ? 1 : GSO_MAX_SEGS;

		for (m = 1; k + m < o->n && m < max && same_dst(o, k, k + m); m++) {
			size_t len = o->iov[k + m].iov_len;

			if (len > size || total + len > GSO_MAX_BYTES)
				break;
			total += len;
			if (len < size) {
				m++;
				break;
			}
		}
		*h = o->msg[k].msg_hdr;
		h->msg_iovlen = (size_t)m;
		if (m > 1)
			ssw_set_ctrl(h, &o->gctrl[g], &o->src[k], (uint16_t)size);
		o->gfirst[g++] = k;
	}
	return g;
}

static void flush(struct ssw_dev *d, int fd, struct out *o)
{
	int g, done = 0;

	if (o->no_gso) {
		flush_plain(d, fd, o, 0);
		o->n = 0;
		return;
	}
	g = gso_runs(o, 0);
	while (done < g) {
		int r = sendmmsg(fd, o->gmsg + done, g - done, 0), k;

		if (r >= 0) {
			ssw_count(&d->udp_send_msgs, (uint64_t)r);
			done += r;
			continue;
		}
		if (errno == EINTR)
			continue;
		k = o->gfirst[done];
		if (src_refused(errno) && o->src[k].family) {
			/* first the source (the commoner cause), then GSO below if it fails again */
			unstick(d, o, k);
			g = gso_runs(o, k);
			done = 0;
			continue;
		}
		if (o->gmsg[done].msg_hdr.msg_iovlen > 1 && errno == EINVAL) {
			/* this segment size is beyond the path MTU: such runs go plain */
			size_t size = o->iov[k].iov_len;

			if (!o->gso_refused || size < o->gso_refused)
				o->gso_refused = size;
			g = gso_runs(o, k);
			done = 0;
			continue;
		}
		if (o->gmsg[done].msg_hdr.msg_iovlen > 1) {
			/* GSO refused (no support): plain from here on */
			o->no_gso = true;
			flush_plain(d, fd, o, k);
			break;
		}
		ssw_count(&d->drops[SSW_DROP_SEND_ERROR], 1);
		done++;
	}
	o->n = 0;
}

/* Route, seal and send the n packets in t's slots. */
static void seal_batch(struct ssw_dev *d, struct tx *t, int n)
{
	double now = ssw_now();

	pthread_rwlock_rdlock(&d->lock);
	for (int i = 0; i < n; i++) {
		uint8_t *slot = t->pt[i] - SSW_DATA_HEADER_LEN;
		struct ssw_peer *p = route(d, t->pt[i], t->len[i]);
		struct out *o;
		size_t wire;
		socklen_t eplen;
		struct sockaddr_storage ep;
		struct ssw_src src;

		if (!p) {
			ssw_count(&d->drops[SSW_DROP_NO_ROUTE], 1);
			continue;
		}
		if (!ssw_peer_get_endpoint(p, &ep, &eplen, &src) || ssw_socket_for(d, ep.ss_family) < 0) {
			ssw_count(&p->c.drops[SSW_DROP_NO_ENDPOINT], 1);
			continue;
		}
		wire = seal_for_peer(d, p, slot, t->len[i], now);
		if (!wire)
			continue;
		ssw_note_sent(p, wire, true);
		o = ep.ss_family == AF_INET6 ? &t->o6 : &t->o4;
		o->dst[o->n] = ep;
		o->src[o->n] = src;
		o->iov[o->n] = (struct iovec){ slot, wire };
		o->msg[o->n].msg_hdr = (struct msghdr){ .msg_name = &o->dst[o->n], .msg_namelen = eplen,
						       .msg_iov = &o->iov[o->n], .msg_iovlen = 1 };
		ssw_set_ctrl(&o->msg[o->n].msg_hdr, &o->ctrl[o->n], &src, 0);
		o->n++;
	}
	pthread_rwlock_unlock(&d->lock);
	if (t->o4.n)
		flush(d, d->udp4_fd, &t->o4);
	if (t->o6.n)
		flush(d, d->udp6_fd, &t->o6);
}

static struct tx *tx_new(struct ssw_dev *d)
{
	struct tx *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->nslots = d->vnet_hdr ? SSW_OFFLOAD_SLOTS : SSW_BATCH;
	t->cap = SSW_MAX_PLAINTEXT;
	t->stride = slot_len(t->cap);
	t->mem_len = d->vnet_hdr ? SSW_OFFLOAD_ARENA : t->stride * SSW_BATCH;
	t->mem = malloc(t->mem_len);
	t->rbuf = d->vnet_hdr ? malloc(SSW_VNET_HDR_LEN + SSW_MAX_DATAGRAM) : NULL;
	if (!t->mem || (d->vnet_hdr && !t->rbuf)) {
		free(t->mem);
		free(t->rbuf);
		free(t);
		return NULL;
	}
	if (!d->vnet_hdr)
		for (int i = 0; i < t->nslots; i++)
			t->pt[i] = t->mem + t->stride * (size_t)i + SSW_DATA_HEADER_LEN;
	return t;
}

static void tx_free(struct tx *t)
{
	if (!t)
		return;
	/* plaintext traffic: do not leave it in the heap */
	OPENSSL_cleanse(t->mem, t->mem_len);
	free(t->mem);
	if (t->rbuf) {
		OPENSSL_cleanse(t->rbuf, SSW_VNET_HDR_LEN + SSW_MAX_DATAGRAM);
		free(t->rbuf);
	}
	free(t);
}

/* One offload read (in rbuf, r bytes) split into slots from n on; returns
 * the new count. When the slots or the arena run out, what is waiting is
 * sent first. */
static int split_read(struct ssw_dev *d, struct tx *t, size_t r, int n)
{
	size_t longest, stride;
	int need = ssw_offload_count(t->rbuf, r, &longest), k;

	if (need < 0)
		goto malformed;
	stride = slot_len(longest);
	if (n + need > t->nslots || t->used + (size_t)need * stride > t->mem_len) {
		seal_batch(d, t, n);
		n = 0;
		t->used = 0;
		if (need > t->nslots || (size_t)need * stride > t->mem_len)
			goto malformed; /* more segments than slots: never from a sane stack */
	}
	for (int i = 0; i < need; i++)
		t->pt[n + i] = t->mem + t->used + stride * (size_t)i + SSW_DATA_HEADER_LEN;
	k = ssw_offload_split(t->rbuf, r, t->pt + n, t->len + n, need, longest);
	if (k < 0)
		goto malformed;
	t->used += (size_t)k * stride;
	return n + k;
malformed:
	ssw_count(&d->drops[SSW_DROP_MALFORMED], 1);
	return n;
}

/* Up to SSW_BATCH reads; returns the packets now waiting in t's slots, or
 * -1 once the TUN device is gone (deleted, or its namespace was: the fd is
 * detached and reads fail with EBADFD). */
static int read_batch(struct ssw_dev *d, struct tx *t)
{
	int n = 0, reads;

	t->used = 0;
	for (reads = 0; reads < SSW_BATCH; reads++) {
		ssize_t r;

		if (!d->vnet_hdr)
			r = read(d->tun_fd, t->pt[n], t->cap);
		else
			r = read(d->tun_fd, t->rbuf, SSW_VNET_HDR_LEN + SSW_MAX_DATAGRAM);
		if (r < 0) {
			if (errno == EBADFD) {
				atomic_store(&d->tun_gone, true);
				return -1;
			}
			break;
		}
		if (!d->vnet_hdr)
			t->len[n++] = (size_t)r;
		else
			n = split_read(d, t, (size_t)r, n);
	}
	ssw_count(&d->tun_reads, (uint64_t)reads);
	return n;
}

void *ssw_send_worker(void *arg)
{
	struct ssw_dev *d = arg;
	struct tx *t = tx_new(d);
	struct pollfd pfd[2] = { { .fd = d->tun_fd, .events = POLLIN }, { .fd = d->stop_fd, .events = POLLIN } };

	if (!t)
		return NULL;
	for (;;) {
		int n;

		if (poll(pfd, 2, SSW_TIMER_TICK_MS) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		ssw_timers_run(d);
		n = read_batch(d, t);
		if (n < 0) {
			/* the TUN device is gone: tell the daemon (it shuts down) and stop
			 * polling a descriptor that would now be readable for ever */
			uint64_t one = 1;
			ssize_t w = write(d->event_fd, &one, sizeof(one));

			(void)w;
			break;
		}
		if (n)
			seal_batch(d, t, n);
	}
	tx_free(t);
	return NULL;
}
