// SPDX-License-Identifier: GPL-2.0

//! A netfs I/O subrequest (`struct netfs_io_subrequest`) handed to a cache
//! operation: the read side's `prepare_read`, the write side's
//! `prepare_write_subreq` and `issue_write` (netfs 6.12's write streams).
//!
//! C header: [`include/linux/netfs.h`](srctree/include/linux/netfs.h)

use super::{CacheTypes, Cres, NetfsWrite, Termination};
use crate::kernel_ext::bindings;
use crate::kernel_ext::vfs::IovIter;
use crate::logic::cmd::Errno;
use core::marker::PhantomData;
use core::ptr::NonNull;

/// A subrequest borrowed for one cache callback.
///
/// Only the trampolines of [`OpsTable`](super::OpsTable) make one.
///
/// # Invariants
///
/// `ptr` is a valid subrequest for `'a`, whose request's
/// `cache_resources` were begun by `begin_operation` on a cookie of a `T`
/// cache and not ended; the callback owning it has exclusive use of its
/// `len`, `flags`, `transferred`, `io_iter` and of its stream's limits
/// until it terminates the subrequest ([`Subreq::terminate_write`],
/// [`Subreq::prepare_write_failed`], which consume it) or hands its write
/// on ([`Subreq::into_write`]).
pub(crate) struct Subreq<'a, T: CacheTypes> {
    ptr: *mut bindings::netfs_io_subrequest,
    _p: PhantomData<(&'a mut bindings::netfs_io_subrequest, T)>,
}

impl<'a, T: CacheTypes> Subreq<'a, T> {
    /// The subrequest behind `ptr`, for a callback.
    ///
    /// # Safety
    ///
    /// `ptr` must satisfy the type invariants for `'a`.
    pub(super) unsafe fn from_raw(ptr: *mut bindings::netfs_io_subrequest) -> Self {
        // INVARIANT: Guaranteed by the caller.
        Subreq {
            ptr,
            _p: PhantomData,
        }
    }

    /// The request's cache resources.
    pub(crate) fn cres(&mut self) -> Cres<'_, T> {
        // SAFETY: The request's `cache_resources` were begun for a `T`
        // cookie (type invariants) and this callback owns the operation.
        unsafe { Cres::from_raw(core::ptr::addr_of_mut!((*(*self.ptr).rreq).cache_resources)) }
    }

    /// The data iterator.
    pub(crate) fn iter(&mut self) -> &mut IovIter {
        // SAFETY: `io_iter` is a valid iterator that this callback has
        // exclusive use of (type invariants).
        unsafe { IovIter::from_raw(core::ptr::addr_of_mut!((*self.ptr).io_iter)) }
    }

    /// Where the I/O starts in the file.
    pub(crate) fn start(&self) -> u64 {
        // SAFETY: Valid subrequest (type invariants).
        unsafe { (*self.ptr).start }
    }

    /// The length of the I/O.
    pub(crate) fn len(&self) -> usize {
        // SAFETY: Valid subrequest (type invariants).
        unsafe { (*self.ptr).len }
    }

    /// Sets the length of the I/O.
    pub(crate) fn set_len(&mut self, len: usize) {
        // SAFETY: Valid subrequest, `len` ours (type invariants).
        unsafe { (*self.ptr).len = len };
    }

    /// The subrequest's flags (`NETFS_SREQ_*` bits).
    pub(crate) fn flags_mut(&mut self) -> &mut usize {
        // SAFETY: Valid subrequest, `flags` ours (type invariants);
        // `c_ulong` is `usize` on Linux.
        unsafe { &mut *core::ptr::addr_of_mut!((*self.ptr).flags).cast::<usize>() }
    }

    /// Counts `n` more bytes as transferred.
    pub(crate) fn add_transferred(&mut self, n: usize) {
        // SAFETY: Valid subrequest, `transferred` ours (type invariants).
        unsafe { (*self.ptr).transferred = (*self.ptr).transferred.wrapping_add(n) };
    }

    /// The size of the file the request works on (`rreq->i_size`).
    pub(crate) fn request_i_size(&self) -> u64 {
        // SAFETY: A valid subrequest points to its live request.
        unsafe { (*(*self.ptr).rreq).i_size }
    }

    /// The stream of the subrequest.
    fn stream(&self) -> *mut bindings::netfs_io_stream {
        // SAFETY: A valid subrequest of a live request; `stream_nr` is an
        // index into the request's `io_streams` (netfs sets it).
        unsafe {
            let nr = usize::from((*self.ptr).stream_nr).min(1);
            core::ptr::addr_of_mut!((*(*self.ptr).rreq).io_streams[nr])
        }
    }

    /// How far the stream's current I/O may be rounded up
    /// (`stream->submit_extendable_to`).
    pub(crate) fn submit_extendable_to(&self) -> usize {
        // SAFETY: The stream is live with its request.
        unsafe { (*self.stream()).submit_extendable_to as usize }
    }

    /// Sets the stream's largest subrequest: `MAX_RW_COUNT` bytes in at
    /// most `BIO_MAX_VECS` segments (what a direct-I/O write takes).
    pub(crate) fn limit_stream_to_dio(&mut self) {
        let s = self.stream();
        // SAFETY: The stream is live; netfs lets `prepare_write` set the
        // limits (the callback owns them, type invariants).
        unsafe {
            (*s).sreq_max_len = bindings::CFRS_MAX_RW_COUNT as usize;
            (*s).sreq_max_segs = bindings::CFRS_BIO_MAX_VECS;
        }
    }

    /// Extends the I/O by `n` bytes (length and iterator): the tail up to
    /// a direct-I/O block past the end of the file.  Refused (`false`)
    /// beyond what netfs says the buffer holds
    /// (`stream->submit_extendable_to`).
    pub(crate) fn extend(&mut self, n: usize) -> bool {
        if n > self.submit_extendable_to() {
            return false;
        }
        let len = self.len().wrapping_add(n);
        self.set_len(len);
        let it = self.iter();
        let count = it.count().wrapping_add(n);
        // SAFETY: netfs's `submit_extendable_to` bytes past the I/O are in
        // the buffer (checked above).
        unsafe { it.reexpand(count) };
        true
    }

    /// Reports the end of a write subrequest: bytes written or an error
    /// (`netfs_write_subrequest_terminated`, not asynchronous).  The
    /// subrequest must not be touched after this.
    pub(crate) fn terminate_write(self, r: Result<usize, Errno>) {
        let v = match r {
            Ok(n) => n as isize,
            Err(e) => -(e.0 as isize),
        };
        // SAFETY: A valid subrequest, handed back to netfs (consumed).
        unsafe { bindings::netfs_write_subrequest_terminated(self.ptr.cast(), v, false) };
    }

    /// Hands the subrequest's write over: its data iterator, with
    /// `netfs_write_subrequest_terminated` as the termination (C's
    /// `cachefiles_issue_write` passes both to `cachefiles_write`).  The
    /// subrequest must not be touched after this: netfs owns it again
    /// once the write is terminated, maybe from an I/O completion.
    pub(crate) fn into_write(self) -> NetfsWrite {
        // SAFETY: A valid subrequest of a live request whose cache
        // resources were begun (type invariants); netfs's termination of
        // it, not called yet (the subrequest is consumed here), callable
        // from any context (`was_async`).  The request keeps the
        // operation, and with it the cookie's access, until all its
        // subrequests are terminated.
        let term = unsafe {
            Termination::new(
                core::ptr::addr_of_mut!((*(*self.ptr).rreq).cache_resources),
                Some(bindings::netfs_write_subrequest_terminated),
                self.ptr.cast(),
            )
        };
        // SAFETY: `io_iter` is a field of the valid subrequest.
        let iter = unsafe { NonNull::new_unchecked(core::ptr::addr_of_mut!((*self.ptr).io_iter)) };
        // SAFETY: The iterator is this callback's (type invariants) until
        // the subrequest is terminated, which only `term` does now.
        unsafe { NetfsWrite::new(iter, term) }
    }

    /// Fails the preparation of a write subrequest
    /// (`netfs_prepare_write_failed`).
    pub(crate) fn prepare_write_failed(self) {
        // SAFETY: A valid subrequest, handed back to netfs (consumed).
        unsafe { bindings::netfs_prepare_write_failed(self.ptr) };
    }
}

/// fscache's statistics counters (`/proc/fs/fscache/stats`) that cache
/// backends bump.
pub(crate) mod stats {
    use crate::kernel_ext::bindings;

    /// A read from the cache (`IO rd`).
    pub(crate) fn count_read() {
        // SAFETY: Increments an atomic counter.
        unsafe { bindings::cfrs_fscache_count_read() };
    }

    /// A write to the cache (`IO wr`).
    pub(crate) fn count_write() {
        // SAFETY: Increments an atomic counter.
        unsafe { bindings::cfrs_fscache_count_write() };
    }

    /// A write refused for lack of space (`NoSpace nwr`).
    pub(crate) fn count_no_write_space() {
        // SAFETY: Increments an atomic counter.
        unsafe { bindings::cfrs_fscache_count_no_write_space() };
    }

    /// An object not created for lack of space (`NoSpace ncr`).
    pub(crate) fn count_no_create_space() {
        // SAFETY: Increments an atomic counter.
        unsafe { bindings::cfrs_fscache_count_no_create_space() };
    }

    /// A file or directory culled at the daemon's request (`NoSpace cull`).
    pub(crate) fn count_culled() {
        // SAFETY: Increments an atomic counter.
        unsafe { bindings::cfrs_fscache_count_culled() };
    }

    /// A write not aligned to direct-I/O blocks (`IO mis`).
    pub(crate) fn count_dio_misfit() {
        // SAFETY: Increments an atomic counter.
        unsafe { bindings::cfrs_fscache_count_dio_misfit() };
    }
}
