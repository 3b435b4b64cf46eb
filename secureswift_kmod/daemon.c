// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon protocol: what the handshake daemon asks of the kernel on the
 * "secureswift" family (INSTALL_KEYPAIR, XMIT_HANDSHAKE, DROP_STAGED) and
 * what the kernel multicasts to it on the "handshake" group (handshake
 * messages, NEED_HANDSHAKE, KEYS_EXPIRED, ENDPOINT_CHANGED,
 * DEVICE_CHANGED). docs/kernel-module.md tells the story ("The generic
 * netlink family", "The handshake daemon"); uapi/secureswift.h documents
 * the attributes.
 *
 * A file of its own rather than part of upcall.c: upcall.c is the intake
 * side of the receive path (the bounded backlog, "under load", the shed
 * counters), state the softirq path touches on every handshake message;
 * this file is message formats and the daemon's commands, which run in
 * process context under the device's update lock. netlink.c keeps the
 * family itself and configuration (GET_DEVICE, SET_DEVICE), as
 * WireGuard's netlink.c.
 */

#include "daemon.h"
#include "device.h"
#include "keypair.h"
#include "messages.h"
#include "netlink.h"
#include "peer.h"
#include "send.h"
#include "socket.h"

#include <linux/in.h>
#include <linux/in6.h>
#include <net/genetlink.h>
#include <net/sock.h>

/* Commands from the daemon */

/*
 * A checked LOCAL attribute into @ep's sticky source: an address of the
 * family of @ep's destination (the interface only as a v6 scope id).
 */
static int get_local(const struct nlattr *attr, struct ssw_endpoint *ep,
		     struct netlink_ext_ack *extack)
{
	struct ssw_endpoint local;
	int ret = ssw_netlink_get_endpoint(attr, &local, extack);

	if (ret < 0)
		return ret;
	if (local.addr.sa_family != ep->addr.sa_family) {
		NL_SET_ERR_MSG_ATTR(extack, attr,
				    "local address of another family than the endpoint");
		return -EINVAL;
	}
	if (local.addr.sa_family == AF_INET) {
		ep->src4 = local.addr4.sin_addr;
	} else {
		ep->src6 = local.addr6.sin6_addr;
		ep->src_if = local.addr6.sin6_scope_id;
	}
	return 0;
}

/*
 * An optional ENDPOINT attribute into @ep (left zeroed without one), with an
 * optional LOCAL attribute as its sticky source; LOCAL needs ENDPOINT.
 */
static int get_destination(const struct nlattr *ep_attr,
			   const struct nlattr *local_attr,
			   struct ssw_endpoint *ep,
			   struct netlink_ext_ack *extack)
{
	int ret;

	if (!ep_attr) {
		if (!local_attr)
			return 0;
		NL_SET_ERR_MSG_ATTR(extack, local_attr,
				    "a local address needs an endpoint");
		return -EINVAL;
	}
	ret = ssw_netlink_get_endpoint(ep_attr, ep, extack);
	if (!ret && local_attr)
		ret = get_local(local_attr, ep, extack);
	return ret;
}

int ssw_daemon_install_keypair(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **attrs = info->attrs;
	struct ssw_endpoint from = { };
	struct ssw_device *ssw;
	struct ssw_peer *peer;
	u32 rx_handshake_len = 0;
	bool initiator;
	u8 cipher;
	int ret;

	if (!attrs[SSWKEYPAIR_A_IFINDEX] || !attrs[SSWKEYPAIR_A_PEER_PUBLIC_KEY] ||
	    !attrs[SSWKEYPAIR_A_LOCAL_INDEX] || !attrs[SSWKEYPAIR_A_REMOTE_INDEX] ||
	    !attrs[SSWKEYPAIR_A_SEND_KEY] || !attrs[SSWKEYPAIR_A_RECEIVE_KEY]) {
		ret = -EINVAL;
		goto out_wipe;
	}
	if (attrs[SSWKEYPAIR_A_RX_HANDSHAKE_LEN]) {
		rx_handshake_len = nla_get_u32(attrs[SSWKEYPAIR_A_RX_HANDSHAKE_LEN]);
		if (!rx_handshake_len || rx_handshake_len > SSW_MAX_HANDSHAKE_LEN) {
			NL_SET_ERR_MSG_ATTR(info->extack, attrs[SSWKEYPAIR_A_RX_HANDSHAKE_LEN],
					    "not the size of a handshake message");
			ret = -EINVAL;
			goto out_wipe;
		}
	}
	ret = get_destination(attrs[SSWKEYPAIR_A_ENDPOINT], attrs[SSWKEYPAIR_A_LOCAL],
			      &from, info->extack);
	if (ret < 0)
		goto out_wipe;
	ssw = ssw_netlink_device_by_index(skb, nla_get_u32(attrs[SSWKEYPAIR_A_IFINDEX]));
	if (IS_ERR(ssw)) {
		ret = PTR_ERR(ssw);
		goto out_wipe;
	}
	initiator = attrs[SSWKEYPAIR_A_INITIATOR] &&
		    nla_get_u8(attrs[SSWKEYPAIR_A_INITIATOR]);

	mutex_lock(&ssw->device_update_lock);
	cipher = attrs[SSWKEYPAIR_A_CIPHER] ?
		 nla_get_u8(attrs[SSWKEYPAIR_A_CIPHER]) : ssw->cipher;
	if (cipher == SSW_CIPHER_AES_256_GCM &&
	    ssw->protocol == SSW_PROTOCOL_WIREGUARD) {
		NL_SET_ERR_MSG(info->extack, "AES-256-GCM is a secureswift-mode suite");
		ret = -EINVAL;
		goto out;
	}
	peer = ssw_peer_lookup(ssw, nla_data(attrs[SSWKEYPAIR_A_PEER_PUBLIC_KEY]));
	if (!peer) {
		ret = -ENOENT;
		goto out;
	}
	if (!netif_running(ssw->dev)) {
		ret = -ENETDOWN;
		goto out;
	}
	ret = ssw_keypair_install(peer, nla_get_u32(attrs[SSWKEYPAIR_A_LOCAL_INDEX]),
				  nla_get_u32(attrs[SSWKEYPAIR_A_REMOTE_INDEX]),
				  nla_data(attrs[SSWKEYPAIR_A_SEND_KEY]),
				  nla_data(attrs[SSWKEYPAIR_A_RECEIVE_KEY]),
				  initiator, cipher);
	if (ret < 0)
		goto out;
	/*
	 * The daemon authenticated the handshake that made these keys: its
	 * sender is the peer, so roam there (only once the keys are in: a
	 * refused install moves nothing) before the confirming keepalive and
	 * the staged packets go out.
	 */
	if (from.addr.sa_family)
		ssw_peer_set_endpoint(peer, &from);
	net_dbg_ratelimited("%s: peer %llu: keypair installed (%s)\n", ssw->dev->name,
			    peer->internal_id, initiator ? "initiator" : "responder");
	/* The message that made the keys came from the peer: count it as WireGuard does. */
	if (rx_handshake_len) {
		local_bh_disable();	/* the device's per-CPU counters */
		ssw_peer_count_rx(peer, rx_handshake_len);
		local_bh_enable();
	}
	/*
	 * No generation bump: new keys are not configuration, and a busy
	 * server installs them all the time; a dump that spans one is not
	 * inconsistent (WireGuard bumps only on configuration changes).
	 */
	ktime_get_real_ts64(&peer->walltime_last_handshake);
	/* The initiator confirms the session: the responder promotes its keys. */
	if (initiator)
		ssw_send_keepalive(peer);
	ssw_send_staged(peer);
out:
	mutex_unlock(&ssw->device_update_lock);
	dev_put(ssw->dev);
out_wipe:
	/* Leave no copy of the keys in the request buffer. */
	if (attrs[SSWKEYPAIR_A_SEND_KEY])
		memzero_explicit(nla_data(attrs[SSWKEYPAIR_A_SEND_KEY]), SSW_KEY_LEN);
	if (attrs[SSWKEYPAIR_A_RECEIVE_KEY])
		memzero_explicit(nla_data(attrs[SSWKEYPAIR_A_RECEIVE_KEY]), SSW_KEY_LEN);
	return ret;
}

/* A retransmit: WireGuard forgets the peer's source address before it. */
static int clear_peer_src(struct ssw_device *ssw, const struct nlattr *public_key)
{
	struct ssw_peer *peer;

	if (!public_key)
		return -EINVAL;
	mutex_lock(&ssw->device_update_lock);
	peer = ssw_peer_lookup(ssw, nla_data(public_key));
	if (peer)
		ssw_socket_clear_src(peer);
	mutex_unlock(&ssw->device_update_lock);
	return peer ? 0 : -ENOENT;
}

/*
 * XMIT_HANDSHAKE sends from the device's socket, which lives in the
 * namespace the device was created in, maybe not the one it is configured
 * from now (a device moved into a container): the sender must administer
 * that namespace too, or container root could send host-sourced UDP
 * anywhere. And only a well-formed handshake message of the device's
 * protocol goes out, nothing else of the caller's choosing.
 */
static int check_handshake_sender(struct ssw_device *ssw, struct sk_buff *skb,
				  const struct nlattr *packet,
				  struct netlink_ext_ack *extack)
{
	struct net *net;
	bool allowed;
	u32 type;

	if (nla_len(packet) < sizeof(type)) {
		NL_SET_ERR_MSG_ATTR(extack, packet, "not a handshake message");
		return -EINVAL;
	}
	type = le32_to_cpu(nla_get_le32(packet));
	if (nla_len(packet) != ssw_handshake_len(READ_ONCE(ssw->protocol), type)) {
		NL_SET_ERR_MSG_ATTR(extack, packet,
				    "not a handshake message of the device's protocol (type or size)");
		return -EINVAL;
	}
	rcu_read_lock();
	net = rcu_dereference(ssw->creating_net);
	if (net)
		net = maybe_get_net(net);
	rcu_read_unlock();
	/* Gone, or going: the socket is closed with it and nothing is sent. */
	allowed = !net || netlink_ns_capable(skb, net->user_ns, CAP_NET_ADMIN);
	if (net)
		put_net(net);
	if (!allowed) {
		NL_SET_ERR_MSG(extack,
			       "sending needs CAP_NET_ADMIN in the namespace that created the device");
		return -EPERM;
	}
	return 0;
}

int ssw_daemon_xmit_handshake(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **attrs = info->attrs;
	struct ssw_endpoint to = { };
	struct ssw_device *ssw;
	struct ssw_peer *peer;
	struct sk_buff *out;
	size_t len;
	int ret;

	if (!attrs[SSWHANDSHAKE_A_IFINDEX] || !attrs[SSWHANDSHAKE_A_PACKET] ||
	    (!attrs[SSWHANDSHAKE_A_ENDPOINT] && !attrs[SSWHANDSHAKE_A_PEER_PUBLIC_KEY]))
		return -EINVAL;
	ret = get_destination(attrs[SSWHANDSHAKE_A_ENDPOINT], attrs[SSWHANDSHAKE_A_LOCAL],
			      &to, info->extack);
	if (ret < 0)
		return ret;
	ssw = ssw_netlink_device_by_index(skb, nla_get_u32(attrs[SSWHANDSHAKE_A_IFINDEX]));
	if (IS_ERR(ssw))
		return PTR_ERR(ssw);
	ret = check_handshake_sender(ssw, skb, attrs[SSWHANDSHAKE_A_PACKET],
				     info->extack);
	if (ret < 0)
		goto out;

	if (attrs[SSWHANDSHAKE_A_FLAGS] &&
	    (nla_get_u32(attrs[SSWHANDSHAKE_A_FLAGS]) & SSWHANDSHAKE_F_RETRANSMIT)) {
		ret = clear_peer_src(ssw, attrs[SSWHANDSHAKE_A_PEER_PUBLIC_KEY]);
		if (ret < 0)
			goto out;
	}

	if (!attrs[SSWHANDSHAKE_A_ENDPOINT]) {
		/*
		 * No explicit destination: the peer's current endpoint, with
		 * its sticky source (none after a retransmit's clear).
		 */
		mutex_lock(&ssw->device_update_lock);
		peer = ssw_peer_lookup(ssw, nla_data(attrs[SSWHANDSHAKE_A_PEER_PUBLIC_KEY]));
		if (peer) {
			read_lock_bh(&peer->endpoint_lock);
			to = peer->endpoint;
			read_unlock_bh(&peer->endpoint_lock);
		}
		mutex_unlock(&ssw->device_update_lock);
		if (!peer) {
			ret = -ENOENT;
			goto out;
		}
	}

	len = nla_len(attrs[SSWHANDSHAKE_A_PACKET]);
	out = alloc_skb(SSW_TX_HEADROOM + len, GFP_KERNEL);
	if (!out) {
		ret = -ENOMEM;
		goto out;
	}
	skb_reserve(out, SSW_TX_HEADROOM);
	skb_reset_network_header(out);
	skb_reset_inner_headers(out);
	skb_put_data(out, nla_data(attrs[SSWHANDSHAKE_A_PACKET]), len);
	/*
	 * A message for a known peer counts as sent to it, on the device's
	 * counters too (`ip -s link` stays the peers' sum), as WireGuard's;
	 * one for nobody in particular (a cookie reply) on neither.
	 */
	if (attrs[SSWHANDSHAKE_A_PEER_PUBLIC_KEY]) {
		mutex_lock(&ssw->device_update_lock);
		peer = ssw_peer_lookup(ssw, nla_data(attrs[SSWHANDSHAKE_A_PEER_PUBLIC_KEY]));
		if (peer)
			kref_get(&peer->refcount);
		mutex_unlock(&ssw->device_update_lock);
	} else {
		peer = NULL;
	}
	ret = ssw_socket_send_to(ssw, out, &to, peer != NULL);
	if (peer) {
		if (!ret) {
			atomic64_add(len, &peer->tx_bytes);
			atomic64_inc(&peer->tx_packets);
		}
		ssw_peer_put(peer);
	}
out:
	dev_put(ssw->dev);
	return ret;
}

int ssw_daemon_drop_staged(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **attrs = info->attrs;
	struct ssw_device *ssw;
	struct ssw_peer *peer;
	int ret = 0;

	if (!attrs[SSWHANDSHAKE_A_IFINDEX] || !attrs[SSWHANDSHAKE_A_PEER_PUBLIC_KEY])
		return -EINVAL;
	ssw = ssw_netlink_device_by_index(skb, nla_get_u32(attrs[SSWHANDSHAKE_A_IFINDEX]));
	if (IS_ERR(ssw))
		return PTR_ERR(ssw);
	mutex_lock(&ssw->device_update_lock);
	peer = ssw_peer_lookup(ssw, nla_data(attrs[SSWHANDSHAKE_A_PEER_PUBLIC_KEY]));
	if (peer)
		ssw_peer_purge_staged(peer);
	else
		ret = -ENOENT;
	mutex_unlock(&ssw->device_update_lock);
	dev_put(ssw->dev);
	return ret;
}

/* Messages to the daemon */

/* The daemon re-reads the whole device; the message only names it. */
void ssw_daemon_device_changed(struct ssw_device *ssw)
{
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(nla_total_size(sizeof(u32)), GFP_KERNEL);
	if (!msg)
		return;
	hdr = ssw_netlink_notification_put(msg, SSW_CMD_DEVICE_CHANGED);
	if (!hdr || nla_put_u32(msg, SSWHANDSHAKE_A_IFINDEX, ssw->dev->ifindex)) {
		nlmsg_free(msg);
		return;
	}
	genlmsg_end(msg, hdr);
	ssw_netlink_multicast(ssw, msg, GFP_KERNEL);
}

/* A notification about @peer: IFINDEX and PEER_PUBLIC_KEY (atomic context). */
static void notify_peer(struct ssw_peer *peer, u8 cmd)
{
	struct ssw_device *ssw = peer->device;
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(nla_total_size(sizeof(u32)) + nla_total_size(SSW_KEY_LEN),
			  GFP_ATOMIC);
	if (!msg)
		return;
	hdr = ssw_netlink_notification_put(msg, cmd);
	if (!hdr ||
	    nla_put_u32(msg, SSWHANDSHAKE_A_IFINDEX, ssw->dev->ifindex) ||
	    nla_put(msg, SSWHANDSHAKE_A_PEER_PUBLIC_KEY, SSW_KEY_LEN, peer->public_key)) {
		nlmsg_free(msg);
		return;
	}
	genlmsg_end(msg, hdr);
	ssw_netlink_multicast(ssw, msg, GFP_ATOMIC);
}

void ssw_daemon_need_handshake(struct ssw_peer *peer)
{
	notify_peer(peer, SSW_CMD_NEED_HANDSHAKE);
}

void ssw_daemon_keys_expired(struct ssw_peer *peer)
{
	notify_peer(peer, SSW_CMD_KEYS_EXPIRED);
}

int ssw_daemon_handshake_upcall(struct ssw_device *ssw, const void *packet,
				 size_t len, const struct ssw_endpoint *from)
{
	size_t from_len = from->addr.sa_family == AF_INET ?
			  sizeof(from->addr4) : sizeof(from->addr6);
	struct ssw_endpoint local = { };
	struct sk_buff *msg;
	void *hdr;

	/* Our address it came to, for the daemon to answer from (sticky source). */
	local.addr.sa_family = from->addr.sa_family;
	if (from->addr.sa_family == AF_INET) {
		local.addr4.sin_addr = from->src4;
	} else {
		local.addr6.sin6_addr = from->src6;
		local.addr6.sin6_scope_id = from->src_if;
	}
	msg = genlmsg_new(nla_total_size(sizeof(u32)) + 2 * nla_total_size(from_len) +
			  nla_total_size(len), GFP_ATOMIC);
	if (!msg)
		return -ENOMEM;
	hdr = ssw_netlink_notification_put(msg, SSW_CMD_HANDSHAKE_UPCALL);
	if (!hdr ||
	    nla_put_u32(msg, SSWHANDSHAKE_A_IFINDEX, ssw->dev->ifindex) ||
	    nla_put(msg, SSWHANDSHAKE_A_ENDPOINT, from_len, from) ||
	    nla_put(msg, SSWHANDSHAKE_A_LOCAL, from_len, &local) ||
	    nla_put(msg, SSWHANDSHAKE_A_PACKET, len, packet)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	net_dbg_ratelimited("%s: handshake message (%zu bytes) from %pISpfsc to the daemon\n",
			    ssw->dev->name, len, &from->addr);
	/* To the namespace the device is configured from, where its daemon runs. */
	return ssw_netlink_multicast(ssw, msg, GFP_ATOMIC);
}

void ssw_daemon_endpoint_changed(struct ssw_peer *peer)
{
	struct ssw_device *ssw = peer->device;
	struct ssw_endpoint ep;
	struct sk_buff *msg;
	size_t ep_len;
	void *hdr;

	read_lock_bh(&peer->endpoint_lock);
	ep = peer->endpoint;
	read_unlock_bh(&peer->endpoint_lock);
	ep_len = ep.addr.sa_family == AF_INET ? sizeof(ep.addr4) : sizeof(ep.addr6);
	net_dbg_ratelimited("%s: peer %llu: endpoint changed to %pISpfsc\n",
			    ssw->dev->name, peer->internal_id, &ep.addr);

	msg = genlmsg_new(nla_total_size(sizeof(u32)) + nla_total_size(SSW_KEY_LEN) +
			  nla_total_size(ep_len), GFP_ATOMIC);
	if (!msg)
		return;
	hdr = ssw_netlink_notification_put(msg, SSW_CMD_ENDPOINT_CHANGED);
	if (!hdr ||
	    nla_put_u32(msg, SSWHANDSHAKE_A_IFINDEX, ssw->dev->ifindex) ||
	    nla_put(msg, SSWHANDSHAKE_A_PEER_PUBLIC_KEY, SSW_KEY_LEN, peer->public_key) ||
	    nla_put(msg, SSWHANDSHAKE_A_ENDPOINT, ep_len, &ep)) {
		nlmsg_free(msg);
		return;
	}
	genlmsg_end(msg, hdr);
	ssw_netlink_multicast(ssw, msg, GFP_ATOMIC);
}
