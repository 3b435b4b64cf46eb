// SPDX-License-Identifier: GPL-2.0
/*
 * SecureSwift VPN: module entry points.
 */

#include "device.h"
#include "peer.h"
#include "allowedips.h"
#include "keypair.h"
#include "netlink.h"
#include "selftest.h"
#include "timers.h"

#include <linux/module.h>
#include <linux/init.h>
#include <net/genetlink.h>
#include <net/rtnetlink.h>

static bool selftest;
module_param(selftest, bool, 0444);
MODULE_PARM_DESC(selftest, "Run the allowed-IPs lookup self-test at load time (refuse to load on failure)");

#ifdef SSW_TEST_KNOBS
/*
 * The test build only (timers.h): the protocol's times, shortened by the VM
 * tests so that a rekey or a key expiry happens in seconds. Read at each use.
 */
module_param_named(rekey_after_time, ssw_rekey_after_time, uint, 0644);
MODULE_PARM_DESC(rekey_after_time,
		 "For tests only: REKEY_AFTER_TIME in seconds (" __stringify(SSW_REKEY_AFTER_TIME) ")");
module_param_named(reject_after_time, ssw_reject_after_time, uint, 0644);
MODULE_PARM_DESC(reject_after_time,
		 "For tests only: REJECT_AFTER_TIME in seconds (" __stringify(SSW_REJECT_AFTER_TIME) ")");
module_param_named(keepalive_timeout, ssw_keepalive_timeout, uint, 0644);
MODULE_PARM_DESC(keepalive_timeout,
		 "For tests only: KEEPALIVE_TIMEOUT in seconds (" __stringify(SSW_KEEPALIVE_TIMEOUT) ")");
module_param_named(zero_keys_after_time, ssw_zero_keys_after_time, uint, 0644);
MODULE_PARM_DESC(zero_keys_after_time,
		 "For tests only: keys are zeroed this many seconds after the last install (" __stringify(SSW_ZERO_KEYS_AFTER) ")");
#endif

static int __init ssw_mod_init(void)
{
	int ret;

	ret = ssw_peer_hash_init();
	if (ret < 0)
		return ret;

	ret = ssw_allowedips_slab_init();
	if (ret < 0)
		return ret;

	if (selftest) {
		ret = ssw_selftest_allowedips();
		if (ret < 0)
			goto err_slab;
	}

	ret = ssw_keypair_module_init();
	if (ret < 0)
		goto err_slab;

	ret = ssw_device_init();
	if (ret < 0)
		goto err_keypair;

	ret = ssw_genetlink_init();
	if (ret < 0)
		goto err_device;

	pr_info("version " SSW_MODULE_VERSION " loaded\n");
	return 0;

err_device:
	ssw_device_uninit();
err_keypair:
	ssw_keypair_module_exit();
err_slab:
	ssw_allowedips_slab_uninit();
	return ret;
}

static void __exit ssw_mod_exit(void)
{
	ssw_genetlink_uninit();
	ssw_device_uninit();
	ssw_keypair_module_exit();
	ssw_allowedips_slab_uninit();
	pr_debug("unloaded\n");
}

module_init(ssw_mod_init);
module_exit(ssw_mod_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("SecureSwift VPN: WireGuard-style tunnel with a post-quantum hybrid handshake");
MODULE_AUTHOR("SecureSwift VPN developers");
MODULE_VERSION(SSW_MODULE_VERSION);
MODULE_ALIAS_RTNL_LINK(KBUILD_MODNAME);
MODULE_ALIAS_GENL_FAMILY(SSW_GENL_NAME);
