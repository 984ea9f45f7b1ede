// SPDX-License-Identifier: GPL-2.0
/*
 * Out-of-line wrappers of the poll, wait, completion, workqueue and scheduler
 * static inlines the other rust/kernel_ext modules call.
 * See helpers.h.
 */

#include <linux/completion.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "helpers.h"

void cfrs_poll_wait(struct file *filp, struct wait_queue_head *wq,
		    struct poll_table_struct *pt)
{
	poll_wait(filp, wq, pt);
}

void cfrs_wake_up_all(struct wait_queue_head *wq)
{
	wake_up_all(wq);
}

void cfrs_init_completion(struct completion *x)
{
	init_completion(x);
}

/* The module's own queue for object re-open work: destroying it at module
 * exit drains it, so no work runs module code after unload. */
struct workqueue_struct *cfrs_alloc_workqueue(void)
{
	return alloc_workqueue("cachefiles_rs", WQ_UNBOUND | WQ_MEM_RECLAIM, 0);
}

void cfrs_init_delayed_work(struct delayed_work *dw,
			    void (*fn)(struct work_struct *work))
{
	INIT_DELAYED_WORK(dw, fn);
}

struct delayed_work *cfrs_to_delayed_work(struct work_struct *work)
{
	return to_delayed_work(work);
}

bool cfrs_mod_delayed_work(struct workqueue_struct *wq, struct delayed_work *dw,
			   unsigned long delay)
{
	return mod_delayed_work(wq, dw, delay);
}

void cfrs_cond_resched(void)
{
	cond_resched();
}
