// SPDX-License-Identifier: GPL-2.0

//! Owned dentry references and lookups.
//!
//! C headers: [`include/linux/dcache.h`](srctree/include/linux/dcache.h),
//! [`include/linux/namei.h`](srctree/include/linux/namei.h)

use super::{check, check_ptr, Inode, InodeGuard, RenameLock};
use crate::kernel_ext::bindings;
use crate::logic::cmd::Errno;
use core::ptr::NonNull;
use kernel::prelude::*;

/// An owned reference to a dentry.
///
/// # Invariants
///
/// `ptr` is a dentry on which we hold one reference (`dget`), released on
/// drop (`dput`).
pub(crate) struct Dentry {
    ptr: NonNull<bindings::dentry>,
}

// SAFETY: Dentry references may be used and dropped from any thread.
unsafe impl Send for Dentry {}
// SAFETY: The methods only read fields the dcache keeps coherent.
unsafe impl Sync for Dentry {}

impl Dentry {
    /// Takes ownership of a dentry reference.
    ///
    /// # Safety
    ///
    /// `ptr` must carry a reference that the caller hands over.
    pub(super) unsafe fn from_raw(ptr: NonNull<bindings::dentry>) -> Self {
        // INVARIANT: Guaranteed by the caller.
        Dentry { ptr }
    }

    pub(crate) fn as_ptr(&self) -> *mut bindings::dentry {
        self.ptr.as_ptr()
    }

    /// Takes another reference.
    pub(crate) fn get(&self) -> Dentry {
        // SAFETY: We hold a reference, so the dentry is alive.
        let p = unsafe { bindings::cfrs_dget(self.as_ptr()) };
        // SAFETY: `dget` returned the same non-null pointer with a new reference.
        unsafe { Dentry::from_raw(NonNull::new_unchecked(p)) }
    }

    /// The dentry's inode; `None` for a negative dentry.
    pub(crate) fn inode(&self) -> Option<&Inode> {
        // SAFETY: The dentry is alive; a positive dentry we hold a reference
        // on keeps its inode (`d_delete` only unhashes it then).
        unsafe {
            let i = (*self.as_ptr()).d_inode;
            if i.is_null() || bindings::cfrs_d_is_negative(self.as_ptr()) {
                None
            } else {
                Some(&*(i as *const Inode))
            }
        }
    }

    /// Whether the dentry is negative (`d_is_negative`).
    pub(crate) fn is_negative(&self) -> bool {
        // SAFETY: The dentry is alive.
        unsafe { bindings::cfrs_d_is_negative(self.as_ptr()) }
    }

    /// Whether the dentry is a directory one can look up in.
    pub(crate) fn can_lookup(&self) -> bool {
        // SAFETY: The dentry is alive.
        unsafe { bindings::cfrs_d_can_lookup(self.as_ptr()) }
    }

    /// Whether the dentry is a directory (including automount points).
    pub(crate) fn is_dir(&self) -> bool {
        // SAFETY: The dentry is alive.
        unsafe { bindings::cfrs_d_is_dir(self.as_ptr()) }
    }

    /// Whether the dentry has been unhashed.
    pub(crate) fn is_unhashed(&self) -> bool {
        // SAFETY: The dentry is alive.
        unsafe { bindings::cfrs_d_unhashed(self.as_ptr()) }
    }

    /// Whether something is mounted on the dentry.
    pub(crate) fn is_mountpoint(&self) -> bool {
        // SAFETY: The dentry is alive.
        unsafe { bindings::cfrs_d_mountpoint(self.as_ptr()) }
    }

    /// Whether `parent` is this dentry's parent right now.
    pub(crate) fn has_parent(&self, parent: &Dentry) -> bool {
        // SAFETY: The dentry is alive; reading `d_parent` is what C does.
        unsafe { (*self.as_ptr()).d_parent == parent.as_ptr() }
    }

    /// Whether both references name the same dentry.
    pub(crate) fn same(&self, other: *mut bindings::dentry) -> bool {
        self.as_ptr() == other
    }

    /// The superblock's constraints bind needs: `statfs`, `sync_fs` and a
    /// block size no larger than a page.
    pub(crate) fn sb_is_usable(&self) -> bool {
        // SAFETY: The dentry and its superblock are alive.
        unsafe {
            let sb = (*self.as_ptr()).d_sb;
            let op = &*(*sb).s_op;
            op.statfs.is_some()
                && op.sync_fs.is_some()
                && (*sb).s_blocksize <= bindings::CFRS_PAGE_SIZE as _
        }
    }

    /// Whether the dentry's filesystem is mounted read-only.
    pub(crate) fn sb_is_rdonly(&self) -> bool {
        // SAFETY: The dentry and its superblock are alive.
        unsafe { bindings::cfrs_sb_rdonly((*self.as_ptr()).d_sb) }
    }

    /// Syncs the dentry's filesystem (under `s_umount`, shared).
    pub(crate) fn sync_fs(&self) -> Result<(), Errno> {
        // SAFETY: The dentry and its superblock are alive.
        unsafe {
            let sb = (*self.as_ptr()).d_sb;
            bindings::down_read(&mut (*sb).s_umount);
            let ret = bindings::sync_filesystem(sb);
            bindings::up_read(&mut (*sb).s_umount);
            check(ret)
        }
    }

    /// Reads extended attribute `name` into `buf`; returns its length.
    pub(crate) fn get_xattr(&self, name: &CStr, buf: &mut [u8]) -> Result<usize, Errno> {
        // SAFETY: Live dentry; `name` is NUL-terminated; `buf` is writable
        // for its length.
        let ret = unsafe {
            bindings::vfs_getxattr(
                core::ptr::addr_of_mut!(bindings::nop_mnt_idmap),
                self.as_ptr(),
                name.as_char_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if ret < 0 {
            Err(Errno(-(ret as i32)))
        } else {
            Ok(ret as usize)
        }
    }

    /// Looks up `name` in this directory (`lookup_one_len`); `locked` proves
    /// the directory's inode lock is held, as the VFS requires.
    pub(crate) fn lookup(&self, name: &[u8], locked: &InodeGuard<'_>) -> Result<Dentry, Errno> {
        debug_assert!(self.inode().is_some_and(|i| core::ptr::eq(i, locked.inode)));
        let len = i32::try_from(name.len()).map_err(|_| crate::logic::cmd::errno::EINVAL)?;
        // `lookup_one_len` takes a length, but stops at no NUL: pass the bytes.
        // SAFETY: `self` is alive and its inode is locked; `name` is valid
        // for `len` bytes.
        let p = unsafe { bindings::lookup_one_len(name.as_ptr().cast(), self.as_ptr(), len) };
        // SAFETY: A non-error pointer carries a new reference.
        check_ptr(p).map(|p| unsafe { Dentry::from_raw(p) })
    }

    /// Looks up `name` in this directory while a rename lock (which holds
    /// this directory's inode lock) is held.
    pub(crate) fn lookup_renaming(
        &self,
        name: &[u8],
        locks: &RenameLock<'_>,
    ) -> Result<Dentry, Errno> {
        debug_assert!(locks.holds(self));
        let len = i32::try_from(name.len()).map_err(|_| crate::logic::cmd::errno::EINVAL)?;
        // SAFETY: `self` is alive and locked by `lock_rename`; `name` is
        // valid for `len` bytes.
        let p = unsafe { bindings::lookup_one_len(name.as_ptr().cast(), self.as_ptr(), len) };
        // SAFETY: A non-error pointer carries a new reference.
        check_ptr(p).map(|p| unsafe { Dentry::from_raw(p) })
    }

    /// Looks up `name` in this directory without holding its lock,
    /// requiring a positive result (`lookup_positive_unlocked`: `ENOENT`
    /// for a negative dentry).
    pub(crate) fn lookup_positive(&self, name: &[u8]) -> Result<Dentry, Errno> {
        let len = i32::try_from(name.len()).map_err(|_| crate::logic::cmd::errno::EINVAL)?;
        // SAFETY: `self` is alive; `name` is valid for `len` bytes.
        let p =
            unsafe { bindings::lookup_positive_unlocked(name.as_ptr().cast(), self.as_ptr(), len) };
        // SAFETY: A non-error pointer carries a new reference.
        check_ptr(p).map(|p| unsafe { Dentry::from_raw(p) })
    }

    /// Whether the dentry is a regular file (`d_is_reg`).
    pub(crate) fn is_reg(&self) -> bool {
        self.inode().is_some_and(|i| i.is_reg())
    }
}

impl Drop for Dentry {
    fn drop(&mut self) {
        // SAFETY: We own one reference (type invariant).
        unsafe { bindings::dput(self.as_ptr()) };
    }
}
