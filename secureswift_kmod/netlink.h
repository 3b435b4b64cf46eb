/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SSW_NETLINK_H
#define _SSW_NETLINK_H

#include <linux/gfp.h>
#include <linux/types.h>

struct netlink_ext_ack;
struct nlattr;
struct sk_buff;
struct ssw_device;
struct ssw_endpoint;

int ssw_genetlink_init(void);
void ssw_genetlink_uninit(void);

/*
 * For daemon.c, which speaks the daemon protocol on this family. The
 * device of @ifindex in the requester's namespace, held (release with
 * dev_put(ssw->dev)), or ERR_PTR if there is none or it is not ours.
 */
struct ssw_device *ssw_netlink_device_by_index(struct sk_buff *skb, u32 ifindex);
/* A sockaddr_in or sockaddr_in6 attribute, checked, into @ep. */
int ssw_netlink_get_endpoint(const struct nlattr *attr, struct ssw_endpoint *ep,
			     struct netlink_ext_ack *extack);
/* The family's header for a notification of @cmd, or NULL if @msg is full. */
void *ssw_netlink_notification_put(struct sk_buff *msg, u8 cmd);
/* Multicast finished @msg on the "handshake" group of @ssw's namespace; consumes it. */
int ssw_netlink_multicast(struct ssw_device *ssw, struct sk_buff *msg, gfp_t gfp);

#endif /* _SSW_NETLINK_H */
