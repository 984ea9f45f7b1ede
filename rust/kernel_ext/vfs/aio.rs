// SPDX-License-Identifier: GPL-2.0

//! Asynchronous reads of open files (a kiocb with a completion callback,
//! as C's `cachefiles_read` submits them): the filesystem may queue the
//! read (`-EIOCBQUEUED`, direct I/O) and report it later from its
//! completion context, or do it at once (buffered reads).
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h)

use super::{FileRef, IoMode, IovIter};
use crate::kernel_ext::bindings;
use crate::logic::errno::{Errno, EINTR, EIO, ENOMEM};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use kernel::prelude::*;

/// `-EIOCBQUEUED`: the filesystem queued the read and will complete it.
const EIOCBQUEUED: isize = 529;

/// What is done when an asynchronous read ends.
pub(crate) trait ReadDone: Send + Sized {
    /// The read ended with `r` (the bytes read, or the error).
    /// `was_async`: called from the I/O's completion context (which may
    /// be an interrupt: must not sleep), not from the submitter.
    fn done(self, r: Result<usize, Errno>, was_async: bool);
}

/// One read in flight.
///
/// # Invariants
///
/// `iocb` is the first field (the completion recovers the struct from
/// it).  The struct is a leaked `KBox` with `refs` references: the
/// submitter's and the completion's; the last one frees it.  `done` is
/// `Some` until the completion takes it, which happens exactly once
/// (the filesystem calls `ki_complete` once for a queued read, the
/// submitter calls [`complete`] for one done at once).  `iocb.ki_filp`
/// is the file `file` holds a reference to.
#[repr(C)]
struct AsyncRead<D: ReadDone> {
    iocb: bindings::kiocb,
    refs: AtomicU8,
    was_async: AtomicBool,
    file: FileRef,
    done: UnsafeCell<Option<D>>,
}

impl FileRef {
    /// Reads at `pos` into `iter` with `mode`, asynchronously where the
    /// filesystem queues the read; `done` gets the outcome exactly once,
    /// maybe before this returns.  Returns what C's `cachefiles_read`
    /// does: `Ok` if the read was queued or done, the error if it failed
    /// at once (reported to `done` as well).
    ///
    /// # Safety
    ///
    /// The iterator behind `iter` and the memory it describes stay valid
    /// until `done` runs (the filesystem may fill them after this returns).
    pub(crate) unsafe fn read_async<D: ReadDone>(
        &self,
        pos: i64,
        iter: &mut IovIter,
        mode: IoMode,
        done: D,
    ) -> Result<(), Errno> {
        let Ok(slot) = KBox::<AsyncRead<D>>::new_uninit(GFP_KERNEL) else {
            done.done(Err(ENOMEM), false);
            return Err(ENOMEM);
        };
        let ki = KBox::write(
            slot,
            AsyncRead {
                iocb: bindings::kiocb::default(),
                refs: AtomicU8::new(2),
                was_async: AtomicBool::new(true),
                file: self.clone(),
                done: UnsafeCell::new(Some(done)),
            },
        );
        let ki = KBox::into_raw(ki);
        let direct = mode == IoMode::Direct;
        // SAFETY: `ki` is ours until submitted; the helper initialises the
        // kiocb for `file` (which `ki` holds a reference to) with
        // `complete::<D>` as its completion.
        unsafe {
            bindings::cfrs_init_async_kiocb(
                core::ptr::addr_of_mut!((*ki).iocb),
                (*ki).file.as_ptr(),
                pos,
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
            bindings::vfs_iocb_iter_read(
                (*ki).file.as_ptr(),
                core::ptr::addr_of_mut!((*ki).iocb),
                iter.as_ptr(),
            )
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
/// `ki` is a live [`AsyncRead`] on which the caller owns a reference.
unsafe fn put<D: ReadDone>(ki: *mut AsyncRead<D>) {
    // SAFETY: Live, per the caller.
    if unsafe { (*ki).refs.fetch_sub(1, Ordering::AcqRel) } == 1 {
        // SAFETY: The last reference: nobody else uses `ki`; it came from
        // `KBox::into_raw`.  Dropping it puts the file (`fput` may be
        // called from any context).
        drop(unsafe { KBox::from_raw(ki) });
    }
}

/// The kiocb's completion (`ki_complete`): reports `ret` to `done` and
/// puts the completion's reference.
///
/// # Safety
///
/// `iocb` is the kiocb of a live [`AsyncRead<D>`] whose completion has not
/// run yet.
unsafe extern "C" fn complete<D: ReadDone>(iocb: *mut bindings::kiocb, ret: kernel::ffi::c_long) {
    // `iocb` is the first field of the `repr(C)` struct (invariants).
    let ki = iocb.cast::<AsyncRead<D>>();
    // SAFETY: Live (caller); the completion runs once, so it alone takes
    // `done` (the submitter no longer touches it after submitting).
    let done = unsafe { (*(*ki).done.get()).take() };
    // SAFETY: Live.
    let was_async = unsafe { (*ki).was_async.load(Ordering::Relaxed) };
    if let Some(done) = done {
        done.done(io_result(ret), was_async);
    }
    // SAFETY: The completion's reference, put once.
    unsafe { put(ki) };
}

// SAFETY: The submitter and the completion share an `AsyncRead` only
// through atomics; `done` is moved to the completion's context (`D: Send`)
// and touched by it alone; `FileRef` is `Send`.
unsafe impl<D: ReadDone> Send for AsyncRead<D> {}

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
