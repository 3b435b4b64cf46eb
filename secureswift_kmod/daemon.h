/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SSW_DAEMON_H
#define _SSW_DAEMON_H

#include <linux/types.h>

struct genl_info;
struct sk_buff;
struct ssw_device;
struct ssw_endpoint;
struct ssw_peer;

/* The daemon's commands: doit handlers in netlink.c's ops table. */
int ssw_daemon_install_keypair(struct sk_buff *skb, struct genl_info *info);
int ssw_daemon_xmit_handshake(struct sk_buff *skb, struct genl_info *info);
int ssw_daemon_drop_staged(struct sk_buff *skb, struct genl_info *info);

/*
 * Multicasts on the "handshake" group, in the namespace the device is
 * configured from (where its daemon runs). All but DEVICE_CHANGED may be
 * sent from atomic context.
 */

/* HANDSHAKE_UPCALL: handshake message @packet from @from (upcall.c's worker). */
int ssw_daemon_handshake_upcall(struct ssw_device *ssw, const void *packet,
				size_t len, const struct ssw_endpoint *from);
/*
 * NEED_HANDSHAKE: @peer has packets but no keys, or its keys are getting
 * old (timers.c). Rate-limit with ssw_peer_want_handshake().
 */
void ssw_daemon_need_handshake(struct ssw_peer *peer);
/* KEYS_EXPIRED: the kernel zeroed all of @peer's keys. */
void ssw_daemon_keys_expired(struct ssw_peer *peer);
/* ENDPOINT_CHANGED: @peer roamed. */
void ssw_daemon_endpoint_changed(struct ssw_peer *peer);
/* DEVICE_CHANGED: SET_DEVICE changed @ssw; the daemon re-reads it. Process context. */
void ssw_daemon_device_changed(struct ssw_device *ssw);

#endif /* _SSW_DAEMON_H */
