// SPDX-License-Identifier: GPL-2.0

//! A directory locked for changes to its entries: the proof the VFS's
//! namespace operations ask for.
//!
//! C header: [`include/linux/namei.h`](srctree/include/linux/namei.h)

use super::{Dentry, InodeGuard};
use crate::logic::errno::{Errno, ENOENT, ENOTDIR};

/// A directory dentry whose inode lock is held (as a parent,
/// `I_MUTEX_PARENT`); unlocked on drop.
///
/// The operations that require the parent's lock (lookups here,
/// `Mount::mkdir`, `Mount::unlink`, `Mount::link`) take a `DirGuard`
/// instead of a directory and a separate lock witness, so the lock held is
/// always that of the directory operated on.
///
/// # Invariants
///
/// `_lock` holds the inode lock of `dir`'s inode (`dir` is positive, and
/// stays so with that inode while referenced, see [`Dentry`]).
pub(crate) struct DirGuard<'a> {
    dir: &'a Dentry,
    /// Released on drop.
    _lock: InodeGuard<'a>,
}

impl Dentry {
    /// Locks this directory's inode (as a parent, `I_MUTEX_PARENT`) for
    /// the operations that need it: lookups, mkdir, unlink, link.
    /// `ENOENT` if the dentry is negative.
    pub(crate) fn lock_dir(&self) -> Result<DirGuard<'_>, Errno> {
        let inode = self.inode().ok_or(ENOENT)?;
        // INVARIANT: The guard is that of `self`'s inode, which stays
        // `self`'s while we hold our reference.
        Ok(DirGuard {
            dir: self,
            _lock: inode.lock_parent(),
        })
    }
}

impl<'a> DirGuard<'a> {
    /// The locked directory (outliving the guard, so it can be used after
    /// unlocking).
    pub(crate) fn dentry(&self) -> &'a Dentry {
        self.dir
    }

    /// Looks up `name` in the directory (`lookup_one_len`); `ENOTDIR` if it
    /// is no directory one can look up in.
    pub(crate) fn lookup(&self, name: &[u8]) -> Result<Dentry, Errno> {
        if !self.dir.can_lookup() {
            return Err(ENOTDIR);
        }
        // SAFETY: We hold the directory's inode lock (type invariant) for
        // the whole call; checked above that it is a directory.
        unsafe { self.dir.lookup_locked(name) }
    }
}
