/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SSW_SELFTEST_H
#define _SSW_SELFTEST_H

/* Load-time self-tests (module parameter selftest=1); 0 or -errno. */
int ssw_selftest_allowedips(void);

#endif /* _SSW_SELFTEST_H */
