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

/// A volume (a netfs's group of cookies) as fscache hands it to the backend.
#[repr(transparent)]
pub(crate) struct Volume(kernel::types::Opaque<bindings::fscache_volume>);

/// A cookie (one netfs object) as fscache hands it to the backend.
#[repr(transparent)]
pub(crate) struct Cookie(kernel::types::Opaque<bindings::fscache_cookie>);

/// The operations fscache calls on a registered cache.
///
/// `Self` is the backend's per-cache state, registered with
/// [`CacheCookie::add`] and alive until the cache is withdrawn.
pub(crate) trait CacheOps: Send + Sync + Sized + 'static {
    /// A netfs starts using `volume` in this cache.
    fn acquire_volume(this: &Self, volume: &Volume);
    /// fscache frees `volume`.
    fn free_volume(this: &Self, volume: &Volume);
    /// Finds or creates the backing object of `cookie`; `false` if the cache
    /// cannot serve it.
    fn lookup_cookie(this: &Self, cookie: &Cookie) -> bool;
    /// The cookie is going away: drop its backing object.
    fn withdraw_cookie(this: &Self, cookie: &Cookie);
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
        // SAFETY: The volume is alive for the call; `Volume` is transparent.
        T::acquire_volume(this, unsafe { &*(volume as *const Volume) });
    }

    /// # Safety
    ///
    /// As for `acquire_volume`.
    unsafe extern "C" fn free_volume(volume: *mut bindings::fscache_volume) {
        // SAFETY: As in `acquire_volume`.
        let this = unsafe { Self::backend((*volume).cache) };
        // SAFETY: As in `acquire_volume`.
        T::free_volume(this, unsafe { &*(volume as *const Volume) });
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
