/* Handshake intake: WireGuard's flood defence, in C, before anything
 * reaches Python (docs/datapath.md "Handshake floods").
 *
 * Every handshake-type datagram is checked here by the receive worker:
 *  1. exact type and size of the device's mode (else malformed);
 *  2. mac1 = MAC(HASH(LABEL_MAC1 || our public), msg[:-32]) (else dropped);
 *  3. "under load" as WireGuard's receive.c: the handshake queue toward
 *     Python holds at least an eighth of its room, or did within the last
 *     second. Under load a message without a valid mac2 gets a cookie
 *     reply from here and goes no further; one with a valid mac2 (its
 *     source address is proven) passes a per-source token bucket;
 *  4. then it is queued for Python (bounded, overflow counted).
 * A cookie reply addressed to us (we are the initiator) only needs the
 * right size and a token from the bucket: the engine checks its index.
 *
 * The receive worker alone touches the secret, the buckets and the
 * under-load clock (with the device lock held for reading); our keys are
 * set with it held for writing. Counters are atomics. */
#include "dp.h"

#include <errno.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#define SEC 1000000000ULL
#define COOKIE_SECRET_MAX_AGE (SSW_COOKIE_SECRET_MAX_AGE * SEC)
#define UNDER_LOAD_AFTER (SSW_UNDER_LOAD_HOLD * SEC)
/* WireGuard's ratelimiter.c: 20 messages/s per source, bursts of 5 */
#define RL_COST (SEC / SSW_RATELIMIT_PER_SECOND)
#define RL_MAX (RL_COST * SSW_RATELIMIT_BURST)

const char *const ssw_hs_names[SSW_HS__MAX] = {
	[SSW_HS_RECEIVED] = "received",
	[SSW_HS_MALFORMED] = "malformed",
	[SSW_HS_MAC1_INVALID] = "mac1_invalid",
	[SSW_HS_COOKIE_SENT] = "cookie_sent",
	[SSW_HS_SHED_NO_MAC2] = "shed_no_mac2",
	[SSW_HS_SHED_RATELIMIT] = "shed_ratelimit",
	[SSW_HS_SHED_QUEUE_FULL] = "shed_queue_full",
	[SSW_HS_QUEUED] = "queued",
	[SSW_HS_UNDER_LOAD] = "under_load_entered",
};

/* A ChaCha20-Poly1305 context with the cipher set once: each reply then
 * only sets key and nonce (fetching the cipher again costs more than the
 * encryption of 16 bytes). */
EVP_CIPHER_CTX *ssw_cookie_aead_new(void)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	if (ctx && EVP_EncryptInit_ex(ctx, EVP_chacha20_poly1305(), NULL, NULL, NULL) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

int ssw_cookie_init(struct ssw_cookie *ck)
{
	memset(ck, 0, sizeof(*ck));
	ck->aead = ssw_cookie_aead_new();
	if (!ck->aead || RAND_bytes(ck->rl_key, sizeof(ck->rl_key)) != 1) {
		EVP_CIPHER_CTX_free(ck->aead);
		ck->aead = NULL;
		return -1;
	}
	return 0;
}

void ssw_cookie_destroy(struct ssw_cookie *ck)
{
	EVP_CIPHER_CTX_free(ck->aead);
	ck->aead = NULL;
	OPENSSL_cleanse(ck->secret, sizeof(ck->secret));
	OPENSSL_cleanse(ck->rl_key, sizeof(ck->rl_key));
	OPENSSL_cleanse(ck->mac1_key, sizeof(ck->mac1_key));
	OPENSSL_cleanse(ck->cookie_key, sizeof(ck->cookie_key));
	ck->ready = false;
}

/* HASH(label || public): the mac1 key and the cookie-reply key, labels per mode. */
void ssw_cookie_keys(uint8_t type_data, const uint8_t *public_key, uint8_t mac1_key[32], uint8_t cookie_key[32])
{
	bool wg = type_data == SSW_MESSAGE_WG_DATA;
	uint8_t in[SSW_LABEL_LEN + SSW_NOISE_KEY_LEN];

	memcpy(in, wg ? SSW_LABEL_MAC1_WIREGUARD : SSW_LABEL_MAC1_SECURESWIFT, SSW_LABEL_LEN);
	memcpy(in + SSW_LABEL_LEN, public_key, SSW_NOISE_KEY_LEN);
	ssw_blake2s(mac1_key, 32, in, sizeof(in), NULL, 0);
	memcpy(in, wg ? SSW_LABEL_COOKIE_WIREGUARD : SSW_LABEL_COOKIE_SECURESWIFT, SSW_LABEL_LEN);
	ssw_blake2s(cookie_key, 32, in, sizeof(in), NULL, 0);
}

/* Device lock held for writing: a new identity also means a new secret
 * (cookies handed out under the old key are void, as WireGuard's
 * wg_cookie_checker_precompute_device_keys). */
void ssw_cookie_set_public(struct ssw_cookie *ck, uint8_t type_data, const uint8_t *public_key)
{
	if (ck->ready && !memcmp(ck->public_key, public_key, SSW_NOISE_KEY_LEN))
		return;
	memcpy(ck->public_key, public_key, SSW_NOISE_KEY_LEN);
	ssw_cookie_keys(type_data, public_key, ck->mac1_key, ck->cookie_key);
	OPENSSL_cleanse(ck->secret, sizeof(ck->secret));
	ck->secret_birth_ns = 0;
	ck->ready = true;
}

static inline uint32_t rotl(uint32_t x, int n)
{
	return x << n | x >> (32 - n);
}

#define QR(a, b, c, d)                  \
	do {                            \
		a += b;                 \
		d = rotl(d ^ a, 16);    \
		c += d;                 \
		b = rotl(b ^ c, 12);    \
		a += b;                 \
		d = rotl(d ^ a, 8);     \
		c += d;                 \
		b = rotl(b ^ c, 7);     \
	} while (0)

/* HChaCha20 (draft-irtf-cfrg-xchacha section 2.2): the XChaCha20 subkey. */
static void hchacha20(uint8_t out[32], const uint8_t key[32], const uint8_t nonce[16])
{
	uint32_t s[16] = { 0x61707865, 0x3320646e, 0x79622d32, 0x6b206574 };

	for (int i = 0; i < 8; i++)
		s[4 + i] = (uint32_t)key[4 * i] | (uint32_t)key[4 * i + 1] << 8 | (uint32_t)key[4 * i + 2] << 16 |
			   (uint32_t)key[4 * i + 3] << 24;
	for (int i = 0; i < 4; i++)
		s[12 + i] = (uint32_t)nonce[4 * i] | (uint32_t)nonce[4 * i + 1] << 8 |
			    (uint32_t)nonce[4 * i + 2] << 16 | (uint32_t)nonce[4 * i + 3] << 24;
	for (int r = 0; r < 10; r++) {
		QR(s[0], s[4], s[8], s[12]);
		QR(s[1], s[5], s[9], s[13]);
		QR(s[2], s[6], s[10], s[14]);
		QR(s[3], s[7], s[11], s[15]);
		QR(s[0], s[5], s[10], s[15]);
		QR(s[1], s[6], s[11], s[12]);
		QR(s[2], s[7], s[8], s[13]);
		QR(s[3], s[4], s[9], s[14]);
	}
	for (int i = 0; i < 8; i++) {
		uint32_t w = s[i < 4 ? i : i + 8];

		for (int j = 0; j < 4; j++)
			out[4 * i + j] = (uint8_t)(w >> (8 * j));
	}
	OPENSSL_cleanse(s, sizeof(s));
}

/* XChaCha20-Poly1305 of a 16-byte cookie: out = ciphertext (16) || tag (16). */
static int xseal_cookie(EVP_CIPHER_CTX *ctx, const uint8_t key[32], const uint8_t nonce[SSW_COOKIE_NONCE_LEN],
			const uint8_t cookie[SSW_MAC_LEN], const uint8_t ad[SSW_MAC_LEN], uint8_t out[32])
{
	uint8_t subkey[32], n12[12] = { 0 };
	int l = 0, ret = -1;

	hchacha20(subkey, key, nonce);
	memcpy(n12 + 4, nonce + 16, 8);
	if (EVP_EncryptInit_ex(ctx, NULL, NULL, subkey, n12) == 1 &&
	    EVP_EncryptUpdate(ctx, NULL, &l, ad, SSW_MAC_LEN) == 1 &&
	    EVP_EncryptUpdate(ctx, out, &l, cookie, SSW_MAC_LEN) == 1 && EVP_EncryptFinal_ex(ctx, out + l, &l) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, SSW_AEAD_TAG_LEN, out + SSW_MAC_LEN) == 1)
		ret = 0;
	OPENSSL_cleanse(subkey, sizeof(subkey));
	return ret;
}

/* The cookie input: source IP bytes then the port big-endian (cookie.py source_bytes). */
static size_t source_bytes(const struct sockaddr_storage *ss, uint8_t out[18])
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;

		memcpy(out, &s4->sin_addr, 4);
		memcpy(out + 4, &s4->sin_port, 2); /* already network order */
		return 6;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		memcpy(out, &s6->sin6_addr, 16);
		memcpy(out + 16, &s6->sin6_port, 2);
		return 18;
	}
	return 0;
}

void ssw_cookie_reply_make(EVP_CIPHER_CTX *ctx, uint8_t type_cookie, const uint8_t cookie_key[32],
			   const uint8_t cookie[SSW_MAC_LEN], const uint8_t nonce[SSW_COOKIE_NONCE_LEN], const uint8_t *msg, size_t len,
			   uint8_t out[SSW_COOKIE_REPLY_LEN], int *err)
{
	memset(out, 0, SSW_COOKIE_REPLY_LEN);
	out[0] = type_cookie;
	memcpy(out + 4, msg + 4, 4); /* receiver: the message's sender index */
	memcpy(out + 8, nonce, SSW_COOKIE_NONCE_LEN);
	*err = xseal_cookie(ctx, cookie_key, nonce, cookie, msg + len - 2 * SSW_MAC_LEN, out + 32);
}

/* cookie = MAC(secret, source), the secret renewed every 120 s. */
static int make_cookie(struct ssw_cookie *ck, const struct sockaddr_storage *src, uint64_t now,
		       uint8_t cookie[SSW_MAC_LEN])
{
	uint8_t sb[18];
	size_t n = source_bytes(src, sb);

	if (!n)
		return -1;
	if (!ck->secret_birth_ns || now - ck->secret_birth_ns >= COOKIE_SECRET_MAX_AGE) {
		if (RAND_bytes(ck->secret, sizeof(ck->secret)) != 1)
			return -1;
		ck->secret_birth_ns = now;
	}
	ssw_blake2s(cookie, SSW_MAC_LEN, sb, n, ck->secret, sizeof(ck->secret));
	return 0;
}

/* WireGuard's ratelimiter, the module's ratelimiter.c shape: a fixed table
 * of token buckets picked by a keyed hash of the source (a v6 host owns
 * its /64), so memory is the same whatever the flood. */
static bool ratelimit_allow(struct ssw_cookie *ck, const struct sockaddr_storage *src, uint64_t now)
{
	uint8_t key[9] = { 0 }, h[4];
	struct ssw_rl_bucket *b;
	uint32_t i;

	key[0] = (uint8_t)src->ss_family;
	if (src->ss_family == AF_INET)
		memcpy(key + 1, &((const struct sockaddr_in *)src)->sin_addr, 4);
	else
		memcpy(key + 1, &((const struct sockaddr_in6 *)src)->sin6_addr, 8);
	ssw_blake2s(h, sizeof(h), key, sizeof(key), ck->rl_key, sizeof(ck->rl_key));
	i = ((uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24) %
	    SSW_RATELIMIT_BUCKETS;
	b = &ck->rl[i];
	if (!b->last_ns) {
		b->tokens = RL_MAX;
	} else {
		b->tokens += now - b->last_ns;
		if (b->tokens > RL_MAX)
			b->tokens = RL_MAX;
	}
	b->last_ns = now;
	if (b->tokens < RL_COST)
		return false;
	b->tokens -= RL_COST;
	return true;
}

static bool under_load(struct ssw_dev *d, uint64_t now)
{
	struct ssw_cookie *ck = &d->ck;
	size_t threshold = d->hs_cap / SSW_UNDER_LOAD_QUEUE_DIVISOR ? d->hs_cap / SSW_UNDER_LOAD_QUEUE_DIVISOR : 1;
	bool load = atomic_load_explicit(&d->n_hs, memory_order_relaxed) >= threshold;

	if (load) {
		if (!ck->last_under_load_ns || now - ck->last_under_load_ns >= UNDER_LOAD_AFTER)
			ssw_count(&ck->c[SSW_HS_UNDER_LOAD], 1);
		ck->last_under_load_ns = now;
	} else if (ck->last_under_load_ns) {
		load = now - ck->last_under_load_ns < UNDER_LOAD_AFTER;
	}
	return load;
}

static void flush_family(struct ssw_dev *d, struct ssw_cookie_out *o, int family)
{
	int fd = ssw_socket_for(d, family), done = 0;

	while (done < o->n) {
		int r = sendmmsg(fd, o->msg + done, (unsigned int)(o->n - done), MSG_DONTWAIT);

		if (r <= 0) {
			/* this one failed (the source address went away, a full
			 * buffer): count it, go on with the rest */
			ssw_count(&d->drops[SSW_DROP_SEND_ERROR], 1);
			r = 1;
		} else {
			ssw_count(&d->udp_send_msgs, (uint64_t)r);
			ssw_count(&d->ck.c[SSW_HS_COOKIE_SENT], (uint64_t)r);
		}
		done += r;
	}
	o->n = 0;
}

void ssw_cookie_flush(struct ssw_dev *d)
{
	if (d->ck.out4.n)
		flush_family(d, &d->ck.out4, AF_INET);
	if (d->ck.out6.n)
		flush_family(d, &d->ck.out6, AF_INET6);
}

/* Made now, sent with the batch's other replies (one sendmmsg per family),
 * from the address the message was sent to, as the daemon's replies. */
static void queue_cookie_reply(struct ssw_dev *d, const uint8_t *msg, size_t len, const uint8_t cookie[SSW_MAC_LEN],
			       const struct sockaddr_storage *src, socklen_t src_len, const struct ssw_src *local)
{
	struct ssw_cookie *ck = &d->ck;
	struct ssw_cookie_out *o = src->ss_family == AF_INET6 ? &ck->out6 : &ck->out4;
	const uint8_t *nonce;
	int err;

	if (ssw_socket_for(d, src->ss_family) < 0)
		goto fail;
	if (!ck->nonces_left) {
		if (RAND_bytes(&ck->nonces[0][0], sizeof(ck->nonces)) != 1)
			goto fail;
		ck->nonces_left = SSW_COOKIE_OUTBOX;
	}
	nonce = ck->nonces[--ck->nonces_left];
	if (o->n == SSW_COOKIE_OUTBOX)
		flush_family(d, o, src->ss_family);
	ssw_cookie_reply_make(ck->aead, d->type_data - 1, ck->cookie_key, cookie, nonce, msg, len, o->reply[o->n], &err);
	if (err)
		goto fail;
	o->dst[o->n] = *src;
	o->iov[o->n] = (struct iovec){ o->reply[o->n], SSW_COOKIE_REPLY_LEN };
	o->msg[o->n].msg_hdr = (struct msghdr){ .msg_name = &o->dst[o->n], .msg_namelen = src_len,
					       .msg_iov = &o->iov[o->n], .msg_iovlen = 1 };
	ssw_set_ctrl(&o->msg[o->n].msg_hdr, &o->ctrl[o->n], local, 0);
	o->n++;
	return;
fail:
	ssw_count(&d->drops[SSW_DROP_SEND_ERROR], 1);
}

void ssw_handshake_rx(struct ssw_dev *d, const uint8_t *dg, size_t len, const struct sockaddr_storage *src,
		      socklen_t src_len, const struct ssw_src *local)
{
	struct ssw_cookie *ck = &d->ck;
	uint32_t type = dg[0]; /* the caller checked the reserved bytes */
	uint64_t now = ssw_now_ns();
	uint8_t m[SSW_MAC_LEN], cookie[SSW_MAC_LEN];
	bool ok;

	ssw_count(&ck->c[SSW_HS_RECEIVED], 1);
	if (len != ssw_wire_handshake_len(d->type_data, type)) { /* docs/protocol.md section 2 */
		ssw_count(&ck->c[SSW_HS_MALFORMED], 1);
		return;
	}
	if (!ck->ready) { /* no identity yet: nothing could verify, nothing to answer with */
		ssw_count(&ck->c[SSW_HS_MAC1_INVALID], 1);
		return;
	}
	if (type == d->type_data - 1u) {
		/* a cookie reply for one of our handshakes: the engine matches its index */
		if (!ratelimit_allow(ck, src, now)) {
			ssw_count(&ck->c[SSW_HS_SHED_RATELIMIT], 1);
			return;
		}
		goto queue;
	}
	ssw_blake2s(m, SSW_MAC_LEN, dg, len - 2 * SSW_MAC_LEN, ck->mac1_key, sizeof(ck->mac1_key));
	ok = !CRYPTO_memcmp(m, dg + len - 2 * SSW_MAC_LEN, SSW_MAC_LEN);
	if (!ok) {
		ssw_count(&ck->c[SSW_HS_MAC1_INVALID], 1);
		return;
	}
	if (under_load(d, now)) {
		static const uint8_t zero[SSW_MAC_LEN];

		if (make_cookie(ck, src, now, cookie)) {
			ssw_count(&ck->c[SSW_HS_SHED_NO_MAC2], 1);
			return;
		}
		/* A sender without a cookie sends 16 zero bytes (docs/protocol.md):
		 * no MAC over up to 1316 bytes needed to know it is not valid. */
		ok = CRYPTO_memcmp(dg + len - SSW_MAC_LEN, zero, SSW_MAC_LEN) != 0;
		if (ok) {
			ssw_blake2s(m, SSW_MAC_LEN, dg, len - SSW_MAC_LEN, cookie, sizeof(cookie));
			ok = !CRYPTO_memcmp(m, dg + len - SSW_MAC_LEN, SSW_MAC_LEN);
		}
		if (!ok) {
			ssw_count(&ck->c[SSW_HS_SHED_NO_MAC2], 1);
			queue_cookie_reply(d, dg, len, cookie, src, src_len, local);
			OPENSSL_cleanse(cookie, sizeof(cookie));
			return;
		}
		OPENSSL_cleanse(cookie, sizeof(cookie));
		if (!ratelimit_allow(ck, src, now)) {
			ssw_count(&ck->c[SSW_HS_SHED_RATELIMIT], 1);
			return;
		}
	}
queue:
	if (ssw_event_push(d, SSW_EV_HANDSHAKE, 0, 0, dg, len, src, src_len, local))
		ssw_count(&ck->c[SSW_HS_QUEUED], 1);
	/* else counted as shed_queue_full by the queue */
}
