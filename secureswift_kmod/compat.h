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

#endif /* _SSW_COMPAT_H */
