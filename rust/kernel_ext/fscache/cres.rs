// SPDX-License-Identifier: GPL-2.0

//! The cache resources of a netfs I/O operation and the enums and flags
//! of the netfs read interface.

use super::{CacheTypes, Cookie};
use crate::kernel_ext::bindings;
use crate::kernel_ext::vfs::{FileRef, IoMode, IovIter, ReadDone};
use crate::logic::errno::{Errno, ESTALE};
use core::marker::PhantomData;
use core::ptr::NonNull;

/// What an I/O operation will do (`enum fscache_want_state`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// Only the object's parameters.
    Params,
    /// Writing.
    Write,
    /// Reading.
    Read,
}

impl Want {
    pub(super) fn from_raw(w: bindings::fscache_want_state) -> Self {
        match w {
            bindings::fscache_want_state_FSCACHE_WANT_PARAMS => Want::Params,
            bindings::fscache_want_state_FSCACHE_WANT_WRITE => Want::Write,
            _ => Want::Read,
        }
    }

    pub(super) fn to_raw(self) -> bindings::fscache_want_state {
        match self {
            Want::Params => bindings::fscache_want_state_FSCACHE_WANT_PARAMS,
            Want::Write => bindings::fscache_want_state_FSCACHE_WANT_WRITE,
            Want::Read => bindings::fscache_want_state_FSCACHE_WANT_READ,
        }
    }
}

/// Where a read's data must come from (`enum netfs_io_source`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Source {
    /// Past the end of the object: zeroes.
    FillWithZeroes,
    /// Not in the cache.
    DownloadFromServer,
    /// In the cache.
    ReadFromCache,
    /// The read cannot be done.
    InvalidRead,
}

impl Source {
    pub(super) fn to_raw(self) -> bindings::netfs_io_source {
        match self {
            Source::FillWithZeroes => bindings::netfs_io_source_NETFS_FILL_WITH_ZEROES,
            Source::DownloadFromServer => bindings::netfs_io_source_NETFS_DOWNLOAD_FROM_SERVER,
            Source::ReadFromCache => bindings::netfs_io_source_NETFS_READ_FROM_CACHE,
            Source::InvalidRead => bindings::netfs_io_source_NETFS_INVALID_READ,
        }
    }
}

/// How a read treats holes in the cached data (`netfs_read_from_hole`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadHole {
    /// Read whatever is there.
    Ignore,
    /// Zero-fill holes.
    Clear,
    /// Fail with `ENODATA` if the range holds no data.
    Fail,
}

/// Request flag of a netfs read: from on-demand mode (`NETFS_SREQ_ONDEMAND`).
pub(crate) const SREQ_ONDEMAND: usize = 1 << bindings::NETFS_SREQ_ONDEMAND;
/// Request flag: the data should be copied to the cache.
pub(crate) const SREQ_COPY_TO_CACHE: usize = 1 << bindings::NETFS_SREQ_COPY_TO_CACHE;

/// The cache resources of one netfs I/O operation
/// (`struct netfs_cache_resources`), borrowed for a callback.
///
/// Only the trampolines of [`OpsTable`](super::OpsTable) make one, for the
/// callback they run; it is not `Send` (one operation runs in one thread
/// at a time, so nothing else touches `cache_priv2` meanwhile).
///
/// # Invariants
///
/// `ptr` is valid for `'a`; its `cache_priv` is a live cookie of a cache
/// served by `T` (fscache sets it) with an access held for the operation,
/// and `cache_priv2` is null or a [`FileRef`] owned by the operation.
pub(crate) struct Cres<'a, T: CacheTypes> {
    ptr: *mut bindings::netfs_cache_resources,
    _p: PhantomData<(&'a mut bindings::netfs_cache_resources, T)>,
}

impl<T: CacheTypes> Cres<'_, T> {
    /// The resources behind `ptr`, for a callback.
    ///
    /// # Safety
    ///
    /// `ptr` must satisfy the type invariants for `'a`: fscache began an
    /// operation on it for a cookie of a cache registered with `T`
    /// (`begin_operation`), which has not ended, and the caller runs in
    /// the callback that owns it.
    pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::netfs_cache_resources) -> Cres<'a, T> {
        // INVARIANT: Guaranteed by the caller.
        Cres {
            ptr,
            _p: PhantomData,
        }
    }

    /// The cookie the operation is on.
    pub(crate) fn cookie(&self) -> &Cookie<T> {
        // SAFETY: `cache_priv` is a live cookie of a `T` cache, which the
        // operation's access keeps alive while `self` is borrowed (type
        // invariants).
        unsafe { Cookie::from_raw((*self.ptr).cache_priv.cast()) }
    }

    /// The backing file the operation uses, if it has one yet.
    pub(crate) fn file(&self) -> Option<&FileRef> {
        // SAFETY: `cache_priv2` is null or the raw pointer of a `FileRef`
        // the operation owns; `FileRef` is transparent over that pointer.
        unsafe {
            let slot = core::ptr::addr_of!((*self.ptr).cache_priv2);
            (!(*slot).is_null()).then(|| &*(slot as *const FileRef))
        }
    }

    /// Gives the operation its (counted) backing file.
    pub(crate) fn set_file(&mut self, file: FileRef) {
        // SAFETY: Valid `cres`; `end_operation` puts the reference.
        unsafe {
            let old = core::mem::replace(&mut (*self.ptr).cache_priv2, file.into_raw().cast());
            if let Some(old) = NonNull::new(old.cast::<bindings::file>()) {
                drop(FileRef::from_raw(old));
            }
        }
    }

    /// Waits until the cookie is ready for `want`, making sure the
    /// operation has its file (`fscache_wait_for_operation`).
    pub(crate) fn wait_for_operation(&mut self, want: Want) -> bool {
        // SAFETY: Valid `cres` with an access on its cookie.
        unsafe { bindings::fscache_wait_for_operation(self.ptr, want.to_raw()) }
    }
}

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

/// What a read that ended does with its outcome before the netfs is told:
/// it gets the [`Termination`] only then (and must call it), so the
/// netfs's buffer cannot be released while the read may still fill it.
pub(crate) trait ReadEnd: Send + Sized {
    /// The read ended with `r`; report to the netfs through `term`.
    fn end(self, term: Termination, r: Result<usize, Errno>, was_async: bool);
}

/// One read the netfs asked for (`netfs_cache_ops::read`): where the data
/// goes and how the netfs learns the outcome.
///
/// # Invariants
///
/// `iter` is the netfs's iterator, valid (with the memory it describes)
/// and not used by the netfs until `term` is called.
pub(crate) struct NetfsRead {
    iter: NonNull<bindings::iov_iter>,
    term: Termination,
}

// SAFETY: The iterator is the netfs's until the termination, which may be
// reported from any context; nothing here is tied to the calling thread.
unsafe impl Send for NetfsRead {}

impl NetfsRead {
    /// The read of `iter` reporting to `term`.
    ///
    /// # Safety
    ///
    /// `iter` is valid and the netfs's alone until `term` is called.
    pub(super) unsafe fn new(iter: NonNull<bindings::iov_iter>, term: Termination) -> Self {
        // INVARIANT: Guaranteed by the caller.
        NetfsRead { iter, term }
    }

    /// The iterator, to look at or zero part of before reading.
    pub(crate) fn iter(&mut self) -> &mut IovIter {
        // SAFETY: Valid and ours until `term` is called, which consumes
        // `self` (type invariants); the borrow ends before that.
        unsafe { IovIter::from_raw(self.iter.as_ptr()) }
    }

    /// Reports the outcome now, without reading the file.
    pub(crate) fn done(self, r: Result<usize, Errno>) {
        self.term.read_done(r, false);
    }

    /// Reads `file` at `pos` into the iterator with `mode`, maybe
    /// asynchronously; `end` gets the outcome and the termination when the
    /// read has ended.  The error if it failed at once (reported too).
    pub(crate) fn read_from<E: ReadEnd>(
        self,
        file: &FileRef,
        pos: i64,
        mode: IoMode,
        end: E,
    ) -> Result<(), Errno> {
        let NetfsRead { iter, term } = self;
        // SAFETY: The iterator is valid until `term` is called, and `term`
        // is handed to `end` only when the read has ended.
        let iter = unsafe { IovIter::from_raw(iter.as_ptr()) };
        // SAFETY: As above: `Ended` holds `term` until the read's `done`.
        unsafe { file.read_async(pos, iter, mode, Ended { term, end }) }
    }
}

/// A read's termination held until the read ends, then given to its
/// [`ReadEnd`].
struct Ended<E: ReadEnd> {
    term: Termination,
    end: E,
}

impl<E: ReadEnd> ReadDone for Ended<E> {
    fn done(self, r: Result<usize, Errno>, was_async: bool) {
        self.end.end(self.term, r, was_async);
    }
}
