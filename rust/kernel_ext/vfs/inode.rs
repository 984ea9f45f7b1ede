// SPDX-License-Identifier: GPL-2.0

//! Inodes and the inode lock.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h)

use super::read_once;
use crate::kernel_ext::bindings;

/// An inode.
///
/// # Invariants
///
/// Only ever seen as `&Inode` borrowed from something that keeps the inode
/// alive for the borrow: a positive [`Dentry`] reference or an open
/// [`FileRef`].
///
/// # Locking
///
/// `i_flags` (and the directory contents) change under the inode lock,
/// `i_rwsem`, taken as an [`InodeGuard`].  Fields the kernel may change
/// while we look (`i_flags` without the lock, `i_mode`, `i_blocks`,
/// `i_size`, `i_opflags` whose `IOP_LOOKUP` bit the VFS caches lazily) are
/// read with `READ_ONCE` semantics ([`read_once`]); the others (`i_op`,
/// `i_ino`) are fixed once the inode is visible.
///
/// [`Dentry`]: super::Dentry
/// [`FileRef`]: super::FileRef
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

    /// Locks the inode as a parent directory (`I_MUTEX_PARENT`); see
    /// [`super::Dentry::lock_dir`].
    pub(super) fn lock_parent(&self) -> InodeGuard<'_> {
        // SAFETY: The inode is alive while `self` is borrowed.
        unsafe { bindings::cfrs_inode_lock_parent(self.as_ptr()) };
        InodeGuard { inode: self }
    }

    /// `i_flags`, read without the inode lock (as C's cull lookup does).
    ///
    /// A `READ_ONCE` snapshot: other tasks may change the flags under the
    /// inode lock meanwhile, so the result is only a hint that a caller must
    /// check again under [`InodeGuard::flags`] before acting on it.  Writes
    /// take the lock ([`InodeGuard::update_flags`]); there is no unlocked
    /// write.
    pub(crate) fn flags_unlocked(&self) -> u32 {
        // SAFETY: The inode is alive (type invariant); `i_flags` is an
        // aligned `u32`, read with `READ_ONCE` semantics as it may be
        // written concurrently under the inode lock.
        unsafe { read_once(core::ptr::addr_of!((*self.as_ptr()).i_flags)) }
    }

    /// Whether the directory is dead (`IS_DEADDIR`).
    pub(crate) fn is_dead_dir(&self) -> bool {
        // SAFETY: The inode is alive.
        unsafe { bindings::cfrs_is_deaddir(self.as_ptr()) }
    }

    /// Whether the inode has the operations cachefiles needs of the cache
    /// root: lookup, mkdir, tmpfile and xattrs.
    pub(crate) fn has_root_ops(&self) -> bool {
        // SAFETY: The inode is alive; `i_op` is always set and points to a
        // static table; `i_opflags` may gain bits concurrently (`READ_ONCE`).
        unsafe {
            let i = self.as_ptr();
            let op = &*(*i).i_op;
            op.lookup.is_some()
                && op.mkdir.is_some()
                && op.tmpfile.is_some()
                && (u32::from(read_once(core::ptr::addr_of!((*i).i_opflags)))
                    & bindings::CFRS_IOP_XATTR)
                    != 0
        }
    }

    /// Whether the inode has the operations cachefiles needs of its own
    /// directories: xattrs, lookup, mkdir, rename, rmdir and unlink.
    pub(crate) fn has_dir_ops(&self) -> bool {
        // SAFETY: As in `has_root_ops`.
        unsafe {
            let i = self.as_ptr();
            let op = &*(*i).i_op;
            (u32::from(read_once(core::ptr::addr_of!((*i).i_opflags))) & bindings::CFRS_IOP_XATTR)
                != 0
                && op.lookup.is_some()
                && op.mkdir.is_some()
                && op.rename.is_some()
                && op.rmdir.is_some()
                && op.unlink.is_some()
        }
    }

    /// Whether the inode is a regular file.
    pub(crate) fn is_reg(&self) -> bool {
        // SAFETY: The inode is alive while `self` is borrowed; `chmod` may
        // change the permission bits meanwhile (`READ_ONCE`), never the type.
        let mode = unsafe { read_once(core::ptr::addr_of!((*self.as_ptr()).i_mode)) };
        u32::from(mode) & bindings::S_IFMT == bindings::S_IFREG
    }

    /// The number of 512-byte blocks the inode uses.
    pub(crate) fn blocks(&self) -> u64 {
        // SAFETY: The inode is alive while `self` is borrowed; a racy read
        // of a statistics field, as in C, with `READ_ONCE` semantics (one
        // aligned word on 64-bit).
        unsafe { read_once(core::ptr::addr_of!((*self.as_ptr()).i_blocks)) }
    }

    /// The inode's size (`i_size_read` on 64-bit).
    pub(crate) fn size(&self) -> i64 {
        // SAFETY: The inode is alive; a single word read (`READ_ONCE`).
        unsafe { read_once(core::ptr::addr_of!((*self.as_ptr()).i_size)) }
    }

    /// The inode number.
    pub(crate) fn ino(&self) -> u64 {
        // SAFETY: The inode is alive while `self` is borrowed; `i_ino` is
        // fixed once the inode is visible.
        unsafe { (*self.as_ptr()).i_ino as u64 }
    }
}

/// A held inode lock (`i_rwsem`, exclusive); unlocks on drop.
///
/// # Invariants
///
/// The current task holds `inode`'s lock, taken by [`Inode::lock`] or
/// [`Inode::lock_parent`] and released only by `drop`.  The guard is not
/// `Send` (`&Inode` is not, as `Inode` wraps an `Opaque`), so the task that
/// locked is the one that unlocks.
pub(crate) struct InodeGuard<'a> {
    inode: &'a Inode,
}

impl<'a> InodeGuard<'a> {
    /// The inode's `i_flags`; the lock serialises changes to them.
    pub(crate) fn flags(&self) -> u32 {
        // SAFETY: The inode is alive and locked by us (type invariant);
        // `READ_ONCE` as `flags_unlocked` readers do not take the lock.
        unsafe { read_once(core::ptr::addr_of!((*self.inode.as_ptr()).i_flags)) }
    }

    /// Sets and clears bits of `i_flags` (C changes `S_KERNEL_FILE` the
    /// same way, under `inode_lock`).  Only the flag the cache owns,
    /// [`S_KERNEL_FILE`], can change: other bits of `set` and `clear` are
    /// ignored, since flipping flags the kernel relies on (`S_DAX`,
    /// `S_SWAPFILE`, `S_DEAD`...) would break its invariants.
    pub(crate) fn update_flags(&self, set: u32, clear: u32) {
        let (set, clear) = (set & S_KERNEL_FILE, clear & S_KERNEL_FILE);
        // SAFETY: The inode is alive and locked by us (type invariant), so
        // no other writer runs; the store is `WRITE_ONCE` (volatile) as
        // unlocked readers may look meanwhile (`flags_unlocked`).  Only
        // `S_KERNEL_FILE` changes: only cachefiles sets it, and the VFS
        // merely refuses to `rmdir` such a directory (`EBUSY`).
        unsafe {
            let p = core::ptr::addr_of_mut!((*self.inode.as_ptr()).i_flags);
            core::ptr::write_volatile(p, (read_once(p) & !clear) | set);
        }
    }
}

impl Drop for InodeGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: We hold the lock, taken in `Inode::lock*` (type invariant).
        unsafe { bindings::cfrs_inode_unlock(self.inode.as_ptr()) };
    }
}
