// SPDX-License-Identifier: GPL-2.0

//! The table of pending on-demand requests and its id allocators (C 6.12's
//! `cache->reqs` and `cache->ondemand_ids` xarrays with `msg_id_next`,
//! `req_id_next` and `ondemand_id_next`).
//!
//! [`ReqTable`] is generic over the ordered maps it is built from (a
//! [`MapFamily`]: the kernel's `RBTree`, `BTreeMap` in the host tests) and
//! over the request it stores (`Arc<Request>` in the kernel).  It knows a
//! request only by its message id, the address of its object (an opaque
//! `usize` key), its [`Kind`] and whether the daemon has yet to read it
//! (C's `CACHEFILES_REQ_NEW` mark); what a request means is the caller's,
//! passed in as closures (e.g. which READs [`ReqTable::select`] may hand
//! out).
//!
//! # Costs
//!
//! New requests and read ones are in two maps by message id, with counts
//! of the new ones and of the [`Kind::Plain`] among them, so the daemon's
//! `read()` ([`ReqTable::select`]) and `poll()` ([`ReqTable::readable`])
//! look at new requests only, however many read ones await an answer;
//! reading one moves its node to the other map (no allocation).  Each
//! method gives its cost, with `n` requests pending and `k` of them new.
//!
//! It takes no lock: the kernel keeps one in `Cache::reqs`, a mutex, and
//! every method runs under it.
//!
//! Pure logic (`core` only): host-tested by `tools/logic-tests`.

use super::cmd::errno::{EBUSY, ENOMEM};
use super::cmd::Errno;
use core::ops::ControlFlow;

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
    /// Adds `value` under `key`, which the callers know is absent (were it
    /// present, its value would be replaced).  On `Err` the map is
    /// unchanged and `value` is dropped.
    fn try_insert(&mut self, key: K, value: V) -> Result<(), AllocError>;
    /// Takes out the value under `key`.
    fn remove(&mut self, key: &K) -> Option<V>;
    /// Moves the entry under `key`, if any, to `to`, where the callers
    /// know `key` is absent, without allocating (the kernel's `RBTree`
    /// moves the node itself).  Whether there was one.
    fn move_to(&mut self, key: &K, to: &mut Self) -> bool;
    /// The smallest key `>= key`.  (`&mut`: the kernel's `RBTree` finds it
    /// with a cursor, which needs it.)
    fn lower_bound(&mut self, key: &K) -> Option<K>;
    /// Takes out the entry with the smallest key.
    fn pop_first(&mut self) -> Option<(K, V)>;
    /// Calls `f` on the entries in increasing key order, from the first
    /// with a key `>= from` (from the first entry if `from` is `None`),
    /// until it breaks; returns what it broke with, `None` if it went
    /// through.  `O(log n)` to start, `O(1)` amortized per entry.
    fn scan_from<B>(
        &mut self,
        from: Option<&K>,
        f: impl FnMut(&K, &V) -> ControlFlow<B>,
    ) -> Option<B>;
    /// The entries in increasing key order.
    fn iter<'a>(&'a self) -> impl Iterator<Item = (&'a K, &'a V)>
    where
        K: 'a,
        V: 'a;
}

/// A kind of [`OrderedMap`], for every key and value type.
pub(crate) trait MapFamily {
    /// The map from `K` to `V`.
    type Map<K: Ord + Copy, V>: OrderedMap<K, V>;
}

/// How a new request counts for the daemon's `read()` and `poll()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Handed out as soon as the search meets it, and makes the devnode
    /// readable (C: OPEN and CLOSE).
    Plain,
    /// Handed out and counted as readable only if the caller says so
    /// (C: a READ, passed over while its object is closed or re-opening).
    Deferrable,
}

/// A pending request with its object and kind.
struct Entry<P> {
    object: usize,
    kind: Kind,
    req: P,
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
/// 1. Every pending request is in exactly one of `new` (the daemon has
///    yet to read it: C's `CACHEFILES_REQ_NEW` mark) and `seen`, under its
///    message id.
/// 2. `by_object` holds `(object, id)` exactly when `new` or `seen` holds
///    `id` with that object: an object's requests are found without a scan.
/// 3. `new_count` is the number of entries of `new`, `new_plain` the
///    number of them of [`Kind::Plain`].
/// 4. Message ids are in `0..=msg_id_max` and `msg_id_next` too; object ids
///    (the keys of `ids`) are in `1..=id_max` and `id_next` too.
/// 5. Both id allocators are cyclic: the search for a free id starts at
///    the id after the last one handed out and wraps, so a freed id is
///    reused only once the search has gone round to it again (a daemon's
///    stale `copen` or READ_COMPLETE does not hit a new request).
/// 6. `req_id_next` is 0 or one past an id the daemon read, so at most
///    `msg_id_max + 1`.
/// 7. A failed method leaves the table unchanged.
pub(crate) struct ReqTable<F: MapFamily, P> {
    /// Pending requests the daemon has yet to read, by message id.
    new: F::Map<u32, Entry<P>>,
    /// Pending requests the daemon has read, by message id.
    seen: F::Map<u32, Entry<P>>,
    /// The same requests by (object, message id).
    by_object: F::Map<(usize, u32), ()>,
    /// The number of new requests.
    new_count: usize,
    /// The number of new requests of [`Kind::Plain`].
    new_plain: usize,
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

/// The first id in `from..=to` that is not `taken`.
fn first_free(taken: &impl Fn(u32) -> bool, from: u32, to: u32) -> Option<u32> {
    let mut id = from;
    while id <= to {
        if !taken(id) {
            return Some(id);
        }
        id = id.checked_add(1)?;
    }
    None
}

/// The first id in `next..=max`, then in `min..next`, that is not `taken`
/// (C's cyclic searches for a free index).
fn first_free_cyclic(taken: impl Fn(u32) -> bool, min: u32, next: u32, max: u32) -> Option<u32> {
    first_free(&taken, next, max).or_else(|| first_free(&taken, min, next.checked_sub(1)?))
}

/// Whether the search of a `read()` or a `poll()` stops at `e`: it is
/// [`Kind::Plain`], or `ok` accepts it (asked about [`Kind::Deferrable`]
/// entries only).
fn stops_at<P>(e: &Entry<P>, ok: &mut impl FnMut(&P) -> bool) -> bool {
    e.kind == Kind::Plain || ok(&e.req)
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
            new: OrderedMap::empty(),
            seen: OrderedMap::empty(),
            by_object: OrderedMap::empty(),
            new_count: 0,
            new_plain: 0,
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

    /// The number of pending requests (for the tests: `O(n)`).
    #[allow(dead_code)]
    pub(crate) fn len(&self) -> usize {
        self.new.iter().count() + self.seen.iter().count()
    }

    /// Whether no request is pending.
    #[allow(dead_code)]
    pub(crate) fn is_empty(&self) -> bool {
        self.new_count == 0 && self.seen.iter().next().is_none()
    }

    /// Whether request `id` is new: `None` if it is not pending (for the
    /// tests).
    #[allow(dead_code)]
    pub(crate) fn is_new(&self, id: u32) -> Option<bool> {
        self.entry(id).map(|_| self.new.get(&id).is_some())
    }

    /// Whether invariants 1 to 3 hold (for the tests).
    #[allow(dead_code)]
    pub(crate) fn index_matches(&self) -> bool {
        let indexed = |m: &F::Map<u32, Entry<P>>| {
            m.iter()
                .all(|(&id, e)| self.by_object.get(&(e.object, id)).is_some())
        };
        let plain = self
            .new
            .iter()
            .filter(|(_, e)| e.kind == Kind::Plain)
            .count();
        self.by_object.iter().count() == self.len()
            && indexed(&self.new)
            && indexed(&self.seen)
            && self.new.iter().all(|(id, _)| self.seen.get(id).is_none())
            && self.new.iter().count() == self.new_count
            && plain == self.new_plain
    }

    /// Request `id` as an entry.
    fn entry(&self, id: u32) -> Option<&Entry<P>> {
        self.new.get(&id).or_else(|| self.seen.get(&id))
    }

    /// Counts an entry entering (`+1`) or leaving (`-1`) the new map.
    fn count_new(&mut self, kind: Kind, enters: bool) {
        let plain = usize::from(kind == Kind::Plain);
        if enters {
            self.new_count += 1;
            self.new_plain += plain;
        } else {
            // Saturating: invariant 3 keeps both above 0 here.
            self.new_count = self.new_count.saturating_sub(1);
            self.new_plain = self.new_plain.saturating_sub(plain);
        }
    }

    /// Queues `req`, a request of `kind` for `object`, as new under a free
    /// message id, which it returns: the first free from the one after the
    /// last handed out, wrapping past `u32::MAX` to 0 (C's
    /// `cachefiles_ondemand_send_req`).  `EBUSY` if every id is taken,
    /// `ENOMEM` if a node cannot be allocated.  `O(log n)` if the next id
    /// is free (unless the ids went round with requests still pending);
    /// two allocations: the node for `new`, the one for `by_object`.
    pub(crate) fn insert(&mut self, object: usize, kind: Kind, req: P) -> Result<u32, Errno> {
        let taken = |id| self.entry(id).is_some();
        let id = first_free_cyclic(taken, 0, self.msg_id_next, self.msg_id_max).ok_or(EBUSY)?;
        let key = (object, id);
        self.by_object.try_insert(key, ()).map_err(|_| ENOMEM)?;
        let entry = Entry { object, kind, req };
        if self.new.try_insert(id, entry).is_err() {
            let _ = self.by_object.remove(&key);
            return Err(ENOMEM);
        }
        self.count_new(kind, true);
        self.msg_id_next = if id >= self.msg_id_max { 0 } else { id + 1 };
        Ok(id)
    }

    /// Request `id`.
    pub(crate) fn get(&self, id: u32) -> Option<&P> {
        self.entry(id).map(|e| &e.req)
    }

    /// Takes out request `id`, new or read.  `O(log n)`.
    pub(crate) fn remove(&mut self, id: u32) -> Option<P> {
        let entry = match self.new.remove(&id) {
            Some(e) => {
                self.count_new(e.kind, false);
                e
            }
            None => self.seen.remove(&id)?,
        };
        let _ = self.by_object.remove(&(entry.object, id));
        Some(entry.req)
    }

    /// Takes out request `id` if `pick` accepts it.
    pub(crate) fn take_matching(&mut self, id: u32, pick: impl FnOnce(&P) -> bool) -> Option<P> {
        if self.get(id).is_some_and(pick) {
            self.remove(id)
        } else {
            None
        }
    }

    /// The request the daemon's next read hands out (C's
    /// `cachefiles_ondemand_select_req` as called by
    /// `cachefiles_ondemand_daemon_read`): the first new one, in increasing
    /// id order, that is [`Kind::Plain`] or that `deliverable` accepts,
    /// looking first from the cursor on, then from 0 up to the cursor
    /// (round robin).  `deliverable` is called on new
    /// [`Kind::Deferrable`] requests only, in that order, up to the first
    /// it accepts (it may act on the ones it refuses, as C queues
    /// re-opens).  The request stays queued and new: see
    /// [`Self::mark_read`].  `O(log k)` to start, then `O(1)` amortized
    /// (`O(log k)` at worst) per new request passed over or handed out.
    pub(crate) fn select(&mut self, mut deliverable: impl FnMut(&P) -> bool) -> Option<u32> {
        if self.new_count == 0 {
            return None;
        }
        let start = self.req_id_next;
        let mut stop = |&id: &u32, e: &Entry<P>| {
            if stops_at(e, &mut deliverable) {
                ControlFlow::Break(id)
            } else {
                ControlFlow::Continue(())
            }
        };
        // `start` is `2^32` after id `u32::MAX` was read: nothing is later.
        if let Ok(from) = u32::try_from(start) {
            let later = self.new.scan_from(Some(&from), &mut stop);
            if later.is_some() {
                return later;
            }
        }
        self.new
            .scan_from(None, |id, e| {
                if u64::from(*id) >= start {
                    return ControlFlow::Break(None);
                }
                match stop(id, e) {
                    ControlFlow::Break(id) => ControlFlow::Break(Some(id)),
                    ControlFlow::Continue(()) => ControlFlow::Continue(()),
                }
            })
            .flatten()
    }

    /// The daemon read request `id`: it is no longer new and the next
    /// search starts after it.  Returns the request.  `O(log n)`; the
    /// node moves from `new` to `seen`.
    pub(crate) fn mark_read(&mut self, id: u32) -> Option<&P> {
        if let Some(kind) = self.new.get(&id).map(|e| e.kind) {
            self.new.move_to(&id, &mut self.seen);
            self.count_new(kind, false);
        }
        let entry = self.seen.get(&id)?;
        self.req_id_next = u64::from(id) + 1;
        Some(&entry.req)
    }

    /// Whether the daemon has a request to read (C's on-demand `poll`):
    /// a new [`Kind::Plain`] request, or a new [`Kind::Deferrable`] one
    /// that `ready` accepts.  `ready` is called on new deferrable requests
    /// only, in increasing id order, and only if no plain one is new.
    /// `O(1)` if a plain request or none is new, else `O(log k + j)` for
    /// the `j` new ones `ready` refuses before one it accepts.
    pub(crate) fn readable(&mut self, mut ready: impl FnMut(&P) -> bool) -> bool {
        if self.new_plain > 0 {
            return true;
        }
        if self.new_count == 0 {
            return false;
        }
        self.new
            .scan_from(None, |_, e| {
                if stops_at(e, &mut ready) {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .is_some()
    }

    /// Marks every pending request new, so the daemon reads it again (C's
    /// `cachefiles_ondemand_restore`).  The cursor stays.  `O(r log n)`
    /// for `r` read requests, no allocation.
    pub(crate) fn mark_all_new(&mut self) {
        while let Some(id) = self.seen.lower_bound(&0) {
            let Some(kind) = self.seen.get(&id).map(|e| e.kind) else {
                break;
            };
            self.seen.move_to(&id, &mut self.new);
            self.count_new(kind, true);
        }
    }

    /// The first message id of `object`'s requests from `from` on.
    pub(crate) fn next_of(&mut self, object: usize, from: u32) -> Option<u32> {
        let (addr, id) = self.by_object.lower_bound(&(object, from))?;
        (addr == object).then_some(id)
    }

    /// Takes out the requests of `object` that `pick` selects, in
    /// increasing id order, and hands each to `done`.  `pick` is given
    /// each request and whether it is new.
    pub(crate) fn drain_object(
        &mut self,
        object: usize,
        mut pick: impl FnMut(&P, bool) -> bool,
        mut done: impl FnMut(P),
    ) {
        let mut from = 0;
        while let Some(id) = self.next_of(object, from) {
            let picked = match (self.new.get(&id), self.seen.get(&id)) {
                (Some(e), _) => pick(&e.req, true),
                (None, Some(e)) => pick(&e.req, false),
                (None, None) => false,
            };
            if picked {
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
        self.new_count = 0;
        self.new_plain = 0;
        loop {
            let first_new = self.new.lower_bound(&0);
            let first_seen = self.seen.lower_bound(&0);
            let from = match (first_new, first_seen) {
                (Some(a), Some(b)) if b < a => &mut self.seen,
                (Some(_), _) => &mut self.new,
                (None, Some(_)) => &mut self.seen,
                (None, None) => break,
            };
            let Some((_, e)) = from.pop_first() else {
                break;
            };
            done(e.req);
        }
    }

    /// Allocates an object id for a new anonymous fd: the first free from
    /// the one after the last handed out, wrapping past `INT_MAX` to 1 (C's
    /// `xa_alloc_cyclic(&cache->ondemand_ids, .., XA_LIMIT(1, INT_MAX),
    /// &cache->ondemand_id_next, ..)`).  `EBUSY` if every id is taken,
    /// `ENOMEM` if a node cannot be allocated.
    pub(crate) fn alloc_object_id(&mut self) -> Result<u32, Errno> {
        let ids = &self.ids;
        let id = first_free_cyclic(|id| ids.get(&id).is_some(), 1, self.id_next, self.id_max)
            .ok_or(EBUSY)?;
        self.ids.try_insert(id, ()).map_err(|_| ENOMEM)?;
        self.id_next = if id >= self.id_max { 1 } else { id + 1 };
        Ok(id)
    }

    /// Frees object id `id`; whether it was allocated.
    pub(crate) fn free_object_id(&mut self, id: u32) -> bool {
        self.ids.remove(&id).is_some()
    }
}
