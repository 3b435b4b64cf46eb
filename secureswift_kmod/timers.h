/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SSW_TIMERS_H
#define _SSW_TIMERS_H

#include <linux/types.h>

struct ssw_peer;

/*
 * Protocol times in seconds, initialised from wire.h (WireGuard's values:
 * SSW_REKEY_AFTER_TIME and friends, docs/protocol.md). Only
 * the test build (SSW_TEST_KNOBS, Kbuild) makes them module parameters, so
 * that the VM tests can shorten them; in the shipped module nothing can
 * change them after load, so nobody can extend a key's lifetime.
 */
#ifdef SSW_TEST_KNOBS
#define __ssw_knob
#else
#define __ssw_knob __ro_after_init
#endif
extern unsigned int ssw_rekey_after_time;	/* SSW_REKEY_AFTER_TIME */
extern unsigned int ssw_reject_after_time;	/* SSW_REJECT_AFTER_TIME */
extern unsigned int ssw_keepalive_timeout;	/* SSW_KEEPALIVE_TIMEOUT */
extern unsigned int ssw_zero_keys_after_time;	/* SSW_ZERO_KEYS_AFTER */

void ssw_timers_init(struct ssw_peer *peer);
/* Synchronously stop every timer of @peer (peer removal, device down). */
void ssw_timers_stop(struct ssw_peer *peer);

/* An authenticated data message (@data: not a keepalive) went out. */
void ssw_timers_packet_sent(struct ssw_peer *peer, bool data);
/* An authenticated data message (@data: not a keepalive) arrived. */
void ssw_timers_packet_received(struct ssw_peer *peer, bool data);
/* A keypair was installed; caller holds peer->keypairs.lock. */
void ssw_timers_session_derived(struct ssw_peer *peer);
/* SET_DEVICE changed PersistentKeepalive; device_update_lock held. */
void ssw_timers_set_persistent_keepalive(struct ssw_peer *peer, u16 interval);

#endif /* _SSW_TIMERS_H */
