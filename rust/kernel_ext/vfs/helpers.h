/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Out-of-line wrappers of the VFS static inlines rust/kernel_ext/vfs calls.
 * Each wrapper only forwards to the static inline (or macro) it is named
 * after; no logic lives here.
 */
#ifndef CFRS_VFS_HELPERS_H
#define CFRS_VFS_HELPERS_H

#include <linux/types.h>

struct cred;
struct dentry;
struct file;
struct inode;
struct iov_iter;
struct kiocb;
struct path;
struct super_block;
struct vfsmount;

void cfrs_get_fs_pwd(struct path *pwd);
void cfrs_put_cred(const struct cred *cred);
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
struct file *cfrs_get_file(struct file *f);
void cfrs_init_sync_kiocb(struct kiocb *iocb, struct file *file, loff_t pos,
			  bool write, bool direct);
void cfrs_init_async_kiocb(struct kiocb *iocb, struct file *file, loff_t pos,
			   bool write, bool direct,
			   void (*complete)(struct kiocb *iocb, long ret));
void cfrs_kiocb_end_write(struct kiocb *iocb);
size_t cfrs_iov_iter_count(const struct iov_iter *i);
void cfrs_iov_iter_truncate(struct iov_iter *i, size_t count);
void cfrs_iov_iter_reexpand(struct iov_iter *i, size_t count);
unsigned int cfrs_memalloc_nofs_save(void);
void cfrs_memalloc_nofs_restore(unsigned int flags);

#endif /* CFRS_VFS_HELPERS_H */
