/* BLAKE2s (RFC 7693), unkeyed and keyed, any digest length 1-32: the
 * protocol's HASH and MAC (sswctl/protocol/primitives.py) for mac1, mac2,
 * cookies and the rate limiter's keyed hash. Written for this data path
 * from the RFC; a context never allocates, so the receive worker can run
 * it per datagram. Checked against the RFC's Appendix B vector and
 * Python's hashlib in tests/unit/test_datapath_cookie.py. */
#include "dp.h"

#include <string.h>
#include <openssl/crypto.h>

static const uint32_t iv[8] = {
	0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
};

static const uint8_t sigma[10][16] = {
	{ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 },
	{ 14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3 },
	{ 11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4 },
	{ 7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8 },
	{ 9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13 },
	{ 2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9 },
	{ 12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11 },
	{ 13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10 },
	{ 6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5 },
	{ 10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0 },
};

static inline uint32_t rotr(uint32_t x, int n)
{
	return x >> n | x << (32 - n);
}

static inline uint32_t load32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#define G(a, b, c, d, x, y)              \
	do {                             \
		a = a + b + (x);         \
		d = rotr(d ^ a, 16);     \
		c = c + d;               \
		b = rotr(b ^ c, 12);     \
		a = a + b + (y);         \
		d = rotr(d ^ a, 8);      \
		c = c + d;               \
		b = rotr(b ^ c, 7);      \
	} while (0)

static void compress(struct ssw_blake2s *s, const uint8_t block[64], bool last)
{
	uint32_t m[16], v[16];

	for (int i = 0; i < 16; i++)
		m[i] = load32(block + 4 * i);
	for (int i = 0; i < 8; i++) {
		v[i] = s->h[i];
		v[i + 8] = iv[i];
	}
	v[12] ^= (uint32_t)s->t;
	v[13] ^= (uint32_t)(s->t >> 32);
	if (last)
		v[14] = ~v[14];
#pragma GCC unroll 10 /* constant message indexes: the compiler keeps m[] in registers */
	for (int r = 0; r < 10; r++) {
		const uint8_t *z = sigma[r];

		G(v[0], v[4], v[8], v[12], m[z[0]], m[z[1]]);
		G(v[1], v[5], v[9], v[13], m[z[2]], m[z[3]]);
		G(v[2], v[6], v[10], v[14], m[z[4]], m[z[5]]);
		G(v[3], v[7], v[11], v[15], m[z[6]], m[z[7]]);
		G(v[0], v[5], v[10], v[15], m[z[8]], m[z[9]]);
		G(v[1], v[6], v[11], v[12], m[z[10]], m[z[11]]);
		G(v[2], v[7], v[8], v[13], m[z[12]], m[z[13]]);
		G(v[3], v[4], v[9], v[14], m[z[14]], m[z[15]]);
	}
	for (int i = 0; i < 8; i++)
		s->h[i] ^= v[i] ^ v[i + 8];
	OPENSSL_cleanse(m, sizeof(m)); /* a keyed hash's first block is the key */
	OPENSSL_cleanse(v, sizeof(v));
}

void ssw_blake2s_init(struct ssw_blake2s *s, size_t outlen, const uint8_t *key, size_t keylen)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->h, iv, sizeof(iv));
	/* parameter block word 0: digest length, key length, fanout 1, depth 1 */
	s->h[0] ^= 0x01010000 ^ (uint32_t)keylen << 8 ^ (uint32_t)outlen;
	s->outlen = outlen;
	if (keylen) {
		memcpy(s->buf, key, keylen); /* the key is the first block, zero-padded */
		s->buflen = 64;
	}
}

void ssw_blake2s_update(struct ssw_blake2s *s, const uint8_t *in, size_t len)
{
	while (len) {
		size_t n;

		/* keep the last block back: it is compressed with the final flag */
		if (s->buflen == 64) {
			s->t += 64;
			compress(s, s->buf, false);
			s->buflen = 0;
		}
		n = 64 - s->buflen < len ? 64 - s->buflen : len;
		memcpy(s->buf + s->buflen, in, n);
		s->buflen += n;
		in += n;
		len -= n;
	}
}

void ssw_blake2s_final(struct ssw_blake2s *s, uint8_t *out)
{
	uint8_t full[32];

	s->t += s->buflen;
	memset(s->buf + s->buflen, 0, 64 - s->buflen);
	compress(s, s->buf, true);
	for (int i = 0; i < 8; i++)
		for (int j = 0; j < 4; j++)
			full[4 * i + j] = (uint8_t)(s->h[i] >> (8 * j));
	memcpy(out, full, s->outlen);
	OPENSSL_cleanse(full, sizeof(full));
	OPENSSL_cleanse(s, sizeof(*s));
}

void ssw_blake2s(uint8_t *out, size_t outlen, const uint8_t *in, size_t len, const uint8_t *key, size_t keylen)
{
	struct ssw_blake2s s;

	ssw_blake2s_init(&s, outlen, key, keylen);
	ssw_blake2s_update(&s, in, len);
	ssw_blake2s_final(&s, out);
}
