/* The receive worker: UDP -> receiver index -> replay pre-check -> AEAD ->
 * replay window -> key confirmation, roaming -> inner source check -> TUN.
 *
 * recvmmsg takes up to SSW_BATCH datagrams per socket; the batch is
 * processed under one read lock, the plaintexts are written to TUN after
 * it is dropped. Handshake-type datagrams go to cookie.c (size, mac1,
 * under load: mac2 or a cookie reply, rate limit), which queues what
 * passes for Python; everything else that fails is dropped and counted. */
#include "dp.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>

#define RX_BUF 65536
/* With UDP GRO one message may carry up to 64 KiB of equal-sized datagrams */
#define RX_MAX_PKTS (SSW_BATCH * 48)

struct rx {
	uint8_t (*buf)[RX_BUF];
	struct mmsghdr msg[SSW_BATCH];
	struct iovec iov[SSW_BATCH];
	struct sockaddr_storage src[SSW_BATCH];
	/* UDP_GRO size, then IP_PKTINFO / IPV6_PKTINFO (the local address) */
	char ctrl[SSW_BATCH][CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct in6_pktinfo))];
	struct ssw_src local[SSW_BATCH];
	/* plaintexts to write to TUN once the lock is dropped */
	uint8_t *w_ptr[RX_MAX_PKTS];
	size_t w_len[RX_MAX_PKTS];
	int w_n;
	/* keypairs the batch's key rotations retired: freed under the write lock */
	struct ssw_keypair *retired[RX_MAX_PKTS];
	int n_retired;
	uint8_t merge[SSW_VNET_HDR_LEN + SSW_MAX_DATAGRAM]; /* one coalesced TUN write */
};

static bool is_handshake_type(uint32_t word)
{
	/* a handshake type of either mode, reserved bytes 0; cookie.c checks
	 * which mode applies */
	return ssw_wire_handshake_len(SSW_MESSAGE_WG_DATA, word) || ssw_wire_handshake_len(SSW_MESSAGE_SSW_DATA, word);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static bool same_addr(const struct sockaddr_storage *a, socklen_t alen, const struct sockaddr_storage *b,
		      socklen_t blen)
{
	if (a->ss_family != b->ss_family || !alen || !blen)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16) &&
		       x->sin6_scope_id == y->sin6_scope_id;
	}
	return false;
}

/* receive.c wg_noise_received_with_keypair: the first packet under the
 * responder's next keypair confirms it. Only this thread rotates slots
 * while workers run; the keypair pushed out is retired, not freed here. */
static void confirm(struct ssw_dev *d, struct rx *rx, struct ssw_peer *p, struct ssw_keypair *kp)
{
	struct ssw_keypair *old_prev;

	if (p->next != kp)
		return;
	old_prev = p->previous;
	p->next = NULL;
	p->previous = p->current;
	p->current = kp;
	if (old_prev)
		rx->retired[rx->n_retired++] = old_prev;
	ssw_event_push(d, SSW_EV_CONFIRMED, p->id, kp->local_index, NULL, 0, NULL, 0, NULL);
}

/* The inner packet's own length (the rest is padding), or 0 if malformed. */
static size_t inner_len(const uint8_t *pkt, size_t len, const uint8_t **src, int *family)
{
	size_t n;

	if (len >= 20 && (pkt[0] >> 4) == 4) {
		n = (size_t)pkt[2] << 8 | pkt[3];
		if (n < 20 || n > len)
			return 0;
		*src = pkt + 12;
		*family = 4;
		return n;
	}
	if (len >= 40 && (pkt[0] >> 4) == 6) {
		n = 40 + ((size_t)pkt[4] << 8 | pkt[5]);
		if (n > len)
			return 0;
		*src = pkt + 8;
		*family = 6;
		return n;
	}
	return 0;
}

static void transport(struct ssw_dev *d, struct rx *rx, uint8_t *dg, size_t len,
		      const struct sockaddr_storage *src_addr, socklen_t src_len, const struct ssw_src *local,
		      double now)
{
	struct ssw_keypair *kp;
	struct ssw_peer *p, *owner;
	uint64_t counter;
	size_t plen, n;
	const uint8_t *src;
	int family;
	struct sockaddr_storage ep;
	socklen_t eplen;
	struct ssw_src ep_src;

	if (len < SSW_DATA_HEADER_LEN + SSW_AEAD_TAG_LEN) {
		ssw_count(&d->drops[SSW_DROP_MALFORMED], 1);
		return;
	}
	kp = ssw_index_find(d, le32(dg + 4));
	if (!kp) {
		ssw_count(&d->drops[SSW_DROP_UNKNOWN_INDEX], 1);
		return;
	}
	p = kp->peer;
	counter = le64(dg + 8);
	/* Only this peer's live slots; a retired keypair still indexed is dead. */
	if (kp != p->current && kp != p->previous && kp != p->next) {
		ssw_count(&p->c.drops[SSW_DROP_UNKNOWN_INDEX], 1);
		return;
	}
	if (now - kp->created >= SSW_REJECT_AFTER_TIME) {
		ssw_count(&p->c.drops[SSW_DROP_EXPIRED], 1);
		return;
	}
	if (!ssw_replay_would_accept(&kp->replay, counter)) {
		ssw_count(&p->c.drops[SSW_DROP_REPLAY], 1);
		return;
	}
	plen = len - SSW_DATA_HEADER_LEN - SSW_AEAD_TAG_LEN;
	if (ssw_aead_open(&kp->recv, counter, dg + SSW_DATA_HEADER_LEN, len - SSW_DATA_HEADER_LEN, dg + SSW_DATA_HEADER_LEN)) {
		ssw_count(&p->c.drops[SSW_DROP_DECRYPT], 1);
		return;
	}
	if (!ssw_replay_check(&kp->replay, counter)) {
		ssw_count(&p->c.drops[SSW_DROP_REPLAY], 1);
		return;
	}
	/* authentic from here on */
	ssw_count(&p->c.rx_bytes, len);
	atomic_store_explicit(&p->c.last_rx_ns, ssw_now_ns(), memory_order_relaxed);
	atomic_store_explicit(&p->c.tx_data_unanswered_ns, 0, memory_order_relaxed);
	/* roaming: the endpoint, and the local address it wrote to (sticky source) */
	ssw_peer_get_endpoint(p, &ep, &eplen, &ep_src);
	if (!same_addr(&ep, eplen, src_addr, src_len) || !ssw_same_src(&ep_src, local)) {
		ssw_peer_set_endpoint(p, (const struct sockaddr *)src_addr, src_len, local);
		ssw_event_push(d, SSW_EV_ENDPOINT, p->id, 0, NULL, 0, src_addr, src_len, local);
	} else if (ep_src.ifindex != local->ifindex) {
		/* same address, now known (or seen) on another interface: no news */
		ssw_peer_set_endpoint(p, (const struct sockaddr *)src_addr, src_len, local);
	}
	confirm(d, rx, p, kp);
	if (kp == p->current && kp->is_initiator && now - kp->created >= SSW_REKEY_ON_RECV_AGE &&
	    !atomic_exchange(&kp->rekey_asked, true) &&
	    !ssw_event_push(d, SSW_EV_REKEY, p->id, kp->local_index, NULL, 0, NULL, 0, NULL))
		atomic_store(&kp->rekey_asked, false); /* not queued: ask again on the next packet */
	if (!plen)
		return; /* keepalive */
	n = inner_len(dg + SSW_DATA_HEADER_LEN, plen, &src, &family);
	if (!n) {
		ssw_count(&p->c.drops[SSW_DROP_MALFORMED], 1);
		return;
	}
	owner = family == 4 ? ssw_trie_lookup(d->trie4, src, 32) : ssw_trie_lookup(d->trie6, src, 128);
	if (owner != p) {
		ssw_count(&p->c.drops[SSW_DROP_ALLOWED_IPS], 1);
		return;
	}
	ssw_count(&p->c.rx_packets, 1);
	{
		uint64_t now_ns = ssw_now_ns(), unarmed = 0;

		atomic_store_explicit(&p->c.last_rx_data_ns, now_ns, memory_order_relaxed);
		atomic_compare_exchange_strong(&p->c.rx_data_unanswered_ns, &unarmed, now_ns);
	}
	rx->w_ptr[rx->w_n] = dg + SSW_DATA_HEADER_LEN;
	rx->w_len[rx->w_n++] = n;
}

/* With offloads: runs of one TCP flow go to the kernel as one super-packet;
 * the rest one by one behind a plain virtio header, marked checksum-valid
 * (they arrived authenticated, as WireGuard's CHECKSUM_UNNECESSARY). */
static void write_coalesced(struct ssw_dev *d, struct rx *rx)
{
	for (int i = 0, j; i < rx->w_n; i = j) {
		const uint8_t *buf;
		size_t len;

		j = ssw_gro_run(rx->w_ptr, rx->w_len, i, rx->w_n);
		if (j - i > 1) {
			len = ssw_gro_merge(rx->w_ptr, rx->w_len, i, j, rx->merge);
			buf = rx->merge;
		} else {
			uint8_t *h = rx->w_ptr[i] - SSW_VNET_HDR_LEN; /* inside the spent data header */

			memset(h, 0, SSW_VNET_HDR_LEN);
			h[0] = SSW_VNET_F_DATA_VALID;
			buf = h;
			len = rx->w_len[i] + SSW_VNET_HDR_LEN;
		}
		if (write(d->tun_fd, buf, len) < 0)
			ssw_count(&d->drops[SSW_DROP_TUN_WRITE], (uint64_t)(j - i));
		ssw_count(&d->tun_writes, 1);
	}
}

/* From a message's control data: the datagram size when UDP GRO glued
 * several into one (else len), and the local address it was sent to. */
static size_t parse_ctrl(struct msghdr *h, size_t len, struct ssw_src *local)
{
	size_t seg = len ? len : 1;

	memset(local, 0, sizeof(*local));
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
			int v;

			memcpy(&v, CMSG_DATA(c), sizeof(v));
			if (v > 0)
				seg = (size_t)v;
		} else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
			   c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			local->family = AF_INET;
			local->v4 = pi.ipi_spec_dst; /* as wireguard-go's sticky endpoint */
			local->ifindex = pi.ipi_ifindex;
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
			   c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			local->family = AF_INET6;
			local->v6 = pi.ipi6_addr;
			local->ifindex = (int)pi.ipi6_ifindex;
		}
	}
	return seg;
}

/* With the read lock dropped: the plaintexts to TUN, then retired keypairs
 * freed under the write lock (before any new lookup could find them). */
static void drain(struct ssw_dev *d, struct rx *rx)
{
	if (d->vnet_hdr) {
		write_coalesced(d, rx);
	} else {
		for (int i = 0; i < rx->w_n; i++)
			if (write(d->tun_fd, rx->w_ptr[i], rx->w_len[i]) < 0)
				ssw_count(&d->drops[SSW_DROP_TUN_WRITE], 1);
		ssw_count(&d->tun_writes, (uint64_t)rx->w_n);
	}
	rx->w_n = 0;
	if (rx->n_retired) {
		pthread_rwlock_wrlock(&d->lock);
		for (int i = 0; i < rx->n_retired; i++)
			ssw_keypair_drop(d, rx->retired[i]);
		pthread_rwlock_unlock(&d->lock);
		rx->n_retired = 0;
	}
}

static void process(struct ssw_dev *d, struct rx *rx, int n)
{
	double now = ssw_now();

	rx->w_n = 0;
	rx->n_retired = 0;
	pthread_rwlock_rdlock(&d->lock);
	for (int i = 0; i < n; i++) {
		size_t len = rx->msg[i].msg_len, seg = parse_ctrl(&rx->msg[i].msg_hdr, len, &rx->local[i]);

		if (rx->msg[i].msg_hdr.msg_flags & MSG_TRUNC) {
			ssw_count(&d->drops[SSW_DROP_MALFORMED], 1);
			continue;
		}
		for (size_t off = 0; off < len || (off == 0 && len == 0); off += seg) {
			uint8_t *dg = rx->buf[i] + off;
			size_t dlen = len - off < seg ? len - off : seg;
			uint32_t word;

			if (dlen < 4) {
				ssw_count(&d->drops[SSW_DROP_MALFORMED], 1);
				if (!dlen)
					break;
				continue;
			}
			if (rx->w_n == RX_MAX_PKTS || rx->n_retired == RX_MAX_PKTS) {
				/* a batch of many small datagrams: write out what we have */
				pthread_rwlock_unlock(&d->lock);
				drain(d, rx);
				pthread_rwlock_rdlock(&d->lock);
			}
			word = le32(dg);
			if (word == d->type_data)
				transport(d, rx, dg, dlen, &rx->src[i], rx->msg[i].msg_hdr.msg_namelen, &rx->local[i],
					  now);
			else if (is_handshake_type(word))
				ssw_handshake_rx(d, dg, dlen, &rx->src[i], rx->msg[i].msg_hdr.msg_namelen,
						 &rx->local[i]);
			else
				ssw_count(&d->drops[SSW_DROP_MALFORMED], 1);
		}
	}
	pthread_rwlock_unlock(&d->lock);
	ssw_cookie_flush(d);
	drain(d, rx);
}

void *ssw_receive_worker(void *arg)
{
	struct ssw_dev *d = arg;
	struct rx *rx = calloc(1, sizeof(*rx));
	struct pollfd pfd[3];
	int nfd = 0;

	if (!rx || !(rx->buf = malloc((size_t)SSW_BATCH * RX_BUF)))
		goto out;
	if (d->udp4_fd >= 0)
		pfd[nfd++] = (struct pollfd){ .fd = d->udp4_fd, .events = POLLIN };
	if (d->udp6_fd >= 0)
		pfd[nfd++] = (struct pollfd){ .fd = d->udp6_fd, .events = POLLIN };
	pfd[nfd] = (struct pollfd){ .fd = d->stop_fd, .events = POLLIN };
	for (;;) {
		if (poll(pfd, nfd + 1, -1) < 0 && errno != EINTR)
			break;
		if (pfd[nfd].revents)
			break;
		for (int s = 0; s < nfd; s++) {
			int n;

			if (!pfd[s].revents)
				continue;
			for (int i = 0; i < SSW_BATCH; i++) {
				rx->iov[i] = (struct iovec){ rx->buf[i], RX_BUF };
				rx->msg[i].msg_hdr = (struct msghdr){ .msg_name = &rx->src[i],
								      .msg_namelen = sizeof(rx->src[i]),
								      .msg_iov = &rx->iov[i], .msg_iovlen = 1,
								      .msg_control = rx->ctrl[i],
								      .msg_controllen = sizeof(rx->ctrl[i]) };
			}
			n = recvmmsg(pfd[s].fd, rx->msg, SSW_BATCH, MSG_DONTWAIT, NULL);
			if (n > 0) {
				ssw_count(&d->udp_recv_msgs, (uint64_t)n);
				process(d, rx, n);
			}
		}
	}
out:
	if (rx) {
		if (rx->buf) {
			OPENSSL_cleanse(rx->buf, (size_t)SSW_BATCH * RX_BUF);
			free(rx->buf);
		}
		OPENSSL_cleanse(rx->merge, sizeof(rx->merge));
		free(rx);
	}
	return NULL;
}
