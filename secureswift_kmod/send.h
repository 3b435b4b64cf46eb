/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SSW_SEND_H
#define _SSW_SEND_H

#include <linux/netdevice.h>

struct ssw_peer;
struct work_struct;

/* ndo_start_xmit of the device. */
netdev_tx_t ssw_xmit(struct sk_buff *skb, struct net_device *dev);
/* Send what waited for a keypair, if there is a usable one now. */
void ssw_send_staged(struct ssw_peer *peer);
/* Crypto workers (queueing.h) and the per-peer sender. */
void ssw_send_encrypt_worker(struct work_struct *work);
void ssw_send_tx_worker(struct work_struct *work);
/* An empty data message under the current keypair (keepalive/confirmation). */
void ssw_send_keepalive(struct ssw_peer *peer);

#endif /* _SSW_SEND_H */
