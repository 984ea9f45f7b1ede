// SPDX-License-Identifier: GPL-2.0

//! The fscache side of a cache backend: registering a cache and the
//! `fscache_cache_ops` a backend implements.
//!
//! C header: [`include/linux/fscache-cache.h`](srctree/include/linux/fscache-cache.h)
//!
//! A backend implements [`CacheOps`]; [`OpsTable::build`] turns it into the
//! C vtable (trampolines that recover the backend from `cache_priv`), the
//! same pattern as `kernel::block::mq::Operations`.

use crate::bindings;
use crate::cmd::Errno;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use kernel::prelude::*;
use kernel::sync::Arc;

/// A cookie (one netfs object) as fscache hands it to the backend.
#[repr(transparent)]
pub(crate) struct Cookie(kernel::types::Opaque<bindings::fscache_cookie>);

/// The operations fscache calls on a registered cache.
///
/// `Self` is the backend's per-cache state, registered with
/// [`CacheCookie::add`] and alive until the cache is withdrawn.
pub(crate) trait CacheOps: Send + Sync + Sized + 'static {
    /// What the backend keeps per volume (in the volume's `cache_priv`).
    type VolumeData: Send + Sync;

    /// A netfs starts using `volume` in this cache.  Returning `None`
    /// leaves the volume unusable: lookups of its cookies then fail.
    fn acquire_volume(this: &Self, volume: VolumeHandle<Self>) -> Option<KBox<Self::VolumeData>>;
    /// fscache frees `volume`; `data` is what `acquire_volume` returned.
    fn free_volume(this: &Self, volume: VolumeHandle<Self>, data: KBox<Self::VolumeData>);
    /// Finds or creates the backing object of `cookie`; `false` if the cache
    /// cannot serve it.
    fn lookup_cookie(this: &Self, cookie: &Cookie) -> bool;
    /// The cookie is going away: drop its backing object.
    fn withdraw_cookie(this: &Self, cookie: &Cookie);
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
        resize_cookie: None,
        invalidate_cookie: None,
        begin_operation: None,
        prepare_to_write: None,
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
    unsafe extern "C" fn lookup_cookie(cookie: *mut bindings::fscache_cookie) -> bool {
        // SAFETY: A cookie points to its volume, which points to its cache.
        let this = unsafe { Self::backend((*(*cookie).volume).cache) };
        // SAFETY: The cookie is alive for the call; `Cookie` is transparent.
        T::lookup_cookie(this, unsafe { &*(cookie as *const Cookie) })
    }

    /// # Safety
    ///
    /// As for `lookup_cookie`.
    unsafe extern "C" fn withdraw_cookie(cookie: *mut bindings::fscache_cookie) {
        // SAFETY: As in `lookup_cookie`.
        let this = unsafe { Self::backend((*(*cookie).volume).cache) };
        // SAFETY: As in `lookup_cookie`.
        T::withdraw_cookie(this, unsafe { &*(cookie as *const Cookie) });
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
        let ptr = NonNull::new(p).ok_or(crate::cmd::errno::ENOMEM)?;
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
            return Err(crate::cmd::errno::EBUSY);
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
