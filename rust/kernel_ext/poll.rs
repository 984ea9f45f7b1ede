// SPDX-License-Identifier: GPL-2.0

//! Wait queues that `poll()` can register on.
//!
//! C header: [`include/linux/poll.h`](srctree/include/linux/poll.h)

use crate::kernel_ext::bindings;
use crate::kernel_ext::miscdev::File;
use core::marker::PhantomData;
use kernel::prelude::*;
use kernel::types::Opaque;

/// `EPOLLIN`: a request or a state change can be read.
pub(crate) const EPOLLIN: u32 = bindings::CFRS_EPOLLIN;
/// `EPOLLOUT`: used by cachefiles to signal that culling is needed.
pub(crate) const EPOLLOUT: u32 = bindings::CFRS_EPOLLOUT;

/// The poll table passed to a `poll()` callback.
///
/// # Invariants
///
/// `ptr` is null or points to a poll table valid for `'a`.
pub(crate) struct PollTable<'a> {
    ptr: *mut bindings::poll_table_struct,
    _p: PhantomData<&'a bindings::poll_table_struct>,
}

impl PollTable<'_> {
    /// Wraps the table of a poll callback.
    ///
    /// # Safety
    ///
    /// `ptr` must be null or valid for the lifetime of the returned value.
    pub(crate) unsafe fn from_raw(ptr: *mut bindings::poll_table_struct) -> Self {
        // INVARIANT: Guaranteed by the caller.
        PollTable {
            ptr,
            _p: PhantomData,
        }
    }

    /// Registers `file`'s poller on `queue` (`poll_wait`).
    pub(crate) fn register(&self, file: &File<'_>, queue: &PollQueue) {
        // SAFETY: `file` is a live file, `queue` is initialised and pinned,
        // and `self.ptr` is null or valid (type invariant).
        unsafe { bindings::cfrs_poll_wait(file.as_ptr(), queue.wq.get(), self.ptr) };
    }
}

/// A wait queue for pollers (a C `wait_queue_head`).
///
/// # Invariants
///
/// `wq` is initialised.  Pollers registered through [`PollTable::register`]
/// are always removed before the queue is freed: the only files polling a
/// queue are devnode files whose state holds a reference to the queue's
/// owner until `release` (the cache it made and the one it adopted), and
/// the VFS removes their epoll entries and finishes `poll`/`select` before
/// `release`.
#[pin_data]
pub(crate) struct PollQueue {
    #[pin]
    wq: Opaque<bindings::wait_queue_head>,
}

// SAFETY: Wait queues are protected by their own internal spinlock.
unsafe impl Send for PollQueue {}
// SAFETY: As above: every operation on it is thread-safe.
unsafe impl Sync for PollQueue {}

impl PollQueue {
    /// Creates a new wait queue (named `name` for lockdep).
    pub(crate) fn new(name: &'static CStr, key: &'static WaitKey) -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is valid pinned memory for a wait queue head;
            // `name` and `key` are static.
            wq <- Opaque::ffi_init(|slot: *mut bindings::wait_queue_head| unsafe {
                bindings::__init_waitqueue_head(slot, name.as_char_ptr(), key.0.get())
            }),
        })
    }

    /// Wakes every waiter (`wake_up_all`).
    pub(crate) fn wake_all(&self) {
        // SAFETY: `wq` is initialised (type invariant).
        unsafe { bindings::cfrs_wake_up_all(self.wq.get()) };
    }
}

/// A lockdep class for the spinlock inside [`PollQueue`]s: one `static`
/// per kind of queue, as C's `init_waitqueue_head` macro declares.
pub(crate) struct WaitKey(Opaque<bindings::lock_class_key>);

impl WaitKey {
    /// A key for a `static`; lockdep wants it left uninitialised.
    pub(crate) const fn new() -> Self {
        WaitKey(Opaque::uninit())
    }
}

// SAFETY: lockdep only uses the address of a key, from any thread.
unsafe impl Sync for WaitKey {}
