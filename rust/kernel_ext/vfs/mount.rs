// SPDX-License-Identifier: GPL-2.0

//! Owned mount references and the namespace operations done on a mount:
//! mkdir, unlink, link, rename, xattrs, statfs.
//!
//! The operations that change a directory take the proof that its inode
//! lock is held: a [`DirGuard`] (mkdir, unlink, link) or the
//! [`RenameLock`] of both parents (rename), checked to hold the
//! directories named.  Each also checks that the child it is given is a
//! child of that directory (`EINVAL` otherwise): the VFS assumes so.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h)

use super::{check, Dentry, DirGuard, FileRef, RenameLock};
use crate::kernel_ext::bindings;
use crate::logic::errno::{Errno, EINVAL, ENOENT};
use core::ptr::NonNull;
use kernel::prelude::*;

/// An owned reference to a mount.
///
/// # Invariants
///
/// `ptr` is a mount on which we hold one reference, dropped with `mntput`.
/// That reference keeps the mount and its superblock alive, not the
/// dentries of the filesystem: they are referenced separately ([`Dentry`]).
pub(crate) struct Mount {
    ptr: NonNull<bindings::vfsmount>,
}

// SAFETY: Mount references may be used and dropped from any thread.
unsafe impl Send for Mount {}
// SAFETY: The methods only read immutable fields.
unsafe impl Sync for Mount {}

impl Mount {
    /// Takes ownership of a mount reference.
    ///
    /// # Safety
    ///
    /// `ptr` must carry a reference that the caller hands over.
    pub(super) unsafe fn from_raw(ptr: NonNull<bindings::vfsmount>) -> Self {
        // INVARIANT: Guaranteed by the caller.
        Mount { ptr }
    }

    pub(super) fn as_ptr(&self) -> *mut bindings::vfsmount {
        self.ptr.as_ptr()
    }

    /// Whether the mount is id-mapped.
    pub(crate) fn is_idmapped(&self) -> bool {
        // SAFETY: The mount is alive.
        unsafe { bindings::cfrs_is_idmapped_mnt(self.as_ptr()) }
    }

    /// `statfs` of the filesystem of `dentry`, asked through this mount.
    ///
    /// # Safety
    ///
    /// `dentry` must be a live dentry (referenced for the call).
    unsafe fn statfs_raw(&self, dentry: *mut bindings::dentry) -> Result<bindings::kstatfs, Errno> {
        let path = bindings::path {
            mnt: self.as_ptr(),
            dentry,
        };
        let mut st = bindings::kstatfs::default();
        // SAFETY: The mount is alive (type invariant), the dentry by the
        // caller's guarantee; `vfs_statfs` only reads them.
        check(unsafe { bindings::vfs_statfs(&path, &mut st) })?;
        Ok(st)
    }

    /// `statfs` of the filesystem, asked through `dentry` on this mount.
    pub(crate) fn statfs(&self, dentry: &Dentry) -> Result<bindings::kstatfs, Errno> {
        // SAFETY: We hold a reference on `dentry`.
        unsafe { self.statfs_raw(dentry.as_ptr()) }
    }

    /// `statfs` of the mounted filesystem, through its root.
    pub(crate) fn statfs_root(&self) -> Result<bindings::kstatfs, Errno> {
        // SAFETY: The mount is alive; `mnt_root` is fixed and pinned by it.
        let root = unsafe { (*self.as_ptr()).mnt_root };
        // SAFETY: The root dentry lives as long as the mount we hold.
        unsafe { self.statfs_raw(root) }
    }

    /// Creates directory `child`, a negative dentry of the locked `dir`
    /// (`EINVAL` if `child` is not in `dir`).
    pub(crate) fn mkdir(&self, dir: &DirGuard<'_>, child: &Dentry, mode: u16) -> Result<(), Errno> {
        let dir = dir.dentry();
        let dinode = dir.inode().ok_or(ENOENT)?;
        if !child.has_parent(dir) {
            return Err(EINVAL);
        }
        let path = bindings::path {
            mnt: self.as_ptr(),
            dentry: dir.as_ptr(),
        };
        // SAFETY: Both dentries are alive; the parent is locked (by the
        // `DirGuard`) and `child` is its child, which the lock keeps so.
        check(unsafe { bindings::cfrs_security_path_mkdir(&path, child.as_ptr(), mode) })?;
        // SAFETY: As above; `nop_mnt_idmap` is the kernel's static identity
        // mapping.
        check(unsafe {
            bindings::vfs_mkdir(
                core::ptr::addr_of_mut!(bindings::nop_mnt_idmap),
                dinode.as_ptr(),
                child.as_ptr(),
                mode,
            )
        })
    }

    /// Sets extended attribute `name` of `dentry` (on this mount) to
    /// `value`, with write access to the mount held meanwhile (`ENOENT`
    /// for a negative dentry).
    pub(crate) fn set_xattr(
        &self,
        dentry: &Dentry,
        name: &CStr,
        value: &[u8],
    ) -> Result<(), Errno> {
        // `vfs_setxattr` locks the inode without checking there is one.
        dentry.inode().ok_or(ENOENT)?;
        // SAFETY: The mount is alive.
        check(unsafe { bindings::mnt_want_write(self.as_ptr()) })?;
        // SAFETY: Live positive dentry; `name` is NUL-terminated and
        // `value` valid for its length.
        let ret = unsafe {
            bindings::vfs_setxattr(
                core::ptr::addr_of_mut!(bindings::nop_mnt_idmap),
                dentry.as_ptr(),
                name.as_char_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        };
        // SAFETY: Paired with the successful `mnt_want_write` above.
        unsafe { bindings::mnt_drop_write(self.as_ptr()) };
        check(ret)
    }

    /// Checks with the LSM that `child` of `dir` may be unlinked.
    pub(crate) fn may_unlink(&self, dir: &Dentry, child: &Dentry) -> Result<(), Errno> {
        let path = bindings::path {
            mnt: self.as_ptr(),
            dentry: dir.as_ptr(),
        };
        // SAFETY: Both dentries are alive.
        check(unsafe { bindings::cfrs_security_path_unlink(&path, child.as_ptr()) })
    }

    /// Unlinks `child` from the locked directory `dir` (`EINVAL` if
    /// `child` is not in `dir`).
    pub(crate) fn unlink(&self, dir: &DirGuard<'_>, child: &Dentry) -> Result<(), Errno> {
        let dir = dir.dentry();
        let dinode = dir.inode().ok_or(ENOENT)?;
        if !child.has_parent(dir) {
            return Err(EINVAL);
        }
        // SAFETY: Both dentries are alive; the parent is locked (by the
        // `DirGuard`) and `child` is its child (`vfs_unlink` BUGs if not).
        check(unsafe {
            bindings::vfs_unlink(
                core::ptr::addr_of_mut!(bindings::nop_mnt_idmap),
                dinode.as_ptr(),
                child.as_ptr(),
                core::ptr::null_mut(),
            )
        })
    }

    /// Checks with the LSM that `old` of `old_dir` may move to `new` of
    /// `new_dir`.
    pub(crate) fn may_rename(
        &self,
        old_dir: &Dentry,
        old: &Dentry,
        new_dir: &Dentry,
        new: &Dentry,
    ) -> Result<(), Errno> {
        let op = bindings::path {
            mnt: self.as_ptr(),
            dentry: old_dir.as_ptr(),
        };
        let np = bindings::path {
            mnt: self.as_ptr(),
            dentry: new_dir.as_ptr(),
        };
        // SAFETY: All dentries are alive.
        check(unsafe { bindings::cfrs_security_path_rename(&op, old.as_ptr(), &np, new.as_ptr()) })
    }

    /// Moves `old` from `old_dir` to `new` in `new_dir`; `locks` must hold
    /// both parents, `old` and `new` be their children and neither be the
    /// ancestor `lock_rename` reported (else `EINVAL`: the VFS would BUG or
    /// make a directory loop).
    pub(crate) fn rename(
        &self,
        locks: &RenameLock<'_>,
        old_dir: &Dentry,
        old: &Dentry,
        new_dir: &Dentry,
        new: &Dentry,
    ) -> Result<(), Errno> {
        let oi = old_dir.inode().ok_or(ENOENT)?;
        let ni = new_dir.inode().ok_or(ENOENT)?;
        if !locks.holds(old_dir)
            || !locks.holds(new_dir)
            || !old.has_parent(old_dir)
            || !new.has_parent(new_dir)
            || locks.is_trap(old)
            || locks.is_trap(new)
        {
            return Err(EINVAL);
        }
        let idmap = core::ptr::addr_of_mut!(bindings::nop_mnt_idmap);
        let mut rd = bindings::renamedata {
            old_mnt_idmap: idmap,
            old_dir: oi.as_ptr(),
            old_dentry: old.as_ptr(),
            new_mnt_idmap: idmap,
            new_dir: ni.as_ptr(),
            new_dentry: new.as_ptr(),
            ..Default::default()
        };
        // SAFETY: Both parents are locked by `lock_rename` (`locks`, checked
        // above, held for the call); all objects are alive; `old` and `new`
        // are children of their parents, which the locks keep so.
        check(unsafe { bindings::vfs_rename(&mut rd) })
    }

    /// Links the (unnamed) inode of `file` at `child`, a negative dentry of
    /// the locked directory `dir` (`vfs_link`; `EINVAL` if `child` is not
    /// in `dir`).
    pub(crate) fn link(
        &self,
        file: &FileRef,
        dir: &DirGuard<'_>,
        child: &Dentry,
    ) -> Result<(), Errno> {
        let dir = dir.dentry();
        let dinode = dir.inode().ok_or(ENOENT)?;
        if !child.has_parent(dir) {
            return Err(EINVAL);
        }
        // SAFETY: The file pins its dentry; `dir` is locked (by the
        // `DirGuard`) and `child` is its child.
        check(unsafe {
            bindings::vfs_link(
                (*file.as_ptr()).f_path.dentry,
                core::ptr::addr_of_mut!(bindings::nop_mnt_idmap),
                dinode.as_ptr(),
                child.as_ptr(),
                core::ptr::null_mut(),
            )
        })
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        // SAFETY: We own one reference (type invariant).
        unsafe { bindings::mntput(self.as_ptr()) };
    }
}
