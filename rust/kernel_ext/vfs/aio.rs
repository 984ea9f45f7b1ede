// SPDX-License-Identifier: GPL-2.0

//! Asynchronous reads and writes of open files (a kiocb with a completion
//! callback, as C's `cachefiles_read` and `__cachefiles_write` submit
//! them): the filesystem may queue the I/O (`-EIOCBQUEUED`, direct I/O)
//! and report it later from its completion context, or do it at once
//! (buffered I/O, or a direct I/O it completed before returning).
//!
//! A queued write keeps the freeze protection that `vfs_iocb_iter_write`
//! took (`kiocb_start_write`, 6.12 takes it there) until its completion
//! drops it (`kiocb_end_write`); a write done at once was ended by
//! `vfs_iocb_iter_write` itself.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h)

use super::{FileRef, IoMode, IovIter};
use crate::kernel_ext::bindings;
use crate::logic::errno::{Errno, EINTR, EIO, ENOMEM};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use kernel::prelude::*;

/// `-EIOCBQUEUED`: the filesystem queued the I/O and will complete it.
const EIOCBQUEUED: isize = 529;

/// What is done when an asynchronous read or write ends.
pub(crate) trait IoDone: Send + Sized {
    /// The I/O ended with `r` (the bytes transferred, or the error).
    /// `was_async`: called from the I/O's completion context (which may
    /// be an interrupt: must not sleep), not from the submitter.
    fn done(self, r: Result<usize, Errno>, was_async: bool);
}

/// One read or write in flight.
///
/// # Invariants
///
/// `iocb` is the first field (the completion recovers the struct from
/// it).  The struct is a leaked `KBox` with `refs` references: the
/// submitter's and the completion's; the last one frees it.  `done` is
/// `Some` until the completion takes it, which happens exactly once
/// (the filesystem calls `ki_complete` once for a queued I/O, the
/// submitter calls [`complete`] for one done at once).  `iocb.ki_filp`
/// is the file `file` holds a reference to.  `write` is whether the
/// kiocb is a write (`IOCB_WRITE`), set before submission.
#[repr(C)]
struct AsyncIo<D: IoDone> {
    iocb: bindings::kiocb,
    refs: AtomicU8,
    was_async: AtomicBool,
    write: bool,
    file: FileRef,
    done: UnsafeCell<Option<D>>,
}

/// Which way an I/O moves data.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum IoDir {
    /// From the file into the iterator.
    Read,
    /// From the iterator to the file.
    Write,
}

impl FileRef {
    /// Reads at `pos` into `iter`, or writes `iter` at `pos` (`dir`), with
    /// `mode`, asynchronously where the filesystem queues the I/O; `done`
    /// gets the outcome exactly once, maybe before this returns.  Returns
    /// what C's `cachefiles_read` and `__cachefiles_write` do: `Ok` if the
    /// I/O was queued or done, the error if it failed at once (reported to
    /// `done` as well).
    ///
    /// # Safety
    ///
    /// The iterator behind `iter` and the memory it describes stay valid
    /// until `done` runs (the filesystem may use them after this returns).
    pub(crate) unsafe fn io_async<D: IoDone>(
        &self,
        pos: i64,
        iter: &mut IovIter,
        mode: IoMode,
        dir: IoDir,
        done: D,
    ) -> Result<(), Errno> {
        let write = dir == IoDir::Write;
        let Ok(slot) = KBox::<AsyncIo<D>>::new_uninit(GFP_KERNEL) else {
            done.done(Err(ENOMEM), false);
            return Err(ENOMEM);
        };
        let ki = KBox::write(
            slot,
            AsyncIo {
                iocb: bindings::kiocb::default(),
                refs: AtomicU8::new(2),
                was_async: AtomicBool::new(true),
                write,
                file: self.clone(),
                done: UnsafeCell::new(Some(done)),
            },
        );
        let ki = KBox::into_raw(ki);
        let direct = mode == IoMode::Direct;
        // SAFETY: `ki` is ours until submitted; the helper initialises the
        // kiocb for `file` (which `ki` holds a reference to), a write if
        // `write`, with `complete::<D>` as its completion.
        unsafe {
            bindings::cfrs_init_async_kiocb(
                core::ptr::addr_of_mut!((*ki).iocb),
                (*ki).file.as_ptr(),
                pos,
                write,
                direct,
                Some(complete::<D>),
            )
        };
        // Cache I/O must not recurse into filesystem reclaim.
        // SAFETY: Paired with the restore below on this task.
        let nofs = unsafe { bindings::cfrs_memalloc_nofs_save() };
        // SAFETY: The kiocb is initialised and lives until both references
        // are put; `iter` stays valid until `done` runs (caller).
        let ret = unsafe {
            let (file, iocb) = ((*ki).file.as_ptr(), core::ptr::addr_of_mut!((*ki).iocb));
            if write {
                bindings::vfs_iocb_iter_write(file, iocb, iter.as_ptr())
            } else {
                bindings::vfs_iocb_iter_read(file, iocb, iter.as_ptr())
            }
        };
        // SAFETY: `nofs` came from the save above.
        unsafe { bindings::cfrs_memalloc_nofs_restore(nofs) };
        let r = if ret == -EIOCBQUEUED {
            Ok(())
        } else {
            // Done at once: the filesystem will not call the completion,
            // so the submitter does, with the outcome it got.
            // SAFETY: We still hold our reference.
            unsafe { (*ki).was_async.store(false, Ordering::Relaxed) };
            // SAFETY: The kiocb of `ki`, not completed by the filesystem.
            unsafe {
                complete::<D>(
                    core::ptr::addr_of_mut!((*ki).iocb),
                    ret as kernel::ffi::c_long,
                )
            };
            io_result(ret).map(|_| ())
        };
        // SAFETY: Our reference, put once.
        unsafe { put(ki) };
        r
    }
}

/// Puts one reference to `ki`, freeing it with the last.
///
/// # Safety
///
/// `ki` is a live [`AsyncIo`] on which the caller owns a reference.
unsafe fn put<D: IoDone>(ki: *mut AsyncIo<D>) {
    // SAFETY: Live, per the caller.
    if unsafe { (*ki).refs.fetch_sub(1, Ordering::AcqRel) } == 1 {
        // SAFETY: The last reference: nobody else uses `ki`; it came from
        // `KBox::into_raw`.  Dropping it puts the file (`fput` may be
        // called from any context).
        drop(unsafe { KBox::from_raw(ki) });
    }
}

/// The kiocb's completion (`ki_complete`): ends a queued write's freeze
/// protection, reports `ret` to `done` and puts the completion's
/// reference.
///
/// # Safety
///
/// `iocb` is the kiocb of a live [`AsyncIo<D>`] whose completion has not
/// run yet.
unsafe extern "C" fn complete<D: IoDone>(iocb: *mut bindings::kiocb, ret: kernel::ffi::c_long) {
    // `iocb` is the first field of the `repr(C)` struct (invariants).
    let ki = iocb.cast::<AsyncIo<D>>();
    // SAFETY: Live (caller); the completion runs once, so it alone takes
    // `done` (the submitter no longer touches it after submitting).
    let done = unsafe { (*(*ki).done.get()).take() };
    // SAFETY: Live.
    let (was_async, write) = unsafe { ((*ki).was_async.load(Ordering::Relaxed), (*ki).write) };
    if write && was_async {
        // SAFETY: A write the filesystem queued: `vfs_iocb_iter_write`
        // left its freeze protection to the completion; `ki_filp` is held.
        // `kiocb_end_write` does not sleep.
        unsafe { bindings::cfrs_kiocb_end_write(iocb) };
    }
    if let Some(done) = done {
        done.done(io_result(ret), was_async);
    }
    // SAFETY: The completion's reference, put once.
    unsafe { put(ki) };
}

// SAFETY: The submitter and the completion share an `AsyncIo` only
// through atomics and fields written before submission; `done` is moved
// to the completion's context (`D: Send`) and touched by it alone;
// `FileRef` is `Send`.
unsafe impl<D: IoDone> Send for AsyncIo<D> {}

/// Converts what a VFS I/O call returns (a byte count or a negative errno).
/// Nobody can replay the call here, so a restart request (`ERESTARTSYS`
/// .. `ERESTART_RESTARTBLOCK`, 512..=516, never meant for user space) is
/// reported as an interruption.
pub(super) fn io_result(ret: isize) -> Result<usize, Errno> {
    if let Ok(n) = usize::try_from(ret) {
        return Ok(n);
    }
    match ret.checked_neg().and_then(|e| i32::try_from(e).ok()) {
        Some(512..=516) => Err(EINTR),
        Some(e) => Err(Errno(e)),
        None => Err(EIO),
    }
}
