// SPDX-License-Identifier: GPL-2.0

//! Cookies: one netfs object each, as fscache hands them to the backend.
//!
//! # The cookie's `cache_priv`
//!
//! `fscache_cookie::cache_priv` is null or holds one reference of an
//! `Arc<T::Object>` (`Arc::into_raw`).  Only two callbacks change it, each
//! through the token fscache's trampoline hands it: `lookup_cookie`
//! ([`CookieLookup::attach`]) and `withdraw_cookie`
//! ([`CookieWithdrawal::detach`]).  fscache runs both from the cookie's
//! state machine, a single work item, so they never overlap for one
//! cookie; but I/O operations read the pointer concurrently (fscache lets
//! a `FSCACHE_WANT_PARAMS` operation begin while the lookup still runs,
//! in state `CREATING`), and any holder of a [`Cookie`] may ask for the
//! object.  So every access from Rust holds the cookie's spinlock
//! (`cookie->lock`, under which fscache's state machine tests the pointer
//! too), and readers get a counted clone ([`Cookie::object`]): detaching
//! the object while someone uses it frees nothing under their feet.

use super::{volume, CacheTypes};
use crate::kernel_ext::bindings;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::sync::{Arc, ArcBorrow};

/// A cookie (one netfs object) of a cache served by `T`, as fscache hands
/// it to the backend.  Only ever seen by reference, in a callback or
/// through a [`CookieRef`], either of which keeps it alive.
///
/// # Invariants
///
/// The wrapped cookie is alive for as long as the `Cookie` is borrowed,
/// its volume belongs to a cache registered with `T`, and its
/// `cache_priv` follows the rules of the module documentation.
#[repr(transparent)]
pub(crate) struct Cookie<T: CacheTypes>(
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

impl<T: CacheTypes> Cookie<T> {
    /// The cookie behind `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must be a cookie of a cache registered with `T`, alive for
    /// `'a` (a callback's argument, or a counted reference held for `'a`).
    pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::fscache_cookie) -> &'a Self {
        // SAFETY: `Cookie` is transparent over the C struct; it lives for
        // `'a` (caller).
        // INVARIANT: Guaranteed by the caller.
        unsafe { &*(ptr as *const Self) }
    }

    pub(super) fn as_ptr(&self) -> *mut bindings::fscache_cookie {
        self.0.get()
    }

    /// Replaces the object in `cache_priv` under the cookie's lock,
    /// returning the old one (dropped by the caller, outside the lock).
    fn swap_object(&self, new: Option<Arc<T::Object>>) -> Option<Arc<T::Object>> {
        let new = new.map_or(core::ptr::null_mut(), |o| Arc::into_raw(o) as *mut _);
        let c = self.as_ptr();
        // SAFETY: The cookie is alive (type invariants).  Under its lock
        // nobody else accesses `cache_priv` (module documentation); the
        // critical section neither sleeps nor frees anything.
        // INVARIANT: `cache_priv` now holds `new`'s reference, or null.
        let old = unsafe {
            bindings::cfrs_cookie_lock(c);
            let old = core::mem::replace(&mut (*c).cache_priv, new);
            bindings::cfrs_cookie_unlock(c);
            old
        };
        // SAFETY: The reference `cache_priv` held is now ours.
        (!old.is_null()).then(|| unsafe { Arc::from_raw(old as *const T::Object) })
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

    /// A copy of the netfs's coherency data for the object.
    ///
    /// A copy, not a borrow: the netfs may rewrite the bytes at any time
    /// (`fscache_update_cookie`, `fscache_unuse_cookie`), without a lock.
    pub(crate) fn aux(&self) -> CookieAux {
        let mut aux = CookieAux {
            buf: [0; 255],
            len: 0,
        };
        // SAFETY: The cookie is alive while borrowed.  `aux_len` is set at
        // acquisition and never changed; the helper returns the inline or
        // allocated buffer of that many bytes, also fixed at acquisition.
        // The bytes may change under us (as in C, which reads them the same
        // way), so each is read once, volatile, and copied.
        unsafe {
            let p = bindings::cfrs_fscache_get_aux(self.as_ptr()).cast::<u8>();
            aux.len = (*self.as_ptr()).aux_len;
            for (i, b) in aux.buf.iter_mut().take(usize::from(aux.len)).enumerate() {
                *b = core::ptr::read_volatile(p.add(i));
            }
        }
        aux
    }

    /// The hash of the cookie's key; its low byte picks the fan-out
    /// directory.
    pub(crate) fn key_hash(&self) -> u32 {
        // SAFETY: Set at acquisition, never changed.
        unsafe { (*self.as_ptr()).key_hash }
    }

    /// The volume key as on-demand OPEN messages carry it: the string and
    /// its terminating NUL (fscache keeps one after the key).
    pub(crate) fn volume_key_with_nul(&self) -> &[u8] {
        // SAFETY: As for `key`, on the cookie's volume; fscache allocates the key zeroed and
        // rounded up past `1 + len`, so byte `1 + len` is a NUL.
        unsafe {
            let key = (*(*self.as_ptr()).volume).key;
            core::slice::from_raw_parts(key.add(1), usize::from(*key) + 1)
        }
    }

    /// The backend's data of the cookie's volume (a counted clone), or
    /// `None` if the cache does not serve the volume (any more).
    pub(crate) fn volume_data(&self) -> Option<Arc<T::VolumeData>> {
        // SAFETY: A cookie holds a reference on its volume, a volume of a
        // `T` cache (type invariants).
        unsafe { volume::data::<T>((*self.as_ptr()).volume) }
    }

    /// The size of the object as the netfs (or the daemon) set it.
    pub(crate) fn object_size(&self) -> u64 {
        // SAFETY: The cookie is alive; a plain word read, as in C.
        unsafe {
            core::ptr::read_volatile(core::ptr::addr_of!((*self.as_ptr()).object_size)) as u64
        }
    }

    /// Lets I/O on the cookie resume after the backend invalidated its
    /// object (`fscache_resume_after_invalidation`).
    pub(crate) fn resume_after_invalidation(&self) {
        // SAFETY: A live cookie (type invariants); fscache calls the
        // invalidation callback with the cookie in its invalidating state.
        unsafe { bindings::fscache_resume_after_invalidation(self.as_ptr()) };
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

    /// The backend's object attached to the cookie, if any: a counted
    /// clone, valid however long the caller keeps it.
    pub(crate) fn object(&self) -> Option<Arc<T::Object>> {
        let c = self.as_ptr();
        // SAFETY: The cookie is alive (type invariants).  Under its lock,
        // a non-null `cache_priv` is a reference of an `Arc<T::Object>`
        // that nobody can drop meanwhile (module documentation); cloning
        // it only increments the count.
        unsafe {
            bindings::cfrs_cookie_lock(c);
            let p = (*c).cache_priv as *const T::Object;
            let object = (!p.is_null()).then(|| Arc::from(ArcBorrow::from_raw(p)));
            bindings::cfrs_cookie_unlock(c);
            object
        }
    }
}

/// A copy of a cookie's coherency data (at most 255 bytes, as `aux_len`
/// is a `u8`); dereferences to the bytes.
pub(crate) struct CookieAux {
    buf: [u8; 255],
    len: u8,
}

impl core::ops::Deref for CookieAux {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

/// A cookie in fscache's `lookup_cookie` callback: the only place the
/// backend may attach its object.
///
/// # Invariants
///
/// Created only by the `lookup_cookie` trampoline, for the duration of the
/// callback; fscache does not withdraw the cookie meanwhile (lookup and
/// withdrawal are steps of the cookie's single state machine).
pub(crate) struct CookieLookup<'a, T: CacheTypes> {
    cookie: &'a Cookie<T>,
    /// Not sendable: the token stays in the callback's thread.
    _p: PhantomData<*mut ()>,
}

impl<'a, T: CacheTypes> CookieLookup<'a, T> {
    /// The token of `cookie`.
    ///
    /// Not `unsafe`: the lock around `cache_priv` makes any use memory
    /// safe; the token only keeps attaching where fscache expects it.
    pub(super) fn new(cookie: &'a Cookie<T>) -> Self {
        // INVARIANT: The trampoline's callback borrows the token.
        CookieLookup {
            cookie,
            _p: PhantomData,
        }
    }

    /// Attaches the backend's object to the cookie (`cache_priv`),
    /// returning any previous one.  fscache will call `withdraw_cookie`
    /// for the cookie once it holds an object, even if the lookup fails.
    pub(crate) fn attach(&self, object: Arc<T::Object>) -> Option<Arc<T::Object>> {
        self.cookie.swap_object(Some(object))
    }
}

impl<T: CacheTypes> core::ops::Deref for CookieLookup<'_, T> {
    type Target = Cookie<T>;
    fn deref(&self) -> &Cookie<T> {
        self.cookie
    }
}

/// A cookie in fscache's `withdraw_cookie` callback: the only place the
/// backend may detach its object.
///
/// # Invariants
///
/// As for [`CookieLookup`], for the `withdraw_cookie` callback.
pub(crate) struct CookieWithdrawal<'a, T: CacheTypes> {
    cookie: &'a Cookie<T>,
    /// Not sendable: the token stays in the callback's thread.
    _p: PhantomData<*mut ()>,
}

impl<'a, T: CacheTypes> CookieWithdrawal<'a, T> {
    /// The token of `cookie` (not `unsafe`, as for [`CookieLookup::new`]).
    pub(super) fn new(cookie: &'a Cookie<T>) -> Self {
        // INVARIANT: The trampoline's callback borrows the token.
        CookieWithdrawal {
            cookie,
            _p: PhantomData,
        }
    }

    /// Detaches the backend's object from the cookie.  Clones handed out
    /// by [`Cookie::object`] keep the object alive until dropped.
    pub(crate) fn detach(&self) -> Option<Arc<T::Object>> {
        self.cookie.swap_object(None)
    }
}

impl<T: CacheTypes> core::ops::Deref for CookieWithdrawal<'_, T> {
    type Target = Cookie<T>;
    fn deref(&self) -> &Cookie<T> {
        self.cookie
    }
}

/// A counted reference to a cookie of a cache served by `T`.
///
/// # Invariants
///
/// We hold one reference on `ptr`, a cookie of a cache registered with
/// `T`, put on drop.
pub(crate) struct CookieRef<T: CacheTypes> {
    ptr: NonNull<bindings::fscache_cookie>,
    _p: PhantomData<T>,
}

// SAFETY: Cookies are reference counted and used from any thread.
unsafe impl<T: CacheTypes> Send for CookieRef<T> {}
// SAFETY: `Cookie` methods are safe to call concurrently: fields fixed at
// acquisition, atomic flag operations, single-word volatile reads and
// writes (C's READ_ONCE/WRITE_ONCE), copies of the aux data, and
// `cache_priv` under the cookie's lock.
unsafe impl<T: CacheTypes> Sync for CookieRef<T> {}

impl<T: CacheTypes> core::ops::Deref for CookieRef<T> {
    type Target = Cookie<T>;
    fn deref(&self) -> &Cookie<T> {
        // SAFETY: We hold a reference on a cookie of a `T` cache (type
        // invariants), so it lives as long as `self` is borrowed.
        unsafe { Cookie::from_raw(self.ptr.as_ptr()) }
    }
}

impl<T: CacheTypes> Drop for CookieRef<T> {
    fn drop(&mut self) {
        // SAFETY: We own one reference.
        unsafe { bindings::cfrs_cookie_put(self.ptr.as_ptr()) }
    }
}
