// SPDX-License-Identifier: GPL-2.0

//! Registering a cache with fscache and withdrawing it.

use super::{CacheOps, CacheTypes, OpsTable};
use crate::kernel_ext::bindings;
use crate::logic::cmd::Errno;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use kernel::prelude::*;
use kernel::sync::Arc;

/// A cache cookie acquired from fscache (`fscache_acquire_cache`), and,
/// once [`add`](CacheCookie::add)ed, the registered cache.
///
/// # Invariants
///
/// `ptr` is an acquired cache cookie, relinquished on drop.  When `backend`
/// is non-null, the cache is registered with fscache and its `cache_priv`
/// holds that `Arc<T>` reference (`Arc::into_raw`), reclaimed on drop after the cache
/// is withdrawn.
pub(crate) struct CacheCookie<T: CacheTypes> {
    ptr: NonNull<bindings::fscache_cache>,
    backend: AtomicPtr<kernel::ffi::c_void>,
    withdrawn: AtomicBool,
    _p: PhantomData<T>,
}

// SAFETY: fscache cache cookies are used from any thread under fscache's
// own locking; `backend` is only a token for the `Arc` we own.
unsafe impl<T: CacheTypes> Send for CacheCookie<T> {}
// SAFETY: Shared access uses fscache's thread-safe calls and atomics.
unsafe impl<T: CacheTypes> Sync for CacheCookie<T> {}

impl<T: CacheTypes> CacheCookie<T> {
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
    pub(crate) fn add(&self, backend: Arc<T>) -> Result<(), Errno>
    where
        T: CacheOps,
    {
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

impl<T: CacheTypes> Drop for CacheCookie<T> {
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
