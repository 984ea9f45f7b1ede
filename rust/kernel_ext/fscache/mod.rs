// SPDX-License-Identifier: GPL-2.0

//! The fscache side of a cache backend: registering a cache and the
//! `fscache_cache_ops` a backend implements.
//!
//! C header: [`include/linux/fscache-cache.h`](srctree/include/linux/fscache-cache.h)
//!
//! A backend implements [`CacheOps`]; [`OpsTable::build`] turns it into the
//! C vtables (`fscache_cache_ops`, and the `netfs_cache_ops` handed out by
//! `begin_operation`): trampolines that recover the backend from
//! `cache_priv`, the same pattern as `kernel::block::mq::Operations`.
//!
//! What the private pointers hold (set and cleared only by this module):
//! * `fscache_cache::cache_priv`: the backend, an `Arc<T>`
//!   ([`CacheCookie::add`]);
//! * `fscache_volume::cache_priv`: a `KBox<T::VolumeData>`;
//! * `fscache_cookie::cache_priv`: an `Arc<T::Object>` ([`Cookie::attach`]);
//! * `netfs_cache_resources`: `cache_priv` is the cookie (set by fscache),
//!   `cache_priv2` a counted reference to the backing file ([`FileRef`]).

use crate::kernel_ext::bindings;
use crate::kernel_ext::vfs::{FileRef, IovIter};
use crate::logic::cmd::Errno;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow};

/// The operations fscache calls on a registered cache.
///
/// `Self` is the backend's per-cache state, registered with
/// [`CacheCookie::add`] and alive until the cache is withdrawn.
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

/// A cookie (one netfs object) of a cache served by `T`, as fscache hands
/// it to the backend.  Only ever seen by reference, in a callback or
/// through a [`CookieRef`], either of which keeps it alive.
#[repr(transparent)]
pub(crate) struct Cookie<T: CacheOps>(
    kernel::types::Opaque<bindings::fscache_cookie>,
    PhantomData<T>,
);

/// Cookie flags the backend reads or changes (`FSCACHE_COOKIE_*`).
#[derive(Clone, Copy)]
#[repr(u32)]
pub(crate) enum CookieFlag {
    /// The netfs retired the object: its data is to be discarded.
    Retired = bindings::FSCACHE_COOKIE_RETIRED,
    /// The object holds no data: reads need not look.
    NoDataToRead = bindings::FSCACHE_COOKIE_NO_DATA_TO_READ,
    /// The object's xattr must be rewritten when it is dropped.
    NeedsUpdate = bindings::FSCACHE_COOKIE_NEEDS_UPDATE,
    /// The netfs modified the data locally.
    LocalWrite = bindings::FSCACHE_COOKIE_LOCAL_WRITE,
    /// Data was written to the object.
    HaveData = bindings::FSCACHE_COOKIE_HAVE_DATA,
}

impl<T: CacheOps> Cookie<T> {
    fn as_ptr(&self) -> *mut bindings::fscache_cookie {
        self.0.get()
    }

    /// The cookie's key (the netfs's name for the object).
    pub(crate) fn key(&self) -> &[u8] {
        // SAFETY: The cookie is alive while borrowed; fscache sets the key
        // (inline or allocated) at acquisition and never changes it.
        unsafe {
            let p = bindings::cfrs_fscache_get_key(self.as_ptr());
            core::slice::from_raw_parts(p.cast::<u8>(), usize::from((*self.as_ptr()).key_len))
        }
    }

    /// The netfs's coherency data for the object.
    pub(crate) fn aux(&self) -> &[u8] {
        // SAFETY: As for `key`; the backend only reads the aux data while
        // fscache serialises the cookie's state machine (lookup, withdraw).
        unsafe {
            let p = bindings::cfrs_fscache_get_aux(self.as_ptr());
            core::slice::from_raw_parts(p.cast::<u8>(), usize::from((*self.as_ptr()).aux_len))
        }
    }

    /// The hash of the cookie's key; its low byte picks the fan-out
    /// directory.
    pub(crate) fn key_hash(&self) -> u32 {
        // SAFETY: Set at acquisition, never changed.
        unsafe { (*self.as_ptr()).key_hash }
    }

    /// The cookie's invalidation counter (bumped by each invalidation).
    pub(crate) fn inval_counter(&self) -> u32 {
        // SAFETY: The cookie is alive; a plain word read, as in C.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*self.as_ptr()).inval_counter)) }
    }

    /// The volume key as on-demand OPEN messages carry it: the string and
    /// its terminating NUL (fscache keeps one after the key).
    pub(crate) fn volume_key_with_nul(&self) -> &[u8] {
        // SAFETY: As for `volume_key`; fscache allocates the key zeroed and
        // rounded up past `1 + len`, so byte `1 + len` is a NUL.
        unsafe {
            let key = (*(*self.as_ptr()).volume).key;
            core::slice::from_raw_parts(key.add(1), usize::from(*key) + 1)
        }
    }

    /// The backend's data of the cookie's volume.
    pub(crate) fn volume_data(&self) -> Option<&T::VolumeData> {
        // SAFETY: A cookie holds a reference on its volume; `cache_priv` is
        // null or a `KBox<T::VolumeData>` set by `acquire_volume`, which
        // lives until `free_volume` or `take_data`, both of which happen
        // only after every object of the volume was withdrawn.
        unsafe {
            let p = (*(*self.as_ptr()).volume).cache_priv;
            (p as *const T::VolumeData).as_ref()
        }
    }

    /// The size of the object as the netfs (or the daemon) set it.
    pub(crate) fn object_size(&self) -> u64 {
        // SAFETY: The cookie is alive; a plain word read, as in C.
        unsafe {
            core::ptr::read_volatile(core::ptr::addr_of!((*self.as_ptr()).object_size)) as u64
        }
    }

    /// Sets the object size (on-demand mode: from the daemon's `copen`).
    pub(crate) fn set_object_size(&self, size: u64) {
        // SAFETY: As for `object_size`.
        unsafe {
            core::ptr::write_volatile(
                core::ptr::addr_of_mut!((*self.as_ptr()).object_size),
                size as i64,
            )
        }
    }

    /// Whether the netfs asked for the cache's object size
    /// (`FSCACHE_ADV_WANT_CACHE_SIZE`, required by on-demand mode).
    pub(crate) fn wants_cache_size(&self) -> bool {
        // SAFETY: Set at acquisition, never changed.
        u32::from(unsafe { (*self.as_ptr()).advice }) & bindings::FSCACHE_ADV_WANT_CACHE_SIZE != 0
    }

    /// Tests a cookie flag.
    pub(crate) fn test(&self, flag: CookieFlag) -> bool {
        // SAFETY: The cookie is alive; flags are atomic bit operations.
        unsafe { bindings::cfrs_cookie_test_flag(self.as_ptr(), flag as i32) }
    }

    /// Sets (`on`) or clears a cookie flag.
    pub(crate) fn set(&self, flag: CookieFlag, on: bool) {
        // SAFETY: As for `test`.
        unsafe { bindings::cfrs_cookie_set_flag(self.as_ptr(), flag as i32, on) }
    }

    /// Clears a cookie flag, returning whether it was set.
    pub(crate) fn test_and_clear(&self, flag: CookieFlag) -> bool {
        // SAFETY: As for `test`.
        unsafe { bindings::cfrs_cookie_test_and_clear_flag(self.as_ptr(), flag as i32) }
    }

    /// Tells fscache that caching failed for the cookie (it goes FAILED).
    pub(crate) fn caching_failed(&self) {
        // SAFETY: The cookie is alive.
        unsafe { bindings::fscache_caching_failed(self.as_ptr()) }
    }

    /// Tells fscache the object does not exist yet in the cache.
    pub(crate) fn lookup_negative(&self) {
        // SAFETY: The cookie is alive.
        unsafe { bindings::fscache_cookie_lookup_negative(self.as_ptr()) }
    }

    /// Asks fscache to withdraw the cookie from the cache (asynchronously;
    /// `withdraw_cookie` follows).
    pub(crate) fn withdraw(&self) {
        // SAFETY: The cookie is alive.
        unsafe { bindings::fscache_withdraw_cookie(self.as_ptr()) }
    }

    /// Takes a counted reference.
    pub(crate) fn get(&self) -> CookieRef<T> {
        // SAFETY: The cookie is alive; the helper takes a reference and
        // returns its argument.
        let p = unsafe { bindings::cfrs_cookie_get(self.as_ptr()) };
        // INVARIANT: We now own a reference on a cookie of a `T` cache.
        CookieRef {
            // SAFETY: `p` is the non-null `self`.
            ptr: unsafe { NonNull::new_unchecked(p) },
            _p: PhantomData,
        }
    }

    /// Counts a new backend object in the cache (what
    /// `fscache_wait_for_objects` waits on).
    pub(crate) fn count_object(&self) {
        // SAFETY: A cookie's volume points to its registered cache.
        unsafe { bindings::cfrs_fscache_count_object((*(*self.as_ptr()).volume).cache) }
    }

    /// Uncounts a backend object (paired with `count_object`).
    pub(crate) fn uncount_object(&self) {
        // SAFETY: As in `count_object`.
        unsafe { bindings::cfrs_fscache_uncount_object((*(*self.as_ptr()).volume).cache) }
    }

    /// Attaches the backend's object to the cookie (`cache_priv`),
    /// returning any previous one.
    pub(crate) fn attach(&self, object: Arc<T::Object>) -> Option<Arc<T::Object>> {
        let old = self.detach();
        // SAFETY: fscache serialises lookup and withdrawal of a cookie, the
        // only callers; `cache_priv` holds an `Arc::into_raw` or null.
        unsafe { (*self.as_ptr()).cache_priv = Arc::into_raw(object) as *mut _ };
        old
    }

    /// Detaches the backend's object from the cookie.
    pub(crate) fn detach(&self) -> Option<Arc<T::Object>> {
        // SAFETY: As in `attach`.
        unsafe {
            let p = core::mem::replace(&mut (*self.as_ptr()).cache_priv, core::ptr::null_mut());
            (!p.is_null()).then(|| Arc::from_raw(p as *const T::Object))
        }
    }

    /// The backend's object, borrowed.
    ///
    /// Valid while fscache keeps the object attached: during lookup and
    /// withdrawal callbacks and during an I/O operation (fscache withdraws
    /// a cookie only once its accesses have ended).
    pub(crate) fn object(&self) -> Option<ArcBorrow<'_, T::Object>> {
        // SAFETY: `cache_priv` is null or an `Arc<T::Object>` we own (see
        // `attach`, `Arc::into_raw`), alive while attached (see above).
        unsafe {
            let p = (*self.as_ptr()).cache_priv as *const T::Object;
            (!p.is_null()).then(|| ArcBorrow::from_raw(p))
        }
    }
}

/// A counted reference to a cookie of a cache served by `T`.
///
/// # Invariants
///
/// We hold one reference on `ptr`, put on drop.
pub(crate) struct CookieRef<T: CacheOps> {
    ptr: NonNull<bindings::fscache_cookie>,
    _p: PhantomData<T>,
}

// SAFETY: Cookies are reference counted and used from any thread.
unsafe impl<T: CacheOps> Send for CookieRef<T> {}
// SAFETY: `Cookie` methods are safe to call concurrently (atomics, fields
// fixed at acquisition, or serialised by fscache).
unsafe impl<T: CacheOps> Sync for CookieRef<T> {}

impl<T: CacheOps> core::ops::Deref for CookieRef<T> {
    type Target = Cookie<T>;
    fn deref(&self) -> &Cookie<T> {
        // SAFETY: We hold a reference; `Cookie` is transparent.
        unsafe { &*(self.ptr.as_ptr() as *const Cookie<T>) }
    }
}

impl<T: CacheOps> Drop for CookieRef<T> {
    fn drop(&mut self) {
        // SAFETY: We own one reference.
        unsafe { bindings::cfrs_cookie_put(self.ptr.as_ptr()) }
    }
}

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
    fn from_raw(w: bindings::fscache_want_state) -> Self {
        match w {
            bindings::fscache_want_state_FSCACHE_WANT_PARAMS => Want::Params,
            bindings::fscache_want_state_FSCACHE_WANT_WRITE => Want::Write,
            _ => Want::Read,
        }
    }

    fn to_raw(self) -> bindings::fscache_want_state {
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
    fn to_raw(self) -> bindings::netfs_io_source {
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
/// # Invariants
///
/// `ptr` is valid for `'a`; its `cache_priv` is a live cookie of a cache
/// served by `T` (fscache sets it) with an access held for the operation,
/// and `cache_priv2` is null or a [`FileRef`] owned by the operation.
pub(crate) struct Cres<'a, T: CacheOps> {
    ptr: *mut bindings::netfs_cache_resources,
    _p: PhantomData<(&'a mut bindings::netfs_cache_resources, T)>,
}

impl<T: CacheOps> Cres<'_, T> {
    /// The cookie the operation is on.
    pub(crate) fn cookie(&self) -> &Cookie<T> {
        // SAFETY: See the type invariants; `Cookie` is transparent.
        unsafe { &*((*self.ptr).cache_priv as *const Cookie<T>) }
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

    /// The cookie's invalidation counter at the start of the operation.
    pub(crate) fn inval_counter(&self) -> u32 {
        // SAFETY: Valid `cres`.
        unsafe { (*self.ptr).inval_counter }
    }

    /// Waits until the cookie is ready for `want`, making sure the
    /// operation has its file (`fscache_wait_for_operation`).
    pub(crate) fn wait_for_operation(&mut self, want: Want) -> bool {
        // SAFETY: Valid `cres` with an access on its cookie.
        unsafe { bindings::fscache_wait_for_operation(self.ptr, want.to_raw()) }
    }
}

/// A volume of a cache served by `T`, as a backend may keep it in lists.
///
/// # Invariants
///
/// `ptr` is an fscache volume whose `cache` is registered with `T`.  It is
/// alive from `acquire_volume` until fscache calls `free_volume` for it;
/// the backend must forget the handle then, and must only use it in
/// between (under its own lock, or while holding a [`VolumeRef`]).
pub(crate) struct VolumeHandle<T: CacheOps> {
    ptr: NonNull<bindings::fscache_volume>,
    _p: PhantomData<T>,
}

// SAFETY: fscache volumes are shared between threads with their own
// reference counts and locks.
unsafe impl<T: CacheOps> Send for VolumeHandle<T> {}
// SAFETY: As above.
unsafe impl<T: CacheOps> Sync for VolumeHandle<T> {}

impl<T: CacheOps> Clone for VolumeHandle<T> {
    fn clone(&self) -> Self {
        // INVARIANT: The same volume, under the same rules.
        VolumeHandle {
            ptr: self.ptr,
            _p: PhantomData,
        }
    }
}

impl<T: CacheOps> VolumeHandle<T> {
    /// The volume's address: a key that identifies it while it lives.
    pub(crate) fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// The volume key: a length byte and that many bytes (fscache's format).
    pub(crate) fn key(&self) -> &[u8] {
        // SAFETY: The volume is alive (type invariant); fscache allocates
        // its key with the length byte first and never changes it.
        unsafe {
            let key = (*self.ptr.as_ptr()).key;
            core::slice::from_raw_parts(key, usize::from(*key) + 1)
        }
    }

    /// The netfs's coherency data for the volume.
    pub(crate) fn coherency(&self) -> &[u8] {
        // SAFETY: The volume is alive (type invariant).
        unsafe { coherency(self.ptr) }
    }

    /// Keeps the volume's access count above zero while the cache serves it
    /// (fscache then never waits for it to drain until [`withdraw`]).
    ///
    /// [`withdraw`]: VolumeRef::withdraw
    pub(crate) fn pin_access(&self) {
        // SAFETY: The volume is alive.
        unsafe { bindings::cfrs_volume_pin(self.ptr.as_ptr()) };
    }

    /// Whether accesses to the volume are in progress or pinned.
    pub(crate) fn has_accesses(&self) -> bool {
        // SAFETY: The volume is alive.
        unsafe { bindings::cfrs_volume_accesses(self.ptr.as_ptr()) != 0 }
    }

    /// Takes a reference, unless the volume is already being freed.
    pub(crate) fn try_get(&self) -> Option<VolumeRef<T>> {
        // SAFETY: The volume's memory is alive (type invariant).
        let p = unsafe { bindings::cfrs_volume_try_get(self.ptr.as_ptr()) };
        // INVARIANT: A non-null result carries a reference.
        NonNull::new(p).map(|ptr| VolumeRef {
            ptr,
            _p: PhantomData,
        })
    }
}

/// A counted reference to a volume; put on drop.
///
/// # Invariants
///
/// We hold one reference on `ptr`, a volume of a cache served by `T`.
pub(crate) struct VolumeRef<T: CacheOps> {
    ptr: NonNull<bindings::fscache_volume>,
    _p: PhantomData<T>,
}

/// A volume's coherency data.
///
/// # Safety
///
/// `v` must stay alive for `'a`.
unsafe fn coherency<'a>(v: NonNull<bindings::fscache_volume>) -> &'a [u8] {
    let v = v.as_ptr();
    // SAFETY: `coherency` is a flexible array of `coherency_len` bytes set
    // when the volume was acquired; `v` lives for `'a` (caller).
    unsafe {
        core::slice::from_raw_parts(
            core::ptr::addr_of!((*v).coherency).cast::<u8>(),
            usize::from((*v).coherency_len),
        )
    }
}

impl<T: CacheOps> VolumeRef<T> {
    /// The netfs's coherency data for the volume.
    pub(crate) fn coherency(&self) -> &[u8] {
        // SAFETY: We hold a reference, so the volume is alive.
        unsafe { coherency(self.ptr) }
    }

    /// Drops the cache's access pin and waits for accesses to drain
    /// (`fscache_withdraw_volume`).
    pub(crate) fn withdraw(&self) {
        // SAFETY: We hold a reference; the pin was taken by the backend.
        unsafe { bindings::fscache_withdraw_volume(self.ptr.as_ptr()) };
    }

    /// Detaches the backend's data from the volume (fscache will not call
    /// `free_volume` for it any more).
    pub(crate) fn take_data(&self) -> Option<KBox<T::VolumeData>> {
        let v = self.ptr.as_ptr();
        // SAFETY: We hold a reference.  `cache_priv` is null or was set by
        // `OpsTable::<T>::acquire_volume` from `KBox::into_raw`.
        unsafe {
            let data = core::mem::replace(&mut (*v).cache_priv, core::ptr::null_mut());
            (!data.is_null()).then(|| KBox::from_raw(data.cast::<T::VolumeData>()))
        }
    }
}

impl<T: CacheOps> Drop for VolumeRef<T> {
    fn drop(&mut self) {
        // SAFETY: We own one reference.
        unsafe { bindings::cfrs_volume_put(self.ptr.as_ptr()) };
    }
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
    /// `cache` must be a cache registered by [`CacheCookie::add`] with a `T`.
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

/// A cache cookie acquired from fscache (`fscache_acquire_cache`), and,
/// once [`add`](CacheCookie::add)ed, the registered cache.
///
/// # Invariants
///
/// `ptr` is an acquired cache cookie, relinquished on drop.  When `backend`
/// is non-null, the cache is registered with fscache and its `cache_priv`
/// holds that `Arc<T>` reference (`Arc::into_raw`), reclaimed on drop after the cache
/// is withdrawn.
pub(crate) struct CacheCookie<T: CacheOps> {
    ptr: NonNull<bindings::fscache_cache>,
    backend: AtomicPtr<kernel::ffi::c_void>,
    withdrawn: AtomicBool,
    _p: PhantomData<T>,
}

// SAFETY: fscache cache cookies are used from any thread under fscache's
// own locking; `backend` is only a token for the `Arc` we own.
unsafe impl<T: CacheOps> Send for CacheCookie<T> {}
// SAFETY: Shared access uses fscache's thread-safe calls and atomics.
unsafe impl<T: CacheOps> Sync for CacheCookie<T> {}

impl<T: CacheOps> CacheCookie<T> {
    /// Acquires the cache cookie named `tag`.
    pub(crate) fn acquire(tag: &CStr) -> Result<Self, Errno> {
        // SAFETY: `tag` is NUL-terminated; fscache copies it.
        let p = unsafe { bindings::fscache_acquire_cache(tag.as_char_ptr()) };
        let v = p as isize;
        if (-(bindings::MAX_ERRNO as isize)..0).contains(&v) {
            return Err(Errno(-v as i32));
        }
        let ptr = NonNull::new(p).ok_or(crate::logic::cmd::errno::ENOMEM)?;
        // INVARIANT: `fscache_acquire_cache` succeeded; not registered.
        Ok(CacheCookie {
            ptr,
            backend: AtomicPtr::new(core::ptr::null_mut()),
            withdrawn: AtomicBool::new(false),
            _p: PhantomData,
        })
    }

    /// The cache's name (its tag).
    pub(crate) fn name(&self) -> &CStr {
        // SAFETY: An acquired cache has a NUL-terminated name that lives as
        // long as the cookie.
        unsafe { CStr::from_char_ptr((*self.ptr.as_ptr()).name) }
    }

    /// Registers the cache with fscache, served by `backend`.  Fails with
    /// `EBUSY` if already registered.
    pub(crate) fn add(&self, backend: Arc<T>) -> Result<(), Errno> {
        let token = Arc::into_raw(backend) as *mut kernel::ffi::c_void;
        if self
            .backend
            .compare_exchange(
                core::ptr::null_mut(),
                token,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            // SAFETY: `token` came from `Arc::into_raw` just above.
            drop(unsafe { Arc::<T>::from_raw(token as *const T) });
            return Err(crate::logic::cmd::errno::EBUSY);
        }
        // SAFETY: The cookie is acquired and not yet added; the ops table is
        // static; `token` stays valid until drop reclaims it.
        let ret = unsafe {
            bindings::fscache_add_cache(self.ptr.as_ptr(), OpsTable::<T>::build(), token)
        };
        if ret < 0 {
            self.backend.store(core::ptr::null_mut(), Ordering::Release);
            // SAFETY: fscache did not keep `token`; reclaim the `Arc`.
            drop(unsafe { Arc::<T>::from_raw(token as *const T) });
            return Err(Errno(-ret));
        }
        Ok(())
    }

    fn registered(&self) -> bool {
        !self.backend.load(Ordering::Acquire).is_null()
    }

    /// Takes the cache out of service: no new accesses, and waits for the
    /// current ones to finish (`fscache_withdraw_cache`).  Idempotent.
    pub(crate) fn withdraw(&self) {
        if self.registered() && !self.withdrawn.swap(true, Ordering::AcqRel) {
            // SAFETY: The cache is registered (type invariant).
            unsafe { bindings::fscache_withdraw_cache(self.ptr.as_ptr()) };
        }
    }

    /// Waits until fscache has let go of every object of the cache.
    pub(crate) fn wait_for_objects(&self) {
        // SAFETY: The cookie is valid.
        unsafe { bindings::cfrs_fscache_wait_for_objects(self.ptr.as_ptr()) };
    }

    /// Tells fscache the cache failed with an I/O error.
    pub(crate) fn io_error(&self) {
        if self.registered() {
            // SAFETY: The cache is registered.
            unsafe { bindings::fscache_io_error(self.ptr.as_ptr()) };
        }
    }
}

impl<T: CacheOps> Drop for CacheCookie<T> {
    fn drop(&mut self) {
        // A registered cache must not call into the backend after this:
        // withdraw it if the owner has not.
        self.withdraw();
        let token = self.backend.swap(core::ptr::null_mut(), Ordering::AcqRel);
        // A withdrawn cache no longer calls the backend, so its `Arc` can go.
        // SAFETY: The cookie is acquired; relinquishing it is ours to do.
        unsafe {
            bindings::fscache_relinquish_cache(self.ptr.as_ptr());
            if !token.is_null() {
                drop(Arc::<T>::from_raw(token as *const T));
            }
        }
    }
}
