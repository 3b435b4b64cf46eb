/* TUN offloads (IFF_VNET_HDR + TUNSETOFFLOAD TSO4/TSO6/CSUM): the kernel hands
 * us TCP super-packets of up to 64 KiB behind a virtio-net header; they are
 * cut here into ordinary MTU-sized segments before sealing, so the wire
 * format never changes (the same job as sswctl/daemon/offload.py's
 * segment(), which a test compares this with). */
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

/* The final checksum word: complement, with 0 sent as 0xffff as the
 * Python reference does. */
static uint16_t csum_final(uint64_t sum)
{
	uint16_t c = (uint16_t)~csum_fold(sum);

	return c ? c : 0xffff;
}

/* Split one read (virtio header + packet) into packets at out[i]
 * (capacity cap each); returns how many, or -1 if malformed, or -2 if it
 * needs more than max_out slots. */
int ssw_offload_split(const uint8_t *buf, size_t len, uint8_t **out, size_t *out_len, int max_out, size_t cap)
{
	uint8_t flags, gso;
	uint16_t gso_size, csum_start, csum_offset;
	const uint8_t *pkt = buf + SSW_VNET_HDR_LEN;
	size_t plen, ip_len, tcp_len, head_len, payload, off;
	uint32_t seq0, ip_id = 0;
	bool v4;
	int n = 0;

	if (len < SSW_VNET_HDR_LEN)
		return -1;
	plen = len - SSW_VNET_HDR_LEN;
	flags = buf[0];
	gso = buf[1] & (uint8_t)~GSO_ECN;
	gso_size = rd16le(buf + 4);
	csum_start = rd16le(buf + 6);
	csum_offset = rd16le(buf + 8);
	if (gso == GSO_NONE) {
		if (max_out < 1)
			return -2;
		if (plen > cap)
			return -1;
		memcpy(out[0], pkt, plen);
		if (flags & F_NEEDS_CSUM) {
			/* finish a partial checksum: the field holds the pseudo-header sum */
			if ((size_t)csum_start + csum_offset + 2 > plen)
				return -1;
			wr16be(out[0] + csum_start + csum_offset,
			       csum_final(csum_add(0, out[0] + csum_start, plen - csum_start)));
		}
		out_len[0] = plen;
		return 1;
	}
	if ((gso != GSO_TCPV4 && gso != GSO_TCPV6) || !gso_size)
		return -1;
	v4 = gso == GSO_TCPV4;
	ip_len = csum_start;
	if (ip_len < (v4 ? 20u : 40u) || plen < ip_len + 20 || (pkt[0] >> 4) != (v4 ? 4 : 6))
		return -1;
	tcp_len = (size_t)(pkt[ip_len + 12] >> 4) * 4;
	head_len = ip_len + tcp_len;
	if (tcp_len < 20 || head_len > plen || head_len + gso_size > cap)
		return -1;
	payload = plen - head_len;
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
			wr16be(o + 10, (uint16_t)~csum_fold(csum_add(0, o, ip_len)));
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
