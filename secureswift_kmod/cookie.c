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

#define COOKIE_SECRET_MAX_AGE_NS (120ULL * NSEC_PER_SEC)
#define LABEL_LEN 8

struct cookie_reply {
	__le32 type;
	__le32 receiver_index;
	u8 nonce[SSW_COOKIE_NONCE_LEN];
	u8 encrypted_cookie[SSW_COOKIE_LEN + CHACHA20POLY1305_AUTHTAG_SIZE];
} __packed;

static_assert(sizeof(struct cookie_reply) == SSW_COOKIE_REPLY_LEN);
static_assert(sizeof_field(struct ssw_cookie_keys, reply) == CHACHA20POLY1305_KEY_SIZE);

static const struct {
	const char *mac1, *reply;
} labels[SSW_COOKIE_MODES] = {
	[SSW_COOKIE_MODE_SECURESWIFT] = { "ssw-mac1", "ssw-cook" },
	[SSW_COOKIE_MODE_WIREGUARD] = { "mac1----", "cookie--" },
};

static const struct ssw_cookie_keys *mode_keys(const struct ssw_cookie_checker *checker,
					       u8 protocol)
{
	return &checker->keys[protocol == SSW_PROTOCOL_WIREGUARD ?
			      SSW_COOKIE_MODE_WIREGUARD : SSW_COOKIE_MODE_SECURESWIFT];
}

static void wipe_keys(struct ssw_cookie_checker *checker)
{
	memzero_explicit(checker->keys, sizeof(checker->keys));
	checker->has_keys = false;
}

void ssw_cookie_checker_init(struct ssw_cookie_checker *checker)
{
	rwlock_init(&checker->secret_lock);
	memset(checker->secret, 0, sizeof(checker->secret));
	checker->secret_birth_ns = 0;
	rwlock_init(&checker->keys_lock);
	memset(checker->keys, 0, sizeof(checker->keys));
	checker->has_keys = false;
}

void ssw_cookie_checker_uninit(struct ssw_cookie_checker *checker)
{
	write_lock_bh(&checker->secret_lock);
	memzero_explicit(checker->secret, sizeof(checker->secret));
	checker->secret_birth_ns = 0;
	write_unlock_bh(&checker->secret_lock);
	write_lock_bh(&checker->keys_lock);
	wipe_keys(checker);
	write_unlock_bh(&checker->keys_lock);
}

/* HASH(@label || @public_key) into @key. */
static void identity_key(u8 key[BLAKE2S_HASH_SIZE], const char *label,
			 const u8 *public_key)
{
	struct ssw_blake2s_state state;

	blake2s_init(&state, BLAKE2S_HASH_SIZE);
	blake2s_update(&state, label, LABEL_LEN);
	blake2s_update(&state, public_key, SSW_KEY_LEN);
	blake2s_final(&state, key);
}

void ssw_cookie_checker_precompute_keys(struct ssw_cookie_checker *checker,
					const u8 *public_key)
{
	unsigned int i;

	write_lock_bh(&checker->keys_lock);
	wipe_keys(checker);
	if (public_key) {
		for (i = 0; i < SSW_COOKIE_MODES; ++i) {
			identity_key(checker->keys[i].mac1, labels[i].mac1, public_key);
			identity_key(checker->keys[i].reply, labels[i].reply, public_key);
		}
		checker->has_keys = true;
	}
	write_unlock_bh(&checker->keys_lock);
}

bool ssw_cookie_mac1_valid(struct ssw_cookie_checker *checker, u8 protocol,
			   const u8 *msg, size_t len)
{
	u8 mac[SSW_MAC_LEN];
	bool ok;

	read_lock_bh(&checker->keys_lock);
	ok = checker->has_keys;
	if (ok)
		ssw_blake2s(mac, msg, mode_keys(checker, protocol)->mac1, SSW_MAC_LEN,
			    len - 2 * SSW_MAC_LEN, BLAKE2S_HASH_SIZE);
	read_unlock_bh(&checker->keys_lock);
	return ok && !crypto_memneq(mac, msg + len - 2 * SSW_MAC_LEN, SSW_MAC_LEN);
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
	struct ssw_cookie_checker *checker = &ssw->cookie_checker;
	u8 cookie[SSW_COOKIE_LEN];
	struct cookie_reply *reply;
	struct sk_buff *skb;
	bool ok;

	skb = alloc_skb(SSW_TX_HEADROOM + sizeof(*reply), GFP_ATOMIC);
	if (unlikely(!skb))
		return -ENOMEM;
	skb_reserve(skb, SSW_TX_HEADROOM);
	reply = skb_put(skb, sizeof(*reply));

	reply->type = cpu_to_le32(protocol == SSW_PROTOCOL_WIREGUARD ?
				  SSW_MESSAGE_WG_HANDSHAKE_COOKIE :
				  SSW_MESSAGE_SSW_HANDSHAKE_COOKIE);
	/* Initiation and response alike carry their sender index at offset 4. */
	memcpy(&reply->receiver_index, msg + 4, sizeof(reply->receiver_index));
	get_random_bytes(reply->nonce, sizeof(reply->nonce));
	make_cookie(checker, cookie, from);
	read_lock_bh(&checker->keys_lock);
	ok = checker->has_keys;
	if (ok)
		xchacha20poly1305_encrypt(reply->encrypted_cookie, cookie, sizeof(cookie),
					  msg + len - 2 * SSW_MAC_LEN, SSW_MAC_LEN,
					  reply->nonce, mode_keys(checker, protocol)->reply);
	read_unlock_bh(&checker->keys_lock);
	memzero_explicit(cookie, sizeof(cookie));
	if (unlikely(!ok)) {
		kfree_skb(skb);
		return -ENOKEY;
	}
	return ssw_socket_send_to(ssw, skb, from, false);
}
