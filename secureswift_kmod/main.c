// SPDX-License-Identifier: GPL-2.0
/*
 * SecureSwift VPN: module entry points.
 */

#include "device.h"

#include <linux/module.h>
#include <linux/init.h>
#include <net/genetlink.h>
#include <net/rtnetlink.h>

static int __init ssw_mod_init(void)
{
	int ret;

	ret = ssw_device_init();
	if (ret < 0)
		return ret;

	pr_info("SecureSwift " SSW_MODULE_VERSION " loaded\n");
	return 0;
}

static void __exit ssw_mod_exit(void)
{
	ssw_device_uninit();
	pr_debug("SecureSwift unloaded\n");
}

module_init(ssw_mod_init);
module_exit(ssw_mod_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("SecureSwift VPN: WireGuard-style tunnel with a post-quantum hybrid handshake");
MODULE_AUTHOR("SecureSwift VPN developers");
MODULE_VERSION(SSW_MODULE_VERSION);
MODULE_ALIAS_RTNL_LINK(KBUILD_MODNAME);
MODULE_ALIAS_GENL_FAMILY(SSW_GENL_NAME);
