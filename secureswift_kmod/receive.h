/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SSW_RECEIVE_H
#define _SSW_RECEIVE_H

#include <linux/netdevice.h>
#include <linux/skbuff.h>
#include <net/sock.h>

/* encap_rcv of the device's UDP sockets: always consumes @skb. */
int ssw_receive(struct sock *sk, struct sk_buff *skb);
/* Decryption workers (queueing.h) and the per-peer NAPI poll. */
void ssw_receive_decrypt_worker(struct work_struct *work);
int ssw_receive_poll(struct napi_struct *napi, int budget);

#endif /* _SSW_RECEIVE_H */
