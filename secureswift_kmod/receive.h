/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SSW_RECEIVE_H
#define _SSW_RECEIVE_H

#include <linux/skbuff.h>
#include <net/sock.h>

/* encap_rcv of the device's UDP sockets: always consumes @skb. */
int ssw_receive(struct sock *sk, struct sk_buff *skb);

#endif /* _SSW_RECEIVE_H */
