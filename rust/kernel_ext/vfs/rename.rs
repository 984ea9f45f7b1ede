// SPDX-License-Identifier: GPL-2.0

//! The two parent-directory locks of a rename.
//!
//! C header: [`include/linux/namei.h`](srctree/include/linux/namei.h)

use super::{check_ptr, Dentry};
use crate::kernel_ext::bindings;
use crate::logic::cmd::Errno;

/// Both parents of a rename, locked (`lock_rename`); unlocked on drop.
pub(crate) struct RenameLock<'a> {
    p1: &'a Dentry,
    p2: &'a Dentry,
    trap: *mut bindings::dentry,
}

impl<'a> RenameLock<'a> {
    /// Locks `p1` and `p2` in the VFS's order.
    pub(crate) fn new(p1: &'a Dentry, p2: &'a Dentry) -> Result<Self, Errno> {
        // SAFETY: Both dentries are alive.
        let trap = unsafe { bindings::lock_rename(p1.as_ptr(), p2.as_ptr()) };
        // `lock_rename` returns NULL when neither parent is an ancestor of
        // the other, the common ancestor otherwise, or an error pointer.
        if !trap.is_null() {
            check_ptr(trap)?;
        }
        Ok(RenameLock { p1, p2, trap })
    }

    /// Whether `d` is one of the two locked parents.
    pub(crate) fn holds(&self, d: &Dentry) -> bool {
        d.same(self.p1.as_ptr()) || d.same(self.p2.as_ptr())
    }

    /// Whether `d` is the ancestor `lock_rename` reported (a loop).
    pub(crate) fn is_trap(&self, d: &Dentry) -> bool {
        !self.trap.is_null() && d.same(self.trap)
    }
}

impl Drop for RenameLock<'_> {
    fn drop(&mut self) {
        // SAFETY: We locked these two in `new`.
        unsafe { bindings::unlock_rename(self.p1.as_ptr(), self.p2.as_ptr()) };
    }
}
