// SPDX-License-Identifier: GPL-2.0

//! The VFS objects the cache works on: mounts, dentries, inodes, paths and
//! credentials, with owned references that are released on drop.
//!
//! C headers: [`include/linux/dcache.h`](srctree/include/linux/dcache.h),
//! [`include/linux/namei.h`](srctree/include/linux/namei.h),
//! [`include/linux/cred.h`](srctree/include/linux/cred.h)
//!
//! One concept per file: [`inode`], [`dentry`], [`dir`], [`mount`], [`path`],
//! [`rename`], [`file`] (and [`aio`], its asynchronous reads and writes), [`iov`],
//! [`cred`]; the items are re-exported here.

mod aio;
mod cred;
mod dentry;
mod dir;
mod file;
mod inode;
mod iov;
mod mount;
mod path;
mod rename;

pub(crate) use aio::{IoDir, IoDone};
pub(crate) use cred::Cred;
pub(crate) use dentry::Dentry;
pub(crate) use dir::DirGuard;
pub(crate) use file::{FileRef, IoMode, Whence};
pub(crate) use inode::{Inode, InodeGuard, S_KERNEL_FILE};
pub(crate) use iov::IovIter;
pub(crate) use mount::Mount;
pub(crate) use path::Path;
pub(crate) use rename::RenameLock;

use crate::kernel_ext::bindings;
use crate::logic::errno::Errno;
use core::ptr::NonNull;
use kernel::prelude::*;

/// Reads a C field that other CPUs may write meanwhile, with the semantics
/// of C's `READ_ONCE` (a volatile load, as the `kernel` crate does for
/// marked accesses): the value may be stale, but the read is not a data
/// race in the kernel memory model.
///
/// # Safety
///
/// `p` must be valid for reads and aligned, and the field at most one
/// machine word (so the load is single-copy atomic).
pub(super) unsafe fn read_once<T: Copy>(p: *const T) -> T {
    // SAFETY: Guaranteed by the caller.
    unsafe { core::ptr::read_volatile(p) }
}

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
    NonNull::new(ptr).ok_or(crate::logic::errno::ENOMEM)
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
    let len = u32::try_from(ctx.len()).map_err(|_| crate::logic::errno::EINVAL)?;
    // SAFETY: `ctx` is valid for `len` bytes; the LSM does not keep it.
    check(unsafe { bindings::security_secctx_to_secid(ctx.as_ptr().cast(), len, &mut secid) })?;
    Ok(secid)
}

/// Checks with the LSM that the cache may make directories and files in
/// `root` (the check of C's `cachefiles_check_cache_dir`).
pub(crate) fn may_create_in(root: &Dentry) -> Result<(), Errno> {
    let inode = root.inode().ok_or(crate::logic::errno::ENOENT)?;
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
