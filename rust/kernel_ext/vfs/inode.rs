// SPDX-License-Identifier: GPL-2.0

//! Inodes and the inode lock.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h)

use crate::kernel_ext::bindings;

/// An inode, only ever seen behind a reference derived from a dentry
/// reference (which keeps it alive).
#[repr(transparent)]
pub(crate) struct Inode(kernel::types::Opaque<bindings::inode>);

/// Inode flag: the inode is in use by the cache (`S_KERNEL_FILE`).
pub(crate) const S_KERNEL_FILE: u32 = bindings::CFRS_S_KERNEL_FILE;

impl Inode {
    pub(super) fn as_ptr(&self) -> *mut bindings::inode {
        self.0.get()
    }

    /// Locks the inode (`inode_lock`).
    pub(crate) fn lock(&self) -> InodeGuard<'_> {
        // SAFETY: The inode is alive while `self` is borrowed.
        unsafe { bindings::cfrs_inode_lock(self.as_ptr()) };
        InodeGuard { inode: self }
    }

    /// Locks the inode as a parent directory (`I_MUTEX_PARENT`).
    pub(crate) fn lock_parent(&self) -> InodeGuard<'_> {
        // SAFETY: The inode is alive while `self` is borrowed.
        unsafe { bindings::cfrs_inode_lock_parent(self.as_ptr()) };
        InodeGuard { inode: self }
    }

    /// `i_flags`, read without the inode lock (as C's cull lookup does:
    /// a racy snapshot that the caller re-checks under the lock).
    pub(crate) fn flags_unlocked(&self) -> u32 {
        // SAFETY: The inode is alive; a volatile read of a plain integer
        // that other CPUs may update under the inode lock.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*self.as_ptr()).i_flags)) }
    }

    /// Clears bits of `i_flags` without the inode lock.  Only for a caller
    /// that excludes other writers otherwise (C's graveyard move clears the
    /// in-use mark under the rename locks).
    pub(crate) fn clear_flags_unlocked(&self, clear: u32) {
        // SAFETY: The inode is alive; see above for the exclusion.
        unsafe {
            let i = self.as_ptr();
            (*i).i_flags &= !clear;
        }
    }

    /// Whether the directory is dead (`IS_DEADDIR`).
    pub(crate) fn is_dead_dir(&self) -> bool {
        // SAFETY: The inode is alive.
        unsafe { bindings::cfrs_is_deaddir(self.as_ptr()) }
    }

    /// Whether the inode has the operations cachefiles needs of the cache
    /// root: lookup, mkdir, tmpfile and xattrs.
    pub(crate) fn has_root_ops(&self) -> bool {
        // SAFETY: The inode is alive; `i_op` is always set.
        unsafe {
            let i = self.as_ptr();
            let op = &*(*i).i_op;
            op.lookup.is_some()
                && op.mkdir.is_some()
                && op.tmpfile.is_some()
                && (u32::from((*i).i_opflags) & bindings::CFRS_IOP_XATTR) != 0
        }
    }

    /// Whether the inode has the operations cachefiles needs of its own
    /// directories: xattrs, lookup, mkdir, rename, rmdir and unlink.
    pub(crate) fn has_dir_ops(&self) -> bool {
        // SAFETY: The inode is alive; `i_op` is always set.
        unsafe {
            let i = self.as_ptr();
            let op = &*(*i).i_op;
            (u32::from((*i).i_opflags) & bindings::CFRS_IOP_XATTR) != 0
                && op.lookup.is_some()
                && op.mkdir.is_some()
                && op.rename.is_some()
                && op.rmdir.is_some()
                && op.unlink.is_some()
        }
    }

    /// Whether the inode is a regular file.
    pub(crate) fn is_reg(&self) -> bool {
        // SAFETY: The inode is alive while `self` is borrowed.
        let mode = unsafe { (*self.as_ptr()).i_mode };
        u32::from(mode) & bindings::S_IFMT == bindings::S_IFREG
    }

    /// The number of 512-byte blocks the inode uses.
    pub(crate) fn blocks(&self) -> u64 {
        // SAFETY: The inode is alive while `self` is borrowed; a racy read
        // of a statistics field, as in C.
        unsafe { (*self.as_ptr()).i_blocks }
    }

    /// The inode's size (`i_size_read` on 64-bit).
    pub(crate) fn size(&self) -> i64 {
        // SAFETY: The inode is alive; a single word read.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*self.as_ptr()).i_size)) }
    }

    /// The inode number.
    pub(crate) fn ino(&self) -> u64 {
        // SAFETY: The inode is alive while `self` is borrowed.
        unsafe { (*self.as_ptr()).i_ino as u64 }
    }
}

/// A held inode lock; unlocks on drop.
pub(crate) struct InodeGuard<'a> {
    pub(super) inode: &'a Inode,
}

impl InodeGuard<'_> {
    /// The inode's `i_flags` (the lock serialises changes to them).
    pub(crate) fn flags(&self) -> u32 {
        // SAFETY: The inode is alive and locked by us.
        unsafe { (*self.inode.as_ptr()).i_flags }
    }

    /// Sets and clears bits of `i_flags`.
    pub(crate) fn update_flags(&self, set: u32, clear: u32) {
        // SAFETY: The inode is alive and locked by us.
        unsafe {
            let i = self.inode.as_ptr();
            (*i).i_flags = ((*i).i_flags & !clear) | set;
        }
    }
}

impl Drop for InodeGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: We locked the inode in `Inode::lock*`.
        unsafe { bindings::cfrs_inode_unlock(self.inode.as_ptr()) };
    }
}
