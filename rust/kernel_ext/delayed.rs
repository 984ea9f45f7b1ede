// SPDX-License-Identifier: GPL-2.0

//! A delayed call of a fixed function on the module's workqueue (a C
//! `struct delayed_work`), cancelled synchronously when dropped.
//!
//! C header: [`include/linux/workqueue.h`](srctree/include/linux/workqueue.h)
//!
//! The 6.12 kernel crate has no delayed work.  [`DelayedCall`] runs a plain
//! `fn()` (no data of its own): the function finds its state elsewhere
//! (a module-wide object, `super::global`).

use crate::kernel_ext::{bindings, completion};
use kernel::prelude::*;
use kernel::types::Opaque;

/// A delayed call of `func` on the module's workqueue.
///
/// # Invariants
///
/// `work` is initialised (by `INIT_DELAYED_WORK` with [`run`]) and pinned;
/// when a `DelayedCall` is dropped, its work is neither pending nor running
/// any more (`cancel_delayed_work_sync`).
#[pin_data(PinnedDrop)]
pub(crate) struct DelayedCall {
    #[pin]
    work: Opaque<bindings::delayed_work>,
    func: fn(),
}

// SAFETY: The workqueue functions lock internally; `func` is a plain
// function pointer.
unsafe impl Send for DelayedCall {}
// SAFETY: As above: every method may be called from any thread.
unsafe impl Sync for DelayedCall {}

impl DelayedCall {
    /// A delayed call of `func`, not scheduled.
    pub(crate) fn new(func: fn()) -> impl PinInit<Self> {
        // INVARIANT: The work is initialised in its pinned slot.
        pin_init!(DelayedCall {
            // SAFETY: `slot` is valid, pinned memory for a delayed work.
            work <- Opaque::ffi_init(|slot| unsafe { bindings::cfrs_init_delayed_work(slot, Some(run)) }),
            func,
        })
    }

    /// Runs the function in `ms` milliseconds on the module's workqueue
    /// (sooner or later than a call already scheduled: the last request
    /// wins).  Nothing is scheduled once the queue is gone (module exit).
    pub(crate) fn schedule(&self, ms: u64) {
        let Some(queue) = completion::raw_queue() else {
            return;
        };
        let ms = u32::try_from(ms).unwrap_or(u32::MAX);
        let delay = kernel::time::msecs_to_jiffies(ms);
        // SAFETY: `work` is initialised and pinned (type invariant) and the
        // queue is alive while published.
        unsafe { bindings::cfrs_mod_delayed_work(queue, self.work.get(), delay) };
    }
}

#[pinned_drop]
impl PinnedDrop for DelayedCall {
    fn drop(self: Pin<&mut Self>) {
        // INVARIANT: Neither pending nor running after this.
        // SAFETY: `work` is initialised (type invariant); process context.
        unsafe { bindings::cancel_delayed_work_sync(self.work.get()) };
    }
}

/// The work function of every [`DelayedCall`].
///
/// # Safety
///
/// Called by the workqueue with the `work` of a live `DelayedCall`
/// (initialised by [`DelayedCall::new`]); a `DelayedCall` is not dropped
/// while its work runs (its drop cancels it synchronously).
unsafe extern "C" fn run(work: *mut bindings::work_struct) {
    // SAFETY: `work` is the `work` member of a delayed work (see above).
    let dw = unsafe { bindings::cfrs_to_delayed_work(work) };
    // SAFETY: `dw` is the `work` field of a live `DelayedCall` (`Opaque` is
    // transparent, so the field's address is the delayed work's).
    let call = unsafe { &*kernel::container_of!(dw, DelayedCall, work) };
    (call.func)();
}
