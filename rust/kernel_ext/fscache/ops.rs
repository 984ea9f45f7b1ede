// SPDX-License-Identifier: GPL-2.0

//! The [`CacheOps`] trait a backend implements and [`OpsTable`], the C
//! vtables (`fscache_cache_ops`, `netfs_cache_ops`) whose trampolines call it.
//!
//! `CacheOps` is a `#[vtable]` trait, as `kernel::block::mq::Operations`:
//! an optional operation the backend leaves out is a NULL slot in the C
//! table (`T::HAS_*`), and its default body is a build error.  Adding an
//! operation means a trait method, its trampoline and one table line.
//!
//! The trampolines are the only makers of the callback types: the tokens
//! of the cookie's state machine ([`CookieLookup`], [`CookieWithdrawal`]),
//! [`VolumeHandle`]s and [`Cres`].

use super::{volume, Cookie, CookieLookup, CookieWithdrawal, Cres, ReadHole, Source};
use super::{NetfsRead, NetfsWrite, Subreq, VolumeHandle, VolumeList, Want};
use crate::kernel_ext::bindings;
use crate::logic::cmd::Errno;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::error::VTABLE_DEFAULT_ERROR;
use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow};

/// What a backend keeps in fscache's private pointers: the types only.
///
/// Separate from [`CacheOps`] so that the backend's data model (which
/// holds cookies, volume lists and cache cookies, all generic over the
/// backend) needs only these types, not the operations, which are built
/// from that data model: the backend can then define its types below its
/// operations, with no dependency cycle between the two.
pub(crate) trait CacheTypes: Send + Sync + Sized + 'static {
    /// What the backend keeps per volume (in the volume's `cache_priv`).
    type VolumeData: Send + Sync;
    /// The backend's object of a cookie (in the cookie's `cache_priv`).
    type Object: Send + Sync;
}

/// The operations fscache calls on a registered cache.
///
/// `Self` is the backend's per-cache state, registered with
/// [`CacheCookie::add`](super::CacheCookie::add) and alive until the cache
/// is withdrawn.  The `fscache_cache_ops` operations are required (fscache
/// calls them unconditionally); the `netfs_cache_ops` ones are optional:
/// leave out only what the netfs using the cache never calls.
#[vtable]
pub(crate) trait CacheOps: CacheTypes {
    /// The list of the volumes the cache serves (C's `cache->volumes`),
    /// which the trampolines maintain.
    fn volumes(this: &Self) -> &VolumeList<Self>;
    /// A netfs starts using `volume` in this cache.  Returning data lists
    /// the volume in [`volumes`](CacheOps::volumes); `None` leaves it
    /// unusable (lookups of its cookies then fail).
    fn acquire_volume(this: &Self, volume: &VolumeHandle<Self>) -> Option<Arc<Self::VolumeData>>;
    /// fscache frees a volume, already unlisted; `data` is what
    /// `acquire_volume` returned (not called if it returned `None` or the
    /// data was detached).
    fn free_volume(this: &Self, data: Arc<Self::VolumeData>);
    /// Finds or creates the backing object of `cookie` (attaching it with
    /// [`CookieLookup::attach`]); `false` if the cache cannot serve it.  An
    /// object attached before failing is still withdrawn later.
    fn lookup_cookie(this: ArcBorrow<'_, Self>, cookie: CookieLookup<'_, Self>) -> bool;
    /// The cookie is going away: drop its backing object
    /// ([`CookieWithdrawal::detach`]).
    fn withdraw_cookie(this: &Self, cookie: CookieWithdrawal<'_, Self>);
    /// The netfs changed the object's size (within an operation).
    fn resize_cookie(this: &Self, cres: &mut Cres<'_, Self>, new_size: i64);
    /// The netfs invalidated the object's data; `false` if the cache cannot
    /// do it (the cookie then stops being cached).
    fn invalidate_cookie(this: &Self, cookie: &Cookie<Self>) -> bool;
    /// The netfs is about to write to the object.
    fn prepare_to_write(this: &Self, cookie: &Cookie<Self>);
    /// An I/O operation starts: give `cres` its file.  `false` if the
    /// operation cannot proceed.
    fn begin_operation(this: &Self, cres: &mut Cres<'_, Self>, want: Want) -> bool;

    /// Reads from the backing file at `pos` into `read`'s iterator, maybe
    /// asynchronously, and reports the bytes transferred (skipped hole
    /// bytes included) or the error through `read`, exactly once, maybe
    /// after returning.  Returns the error if the read failed before it
    /// was queued (reported as well), as C's `cachefiles_read`.
    fn read(
        _this: &Self,
        _cres: &mut Cres<'_, Self>,
        _pos: i64,
        _read: NetfsRead,
        _hole: ReadHole,
    ) -> Result<(), Errno> {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Writes `write`'s iterator to the backing file at `pos`, maybe
    /// asynchronously, and reports the bytes written or the error through
    /// `write`, exactly once, maybe after returning.  Returns the error if
    /// the write failed before it was queued (reported as well), as C's
    /// `cachefiles_write`.  Once `write` is handed on, `cres` must not be
    /// used: the termination may end the operation.
    fn write(
        _this: &Self,
        _cres: &mut Cres<'_, Self>,
        _pos: i64,
        _write: NetfsWrite,
    ) -> Result<(), Errno> {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Decides where the read `subreq` of an object of `i_size` bytes
    /// comes from, maybe shortening it and setting its flags.
    fn prepare_read(_this: &Self, _subreq: &mut Subreq<'_, Self>, _i_size: u64) -> Source {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Prepares the write subrequest `subreq` of the cache stream (sets
    /// the stream's limits; fails it if the object has no file).
    fn prepare_write_subreq(_this: &Self, _subreq: Subreq<'_, Self>) {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Writes the subrequest `subreq` to the cache and terminates it,
    /// maybe asynchronously ([`Subreq::into_write`]).
    fn issue_write(_this: &Self, _subreq: Subreq<'_, Self>) {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Prepares a write of `*len` bytes at `*start` (maybe moving both),
    /// `upper_len` at most.
    fn prepare_write(
        _this: &Self,
        _cres: &mut Cres<'_, Self>,
        _start: &mut i64,
        _len: &mut usize,
        _upper_len: usize,
        _i_size: i64,
        _no_space_allocated_yet: bool,
    ) -> Result<(), Errno> {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Decides where a read of `*len` bytes at `start` comes from, maybe
    /// shortening `*len` (on-demand mode: asks the daemon to fill holes
    /// when `flags` has [`SREQ_ONDEMAND`](super::SREQ_ONDEMAND)).
    fn prepare_ondemand_read(
        _this: &Self,
        _cres: &mut Cres<'_, Self>,
        _start: i64,
        _len: &mut usize,
        _i_size: i64,
        _flags: &mut usize,
    ) -> Source {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Finds the first data at or after `start` within `len` bytes, in
    /// units of `granularity`: `(data_start, data_len)`, or `ENODATA`.
    fn query_occupancy(
        _this: &Self,
        _cres: &mut Cres<'_, Self>,
        _start: i64,
        _len: usize,
        _granularity: usize,
    ) -> Result<(i64, usize), Errno> {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// Builder of the C vtables of a [`CacheOps`] implementation.
pub(crate) struct OpsTable<T: CacheOps>(PhantomData<T>);

/// `Some(f)` if the backend implements the operation, else NULL.
macro_rules! opt {
    ($has:expr, $f:expr) => {
        if $has {
            Some($f)
        } else {
            None
        }
    };
}

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
        read: opt!(T::HAS_READ, Self::read),
        write: opt!(T::HAS_WRITE, Self::write),
        issue_write: opt!(T::HAS_ISSUE_WRITE, Self::issue_write),
        expand_readahead: None,
        prepare_read: opt!(T::HAS_PREPARE_READ, Self::prepare_read),
        prepare_write_subreq: opt!(T::HAS_PREPARE_WRITE_SUBREQ, Self::prepare_write_subreq),
        prepare_write: opt!(T::HAS_PREPARE_WRITE, Self::prepare_write),
        prepare_ondemand_read: opt!(T::HAS_PREPARE_ONDEMAND_READ, Self::prepare_ondemand_read),
        query_occupancy: opt!(T::HAS_QUERY_OCCUPANCY, Self::query_occupancy),
    };

    /// The vtable, with a `'static` lifetime.
    pub(crate) const fn build() -> &'static bindings::fscache_cache_ops {
        &Self::TABLE
    }

    /// # Safety
    ///
    /// `cache` must be a cache registered by
    /// [`CacheCookie::add`](super::CacheCookie::add) with a `T`.
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
        // SAFETY: fscache passes a non-null volume; this is its callback.
        let handle = unsafe { VolumeHandle::from_raw(NonNull::new_unchecked(volume)) };
        // The list entry first: listing cannot fail once the backend made
        // its data (and pinned the volume's accesses).
        let Ok(node) = VolumeList::node(&handle) else {
            return;
        };
        if let Some(data) = T::acquire_volume(this, &handle) {
            // SAFETY: The volume is alive and of a `T` cache.
            let old = unsafe { volume::set_data::<T>(volume, data) };
            // fscache acquires a volume once; nothing to drop normally.
            drop(old);
            // With data set, fscache will call `free_volume`, which
            // unlists the volume.
            T::volumes(this).insert(node);
        }
    }

    /// # Safety
    ///
    /// As for `acquire_volume`.
    unsafe extern "C" fn free_volume(volume: *mut bindings::fscache_volume) {
        // SAFETY: As in `acquire_volume`.
        let this = unsafe { Self::backend((*volume).cache) };
        // fscache frees the volume after this: unlist it first.
        T::volumes(this).remove(volume as usize);
        // SAFETY: The volume is alive and of a `T` cache.  fscache calls
        // this only with data set, but check (`acquire_volume` may have
        // returned `None`, or the data may have been detached).
        let Some(data) = (unsafe { volume::take_data::<T>(volume) }) else {
            return;
        };
        T::free_volume(this, data);
    }

    /// # Safety
    ///
    /// Called by fscache with a live cookie whose volume is in a cache
    /// registered with `T`.
    unsafe fn cookie<'a>(cookie: *mut bindings::fscache_cookie) -> (&'a T, &'a Cookie<T>) {
        // SAFETY: A cookie points to its volume, which points to its cache;
        // the cookie is alive for the call.
        unsafe {
            (
                Self::backend((*(*cookie).volume).cache),
                Cookie::from_raw(cookie),
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
        // This is fscache's lookup callback: make its token.
        T::lookup_cookie(this, CookieLookup::new(cookie))
    }

    /// # Safety
    ///
    /// As for `cookie`.
    unsafe extern "C" fn withdraw_cookie(cookie: *mut bindings::fscache_cookie) {
        // SAFETY: Guaranteed by the caller.
        let (this, cookie) = unsafe { Self::cookie(cookie) };
        // This is fscache's withdrawal callback: make its token.
        T::withdraw_cookie(this, CookieWithdrawal::new(cookie));
    }

    /// # Safety
    ///
    /// Called by fscache with `cres` begun by `begin_operation`.
    unsafe extern "C" fn resize_cookie(
        cres: *mut bindings::netfs_cache_resources,
        new_size: bindings::loff_t,
    ) {
        // SAFETY: Guaranteed by the caller.
        let (this, mut c) = unsafe { Self::cres(cres) };
        T::resize_cookie(this, &mut c, new_size);
    }

    /// # Safety
    ///
    /// As for `cookie`.
    unsafe extern "C" fn invalidate_cookie(cookie: *mut bindings::fscache_cookie) -> bool {
        // SAFETY: Guaranteed by the caller.
        let (this, cookie) = unsafe { Self::cookie(cookie) };
        T::invalidate_cookie(this, cookie)
    }

    /// # Safety
    ///
    /// As for `cookie`.
    unsafe extern "C" fn prepare_to_write(cookie: *mut bindings::fscache_cookie) {
        // SAFETY: Guaranteed by the caller.
        let (this, cookie) = unsafe { Self::cookie(cookie) };
        T::prepare_to_write(this, cookie);
    }

    /// # Safety
    ///
    /// `cres` is valid, set up by fscache for an operation on a cookie of a
    /// cache registered with `T`, and owned by the calling callback.
    pub(super) unsafe fn cres<'a>(
        cres: *mut bindings::netfs_cache_resources,
    ) -> (&'a T, Cres<'a, T>) {
        // SAFETY: fscache sets `cache_priv` to the (live) cookie.
        let (this, _) = unsafe { Self::cookie((*cres).cache_priv.cast()) };
        // SAFETY: Guaranteed by the caller.
        (this, unsafe { Cres::from_raw(cres) })
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
}
