// SPDX-License-Identifier: GPL-2.0

//! The requests sent to the daemon and the table of pending ones (C's
//! `reqs` and `ondemand_ids` xarrays).  The table's logic (message and
//! object id allocation, the per-object index, the "not yet read" marks and
//! the daemon's round-robin cursor) is [`ReqTable`], host-tested; here it is
//! built from the kernel's `RBTree` and stores `Arc<Request>`.

use super::Opcode;
use crate::cachefiles::object::Object;
use crate::kernel_ext::completion::Completion;
use crate::kernel_ext::rbmap::RbMaps;
use crate::logic::cmd::Errno;
use crate::logic::reqtable::{Entry, ReqTable};
use core::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use kernel::prelude::{pin_data, KVec};
use kernel::sync::Arc;

/// One request to the daemon.  See the module documentation.
#[pin_data]
pub(crate) struct Request {
    pub(super) object: Arc<Object>,
    pub(super) opcode: Opcode,
    /// The message after its header (the OPEN fd is filled at delivery).
    pub(super) body: KVec<u8>,
    #[pin]
    pub(super) done: Completion,
    /// The outcome, a negative errno or 0; set before `done` completes.
    pub(super) error: AtomicI32,
    /// The message and object ids of the last delivery (message id in the
    /// high half), 0 before the first: C traces an OPEN's anonymous fd
    /// with the ids its message carries at that point.
    pub(super) delivered: AtomicU64,
}

impl Request {
    /// The (message id, object id) of the last delivery, (0, 0) before
    /// the first.
    pub(super) fn delivered_ids(&self) -> (u32, u32) {
        let v = self.delivered.load(Ordering::Relaxed);
        ((v >> 32) as u32, v as u32)
    }

    /// Records the ids of a delivery.
    pub(super) fn set_delivered_ids(&self, msg_id: u32, object_id: u32) {
        let v = (u64::from(msg_id) << 32) | u64::from(object_id);
        self.delivered.store(v, Ordering::Relaxed);
    }

    pub(super) fn finish(&self, err: Option<Errno>) {
        if let Some(e) = err {
            self.error.store(-e.0, Ordering::Release);
        }
        self.done.complete();
    }

    pub(super) fn result(&self) -> Result<(), Errno> {
        match self.error.load(Ordering::Acquire) {
            0 => Ok(()),
            e => Err(Errno(-e)),
        }
    }

    pub(super) fn is_for(&self, object: &Object) -> bool {
        core::ptr::eq(&*self.object, object)
    }

    pub(super) fn object_addr(&self) -> usize {
        &*self.object as *const Object as usize
    }
}

/// The request table and id allocators (C's `reqs` and `ondemand_ids`
/// xarrays); see [`ReqTable`] for its invariants.  Protected by
/// `Cache::reqs`, a mutex: every method runs under it, and an object's
/// state lock (`Object::od`) nests inside it.
pub(crate) type Requests = ReqTable<RbMaps, Arc<Request>>;

impl ReqTable<RbMaps, Arc<Request>> {
    /// Takes out the request `id` if it still is `req`.
    pub(super) fn take_if(&mut self, id: u32, req: &Arc<Request>) -> bool {
        self.take_matching(id, |r| Arc::ptr_eq(r, req)).is_some()
    }

    /// Takes out and completes (with `err`) the requests of `object` that
    /// `pick` selects.
    pub(super) fn finish_object(
        &mut self,
        object: &Object,
        pick: impl FnMut(&Entry<Arc<Request>>) -> bool,
        err: Option<Errno>,
    ) {
        let addr = object as *const Object as usize;
        self.drain_object(addr, pick, |req| req.finish(err));
    }

    /// Takes out and completes every request with `err`.
    pub(super) fn finish_all(&mut self, err: Errno) {
        self.drain_all(|req| req.finish(Some(err)));
    }
}
