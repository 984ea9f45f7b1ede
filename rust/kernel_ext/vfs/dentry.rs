// SPDX-License-Identifier: GPL-2.0

//! Owned dentry references and lookups.
//!
//! C headers: [`include/linux/dcache.h`](srctree/include/linux/dcache.h),
//! [`include/linux/namei.h`](srctree/include/linux/namei.h)

use super::{check, check_ptr, read_once, Inode, RenameLock};
use crate::kernel_ext::bindings;
use crate::logic::errno::{Errno, EINVAL, ENOENT, ENOTDIR};
use core::ptr::NonNull;
use kernel::prelude::*;

/// An owned reference to a dentry.
///
/// # Invariants
///
/// `ptr` is a dentry on which we hold one reference (`dget`), released on
/// drop (`dput`).  While we hold it, a positive dentry stays positive with
/// the same inode (`d_delete` only unhashes a dentry others hold), so the
/// inode outlives every `&Inode` borrowed from `self`.
///
/// # Locking
///
/// `d_inode` and `d_parent` change under the parent directory's inode lock
/// (instantiation, rename), so they are read with `READ_ONCE` semantics
/// when that lock may not be held; `d_sb` is fixed.
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

    pub(super) fn as_ptr(&self) -> *mut bindings::dentry {
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
        // SAFETY: The dentry is alive; a negative dentry may be instantiated
        // meanwhile (`READ_ONCE`), and a positive dentry we hold a reference
        // on keeps its inode for as long as `self` is borrowed (type
        // invariant).
        unsafe {
            let i = read_once(core::ptr::addr_of!((*self.as_ptr()).d_inode));
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

    /// Whether `parent` is this dentry's parent right now.  Stable only
    /// while `parent`'s inode is locked (a rename from or into `parent`
    /// needs that lock).
    pub(crate) fn has_parent(&self, parent: &Dentry) -> bool {
        // SAFETY: The dentry is alive; `d_parent` always points to a live
        // dentry and may change meanwhile (`READ_ONCE`); only compared.
        unsafe { read_once(core::ptr::addr_of!((*self.as_ptr()).d_parent)) == parent.as_ptr() }
    }

    /// Whether both references name the same dentry.
    pub(super) fn same(&self, other: &Dentry) -> bool {
        self.as_ptr() == other.as_ptr()
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

    /// Reads extended attribute `name` into `buf`; returns its length
    /// (`ENOENT` for a negative dentry).
    pub(crate) fn get_xattr(&self, name: &CStr, buf: &mut [u8]) -> Result<usize, Errno> {
        // `vfs_getxattr` dereferences the inode.
        self.inode().ok_or(ENOENT)?;
        // SAFETY: Live positive dentry; `name` is NUL-terminated; `buf` is
        // writable for its length.
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

    /// Checks that this dentry is a directory one may look up in: the VFS
    /// calls `i_op->lookup` without checking (`ENOENT` if negative,
    /// `ENOTDIR` if no directory).
    fn check_lookup_dir(&self) -> Result<(), Errno> {
        self.inode().ok_or(ENOENT)?;
        if !self.can_lookup() {
            return Err(ENOTDIR);
        }
        Ok(())
    }

    /// `lookup_one_len` of `name` in this directory.
    ///
    /// # Safety
    ///
    /// The caller must hold this dentry's inode lock, and this dentry must
    /// be a directory ([`Self::check_lookup_dir`]).
    pub(super) unsafe fn lookup_locked(&self, name: &[u8]) -> Result<Dentry, Errno> {
        let len = i32::try_from(name.len()).map_err(|_| EINVAL)?;
        // `lookup_one_len` takes a length, but stops at no NUL: pass the bytes.
        // SAFETY: `self` is a live directory whose inode the caller locked;
        // `name` is valid for `len` bytes.
        let p = unsafe { bindings::lookup_one_len(name.as_ptr().cast(), self.as_ptr(), len) };
        // SAFETY: A non-error pointer carries a new reference.
        check_ptr(p).map(|p| unsafe { Dentry::from_raw(p) })
    }

    /// Looks up `name` in this directory while `locks` holds it (as one of
    /// the two parents); `EINVAL` if `locks` does not hold this directory.
    pub(crate) fn lookup_renaming(
        &self,
        name: &[u8],
        locks: &RenameLock<'_>,
    ) -> Result<Dentry, Errno> {
        if !locks.holds(self) {
            return Err(EINVAL);
        }
        self.check_lookup_dir()?;
        // SAFETY: `lock_rename` holds this directory's inode lock until
        // `locks` is dropped, and `locks` outlives the call; checked above
        // that it is a directory.
        unsafe { self.lookup_locked(name) }
    }

    /// Looks up `name` in this directory without holding its lock,
    /// requiring a positive result (`lookup_positive_unlocked`: `ENOENT`
    /// for a negative dentry).
    pub(crate) fn lookup_positive(&self, name: &[u8]) -> Result<Dentry, Errno> {
        self.check_lookup_dir()?;
        let len = i32::try_from(name.len()).map_err(|_| EINVAL)?;
        // SAFETY: `self` is a live directory; `name` is valid for `len`
        // bytes; the VFS takes the directory lock itself.
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
