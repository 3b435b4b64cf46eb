// SPDX-License-Identifier: GPL-2.0
/*
 * The "secureswift" generic netlink family: configuration in (SET_DEVICE,
 * one message applied atomically) and out (GET_DEVICE, a paged dump).
 * uapi/secureswift.h documents the attributes; netlink_policy.h (generated
 * from the same schema) validates them before a handler runs.
 *
 * The family also carries the daemon protocol (daemon.c): its commands
 * are in the ops table below, and daemon.c builds and multicasts its
 * notifications through the helpers at the end of this file.
 */

#include "netlink.h"
#include "daemon.h"
#include "device.h"
#include "peer.h"
#include "allowedips.h"
#include "compat.h"
#include "netlink_policy.h"
#include "socket.h"
#include "timers.h"

#include <linux/if.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <net/genetlink.h>
#include <net/sock.h>
#include <crypto/algapi.h>

static struct genl_family genl_family;
/* Position of each multicast group in genl_mcgrps[]. */
enum { SSW_MCGRP_HANDSHAKE_INDEX };

/* Lookup helpers */

/* A held secureswift device, or ERR_PTR; release with dev_put(ssw->dev). */
static struct ssw_device *ours(struct net_device *dev)
{
	if (!dev)
		return ERR_PTR(-ENODEV);
	if (!dev->rtnl_link_ops || !dev->rtnl_link_ops->kind ||
	    strcmp(dev->rtnl_link_ops->kind, KBUILD_MODNAME)) {
		dev_put(dev);
		return ERR_PTR(-EOPNOTSUPP);
	}
	return netdev_priv(dev);
}

struct ssw_device *ssw_netlink_device_by_index(struct sk_buff *skb, u32 ifindex)
{
	return ours(dev_get_by_index(sock_net(skb->sk), ifindex));
}

static struct ssw_device *lookup_interface(struct nlattr **attrs,
					   struct sk_buff *skb)
{
	if (!attrs[SSWDEVICE_A_IFINDEX] == !attrs[SSWDEVICE_A_IFNAME])
		return ERR_PTR(-EBADR);
	if (attrs[SSWDEVICE_A_IFINDEX])
		return ssw_netlink_device_by_index(skb,
						   nla_get_u32(attrs[SSWDEVICE_A_IFINDEX]));
	return ours(dev_get_by_name(sock_net(skb->sk),
				    nla_data(attrs[SSWDEVICE_A_IFNAME])));
}

static int check_endpoint(const struct nlattr *attr, struct netlink_ext_ack *extack)
{
	const struct sockaddr *sa = nla_data(attr);
	int len = nla_len(attr);

	if (!((sa->sa_family == AF_INET && len == sizeof(struct sockaddr_in)) ||
	      (sa->sa_family == AF_INET6 && len == sizeof(struct sockaddr_in6)))) {
		NL_SET_ERR_MSG_ATTR(extack, attr,
				    "endpoint must be a sockaddr_in or sockaddr_in6");
		return -EINVAL;
	}
	return 0;
}

int ssw_netlink_get_endpoint(const struct nlattr *attr, struct ssw_endpoint *ep,
			     struct netlink_ext_ack *extack)
{
	int ret = check_endpoint(attr, extack);

	if (ret < 0)
		return ret;
	memset(ep, 0, sizeof(*ep));
	memcpy(ep, nla_data(attr), nla_len(attr));
	return 0;
}

/* Dump helpers */

/*
 * Where a dump stands between two messages. The peer is found again by
 * its creation number and the allowed IP by its position, so nothing is
 * pinned across messages; a change in between bumps the generation and the
 * dump is marked interrupted.
 */
struct dump_ctx {
	struct ssw_device *ssw;
	u64 next_peer_id;
	u32 next_allowedip;
	bool device_done;
	bool all_done;
};

static struct dump_ctx *dump_ctx(struct netlink_callback *cb)
{
	BUILD_BUG_ON(sizeof(struct dump_ctx) > sizeof(cb->ctx));
	return (struct dump_ctx *)cb->ctx;
}

static int put_allowedip(struct sk_buff *skb, const struct ssw_allowedips_node *node)
{
	struct nlattr *nest;
	u8 ip[16], cidr;
	int family;

	family = ssw_allowedips_read_node(node, ip, &cidr);
	nest = nla_nest_start(skb, 0);
	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u8(skb, SSWALLOWEDIP_A_CIDR_MASK, cidr) ||
	    nla_put_u16(skb, SSWALLOWEDIP_A_FAMILY, family) ||
	    nla_put(skb, SSWALLOWEDIP_A_IPADDR, family == AF_INET ? 4 : 16, ip)) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

/* Everything but the allowed IPs; only in the first message of a peer. */
static int put_peer_details(struct sk_buff *skb, struct ssw_peer *peer)
{
	struct __kernel_timespec last_handshake = {
		.tv_sec = peer->walltime_last_handshake.tv_sec,
		.tv_nsec = peer->walltime_last_handshake.tv_nsec
	};
	int ret = 0;

	if (peer->has_preshared_key &&
	    nla_put(skb, SSWPEER_A_PRESHARED_KEY, SSW_KEY_LEN, peer->preshared_key))
		return -EMSGSIZE;
	if (nla_put(skb, SSWPEER_A_LAST_HANDSHAKE_TIME, sizeof(last_handshake),
		    &last_handshake) ||
	    nla_put_u16(skb, SSWPEER_A_PERSISTENT_KEEPALIVE_INTERVAL,
			peer->persistent_keepalive_interval) ||
	    nla_put_u64_64bit(skb, SSWPEER_A_TX_BYTES, atomic64_read(&peer->tx_bytes), 0) ||
	    nla_put_u64_64bit(skb, SSWPEER_A_RX_BYTES, atomic64_read(&peer->rx_bytes), 0) ||
	    nla_put_u64_64bit(skb, SSWPEER_A_TX_PACKETS, atomic64_read(&peer->tx_packets), 0) ||
	    nla_put_u64_64bit(skb, SSWPEER_A_RX_PACKETS, atomic64_read(&peer->rx_packets), 0) ||
	    nla_put_u32(skb, SSWPEER_A_PROTOCOL_VERSION, 1))
		return -EMSGSIZE;
	if (peer->name[0] && nla_put_string(skb, SSWPEER_A_NAME, peer->name))
		return -EMSGSIZE;

	read_lock_bh(&peer->endpoint_lock);
	if (peer->endpoint.addr.sa_family == AF_INET)
		ret = nla_put(skb, SSWPEER_A_ENDPOINT, sizeof(peer->endpoint.addr4),
			      &peer->endpoint.addr4);
	else if (peer->endpoint.addr.sa_family == AF_INET6)
		ret = nla_put(skb, SSWPEER_A_ENDPOINT, sizeof(peer->endpoint.addr6),
			      &peer->endpoint.addr6);
	read_unlock_bh(&peer->endpoint_lock);
	return ret;
}

/*
 * Put one peer from ctx->next_allowedip on. Returns 0 when the peer is
 * complete, -EMSGSIZE when the message is full; ctx says where to resume,
 * and whether anything of this peer made it into the message.
 */
static int put_peer(struct sk_buff *skb, struct ssw_peer *peer,
		    struct dump_ctx *ctx, bool *wrote)
{
	struct ssw_allowedips_node *node;
	struct nlattr *peer_nest, *aips_nest;
	u32 idx = 0, written = 0;
	bool full = false;

	*wrote = false;
	peer_nest = nla_nest_start(skb, 0);
	if (!peer_nest)
		return -EMSGSIZE;
	if (nla_put(skb, SSWPEER_A_PUBLIC_KEY, SSW_KEY_LEN, peer->public_key))
		goto err_cancel;
	if (!ctx->next_allowedip && put_peer_details(skb, peer))
		goto err_cancel;

	aips_nest = nla_nest_start(skb, SSWPEER_A_ALLOWEDIPS);
	if (!aips_nest)
		goto err_cancel;
	list_for_each_entry(node, &peer->allowedips_list, peer_list) {
		if (idx++ < ctx->next_allowedip)
			continue;
		if (put_allowedip(skb, node)) {
			full = true;
			break;
		}
		++written;
	}
	if (full && !written && !ctx->next_allowedip) {
		/* Not even one prefix fit: start this peer afresh next time. */
		goto err_cancel;
	}
	if (written)
		nla_nest_end(skb, aips_nest);
	else
		nla_nest_cancel(skb, aips_nest);
	nla_nest_end(skb, peer_nest);
	*wrote = true;
	if (full) {
		ctx->next_allowedip += written;
		return -EMSGSIZE;
	}
	ctx->next_allowedip = 0;
	return 0;

err_cancel:
	nla_nest_cancel(skb, peer_nest);
	return -EMSGSIZE;
}

static int put_device_attrs(struct sk_buff *skb, struct ssw_device *ssw)
{
	if (nla_put_u16(skb, SSWDEVICE_A_LISTEN_PORT, ssw->incoming_port) ||
	    nla_put_u32(skb, SSWDEVICE_A_FWMARK, ssw->fwmark) ||
	    nla_put_u8(skb, SSWDEVICE_A_PROTOCOL, ssw->protocol) ||
	    nla_put_u8(skb, SSWDEVICE_A_CIPHER, ssw->cipher))
		return -EMSGSIZE;
	if (ssw->has_identity &&
	    (nla_put(skb, SSWDEVICE_A_PRIVATE_KEY, SSW_KEY_LEN, ssw->static_private) ||
	     nla_put(skb, SSWDEVICE_A_PUBLIC_KEY, SSW_KEY_LEN, ssw->static_public)))
		return -EMSGSIZE;
	return ssw_upcalls_put_stats(skb, &ssw->upcalls);
}

static int ssw_get_device_start(struct netlink_callback *cb)
{
	struct ssw_device *ssw;

	ssw = lookup_interface(ssw_compat_dump_attrs(cb), cb->skb);
	if (IS_ERR(ssw))
		return PTR_ERR(ssw);
	memset(dump_ctx(cb), 0, sizeof(struct dump_ctx));
	dump_ctx(cb)->ssw = ssw;
	return 0;
}

static int ssw_get_device_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct dump_ctx *ctx = dump_ctx(cb);
	struct ssw_device *ssw = ctx->ssw;
	struct nlattr *peers_nest;
	struct ssw_peer *peer;
	bool wrote, any = false;
	int ret = -EMSGSIZE;
	void *hdr;

	if (ctx->all_done)
		return 0;

	mutex_lock(&ssw->device_update_lock);
	cb->seq = ssw->generation;
	hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			  &genl_family, NLM_F_MULTI, SSW_CMD_GET_DEVICE);
	if (!hdr)
		goto out;
	genl_dump_check_consistent(cb, hdr);

	if (nla_put_u32(skb, SSWDEVICE_A_IFINDEX, ssw->dev->ifindex) ||
	    nla_put_string(skb, SSWDEVICE_A_IFNAME, ssw->dev->name) ||
	    nla_put_u32(skb, SSWDEVICE_A_GENERATION, ssw->generation))
		goto err_cancel;
	if (!ctx->device_done) {
		if (put_device_attrs(skb, ssw))
			goto err_cancel;
		ctx->device_done = true;
	}

	peers_nest = nla_nest_start(skb, SSWDEVICE_A_PEERS);
	if (!peers_nest)
		goto err_cancel;
	ret = 0;
	list_for_each_entry(peer, &ssw->peer_list, peer_list) {
		if (peer->internal_id < ctx->next_peer_id)
			continue;
		if (peer->internal_id != ctx->next_peer_id)
			ctx->next_allowedip = 0; /* our peer went away */
		ctx->next_peer_id = peer->internal_id;
		ret = put_peer(skb, peer, ctx, &wrote);
		any |= wrote;
		if (ret)
			break;
		ctx->next_peer_id = peer->internal_id + 1;
	}
	if (any)
		nla_nest_end(skb, peers_nest);
	else
		nla_nest_cancel(skb, peers_nest);
	if (ret && !any) {
		/* A single peer header always fits an empty message. */
		ret = -EMSGSIZE;
		goto err_cancel;
	}
	if (!ret)
		ctx->all_done = true;
	genlmsg_end(skb, hdr);
	ret = skb->len;
	goto out;

err_cancel:
	genlmsg_cancel(skb, hdr);
out:
	mutex_unlock(&ssw->device_update_lock);
	return ret;
}

static int ssw_get_device_done(struct netlink_callback *cb)
{
	struct ssw_device *ssw = dump_ctx(cb)->ssw;

	if (ssw)
		dev_put(ssw->dev);
	return 0;
}

/* Set helpers */

/*
 * Semantic checks of a whole SET request, done before anything changes so
 * that a bad request leaves the device exactly as it was. The policies
 * already checked types, lengths and nesting.
 */
static int validate_allowedip(struct nlattr *attr, struct netlink_ext_ack *extack)
{
	struct nlattr *tb[SSWALLOWEDIP_A_MAX + 1];
	int ret, family;
	u8 cidr;

	ret = nla_parse_nested(tb, SSWALLOWEDIP_A_MAX, attr, ssw_allowedip_policy, extack);
	if (ret < 0)
		return ret;
	if (!tb[SSWALLOWEDIP_A_FAMILY] || !tb[SSWALLOWEDIP_A_IPADDR] ||
	    !tb[SSWALLOWEDIP_A_CIDR_MASK]) {
		NL_SET_ERR_MSG_ATTR(extack, attr, "allowed IP needs family, address and mask");
		return -EINVAL;
	}
	family = nla_get_u16(tb[SSWALLOWEDIP_A_FAMILY]);
	cidr = nla_get_u8(tb[SSWALLOWEDIP_A_CIDR_MASK]);
	if (family == AF_INET && nla_len(tb[SSWALLOWEDIP_A_IPADDR]) == 4 && cidr <= 32)
		return 0;
	if (family == AF_INET6 && nla_len(tb[SSWALLOWEDIP_A_IPADDR]) == 16 && cidr <= 128)
		return 0;
	NL_SET_ERR_MSG_ATTR(extack, attr, "allowed IP: bad family, address length or mask");
	return family == AF_INET || family == AF_INET6 ? -EINVAL : -EAFNOSUPPORT;
}

static int validate_peer(struct nlattr *attr, struct netlink_ext_ack *extack)
{
	struct nlattr *tb[SSWPEER_A_MAX + 1], *aip;
	int ret, rem;

	ret = nla_parse_nested(tb, SSWPEER_A_MAX, attr, ssw_peer_policy, extack);
	if (ret < 0)
		return ret;
	if (!tb[SSWPEER_A_PUBLIC_KEY]) {
		NL_SET_ERR_MSG_ATTR(extack, attr, "peer without public key");
		return -EINVAL;
	}
	if (tb[SSWPEER_A_PROTOCOL_VERSION] &&
	    nla_get_u32(tb[SSWPEER_A_PROTOCOL_VERSION]) != 1) {
		NL_SET_ERR_MSG_ATTR(extack, tb[SSWPEER_A_PROTOCOL_VERSION],
				    "unsupported peer protocol version");
		return -EPROTONOSUPPORT;
	}
	if (tb[SSWPEER_A_ENDPOINT]) {
		ret = check_endpoint(tb[SSWPEER_A_ENDPOINT], extack);
		if (ret < 0)
			return ret;
	}
	if (tb[SSWPEER_A_ALLOWEDIPS]) {
		nla_for_each_nested(aip, tb[SSWPEER_A_ALLOWEDIPS], rem) {
			ret = validate_allowedip(aip, extack);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

static int validate_set(struct ssw_device *ssw, struct genl_info *info)
{
	struct nlattr **attrs = info->attrs, *attr;
	u8 protocol = ssw->protocol, cipher = ssw->cipher;
	int ret, rem;

	if (attrs[SSWDEVICE_A_PROTOCOL])
		protocol = nla_get_u8(attrs[SSWDEVICE_A_PROTOCOL]);
	if (attrs[SSWDEVICE_A_CIPHER])
		cipher = nla_get_u8(attrs[SSWDEVICE_A_CIPHER]);
	if (protocol == SSW_PROTOCOL_WIREGUARD && cipher != SSW_CIPHER_CHACHA20_POLY1305) {
		NL_SET_ERR_MSG(info->extack, "the wireguard protocol only has chacha20-poly1305");
		return -EINVAL;
	}
	if (attrs[SSWDEVICE_A_PEERS]) {
		nla_for_each_nested(attr, attrs[SSWDEVICE_A_PEERS], rem) {
			ret = validate_peer(attr, info->extack);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

static int set_allowedip(struct ssw_device *ssw, struct ssw_peer *peer, struct nlattr **tb)
{
	int family = nla_get_u16(tb[SSWALLOWEDIP_A_FAMILY]);
	u8 cidr = nla_get_u8(tb[SSWALLOWEDIP_A_CIDR_MASK]);
	u32 flags = 0;

	if (tb[SSWALLOWEDIP_A_FLAGS])
		flags = nla_get_u32(tb[SSWALLOWEDIP_A_FLAGS]);
	if (flags & SSWALLOWEDIP_F_REMOVE_ME)
		return ssw_allowedips_remove(&ssw->allowedips, family,
					     nla_data(tb[SSWALLOWEDIP_A_IPADDR]), cidr, peer);
	return ssw_allowedips_insert(&ssw->allowedips, family,
				     nla_data(tb[SSWALLOWEDIP_A_IPADDR]), cidr, peer);
}

static int set_peer(struct ssw_device *ssw, struct nlattr *attr)
{
	struct nlattr *tb[SSWPEER_A_MAX + 1], *aip;
	struct nlattr *aip_tb[SSWALLOWEDIP_A_MAX + 1];
	struct ssw_peer *peer;
	const u8 *public_key;
	u32 flags = 0;
	int ret, rem;

	ret = nla_parse_nested(tb, SSWPEER_A_MAX, attr, ssw_peer_policy, NULL);
	if (ret < 0)
		return ret;
	public_key = nla_data(tb[SSWPEER_A_PUBLIC_KEY]);
	if (tb[SSWPEER_A_FLAGS])
		flags = nla_get_u32(tb[SSWPEER_A_FLAGS]);

	/* Peers with our own public key are silently ignored, as in WireGuard. */
	if (ssw->has_identity && !crypto_memneq(public_key, ssw->static_public, SSW_KEY_LEN))
		return 0;

	peer = ssw_peer_lookup(ssw, public_key);
	if (flags & SSWPEER_F_REMOVE_ME) {
		if (peer)
			ssw_peer_remove(peer);
		return 0;
	}
	if (!peer) {
		if (flags & SSWPEER_F_UPDATE_ONLY)
			return 0;
		peer = ssw_peer_create(ssw, public_key);
		if (IS_ERR(peer))
			return PTR_ERR(peer);
	}

	if (tb[SSWPEER_A_PRESHARED_KEY])
		ssw_peer_set_preshared_key(peer, nla_data(tb[SSWPEER_A_PRESHARED_KEY]));
	if (tb[SSWPEER_A_ENDPOINT]) {
		struct ssw_endpoint ep;

		/* validate_peer() checked it. */
		if (!ssw_netlink_get_endpoint(tb[SSWPEER_A_ENDPOINT], &ep, NULL))
			ssw_peer_set_endpoint(peer, &ep);
	}
	if (tb[SSWPEER_A_PERSISTENT_KEEPALIVE_INTERVAL])
		ssw_timers_set_persistent_keepalive(peer,
			nla_get_u16(tb[SSWPEER_A_PERSISTENT_KEEPALIVE_INTERVAL]));
	if (tb[SSWPEER_A_NAME])
		strscpy(peer->name, nla_data(tb[SSWPEER_A_NAME]), sizeof(peer->name));

	if (flags & SSWPEER_F_REPLACE_ALLOWEDIPS)
		ssw_allowedips_remove_by_peer(&ssw->allowedips, peer);
	if (tb[SSWPEER_A_ALLOWEDIPS]) {
		nla_for_each_nested(aip, tb[SSWPEER_A_ALLOWEDIPS], rem) {
			ret = nla_parse_nested(aip_tb, SSWALLOWEDIP_A_MAX, aip,
					       ssw_allowedip_policy, NULL);
			if (ret < 0)
				return ret;
			ret = set_allowedip(ssw, peer, aip_tb);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

/*
 * Leave no copy of the request's keys (ours, the peers' preshared ones) in
 * the socket buffer, whatever became of the request.
 */
static void wipe_set_request(struct nlattr **attrs)
{
	struct nlattr *peer, *attr;
	int rem, rem_peer;

	if (attrs[SSWDEVICE_A_PRIVATE_KEY])
		memzero_explicit(nla_data(attrs[SSWDEVICE_A_PRIVATE_KEY]),
				 nla_len(attrs[SSWDEVICE_A_PRIVATE_KEY]));
	if (!attrs[SSWDEVICE_A_PEERS])
		return;
	/* Raw walk, no policy: a peer the policy refused is wiped too. */
	nla_for_each_nested(peer, attrs[SSWDEVICE_A_PEERS], rem) {
		nla_for_each_nested(attr, peer, rem_peer) {
			if (nla_type(attr) == SSWPEER_A_PRESHARED_KEY)
				memzero_explicit(nla_data(attr), nla_len(attr));
		}
	}
}

static int ssw_set_device(struct sk_buff *skb, struct genl_info *info)
{
	struct ssw_device *ssw = lookup_interface(info->attrs, skb);
	struct nlattr **attrs = info->attrs, *attr;
	bool changed = false;
	u32 flags = 0;
	int ret, rem;

	if (IS_ERR(ssw)) {
		ret = PTR_ERR(ssw);
		goto out_wipe;
	}

	mutex_lock(&ssw->device_update_lock);
	ret = validate_set(ssw, info);
	if (ret < 0)
		goto out;
	/* The one step that can fail for outside reasons goes first. */
	if (attrs[SSWDEVICE_A_LISTEN_PORT] && netif_running(ssw->dev) &&
	    nla_get_u16(attrs[SSWDEVICE_A_LISTEN_PORT]) != ssw->incoming_port) {
		ret = ssw_socket_init(ssw, nla_get_u16(attrs[SSWDEVICE_A_LISTEN_PORT]));
		if (ret < 0)
			goto out;
	}
	++ssw->generation;
	changed = true;

	if (attrs[SSWDEVICE_A_FLAGS])
		flags = nla_get_u32(attrs[SSWDEVICE_A_FLAGS]);
	if (attrs[SSWDEVICE_A_LISTEN_PORT] && !netif_running(ssw->dev))
		ssw->incoming_port = nla_get_u16(attrs[SSWDEVICE_A_LISTEN_PORT]);
	if (attrs[SSWDEVICE_A_FWMARK])
		ssw->fwmark = nla_get_u32(attrs[SSWDEVICE_A_FWMARK]);
	if (attrs[SSWDEVICE_A_PROTOCOL])
		ssw->protocol = nla_get_u8(attrs[SSWDEVICE_A_PROTOCOL]);
	if (attrs[SSWDEVICE_A_CIPHER])
		ssw->cipher = nla_get_u8(attrs[SSWDEVICE_A_CIPHER]);
	if (flags & SSWDEVICE_F_REPLACE_PEERS)
		ssw_peer_remove_all(ssw);
	if (attrs[SSWDEVICE_A_PRIVATE_KEY])
		ssw_device_set_private_key(ssw, nla_data(attrs[SSWDEVICE_A_PRIVATE_KEY]));

	if (attrs[SSWDEVICE_A_PEERS]) {
		nla_for_each_nested(attr, attrs[SSWDEVICE_A_PEERS], rem) {
			ret = set_peer(ssw, attr);
			if (ret < 0)
				goto out;
		}
	}
	ret = 0;

out:
	mutex_unlock(&ssw->device_update_lock);
	/* Even a half-applied message (out of memory) changed the device. */
	if (changed)
		ssw_daemon_device_changed(ssw);
	dev_put(ssw->dev);
out_wipe:
	wipe_set_request(attrs);
	return ret;
}

/* Ops table and family */

static const struct genl_ops genl_ops[] = {
	{
		.cmd = SSW_CMD_GET_DEVICE,
		.start = ssw_get_device_start,
		.dumpit = ssw_get_device_dump,
		.done = ssw_get_device_done,
		.policy = ssw_device_policy,
		.maxattr = SSWDEVICE_A_MAX,
		.flags = GENL_UNS_ADMIN_PERM,
	}, {
		.cmd = SSW_CMD_SET_DEVICE,
		.doit = ssw_set_device,
		.policy = ssw_device_policy,
		.maxattr = SSWDEVICE_A_MAX,
		.flags = GENL_UNS_ADMIN_PERM,
	}, {
		.cmd = SSW_CMD_INSTALL_KEYPAIR,
		.doit = ssw_daemon_install_keypair,
		.policy = ssw_keypair_policy,
		.maxattr = SSWKEYPAIR_A_MAX,
		.flags = GENL_UNS_ADMIN_PERM,
	}, {
		.cmd = SSW_CMD_XMIT_HANDSHAKE,
		.doit = ssw_daemon_xmit_handshake,
		.policy = ssw_handshake_policy,
		.maxattr = SSWHANDSHAKE_A_MAX,
		.flags = GENL_UNS_ADMIN_PERM,
	}, {
		.cmd = SSW_CMD_DROP_STAGED,
		.doit = ssw_daemon_drop_staged,
		.policy = ssw_handshake_policy,
		.maxattr = SSWHANDSHAKE_A_MAX,
		.flags = GENL_UNS_ADMIN_PERM,
	},
};

static const struct genl_multicast_group genl_mcgrps[] = {
	{ .name = SSW_MCGRP_HANDSHAKE, SSW_COMPAT_MCGRP_FLAGS },
};

static struct genl_family genl_family __ro_after_init = {
	.ops = genl_ops,
	.n_ops = ARRAY_SIZE(genl_ops),
	.mcgrps = genl_mcgrps,
	.n_mcgrps = ARRAY_SIZE(genl_mcgrps),
	/* Every command gets strict validation. */
	.resv_start_op = 0,
	.name = SSW_GENL_NAME,
	.version = SSW_GENL_VERSION,
	.module = THIS_MODULE,
	.netnsok = true,
};

/* Notifications (daemon.c) */

void *ssw_netlink_notification_put(struct sk_buff *msg, u8 cmd)
{
	return genlmsg_put(msg, 0, 0, &genl_family, 0, cmd);
}

int ssw_netlink_multicast(struct ssw_device *ssw, struct sk_buff *msg, gfp_t gfp)
{
	return genlmsg_multicast_netns(&genl_family, dev_net(ssw->dev), msg, 0,
				       SSW_MCGRP_HANDSHAKE_INDEX, gfp);
}

/* Init and exit */

int __init ssw_genetlink_init(void)
{
	return genl_register_family(&genl_family);
}

void __exit ssw_genetlink_uninit(void)
{
	genl_unregister_family(&genl_family);
}
