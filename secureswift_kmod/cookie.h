/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SSW_COOKIE_H
#define _SSW_COOKIE_H

#include <crypto/blake2s.h>
#include <linux/spinlock.h>
#include <linux/types.h>

/*
 * mac1, mac2 and cookie replies, the responder's side (docs/protocol.md,
 * "mac1, mac2 and cookies"; WireGuard paper 5.4.4 and 5.4.7), byte-exact
 * with WireGuard's in wireguard mode:
 *
 *   mac1   = MAC(HASH(LABEL_MAC1 || our public key), msg[0 : len-32])
 *   cookie = MAC(secret, source IP bytes || source port big-endian)
 *   mac2   = MAC(cookie, msg[0 : len-16])
 *   reply  = type, the message's sender index, 24-byte random nonce,
 *            XAEAD(HASH(LABEL_COOKIE || our public key), nonce, cookie,
 *                  AD = the message's mac1)
 *
 * The secret is random and replaced every COOKIE_SECRET_MAX_AGE (120 s),
 * lazily, by the first check that finds it old (as WireGuard does). The
 * two keys derived from the device's identity are computed once per
 * identity, for both modes (so a change of mode needs nothing here), and
 * wiped when it changes or the device goes. The kernel is only the
 * responder: mac1 towards a peer and the peer's cookie replies are the
 * daemon's business, so no key here is per peer.
 */

struct ssw_device;
struct ssw_endpoint;

#define SSW_COOKIE_LEN 16
#define SSW_COOKIE_NONCE_LEN 24
#define SSW_COOKIE_REPLY_LEN 64

/* The checker's keys, one set per protocol mode. */
enum { SSW_COOKIE_MODE_SECURESWIFT, SSW_COOKIE_MODE_WIREGUARD, SSW_COOKIE_MODES };

/* The keys of one protocol mode: HASH(label || our public key). */
struct ssw_cookie_keys {
	u8 mac1[BLAKE2S_HASH_SIZE];
	u8 reply[BLAKE2S_HASH_SIZE];	/* the cookie reply's XAEAD key */
};

struct ssw_cookie_checker {
	rwlock_t secret_lock;
	u8 secret[BLAKE2S_HASH_SIZE];
	u64 secret_birth_ns;	/* 0: no secret yet */

	rwlock_t keys_lock;
	struct ssw_cookie_keys keys[SSW_COOKIE_MODES];
	bool has_keys;			/* false: no identity, nobody can address us */
};

void ssw_cookie_checker_init(struct ssw_cookie_checker *checker);
/* Wipe the secret and the keys (device teardown). */
void ssw_cookie_checker_uninit(struct ssw_cookie_checker *checker);
/*
 * The device's identity changed to @public_key (NULL: none): derive the
 * keys anew, wiping the old ones. Under the device's update lock.
 */
void ssw_cookie_checker_precompute_keys(struct ssw_cookie_checker *checker,
					const u8 *public_key);

/* mac1 of handshake message @msg (exact size already checked) is ours. */
bool ssw_cookie_mac1_valid(struct ssw_cookie_checker *checker, u8 protocol,
			   const u8 *msg, size_t len);
/* mac2 of @msg is the one a cookie for @from makes: @from proved its address. */
bool ssw_cookie_mac2_valid(struct ssw_cookie_checker *checker, const u8 *msg,
			   size_t len, const struct ssw_endpoint *from);
/*
 * Answer handshake message @msg (mac1 valid) from @from with a cookie reply
 * from the device's socket, sent from the address @msg arrived on (the
 * sticky source of @from). Any context.
 */
int ssw_cookie_send_reply(struct ssw_device *ssw, u8 protocol, const u8 *msg,
			  size_t len, const struct ssw_endpoint *from);

#endif /* _SSW_COOKIE_H */
