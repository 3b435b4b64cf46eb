// SPDX-License-Identifier: GPL-2.0
/*
 * Planted bugs, in the test build only (SSW_TEST_KNOBS=y, Kbuild): the VM
 * harness proves that each checker of the debug kernel is live, and that
 * tests/vm/check-dmesg.sh fails a run on its report, by writing a bug's name
 * to /sys/module/secureswift/parameters/plant_bug:
 *
 *   uaf      read a freed slab object          KASAN: slab-use-after-free
 *   oob      read past a slab object           KASAN: slab-out-of-bounds
 *   kfence   read past a KFENCE-sampled object BUG: KFENCE: out-of-bounds read
 *   ubsan    shift a 32-bit value by 40        UBSAN: shift-out-of-bounds
 *   lockdep  take two locks in both orders     possible circular locking dependency
 *   leak     lose kmalloc'd objects            kmemleak: unreferenced object
 *
 * The shipped module has no such parameter: this file is not built into it.
 * Each bug is contained (a read, four lost 16 KiB objects, an order inversion
 * without a second thread) so that the kernel keeps running and reports it.
 */

#include <linux/compiler.h>
#include <linux/delay.h>
#include <linux/kfence.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>

static DEFINE_SPINLOCK(plant_lock_a);
static DEFINE_SPINLOCK(plant_lock_b);

/* Bytes read by the bugs: kept so the compiler cannot drop the reads. */
static u8 plant_sink;

static int plant_uaf(void)
{
	u8 *p = kmalloc(64, GFP_KERNEL);

	if (!p)
		return -ENOMEM;
	kfree(p);
	OPTIMIZER_HIDE_VAR(p);
	plant_sink = READ_ONCE(p[8]);
	return 0;
}

static int plant_oob(void)
{
	size_t n = 40;
	u8 *p = kmalloc(n, GFP_KERNEL);

	if (!p)
		return -ENOMEM;
	OPTIMIZER_HIDE_VAR(n);
	plant_sink = READ_ONCE(p[n + 8]);
	kfree(p);
	return 0;
}

/*
 * KFENCE samples one allocation per interval (kfence.sample_interval): ask
 * until one lands in its pool, then read the guard page after it. Each
 * object has a page of its own, at the page's start or end, with a guard
 * page on either side: a page past the object is always the guard page.
 */
static int plant_kfence(void)
{
	unsigned int tries;

	for (tries = 0; tries < 2000; tries++) {
		u8 *p = kmalloc(32, GFP_KERNEL);

		if (!p)
			return -ENOMEM;
		if (is_kfence_address(p)) {
			size_t past = PAGE_SIZE;

			OPTIMIZER_HIDE_VAR(past);
			plant_sink = READ_ONCE(p[past]);
			kfree(p);
			return 0;
		}
		kfree(p);
		msleep(10);
	}
	return -EAGAIN;	/* KFENCE off (kfence.sample_interval=0) */
}

static int plant_ubsan(void)
{
	unsigned int shift = 40;
	u32 one = 1;

	OPTIMIZER_HIDE_VAR(shift);
	plant_sink = (u8)(one << shift);
	return 0;
}

/* A then B, later B then A: lockdep reports the inversion from one thread. */
static int plant_lockdep(void)
{
	spin_lock(&plant_lock_a);
	spin_lock(&plant_lock_b);
	spin_unlock(&plant_lock_b);
	spin_unlock(&plant_lock_a);

	spin_lock(&plant_lock_b);
	spin_lock(&plant_lock_a);
	spin_unlock(&plant_lock_a);
	spin_unlock(&plant_lock_b);
	return 0;
}

/*
 * Lose four objects. Large ones (past the slab caches: the page allocator,
 * which kmemleak tracks as it does slab objects): a small object freshly
 * taken from a per-CPU cache stays referenced by that cache's stale array
 * slot (SLUB's sheaves) until the slot is reused, so kmemleak would not see
 * it yet. kmemleak also counts a stale copy on any kernel stack, so several:
 * the writer's stack may keep the last.
 */
static int plant_leak(void)
{
	int i;

	for (i = 0; i < 4; i++) {
		void *p = kmalloc(4 * PAGE_SIZE, GFP_KERNEL);

		if (!p)
			return -ENOMEM;
		memset(p, 0x5a, 4 * PAGE_SIZE);
		/* As text: the harness asks kmemleak about each ("dump=") */
		pr_info("planted leak %px\n", p);
		OPTIMIZER_HIDE_VAR(p);	/* and forget it */
	}
	return 0;
}

static const struct {
	const char *name;
	int (*plant)(void);
} plants[] = {
	{ "uaf", plant_uaf },
	{ "oob", plant_oob },
	{ "kfence", plant_kfence },
	{ "ubsan", plant_ubsan },
	{ "lockdep", plant_lockdep },
	{ "leak", plant_leak },
};

static int plant_bug_set(const char *val, const struct kernel_param *kp)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(plants); i++)
		if (sysfs_streq(val, plants[i].name)) {
			pr_warn("planting bug '%s' (test build)\n", plants[i].name);
			return plants[i].plant();
		}
	return -EINVAL;
}

static const struct kernel_param_ops plant_bug_ops = {
	.set = plant_bug_set,
};

module_param_cb(plant_bug, &plant_bug_ops, NULL, 0200);
MODULE_PARM_DESC(plant_bug, "test build: plant a bug for the checkers (uaf, oob, kfence, ubsan, lockdep, leak)");
