/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SSW_SOCKET_H
#define _SSW_SOCKET_H

#include <linux/skbuff.h>
#include <linux/types.h>

#include "peer.h"

struct ssw_device;

/*
 * Open the device's v4 and v6 UDP sockets on @port (0: any free port, the
 * same for both) in the namespace the device was created in, replacing
 * any open ones. Caller holds device_update_lock.
 */
int ssw_socket_init(struct ssw_device *ssw, u16 port);
void ssw_socket_close(struct ssw_device *ssw);
/*
 * Send a UDP payload (skb data) to @to / @peer's endpoint, from its sticky
 * source while that is ours and routable; consumes @skb.
 * @counted: add it to the device's tx counters (transport data only).
 */
int ssw_socket_send_to(struct ssw_device *ssw, struct sk_buff *skb,
		       const struct ssw_endpoint *to, bool counted);
int ssw_socket_send_to_peer(struct ssw_peer *peer, struct sk_buff *skb);
/*
 * The outer source address and port of a received datagram, and its outer
 * destination (and interface) as the sticky source to answer from.
 */
void ssw_socket_endpoint_from_skb(struct ssw_endpoint *from,
				  const struct sk_buff *skb);
/*
 * Roaming: an authentic packet from @peer came from the outer source of @skb
 * (to the address of ours that becomes the sticky source). True when that
 * moved the peer's address (not for a new source of ours alone).
 */
bool ssw_socket_update_endpoint(struct ssw_peer *peer, const struct sk_buff *skb);
/*
 * Forget @peer's sticky source and cached route, so the next datagram
 * goes from the route's choice of source: on each handshake retransmit.
 */
void ssw_socket_clear_src(struct ssw_peer *peer);

#endif /* _SSW_SOCKET_H */
