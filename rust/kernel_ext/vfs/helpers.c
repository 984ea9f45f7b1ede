// SPDX-License-Identifier: GPL-2.0
/*
 * Out-of-line wrappers of the VFS static inlines rust/kernel_ext/vfs calls.
 * See vfs/helpers.h.
 */

#include <linux/cred.h>
#include <linux/dcache.h>
#include <linux/fs.h>
#include <linux/fs_struct.h>
#include <linux/ioprio.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/sched/mm.h>
#include <linux/security.h>
#include <linux/uio.h>

#include "vfs/helpers.h"

void cfrs_get_fs_pwd(struct path *pwd)
{
	get_fs_pwd(current->fs, pwd);
}

void cfrs_put_cred(const struct cred *cred)
{
	put_cred(cred);
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

struct file *cfrs_get_file(struct file *f)
{
	return get_file(f);
}

/*
 * A synchronous kiocb, as cachefiles sets up its own: direct I/O, or
 * buffered (through the page cache) when !direct.  The backing file is
 * open with O_DIRECT either way; filesystems choose the path by the
 * kiocb's IOCB_DIRECT.
 */
void cfrs_init_sync_kiocb(struct kiocb *iocb, struct file *file, loff_t pos,
			  bool write, bool direct)
{
	memset(iocb, 0, sizeof(*iocb));
	iocb->ki_filp = file;
	iocb->ki_pos = pos;
	iocb->ki_flags = (direct ? IOCB_DIRECT : 0) | (write ? IOCB_WRITE : 0);
	iocb->ki_ioprio = get_current_ioprio();
}

/*
 * An asynchronous kiocb: as above, with @complete as its completion
 * (called once if the filesystem queues the I/O).
 */
void cfrs_init_async_kiocb(struct kiocb *iocb, struct file *file, loff_t pos,
			   bool write, bool direct,
			   void (*complete)(struct kiocb *iocb, long ret))
{
	cfrs_init_sync_kiocb(iocb, file, pos, write, direct);
	iocb->ki_complete = complete;
}

/*
 * Drops the freeze protection that vfs_iocb_iter_write() took for a write
 * it left queued (kiocb_start_write()); callable from the completion,
 * whatever its context.
 */
void cfrs_kiocb_end_write(struct kiocb *iocb)
{
	kiocb_end_write(iocb);
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

void cfrs_iov_iter_truncate(struct iov_iter *i, size_t count)
{
	iov_iter_truncate(i, count);
}

void cfrs_iov_iter_reexpand(struct iov_iter *i, size_t count)
{
	iov_iter_reexpand(i, count);
}
