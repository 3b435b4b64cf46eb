/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SSW_COOKIE_H
#define _SSW_COOKIE_H

#include <crypto/blake2s.h>
#include <linux/spinlock.h>
#include <linux/types.h>

#include "wire.h"

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
 * keys derived from the device's identity are computed per message from
 * the identity under its lock, so a new private key or protocol mode
 * needs nothing here.
 */

struct ssw_device;
struct ssw_endpoint;

struct ssw_cookie_checker {
	rwlock_t secret_lock;
	u8 secret[BLAKE2S_HASH_SIZE];
	u64 secret_birth_ns;	/* 0: no secret yet */
};

void ssw_cookie_checker_init(struct ssw_cookie_checker *checker);
/* Wipe the secret (device teardown). */
void ssw_cookie_checker_uninit(struct ssw_cookie_checker *checker);

/* mac1 of handshake message @msg (exact size already checked) is ours. */
bool ssw_cookie_mac1_valid(struct ssw_device *ssw, u8 protocol, const u8 *msg,
			   size_t len);
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
