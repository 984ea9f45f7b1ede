// SPDX-License-Identifier: GPL-2.0

//! Owned mount references and the namespace operations done on a mount:
//! mkdir, unlink, link, rename, xattrs, statfs.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h)

use super::{check, Dentry, FileRef, InodeGuard, RenameLock};
use crate::kernel_ext::bindings;
use crate::logic::cmd::Errno;
use core::ptr::NonNull;
use kernel::prelude::*;

/// An owned reference to a mount.
///
/// # Invariants
///
/// `ptr` is a mount on which we hold one reference, dropped with `mntput`.
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

    pub(crate) fn as_ptr(&self) -> *mut bindings::vfsmount {
        self.ptr.as_ptr()
    }

    /// Whether the mount is id-mapped.
    pub(crate) fn is_idmapped(&self) -> bool {
        // SAFETY: The mount is alive.
        unsafe { bindings::cfrs_is_idmapped_mnt(self.as_ptr()) }
    }

    /// `statfs` of the filesystem, asked through `dentry` on this mount.
    pub(crate) fn statfs(&self, dentry: *mut bindings::dentry) -> Result<bindings::kstatfs, Errno> {
        let path = bindings::path {
            mnt: self.as_ptr(),
            dentry,
        };
        let mut st = bindings::kstatfs::default();
        // SAFETY: `path` refers to live objects we hold references to.
        check(unsafe { bindings::vfs_statfs(&path, &mut st) })?;
        Ok(st)
    }

    /// `statfs` of the mounted filesystem, through its root.
    pub(crate) fn statfs_root(&self) -> Result<bindings::kstatfs, Errno> {
        // SAFETY: The mount is alive, so is its root dentry.
        let root = unsafe { (*self.as_ptr()).mnt_root };
        self.statfs(root)
    }

    /// Creates directory `child` (a negative dentry of the locked `dir`).
    pub(crate) fn mkdir(
        &self,
        dir: &Dentry,
        _locked: &InodeGuard<'_>,
        child: &Dentry,
        mode: u16,
    ) -> Result<(), Errno> {
        let dinode = dir.inode().ok_or(crate::logic::cmd::errno::ENOENT)?;
        let path = bindings::path {
            mnt: self.as_ptr(),
            dentry: dir.as_ptr(),
        };
        // SAFETY: Both dentries are alive; the parent is locked.
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
    /// `value`, with write access to the mount held meanwhile.
    pub(crate) fn set_xattr(
        &self,
        dentry: &Dentry,
        name: &CStr,
        value: &[u8],
    ) -> Result<(), Errno> {
        // SAFETY: The mount is alive.
        check(unsafe { bindings::mnt_want_write(self.as_ptr()) })?;
        // SAFETY: Live dentry on this mount; `name` is NUL-terminated and
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

    /// Unlinks `child` from the locked directory `dir`.
    pub(crate) fn unlink(
        &self,
        dir: &Dentry,
        _locked: &InodeGuard<'_>,
        child: &Dentry,
    ) -> Result<(), Errno> {
        let dinode = dir.inode().ok_or(crate::logic::cmd::errno::ENOENT)?;
        // SAFETY: Both dentries are alive; the parent is locked.
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

    /// Moves `old` from `old_dir` to `new` in `new_dir`; `_locks` proves
    /// both parents are locked.
    pub(crate) fn rename(
        &self,
        _locks: &RenameLock<'_>,
        old_dir: &Dentry,
        old: &Dentry,
        new_dir: &Dentry,
        new: &Dentry,
    ) -> Result<(), Errno> {
        let oi = old_dir.inode().ok_or(crate::logic::cmd::errno::ENOENT)?;
        let ni = new_dir.inode().ok_or(crate::logic::cmd::errno::ENOENT)?;
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
        // SAFETY: Both parents are locked by `lock_rename`; all objects are
        // alive.
        check(unsafe { bindings::vfs_rename(&mut rd) })
    }

    /// Links the (unnamed) inode of `file` at `child`, a negative dentry of
    /// the locked directory `dir` (`vfs_link`).
    pub(crate) fn link(
        &self,
        file: &FileRef,
        dir: &Dentry,
        _locked: &InodeGuard<'_>,
        child: &Dentry,
    ) -> Result<(), Errno> {
        let dinode = dir.inode().ok_or(crate::logic::cmd::errno::ENOENT)?;
        // SAFETY: The file pins its dentry; `dir` is locked and `child` is
        // its child.
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
