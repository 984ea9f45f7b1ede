// SPDX-License-Identifier: GPL-2.0
/*
 * Out-of-line wrappers for static inline kernel functions, called from the
 * Rust crate.  See cfrs_helpers.h.
 */

#include <linux/completion.h>
#include <linux/cred.h>
#include <linux/ioprio.h>
#include <linux/sched/mm.h>
#include <linux/uio.h>
#include <linux/workqueue.h>
#include <linux/dcache.h>
#include <linux/fs.h>
#include <linux/fs_struct.h>
#include <linux/fscache-cache.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/security.h>
#include <trace/events/fscache.h>
#include <linux/wait.h>

#include "cfrs_helpers.h"

/*
 * The "debug" module parameter of C cachefiles (same name, type and mode):
 * module parameters are static data made by macros, so it lives here; the
 * Rust crate reaches it through rust/param.rs.
 */
unsigned int cfrs_debug;
module_param_named(debug, cfrs_debug, uint, 0644);
MODULE_PARM_DESC(debug, "CacheFiles debugging mask");

void cfrs_poll_wait(struct file *filp, struct wait_queue_head *wq,
		    struct poll_table_struct *pt)
{
	poll_wait(filp, wq, pt);
}

void cfrs_get_fs_pwd(struct path *pwd)
{
	get_fs_pwd(current->fs, pwd);
}

void cfrs_put_cred(const struct cred *cred)
{
	put_cred(cred);
}

void cfrs_wake_up_all(struct wait_queue_head *wq)
{
	wake_up_all(wq);
}

struct dentry *cfrs_dget(struct dentry *dentry)
{
	return dget(dentry);
}

bool cfrs_d_is_negative(const struct dentry *dentry)
{
	return d_is_negative(dentry);
}

bool cfrs_d_can_lookup(const struct dentry *dentry)
{
	return d_can_lookup(dentry);
}

bool cfrs_d_is_dir(const struct dentry *dentry)
{
	return d_is_dir(dentry);
}

bool cfrs_d_unhashed(const struct dentry *dentry)
{
	return d_unhashed(dentry);
}

bool cfrs_d_mountpoint(const struct dentry *dentry)
{
	return d_mountpoint(dentry);
}

bool cfrs_is_deaddir(const struct inode *inode)
{
	return IS_DEADDIR(inode);
}

void cfrs_inode_lock(struct inode *inode)
{
	inode_lock(inode);
}

void cfrs_inode_lock_parent(struct inode *inode)
{
	inode_lock_nested(inode, I_MUTEX_PARENT);
}

void cfrs_inode_unlock(struct inode *inode)
{
	inode_unlock(inode);
}

bool cfrs_is_idmapped_mnt(const struct vfsmount *mnt)
{
	return is_idmapped_mnt(mnt);
}

bool cfrs_sb_rdonly(const struct super_block *sb)
{
	return sb_rdonly(sb);
}

int cfrs_security_path_mkdir(const struct path *dir, struct dentry *dentry,
			     umode_t mode)
{
	return security_path_mkdir(dir, dentry, mode);
}

int cfrs_security_path_unlink(const struct path *dir, struct dentry *dentry)
{
	return security_path_unlink(dir, dentry);
}

int cfrs_security_path_rename(const struct path *old_dir,
			      struct dentry *old_dentry,
			      const struct path *new_dir,
			      struct dentry *new_dentry)
{
	return security_path_rename(old_dir, old_dentry, new_dir, new_dentry, 0);
}

void cfrs_fscache_wait_for_objects(struct fscache_cache *cache)
{
	fscache_wait_for_objects(cache);
}

void cfrs_cond_resched(void)
{
	cond_resched();
}

struct fscache_volume *cfrs_volume_try_get(struct fscache_volume *volume)
{
	return fscache_try_get_volume(volume, fscache_volume_get_withdraw);
}

void cfrs_volume_put(struct fscache_volume *volume)
{
	fscache_put_volume(volume, fscache_volume_put_withdraw);
}

void cfrs_volume_pin(struct fscache_volume *volume)
{
	atomic_inc(&volume->n_accesses);
}

int cfrs_volume_accesses(const struct fscache_volume *volume)
{
	return atomic_read(&volume->n_accesses);
}

void cfrs_init_completion(struct completion *x)
{
	init_completion(x);
}

struct file *cfrs_get_file(struct file *f)
{
	return get_file(f);
}

/* A synchronous direct-I/O kiocb, as cachefiles sets up its own. */
void cfrs_init_dio_kiocb(struct kiocb *iocb, struct file *file, loff_t pos,
			 bool write)
{
	memset(iocb, 0, sizeof(*iocb));
	iocb->ki_filp = file;
	iocb->ki_pos = pos;
	iocb->ki_flags = IOCB_DIRECT | (write ? IOCB_WRITE : 0);
	iocb->ki_ioprio = get_current_ioprio();
}

size_t cfrs_iov_iter_count(const struct iov_iter *i)
{
	return iov_iter_count(i);
}

unsigned int cfrs_memalloc_nofs_save(void)
{
	return memalloc_nofs_save();
}

void cfrs_memalloc_nofs_restore(unsigned int flags)
{
	memalloc_nofs_restore(flags);
}

/* The module's own queue for object re-open work: destroying it at module
 * exit drains it, so no work runs module code after unload. */
struct workqueue_struct *cfrs_alloc_workqueue(void)
{
	return alloc_workqueue("cachefiles_rs", WQ_UNBOUND | WQ_MEM_RECLAIM, 0);
}

const void *cfrs_fscache_get_key(struct fscache_cookie *cookie)
{
	return fscache_get_key(cookie);
}

const void *cfrs_fscache_get_aux(struct fscache_cookie *cookie)
{
	return fscache_get_aux(cookie);
}

struct fscache_cookie *cfrs_cookie_get(struct fscache_cookie *cookie)
{
	return fscache_get_cookie(cookie, fscache_cookie_get_attach_object);
}

void cfrs_cookie_put(struct fscache_cookie *cookie)
{
	fscache_put_cookie(cookie, fscache_cookie_put_object);
}

void cfrs_cookie_end_io_access(struct fscache_cookie *cookie)
{
	fscache_end_cookie_access(cookie, fscache_access_io_end);
}

void cfrs_fscache_count_object(struct fscache_cache *cache)
{
	fscache_count_object(cache);
}

void cfrs_fscache_uncount_object(struct fscache_cache *cache)
{
	fscache_uncount_object(cache);
}

bool cfrs_cookie_test_flag(struct fscache_cookie *cookie, int bit)
{
	return test_bit(bit, &cookie->flags);
}

void cfrs_cookie_set_flag(struct fscache_cookie *cookie, int bit, bool on)
{
	if (on)
		set_bit(bit, &cookie->flags);
	else
		clear_bit(bit, &cookie->flags);
}

bool cfrs_cookie_test_and_clear_flag(struct fscache_cookie *cookie, int bit)
{
	return test_and_clear_bit(bit, &cookie->flags);
}
