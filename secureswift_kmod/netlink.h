/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SSW_NETLINK_H
#define _SSW_NETLINK_H

int ssw_genetlink_init(void);
void ssw_genetlink_uninit(void);

#endif /* _SSW_NETLINK_H */
