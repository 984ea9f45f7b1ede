// SPDX-License-Identifier: GPL-2.0

//! One-shot completions with killable waits, and the module's own
//! workqueue.
//!
//! C headers: [`include/linux/completion.h`](srctree/include/linux/completion.h),
//! [`include/linux/workqueue.h`](srctree/include/linux/workqueue.h)
//!
//! The 6.12 kernel crate's `CondVar` has no killable wait, which on-demand
//! READ requests need (a reader must be killable, but must not fail on
//! harmless signals), hence [`Completion`].

use crate::kernel_ext::bindings;
use crate::logic::cmd::Errno;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::prelude::*;
use kernel::types::Opaque;
use kernel::workqueue::Queue;

/// A C `struct completion`.
///
/// # Invariants
///
/// `inner` is initialised (by `init_completion`) and pinned.
#[pin_data]
pub(crate) struct Completion {
    #[pin]
    inner: Opaque<bindings::completion>,
}

// SAFETY: Completions are designed to be signalled and waited on from any
// thread; all access goes through the C functions, which lock internally.
unsafe impl Send for Completion {}
// SAFETY: As above.
unsafe impl Sync for Completion {}

/// A wait was interrupted by a fatal signal.
pub(crate) struct Killed;

impl Completion {
    /// A new, not yet completed, completion.
    pub(crate) fn new() -> impl PinInit<Self> {
        // INVARIANT: `init_completion` initialises the pinned slot.
        pin_init!(Completion {
            // SAFETY: `slot` is valid, pinned memory for a completion.
            inner <- Opaque::ffi_init(|slot| unsafe { bindings::cfrs_init_completion(slot) }),
        })
    }

    /// Completes for good, waking every waiter, now and later
    /// (`complete_all`).
    pub(crate) fn complete_all(&self) {
        // SAFETY: Initialised (type invariant).
        unsafe { bindings::complete_all(self.inner.get()) };
    }

    /// Waits until completed, or until a fatal signal is pending.
    pub(crate) fn wait_killable(&self) -> Result<(), Killed> {
        // SAFETY: Initialised (type invariant); process context.
        match unsafe { bindings::wait_for_completion_killable(self.inner.get()) } {
            0 => Ok(()),
            _ => Err(Killed),
        }
    }
}

/// The module's workqueue, published for the objects' re-open work.
static QUEUE: AtomicPtr<bindings::workqueue_struct> = AtomicPtr::new(core::ptr::null_mut());

/// Owns the module's workqueue (`alloc_workqueue`); destroying it on drop
/// waits for every queued work, so no work runs after module unload.
///
/// # Invariants
///
/// `ptr` is a workqueue we allocated and published in `QUEUE`.
pub(crate) struct OwnedQueue {
    ptr: NonNull<bindings::workqueue_struct>,
}

// SAFETY: A workqueue may be used and destroyed from any thread.
unsafe impl Send for OwnedQueue {}
// SAFETY: Shared references give no access to the pointer.
unsafe impl Sync for OwnedQueue {}

impl OwnedQueue {
    /// Allocates and publishes the module's workqueue.
    pub(crate) fn new() -> Result<Self, Errno> {
        // SAFETY: Plain allocation, process context.
        let p = unsafe { bindings::cfrs_alloc_workqueue() };
        let ptr = NonNull::new(p).ok_or(crate::logic::cmd::errno::ENOMEM)?;
        QUEUE.store(p, Ordering::Release);
        // INVARIANT: Allocated and published.
        Ok(OwnedQueue { ptr })
    }
}

impl Drop for OwnedQueue {
    fn drop(&mut self) {
        QUEUE.store(core::ptr::null_mut(), Ordering::Release);
        // SAFETY: We allocated it; destroying drains the queued works.
        unsafe { bindings::destroy_workqueue(self.ptr.as_ptr()) };
    }
}

/// The module's workqueue as a raw pointer (for `super::delayed`), while
/// the module is loaded.
pub(crate) fn raw_queue() -> Option<*mut bindings::workqueue_struct> {
    let p = QUEUE.load(Ordering::Acquire);
    (!p.is_null()).then_some(p)
}

/// The module's workqueue, while the module is loaded.
pub(crate) fn queue() -> Option<&'static Queue> {
    let p = QUEUE.load(Ordering::Acquire);
    // SAFETY: A published queue lives until module exit, after every user
    // of the module's objects is gone (open files pin the module).
    (!p.is_null()).then(|| unsafe { Queue::from_raw(p) })
}
