// SPDX-License-Identifier: GPL-2.0

//! Volumes (a netfs's group of cookies) of a cache, and the backend's
//! per-volume data.
//!
//! # The volume's `cache_priv`
//!
//! `fscache_volume::cache_priv` is null or holds one reference of an
//! `Arc<T::VolumeData>` (`Arc::into_raw`), set when `acquire_volume`
//! returns data and cleared by `free_volume` or
//! [`VolumeListGuard::detach`](super::volume_list::VolumeListGuard::detach).
//! This module reads and writes it only under the volume's spinlock
//! (`volume->lock`, which fscache initialises and never takes itself; see
//! [`PrivSlot`]).  Readers get a counted clone ([`data`]), so clearing the
//! slot while someone uses the data frees nothing under their feet: the
//! data goes when its last clone does.  fscache itself only tests the
//! pointer for null (to know whether to call `free_volume`).

use super::CacheTypes;
use crate::kernel_ext::bindings;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::sync::{Arc, ArcBorrow};

/// Exclusive access to a volume's `cache_priv`: holds `volume->lock`.
///
/// # Invariants
///
/// `volume` is alive and its lock is held by us until drop.  While held,
/// nobody else reads or writes `cache_priv` from Rust (every access goes
/// through a `PrivSlot`).  Nothing that may sleep, drop an `Arc` or call
/// into fscache runs under it.
struct PrivSlot {
    volume: *mut bindings::fscache_volume,
}

impl PrivSlot {
    /// Locks `volume`'s `cache_priv`.
    ///
    /// # Safety
    ///
    /// `volume` must stay alive until the guard is dropped.
    unsafe fn lock(volume: *mut bindings::fscache_volume) -> Self {
        // SAFETY: `volume` is alive (caller); fscache initialised its lock
        // when it allocated the volume.
        unsafe { bindings::cfrs_volume_lock(volume) };
        // INVARIANT: We hold the lock of a live volume.
        PrivSlot { volume }
    }

    /// The raw value of `cache_priv`.
    fn get(&self) -> *mut kernel::ffi::c_void {
        // SAFETY: The volume is alive and we hold its lock (invariants).
        unsafe { (*self.volume).cache_priv }
    }

    /// Replaces `cache_priv`, returning the old value.
    fn replace(&mut self, new: *mut kernel::ffi::c_void) -> *mut kernel::ffi::c_void {
        // SAFETY: As in `get`.
        unsafe { core::mem::replace(&mut (*self.volume).cache_priv, new) }
    }
}

impl Drop for PrivSlot {
    fn drop(&mut self) {
        // SAFETY: We hold the lock of a live volume (invariants).
        unsafe { bindings::cfrs_volume_unlock(self.volume) };
    }
}

/// A counted clone of the backend's data of `volume`, if it has some.
///
/// # Safety
///
/// `volume` must be alive for the call and belong to a cache served by
/// `T` (so that a non-null `cache_priv` is an `Arc<T::VolumeData>`).
pub(super) unsafe fn data<T: CacheTypes>(
    volume: *mut bindings::fscache_volume,
) -> Option<Arc<T::VolumeData>> {
    // SAFETY: `volume` is alive (caller).
    let slot = unsafe { PrivSlot::lock(volume) };
    let p = slot.get() as *const T::VolumeData;
    // SAFETY: A non-null `cache_priv` of a `T` volume holds a reference of
    // an `Arc<T::VolumeData>` (module documentation), which cannot go away
    // while we hold the lock; taking another only increments the count.
    let data = (!p.is_null()).then(|| Arc::from(unsafe { ArcBorrow::from_raw(p) }));
    drop(slot);
    data
}

/// Stores `data` as the backend's data of `volume`, returning what was
/// there (nothing, as fscache calls `acquire_volume` once per volume).
///
/// # Safety
///
/// As for [`data`].
pub(super) unsafe fn set_data<T: CacheTypes>(
    volume: *mut bindings::fscache_volume,
    data: Arc<T::VolumeData>,
) -> Option<Arc<T::VolumeData>> {
    // SAFETY: `volume` is alive (caller).
    let mut slot = unsafe { PrivSlot::lock(volume) };
    // INVARIANT: `cache_priv` holds the reference we give up here.
    let old = slot.replace(Arc::into_raw(data) as *mut _);
    drop(slot);
    // SAFETY: The old value was null or a reference `cache_priv` held,
    // now ours; it is dropped (if at all) outside the lock.
    (!old.is_null()).then(|| unsafe { Arc::from_raw(old as *const T::VolumeData) })
}

/// Takes the backend's data out of `volume`: fscache will not call
/// `free_volume` for it any more.
///
/// # Safety
///
/// As for [`data`].
pub(super) unsafe fn take_data<T: CacheTypes>(
    volume: *mut bindings::fscache_volume,
) -> Option<Arc<T::VolumeData>> {
    // SAFETY: `volume` is alive (caller).
    let mut slot = unsafe { PrivSlot::lock(volume) };
    // INVARIANT: `cache_priv` is null again; its reference is ours.
    let old = slot.replace(core::ptr::null_mut());
    drop(slot);
    // SAFETY: As in `set_data`.
    (!old.is_null()).then(|| unsafe { Arc::from_raw(old as *const T::VolumeData) })
}

/// A volume of a cache served by `T`, uncounted.
///
/// Not `Clone`, and the backend only ever borrows one: from the
/// `acquire_volume` callback, or from a locked
/// [`VolumeList`](super::VolumeList), whose copies are unlisted before
/// fscache frees their volumes.  A counted reference is [`VolumeRef`].
///
/// # Invariants
///
/// `ptr` is an fscache volume whose `cache` is registered with `T`, alive
/// while the handle is borrowed (see above).
pub(crate) struct VolumeHandle<T: CacheTypes> {
    ptr: NonNull<bindings::fscache_volume>,
    _p: PhantomData<T>,
}

// SAFETY: fscache volumes are shared between threads with their own
// reference counts and locks.
unsafe impl<T: CacheTypes> Send for VolumeHandle<T> {}
// SAFETY: As above.
unsafe impl<T: CacheTypes> Sync for VolumeHandle<T> {}

impl<T: CacheTypes> VolumeHandle<T> {
    /// The handle of `ptr`, for a callback.
    ///
    /// # Safety
    ///
    /// `ptr` must be a live volume of a cache registered with `T`, and the
    /// handle must not outlive it: a callback's own, or the volume list's
    /// copy (see [`VolumeList`](super::VolumeList)).
    pub(super) unsafe fn from_raw(ptr: NonNull<bindings::fscache_volume>) -> Self {
        // INVARIANT: Guaranteed by the caller.
        VolumeHandle {
            ptr,
            _p: PhantomData,
        }
    }

    /// A copy, for the volume list (which keeps the invariants).
    pub(super) fn dup(&self) -> Self {
        // INVARIANT: The same volume, under the list's rules.
        VolumeHandle {
            ptr: self.ptr,
            _p: PhantomData,
        }
    }

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

    /// The volume's debug id (fscache's `debug_id`, shown in traces).
    pub(crate) fn debug_id(&self) -> u32 {
        // SAFETY: The volume is alive (type invariant); fscache sets the id
        // at allocation and never changes it.
        unsafe { (*self.ptr.as_ptr()).debug_id }
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
pub(crate) struct VolumeRef<T: CacheTypes> {
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

impl<T: CacheTypes> VolumeRef<T> {
    /// The netfs's coherency data for the volume.
    pub(crate) fn coherency(&self) -> &[u8] {
        // SAFETY: We hold a reference, so the volume is alive.
        unsafe { coherency(self.ptr) }
    }

    /// The volume's debug id (fscache's `debug_id`, shown in traces).
    pub(crate) fn debug_id(&self) -> u32 {
        // SAFETY: We hold a reference, so the volume is alive; fscache sets
        // the id at allocation and never changes it.
        unsafe { (*self.ptr.as_ptr()).debug_id }
    }

    /// Drops the cache's access pin and waits for accesses to drain
    /// (`fscache_withdraw_volume`).
    pub(crate) fn withdraw(&self) {
        // SAFETY: We hold a reference; the pin was taken by the backend.
        unsafe { bindings::fscache_withdraw_volume(self.ptr.as_ptr()) };
    }

    /// The volume's address (the key of the volume list).
    pub(crate) fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    pub(super) fn as_ptr(&self) -> *mut bindings::fscache_volume {
        self.ptr.as_ptr()
    }
}

impl<T: CacheTypes> Drop for VolumeRef<T> {
    fn drop(&mut self) {
        // SAFETY: We own one reference.
        unsafe { bindings::cfrs_volume_put(self.ptr.as_ptr()) };
    }
}
