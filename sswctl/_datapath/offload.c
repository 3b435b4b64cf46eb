/* TUN offloads (IFF_VNET_HDR + TUNSETOFFLOAD TSO4/TSO6/CSUM): the kernel hands
 * us TCP super-packets of up to 64 KiB behind a virtio-net header; they are
 * cut here into ordinary MTU-sized segments before sealing, so the wire
 * format never changes (tests compare this with segment() of the reference
 * model tests/offload_oracle.py). On receive, runs of one TCP flow's
 * segments are glued back into one super-packet per TUN write (ssw_gro_*,
 * compared with the model's coalesce()). */
#include "dp.h"

#include <string.h>

#define F_NEEDS_CSUM 1
#define GSO_NONE 0
#define GSO_TCPV4 1
#define GSO_TCPV6 4
#define GSO_ECN 0x80
#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_CWR 0x80

static uint16_t rd16le(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void wr16be(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t n)
{
	for (; n > 1; p += 2, n -= 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (n)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The sum mod 0xffff (0..0xfffe), the reference's ones_sum(). */
static uint16_t csum_mod(uint64_t sum)
{
	return (uint16_t)(sum % 0xffff);
}

/* The final checksum word: complement, with 0 sent as 0xffff as the
 * Python reference does. */
static uint16_t csum_final(uint64_t sum)
{
	uint16_t c = (uint16_t)~csum_fold(sum);

	return c ? c : 0xffff;
}

/* One read: its virtio-net header and where the TCP headers end. */
struct vnet {
	uint8_t flags, gso;
	uint16_t gso_size, csum_start, csum_offset;
	const uint8_t *pkt;
	size_t plen, ip_len, tcp_len, head_len;
};

/* 0, or -1 if malformed. */
static int vnet_parse(const uint8_t *buf, size_t len, struct vnet *v)
{
	bool v4;

	if (len < SSW_VNET_HDR_LEN)
		return -1;
	v->pkt = buf + SSW_VNET_HDR_LEN;
	v->plen = len - SSW_VNET_HDR_LEN;
	v->flags = buf[0];
	v->gso = buf[1] & (uint8_t)~GSO_ECN;
	v->gso_size = rd16le(buf + 4);
	v->csum_start = rd16le(buf + 6);
	v->csum_offset = rd16le(buf + 8);
	if (v->gso == GSO_NONE)
		return 0;
	if ((v->gso != GSO_TCPV4 && v->gso != GSO_TCPV6) || !v->gso_size)
		return -1;
	v4 = v->gso == GSO_TCPV4;
	v->ip_len = v->csum_start;
	if (v->ip_len < (v4 ? 20u : 40u) || v->plen < v->ip_len + 20 || (v->pkt[0] >> 4) != (v4 ? 4 : 6))
		return -1;
	v->tcp_len = (size_t)(v->pkt[v->ip_len + 12] >> 4) * 4;
	v->head_len = v->ip_len + v->tcp_len;
	if (v->tcp_len < 20 || v->head_len > v->plen)
		return -1;
	return 0;
}

/* How many packets one read becomes, and the longest of them (what each
 * needs of a slot: a tunnel MTU may be anything up to 64 KiB); -1 if
 * malformed. */
int ssw_offload_count(const uint8_t *buf, size_t len, size_t *longest)
{
	struct vnet v;
	size_t payload;

	if (vnet_parse(buf, len, &v))
		return -1;
	if (v.gso == GSO_NONE) {
		*longest = v.plen;
		return 1;
	}
	payload = v.plen - v.head_len;
	*longest = v.head_len + (payload < v.gso_size ? payload : v.gso_size);
	return (int)((payload + v.gso_size - 1) / v.gso_size);
}

/* Split one read (virtio header + packet) into packets at out[i]
 * (capacity cap each); returns how many, or -1 if malformed, or -2 if it
 * needs more than max_out slots. */
int ssw_offload_split(const uint8_t *buf, size_t len, uint8_t **out, size_t *out_len, int max_out, size_t cap)
{
	struct vnet v;
	const uint8_t *pkt;
	size_t ip_len, tcp_len, head_len, payload, off;
	uint16_t gso_size;
	uint32_t seq0, ip_id = 0;
	bool v4;
	int n = 0;

	if (vnet_parse(buf, len, &v))
		return -1;
	pkt = v.pkt;
	if (v.gso == GSO_NONE) {
		if (max_out < 1)
			return -2;
		if (v.plen > cap)
			return -1;
		memcpy(out[0], pkt, v.plen);
		if (v.flags & F_NEEDS_CSUM) {
			/* finish a partial checksum: the field holds the pseudo-header sum */
			if ((size_t)v.csum_start + v.csum_offset + 2 > v.plen)
				return -1;
			wr16be(out[0] + v.csum_start + v.csum_offset,
			       csum_final(csum_add(0, out[0] + v.csum_start, v.plen - v.csum_start)));
		}
		out_len[0] = v.plen;
		return 1;
	}
	v4 = v.gso == GSO_TCPV4;
	ip_len = v.ip_len;
	tcp_len = v.tcp_len;
	head_len = v.head_len;
	gso_size = v.gso_size;
	payload = v.plen - head_len;
	if (head_len + (payload < gso_size ? payload : gso_size) > cap)
		return -1;
	if ((payload + gso_size - 1) / gso_size > (size_t)max_out)
		return -2;
	seq0 = (uint32_t)pkt[ip_len + 4] << 24 | (uint32_t)pkt[ip_len + 5] << 16 | (uint32_t)pkt[ip_len + 6] << 8 |
	       pkt[ip_len + 7];
	if (v4)
		ip_id = (uint32_t)pkt[4] << 8 | pkt[5];
	for (off = 0; off < payload; off += gso_size, n++) {
		size_t size = payload - off < gso_size ? payload - off : gso_size;
		uint8_t *o = out[n], *tcp = out[n] + ip_len;
		uint32_t seq = seq0 + (uint32_t)off;
		uint8_t f = pkt[ip_len + 13];
		uint64_t sum;

		memcpy(o, pkt, head_len);
		memcpy(o + head_len, pkt + head_len + off, size);
		if (off + gso_size < payload)
			f &= (uint8_t)~(TCP_FIN | TCP_PSH);
		if (n)
			f &= (uint8_t)~TCP_CWR;
		if (v4) {
			wr16be(o + 2, (uint32_t)(head_len + size));
			wr16be(o + 4, (ip_id + (uint32_t)n) & 0xffff);
			o[10] = o[11] = 0;
			wr16be(o + 10, (uint16_t)~csum_mod(csum_add(0, o, ip_len)));
			sum = csum_add(0, o + 12, 8);
		} else {
			wr16be(o + 4, (uint32_t)(ip_len - 40 + tcp_len + size));
			sum = csum_add(0, o + 8, 32);
		}
		sum += 6 + tcp_len + size;
		tcp[4] = (uint8_t)(seq >> 24);
		tcp[5] = (uint8_t)(seq >> 16);
		tcp[6] = (uint8_t)(seq >> 8);
		tcp[7] = (uint8_t)seq;
		tcp[13] = f;
		tcp[16] = tcp[17] = 0;
		sum = csum_add(sum, tcp, tcp_len + size);
		wr16be(tcp + 16, csum_final(sum));
		out_len[n] = head_len + size;
	}
	return n;
}

/* --- receive side: coalescing ------------------------------------------- */

#define GRO_MAX (65535 - 40) /* an IPv6 payload length must fit 16 bits */
#define TCP_ACK 0x10

struct tcp_info {
	size_t ip_len, tcp_len, payload;
	uint32_t seq;
	uint8_t flags;
};

/* A plain data segment that may be merged: IPv4 without options or
 * fragments, or IPv6 without extension headers; ACK, maybe PSH, nothing else. */
static bool tcp_parse(const uint8_t *p, size_t n, struct tcp_info *t)
{
	if (n < 40)
		return false;
	if (p[0] >> 4 == 4) {
		if ((p[0] & 15) != 5 || p[9] != 6 || ((p[6] << 8 | p[7]) & 0x3fff) || (size_t)(p[2] << 8 | p[3]) != n)
			return false;
		t->ip_len = 20;
	} else if (p[0] >> 4 == 6) {
		if (p[6] != 6 || n < 60 || (size_t)(p[4] << 8 | p[5]) + 40 != n)
			return false;
		t->ip_len = 40;
	} else {
		return false;
	}
	t->tcp_len = (size_t)(p[t->ip_len + 12] >> 4) * 4;
	if (t->tcp_len < 20 || t->ip_len + t->tcp_len > n)
		return false;
	t->flags = p[t->ip_len + 13];
	if ((t->flags & ~(TCP_ACK | TCP_PSH)) || !(t->flags & TCP_ACK))
		return false;
	t->payload = n - t->ip_len - t->tcp_len;
	t->seq = (uint32_t)p[t->ip_len + 4] << 24 | (uint32_t)p[t->ip_len + 5] << 16 |
		 (uint32_t)p[t->ip_len + 6] << 8 | p[t->ip_len + 7];
	return true;
}

/* Same flow and same everything but length, id, checksums, seq and flags. */
static bool same_flow(const uint8_t *a, const uint8_t *b, const struct tcp_info *ta, const struct tcp_info *tb)
{
	const uint8_t *x = a + ta->ip_len, *y = b + tb->ip_len;

	if (ta->ip_len != tb->ip_len || ta->tcp_len != tb->tcp_len)
		return false;
	if (ta->ip_len == 20) {
		if (memcmp(a, b, 2) || memcmp(a + 6, b + 6, 4) || memcmp(a + 12, b + 12, 8))
			return false;
	} else if (memcmp(a, b, 4) || memcmp(a + 6, b + 6, 34)) {
		return false;
	}
	return !memcmp(x, y, 4) && !memcmp(x + 8, y + 8, 5) && !memcmp(x + 14, y + 14, 2) &&
	       !memcmp(x + 18, y + 18, ta->tcp_len - 18);
}

/* The end (exclusive) of the run of mergeable packets starting at i. */
int ssw_gro_run(uint8_t *const *pkts, const size_t *lens, int i, int n)
{
	struct tcp_info first, o;
	size_t total;
	uint32_t next;
	int j = i + 1;

	if (!tcp_parse(pkts[i], lens[i], &first) || !first.payload || (first.flags & TCP_PSH))
		return j;
	total = first.payload;
	next = first.seq + (uint32_t)first.payload;
	for (; j < n; j++) {
		if (!tcp_parse(pkts[j], lens[j], &o) || !same_flow(pkts[i], pkts[j], &first, &o) || o.seq != next ||
		    !o.payload || o.payload > first.payload ||
		    total + o.payload > GRO_MAX - first.ip_len - first.tcp_len)
			break;
		total += o.payload;
		next += (uint32_t)o.payload;
		if (o.payload < first.payload || (o.flags & TCP_PSH))
			return j + 1;
	}
	return j;
}

/* Packets i..j-1 (a run) as one virtio-framed super-packet in out
 * (SSW_VNET_HDR_LEN + 65535 bytes); returns its length. */
size_t ssw_gro_merge(uint8_t *const *pkts, const size_t *lens, int i, int j, uint8_t *out)
{
	struct tcp_info t;
	uint8_t *head = out + SSW_VNET_HDR_LEN;
	size_t hl, l4, pos;
	uint64_t pseudo;

	tcp_parse(pkts[i], lens[i], &t);
	hl = t.ip_len + t.tcp_len;
	memcpy(head, pkts[i], hl);
	pos = hl;
	for (int k = i; k < j; k++) {
		memcpy(head + pos, pkts[k] + hl, lens[k] - hl);
		pos += lens[k] - hl;
	}
	head[t.ip_len + 13] = pkts[j - 1][t.ip_len + 13]; /* PSH of the last segment */
	l4 = pos - t.ip_len;
	if (t.ip_len == 20) {
		wr16be(head + 2, (uint32_t)pos);
		head[10] = head[11] = 0;
		wr16be(head + 10, (uint16_t)~csum_mod(csum_add(0, head, 20)));
		pseudo = csum_add(0, head + 12, 8);
	} else {
		wr16be(head + 4, (uint32_t)l4);
		pseudo = csum_add(0, head + 8, 32);
	}
	/* CHECKSUM_PARTIAL: the field holds the pseudo-header sum */
	wr16be(head + t.ip_len + 16, csum_mod(pseudo + 6 + l4));
	out[0] = F_NEEDS_CSUM;
	out[1] = t.ip_len == 20 ? GSO_TCPV4 : GSO_TCPV6;
	out[2] = (uint8_t)hl;
	out[3] = (uint8_t)(hl >> 8);
	out[4] = (uint8_t)t.payload;
	out[5] = (uint8_t)(t.payload >> 8);
	out[6] = (uint8_t)t.ip_len;
	out[7] = 0;
	out[8] = 16;
	out[9] = 0;
	return SSW_VNET_HDR_LEN + pos;
}
