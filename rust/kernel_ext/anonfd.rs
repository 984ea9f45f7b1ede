// SPDX-License-Identifier: GPL-2.0

//! Anonymous-inode files handed to user space, whose file operations are
//! a Rust trait (the on-demand "[cachefiles]" fds).
//!
//! C headers: [`include/linux/anon_inodes.h`](srctree/include/linux/anon_inodes.h),
//! [`include/linux/file.h`](srctree/include/linux/file.h)
//!
//! [`PendingFd`] reserves an fd number and makes the file; the fd only
//! becomes visible to user space with [`PendingFd::install`], so a caller
//! can still back out (after a failed `copy_to_user`, say) without ever
//! exposing it.

use crate::kernel_ext::bindings;
use crate::kernel_ext::vfs::IovIter;
use crate::logic::cmd::Errno;
use core::ptr::NonNull;
use kernel::prelude::*;
use kernel::sync::Arc;

/// The operations of an anonymous file; `Self` is kept in
/// `private_data` as an `Arc` from creation to `release`.
pub(crate) trait AnonFdOps: Send + Sync + Sized + 'static {
    /// The last reference to the file went away.
    fn release(this: Arc<Self>);
    /// `write()`/`pwrite()` of `iter` at `pos`; returns the bytes written
    /// (the file position then advances by as many).
    fn write_iter(this: &Self, pos: i64, iter: &mut IovIter) -> Result<usize, Errno>;
    /// Whether `splice()` into the file is accepted (its pipe pages then
    /// go through [`AnonFdOps::write_iter`]); if not, it fails with
    /// `EINVAL`, as for a file without `splice_write`.
    fn splice_write_allowed(_this: &Self) -> bool {
        false
    }
    /// `lseek()`.
    fn llseek(this: &Self, pos: i64, whence: i32) -> Result<i64, Errno>;
    /// `ioctl()`.
    fn ioctl(this: &Self, cmd: u32, arg: usize) -> Result<i64, Errno>;
}

/// Builds the `file_operations` of `T`, owned by `owner` (the module).
pub(crate) const fn fops<T: AnonFdOps>(owner: *mut bindings::module) -> bindings::file_operations {
    bindings::file_operations {
        owner,
        release: Some(release_callback::<T>),
        write_iter: Some(write_iter_callback::<T>),
        splice_write: Some(splice_write_callback::<T>),
        llseek: Some(llseek_callback::<T>),
        unlocked_ioctl: Some(ioctl_callback::<T>),
        // SAFETY: All-zero is a valid `file_operations`.
        ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
    }
}

/// # Safety
///
/// `file` is an open file made by [`PendingFd::new`] for `T`.
unsafe fn state<'a, T: AnonFdOps>(file: *mut bindings::file) -> Option<&'a T> {
    // SAFETY: `private_data` is null or an `Arc<T>` owned by the file until
    // `release`, which cannot run concurrently with other callbacks.
    unsafe { ((*file).private_data as *const T).as_ref() }
}

/// # Safety
///
/// Called by the VFS on the last put of a file made by [`PendingFd::new`].
unsafe extern "C" fn release_callback<T: AnonFdOps>(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> kernel::ffi::c_int {
    // SAFETY: The file is being released; nobody else uses `private_data`.
    let p = unsafe { core::mem::replace(&mut (*file).private_data, core::ptr::null_mut()) };
    if !p.is_null() {
        // SAFETY: A non-null `private_data` is the file's `Arc<T>`.
        T::release(unsafe { Arc::from_raw(p as *const T) });
    }
    0
}

/// # Safety
///
/// Called by the VFS with a valid kiocb on a file made for `T`, and a
/// valid iterator.
unsafe extern "C" fn write_iter_callback<T: AnonFdOps>(
    iocb: *mut bindings::kiocb,
    iter: *mut bindings::iov_iter,
) -> isize {
    // SAFETY: Guaranteed by the caller.
    let Some(this) = (unsafe { state::<T>((*iocb).ki_filp) }) else {
        return -(crate::logic::cmd::errno::ENOBUFS.0 as isize);
    };
    // SAFETY: Guaranteed by the caller.
    let (pos, iter) = unsafe { ((*iocb).ki_pos, IovIter::from_raw(iter)) };
    match T::write_iter(this, pos, iter) {
        Ok(n) => {
            // SAFETY: The kiocb is valid; `n` is at most the iterator's
            // length, which the VFS bounded by `MAX_RW_COUNT`.
            unsafe { (*iocb).ki_pos = pos.wrapping_add(n as i64) };
            n as isize
        }
        Err(e) => -(e.0 as isize),
    }
}

/// # Safety
///
/// Called by the VFS (`do_splice_from`) with a locked, valid pipe and a
/// file made for `T` open for writing.
unsafe extern "C" fn splice_write_callback<T: AnonFdOps>(
    pipe: *mut bindings::pipe_inode_info,
    out: *mut bindings::file,
    ppos: *mut bindings::loff_t,
    len: usize,
    flags: kernel::ffi::c_uint,
) -> isize {
    // SAFETY: Guaranteed by the caller.
    let allowed = unsafe { state::<T>(out) }.is_some_and(T::splice_write_allowed);
    if !allowed {
        return -(crate::logic::cmd::errno::EINVAL.0 as isize);
    }
    // SAFETY: The caller's arguments, as `do_splice_from` passes them; the
    // generic helper writes the pipe's pages through `write_iter`.
    unsafe { bindings::iter_file_splice_write(pipe, out, ppos, len, flags) }
}

/// # Safety
///
/// Called by the VFS on a file made for `T`.
unsafe extern "C" fn llseek_callback<T: AnonFdOps>(
    file: *mut bindings::file,
    pos: bindings::loff_t,
    whence: kernel::ffi::c_int,
) -> bindings::loff_t {
    // SAFETY: Guaranteed by the caller.
    let Some(this) = (unsafe { state::<T>(file) }) else {
        return -(crate::logic::cmd::errno::ENOBUFS.0 as i64);
    };
    T::llseek(this, pos, whence).unwrap_or_else(|e| -(e.0 as i64))
}

/// # Safety
///
/// Called by the VFS on a file made for `T`.
unsafe extern "C" fn ioctl_callback<T: AnonFdOps>(
    file: *mut bindings::file,
    cmd: kernel::ffi::c_uint,
    arg: kernel::ffi::c_ulong,
) -> kernel::ffi::c_long {
    // SAFETY: Guaranteed by the caller.
    let Some(this) = (unsafe { state::<T>(file) }) else {
        return -(crate::logic::cmd::errno::EINVAL.0 as isize);
    };
    T::ioctl(this, cmd, arg).map_or_else(|e| -(e.0 as isize), |v| v as isize)
}

/// A reserved fd number and the anonymous file meant for it, not yet
/// visible to user space.
///
/// # Invariants
///
/// `fd` is reserved (`get_unused_fd_flags`) in the current task's table
/// and `file` is an anonymous file whose `private_data` holds an `Arc<T>`.
/// Dropping releases both: the file's release runs as for any file.
pub(crate) struct PendingFd<T: AnonFdOps> {
    fd: i32,
    file: NonNull<bindings::file>,
    _p: core::marker::PhantomData<T>,
}

impl<T: AnonFdOps> PendingFd<T> {
    /// Reserves an fd (write-only, not close-on-exec) and makes an
    /// anonymous file `name` with `fops`, owning `state`; the file is
    /// writable at any position and seekable.
    pub(crate) fn new(
        name: &'static CStr,
        fops: &'static crate::kernel_ext::miscdev::StaticFops,
        state: Arc<T>,
    ) -> Result<Self, Errno> {
        let flags = bindings::CFRS_O_WRONLY;
        // SAFETY: Process context with a file table.
        let fd = unsafe { bindings::get_unused_fd_flags(flags) };
        if fd < 0 {
            return Err(Errno(-fd));
        }
        let data = Arc::into_raw(state);
        // SAFETY: `name` and `fops` are static; `data` stays owned by the
        // file (released by `release_callback`).
        let f = unsafe {
            bindings::anon_inode_getfile(name.as_char_ptr(), &fops.0, data as *mut _, flags as i32)
        };
        let file = match crate::kernel_ext::vfs::check_ptr(f) {
            Ok(file) => file,
            Err(e) => {
                // SAFETY: The file was not made, so the `Arc` is still ours,
                // and the fd was reserved above and not installed.
                unsafe {
                    drop(Arc::from_raw(data));
                    bindings::put_unused_fd(fd as u32);
                }
                return Err(e);
            }
        };
        // SAFETY: A fresh file nobody else sees yet.
        unsafe { (*file.as_ptr()).f_mode |= bindings::CFRS_FMODE_PWRITE_LSEEK };
        // INVARIANT: Reserved fd and a file owning the `Arc`.
        Ok(PendingFd {
            fd,
            file,
            _p: core::marker::PhantomData,
        })
    }

    /// The fd number it will have.
    pub(crate) fn fd(&self) -> i32 {
        self.fd
    }

    /// Makes the fd visible to user space; from then on only user space
    /// closes it.
    pub(crate) fn install(self) {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: The fd is reserved and the file ours (type invariants);
        // `fd_install` consumes both.
        unsafe { bindings::fd_install(this.fd as u32, this.file.as_ptr()) };
    }

    /// Backs out without running the file's release operation: the state
    /// is detached first and handed back.
    pub(crate) fn abort(self) -> Arc<T> {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: The file is ours and unexposed; `private_data` holds the
        // `Arc<T>`, which we take back before the file goes.
        unsafe {
            let f = this.file.as_ptr();
            let p = core::mem::replace(&mut (*f).private_data, core::ptr::null_mut());
            bindings::fput(f);
            bindings::put_unused_fd(this.fd as u32);
            Arc::from_raw(p as *const T)
        }
    }
}

impl<T: AnonFdOps> Drop for PendingFd<T> {
    fn drop(&mut self) {
        // SAFETY: Reserved fd, unexposed file (type invariants); the file's
        // release runs when `fput` drops the last reference.
        unsafe {
            bindings::fput(self.file.as_ptr());
            bindings::put_unused_fd(self.fd as u32);
        }
    }
}
