// SPDX-License-Identifier: GPL-2.0
//! Unit tests of `rust/logic/reqtable.rs`, the on-demand request table,
//! against C 6.12's `fs/cachefiles/ondemand.c`: message ids from
//! `cachefiles_ondemand_send_req` (cyclic `xas_find_marked(XA_FREE_MARK)`
//! from `msg_id_next` over `u32`), object ids from `xa_alloc_cyclic(..,
//! XA_LIMIT(1, INT_MAX), &ondemand_id_next, ..)`, the daemon's choice from
//! `cachefiles_ondemand_daemon_read` (`CACHEFILES_REQ_NEW` entries from
//! `req_id_next` on, then from 0), `restore`, the withdrawal and fd-release
//! drains and `cachefiles_flush_reqs`.

use crate::cmd::errno::{EBUSY, ENOMEM};
use crate::reqtable::{AllocError, Kind, MapFamily, OrderedMap, ReqTable, OBJECT_ID_MAX};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::ops::ControlFlow;

// ---- The maps: `BTreeMap`, and one whose insertions can be made to fail.

pub(super) struct Std;

impl MapFamily for Std {
    type Map<K: Ord + Copy, V> = BTreeMap<K, V>;
}

impl<K: Ord + Copy, V> OrderedMap<K, V> for BTreeMap<K, V> {
    fn empty() -> Self {
        BTreeMap::new()
    }
    fn get(&self, key: &K) -> Option<&V> {
        BTreeMap::get(self, key)
    }
    fn try_insert(&mut self, key: K, value: V) -> Result<(), AllocError> {
        BTreeMap::insert(self, key, value);
        Ok(())
    }
    fn remove(&mut self, key: &K) -> Option<V> {
        BTreeMap::remove(self, key)
    }
    fn move_to(&mut self, key: &K, to: &mut Self) -> bool {
        match BTreeMap::remove(self, key) {
            Some(v) => {
                assert!(to.insert(*key, v).is_none(), "moved onto a key");
                true
            }
            None => false,
        }
    }
    fn lower_bound(&mut self, key: &K) -> Option<K> {
        self.range(key..).next().map(|(k, _)| *k)
    }
    fn pop_first(&mut self) -> Option<(K, V)> {
        BTreeMap::pop_first(self)
    }
    fn scan_from<B>(
        &mut self,
        from: Option<&K>,
        mut f: impl FnMut(&K, &V) -> ControlFlow<B>,
    ) -> Option<B> {
        let entries = match from {
            Some(k) => self.range(k..),
            None => self.range(..),
        };
        for (k, v) in entries {
            VISITED.with(|n| n.set(n.get() + 1));
            if let ControlFlow::Break(b) = f(k, v) {
                return Some(b);
            }
        }
        None
    }
    fn iter<'a>(&'a self) -> impl Iterator<Item = (&'a K, &'a V)>
    where
        K: 'a,
        V: 'a,
    {
        BTreeMap::iter(self)
    }
}

thread_local! {
    /// The entries `scan_from` went through (the cost of `select` and
    /// `readable`), any map of the thread.
    pub(super) static VISITED: Cell<usize> = const { Cell::new(0) };
    /// The insertion (1 = the next one, any map of the thread) that fails;
    /// 0: none.
    static FAIL_IN: Cell<u32> = const { Cell::new(0) };
}

/// Makes the `n`-th insertion from now fail (once), whichever map it is in.
pub(super) fn fail_insert(n: u32) {
    FAIL_IN.with(|f| f.set(n));
}

pub(super) struct FailMap<K, V>(BTreeMap<K, V>);

pub(super) struct Failing;

impl MapFamily for Failing {
    type Map<K: Ord + Copy, V> = FailMap<K, V>;
}

impl<K: Ord + Copy, V> OrderedMap<K, V> for FailMap<K, V> {
    fn empty() -> Self {
        FailMap(BTreeMap::new())
    }
    fn get(&self, key: &K) -> Option<&V> {
        self.0.get(key)
    }
    fn try_insert(&mut self, key: K, value: V) -> Result<(), AllocError> {
        let fail = FAIL_IN.with(|f| match f.get() {
            0 => false,
            n => {
                f.set(n - 1);
                n == 1
            }
        });
        if fail {
            return Err(AllocError);
        }
        self.0.insert(key, value);
        Ok(())
    }
    fn remove(&mut self, key: &K) -> Option<V> {
        self.0.remove(key)
    }
    fn move_to(&mut self, key: &K, to: &mut Self) -> bool {
        OrderedMap::move_to(&mut self.0, key, &mut to.0)
    }
    fn lower_bound(&mut self, key: &K) -> Option<K> {
        OrderedMap::lower_bound(&mut self.0, key)
    }
    fn pop_first(&mut self) -> Option<(K, V)> {
        self.0.pop_first()
    }
    fn scan_from<B>(
        &mut self,
        from: Option<&K>,
        f: impl FnMut(&K, &V) -> ControlFlow<B>,
    ) -> Option<B> {
        OrderedMap::scan_from(&mut self.0, from, f)
    }
    fn iter<'a>(&'a self) -> impl Iterator<Item = (&'a K, &'a V)>
    where
        K: 'a,
        V: 'a,
    {
        self.0.iter()
    }
}

// ---- The requests: an object address, an opcode and a tag.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Op {
    Open,
    Close,
    Read,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Req {
    pub(super) obj: usize,
    pub(super) op: Op,
    pub(super) tag: u32,
}

pub(super) const A: usize = 0x1000;
pub(super) const B: usize = 0x1008;
pub(super) const C: usize = 0x1010;

pub(super) type Table = ReqTable<Std, Req>;

/// C: READs wait on their object's state, OPEN and CLOSE do not.
pub(super) fn kind(op: Op) -> Kind {
    match op {
        Op::Read => Kind::Deferrable,
        Op::Open | Op::Close => Kind::Plain,
    }
}

pub(super) fn req(obj: usize, op: Op, tag: u32) -> Req {
    Req { obj, op, tag }
}

/// Queues a READ of `obj` tagged `tag`; its message id.
pub(super) fn add(t: &mut Table, obj: usize, tag: u32) -> u32 {
    add_op(t, obj, Op::Read, tag)
}

pub(super) fn add_op(t: &mut Table, obj: usize, op: Op, tag: u32) -> u32 {
    let id = t.insert(obj, kind(op), req(obj, op, tag)).expect("insert");
    assert!(t.index_matches());
    id
}

/// The tags `select` asks about when it refuses every request (so it
/// selects nothing), in the order asked.
pub(super) fn asked_when_refused(t: &mut Table) -> Vec<u32> {
    let mut asked = Vec::new();
    assert_eq!(
        t.select(|r| {
            asked.push(r.tag);
            false
        }),
        None
    );
    asked
}

/// What the daemon's `read()` does: select with every request deliverable,
/// then mark it read.
pub(super) fn read_one(t: &mut Table) -> Option<u32> {
    let id = t.select(|_| true)?;
    assert!(t.mark_read(id).is_some());
    Some(id)
}

/// The message ids of `obj`'s requests, by the per-object index.
pub(super) fn ids_of<F: MapFamily>(t: &mut ReqTable<F, Req>, obj: usize) -> Vec<u32> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(id) = t.next_of(obj, from) {
        out.push(id);
        match id.checked_add(1) {
            Some(n) => from = n,
            None => break,
        }
    }
    out
}

// ---- Message ids.

#[test]
fn msg_ids_start_at_zero_and_increase() {
    let mut t = Table::new();
    assert!(t.is_empty());
    assert_eq!(add(&mut t, A, 0), 0);
    assert_eq!(add(&mut t, B, 1), 1);
    assert_eq!(add(&mut t, A, 2), 2);
    assert_eq!(t.len(), 3);
    assert_eq!(t.get(1), Some(&req(B, Op::Read, 1)));
    assert_eq!(t.get(3), None);
}

#[test]
fn freed_msg_id_is_not_reused_before_the_cursor_wraps() {
    // C: the search starts at msg_id_next, one past the last id handed
    // out, so a daemon's stale copen/READ_COMPLETE of id 0 cannot hit the
    // next request.
    let mut t = Table::new();
    assert_eq!(add(&mut t, A, 0), 0);
    assert_eq!(add(&mut t, A, 1), 1);
    assert_eq!(t.remove(0), Some(req(A, Op::Read, 0)));
    assert_eq!(t.remove(0), None);
    assert_eq!(add(&mut t, A, 2), 2);
    assert_eq!(t.remove(1).map(|r| r.tag), Some(1));
    assert_eq!(t.remove(2).map(|r| r.tag), Some(2));
    // Empty table: still no reuse.
    assert_eq!(add(&mut t, B, 3), 3);
}

#[test]
fn msg_ids_wrap_past_u32_max_to_zero() {
    let mut t = Table::new().with_next_ids(u32::MAX - 1, 1);
    assert_eq!(add(&mut t, A, 0), u32::MAX - 1);
    assert_eq!(add(&mut t, A, 1), u32::MAX);
    // C: msg_id_next = xa_index + 1 wraps (u32) to 0.
    assert_eq!(add(&mut t, B, 2), 0);
    assert_eq!(add(&mut t, B, 3), 1);
    // 0 freed: not reused, the search goes on from 2.
    t.remove(0);
    assert_eq!(add(&mut t, C, 4), 2);
    assert_eq!(ids_of(&mut t, A), [u32::MAX - 1, u32::MAX]);
    assert_eq!(ids_of(&mut t, B), [1]);
}

#[test]
fn msg_id_search_from_the_cursor_to_the_top_then_from_zero() {
    // A small id range (0..=7) makes the table fillable.
    let mut t = Table::with_limits(7, OBJECT_ID_MAX);
    for want in 0..4 {
        assert_eq!(add(&mut t, A, want), want);
    }
    t.remove(0);
    t.remove(1);
    // Free: 0, 1, 4..=7; the cursor is at 4.
    for want in [4, 5, 6, 7, 0, 1] {
        assert_eq!(add(&mut t, B, want), want);
    }
    // Full: EBUSY, nothing changes.
    assert_eq!(
        t.insert(C, kind(Op::Read), req(C, Op::Read, 99)),
        Err(EBUSY)
    );
    assert_eq!(t.len(), 8);
    assert!(t.index_matches());
    assert_eq!(ids_of(&mut t, C), Vec::<u32>::new());
    // One freed: it is the only choice.
    t.remove(5);
    assert_eq!(add(&mut t, C, 100), 5);
    assert_eq!(
        t.insert(C, kind(Op::Read), req(C, Op::Read, 101)),
        Err(EBUSY)
    );
    // The cursor is at 6: of 3 and 6 freed, 6 comes first, then 3.
    t.remove(3);
    t.remove(6);
    assert_eq!(add(&mut t, C, 102), 6);
    assert_eq!(add(&mut t, C, 103), 3);
}

#[test]
fn msg_ids_full_over_a_single_id() {
    let mut t = Table::with_limits(0, OBJECT_ID_MAX);
    assert_eq!(add(&mut t, A, 0), 0);
    assert_eq!(t.insert(A, kind(Op::Read), req(A, Op::Read, 1)), Err(EBUSY));
    t.remove(0);
    assert_eq!(add(&mut t, A, 2), 0);
}

// ---- Object ids.

#[test]
fn object_ids_start_at_one_and_are_cyclic() {
    let mut t = Table::new();
    assert_eq!(t.alloc_object_id(), Ok(1));
    assert_eq!(t.alloc_object_id(), Ok(2));
    assert!(t.free_object_id(1));
    assert!(!t.free_object_id(1));
    assert!(!t.free_object_id(7));
    // 1 is free but the cursor is at 3.
    assert_eq!(t.alloc_object_id(), Ok(3));
}

#[test]
fn object_ids_wrap_past_int_max_to_one() {
    let max = i32::MAX as u32;
    let mut t = Table::new().with_next_ids(0, max - 1);
    assert_eq!(t.alloc_object_id(), Ok(max - 1));
    assert_eq!(t.alloc_object_id(), Ok(max));
    // C: next = INT_MAX + 1 is above the limit, so xa_alloc_cyclic retries
    // from the limit's minimum, 1 (never 0, never above INT_MAX).
    assert_eq!(t.alloc_object_id(), Ok(1));
    assert_eq!(t.alloc_object_id(), Ok(2));
    assert!(t.free_object_id(max));
    assert!(t.free_object_id(1));
    // The cursor is at 3.
    assert_eq!(t.alloc_object_id(), Ok(3));
}

#[test]
fn object_ids_full_give_ebusy() {
    let mut t = Table::with_limits(u32::MAX, 3);
    assert_eq!(t.alloc_object_id(), Ok(1));
    assert_eq!(t.alloc_object_id(), Ok(2));
    assert_eq!(t.alloc_object_id(), Ok(3));
    assert_eq!(t.alloc_object_id(), Err(EBUSY));
    assert!(t.free_object_id(2));
    // The cursor wrapped to 1: 1 is taken, 2 is the first free.
    assert_eq!(t.alloc_object_id(), Ok(2));
    assert_eq!(t.alloc_object_id(), Err(EBUSY));
    assert!(t.free_object_id(3));
    assert!(t.free_object_id(1));
    // The cursor is at 3.
    assert_eq!(t.alloc_object_id(), Ok(3));
    assert_eq!(t.alloc_object_id(), Ok(1));
    // Message ids are independent of object ids.
    assert_eq!(add(&mut t, A, 0), 0);
}

// ---- The daemon's choice (round robin) and the "new" mark.

#[test]
fn reads_go_round_robin_from_the_last_id_read() {
    let mut t = Table::new();
    for tag in 0..5 {
        add(&mut t, [A, B][tag as usize % 2], tag);
    }
    assert_eq!(read_one(&mut t), Some(0));
    assert_eq!(read_one(&mut t), Some(1));
    // Read requests are no longer new: 0 and 1 are not handed out again.
    assert_eq!(read_one(&mut t), Some(2));
    assert_eq!(read_one(&mut t), Some(3));
    assert_eq!(read_one(&mut t), Some(4));
    assert_eq!(read_one(&mut t), None);
    // A new request gets id 5, past the cursor.
    assert_eq!(add(&mut t, C, 5), 5);
    assert_eq!(read_one(&mut t), Some(5));
    assert_eq!(read_one(&mut t), None);
}

#[test]
fn a_busy_object_does_not_starve_the_others() {
    // A has 0, 1, 2 and queues one more each time one is answered; B has
    // 3.  The cursor sends the daemon to 3 before A's newer requests.
    let mut t = Table::new();
    for tag in 0..3 {
        add(&mut t, A, tag);
    }
    assert_eq!(add(&mut t, B, 3), 3);
    let mut order = Vec::new();
    for tag in 10..14 {
        let id = read_one(&mut t).unwrap();
        order.push((t.get(id).unwrap().obj, id));
        t.remove(id);
        add(&mut t, A, tag);
    }
    assert_eq!(order, [(A, 0), (A, 1), (A, 2), (B, 3)]);
    assert_eq!(ids_of(&mut t, A), [4, 5, 6, 7]);
    assert_eq!(ids_of(&mut t, B), Vec::<u32>::new());
}

#[test]
fn select_starts_at_the_cursor_then_wraps_to_zero() {
    let mut t = Table::new();
    for tag in 0..6 {
        add(&mut t, A, tag);
    }
    for _ in 0..4 {
        read_one(&mut t);
    }
    // 0..=3 read, cursor at 4; 4 and 5 new.  restore makes 0..=3 new
    // again but the cursor stays: the daemon goes on with 4, 5, then 0.
    t.mark_all_new();
    assert_eq!(read_one(&mut t), Some(4));
    assert_eq!(read_one(&mut t), Some(5));
    assert_eq!(read_one(&mut t), Some(0));
    assert_eq!(read_one(&mut t), Some(1));
    // Selecting without reading (C's EMSGSIZE) leaves cursor and mark.
    assert_eq!(t.select(|_| true), Some(2));
    assert_eq!(t.select(|_| true), Some(2));
    assert_eq!(read_one(&mut t), Some(2));
}

#[test]
fn select_asks_about_new_requests_in_round_robin_order_once() {
    // ids 0..=7; 1 and 5 read; cursor at 6 (5 read last).
    let mut t = Table::new();
    for tag in 0..8 {
        add(&mut t, [A, B, C][tag as usize % 3], tag);
    }
    t.mark_read(1);
    t.mark_read(5);
    // Refuse everything: each new request is asked about exactly once,
    // from the cursor to the end, then from 0 up to the cursor.
    let mut asked = asked_when_refused(&mut t);
    assert_eq!(asked, [6, 7, 0, 2, 3, 4]);
    // Refuse B's (C: READs of a re-opening object are skipped): the
    // search stops at the first accepted one.
    asked.clear();
    let got = t.select(|r| {
        asked.push(r.tag);
        r.obj != B
    });
    // 6 is A's (6 % 3 == 0).
    assert_eq!((got, asked.as_slice()), (Some(6), &[6][..]));
    asked.clear();
    let got = t.select(|r| {
        asked.push(r.tag);
        r.obj == B
    });
    // 6 (A) and 7 (B): 7.
    assert_eq!((got, asked.as_slice()), (Some(7), &[6, 7][..]));
    asked.clear();
    let got = t.select(|r| {
        asked.push(r.tag);
        r.obj == C && r.tag < 5
    });
    // 6, 7, then from 0: 0 (A), 2 (C).
    assert_eq!((got, asked.as_slice()), (Some(2), &[6, 7, 0, 2][..]));
}

#[test]
fn the_read_cursor_goes_past_u32_max() {
    // C's req_id_next is an unsigned long: after id 0xffffffff it is
    // 0x100000000 and the next search starts from 0.
    let mut t = Table::new().with_next_ids(u32::MAX, 1);
    assert_eq!(add(&mut t, A, 0), u32::MAX);
    assert_eq!(add(&mut t, A, 1), 0);
    assert_eq!(add(&mut t, A, 2), 1);
    assert_eq!(t.mark_read(u32::MAX).map(|r| r.tag), Some(0));
    assert_eq!(read_one(&mut t), Some(0));
    assert_eq!(read_one(&mut t), Some(1));
    assert_eq!(read_one(&mut t), None);
    t.mark_all_new();
    // Cursor at 2: nothing from there to the top but u32::MAX.
    assert_eq!(read_one(&mut t), Some(u32::MAX));
    assert_eq!(read_one(&mut t), Some(0));
}

#[test]
fn mark_read_of_a_missing_id_changes_nothing() {
    let mut t = Table::new();
    add(&mut t, A, 0);
    add(&mut t, A, 1);
    assert_eq!(t.mark_read(7), None);
    assert_eq!(read_one(&mut t), Some(0));
}

#[test]
fn restore_marks_every_request_new_again() {
    let mut t = Table::new();
    for tag in 0..3 {
        add(&mut t, A, tag);
    }
    while read_one(&mut t).is_some() {}
    assert!(!t.readable(|_| true));
    assert_eq!(t.is_new(1), Some(false));
    t.mark_all_new();
    assert!(t.readable(|_| true));
    assert_eq!(t.is_new(1), Some(true));
    assert!(t.index_matches());
    // Twice is harmless; an empty table too.
    t.mark_all_new();
    let mut again = Vec::new();
    while let Some(id) = read_one(&mut t) {
        again.push(id);
    }
    assert_eq!(again, [0, 1, 2]);
    let mut empty = Table::new();
    empty.mark_all_new();
    assert!(!empty.readable(|_| true));
}

#[test]
fn readable_counts_plain_requests_and_asks_about_reads() {
    // C's poll: EPOLLIN for a new request that is not a READ of a
    // re-opening object.  A new OPEN or CLOSE answers without a look at
    // the READs.
    let mut t = Table::new();
    add_op(&mut t, A, Op::Open, 0);
    add_op(&mut t, B, Op::Read, 1);
    assert!(t.readable(|_| panic!("asked")));
    t.mark_read(0);
    assert!(t.readable(|r| r.obj == B));
    assert!(!t.readable(|r| r.obj == A));
    // READs only, asked about in id order up to the first ready one.
    add_op(&mut t, C, Op::Read, 2);
    add_op(&mut t, A, Op::Read, 3);
    let mut asked = Vec::new();
    assert!(t.readable(|r| {
        asked.push(r.tag);
        r.obj == C
    }));
    assert_eq!(asked, [1, 2]);
    // A CLOSE queued: no question.
    add_op(&mut t, A, Op::Close, 4);
    assert!(t.readable(|_| panic!("asked")));
    // Read, it no longer counts.
    assert_eq!(t.select(|_| false), Some(4));
    t.mark_read(4);
    assert!(!t.readable(|_| false));
    assert!(t.index_matches());
}

// ---- Taking requests out; the per-object index.

#[test]
fn take_matching_takes_only_what_the_predicate_accepts() {
    let mut t = Table::new();
    add_op(&mut t, A, Op::Open, 0);
    add_op(&mut t, A, Op::Read, 1);
    // copen of a READ, READ_COMPLETE of an OPEN or of another object: no.
    assert_eq!(t.take_matching(1, |r| r.op == Op::Open), None);
    assert_eq!(t.take_matching(0, |r| r.op == Op::Read && r.obj == A), None);
    assert_eq!(t.take_matching(1, |r| r.obj == B), None);
    assert_eq!(t.take_matching(9, |_| true), None);
    assert_eq!(t.len(), 2);
    assert_eq!(
        t.take_matching(1, |r| r.op == Op::Read).map(|r| r.tag),
        Some(1)
    );
    assert_eq!(t.take_matching(1, |_| true), None);
    assert!(t.index_matches());
    assert_eq!(ids_of(&mut t, A), [0]);
}

#[test]
fn the_per_object_index_follows_removals() {
    let mut t = Table::new();
    for tag in 0..9 {
        add(&mut t, [A, B, C][tag as usize % 3], tag);
    }
    assert_eq!(ids_of(&mut t, A), [0, 3, 6]);
    assert_eq!(ids_of(&mut t, B), [1, 4, 7]);
    assert_eq!(ids_of(&mut t, C), [2, 5, 8]);
    t.remove(3);
    t.take_matching(7, |_| true);
    t.remove(2);
    assert!(t.index_matches());
    assert_eq!(ids_of(&mut t, A), [0, 6]);
    assert_eq!(ids_of(&mut t, B), [1, 4]);
    assert_eq!(ids_of(&mut t, C), [5, 8]);
    assert_eq!(t.next_of(A, 1), Some(6));
    assert_eq!(t.next_of(A, 7), None);
    assert_eq!(t.next_of(B, 5), None);
    // An address between two objects' has nothing.
    assert_eq!(t.next_of(A + 1, 0), None);
    assert_eq!(ids_of(&mut t, 0), Vec::<u32>::new());
    assert_eq!(ids_of(&mut t, usize::MAX), Vec::<u32>::new());
    // Re-added: a new id, indexed.
    assert_eq!(add(&mut t, A, 9), 9);
    assert_eq!(ids_of(&mut t, A), [0, 6, 9]);
}

#[test]
fn drain_object_takes_what_the_predicate_picks_in_id_order() {
    let mut t = Table::new();
    add_op(&mut t, A, Op::Open, 0); // 0
    add_op(&mut t, A, Op::Close, 1); // 1, read below
    add_op(&mut t, B, Op::Close, 2); // 2
    add_op(&mut t, A, Op::Close, 3); // 3
    add_op(&mut t, A, Op::Read, 4); // 4
    add_op(&mut t, C, Op::Read, 5); // 5
    t.mark_read(1);
    // fd release: A's CLOSEs the daemon has not read.
    let mut done = Vec::new();
    t.drain_object(A, |r, new| new && r.op == Op::Close, |r| done.push(r.tag));
    assert_eq!(done, [3]);
    assert!(t.index_matches());
    assert_eq!(ids_of(&mut t, A), [0, 1, 4]);
    // Withdrawal: all of A's, in id order; B and C untouched.
    done.clear();
    t.drain_object(A, |_, _| true, |r| done.push(r.tag));
    assert_eq!(done, [0, 1, 4]);
    assert_eq!(ids_of(&mut t, A), Vec::<u32>::new());
    assert_eq!(ids_of(&mut t, B), [2]);
    assert_eq!(ids_of(&mut t, C), [5]);
    assert_eq!(t.len(), 2);
    assert!(t.index_matches());
    // Nothing left: no call.
    t.drain_object(A, |_, _| panic!("asked"), |_| panic!("done"));
}

#[test]
fn drain_object_reaches_id_u32_max() {
    let mut t = Table::new().with_next_ids(u32::MAX - 1, 1);
    add(&mut t, A, 0);
    add(&mut t, A, 1);
    add(&mut t, A, 2);
    add(&mut t, usize::MAX, 3);
    let mut done = Vec::new();
    t.drain_object(A, |_, _| true, |r| done.push(r.tag));
    // Ids 0, MAX-1, MAX.
    assert_eq!(done, [2, 0, 1]);
    t.drain_object(usize::MAX, |_, _| true, |r| done.push(r.tag));
    assert_eq!(done, [2, 0, 1, 3]);
    assert!(t.is_empty());
    assert!(t.index_matches());
}

#[test]
fn drain_all_empties_the_table_in_id_order() {
    let mut t = Table::new().with_next_ids(u32::MAX - 1, 1);
    for tag in 0..4 {
        add(&mut t, [A, B][tag as usize % 2], tag);
    }
    read_one(&mut t);
    assert_eq!(t.alloc_object_id(), Ok(1));
    let mut done = Vec::new();
    t.drain_all(|r| done.push(r.tag));
    // Ids MAX-1, MAX, 0, 1 in id order: 0, 1, MAX-1, MAX.
    assert_eq!(done, [2, 3, 0, 1]);
    assert!(t.is_empty());
    assert!(t.index_matches());
    assert_eq!(ids_of(&mut t, A), Vec::<u32>::new());
    assert_eq!(ids_of(&mut t, B), Vec::<u32>::new());
    assert_eq!(t.select(|_| true), None);
    // The cursors and the object ids stay.
    assert_eq!(add(&mut t, A, 4), 2);
    assert_eq!(t.alloc_object_id(), Ok(2));
    assert!(t.free_object_id(1));
    done.clear();
    t.drain_all(|r| done.push(r.tag));
    assert_eq!(done, [4]);
    t.drain_all(|_| panic!("empty"));
}

// ---- Allocation failures.

#[test]
fn a_failed_main_insert_rolls_back_the_index() {
    let mut t = ReqTable::<Failing, Req>::new();
    assert_eq!(t.insert(A, kind(Op::Read), req(A, Op::Read, 0)), Ok(0));
    assert_eq!(t.insert(B, kind(Op::Read), req(B, Op::Read, 1)), Ok(1));
    // The index insertion (first) succeeds, the table's (second) fails.
    fail_insert(2);
    assert_eq!(
        t.insert(A, kind(Op::Read), req(A, Op::Read, 2)),
        Err(ENOMEM)
    );
    assert_eq!(t.len(), 2);
    assert!(t.index_matches());
    assert_eq!(ids_of(&mut t, A), [0]);
    assert_eq!(t.get(2), None);
    // The message-id cursor did not move: the next request gets 2.
    assert_eq!(t.insert(A, kind(Op::Read), req(A, Op::Read, 3)), Ok(2));
    assert_eq!(ids_of(&mut t, A), [0, 2]);
    assert!(t.index_matches());
}

#[test]
fn a_failed_index_insert_changes_nothing() {
    let mut t = ReqTable::<Failing, Req>::new();
    fail_insert(1);
    assert_eq!(
        t.insert(A, kind(Op::Read), req(A, Op::Read, 0)),
        Err(ENOMEM)
    );
    assert!(t.is_empty());
    assert!(t.index_matches());
    assert_eq!(ids_of(&mut t, A), Vec::<u32>::new());
    assert_eq!(t.select(|_| true), None);
    assert_eq!(t.insert(A, kind(Op::Read), req(A, Op::Read, 1)), Ok(0));
    assert!(t.index_matches());
}

#[test]
fn a_failed_object_id_insert_changes_nothing() {
    let mut t = ReqTable::<Failing, Req>::new();
    assert_eq!(t.alloc_object_id(), Ok(1));
    fail_insert(1);
    assert_eq!(t.alloc_object_id(), Err(ENOMEM));
    // Neither allocated nor skipped.
    assert!(!t.free_object_id(2));
    assert_eq!(t.alloc_object_id(), Ok(2));
}
