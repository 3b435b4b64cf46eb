/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the kernels we build against (Debian 12's 6.1
 * and 6.12 from bookworm-security/backports, Debian sid's 7.2) lives here,
 * so the rest of the module is written against one API. Where a header
 * tells us, we test for the feature itself rather than a version.
 */
#ifndef _SSW_COMPAT_H
#define _SSW_COMPAT_H

#include <linux/version.h>
#include <linux/netdevice.h>
#include <net/genetlink.h>
#include <net/rtnetlink.h>
#include <linux/timer.h>
#include <linux/workqueue.h>
#include <crypto/blake2s.h>

/* hex2bin() moved from kernel.h into its own header in 7.x. */
#if __has_include(<linux/hex.h>)
#include <linux/hex.h>
#endif

/*
 * 6.16 renamed from_timer() to timer_container_of() (and 7.x dropped the
 * old name).
 */
#ifndef timer_container_of
#define timer_container_of(var, callback_timer, timer_fieldname) \
	from_timer(var, callback_timer, timer_fieldname)
#endif

/*
 * The IPv6 route lookup: through ipv6_stub while IPv6 could be a module;
 * 7.x removed the stub (IPv6 is built in) and callers use the exported
 * ip6_dst_lookup_flow() directly.
 */
#if __has_include(<net/ipv6_stubs.h>)
#include <net/ipv6_stubs.h>
static inline struct dst_entry *
ssw_compat_ip6_dst_lookup_flow(struct net *net, const struct sock *sk,
			       struct flowi6 *fl6)
{
	return ipv6_stub->ipv6_dst_lookup_flow(net, sk, fl6, NULL);
}
#else
#include <net/ipv6.h>
static inline struct dst_entry *
ssw_compat_ip6_dst_lookup_flow(struct net *net, const struct sock *sk,
			       struct flowi6 *fl6)
{
	return ip6_dst_lookup_flow(net, sk, fl6, NULL);
}
#endif

/*
 * BLAKE2s: 6.19's library rework renamed struct blake2s_state to
 * struct blake2s_ctx and put blake2s()'s arguments in (key, in, out)
 * order. The module keeps the old order: ssw_blake2s(out, in, key, ...).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 19, 0)
#define ssw_blake2s_state blake2s_ctx
static inline void ssw_blake2s(u8 *out, const u8 *in, const u8 *key,
			       size_t outlen, size_t inlen, size_t keylen)
{
	blake2s(key, keylen, in, inlen, out, outlen);
}
#else
#define ssw_blake2s_state blake2s_state
static inline void ssw_blake2s(u8 *out, const u8 *in, const u8 *key,
			       size_t outlen, size_t inlen, size_t keylen)
{
	blake2s(out, in, key, outlen, inlen, keylen);
}
#endif

/*
 * UDP tunnel sockets. Upstream between 6.12 and 7.2: udp_tunnel*_xmit_skb()
 * gained an IP control-block flags argument (6.16), and the socket set-up
 * and release helpers take the struct sock instead of the struct socket
 * (7.0). Only 6.1, 6.12 and 7.2 are built and tested here; the boundaries
 * are our reading of the upstream history.
 */
#include <net/udp_tunnel.h>
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 16, 0)
#define SSW_COMPAT_IPCB_FLAGS , 0
#else
#define SSW_COMPAT_IPCB_FLAGS
#endif
#define ssw_compat_udp_tunnel_xmit_skb(rt, sk, skb, src, dst, tos, ttl, df, \
				       sport, dport, xnet, nocheck)	\
	udp_tunnel_xmit_skb(rt, sk, skb, src, dst, tos, ttl, df, sport, dport, \
			    xnet, nocheck SSW_COMPAT_IPCB_FLAGS)
#define ssw_compat_udp_tunnel6_xmit_skb(dst, sk, skb, dev, saddr, daddr,	\
					prio, ttl, label, sport, dport, nocheck) \
	udp_tunnel6_xmit_skb(dst, sk, skb, dev, saddr, daddr, prio, ttl,	\
			     label, sport, dport, nocheck SSW_COMPAT_IPCB_FLAGS)

#if LINUX_VERSION_CODE >= KERNEL_VERSION(7, 0, 0)
#define ssw_compat_tunnel_sk(sock) ((sock)->sk)
#else
#define ssw_compat_tunnel_sk(sock) (sock)
#endif
static inline void ssw_compat_setup_udp_tunnel_sock(struct net *net,
						    struct socket *sock,
						    struct udp_tunnel_sock_cfg *cfg)
{
	setup_udp_tunnel_sock(net, ssw_compat_tunnel_sk(sock), cfg);
}

static inline void ssw_compat_udp_tunnel_sock_release(struct socket *sock)
{
	udp_tunnel_sock_release(ssw_compat_tunnel_sk(sock));
}

/*
 * Workqueues: 6.17 added WQ_PERCPU (the default until then), and 7.x warns
 * at alloc_workqueue() when neither it nor WQ_UNBOUND is given. Ours are
 * per-CPU, as they always were.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 17, 0)
#define SSW_COMPAT_WQ_PERCPU WQ_PERCPU
#else
#define SSW_COMPAT_WQ_PERCPU 0
#endif

/*
 * rtnl_link_ops.newlink: 6.15 packed the namespaces and attributes into
 * struct rtnl_newlink_params. The module's newlink takes the old argument
 * list; SSW_COMPAT_NEWLINK(fn) names the function link_ops points at.
 * rtnl_newlink_link_net() is what older kernels passed as src_net (the
 * link namespace if the request named one, else the requester's).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 15, 0)
#define SSW_COMPAT_NEWLINK(fn)						\
static int fn##_params(struct net_device *dev,				\
		       struct rtnl_newlink_params *params,		\
		       struct netlink_ext_ack *extack)			\
{									\
	return fn(rtnl_newlink_link_net(params), dev, params->tb,	\
		  params->data, extack);				\
}
#define SSW_COMPAT_NEWLINK_OP(fn) fn##_params
#else
#define SSW_COMPAT_NEWLINK(fn)
#define SSW_COMPAT_NEWLINK_OP(fn) fn
#endif

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
