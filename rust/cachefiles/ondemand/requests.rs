// SPDX-License-Identifier: GPL-2.0

//! The requests sent to the daemon and the table of pending ones (C's
//! `reqs` and `ondemand_ids` xarrays): their methods; the types
//! ([`Request`], `Requests`) are in `internal.rs`.  The table's logic
//! (message and object id allocation, the per-object index, the "not yet
//! read" marks and the daemon's round-robin cursor) is [`ReqTable`],
//! host-tested; here it is built from the kernel's `RBTree` and stores
//! `Arc<Request>`.

use crate::cachefiles::internal::{Object, Opcode, Request};
use crate::kernel_ext::rbmap::RbMaps;
use crate::logic::cmd::Errno;
use crate::logic::reqtable::{Kind, ReqTable};
use core::sync::atomic::Ordering;
use kernel::sync::Arc;

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

    pub(super) fn result(&self) -> Result<(), Errno> {
        match self.error.load(Ordering::Acquire) {
            0 => Ok(()),
            e => Err(Errno(-e)),
        }
    }

    /// The range a READ asks for (its body: offset and length, native
    /// endian); `None` for other requests.
    pub(super) fn read_range(&self) -> Option<(u64, u64)> {
        if self.opcode != Opcode::Read {
            return None;
        }
        let word = |at: usize| {
            self.body
                .get(at..at + 8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_ne_bytes)
        };
        Some((word(0)?, word(8)?))
    }

    pub(super) fn is_for(&self, object: &Object) -> bool {
        core::ptr::eq(&*self.object, object)
    }

    /// How the request waits in the table: a READ is passed over while
    /// its object is closed or re-opening (C's `select_req` and `poll`),
    /// OPEN and CLOSE never are.
    pub(super) fn kind(&self) -> Kind {
        match self.opcode {
            Opcode::Read => Kind::Deferrable,
            Opcode::Open | Opcode::Close => Kind::Plain,
        }
    }

    pub(super) fn object_addr(&self) -> usize {
        &*self.object as *const Object as usize
    }
}

/// The table's methods of the on-demand code; [`Requests`] and
/// `finish_all` are in `internal.rs`.
///
/// [`Requests`]: crate::cachefiles::internal::Requests
impl ReqTable<RbMaps, Arc<Request>> {
    /// Takes out the request `id` if it still is `req`.
    pub(super) fn take_if(&mut self, id: u32, req: &Arc<Request>) -> bool {
        self.take_matching(id, |r| Arc::ptr_eq(r, req)).is_some()
    }

    /// Takes out and completes (with `err`) the requests of `object` that
    /// `pick` selects (given each request and whether it is new).
    pub(super) fn finish_object(
        &mut self,
        object: &Object,
        pick: impl FnMut(&Arc<Request>, bool) -> bool,
        err: Option<Errno>,
    ) {
        let addr = object as *const Object as usize;
        self.drain_object(addr, pick, |req| req.finish(err));
    }
}
