/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Out-of-line wrappers for the static inline kernel functions (and macros)
 * the Rust crate calls.  Each one only forwards to the inline it is named
 * after; no logic lives here.
 */
#ifndef CFRS_HELPERS_H
#define CFRS_HELPERS_H

#include <linux/types.h>

struct cred;
struct dentry;
struct file;
struct fscache_cache;
struct inode;
struct path;
struct poll_table_struct;
struct super_block;
struct vfsmount;
struct wait_queue_head;

/* The "debug" module parameter (see cfrs_helpers.c). */
extern unsigned int cfrs_debug;

void cfrs_poll_wait(struct file *filp, struct wait_queue_head *wq,
		    struct poll_table_struct *pt);
void cfrs_get_fs_pwd(struct path *pwd);
void cfrs_put_cred(const struct cred *cred);
void cfrs_wake_up_all(struct wait_queue_head *wq);

struct dentry *cfrs_dget(struct dentry *dentry);
bool cfrs_d_is_negative(const struct dentry *dentry);
bool cfrs_d_can_lookup(const struct dentry *dentry);
bool cfrs_d_is_dir(const struct dentry *dentry);
bool cfrs_d_unhashed(const struct dentry *dentry);
bool cfrs_d_mountpoint(const struct dentry *dentry);
bool cfrs_is_deaddir(const struct inode *inode);

void cfrs_inode_lock(struct inode *inode);
void cfrs_inode_lock_parent(struct inode *inode);
void cfrs_inode_unlock(struct inode *inode);

bool cfrs_is_idmapped_mnt(const struct vfsmount *mnt);
bool cfrs_sb_rdonly(const struct super_block *sb);

int cfrs_security_path_mkdir(const struct path *dir, struct dentry *dentry,
			     umode_t mode);
int cfrs_security_path_unlink(const struct path *dir, struct dentry *dentry);
int cfrs_security_path_rename(const struct path *old_dir,
			      struct dentry *old_dentry,
			      const struct path *new_dir,
			      struct dentry *new_dentry);

void cfrs_fscache_wait_for_objects(struct fscache_cache *cache);

struct fscache_volume;
/* Volume references and the cache's access pin, with the trace reasons
 * cachefiles uses (the trace enums are not bound). */
struct fscache_volume *cfrs_volume_try_get(struct fscache_volume *volume);
void cfrs_volume_put(struct fscache_volume *volume);
void cfrs_volume_pin(struct fscache_volume *volume);
int cfrs_volume_accesses(const struct fscache_volume *volume);
void cfrs_cond_resched(void);

/* Files, completions and I/O (include/linux/{fs,completion,uio}.h). */
struct completion;
struct fscache_cookie;
struct iov_iter;
struct kiocb;
struct workqueue_struct;
void cfrs_init_completion(struct completion *x);
struct file *cfrs_get_file(struct file *f);
void cfrs_init_dio_kiocb(struct kiocb *iocb, struct file *file, loff_t pos,
			 bool write);
size_t cfrs_iov_iter_count(const struct iov_iter *i);
unsigned int cfrs_memalloc_nofs_save(void);
void cfrs_memalloc_nofs_restore(unsigned int flags);
struct workqueue_struct *cfrs_alloc_workqueue(void);

/* Cookies, with the trace reasons cachefiles uses. */
const void *cfrs_fscache_get_key(struct fscache_cookie *cookie);
const void *cfrs_fscache_get_aux(struct fscache_cookie *cookie);
struct fscache_cookie *cfrs_cookie_get(struct fscache_cookie *cookie);
void cfrs_cookie_put(struct fscache_cookie *cookie);
void cfrs_cookie_end_io_access(struct fscache_cookie *cookie);
void cfrs_fscache_count_object(struct fscache_cache *cache);
void cfrs_fscache_uncount_object(struct fscache_cache *cache);
bool cfrs_cookie_test_flag(struct fscache_cookie *cookie, int bit);
void cfrs_cookie_set_flag(struct fscache_cookie *cookie, int bit, bool on);
bool cfrs_cookie_test_and_clear_flag(struct fscache_cookie *cookie, int bit);

#endif /* CFRS_HELPERS_H */
