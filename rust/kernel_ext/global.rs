// SPDX-License-Identifier: GPL-2.0

//! Module-wide objects: made at module init, reachable from any module code
//! until module exit (the 6.12 kernel crate has no static mutex).

use core::pin::Pin;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::prelude::*;

/// A slot in a `static` for one module-wide object of type `T`.
///
/// # Invariants
///
/// `ptr` is null or points to the object of the live [`Published`] guard
/// made from this slot.
pub(crate) struct Global<T> {
    ptr: AtomicPtr<T>,
}

impl<T: Send + Sync + 'static> Global<T> {
    /// An empty slot.
    pub(crate) const fn new() -> Self {
        // INVARIANT: Null.
        Global {
            ptr: AtomicPtr::new(core::ptr::null_mut()),
        }
    }

    /// Publishes `obj` in the slot until the returned guard is dropped.
    /// Only the module's init may call this; the guard must be dropped by
    /// its exit, after everything that can call [`Global::get`] is gone
    /// (open files pin the module; works are cancelled or drained first).
    pub(crate) fn publish(&'static self, obj: Pin<KBox<T>>) -> Published<T> {
        let p = &*obj as *const T as *mut T;
        // INVARIANT: The object is published while the guard owns it.
        self.ptr.store(p, Ordering::Release);
        Published {
            slot: self,
            _obj: obj,
        }
    }

    /// The published object, if any.
    pub(crate) fn get(&'static self) -> Option<&'static T> {
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: A non-null pointer is the object of the live guard (type
        // invariant), which is dropped only at module exit, after every
        // caller of `get` is gone (see `publish`); the object is pinned in
        // its box, so it does not move meanwhile.
        (!p.is_null()).then(|| unsafe { &*p })
    }
}

/// Owns a published object; unpublishes it, then drops it.
pub(crate) struct Published<T: Send + Sync + 'static> {
    slot: &'static Global<T>,
    /// The object, dropped after `drop` unpublished it.
    _obj: Pin<KBox<T>>,
}

impl<T: Send + Sync + 'static> Drop for Published<T> {
    fn drop(&mut self) {
        // INVARIANT: Unpublished before `_obj` is dropped with `self`.
        self.slot
            .ptr
            .store(core::ptr::null_mut(), Ordering::Release);
    }
}
