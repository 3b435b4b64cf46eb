// SPDX-License-Identifier: GPL-2.0
/*
 * The device's UDP sockets (udp_tunnel API): binding, sending to a peer's
 * endpoint, and learning a peer's endpoint from what it sends (roaming).
 * Datagrams arrive through encap_rcv in receive.c.
 */

#include "socket.h"
#include "compat.h"
#include "device.h"
#include "peer.h"
#include "receive.h"

#include <linux/if_ether.h>
#include <linux/inetdevice.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <net/dst_cache.h>
#include <net/inet_common.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/route.h>
#include <net/udp.h>
#include <net/udp_tunnel.h>

static void forget_src(struct ssw_endpoint *ep)
{
	memset(&ep->src6, 0, sizeof(ep->src6));
	ep->src_if = 0;
}

/*
 * A sticky source is given up (and the lookup made again without it) when
 * the address is no longer ours, when no route takes it, or when the route
 * now leaves by another interface than the one the peer reached us on: the
 * peer can then only be answered from whatever source the route picks.
 */
static bool src_refused(const struct ssw_endpoint *ep, const struct dst_entry *dst,
			long err)
{
	return err || (ep->src_if && dst->dev->ifindex != ep->src_if);
}

/*
 * The peer's cached route, or NULL without one. A route from the cache is
 * checked (dst_check) on every use, but that does not notice every address
 * change (an IPv6 address removed leaves the routes to its prefix valid):
 * so the cache starts afresh whenever the namespace's addresses of the
 * family changed, and a sticky source or the route's choice of source is
 * checked again by a fresh lookup.
 */
static struct dst_cache *route_cache(struct ssw_route_cache *rc,
				     const atomic_t *addr_genid)
{
	u32 gen;

	if (!rc)
		return NULL;
	gen = atomic_read(addr_genid);
	if (unlikely(gen != rc->addr_gen)) {
		dst_cache_reset(&rc->cache);
		rc->addr_gen = gen;
	}
	return &rc->cache;
}

/*
 * @to: the destination and the sticky source (cleared here when refused).
 * @rc: the peer's route cache (its sender's alone), or NULL.
 */
static int send4(struct ssw_device *ssw, struct sk_buff *skb,
		 struct ssw_endpoint *to, struct ssw_route_cache *rc)
{
	struct flowi4 fl = {
		.daddr = to->addr4.sin_addr.s_addr,
		.fl4_dport = to->addr4.sin_port,
		.flowi4_mark = ssw->fwmark,
		.flowi4_proto = IPPROTO_UDP,
	};
	struct dst_cache *cache;
	struct rtable *rt = NULL;
	struct flowi4 fl_any;
	struct sock *sock;
	int ret = 0;

	rcu_read_lock_bh();
	sock = rcu_dereference_bh(ssw->sock4);
	if (unlikely(!sock)) {
		ret = -ENONET;
		goto err;
	}
	fl.fl4_sport = inet_sk(sock)->inet_sport;
	fl_any = fl;
	fl.saddr = to->src4.s_addr;
	cache = route_cache(rc, &sock_net(sock)->ipv4.dev_addr_genid);
	if (cache)
		rt = dst_cache_get_ip4(cache, &fl.saddr);
	if (!rt) {
		if (fl.saddr && !inet_confirm_addr(sock_net(sock), NULL, 0, fl.saddr,
						   RT_SCOPE_HOST)) {
			forget_src(to);
			fl = fl_any;
		}
		rt = ip_route_output_flow(sock_net(sock), &fl, sock);
		if (unlikely(to->src4.s_addr &&
			     src_refused(to, IS_ERR(rt) ? NULL : &rt->dst,
					 IS_ERR(rt) ? PTR_ERR(rt) : 0))) {
			if (!IS_ERR(rt))
				ip_rt_put(rt);
			forget_src(to);
			fl = fl_any;
			rt = ip_route_output_flow(sock_net(sock), &fl, sock);
		}
		if (IS_ERR(rt)) {
			ret = PTR_ERR(rt);
			goto err;
		}
		if (cache)
			dst_cache_set_ip4(cache, &rt->dst, fl.saddr);
	}
	/*
	 * A route back into our own device is not refused: that is a tunnel
	 * nested in another of its peers' (onion routing, as WireGuard allows
	 * since it dropped this restriction). A real loop ends like any loop
	 * between tunnels: the datagram grows with each pass, the queues
	 * bound it, and removing the peer or route ends it.
	 */
	skb->ignore_df = 1;
	ssw_compat_udp_tunnel_xmit_skb(rt, sock, skb, fl.saddr, fl.daddr, 0,
			    ip4_dst_hoplimit(&rt->dst), 0, fl.fl4_sport,
			    fl.fl4_dport, false, false);
	rcu_read_unlock_bh();
	return 0;

err:
	rcu_read_unlock_bh();
	kfree_skb(skb);
	return ret;
}

static int send6(struct ssw_device *ssw, struct sk_buff *skb,
		 struct ssw_endpoint *to, struct ssw_route_cache *rc)
{
	struct flowi6 fl = {
		.daddr = to->addr6.sin6_addr,
		.fl6_dport = to->addr6.sin6_port,
		.flowi6_mark = ssw->fwmark,
		.flowi6_oif = to->addr6.sin6_scope_id,
		.flowi6_proto = IPPROTO_UDP,
	};
	struct dst_entry *dst = NULL;
	struct dst_cache *cache;
	struct flowi6 fl_any;
	struct sock *sock;
	int ret = 0;

	if (!IS_ENABLED(CONFIG_IPV6)) {
		ret = -EAFNOSUPPORT;
		goto err_free;
	}
	rcu_read_lock_bh();
	sock = rcu_dereference_bh(ssw->sock6);
	if (unlikely(!sock)) {
		ret = -ENONET;
		goto err;
	}
	fl.fl6_sport = inet_sk(sock)->inet_sport;
	fl_any = fl;
	fl.saddr = to->src6;
	cache = route_cache(rc, &sock_net(sock)->ipv6.dev_addr_genid);
	if (cache)
		dst = dst_cache_get_ip6(cache, &fl.saddr);
	if (!dst) {
		/* The v6 lookup takes any source it is given: check it is ours. */
		if (!ipv6_addr_any(&fl.saddr) &&
		    !ipv6_chk_addr(sock_net(sock), &fl.saddr, NULL, 0)) {
			forget_src(to);
			fl = fl_any;
		}
		dst = ssw_compat_ip6_dst_lookup_flow(sock_net(sock), sock, &fl);
		if (unlikely(!ipv6_addr_any(&to->src6) &&
			     src_refused(to, IS_ERR(dst) ? NULL : dst,
					 IS_ERR(dst) ? PTR_ERR(dst) : 0))) {
			if (!IS_ERR(dst))
				dst_release(dst);
			forget_src(to);
			fl = fl_any;
			dst = ssw_compat_ip6_dst_lookup_flow(sock_net(sock),
							     sock, &fl);
		}
		if (IS_ERR(dst)) {
			ret = PTR_ERR(dst);
			goto err;
		}
		if (cache)
			dst_cache_set_ip6(cache, dst, &fl.saddr);
	}
	/* Back into our own device: a nested tunnel, as in send4(). */
	skb->ignore_df = 1;
	ssw_compat_udp_tunnel6_xmit_skb(dst, sock, skb, skb->dev, &fl.saddr, &fl.daddr, 0,
			     ip6_dst_hoplimit(dst), 0, fl.fl6_sport,
			     fl.fl6_dport, false);
	rcu_read_unlock_bh();
	return 0;

err:
	rcu_read_unlock_bh();
err_free:
	kfree_skb(skb);
	return ret;
}

static int send_to(struct ssw_device *ssw, struct sk_buff *skb,
		   struct ssw_endpoint *to, struct ssw_route_cache *rc)
{
	skb_mark_not_on_list(skb);
	skb->mark = ssw->fwmark;
	if (to->addr.sa_family == AF_INET)
		return send4(ssw, skb, to, rc);
	if (to->addr.sa_family == AF_INET6)
		return send6(ssw, skb, to, rc);
	kfree_skb(skb);
	return -EDESTADDRREQ;
}

int ssw_socket_send_to(struct ssw_device *ssw, struct sk_buff *skb,
		       const struct ssw_endpoint *to, bool counted)
{
	struct ssw_endpoint copy = *to;

	/* The tunnel transmit adds to the stats of skb->dev when there is one. */
	skb->dev = counted ? ssw->dev : NULL;
	return send_to(ssw, skb, &copy, NULL);
}

/*
 * The route cached for @peer is good for one endpoint (destination and
 * sticky source), fwmark and source port: whoever changes any of them
 * (SET_DEVICE, roaming, a handshake, a rebind)
 * only writes the new value, and the peer's sender, the one user of the
 * cache, notices here and starts a fresh one. ssw_socket_clear_src() asks
 * for a fresh one without a change (a handshake retransmit: the host's
 * addresses may have moved under an unchanged endpoint).
 */
static void route_cache_check(struct ssw_peer *peer,
			      const struct ssw_endpoint *to)
{
	struct ssw_device *ssw = peer->device;
	struct ssw_route_cache *rc = &peer->route_cache;
	u32 fwmark = READ_ONCE(ssw->fwmark);
	u16 port = READ_ONCE(ssw->incoming_port);
	u32 flushes = atomic_read(&rc->flushes);

	if (likely(!memcmp(&rc->endpoint, to, sizeof(*to)) &&
		   rc->fwmark == fwmark && rc->port == port &&
		   rc->flushed == flushes))
		return;
	dst_cache_reset(&rc->cache);
	rc->endpoint = *to;
	rc->fwmark = fwmark;
	rc->port = port;
	rc->flushed = flushes;
}

/*
 * The sender gave up the sticky source of @sent: forget it in the peer's
 * endpoint too (unless that moved meanwhile), and let the cache, already
 * filled without it, stand for the endpoint as it now is.
 */
static void src_refused_by_route(struct ssw_peer *peer,
				 const struct ssw_endpoint *sent)
{
	struct ssw_route_cache *rc = &peer->route_cache;

	write_lock_bh(&peer->endpoint_lock);
	if (!memcmp(&peer->endpoint, &rc->endpoint, sizeof(peer->endpoint)))
		forget_src(&peer->endpoint);
	write_unlock_bh(&peer->endpoint_lock);
	rc->endpoint = *sent;
}

/* Only from the peer's tx work item (one at a time): it owns the cache. */
int ssw_socket_send_to_peer(struct ssw_peer *peer, struct sk_buff *skb)
{
	struct ssw_endpoint to;
	int ret;

	read_lock_bh(&peer->endpoint_lock);
	to = peer->endpoint;
	read_unlock_bh(&peer->endpoint_lock);
	route_cache_check(peer, &to);
	skb->dev = peer->device->dev;
	ret = send_to(peer->device, skb, &to, &peer->route_cache);
	if (unlikely(memcmp(&to, &peer->route_cache.endpoint, sizeof(to))))
		src_refused_by_route(peer, &to);
	return ret;
}

void ssw_socket_endpoint_from_skb(struct ssw_endpoint *from,
				  const struct sk_buff *skb)
{
	const struct udphdr *udp = udp_hdr(skb);

	memset(from, 0, sizeof(*from));
	if (ip_hdr(skb)->version == 4) {
		from->addr4.sin_family = AF_INET;
		from->addr4.sin_port = udp->source;
		from->addr4.sin_addr.s_addr = ip_hdr(skb)->saddr;
		from->src4.s_addr = ip_hdr(skb)->daddr;
	} else {
		from->addr6.sin6_family = AF_INET6;
		from->addr6.sin6_port = udp->source;
		from->addr6.sin6_addr = ipv6_hdr(skb)->saddr;
		from->addr6.sin6_scope_id = ipv6_iface_scope_id(&ipv6_hdr(skb)->saddr,
								skb->skb_iif);
		from->src6 = ipv6_hdr(skb)->daddr;
	}
	from->src_if = skb->skb_iif;
}

bool ssw_socket_update_endpoint(struct ssw_peer *peer, const struct sk_buff *skb)
{
	struct ssw_endpoint from;
	bool moved;

	ssw_socket_endpoint_from_skb(&from, skb);
	read_lock_bh(&peer->endpoint_lock);
	if (!memcmp(&from, &peer->endpoint, sizeof(from))) {
		read_unlock_bh(&peer->endpoint_lock);
		return false;
	}
	read_unlock_bh(&peer->endpoint_lock);
	write_lock_bh(&peer->endpoint_lock);
	/*
	 * Only a new remote address is news for the daemon (a new source of
	 * ours is not), and two CPUs may race here with it: tell only once.
	 */
	moved = memcmp(&from.addr6, &peer->endpoint.addr6, sizeof(from.addr6));
	peer->endpoint = from;
	write_unlock_bh(&peer->endpoint_lock);
	return moved;
}

void ssw_socket_clear_src(struct ssw_peer *peer)
{
	/*
	 * Any context: only the peer's sender may touch the dst_cache, so
	 * this changes the endpoint (no source) and bumps a counter; the
	 * sender notices either and drops the cached route before its next
	 * datagram.
	 */
	write_lock_bh(&peer->endpoint_lock);
	forget_src(&peer->endpoint);
	write_unlock_bh(&peer->endpoint_lock);
	atomic_inc(&peer->route_cache.flushes);
}

static void sock_free(struct sock *sock)
{
	if (sock)
		ssw_compat_udp_tunnel_sock_release(sock->sk_socket);
}

static void set_sockets(struct ssw_device *ssw, struct sock *new4,
			struct sock *new6)
{
	struct sock *old4, *old6;

	old4 = rcu_dereference_protected(ssw->sock4,
					 lockdep_is_held(&ssw->device_update_lock));
	old6 = rcu_dereference_protected(ssw->sock6,
					 lockdep_is_held(&ssw->device_update_lock));
	rcu_assign_pointer(ssw->sock4, new4);
	rcu_assign_pointer(ssw->sock6, new6);
	if (new4)
		ssw->incoming_port = ntohs(inet_sk(new4)->inet_sport);
	synchronize_net();
	sock_free(old4);
	sock_free(old6);
}

int ssw_socket_init(struct ssw_device *ssw, u16 port)
{
	struct udp_tunnel_sock_cfg cfg = {
		.sk_user_data = ssw,
		.encap_type = 1,
		.encap_rcv = ssw_receive,
	};
	struct udp_port_cfg port4 = {
		.family = AF_INET,
		.local_ip.s_addr = htonl(INADDR_ANY),
		.use_udp_checksums = true,
	};
	struct udp_port_cfg port6 = {
		.family = AF_INET6,
		.local_ip6 = IN6ADDR_ANY_INIT,
		.use_udp6_tx_checksums = true,
		.use_udp6_rx_checksums = true,
		.ipv6_v6only = true,
	};
	struct socket *new4 = NULL, *new6 = NULL;
	struct net *net;
	int ret, tries = 0;

	lockdep_assert_held(&ssw->device_update_lock);
	rcu_read_lock();
	net = rcu_dereference(ssw->creating_net);
	net = net ? maybe_get_net(net) : NULL;
	rcu_read_unlock();
	if (unlikely(!net))
		return -ENONET;

retry:
	port4.local_udp_port = htons(port);
	ret = udp_sock_create(net, &port4, &new4);
	if (ret < 0) {
		pr_err("%s: could not create IPv4 socket\n", ssw->dev->name);
		goto out;
	}
	ssw_compat_setup_udp_tunnel_sock(net, new4, &cfg);

	if (IS_ENABLED(CONFIG_IPV6) && ipv6_mod_enabled()) {
		/* The same port as v4, whichever one v4 got. */
		port6.local_udp_port = inet_sk(new4->sk)->inet_sport;
		ret = udp_sock_create(net, &port6, &new6);
		if (ret < 0) {
			ssw_compat_udp_tunnel_sock_release(new4);
			new4 = NULL;
			if (ret == -EADDRINUSE && !port && ++tries < 100)
				goto retry;
			pr_err("%s: could not create IPv6 socket\n", ssw->dev->name);
			goto out;
		}
		ssw_compat_setup_udp_tunnel_sock(net, new6, &cfg);
	}

	set_sockets(ssw, new4->sk, new6 ? new6->sk : NULL);
	ret = 0;
out:
	put_net(net);
	return ret;
}

void ssw_socket_close(struct ssw_device *ssw)
{
	set_sockets(ssw, NULL, NULL);
}
