// SPDX-License-Identifier: GPL-2.0
/*
 * Per-peer timers, after WireGuard's (drivers/net/wireguard/timers.c), minus
 * what the daemon does here (handshake retransmits): the kernel only sends
 * keepalives, asks for handshakes (NEED_HANDSHAKE) and forgets old keys.
 *
 * - send_keepalive: an authenticated data message arrived and we sent
 *   nothing for KEEPALIVE_TIMEOUT: send an empty one, so the other side
 *   knows its packets got through (passive keepalive).
 * - new_handshake: we sent data and heard nothing back for KEEPALIVE_TIMEOUT
 *   + REKEY_TIMEOUT: the session may be dead, ask for a handshake.
 * - zero_key_material: 3 x REJECT_AFTER_TIME after the last install with
 *   no newer one, every key of the peer is zeroed and freed (KEYS_EXPIRED).
 * - persistent_keepalive: PersistentKeepalive seconds after the last
 *   authenticated packet either way, an empty message (keeps NAT state).
 *
 * Timers are armed only while the device runs and the peer is alive; both
 * are checked under rcu_read_lock_bh() and the removal paths wait for a
 * grace period after clearing them, so nothing re-arms behind
 * ssw_timers_stop().
 */

#include "timers.h"
#include "compat.h"
#include "daemon.h"
#include "device.h"
#include "keypair.h"
#include "peer.h"
#include "send.h"

#include <linux/jiffies.h>
#include <linux/random.h>
#include <linux/timekeeping.h>

#define SSW_REKEY_TIMEOUT		5
#define SSW_REKEY_TIMEOUT_JITTER_MAX	(HZ / 3)

unsigned int ssw_rekey_after_time __ssw_knob = 120;
unsigned int ssw_reject_after_time __ssw_knob = 180;
unsigned int ssw_keepalive_timeout __ssw_knob = 10;
unsigned int ssw_zero_keys_after_time __ssw_knob = 3 * 180;

static unsigned long secs(const unsigned int *knob)
{
	return (unsigned long)READ_ONCE(*knob) * HZ;
}

static void mod_peer_timer(struct ssw_peer *peer, struct timer_list *timer,
			   unsigned long expires)
{
	rcu_read_lock_bh();
	if (likely(netif_running(peer->device->dev) &&
		   !READ_ONCE(peer->is_dead)))
		mod_timer(timer, expires);
	rcu_read_unlock_bh();
}

static bool keypair_older_than(const struct ssw_keypair *keypair, u64 ns)
{
	return ktime_get_coarse_boottime_ns() - keypair->created_ns >= ns;
}

/*
 * Sending under a session we initiated that is getting old (or has used
 * up its message budget): ask for a new one well before it is refused.
 */
static void keep_key_fresh_on_send(struct ssw_peer *peer)
{
	u64 rekey_ns = (u64)READ_ONCE(ssw_rekey_after_time) * NSEC_PER_SEC;
	struct ssw_keypair *keypair;
	bool want;

	rcu_read_lock_bh();
	keypair = rcu_dereference_bh(peer->keypairs.current_keypair);
	want = keypair &&
	       (atomic64_read(&keypair->send_counter) > SSW_REKEY_AFTER_MESSAGES ||
		(keypair->initiator && keypair_older_than(keypair, rekey_ns)));
	rcu_read_unlock_bh();
	if (unlikely(want))
		ssw_peer_want_handshake(peer);
}

/*
 * Receiving under our own old session: the last chance to rekey before
 * REJECT_AFTER_TIME, asked once per session (the responder never asks).
 */
static void keep_key_fresh_on_receive(struct ssw_peer *peer)
{
	s64 left = (s64)READ_ONCE(ssw_reject_after_time) -
		   READ_ONCE(ssw_keepalive_timeout) - SSW_REKEY_TIMEOUT;
	struct ssw_keypair *keypair;
	bool want;

	if (READ_ONCE(peer->sent_lastminute_handshake))
		return;
	rcu_read_lock_bh();
	keypair = rcu_dereference_bh(peer->keypairs.current_keypair);
	want = keypair && keypair->initiator &&
	       keypair_older_than(keypair, max_t(s64, left, 0) * NSEC_PER_SEC);
	rcu_read_unlock_bh();
	if (unlikely(want)) {
		WRITE_ONCE(peer->sent_lastminute_handshake, true);
		ssw_peer_want_handshake(peer);
	}
}

static void expired_send_keepalive(struct timer_list *timer)
{
	struct ssw_peer *peer = timer_container_of(peer, timer, timer_send_keepalive);

	ssw_send_keepalive(peer);
	if (READ_ONCE(peer->timer_need_another_keepalive)) {
		WRITE_ONCE(peer->timer_need_another_keepalive, false);
		mod_peer_timer(peer, &peer->timer_send_keepalive,
			       jiffies + secs(&ssw_keepalive_timeout));
	}
}

static void expired_new_handshake(struct timer_list *timer)
{
	struct ssw_peer *peer = timer_container_of(peer, timer, timer_new_handshake);

	pr_debug("%s: peer %llu: no reply for %u s, asking for a handshake\n",
		 peer->device->dev->name, peer->internal_id,
		 READ_ONCE(ssw_keepalive_timeout) + SSW_REKEY_TIMEOUT);
	ssw_peer_want_handshake(peer);
}

static void expired_zero_key_material(struct timer_list *timer)
{
	struct ssw_peer *peer = timer_container_of(peer, timer, timer_zero_key_material);

	if (READ_ONCE(peer->is_dead))
		return;
	/* A newer install re-armed the timer under the same lock: keep its keys. */
	if (!ssw_keypairs_expire(peer, &peer->timer_zero_key_material))
		return;
	skb_queue_purge(&peer->staged_packets);
	pr_debug("%s: peer %llu: keys zeroed, none installed for %u s\n",
		 peer->device->dev->name, peer->internal_id,
		 READ_ONCE(ssw_zero_keys_after_time));
	ssw_daemon_keys_expired(peer);
}

static void expired_send_persistent_keepalive(struct timer_list *timer)
{
	struct ssw_peer *peer = timer_container_of(peer, timer,
						      timer_persistent_keepalive);

	if (likely(READ_ONCE(peer->persistent_keepalive_interval)))
		ssw_send_keepalive(peer);
}

/* Any authenticated packet, either way: restart the persistent keepalive. */
static void packet_traversal(struct ssw_peer *peer)
{
	u16 interval = READ_ONCE(peer->persistent_keepalive_interval);

	if (interval)
		mod_peer_timer(peer, &peer->timer_persistent_keepalive,
			       jiffies + interval * HZ);
}

void ssw_timers_packet_sent(struct ssw_peer *peer, bool data)
{
	packet_traversal(peer);
	timer_delete(&peer->timer_send_keepalive);
	if (data && !timer_pending(&peer->timer_new_handshake))
		mod_peer_timer(peer, &peer->timer_new_handshake,
			       jiffies + secs(&ssw_keepalive_timeout) +
			       SSW_REKEY_TIMEOUT * HZ +
			       get_random_u32_below(SSW_REKEY_TIMEOUT_JITTER_MAX));
	keep_key_fresh_on_send(peer);
}

void ssw_timers_packet_received(struct ssw_peer *peer, bool data)
{
	keep_key_fresh_on_receive(peer);
	timer_delete(&peer->timer_new_handshake);
	packet_traversal(peer);
	if (!data)
		return;
	if (!timer_pending(&peer->timer_send_keepalive))
		mod_peer_timer(peer, &peer->timer_send_keepalive,
			       jiffies + secs(&ssw_keepalive_timeout));
	else
		WRITE_ONCE(peer->timer_need_another_keepalive, true);
}

void ssw_timers_session_derived(struct ssw_peer *peer)
{
	lockdep_assert_held(&peer->keypairs.lock);
	WRITE_ONCE(peer->sent_lastminute_handshake, false);
	mod_peer_timer(peer, &peer->timer_zero_key_material,
		       jiffies + secs(&ssw_zero_keys_after_time));
}

void ssw_timers_set_persistent_keepalive(struct ssw_peer *peer, u16 interval)
{
	u16 old = peer->persistent_keepalive_interval;

	lockdep_assert_held(&peer->device->device_update_lock);
	WRITE_ONCE(peer->persistent_keepalive_interval, interval);
	if (!interval) {
		timer_delete(&peer->timer_persistent_keepalive);
		return;
	}
	mod_peer_timer(peer, &peer->timer_persistent_keepalive,
		       jiffies + interval * HZ);
	/* Turned on: one right away, as WireGuard (it re-arms the timer). */
	if (!old && netif_running(peer->device->dev))
		ssw_send_keepalive(peer);
}

void ssw_timers_init(struct ssw_peer *peer)
{
	timer_setup(&peer->timer_send_keepalive, expired_send_keepalive, 0);
	timer_setup(&peer->timer_new_handshake, expired_new_handshake, 0);
	timer_setup(&peer->timer_zero_key_material, expired_zero_key_material, 0);
	timer_setup(&peer->timer_persistent_keepalive,
		    expired_send_persistent_keepalive, 0);
	peer->timer_need_another_keepalive = false;
	peer->sent_lastminute_handshake = false;
}

void ssw_timers_stop(struct ssw_peer *peer)
{
	timer_delete_sync(&peer->timer_send_keepalive);
	timer_delete_sync(&peer->timer_new_handshake);
	timer_delete_sync(&peer->timer_zero_key_material);
	timer_delete_sync(&peer->timer_persistent_keepalive);
	WRITE_ONCE(peer->timer_need_another_keepalive, false);
}
