// SPDX-License-Identifier: GPL-2.0
/*
 * mac1 / mac2 checks and cookie replies (see cookie.h).
 */

#include "cookie.h"
#include "compat.h"
#include "device.h"
#include "messages.h"
#include "peer.h"
#include "socket.h"

#include <crypto/algapi.h>
#include <crypto/chacha20poly1305.h>
#include <linux/random.h>
#include <linux/skbuff.h>
#include <linux/timekeeping.h>

#define COOKIE_SECRET_MAX_AGE_NS (SSW_COOKIE_SECRET_MAX_AGE * NSEC_PER_SEC)

struct cookie_reply {
	__le32 type;
	__le32 receiver_index;
	u8 nonce[SSW_COOKIE_NONCE_LEN];
	u8 encrypted_cookie[SSW_COOKIE_LEN + CHACHA20POLY1305_AUTHTAG_SIZE];
} __packed;

static_assert(sizeof(struct cookie_reply) == SSW_COOKIE_REPLY_LEN);

void ssw_cookie_checker_init(struct ssw_cookie_checker *checker)
{
	rwlock_init(&checker->secret_lock);
	memset(checker->secret, 0, sizeof(checker->secret));
	checker->secret_birth_ns = 0;
}

void ssw_cookie_checker_uninit(struct ssw_cookie_checker *checker)
{
	write_lock_bh(&checker->secret_lock);
	memzero_explicit(checker->secret, sizeof(checker->secret));
	checker->secret_birth_ns = 0;
	write_unlock_bh(&checker->secret_lock);
}

/*
 * HASH(@label || our public key): the mac1 key or the cookie reply's key.
 * False without an identity (nobody can address us then).
 */
static bool identity_key(struct ssw_device *ssw, const char *label,
			 u8 key[BLAKE2S_HASH_SIZE])
{
	struct ssw_blake2s_state state;
	bool ok;

	blake2s_init(&state, BLAKE2S_HASH_SIZE);
	blake2s_update(&state, label, SSW_LABEL_LEN);
	read_lock_bh(&ssw->identity_lock);
	ok = ssw->has_identity;
	blake2s_update(&state, ssw->static_public, SSW_KEY_LEN);
	read_unlock_bh(&ssw->identity_lock);
	blake2s_final(&state, key);
	return ok;
}

bool ssw_cookie_mac1_valid(struct ssw_device *ssw, u8 protocol, const u8 *msg,
			   size_t len)
{
	const char *label = protocol == SSW_PROTOCOL_WIREGUARD ?
			    SSW_LABEL_MAC1_WIREGUARD : SSW_LABEL_MAC1_SECURESWIFT;
	u8 key[BLAKE2S_HASH_SIZE], mac[SSW_MAC_LEN];
	bool ok;

	ok = identity_key(ssw, label, key);
	if (ok) {
		ssw_blake2s(mac, msg, key, SSW_MAC_LEN, len - 2 * SSW_MAC_LEN, sizeof(key));
		ok = !crypto_memneq(mac, msg + len - 2 * SSW_MAC_LEN, SSW_MAC_LEN);
	}
	memzero_explicit(key, sizeof(key));
	return ok;
}

/*
 * The cookie @from earns now: a keyed hash of its address and port under
 * the current secret, made anew (by the first caller to notice) once the
 * secret is COOKIE_SECRET_MAX_AGE old. A cookie given out just before the
 * change is refused after it; the sender gets a fresh one, as in WireGuard.
 */
static void make_cookie(struct ssw_cookie_checker *checker,
			u8 cookie[SSW_COOKIE_LEN], const struct ssw_endpoint *from)
{
	u64 now = ktime_get_coarse_boottime_ns();
	struct ssw_blake2s_state state;

	read_lock_bh(&checker->secret_lock);
	if (unlikely(!checker->secret_birth_ns ||
		     now - checker->secret_birth_ns >= COOKIE_SECRET_MAX_AGE_NS)) {
		read_unlock_bh(&checker->secret_lock);
		write_lock_bh(&checker->secret_lock);
		/* Another CPU may have replaced it meanwhile. */
		if (!checker->secret_birth_ns ||
		    now - checker->secret_birth_ns >= COOKIE_SECRET_MAX_AGE_NS) {
			get_random_bytes(checker->secret, sizeof(checker->secret));
			checker->secret_birth_ns = now ?: 1;
		}
		write_unlock_bh(&checker->secret_lock);
		read_lock_bh(&checker->secret_lock);
	}
	blake2s_init_key(&state, SSW_COOKIE_LEN, checker->secret,
			 sizeof(checker->secret));
	read_unlock_bh(&checker->secret_lock);

	if (from->addr.sa_family == AF_INET) {
		blake2s_update(&state, (const u8 *)&from->addr4.sin_addr,
			       sizeof(from->addr4.sin_addr));
		blake2s_update(&state, (const u8 *)&from->addr4.sin_port,
			       sizeof(from->addr4.sin_port));
	} else {
		blake2s_update(&state, (const u8 *)&from->addr6.sin6_addr,
			       sizeof(from->addr6.sin6_addr));
		blake2s_update(&state, (const u8 *)&from->addr6.sin6_port,
			       sizeof(from->addr6.sin6_port));
	}
	blake2s_final(&state, cookie);	/* also wipes the keyed state */
}

bool ssw_cookie_mac2_valid(struct ssw_cookie_checker *checker, const u8 *msg,
			   size_t len, const struct ssw_endpoint *from)
{
	u8 cookie[SSW_COOKIE_LEN], mac[SSW_MAC_LEN];
	bool ok;

	make_cookie(checker, cookie, from);
	ssw_blake2s(mac, msg, cookie, SSW_MAC_LEN, len - SSW_MAC_LEN, sizeof(cookie));
	ok = !crypto_memneq(mac, msg + len - SSW_MAC_LEN, SSW_MAC_LEN);
	memzero_explicit(cookie, sizeof(cookie));
	return ok;
}

int ssw_cookie_send_reply(struct ssw_device *ssw, u8 protocol, const u8 *msg,
			  size_t len, const struct ssw_endpoint *from)
{
	const char *label = protocol == SSW_PROTOCOL_WIREGUARD ?
			    SSW_LABEL_COOKIE_WIREGUARD : SSW_LABEL_COOKIE_SECURESWIFT;
	u8 key[CHACHA20POLY1305_KEY_SIZE], cookie[SSW_COOKIE_LEN];
	struct cookie_reply *reply;
	struct sk_buff *skb;
	int ret;

	skb = alloc_skb(SSW_TX_HEADROOM + sizeof(*reply), GFP_ATOMIC);
	if (unlikely(!skb))
		return -ENOMEM;
	skb_reserve(skb, SSW_TX_HEADROOM);
	reply = skb_put(skb, sizeof(*reply));

	if (unlikely(!identity_key(ssw, label, key))) {
		ret = -ENOKEY;
		goto err;
	}
	reply->type = cpu_to_le32(protocol == SSW_PROTOCOL_WIREGUARD ?
				  SSW_MESSAGE_WG_HANDSHAKE_COOKIE :
				  SSW_MESSAGE_SSW_HANDSHAKE_COOKIE);
	/* Initiation and response alike carry their sender index at offset 4. */
	memcpy(&reply->receiver_index, msg + 4, sizeof(reply->receiver_index));
	get_random_bytes(reply->nonce, sizeof(reply->nonce));
	make_cookie(&ssw->cookie_checker, cookie, from);
	xchacha20poly1305_encrypt(reply->encrypted_cookie, cookie, sizeof(cookie),
				  msg + len - 2 * SSW_MAC_LEN, SSW_MAC_LEN,
				  reply->nonce, key);
	memzero_explicit(cookie, sizeof(cookie));
	memzero_explicit(key, sizeof(key));
	return ssw_socket_send_to(ssw, skb, from, false);

err:
	memzero_explicit(key, sizeof(key));
	kfree_skb(skb);
	return ret;
}
