// SPDX-License-Identifier: GPL-2.0

//! The two parent-directory locks of a rename.
//!
//! C header: [`include/linux/namei.h`](srctree/include/linux/namei.h)

use super::{check_ptr, Dentry};
use crate::kernel_ext::bindings;
use crate::logic::errno::{Errno, ENOENT};

/// Both parents of a rename, locked (`lock_rename`); unlocked on drop.
///
/// The proof [`Dentry::lookup_renaming`] and `Mount::rename` ask for: they
/// check with [`RenameLock::holds`] that the directories they are given
/// are the locked ones.
///
/// # Invariants
///
/// `p1` and `p2` are positive; the current task holds their inode locks
/// (and, if they differ, their superblock's `s_vfs_rename_mutex`), taken by
/// `lock_rename(p1, p2)` and released only by `drop`.  `trap` is what
/// `lock_rename` returned (null or a dentry we hold no reference on): it
/// is only compared, never dereferenced.  Not `Send` (raw pointer), so the
/// task that locked unlocks.
pub(crate) struct RenameLock<'a> {
    p1: &'a Dentry,
    p2: &'a Dentry,
    trap: *mut bindings::dentry,
}

impl<'a> RenameLock<'a> {
    /// Locks `p1` and `p2` in the VFS's order; `ENOENT` if either is
    /// negative (`lock_rename` locks their inodes unchecked).
    pub(crate) fn new(p1: &'a Dentry, p2: &'a Dentry) -> Result<Self, Errno> {
        if p1.inode().is_none() || p2.inode().is_none() {
            return Err(ENOENT);
        }
        // SAFETY: Both dentries are alive and positive.
        let trap = unsafe { bindings::lock_rename(p1.as_ptr(), p2.as_ptr()) };
        // `lock_rename` returns NULL when neither parent is an ancestor of
        // the other, the common ancestor's child otherwise, or an error
        // pointer (nothing locked then).
        if !trap.is_null() {
            check_ptr(trap)?;
        }
        // INVARIANT: `lock_rename` succeeded on two positive dentries.
        Ok(RenameLock { p1, p2, trap })
    }

    /// Whether `d` is one of the two locked parents.
    pub(crate) fn holds(&self, d: &Dentry) -> bool {
        d.same(self.p1) || d.same(self.p2)
    }

    /// Whether `d` is the ancestor `lock_rename` reported (a loop).
    pub(crate) fn is_trap(&self, d: &Dentry) -> bool {
        !self.trap.is_null() && core::ptr::eq(d.as_ptr(), self.trap)
    }
}

impl Drop for RenameLock<'_> {
    fn drop(&mut self) {
        // SAFETY: We locked these two in `new` (type invariant); they are
        // still positive with the same inodes, as we reference them.
        unsafe { bindings::unlock_rename(self.p1.as_ptr(), self.p2.as_ptr()) };
    }
}
