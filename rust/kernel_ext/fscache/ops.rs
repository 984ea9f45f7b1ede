// SPDX-License-Identifier: GPL-2.0

//! The [`CacheOps`] trait a backend implements and [`OpsTable`], the C
//! vtables (`fscache_cache_ops`, `netfs_cache_ops`) whose trampolines call it.

use super::{Cookie, Cres, ReadHole, Source, VolumeHandle, Want};
use crate::kernel_ext::bindings;
use crate::kernel_ext::vfs::{FileRef, IovIter};
use crate::logic::cmd::Errno;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::prelude::*;
use kernel::sync::ArcBorrow;

/// The operations fscache calls on a registered cache.
///
/// `Self` is the backend's per-cache state, registered with
/// [`CacheCookie::add`](super::CacheCookie::add) and alive until the cache is withdrawn.
pub(crate) trait CacheOps: Send + Sync + Sized + 'static {
    /// What the backend keeps per volume (in the volume's `cache_priv`).
    type VolumeData: Send + Sync;
    /// The backend's object of a cookie (in the cookie's `cache_priv`).
    type Object: Send + Sync;

    /// A netfs starts using `volume` in this cache.  Returning `None`
    /// leaves the volume unusable: lookups of its cookies then fail.
    fn acquire_volume(this: &Self, volume: VolumeHandle<Self>) -> Option<KBox<Self::VolumeData>>;
    /// fscache frees `volume`; `data` is what `acquire_volume` returned.
    fn free_volume(this: &Self, volume: VolumeHandle<Self>, data: KBox<Self::VolumeData>);
    /// Finds or creates the backing object of `cookie` (attaching it with
    /// [`Cookie::attach`]); `false` if the cache cannot serve it.  An
    /// object attached before failing is still withdrawn later.
    fn lookup_cookie(this: ArcBorrow<'_, Self>, cookie: &Cookie<Self>) -> bool;
    /// The cookie is going away: drop its backing object.
    fn withdraw_cookie(this: &Self, cookie: &Cookie<Self>);
    /// An I/O operation starts: give `cres` its file.  `false` if the
    /// operation cannot proceed.
    fn begin_operation(this: &Self, cres: &mut Cres<'_, Self>, want: Want) -> bool;
    /// Reads from the backing file at `pos` into `iter`; returns the bytes
    /// transferred (skipped hole bytes included).
    fn read(
        this: &Self,
        cres: &mut Cres<'_, Self>,
        pos: i64,
        iter: &mut IovIter,
        hole: ReadHole,
    ) -> Result<usize, Errno>;
    /// Decides where a read of `*len` bytes at `start` comes from, maybe
    /// shortening `*len` (on-demand mode: asks the daemon to fill holes
    /// when `flags` has [`SREQ_ONDEMAND`]).
    fn prepare_ondemand_read(
        this: &Self,
        cres: &mut Cres<'_, Self>,
        start: i64,
        len: &mut usize,
        i_size: i64,
        flags: &mut usize,
    ) -> Source;
    /// Finds the first data at or after `start` within `len` bytes, in
    /// units of `granularity`: `(data_start, data_len)`, or `ENODATA`.
    fn query_occupancy(
        this: &Self,
        cres: &mut Cres<'_, Self>,
        start: i64,
        len: usize,
        granularity: usize,
    ) -> Result<(i64, usize), Errno>;
}

/// Builder of the C vtable of a [`CacheOps`] implementation.
pub(crate) struct OpsTable<T: CacheOps>(PhantomData<T>);

impl<T: CacheOps> OpsTable<T> {
    const TABLE: bindings::fscache_cache_ops = bindings::fscache_cache_ops {
        name: c"cachefiles".as_ptr().cast(),
        acquire_volume: Some(Self::acquire_volume),
        free_volume: Some(Self::free_volume),
        lookup_cookie: Some(Self::lookup_cookie),
        withdraw_cookie: Some(Self::withdraw_cookie),
        resize_cookie: Some(Self::resize_cookie),
        invalidate_cookie: Some(Self::invalidate_cookie),
        begin_operation: Some(Self::begin_operation),
        prepare_to_write: Some(Self::prepare_to_write),
    };

    const NETFS: bindings::netfs_cache_ops = bindings::netfs_cache_ops {
        end_operation: Some(Self::end_operation),
        read: Some(Self::read),
        write: Some(Self::write),
        issue_write: None,
        expand_readahead: None,
        prepare_read: Some(Self::prepare_read),
        prepare_write_subreq: None,
        prepare_write: Some(Self::prepare_write),
        prepare_ondemand_read: Some(Self::prepare_ondemand_read),
        query_occupancy: Some(Self::query_occupancy),
    };

    /// The vtable, with a `'static` lifetime.
    pub(crate) const fn build() -> &'static bindings::fscache_cache_ops {
        &Self::TABLE
    }

    /// # Safety
    ///
    /// `cache` must be a cache registered by [`CacheCookie::add`](super::CacheCookie::add) with a `T`.
    unsafe fn backend<'a>(cache: *mut bindings::fscache_cache) -> &'a T {
        // `add` stored `Arc::into_raw` of an `Arc<T>` in `cache_priv`,
        // released only after the cache is withdrawn (fscache stopped calling).
        // SAFETY: So the pointer is a live `T` for the whole callback.
        unsafe { &*((*cache).cache_priv as *const T) }
    }

    /// # Safety
    ///
    /// Called by fscache with a live volume of a cache registered with `T`.
    unsafe extern "C" fn acquire_volume(volume: *mut bindings::fscache_volume) {
        // SAFETY: A volume always points to its (registered) cache.
        let this = unsafe { Self::backend((*volume).cache) };
        // SAFETY: fscache passes a non-null volume.
        let ptr = unsafe { NonNull::new_unchecked(volume) };
        // INVARIANT: A live volume of a cache served by `T`.
        if let Some(data) = T::acquire_volume(
            this,
            VolumeHandle {
                ptr,
                _p: PhantomData,
            },
        ) {
            // SAFETY: The volume is alive; only this glue and `take_data`
            // use `cache_priv`, always as a `KBox<T::VolumeData>`.
            unsafe { (*volume).cache_priv = KBox::into_raw(data).cast() };
        }
    }

    /// # Safety
    ///
    /// As for `acquire_volume`.
    unsafe extern "C" fn free_volume(volume: *mut bindings::fscache_volume) {
        // SAFETY: As in `acquire_volume`.
        let this = unsafe { Self::backend((*volume).cache) };
        // SAFETY: fscache passes a non-null volume, alive for the call.
        let ptr = unsafe { NonNull::new_unchecked(volume) };
        // SAFETY: fscache calls this only while `cache_priv` is set, which
        // only `acquire_volume` does (from a `KBox<T::VolumeData>`).
        let data = unsafe {
            let p = core::mem::replace(&mut (*volume).cache_priv, core::ptr::null_mut());
            KBox::from_raw(p.cast::<T::VolumeData>())
        };
        // INVARIANT: Still a live volume of a cache served by `T`.
        T::free_volume(
            this,
            VolumeHandle {
                ptr,
                _p: PhantomData,
            },
            data,
        );
    }

    /// # Safety
    ///
    /// Called by fscache with a live cookie whose volume is in a cache
    /// registered with `T`.
    unsafe fn cookie<'a>(cookie: *mut bindings::fscache_cookie) -> (&'a T, &'a Cookie<T>) {
        // SAFETY: A cookie points to its volume, which points to its cache;
        // the cookie is alive for the call and `Cookie` is transparent.
        unsafe {
            (
                Self::backend((*(*cookie).volume).cache),
                &*(cookie as *const Cookie<T>),
            )
        }
    }

    /// # Safety
    ///
    /// As for `cookie`.
    unsafe extern "C" fn lookup_cookie(cookie: *mut bindings::fscache_cookie) -> bool {
        // SAFETY: Guaranteed by the caller.
        let (this, cookie) = unsafe { Self::cookie(cookie) };
        // SAFETY: `this` is the data of the `Arc<T>` that `add` registered
        // (`Arc::into_raw`), alive for the whole callback.
        let this = unsafe { ArcBorrow::from_raw(this as *const T) };
        T::lookup_cookie(this, cookie)
    }

    /// # Safety
    ///
    /// As for `cookie`.
    unsafe extern "C" fn withdraw_cookie(cookie: *mut bindings::fscache_cookie) {
        // SAFETY: Guaranteed by the caller.
        let (this, cookie) = unsafe { Self::cookie(cookie) };
        T::withdraw_cookie(this, cookie);
    }

    /// Resizing is a no-op: on-demand objects are sized by the daemon.
    extern "C" fn resize_cookie(
        _cres: *mut bindings::netfs_cache_resources,
        _new_size: bindings::loff_t,
    ) {
    }

    /// Invalidation is not supported: the cookie stops being cached.
    extern "C" fn invalidate_cookie(_cookie: *mut bindings::fscache_cookie) -> bool {
        false
    }

    /// Nothing to prepare: the netfs does not write to objects.
    extern "C" fn prepare_to_write(_cookie: *mut bindings::fscache_cookie) {}

    /// # Safety
    ///
    /// `cres` is valid and set up by fscache (see [`Cres`]).
    unsafe fn cres<'a>(cres: *mut bindings::netfs_cache_resources) -> (&'a T, Cres<'a, T>) {
        // SAFETY: fscache sets `cache_priv` to the (live) cookie.
        let (this, _) = unsafe { Self::cookie((*cres).cache_priv.cast()) };
        // INVARIANT: Guaranteed by the caller.
        (
            this,
            Cres {
                ptr: cres,
                _p: PhantomData,
            },
        )
    }

    /// # Safety
    ///
    /// Called by fscache with `cres` set up for an operation on a cookie of
    /// a cache registered with `T`.
    unsafe extern "C" fn begin_operation(
        cres: *mut bindings::netfs_cache_resources,
        want: bindings::fscache_want_state,
    ) -> bool {
        // The operation uses our netfs ops from now on, so `end_operation`
        // puts what we store in `cache_priv2`.
        // SAFETY: `cres` is valid (caller).
        unsafe { (*cres).ops = &Self::NETFS };
        // SAFETY: Guaranteed by the caller.
        let (this, mut c) = unsafe { Self::cres(cres) };
        T::begin_operation(this, &mut c, Want::from_raw(want))
    }

    /// # Safety
    ///
    /// Called by a netfs at the end of an operation begun by
    /// `begin_operation` on `cres`.
    unsafe extern "C" fn end_operation(cres: *mut bindings::netfs_cache_resources) {
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
    unsafe extern "C" fn read(
        cres: *mut bindings::netfs_cache_resources,
        start_pos: bindings::loff_t,
        iter: *mut bindings::iov_iter,
        read_hole: bindings::netfs_read_from_hole,
        term_func: bindings::netfs_io_terminated_t,
        term_func_priv: *mut kernel::ffi::c_void,
    ) -> kernel::ffi::c_int {
        // SAFETY: Guaranteed by the caller.
        let (this, mut c) = unsafe { Self::cres(cres) };
        // SAFETY: Guaranteed by the caller.
        let iter = unsafe { IovIter::from_raw(iter) };
        let hole = match read_hole {
            bindings::netfs_read_from_hole_NETFS_READ_HOLE_IGNORE => ReadHole::Ignore,
            bindings::netfs_read_from_hole_NETFS_READ_HOLE_CLEAR => ReadHole::Clear,
            _ => ReadHole::Fail,
        };
        // The read completes synchronously; the netfs learns the outcome
        // through `term_func` either way, as with C's submission errors.
        let (done, ret) = match T::read(this, &mut c, start_pos, iter, hole) {
            Ok(n) => (n as isize, 0),
            Err(e) => (-(e.0 as isize), -e.0),
        };
        if let Some(f) = term_func {
            // SAFETY: The netfs's completion callback with its own data.
            unsafe { f(term_func_priv, done, false) };
        }
        ret
    }

    /// Writes are refused: on-demand data comes from the daemon.
    ///
    /// # Safety
    ///
    /// As for `read`.
    unsafe extern "C" fn write(
        _cres: *mut bindings::netfs_cache_resources,
        _start_pos: bindings::loff_t,
        _iter: *mut bindings::iov_iter,
        term_func: bindings::netfs_io_terminated_t,
        term_func_priv: *mut kernel::ffi::c_void,
    ) -> kernel::ffi::c_int {
        let e = crate::logic::cmd::errno::ENOBUFS.0;
        if let Some(f) = term_func {
            // SAFETY: The netfs's completion callback with its own data.
            unsafe { f(term_func_priv, -(e as isize), false) };
        }
        -e
    }

    /// Reads outside on-demand mode go to the server.
    extern "C" fn prepare_read(
        _subreq: *mut bindings::netfs_io_subrequest,
        _i_size: kernel::ffi::c_ulonglong,
    ) -> bindings::netfs_io_source {
        Source::DownloadFromServer.to_raw()
    }

    /// Writes are refused (`ENOBUFS`: the netfs then does not cache).
    extern "C" fn prepare_write(
        _cres: *mut bindings::netfs_cache_resources,
        _start: *mut bindings::loff_t,
        _len: *mut usize,
        _upper_len: usize,
        _i_size: bindings::loff_t,
        _no_space_allocated_yet: bool,
    ) -> kernel::ffi::c_int {
        -crate::logic::cmd::errno::ENOBUFS.0
    }

    /// # Safety
    ///
    /// As for `end_operation`; `len` and `flags` are valid.
    unsafe extern "C" fn prepare_ondemand_read(
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
    unsafe extern "C" fn query_occupancy(
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
