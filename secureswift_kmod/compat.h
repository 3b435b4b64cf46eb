/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the kernels we build against (Debian 12's 6.1
 * and 6.12 from bookworm-security/backports) lives here, so the rest of the
 * module is written against one API.
 */
#ifndef _SSW_COMPAT_H
#define _SSW_COMPAT_H

#include <linux/version.h>
#include <linux/netdevice.h>
#include <net/genetlink.h>

/* skb_gso_segment() moved from netdevice.h to net/gso.h in 6.5. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
#include <net/gso.h>
#endif

/*
 * 6.12 moved "lockless transmit" from a feature bit to a netdev field
 * (commit "net: move NETIF_F_LLTX to priv flags").
 */
static inline void ssw_compat_set_lltx(struct net_device *dev)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
	dev->lltx = true;
#else
	dev->features |= NETIF_F_LLTX;
#endif
}

/*
 * The parsed attributes of a dump request: 6.1 keeps them in struct
 * genl_dumpit_info, 6.12 in the struct genl_info embedded in it.
 */
static inline struct nlattr **ssw_compat_dump_attrs(struct netlink_callback *cb)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
	return genl_info_dump(cb)->attrs;
#else
	return genl_dumpit_info(cb)->attrs;
#endif
}

/*
 * Multicast groups can demand CAP_NET_ADMIN from subscribers since 6.7; the
 * flag was backported to 6.1.y (Debian's 6.1 has it), so test for the flag
 * itself. Without it, anyone in the namespace could read handshake upcalls.
 */
#ifdef GENL_MCAST_CAP_NET_ADMIN
#define SSW_COMPAT_MCGRP_FLAGS .flags = GENL_MCAST_CAP_NET_ADMIN,
#else
#error "this kernel's generic netlink cannot restrict multicast groups to admins"
#endif

#endif /* _SSW_COMPAT_H */
