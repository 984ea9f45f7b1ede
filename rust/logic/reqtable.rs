// SPDX-License-Identifier: GPL-2.0

//! The table of pending on-demand requests and its id allocators (C 6.12's
//! `cache->reqs` and `cache->ondemand_ids` xarrays with `msg_id_next`,
//! `req_id_next` and `ondemand_id_next`).
//!
//! [`ReqTable`] is generic over the ordered maps it is built from (a
//! [`MapFamily`]: the kernel's `RBTree`, `BTreeMap` in the host tests) and
//! over the request it stores (`Arc<Request>` in the kernel).  It knows a
//! request only by its message id, the address of its object (an opaque
//! `usize` key) and whether the daemon has yet to read it (C's
//! `CACHEFILES_REQ_NEW` mark); what a request means is the caller's, passed
//! in as closures (e.g. which READs [`ReqTable::select`] may hand out).
//!
//! It takes no lock: the kernel keeps one in `Cache::reqs`, a mutex, and
//! every method runs under it.
//!
//! Pure logic (`core` only): host-tested by `tools/logic-tests`.

use super::cmd::errno::{EBUSY, ENOMEM};
use super::cmd::Errno;

/// A map could not allocate the node for an insertion; the map is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AllocError;

/// An ordered map with fallible insertion: what [`ReqTable`] needs of the
/// kernel's `RBTree` (and of `BTreeMap` on the host).
pub(crate) trait OrderedMap<K: Ord + Copy, V> {
    /// An empty map.
    fn empty() -> Self;
    /// The value under `key`.
    fn get(&self, key: &K) -> Option<&V>;
    /// The value under `key`, mutably.
    fn get_mut(&mut self, key: &K) -> Option<&mut V>;
    /// Adds `value` under `key`, which the callers know is absent (were it
    /// present, its value would be replaced).  On `Err` the map is
    /// unchanged and `value` is dropped.
    fn try_insert(&mut self, key: K, value: V) -> Result<(), AllocError>;
    /// Takes out the value under `key`.
    fn remove(&mut self, key: &K) -> Option<V>;
    /// The smallest key `>= key`.  (`&mut`: the kernel's `RBTree` finds it
    /// with a cursor, which needs it.)
    fn lower_bound(&mut self, key: &K) -> Option<K>;
    /// Takes out the entry with the smallest key.
    fn pop_first(&mut self) -> Option<(K, V)>;
    /// The entries in increasing key order.
    fn iter<'a>(&'a self) -> impl Iterator<Item = (&'a K, &'a V)>
    where
        K: 'a,
        V: 'a;
    /// The values in increasing key order, mutably.
    fn values_mut<'a>(&'a mut self) -> impl Iterator<Item = &'a mut V>
    where
        V: 'a;
}

/// A kind of [`OrderedMap`], for every key and value type.
pub(crate) trait MapFamily {
    /// The map from `K` to `V`.
    type Map<K: Ord + Copy, V>: OrderedMap<K, V>;
}

/// A pending request, its object and whether the daemon has yet to read it.
pub(crate) struct Entry<P> {
    object: usize,
    req: P,
    new: bool,
}

impl<P> Entry<P> {
    /// The request.
    pub(crate) fn req(&self) -> &P {
        &self.req
    }

    /// Whether the daemon has yet to read it (C's `CACHEFILES_REQ_NEW`):
    /// set when queued and by `restore`, cleared when read.
    pub(crate) fn is_new(&self) -> bool {
        self.new
    }
}

/// The largest message id (C: ids are `u32`, allocated over all of it).
pub(crate) const MSG_ID_MAX: u32 = u32::MAX;
/// The largest object id (C: `XA_LIMIT(1, INT_MAX)`).
pub(crate) const OBJECT_ID_MAX: u32 = i32::MAX as u32;

/// The pending requests by message id, with the per-object index, the
/// message-id and object-id allocators and the daemon's read cursor.
///
/// # Invariants
///
/// 1. `by_object` holds `(object, id)` exactly when `reqs` holds `id` with
///    that object: an object's requests are found without a scan.
/// 2. Message ids are in `0..=msg_id_max` and `msg_id_next` too; object ids
///    (the keys of `ids`) are in `1..=id_max` and `id_next` too.
/// 3. Both id allocators are cyclic: the search for a free id starts at
///    the id after the last one handed out and wraps, so a freed id is
///    reused only once the search has gone round to it again (a daemon's
///    stale `copen` or READ_COMPLETE does not hit a new request).
/// 4. `req_id_next` is 0 or one past an id the daemon read, so at most
///    `msg_id_max + 1`.
/// 5. A failed method leaves the table unchanged.
pub(crate) struct ReqTable<F: MapFamily, P> {
    /// Pending requests by message id.
    reqs: F::Map<u32, Entry<P>>,
    /// The same requests by (object, message id).
    by_object: F::Map<(usize, u32), ()>,
    /// Where the next message id search starts.
    msg_id_next: u32,
    /// The largest message id ([`MSG_ID_MAX`] but in tests).
    msg_id_max: u32,
    /// Where the daemon's next read looks first: one past the id it read
    /// last (C's `unsigned long req_id_next`, hence up to `2^32`).
    req_id_next: u64,
    /// Object ids of live anonymous fds.
    ids: F::Map<u32, ()>,
    /// Where the next object id search starts.
    id_next: u32,
    /// The largest object id ([`OBJECT_ID_MAX`] but in tests).
    id_max: u32,
}

/// The first key in `from..=to` not in `m`.
fn first_free<M: OrderedMap<u32, V>, V>(m: &M, from: u32, to: u32) -> Option<u32> {
    let mut id = from;
    while id <= to {
        if m.get(&id).is_none() {
            return Some(id);
        }
        id = id.checked_add(1)?;
    }
    None
}

/// The first key in `next..=max`, then in `min..next`, not in `m` (C's
/// cyclic searches for a free index).
fn first_free_cyclic<M: OrderedMap<u32, V>, V>(
    m: &M,
    min: u32,
    next: u32,
    max: u32,
) -> Option<u32> {
    first_free(m, next, max).or_else(|| first_free(m, min, next.checked_sub(1)?))
}

impl<F: MapFamily, P> Default for ReqTable<F, P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: MapFamily, P> ReqTable<F, P> {
    /// An empty table.
    pub(crate) fn new() -> Self {
        Self::with_limits(MSG_ID_MAX, OBJECT_ID_MAX)
    }

    /// An empty table with smaller id ranges (`0..=msg_id_max`,
    /// `1..=object_id_max`, the latter at least 1), so tests can fill it.
    pub(crate) fn with_limits(msg_id_max: u32, object_id_max: u32) -> Self {
        ReqTable {
            reqs: OrderedMap::empty(),
            by_object: OrderedMap::empty(),
            msg_id_next: 0,
            msg_id_max,
            req_id_next: 0,
            ids: OrderedMap::empty(),
            id_next: 1,
            id_max: object_id_max.max(1),
        }
    }

    /// Moves the allocators' cursors, as that many allocations would (for
    /// the tests of the wraparound; clamped to the id ranges).
    #[allow(dead_code)]
    pub(crate) fn with_next_ids(mut self, msg_id_next: u32, object_id_next: u32) -> Self {
        self.msg_id_next = msg_id_next.min(self.msg_id_max);
        self.id_next = object_id_next.clamp(1, self.id_max);
        self
    }

    /// The number of pending requests.
    #[allow(dead_code)]
    pub(crate) fn len(&self) -> usize {
        self.reqs.iter().count()
    }

    /// Whether no request is pending.
    #[allow(dead_code)]
    pub(crate) fn is_empty(&self) -> bool {
        self.reqs.iter().next().is_none()
    }

    /// Whether invariant 1 holds (for the tests).
    #[allow(dead_code)]
    pub(crate) fn index_matches(&self) -> bool {
        self.by_object.iter().count() == self.len()
            && self
                .reqs
                .iter()
                .all(|(&id, e)| self.by_object.get(&(e.object, id)).is_some())
    }

    /// Queues `req`, a request for `object`, as new under a free message id,
    /// which it returns: the first free from the one after the last handed
    /// out, wrapping past `u32::MAX` to 0 (C's `cachefiles_ondemand_send_req`).
    /// `EBUSY` if every id is taken, `ENOMEM` if a node cannot be allocated.
    pub(crate) fn insert(&mut self, object: usize, req: P) -> Result<u32, Errno> {
        let id =
            first_free_cyclic(&self.reqs, 0, self.msg_id_next, self.msg_id_max).ok_or(EBUSY)?;
        let key = (object, id);
        self.by_object.try_insert(key, ()).map_err(|_| ENOMEM)?;
        let entry = Entry {
            object,
            req,
            new: true,
        };
        if self.reqs.try_insert(id, entry).is_err() {
            let _ = self.by_object.remove(&key);
            return Err(ENOMEM);
        }
        self.msg_id_next = if id >= self.msg_id_max { 0 } else { id + 1 };
        Ok(id)
    }

    /// Request `id`.
    pub(crate) fn get(&self, id: u32) -> Option<&P> {
        self.reqs.get(&id).map(|e| &e.req)
    }

    /// Takes out request `id`.
    pub(crate) fn remove(&mut self, id: u32) -> Option<P> {
        let entry = self.reqs.remove(&id)?;
        let _ = self.by_object.remove(&(entry.object, id));
        Some(entry.req)
    }

    /// Takes out request `id` if `pick` accepts it.
    pub(crate) fn take_matching(&mut self, id: u32, pick: impl FnOnce(&P) -> bool) -> Option<P> {
        if self.reqs.get(&id).is_some_and(|e| pick(&e.req)) {
            self.remove(id)
        } else {
            None
        }
    }

    /// The request the daemon's next read hands out (C's
    /// `cachefiles_ondemand_select_req` as called by
    /// `cachefiles_ondemand_daemon_read`): the first new one, in increasing
    /// id order, that `deliverable` accepts, looking first from the cursor
    /// on, then from 0 up to the cursor (round robin).  `deliverable` is
    /// called on new requests only, in that order, up to the first it
    /// accepts (it may act on the ones it refuses, as C queues re-opens).
    /// The request stays queued and new: see [`Self::mark_read`].
    pub(crate) fn select(&self, mut deliverable: impl FnMut(&P) -> bool) -> Option<u32> {
        let start = self.req_id_next;
        let later = self
            .reqs
            .iter()
            .skip_while(|&(&id, _)| u64::from(id) < start);
        let earlier = self
            .reqs
            .iter()
            .take_while(|&(&id, _)| u64::from(id) < start);
        later
            .chain(earlier)
            .find(|(_, e)| e.new && deliverable(&e.req))
            .map(|(&id, _)| id)
    }

    /// The daemon read request `id`: it is no longer new and the next
    /// search starts after it.  Returns the request.
    pub(crate) fn mark_read(&mut self, id: u32) -> Option<&P> {
        let entry = self.reqs.get_mut(&id)?;
        entry.new = false;
        self.req_id_next = u64::from(id) + 1;
        Some(&entry.req)
    }

    /// Whether a new request satisfies `pred` (C's on-demand `poll`).
    pub(crate) fn any_new(&self, mut pred: impl FnMut(&P) -> bool) -> bool {
        self.reqs.iter().any(|(_, e)| e.new && pred(&e.req))
    }

    /// Marks every pending request new, so the daemon reads it again (C's
    /// `cachefiles_ondemand_restore`).  The cursor stays.
    pub(crate) fn mark_all_new(&mut self) {
        for e in self.reqs.values_mut() {
            e.new = true;
        }
    }

    /// The first message id of `object`'s requests from `from` on.
    pub(crate) fn next_of(&mut self, object: usize, from: u32) -> Option<u32> {
        let (addr, id) = self.by_object.lower_bound(&(object, from))?;
        (addr == object).then_some(id)
    }

    /// Takes out the requests of `object` that `pick` selects, in
    /// increasing id order, and hands each to `done`.
    pub(crate) fn drain_object(
        &mut self,
        object: usize,
        mut pick: impl FnMut(&Entry<P>) -> bool,
        mut done: impl FnMut(P),
    ) {
        let mut from = 0;
        while let Some(id) = self.next_of(object, from) {
            if self.reqs.get(&id).is_some_and(&mut pick) {
                if let Some(req) = self.remove(id) {
                    done(req);
                }
            }
            match id.checked_add(1) {
                Some(next) => from = next,
                None => break,
            }
        }
    }

    /// Takes out every request, in increasing id order, and hands each to
    /// `done` (C's `cachefiles_flush_reqs`).  The cursors and object ids
    /// stay.
    pub(crate) fn drain_all(&mut self, mut done: impl FnMut(P)) {
        self.by_object = OrderedMap::empty();
        while let Some((_, e)) = self.reqs.pop_first() {
            done(e.req);
        }
    }

    /// Allocates an object id for a new anonymous fd: the first free from
    /// the one after the last handed out, wrapping past `INT_MAX` to 1 (C's
    /// `xa_alloc_cyclic(&cache->ondemand_ids, .., XA_LIMIT(1, INT_MAX),
    /// &cache->ondemand_id_next, ..)`).  `EBUSY` if every id is taken,
    /// `ENOMEM` if a node cannot be allocated.
    pub(crate) fn alloc_object_id(&mut self) -> Result<u32, Errno> {
        let id = first_free_cyclic(&self.ids, 1, self.id_next, self.id_max).ok_or(EBUSY)?;
        self.ids.try_insert(id, ()).map_err(|_| ENOMEM)?;
        self.id_next = if id >= self.id_max { 1 } else { id + 1 };
        Ok(id)
    }

    /// Frees object id `id`; whether it was allocated.
    pub(crate) fn free_object_id(&mut self, id: u32) -> bool {
        self.ids.remove(&id).is_some()
    }
}
