// SPDX-License-Identifier: GPL-2.0

//! The trampolines of the `netfs_cache_ops` table that
//! [`OpsTable`] hands to each operation in `begin_operation` (the table
//! itself is in `ops.rs`, next to the `fscache_cache_ops` one).

use super::{CacheOps, NetfsRead, NetfsWrite, OpsTable, ReadHole, Subreq, Termination};
use crate::kernel_ext::bindings;
use crate::kernel_ext::vfs::FileRef;
use core::ptr::NonNull;

impl<T: CacheOps> OpsTable<T> {
    /// # Safety
    ///
    /// Called by a netfs at the end of an operation begun by
    /// `begin_operation` on `cres`.
    pub(super) unsafe extern "C" fn end_operation(cres: *mut bindings::netfs_cache_resources) {
        // SAFETY: `cache_priv2` is null or a `FileRef` the operation owns;
        // fscache took an access on the cookie for the operation.
        unsafe {
            let file = core::mem::replace(&mut (*cres).cache_priv2, core::ptr::null_mut());
            if let Some(f) = NonNull::new(file.cast::<bindings::file>()) {
                drop(FileRef::from_raw(f));
            }
            bindings::cfrs_cookie_end_io_access((*cres).cache_priv.cast());
        }
    }

    /// # Safety
    ///
    /// As for `end_operation`; `iter` is valid and the caller's.
    pub(super) unsafe extern "C" fn read(
        cres: *mut bindings::netfs_cache_resources,
        start_pos: bindings::loff_t,
        iter: *mut bindings::iov_iter,
        read_hole: bindings::netfs_read_from_hole,
        term_func: bindings::netfs_io_terminated_t,
        term_func_priv: *mut kernel::ffi::c_void,
    ) -> kernel::ffi::c_int {
        // SAFETY: Guaranteed by the caller.
        let (this, mut c) = unsafe { Self::cres(cres) };
        let hole = match read_hole {
            bindings::netfs_read_from_hole_NETFS_READ_HOLE_IGNORE => ReadHole::Ignore,
            bindings::netfs_read_from_hole_NETFS_READ_HOLE_CLEAR => ReadHole::Clear,
            _ => ReadHole::Fail,
        };
        // SAFETY: The netfs's completion of this read (caller).
        let term = unsafe { Termination::new(cres, term_func, term_func_priv) };
        let Some(iter) = NonNull::new(iter) else {
            term.read_done(Err(crate::logic::errno::EINVAL), false);
            return -crate::logic::errno::EINVAL.0;
        };
        // SAFETY: The netfs's iterator, valid and its own until the
        // termination (netfs contract).
        let read = unsafe { NetfsRead::new(iter, term) };
        match T::read(this, &mut c, start_pos, read, hole) {
            Ok(()) => 0,
            Err(e) => -e.0,
        }
    }

    /// # Safety
    ///
    /// As for `read`.
    pub(super) unsafe extern "C" fn write(
        cres: *mut bindings::netfs_cache_resources,
        start_pos: bindings::loff_t,
        iter: *mut bindings::iov_iter,
        term_func: bindings::netfs_io_terminated_t,
        term_func_priv: *mut kernel::ffi::c_void,
    ) -> kernel::ffi::c_int {
        // SAFETY: Guaranteed by the caller.
        let (this, mut c) = unsafe { Self::cres(cres) };
        // SAFETY: The netfs's completion of this write (caller).
        let term = unsafe { Termination::new(cres, term_func, term_func_priv) };
        let Some(iter) = NonNull::new(iter) else {
            term.write_done(Err(crate::logic::errno::EINVAL), false);
            return -crate::logic::errno::EINVAL.0;
        };
        // SAFETY: The netfs's iterator, valid and its own until the
        // termination (netfs contract).
        let write = unsafe { NetfsWrite::new(iter, term) };
        match T::write(this, &mut c, start_pos, write) {
            Ok(()) => 0,
            Err(e) => -e.0,
        }
    }

    /// # Safety
    ///
    /// Called by netfs with a valid `subreq` of a request whose
    /// `cache_resources` were begun by `begin_operation`, owned by the
    /// caller for the call.
    pub(super) unsafe extern "C" fn prepare_read(
        subreq: *mut bindings::netfs_io_subrequest,
        i_size: kernel::ffi::c_ulonglong,
    ) -> bindings::netfs_io_source {
        // SAFETY: netfs calls this through the request's own
        // `cache_resources`, which the subrequest points to.
        let (this, _) =
            unsafe { Self::cres(core::ptr::addr_of_mut!((*(*subreq).rreq).cache_resources)) };
        // SAFETY: Guaranteed by the caller.
        let mut s = unsafe { Subreq::from_raw(subreq) };
        T::prepare_read(this, &mut s, i_size).to_raw()
    }

    /// # Safety
    ///
    /// Called by netfs with a valid write `subreq` of the cache stream of a
    /// request whose `cache_resources` were begun by `begin_operation`.
    pub(super) unsafe extern "C" fn prepare_write_subreq(
        subreq: *mut bindings::netfs_io_subrequest,
    ) {
        // SAFETY: As in `prepare_read`.
        let (this, _) =
            unsafe { Self::cres(core::ptr::addr_of_mut!((*(*subreq).rreq).cache_resources)) };
        // SAFETY: Guaranteed by the caller.
        let s = unsafe { Subreq::from_raw(subreq) };
        T::prepare_write_subreq(this, s);
    }

    /// # Safety
    ///
    /// As for `prepare_write_subreq`.
    pub(super) unsafe extern "C" fn issue_write(subreq: *mut bindings::netfs_io_subrequest) {
        // SAFETY: As in `prepare_read`.
        let (this, _) =
            unsafe { Self::cres(core::ptr::addr_of_mut!((*(*subreq).rreq).cache_resources)) };
        // SAFETY: Guaranteed by the caller.
        let s = unsafe { Subreq::from_raw(subreq) };
        T::issue_write(this, s);
    }

    /// # Safety
    ///
    /// As for `end_operation`; `start` and `len` are valid.
    pub(super) unsafe extern "C" fn prepare_write(
        cres: *mut bindings::netfs_cache_resources,
        start: *mut bindings::loff_t,
        len: *mut usize,
        upper_len: usize,
        i_size: bindings::loff_t,
        no_space_allocated_yet: bool,
    ) -> kernel::ffi::c_int {
        // SAFETY: Guaranteed by the caller.
        let (this, mut c) = unsafe { Self::cres(cres) };
        // SAFETY: The caller's valid in/out parameters.
        let (start, len) = unsafe { (&mut *start, &mut *len) };
        match T::prepare_write(
            this,
            &mut c,
            start,
            len,
            upper_len,
            i_size,
            no_space_allocated_yet,
        ) {
            Ok(()) => 0,
            Err(e) => -e.0,
        }
    }

    /// # Safety
    ///
    /// As for `end_operation`; `len` and `flags` are valid.
    pub(super) unsafe extern "C" fn prepare_ondemand_read(
        cres: *mut bindings::netfs_cache_resources,
        start: bindings::loff_t,
        len: *mut usize,
        i_size: bindings::loff_t,
        flags: *mut kernel::ffi::c_ulong,
        _ino: bindings::ino_t,
    ) -> bindings::netfs_io_source {
        // SAFETY: Guaranteed by the caller.
        let (this, mut c) = unsafe { Self::cres(cres) };
        // SAFETY: The caller's valid in/out parameters (`c_ulong` is
        // `usize` on Linux).
        let (len, flags) = unsafe { (&mut *len, &mut *flags.cast::<usize>()) };
        T::prepare_ondemand_read(this, &mut c, start, len, i_size, flags).to_raw()
    }

    /// # Safety
    ///
    /// As for `end_operation`; the out parameters are valid.
    pub(super) unsafe extern "C" fn query_occupancy(
        cres: *mut bindings::netfs_cache_resources,
        start: bindings::loff_t,
        len: usize,
        granularity: usize,
        data_start: *mut bindings::loff_t,
        data_len: *mut usize,
    ) -> kernel::ffi::c_int {
        // SAFETY: Guaranteed by the caller.
        let (this, mut c) = unsafe { Self::cres(cres) };
        // SAFETY: Valid out parameters (caller); C's "nothing found".
        unsafe {
            *data_start = -1;
            *data_len = 0;
        }
        match T::query_occupancy(this, &mut c, start, len, granularity) {
            Ok((s, l)) => {
                // SAFETY: Valid out parameters (caller).
                unsafe {
                    *data_start = s;
                    *data_len = l;
                }
                0
            }
            Err(e) => -e.0,
        }
    }
}
