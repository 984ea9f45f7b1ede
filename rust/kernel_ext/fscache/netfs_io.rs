// SPDX-License-Identifier: GPL-2.0

//! One read or write that the netfs asks of a cache (`netfs_cache_ops`'s
//! `read` and `write`, a write subrequest's `issue_write`): the netfs's
//! data iterator and its [`Termination`], called exactly once, maybe from
//! the I/O's completion (interrupt) context after the call returned.

use crate::kernel_ext::bindings;
use crate::kernel_ext::vfs::{FileRef, IoDir, IoDone, IoMode, IovIter};
use crate::logic::errno::{Errno, ESTALE};
use core::ptr::NonNull;

/// How the netfs learns that one read or write of an operation ended:
/// its completion callback (`term_func` with `term_func_priv`), told
/// exactly once.  A read's outcome is also checked against the cookie's
/// invalidation counter at the start of the operation.
///
/// # Invariants
///
/// `func` with `data` may be called once, from any context (C calls it
/// from kiocb completions).  `cookie` is the operation's cookie, alive
/// until `func` is called: the netfs ends the operation (and drops its
/// access to the cookie) only after all its I/O has been terminated.
pub(crate) struct Termination {
    func: bindings::netfs_io_terminated_t,
    data: *mut kernel::ffi::c_void,
    cookie: *mut bindings::fscache_cookie,
    inval_counter: u32,
}

// SAFETY: The callback may be called from any context (type invariants)
// and the cookie is only read (a plain word) before it.
unsafe impl Send for Termination {}

impl Termination {
    /// The termination of one I/O of the operation `cres`.
    ///
    /// # Safety
    ///
    /// `cres` is a live operation, and `func` with `data` is the netfs's
    /// completion of one I/O of it, not yet called.
    pub(super) unsafe fn new(
        cres: *mut bindings::netfs_cache_resources,
        func: bindings::netfs_io_terminated_t,
        data: *mut kernel::ffi::c_void,
    ) -> Self {
        // INVARIANT: The operation's cookie, with the access the operation
        // holds until its I/O is terminated.
        // SAFETY: `cres` is live (caller).
        unsafe {
            Termination {
                func,
                data,
                cookie: (*cres).cache_priv.cast(),
                inval_counter: (*cres).inval_counter,
            }
        }
    }

    /// Reports the outcome of a read: `Ok(n)` becomes `ESTALE` if the
    /// cookie was invalidated since the operation began.
    pub(crate) fn read_done(self, r: Result<usize, Errno>, was_async: bool) {
        // SAFETY: The cookie is alive until `func` is called (invariants).
        let now =
            unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*self.cookie).inval_counter)) };
        let r = match r {
            Ok(_) if now != self.inval_counter => Err(ESTALE),
            r => r,
        };
        self.call(r, was_async);
    }

    /// Reports the outcome of a write.
    pub(crate) fn write_done(self, r: Result<usize, Errno>, was_async: bool) {
        self.call(r, was_async);
    }

    fn call(self, r: Result<usize, Errno>, was_async: bool) {
        let done = match r {
            Ok(n) => isize::try_from(n).unwrap_or(isize::MAX),
            Err(e) => -(e.0 as isize),
        };
        if let Some(f) = self.func {
            // SAFETY: The netfs's callback with its own data, called once
            // (`self` is consumed).
            unsafe { f(self.data, done, was_async) };
        }
    }
}

/// What a read or write that ended does with its outcome before the
/// netfs is told: it gets the [`Termination`] only then (and must call
/// it: [`Termination::read_done`] for a read, [`Termination::write_done`]
/// for a write), so the netfs's buffer cannot be released while the I/O
/// may still use it.  It may run in interrupt context: it must not sleep.
pub(crate) trait IoEnd: Send + Sized {
    /// The I/O ended with `r`; report to the netfs through `term`.
    fn end(self, term: Termination, r: Result<usize, Errno>, was_async: bool);
}

/// One read (`WRITE` false: [`NetfsRead`]) or write ([`NetfsWrite`]) the
/// netfs asked for: the netfs's iterator, where the data goes or comes
/// from, and how the netfs learns the outcome.
///
/// # Invariants
///
/// `iter` is the netfs's iterator, valid (with the memory it describes)
/// and not used by the netfs until `term` is called.
pub(crate) struct NetfsIo<const WRITE: bool> {
    iter: NonNull<bindings::iov_iter>,
    term: Termination,
}

/// A read the netfs asked for (`netfs_cache_ops::read`).
pub(crate) type NetfsRead = NetfsIo<false>;
/// A write the netfs asked for (`netfs_cache_ops::write`, or a write
/// subrequest of the cache stream).
pub(crate) type NetfsWrite = NetfsIo<true>;

// SAFETY: The iterator is the netfs's until the termination, which may be
// reported from any context; nothing here is tied to the calling thread.
unsafe impl<const WRITE: bool> Send for NetfsIo<WRITE> {}

impl<const WRITE: bool> NetfsIo<WRITE> {
    /// The I/O of `iter` reporting to `term`.
    ///
    /// # Safety
    ///
    /// `iter` is valid and the netfs's alone until `term` is called.
    pub(super) unsafe fn new(iter: NonNull<bindings::iov_iter>, term: Termination) -> Self {
        // INVARIANT: Guaranteed by the caller.
        NetfsIo { iter, term }
    }

    /// The iterator, to look at (or, for a read, zero part of) before the
    /// I/O.
    pub(crate) fn iter(&mut self) -> &mut IovIter {
        // SAFETY: Valid and ours until `term` is called, which consumes
        // `self` (type invariants); the borrow ends before that.
        unsafe { IovIter::from_raw(self.iter.as_ptr()) }
    }

    /// Reports the outcome now, without reading or writing the file.
    pub(crate) fn done(self, r: Result<usize, Errno>) {
        if WRITE {
            self.term.write_done(r, false);
        } else {
            self.term.read_done(r, false);
        }
    }

    /// Reads `file` at `pos` into the iterator, or writes the iterator to
    /// it, with `mode`, maybe asynchronously (C's `cachefiles_read`,
    /// `__cachefiles_write`); `end` gets the outcome and the termination
    /// when the I/O has ended, and reports it with
    /// [`Termination::read_done`] or [`Termination::write_done`].  The
    /// error if it failed at once (reported too).
    pub(crate) fn submit<E: IoEnd>(
        self,
        file: &FileRef,
        pos: i64,
        mode: IoMode,
        end: E,
    ) -> Result<(), Errno> {
        let NetfsIo { iter, term } = self;
        // SAFETY: The iterator is valid until `term` is called (type
        // invariants), and `term` is handed to `end` only when the I/O
        // has ended.
        let iter = unsafe { IovIter::from_raw(iter.as_ptr()) };
        let dir = if WRITE { IoDir::Write } else { IoDir::Read };
        // SAFETY: As above: `Ended` holds `term` until the I/O's `done`.
        unsafe { file.io_async(pos, iter, mode, dir, Ended { term, end }) }
    }
}

/// A termination held until its I/O ends, then given to its [`IoEnd`].
struct Ended<E: IoEnd> {
    term: Termination,
    end: E,
}

impl<E: IoEnd> IoDone for Ended<E> {
    fn done(self, r: Result<usize, Errno>, was_async: bool) {
        self.end.end(self.term, r, was_async);
    }
}
