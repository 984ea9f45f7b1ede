// SPDX-License-Identifier: GPL-2.0

//! Open files of the backing filesystem and synchronous I/O on them
//! (asynchronous reads and writes: `aio.rs`).
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h)

use super::aio::io_result;
use super::{check, check_ptr, Cred, Dentry, Inode, IovIter, Mount};
use crate::kernel_ext::bindings;
use crate::logic::errno::{Errno, ENOENT};
use core::ptr::NonNull;
use kernel::prelude::*;

/// How [`FileRef::io_async`] and [`FileRef::write_at`] move data.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum IoMode {
    /// Direct I/O (`IOCB_DIRECT`), bypassing the page cache: buffers,
    /// offsets and lengths must suit the filesystem's DIO alignment.
    Direct,
    /// Through the page cache (no `IOCB_DIRECT`; the file's `O_DIRECT`
    /// is ignored by the filesystems' `read_iter`/`write_iter`, which look
    /// at the kiocb).
    Buffered,
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
/// (`fput`).  An open file pins its path (mount and positive dentry) and
/// inode, and `f_path`, `f_inode`, `f_op` do not change while it is open.
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
    /// with `cred` (`kernel_file_open`; `ENOENT` for a negative dentry).
    pub(crate) fn open_backing(mnt: &Mount, dentry: &Dentry, cred: &Cred) -> Result<Self, Errno> {
        // `do_dentry_open` dereferences the inode unchecked.
        dentry.inode().ok_or(ENOENT)?;
        let path = bindings::path {
            mnt: mnt.as_ptr(),
            dentry: dentry.as_ptr(),
        };
        // SAFETY: The mount, positive dentry and credentials are alive; the
        // VFS takes its own references on the path and the credentials.
        let p = unsafe {
            bindings::kernel_file_open(&path, bindings::CFRS_O_BACKING as i32, cred.as_ptr())
        };
        // INVARIANT: A non-error pointer is an open file with a reference.
        check_ptr(p).map(|ptr| FileRef { ptr })
    }

    /// Creates an unnamed regular file (mode 0600) in `dir` on `mnt`, open
    /// for cache I/O (`kernel_tmpfile_open`; `ENOENT` for a negative `dir`).
    pub(crate) fn tmpfile(mnt: &Mount, dir: &Dentry, cred: &Cred) -> Result<Self, Errno> {
        // `vfs_tmpfile` dereferences the directory's inode unchecked.
        dir.inode().ok_or(ENOENT)?;
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
                cred.as_ptr(),
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

    /// Punches a hole in `[off, off + len)` keeping the size
    /// (`vfs_fallocate` with `FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE`).
    pub(crate) fn punch_hole(&self, off: i64, len: i64) -> Result<(), Errno> {
        // SAFETY: The file is open.
        check(unsafe {
            bindings::vfs_fallocate(self.as_ptr(), bindings::CFRS_FALLOC_PUNCH_HOLE, off, len)
        })
    }

    /// Zeroes `[off, off + len)` (`vfs_fallocate` with
    /// `FALLOC_FL_ZERO_RANGE`).
    pub(crate) fn zero_range(&self, off: i64, len: i64) -> Result<(), Errno> {
        // SAFETY: The file is open.
        check(unsafe {
            bindings::vfs_fallocate(self.as_ptr(), bindings::CFRS_FALLOC_ZERO_RANGE, off, len)
        })
    }

    /// Removes extended attribute `name` with write access to the file's
    /// mount held meanwhile (`vfs_removexattr`).
    pub(crate) fn remove_xattr(&self, name: &CStr) -> Result<(), Errno> {
        // SAFETY: The file is open.
        check(unsafe { bindings::mnt_want_write_file(self.as_ptr()) })?;
        // SAFETY: The file pins its dentry; `name` is NUL-terminated.
        let ret = unsafe {
            bindings::vfs_removexattr(
                core::ptr::addr_of_mut!(bindings::nop_mnt_idmap),
                (*self.as_ptr()).f_path.dentry,
                name.as_char_ptr(),
            )
        };
        // SAFETY: Paired with the successful `mnt_want_write_file`.
        unsafe { bindings::mnt_drop_write_file(self.as_ptr()) };
        check(ret)
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

    /// Writes `iter` at `pos`, synchronously; returns the bytes written
    /// (with [`IoMode::Buffered`], copied into the page cache: written
    /// back later, or by [`FileRef::sync_data`]).
    pub(crate) fn write_at(
        &self,
        pos: i64,
        iter: &mut IovIter,
        mode: IoMode,
    ) -> Result<usize, Errno> {
        let direct = mode == IoMode::Direct;
        let mut iocb = core::mem::MaybeUninit::<bindings::kiocb>::uninit();
        // SAFETY: The helper initialises every field of `iocb`: a
        // synchronous kiocb (no completion callback) on this open file.
        unsafe {
            bindings::cfrs_init_sync_kiocb(iocb.as_mut_ptr(), self.as_ptr(), pos, true, direct)
        };
        // Cache I/O must not recurse into filesystem reclaim.
        // SAFETY: Paired with the restore below on this task.
        let nofs = unsafe { bindings::cfrs_memalloc_nofs_save() };
        // SAFETY: `iocb` is initialised and synchronous, so the VFS is done
        // with it (and with `iter`) when the call returns.
        let ret = unsafe {
            bindings::vfs_iocb_iter_write(self.as_ptr(), iocb.as_mut_ptr(), iter.as_ptr())
        };
        // SAFETY: `nofs` came from the save above.
        unsafe { bindings::cfrs_memalloc_nofs_restore(nofs) };
        io_result(ret)
    }

    /// Writes the file's dirty data back and waits for it, with the
    /// metadata needed to read it (`vfs_fsync(file, 1)`, fdatasync).  The
    /// error is any writeback error since the file was opened.  May sleep.
    pub(crate) fn sync_data(&self) -> Result<(), Errno> {
        // SAFETY: The file is open.
        check(unsafe { bindings::vfs_fsync(self.as_ptr(), 1) })
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

impl Drop for FileRef {
    fn drop(&mut self) {
        // SAFETY: We own one reference.
        unsafe { bindings::fput(self.as_ptr()) };
    }
}
