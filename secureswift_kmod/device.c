// SPDX-License-Identifier: GPL-2.0
/*
 * The secureswift netdev: rtnl_link_ops, lifetime, namespaces.
 */

#include "device.h"
#include "messages.h"
#include "compat.h"
#include "peer.h"
#include "send.h"
#include "socket.h"
#include "timers.h"

#include <crypto/curve25519.h>

#include <linux/hashtable.h>
#include <linux/if_arp.h>
#include <crypto/algapi.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/rtnetlink.h>
#include <linux/udp.h>
#include <net/ip.h>
#include <net/ip_tunnels.h>
#include <net/rtnetlink.h>

/* Data message: 16-byte header + 16-byte tag, in UDP over IPv6 at worst. */
#define SSW_DATA_OVERHEAD (32 + sizeof(struct udphdr) + sizeof(struct ipv6hdr))

/*
 * GSO super-packets and unfinished checksums reach ndo_start_xmit: the
 * segments are sealed on the crypto workers, which also finish the sums,
 * instead of the stack doing it one packet at a time before us.
 */
#define SSW_NETDEV_FEATURES (NETIF_F_HW_CSUM | NETIF_F_RXCSUM | NETIF_F_SG | \
			     NETIF_F_GSO | NETIF_F_GSO_SOFTWARE | NETIF_F_HIGHDMA)

static LIST_HEAD(device_list);

/* The sockets exist while the device is up, as WireGuard's. */
static int ssw_open(struct net_device *dev)
{
	struct ssw_device *ssw = netdev_priv(dev);
	int ret;

	mutex_lock(&ssw->device_update_lock);
	ret = ssw_socket_init(ssw, ssw->incoming_port);
	if (!ret)
		++ssw->generation;	/* a random port became a real one */
	mutex_unlock(&ssw->device_update_lock);
	return ret;
}

static int ssw_stop(struct net_device *dev)
{
	struct ssw_device *ssw = netdev_priv(dev);
	struct ssw_peer *peer;

	mutex_lock(&ssw->device_update_lock);
	list_for_each_entry(peer, &ssw->peer_list, peer_list) {
		ssw_timers_stop(peer);
		ssw_keypairs_clear(peer);
		skb_queue_purge(&peer->staged_packets);
		peer->last_need_handshake_ns = 0;
	}
	ssw_socket_close(ssw);
	mutex_unlock(&ssw->device_update_lock);
	return 0;
}

static const struct net_device_ops netdev_ops = {
	.ndo_open		= ssw_open,
	.ndo_stop		= ssw_stop,
	.ndo_start_xmit		= ssw_xmit,
	.ndo_get_stats64	= dev_get_tstats64,
};

static void ssw_destruct(struct net_device *dev)
{
	struct ssw_device *ssw = netdev_priv(dev);

	rtnl_lock();
	list_del(&ssw->device_list);
	rtnl_unlock();

	mutex_lock(&ssw->device_update_lock);
	ssw_socket_close(ssw);
	ssw_upcalls_uninit(&ssw->upcalls);	/* nothing comes in any more */
	ssw_cookie_checker_uninit(&ssw->cookie_checker);
	rcu_assign_pointer(ssw->creating_net, NULL);
	ssw_peer_remove_all(ssw);
	ssw_device_set_private_key(ssw, NULL);
	mutex_unlock(&ssw->device_update_lock);

	ssw_device_queues_free(ssw);	/* the peers' removal drained them */
	rcu_barrier(); /* peers and trie nodes are really gone */
	pr_info("%s: interface destroyed\n", dev->name);
	free_netdev(dev);
}

void ssw_device_set_private_key(struct ssw_device *ssw, const u8 *key)
{
	static const u8 zero[SSW_KEY_LEN];
	struct ssw_peer *peer;

	u8 public[SSW_KEY_LEN], old_public[SSW_KEY_LEN];
	bool ok = false, old_identity;

	lockdep_assert_held(&ssw->device_update_lock);
	old_identity = ssw->has_identity;
	memcpy(old_public, ssw->static_public, sizeof(old_public));
	memzero_explicit(ssw->static_private, sizeof(ssw->static_private));
	memset(ssw->static_public, 0, sizeof(ssw->static_public));
	ssw->has_identity = false;
	if (key && crypto_memneq(key, zero, SSW_KEY_LEN)) {
		memcpy(ssw->static_private, key, SSW_KEY_LEN);
		curve25519_clamp_secret(ssw->static_private);
		ok = curve25519_generate_public(public, ssw->static_private);
		if (ok)
			memcpy(ssw->static_public, public, SSW_KEY_LEN);
		else
			memzero_explicit(ssw->static_private, sizeof(ssw->static_private));
		ssw->has_identity = ok;
	}
	/* The receive path's view of the identity: the keys derived from it. */
	ssw_cookie_checker_precompute_keys(&ssw->cookie_checker,
					   ok ? ssw->static_public : NULL);
	/* Setting the same key again changes nothing (the unit's reload does). */
	if (ok != old_identity ||
	    (ok && crypto_memneq(old_public, ssw->static_public, SSW_KEY_LEN)))
		list_for_each_entry(peer, &ssw->peer_list, peer_list)
			ssw_peer_identity_changed(peer);
	if (!ok)
		return;
	/* A peer with our own public key makes no sense: drop it, as WireGuard does. */
	peer = ssw_peer_lookup(ssw, ssw->static_public);
	if (peer)
		ssw_peer_remove(peer);
}

static const struct device_type device_type = { .name = KBUILD_MODNAME };

static void ssw_setup(struct net_device *dev)
{
	struct ssw_device *ssw = netdev_priv(dev);

	dev->netdev_ops = &netdev_ops;
	dev->header_ops = &ip_tunnel_header_ops;
	dev->hard_header_len = 0;
	dev->addr_len = 0;
	dev->type = ARPHRD_NONE;
	dev->flags = IFF_POINTOPOINT | IFF_NOARP;
	dev->priv_flags |= IFF_NO_QUEUE;
	/*
	 * ssw_xmit() needs the inner route: an ICMP error needs it (no peer
	 * for the destination: unreachable), and the padding its MTU.
	 */
	netif_keep_dst(dev);
	ssw_compat_set_lltx(dev);
	/*
	 * The core allocates and frees dev->tstats; the UDP tunnel transmit
	 * counts each sent message there (both Debian kernels have this).
	 */
	dev->pcpu_stat_type = NETDEV_PCPU_STAT_TSTATS;
	dev->features |= SSW_NETDEV_FEATURES;
	dev->hw_features |= SSW_NETDEV_FEATURES;
	dev->hw_enc_features |= SSW_NETDEV_FEATURES;
	/* Room to seal in place: header and outer headers before, padding and tag after. */
	dev->needed_headroom = SSW_TX_HEADROOM;
	dev->needed_tailroom = SSW_DATA_PADDING + SSW_AEAD_TAG_LEN;
	dev->mtu = ETH_DATA_LEN - SSW_DATA_OVERHEAD;
	dev->min_mtu = IPV4_MIN_MTU;
	dev->max_mtu = IP_MAX_MTU - SSW_DATA_OVERHEAD;
	SET_NETDEV_DEVTYPE(dev, &device_type);

	memset(ssw, 0, sizeof(*ssw));
	ssw->dev = dev;
}

static int ssw_newlink(struct net *src_net, struct net_device *dev,
		       struct nlattr *tb[], struct nlattr *data[],
		       struct netlink_ext_ack *extack)
{
	struct ssw_device *ssw = netdev_priv(dev);
	int ret;

	rcu_assign_pointer(ssw->creating_net, src_net);
	mutex_init(&ssw->device_update_lock);
	INIT_LIST_HEAD(&ssw->peer_list);
	hash_init(ssw->peer_hash);
	hash_init(ssw->index_hash);
	ssw_ratelimiter_init(&ssw->ratelimiter);
	ssw_cookie_checker_init(&ssw->cookie_checker);
	ssw_upcalls_init(&ssw->upcalls);
	spin_lock_init(&ssw->index_hash_lock);
	ssw_allowedips_init(&ssw->allowedips, &ssw->device_update_lock);
	ssw->generation = 1;
	ssw->protocol = SSW_PROTOCOL_SECURESWIFT;
	ssw->cipher = SSW_CIPHER_CHACHA20_POLY1305;

	ret = ssw_device_queues_init(ssw);
	if (ret < 0)
		return ret;

	ret = register_netdevice(dev);
	if (ret < 0)
		goto err_queues;

	list_add(&ssw->device_list, &device_list);
	/*
	 * Assigned last so that a failing register_netdevice() does not run
	 * it behind our back.
	 */
	dev->priv_destructor = ssw_destruct;
	pr_info("%s: interface created\n", dev->name);
	return 0;

err_queues:
	ssw_device_queues_free(ssw);
	return ret;
}

SSW_COMPAT_NEWLINK(ssw_newlink)

static struct rtnl_link_ops link_ops __read_mostly = {
	.kind		= KBUILD_MODNAME,
	.priv_size	= sizeof(struct ssw_device),
	.setup		= ssw_setup,
	.newlink	= SSW_COMPAT_NEWLINK_OP(ssw_newlink),
};

/*
 * The namespace a device was created in is going away while the device
 * itself may live on elsewhere: forget the namespace (the socket, once
 * there is one, closes with it), as WireGuard does.
 */
static void ssw_netns_pre_exit(struct net *net)
{
	struct ssw_device *ssw;

	rtnl_lock();
	list_for_each_entry(ssw, &device_list, device_list) {
		if (rcu_access_pointer(ssw->creating_net) != net)
			continue;
		netif_carrier_off(ssw->dev);
		mutex_lock(&ssw->device_update_lock);
		ssw_socket_close(ssw);
		rcu_assign_pointer(ssw->creating_net, NULL);
		ssw->generation++;
		mutex_unlock(&ssw->device_update_lock);
	}
	rtnl_unlock();
}

static struct pernet_operations pernet_ops = {
	.pre_exit = ssw_netns_pre_exit,
};

int __init ssw_device_init(void)
{
	int ret;

	ret = register_pernet_device(&pernet_ops);
	if (ret)
		return ret;

	ret = rtnl_link_register(&link_ops);
	if (ret)
		goto err_pernet;
	return 0;

err_pernet:
	unregister_pernet_device(&pernet_ops);
	return ret;
}

void ssw_device_uninit(void)
{
	rtnl_link_unregister(&link_ops);
	unregister_pernet_device(&pernet_ops);
	rcu_barrier();
}
