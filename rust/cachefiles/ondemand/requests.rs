// SPDX-License-Identifier: GPL-2.0

//! The requests sent to the daemon and the table of pending ones (C's
//! `reqs` and `ondemand_ids` xarrays): message and object id allocation,
//! the per-object index and the daemon's round-robin cursor.

use super::Opcode;
use crate::cachefiles::object::Object;
use crate::kernel_ext::completion::Completion;
use crate::logic::cmd::errno::*;
use crate::logic::cmd::Errno;
use core::sync::atomic::{AtomicI32, Ordering};
use kernel::prelude::{pin_data, KVec, GFP_KERNEL};
use kernel::rbtree::RBTree;
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
}

impl Request {
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

/// A pending request and whether the daemon has yet to see it (C's
/// `CACHEFILES_REQ_NEW` mark).
pub(super) struct Entry {
    pub(super) req: Arc<Request>,
    pub(super) new: bool,
}

/// The request table and id allocators (C's `reqs` and `ondemand_ids`
/// xarrays).  Protected by `Cache::reqs`.
pub(crate) struct Requests {
    /// Pending requests by message id.
    pub(super) table: RBTree<u32, Entry>,
    /// The same requests by (object address, message id): an object's
    /// requests are found without scanning the table.
    pub(super) by_object: RBTree<(usize, u32), ()>,
    /// Where the next message id search starts (ids are cyclic over u32,
    /// so a stale id is not soon reused: invariant 5).
    pub(super) msg_id_next: u32,
    /// Where the daemon's next `read()` starts looking (round robin).
    pub(super) req_id_next: u64,
    /// Object ids of live anonymous fds.
    pub(super) ids: RBTree<u32, ()>,
    /// Where the next object id search starts (cyclic over 1..=INT_MAX).
    pub(super) id_next: u32,
}

/// The first id in `from..=to` not in `t`.
fn first_free<V>(t: &RBTree<u32, V>, from: u32, to: u32) -> Option<u32> {
    let mut id = from;
    loop {
        if t.get(&id).is_none() {
            return Some(id);
        }
        if id >= to {
            return None;
        }
        id += 1;
    }
}

impl Requests {
    /// An empty table.
    pub(crate) fn new() -> Self {
        Requests {
            table: RBTree::new(),
            by_object: RBTree::new(),
            msg_id_next: 0,
            req_id_next: 0,
            ids: RBTree::new(),
            id_next: 1,
        }
    }

    pub(super) fn alloc_msg_id(&self) -> Option<u32> {
        let next = self.msg_id_next;
        first_free(&self.table, next, u32::MAX).or_else(|| {
            next.checked_sub(1)
                .and_then(|last| first_free(&self.table, 0, last))
        })
    }

    pub(super) fn alloc_object_id(&mut self) -> Result<u32, Errno> {
        const MAX: u32 = i32::MAX as u32;
        let next = self.id_next.clamp(1, MAX);
        let id = first_free(&self.ids, next, MAX)
            .or_else(|| {
                (next > 1)
                    .then(|| first_free(&self.ids, 1, next - 1))
                    .flatten()
            })
            .ok_or(EBUSY)?;
        self.ids
            .try_create_and_insert(id, (), GFP_KERNEL)
            .map_err(|_| ENOMEM)?;
        self.id_next = if id == MAX { 1 } else { id + 1 };
        Ok(id)
    }

    /// Adds a request under a free message id, which it returns.
    pub(super) fn insert(&mut self, req: &Arc<Request>) -> Result<u32, Errno> {
        let id = self.alloc_msg_id().ok_or(EBUSY)?;
        let key = (req.object_addr(), id);
        self.by_object
            .try_create_and_insert(key, (), GFP_KERNEL)
            .map_err(|_| ENOMEM)?;
        let entry = Entry {
            req: req.clone(),
            new: true,
        };
        if self
            .table
            .try_create_and_insert(id, entry, GFP_KERNEL)
            .is_err()
        {
            let _ = self.by_object.remove(&key);
            return Err(ENOMEM);
        }
        self.msg_id_next = id.wrapping_add(1);
        Ok(id)
    }

    /// Takes out request `id`.
    pub(super) fn remove(&mut self, id: u32) -> Option<Arc<Request>> {
        let entry = self.table.remove(&id)?;
        let _ = self.by_object.remove(&(entry.req.object_addr(), id));
        Some(entry.req)
    }

    /// Takes out request `id` if `pick` accepts it.
    pub(super) fn take_matching(
        &mut self,
        id: u32,
        pick: impl FnOnce(&Request) -> bool,
    ) -> Option<Arc<Request>> {
        if self.table.get(&id).is_some_and(|e| pick(&e.req)) {
            self.remove(id)
        } else {
            None
        }
    }

    /// Takes out the request `id` if it still is `req`.
    pub(super) fn take_if(&mut self, id: u32, req: &Arc<Request>) -> bool {
        self.take_matching(id, |r| core::ptr::eq(r, &**req))
            .is_some()
    }

    /// The first message id of `object`'s requests from `from` on.
    pub(super) fn next_of(&mut self, object: usize, from: u32) -> Option<u32> {
        let cursor = self.by_object.cursor_lower_bound(&(object, from))?;
        let &(addr, id) = cursor.current().0;
        (addr == object).then_some(id)
    }

    /// Takes out and completes (with `err`) the requests of `object` that
    /// `pick` selects.
    pub(super) fn drain_object(
        &mut self,
        object: &Object,
        pick: impl Fn(&Entry) -> bool,
        err: Option<Errno>,
    ) {
        let addr = object as *const Object as usize;
        let mut from = 0;
        while let Some(id) = self.next_of(addr, from) {
            if self.table.get(&id).is_some_and(&pick) {
                if let Some(req) = self.remove(id) {
                    req.finish(err);
                }
            }
            match id.checked_add(1) {
                Some(next) => from = next,
                None => break,
            }
        }
    }

    /// Takes out and completes every request with `err`.
    pub(super) fn drain_all(&mut self, err: Errno) {
        self.by_object = RBTree::new();
        let mut cursor = self.table.cursor_front();
        while let Some(c) = cursor {
            let (next, node) = c.remove_current();
            node.to_key_value().1.req.finish(Some(err));
            cursor = next;
        }
    }
}
