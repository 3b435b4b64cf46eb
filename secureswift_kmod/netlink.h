/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SSW_NETLINK_H
#define _SSW_NETLINK_H

#include <linux/types.h>

int ssw_genetlink_init(void);
void ssw_genetlink_uninit(void);

struct ssw_device;
struct ssw_endpoint;
/* HANDSHAKE_UPCALL on the "handshake" group (atomic context is fine). */
struct ssw_peer;
/*
 * NEED_HANDSHAKE on the "handshake" group: @peer has packets but no keys,
 * or its keys are getting old (timers.c). Rate-limit with
 * ssw_peer_want_handshake().
 */
void ssw_netlink_need_handshake(struct ssw_peer *peer);
/* KEYS_EXPIRED on the same group: the kernel zeroed all of @peer's keys. */
void ssw_netlink_keys_expired(struct ssw_peer *peer);
/* ENDPOINT_CHANGED on the "handshake" group: @peer roamed (atomic context). */
void ssw_netlink_endpoint_changed(struct ssw_peer *peer);
int ssw_netlink_handshake_upcall(struct ssw_device *ssw, const void *packet,
				 size_t len, const struct ssw_endpoint *from);

#endif /* _SSW_NETLINK_H */
