// SPDX-License-Identifier: GPL-2.0

//! The VFS objects the cache works on: mounts, dentries, inodes, paths and
//! credentials, with owned references that are released on drop.
//!
//! C headers: [`include/linux/dcache.h`](srctree/include/linux/dcache.h),
//! [`include/linux/namei.h`](srctree/include/linux/namei.h),
//! [`include/linux/cred.h`](srctree/include/linux/cred.h)

use crate::kernel_ext::bindings;
use crate::logic::cmd::Errno;
use core::ptr::NonNull;
use kernel::prelude::*;

/// Converts a C return value (0 or a negative errno) into a `Result`.
pub(crate) fn check(ret: kernel::ffi::c_int) -> Result<(), Errno> {
    if ret < 0 {
        Err(Errno(-ret))
    } else {
        Ok(())
    }
}

/// Converts a pointer that may be an `ERR_PTR` (or null, `ENOMEM`).
pub(crate) fn check_ptr<T>(ptr: *mut T) -> Result<NonNull<T>, Errno> {
    let v = ptr as isize;
    if (-(bindings::MAX_ERRNO as isize)..0).contains(&v) {
        return Err(Errno(-v as i32));
    }
    NonNull::new(ptr).ok_or(crate::logic::cmd::errno::ENOMEM)
}

/// Whether the current task has `CAP_SYS_ADMIN`.
pub(crate) fn capable_sys_admin() -> bool {
    // SAFETY: `capable` may be called from any process context.
    unsafe { bindings::capable(bindings::CFRS_CAP_SYS_ADMIN) }
}

/// Wall-clock seconds (`ktime_get_real_seconds`).
pub(crate) fn real_seconds() -> i64 {
    // SAFETY: Always safe to call.
    unsafe { bindings::ktime_get_real_seconds() }
}

/// Yields the CPU if a reschedule is due.
pub(crate) fn cond_resched() {
    // SAFETY: Called from process context without spinlocks held.
    unsafe { bindings::cfrs_cond_resched() }
}

/// Converts a security context to a secid (`security_secctx_to_secid`).
pub(crate) fn secctx_to_secid(ctx: &[u8]) -> Result<u32, Errno> {
    let mut secid = 0u32;
    let len = u32::try_from(ctx.len()).map_err(|_| crate::logic::cmd::errno::EINVAL)?;
    // SAFETY: `ctx` is valid for `len` bytes; the LSM does not keep it.
    check(unsafe { bindings::security_secctx_to_secid(ctx.as_ptr().cast(), len, &mut secid) })?;
    Ok(secid)
}

/// An inode, only ever seen behind a reference derived from a dentry
/// reference (which keeps it alive).
#[repr(transparent)]
pub(crate) struct Inode(kernel::types::Opaque<bindings::inode>);

/// Inode flag: the inode is in use by the cache (`S_KERNEL_FILE`).
pub(crate) const S_KERNEL_FILE: u32 = bindings::CFRS_S_KERNEL_FILE;

impl Inode {
    fn as_ptr(&self) -> *mut bindings::inode {
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
}

/// A held inode lock; unlocks on drop.
pub(crate) struct InodeGuard<'a> {
    inode: &'a Inode,
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
    unsafe fn from_raw(ptr: NonNull<bindings::dentry>) -> Self {
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
}

impl Dentry {
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
}

impl Drop for Dentry {
    fn drop(&mut self) {
        // SAFETY: We own one reference (type invariant).
        unsafe { bindings::dput(self.as_ptr()) };
    }
}

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
}

impl Drop for Mount {
    fn drop(&mut self) {
        // SAFETY: We own one reference (type invariant).
        unsafe { bindings::mntput(self.as_ptr()) };
    }
}

/// A (mount, dentry) pair with a reference on each.
pub(crate) struct Path {
    pub(crate) mnt: Mount,
    pub(crate) dentry: Dentry,
}

impl Path {
    /// Resolves `name` (`kern_path`), requiring a directory if `dir`.
    pub(crate) fn lookup(name: &CStr, dir: bool) -> Result<Path, Errno> {
        let mut p = bindings::path::default();
        let flags = if dir {
            bindings::CFRS_LOOKUP_DIRECTORY
        } else {
            0
        };
        // SAFETY: `name` is NUL-terminated; `p` receives references.
        check(unsafe { bindings::kern_path(name.as_char_ptr(), flags, &mut p) })?;
        // SAFETY: `kern_path` succeeded, so `p` holds a reference on each.
        Ok(unsafe { Path::from_raw(p) })
    }

    /// The current task's working directory.
    pub(crate) fn pwd() -> Path {
        let mut p = bindings::path::default();
        // SAFETY: Called in process context; fills `p` with references.
        unsafe { bindings::cfrs_get_fs_pwd(&mut p) };
        // SAFETY: `get_fs_pwd` took a reference on both.
        unsafe { Path::from_raw(p) }
    }

    /// # Safety
    ///
    /// `p` must hold a reference on both its members, handed over.
    unsafe fn from_raw(p: bindings::path) -> Path {
        // SAFETY: By the function's requirements, both are non-null and
        // referenced.
        unsafe {
            Path {
                mnt: Mount {
                    ptr: NonNull::new_unchecked(p.mnt),
                },
                dentry: Dentry::from_raw(NonNull::new_unchecked(p.dentry)),
            }
        }
    }
}

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

/// An owned reference to a set of credentials.
///
/// # Invariants
///
/// `ptr` holds one reference, put on drop.
pub(crate) struct Cred {
    ptr: NonNull<bindings::cred>,
}

// SAFETY: Credentials are reference counted and immutable once committed
// or used as an override.
unsafe impl Send for Cred {}
// SAFETY: As above.
unsafe impl Sync for Cred {}

impl Cred {
    /// Kernel credentials based on the current task's (`prepare_kernel_cred`).
    pub(crate) fn kernel() -> Result<Cred, Errno> {
        // SAFETY: `current` is a live task.
        let p = unsafe { bindings::prepare_kernel_cred(bindings::get_current()) };
        // INVARIANT: A non-null result carries a reference.
        NonNull::new(p)
            .map(|ptr| Cred { ptr })
            .ok_or(crate::logic::cmd::errno::ENOMEM)
    }

    /// A copy of the current (possibly overridden) credentials.
    pub(crate) fn current_copy() -> Result<Cred, Errno> {
        // SAFETY: Process context.
        let p = unsafe { bindings::prepare_creds() };
        // INVARIANT: A non-null result carries a reference.
        NonNull::new(p)
            .map(|ptr| Cred { ptr })
            .ok_or(crate::logic::cmd::errno::ENOMEM)
    }

    /// Acts with LSM identity `secid` (`set_security_override`).
    pub(crate) fn set_secid(&mut self, secid: u32) -> Result<(), Errno> {
        // SAFETY: We own the only reference to these fresh credentials.
        check(unsafe { bindings::set_security_override(self.ptr.as_ptr(), secid) })
    }

    /// Creates files as `dir`'s LSM context dictates (`set_create_files_as`).
    pub(crate) fn create_files_as(&mut self, dir: &Dentry) -> Result<(), Errno> {
        let inode = dir.inode().ok_or(crate::logic::cmd::errno::ENOENT)?;
        // SAFETY: Fresh credentials we own; a live inode.
        check(unsafe { bindings::set_create_files_as(self.ptr.as_ptr(), inode.as_ptr()) })
    }

    /// Acts with these credentials until the guard is dropped.
    pub(crate) fn override_current(&self) -> CredOverride<'_> {
        // SAFETY: The credentials are valid and outlive the guard.
        let old = unsafe { bindings::override_creds(self.ptr.as_ptr()) };
        CredOverride { old, _cred: self }
    }
}

impl Drop for Cred {
    fn drop(&mut self) {
        // SAFETY: We own one reference.
        unsafe { bindings::cfrs_put_cred(self.ptr.as_ptr()) };
    }
}

/// Checks with the LSM that the cache may make directories and files in
/// `root` (the check of C's `cachefiles_check_cache_dir`).
pub(crate) fn may_create_in(root: &Dentry) -> Result<(), Errno> {
    let inode = root.inode().ok_or(crate::logic::cmd::errno::ENOENT)?;
    // SAFETY: Live inode and dentry.
    check(unsafe { bindings::security_inode_mkdir(inode.as_ptr(), root.as_ptr(), 0) })
        .inspect_err(|e| {
            pr_err!("Security denies permission to make dirs: error {}", -e.0);
        })?;
    // SAFETY: As above.
    check(unsafe { bindings::security_inode_create(inode.as_ptr(), root.as_ptr(), 0) }).inspect_err(
        |e| {
            pr_err!("Security denies permission to create files: error {}", -e.0);
        },
    )
}

/// Credentials in force until drop, which restores the previous ones.
pub(crate) struct CredOverride<'a> {
    old: *const bindings::cred,
    _cred: &'a Cred,
}

impl Drop for CredOverride<'_> {
    fn drop(&mut self) {
        // SAFETY: `old` came from `override_creds` on this task.
        unsafe { bindings::revert_creds(self.old) };
    }
}

impl Dentry {
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

impl Inode {
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

/// Where [`FileRef::llseek`] looks from.
#[derive(Clone, Copy)]
pub(crate) enum Whence {
    /// The next data at or after the offset (`SEEK_DATA`).
    Data,
    /// The next hole at or after the offset (`SEEK_HOLE`).
    Hole,
}

/// A counted reference to an open file (`struct file`).
///
/// # Invariants
///
/// `ptr` is an open file on which we hold one reference, put on drop
/// (`fput`).
#[repr(transparent)]
pub(crate) struct FileRef {
    ptr: NonNull<bindings::file>,
}

// SAFETY: File references may be used and put from any thread.
unsafe impl Send for FileRef {}
// SAFETY: The methods go through the VFS, which synchronises file access.
unsafe impl Sync for FileRef {}

impl FileRef {
    /// Takes ownership of a file reference.
    ///
    /// # Safety
    ///
    /// `ptr` must carry a reference the caller hands over.
    pub(crate) unsafe fn from_raw(ptr: NonNull<bindings::file>) -> Self {
        // INVARIANT: Guaranteed by the caller.
        FileRef { ptr }
    }

    /// Gives up ownership of the reference, returning the raw pointer.
    pub(crate) fn into_raw(self) -> *mut bindings::file {
        let p = self.ptr.as_ptr();
        core::mem::forget(self);
        p
    }

    pub(crate) fn as_ptr(&self) -> *mut bindings::file {
        self.ptr.as_ptr()
    }

    /// Opens `dentry` on `mnt` for cache I/O (read-write, large, direct),
    /// with `cred` (`kernel_file_open`).
    pub(crate) fn open_backing(mnt: &Mount, dentry: &Dentry, cred: &Cred) -> Result<Self, Errno> {
        let path = bindings::path {
            mnt: mnt.as_ptr(),
            dentry: dentry.as_ptr(),
        };
        // SAFETY: The mount, dentry and credentials are alive; the VFS takes
        // its own references on the path.
        let p = unsafe {
            bindings::kernel_file_open(&path, bindings::CFRS_O_BACKING as i32, cred.ptr.as_ptr())
        };
        // INVARIANT: A non-error pointer is an open file with a reference.
        check_ptr(p).map(|ptr| FileRef { ptr })
    }

    /// Creates an unnamed regular file (mode 0600) in `dir` on `mnt`, open
    /// for cache I/O (`kernel_tmpfile_open`).
    pub(crate) fn tmpfile(mnt: &Mount, dir: &Dentry, cred: &Cred) -> Result<Self, Errno> {
        let path = bindings::path {
            mnt: mnt.as_ptr(),
            dentry: dir.as_ptr(),
        };
        // SAFETY: As in `open_backing`; `nop_mnt_idmap` is the kernel's
        // static identity mapping.
        let p = unsafe {
            bindings::kernel_tmpfile_open(
                core::ptr::addr_of_mut!(bindings::nop_mnt_idmap),
                &path,
                bindings::CFRS_S_IFREG_0600 as u16,
                bindings::CFRS_O_BACKING as i32,
                cred.ptr.as_ptr(),
            )
        };
        // INVARIANT: As in `open_backing`.
        check_ptr(p).map(|ptr| FileRef { ptr })
    }

    /// The file's dentry, with a new reference.
    pub(crate) fn dentry(&self) -> Dentry {
        // SAFETY: An open file pins its dentry; `dget` takes a reference.
        unsafe {
            let d = bindings::cfrs_dget((*self.as_ptr()).f_path.dentry);
            Dentry::from_raw(NonNull::new_unchecked(d))
        }
    }

    /// The file's inode.
    pub(crate) fn inode(&self) -> &Inode {
        // SAFETY: An open file pins its inode for as long as it is open.
        unsafe { &*((*self.as_ptr()).f_inode as *const Inode) }
    }

    /// Whether the file supports `read_iter` and `write_iter`.
    pub(crate) fn has_rw_iter(&self) -> bool {
        // SAFETY: An open file has a valid `f_op`.
        unsafe {
            let op = (*self.as_ptr()).f_op;
            (*op).read_iter.is_some() && (*op).write_iter.is_some()
        }
    }

    /// `vfs_llseek`: the new position or an errno.
    pub(crate) fn llseek(&self, offset: i64, whence: Whence) -> Result<i64, Errno> {
        let w = match whence {
            Whence::Data => bindings::CFRS_SEEK_DATA,
            Whence::Hole => bindings::CFRS_SEEK_HOLE,
        };
        self.llseek_raw(offset, w)
    }

    /// `vfs_llseek` with a raw `whence` from user space (checked by the
    /// VFS/filesystem).
    pub(crate) fn llseek_raw(&self, offset: i64, whence: i32) -> Result<i64, Errno> {
        // SAFETY: The file is open.
        let r = unsafe { bindings::vfs_llseek(self.as_ptr(), offset, whence) };
        if (-(bindings::MAX_ERRNO as i64)..0).contains(&r) {
            Err(Errno(-r as i32))
        } else {
            Ok(r)
        }
    }

    /// Sets the file's size (`vfs_truncate`).
    pub(crate) fn truncate(&self, size: i64) -> Result<(), Errno> {
        // SAFETY: The file is open, so its path is valid.
        check(unsafe { bindings::vfs_truncate(&(*self.as_ptr()).f_path, size) } as i32)
    }

    /// Updates the access time (`touch_atime`).
    pub(crate) fn touch_atime(&self) {
        // SAFETY: The file is open, so its path is valid.
        unsafe { bindings::touch_atime(&(*self.as_ptr()).f_path) };
    }

    /// Sets extended attribute `name` with write access to the file's mount
    /// held meanwhile.
    pub(crate) fn set_xattr(&self, name: &CStr, value: &[u8]) -> Result<(), Errno> {
        // SAFETY: The file is open.
        check(unsafe { bindings::mnt_want_write_file(self.as_ptr()) })?;
        // SAFETY: The file pins its dentry; `name` is NUL-terminated and
        // `value` valid for its length.
        let ret = unsafe {
            bindings::vfs_setxattr(
                core::ptr::addr_of_mut!(bindings::nop_mnt_idmap),
                (*self.as_ptr()).f_path.dentry,
                name.as_char_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        };
        // SAFETY: Paired with the successful `mnt_want_write_file`.
        unsafe { bindings::mnt_drop_write_file(self.as_ptr()) };
        check(ret)
    }

    /// Reads extended attribute `name` into `buf`; returns its length.
    pub(crate) fn get_xattr(&self, name: &CStr, buf: &mut [u8]) -> Result<usize, Errno> {
        self.dentry().get_xattr(name, buf)
    }
}

impl Clone for FileRef {
    fn clone(&self) -> Self {
        // SAFETY: We hold a reference, so the file is alive; `get_file`
        // takes another one (and returns its argument).
        unsafe { bindings::cfrs_get_file(self.as_ptr()) };
        // INVARIANT: The new reference is owned by the clone.
        FileRef { ptr: self.ptr }
    }
}

impl FileRef {
    /// Synchronous direct I/O at `pos` through `iter`; returns the bytes
    /// moved or a negative errno (as `vfs_iocb_iter_read/write` do).
    fn direct_io(&self, pos: i64, iter: &mut IovIter, write: bool) -> isize {
        let mut iocb = core::mem::MaybeUninit::<bindings::kiocb>::uninit();
        // SAFETY: The helper initialises every field of `iocb`: a
        // synchronous kiocb (no completion callback) on this open file.
        unsafe { bindings::cfrs_init_dio_kiocb(iocb.as_mut_ptr(), self.as_ptr(), pos, write) };
        // Cache I/O must not recurse into filesystem reclaim.
        // SAFETY: Paired with the restore below on this task.
        let nofs = unsafe { bindings::cfrs_memalloc_nofs_save() };
        // SAFETY: `iocb` is initialised and synchronous, so the VFS is done
        // with it (and with `iter`) when the call returns.
        let ret = unsafe {
            if write {
                bindings::vfs_iocb_iter_write(self.as_ptr(), iocb.as_mut_ptr(), iter.as_ptr())
            } else {
                bindings::vfs_iocb_iter_read(self.as_ptr(), iocb.as_mut_ptr(), iter.as_ptr())
            }
        };
        // SAFETY: `nofs` came from the save above.
        unsafe { bindings::cfrs_memalloc_nofs_restore(nofs) };
        ret
    }

    /// Reads at `pos` into `iter` with synchronous direct I/O; returns the
    /// bytes read.
    pub(crate) fn read_direct(&self, pos: i64, iter: &mut IovIter) -> Result<usize, Errno> {
        io_result(self.direct_io(pos, iter, false))
    }

    /// Writes `iter` at `pos` with synchronous direct I/O; returns the
    /// bytes written.
    pub(crate) fn write_direct(&self, pos: i64, iter: &mut IovIter) -> Result<usize, Errno> {
        io_result(self.direct_io(pos, iter, true))
    }
}

/// Converts what a VFS I/O call returns (a byte count or a negative errno).
/// Nobody can replay the call here, so a restart request (`ERESTARTSYS`
/// .. `ERESTART_RESTARTBLOCK`, 512..=516, never meant for user space) is
/// reported as an interruption.
fn io_result(ret: isize) -> Result<usize, Errno> {
    use crate::logic::cmd::errno::{EINTR, EIO};
    if let Ok(n) = usize::try_from(ret) {
        return Ok(n);
    }
    match ret.checked_neg().and_then(|e| i32::try_from(e).ok()) {
        Some(512..=516) => Err(EINTR),
        Some(e) => Err(Errno(e)),
        None => Err(EIO),
    }
}

/// A data buffer iterator (`struct iov_iter`) owned by the caller of a
/// file or netfs operation.
#[repr(transparent)]
pub(crate) struct IovIter(kernel::types::Opaque<bindings::iov_iter>);

impl IovIter {
    /// Borrows an iterator handed to a callback.
    ///
    /// # Safety
    ///
    /// `ptr` must be a valid iterator, not used by anyone else for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::iov_iter) -> &'a mut IovIter {
        // SAFETY: `IovIter` is transparent over the C type; the caller
        // guarantees validity and exclusivity.
        unsafe { &mut *ptr.cast::<IovIter>() }
    }

    fn as_ptr(&mut self) -> *mut bindings::iov_iter {
        self.0.get()
    }

    /// Bytes left in the iterator.
    pub(crate) fn count(&self) -> usize {
        // SAFETY: A valid iterator (see `from_raw`).
        unsafe { bindings::cfrs_iov_iter_count(self.0.get()) }
    }

    /// Fills the next `n` bytes with zeroes, advancing the iterator.
    pub(crate) fn zero(&mut self, n: usize) {
        // SAFETY: A valid iterator we have exclusive use of.
        unsafe { bindings::iov_iter_zero(n, self.as_ptr()) };
    }
}

impl Drop for FileRef {
    fn drop(&mut self) {
        // SAFETY: We own one reference.
        unsafe { bindings::fput(self.as_ptr()) };
    }
}

impl Mount {
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
