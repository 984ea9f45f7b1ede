/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Out-of-line wrappers of the poll, wait, completion, workqueue and scheduler
 * static inlines the other rust/kernel_ext modules call.
 * Each wrapper only forwards to the static inline (or macro) it is named
 * after; no logic lives here.
 */
#ifndef CFRS_HELPERS_H
#define CFRS_HELPERS_H

#include <linux/types.h>

struct completion;
struct delayed_work;
struct work_struct;
struct file;
struct poll_table_struct;
struct wait_queue_head;
struct workqueue_struct;

void cfrs_poll_wait(struct file *filp, struct wait_queue_head *wq,
		    struct poll_table_struct *pt);
void cfrs_wake_up_all(struct wait_queue_head *wq);
void cfrs_init_completion(struct completion *x);
struct workqueue_struct *cfrs_alloc_workqueue(void);
void cfrs_init_delayed_work(struct delayed_work *dw,
			    void (*fn)(struct work_struct *work));
struct delayed_work *cfrs_to_delayed_work(struct work_struct *work);
bool cfrs_mod_delayed_work(struct workqueue_struct *wq, struct delayed_work *dw,
			   unsigned long delay);
void cfrs_cond_resched(void);

#endif /* CFRS_HELPERS_H */
