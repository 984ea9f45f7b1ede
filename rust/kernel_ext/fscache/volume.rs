// SPDX-License-Identifier: GPL-2.0

//! Volumes (a netfs's group of cookies) of a cache.

use super::CacheOps;
use crate::kernel_ext::bindings;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::prelude::*;

/// A volume of a cache served by `T`, as a backend may keep it in lists.
///
/// # Invariants
///
/// `ptr` is an fscache volume whose `cache` is registered with `T`.  It is
/// alive from `acquire_volume` until fscache calls `free_volume` for it;
/// the backend must forget the handle then, and must only use it in
/// between (under its own lock, or while holding a [`VolumeRef`]).
pub(crate) struct VolumeHandle<T: CacheOps> {
    pub(super) ptr: NonNull<bindings::fscache_volume>,
    pub(super) _p: PhantomData<T>,
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
