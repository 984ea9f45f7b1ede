// SPDX-License-Identifier: GPL-2.0
//! Tests of the request table's queue of new requests (`rust/logic/
//! reqtable.rs`): the daemon's `read()` and `poll()` look at new requests
//! only, in C 6.12's order (`cachefiles_ondemand_select_req`: marked
//! entries from `req_id_next` on, then from 0; `cachefiles_ondemand_daemon_poll`:
//! any marked entry that is not a READ of a re-opening object), and a
//! comparison with the former linear search over every pending request on
//! random operation sequences.

use crate::cmd::errno::{EBUSY, ENOMEM};
use crate::reqtable::{ReqTable, OBJECT_ID_MAX};
use crate::reqtable_tests::{
    add, add_op, asked_when_refused, fail_insert, ids_of, kind, read_one, req, Failing, Op, Req,
    Table, A, B, C, VISITED,
};
use std::collections::BTreeMap;

/// The entries `scan_from` went through while `f` ran.
fn visits<R>(f: impl FnOnce() -> R) -> (R, usize) {
    VISITED.with(|n| n.set(0));
    let r = f();
    (r, VISITED.with(|n| n.get()))
}

// ---- The queue of new requests.

#[test]
fn read_and_poll_do_not_look_at_requests_already_read() {
    let mut t = Table::new();
    for tag in 0..10_000 {
        let obj = [A, B][tag as usize % 2];
        assert_eq!(
            t.insert(obj, kind(Op::Read), req(obj, Op::Read, tag)),
            Ok(tag)
        );
    }
    for want in 0..10_000 {
        assert_eq!(read_one(&mut t), Some(want));
    }
    // 10000 requests await their answer; none is new.
    let (got, n) = visits(|| t.select(|_| true));
    assert_eq!((got, n), (None, 0));
    let (got, n) = visits(|| t.readable(|_| true));
    assert_eq!((got, n), (false, 0));
    // One new READ, below the cursor: found by the wrap, one entry seen
    // (the scan from the cursor finds nothing to look at).
    t.remove(5);
    assert_eq!(add(&mut t, C, 10_000), 10_000);
    let (got, n) = visits(|| t.select(|_| true));
    assert_eq!((got, n), (Some(10_000), 1));
    let (got, n) = visits(|| t.readable(|r| r.obj == C));
    assert_eq!((got, n), (true, 1));
    // A new OPEN: poll answers from the counters alone.
    add_op(&mut t, A, Op::Open, 10_001);
    let (got, n) = visits(|| t.readable(|_| panic!("asked")));
    assert_eq!((got, n), (true, 0));
    assert!(t.index_matches());
}

#[test]
fn round_robin_skips_read_requests_and_wraps() {
    // Ids 0..=9; 2, 3, 6 and 9 read (9 last: the cursor is at 10).
    let mut t = Table::new();
    for tag in 0..10 {
        add(&mut t, A, tag);
    }
    for id in [2, 6, 3, 9] {
        assert!(t.mark_read(id).is_some());
    }
    let asked = asked_when_refused(&mut t);
    // Nothing from 10 on; from 0: the new ones.
    assert_eq!(asked, [0, 1, 4, 5, 7, 8]);
    // Read 4: the cursor is at 5, the order 5, 7, 8, then 0, 1.
    t.mark_read(4);
    let mut order = Vec::new();
    while let Some(id) = read_one(&mut t) {
        order.push(id);
    }
    assert_eq!(order, [5, 7, 8, 0, 1]);
    assert!(t.index_matches());
}

#[test]
fn plain_requests_are_handed_out_without_asking() {
    let mut t = Table::new();
    add(&mut t, A, 0);
    add_op(&mut t, B, Op::Open, 1);
    add(&mut t, A, 2);
    add_op(&mut t, C, Op::Close, 3);
    let mut asked = Vec::new();
    let mut ask = |r: &Req| {
        asked.push(r.tag);
        false
    };
    assert_eq!(t.select(&mut ask), Some(1));
    t.mark_read(1);
    assert_eq!(t.select(&mut ask), Some(3));
    t.mark_read(3);
    assert_eq!(t.select(&mut ask), None);
    // READ 0 refused, OPEN 1 taken without a question; READ 2 refused,
    // CLOSE 3; then, from the cursor (4) round to 0, both READs refused
    // once more.
    assert_eq!(asked, [0, 2, 0, 2]);
}

#[test]
fn taken_and_finished_requests_leave_the_queue() {
    let mut t = Table::new();
    for tag in 0..6 {
        add_op(
            &mut t,
            [A, B][tag as usize % 2],
            [Op::Read, Op::Open][tag as usize % 2],
            tag,
        );
    }
    // copen of a new OPEN (a misbehaving daemon), READ_COMPLETE of a new
    // READ, the waiter killed: each leaves the queue and its count.
    assert_eq!(
        t.take_matching(1, |r| r.op == Op::Open).map(|r| r.tag),
        Some(1)
    );
    assert_eq!(
        t.take_matching(0, |r| r.op == Op::Read).map(|r| r.tag),
        Some(0)
    );
    assert_eq!(t.remove(3).map(|r| r.tag), Some(3));
    assert!(t.index_matches());
    assert_eq!(t.is_new(3), None);
    assert_eq!(read_one(&mut t), Some(2));
    // B's requests finished by its withdrawal: its new OPEN 5 goes.
    let mut done = Vec::new();
    t.drain_object(B, |_, _| true, |r| done.push(r.tag));
    assert_eq!(done, [5]);
    assert!(t.index_matches());
    assert!(t.readable(|_| true));
    assert_eq!(read_one(&mut t), Some(4));
    assert!(!t.readable(|_| true));
    assert_eq!(read_one(&mut t), None);
    // A flush empties both maps and the counts.
    add_op(&mut t, C, Op::Close, 6);
    done.clear();
    t.drain_all(|r| done.push(r.tag));
    assert_eq!(done, [2, 4, 6]);
    assert!(t.is_empty());
    assert!(t.index_matches());
    assert!(!t.readable(|_| panic!("asked")));
}

#[test]
fn drain_all_goes_in_id_order_across_new_and_read() {
    let mut t = Table::new().with_next_ids(u32::MAX - 2, 1);
    for tag in 0..6 {
        add(&mut t, A, tag);
    }
    // Ids MAX-2, MAX-1, MAX, 0, 1, 2; MAX-1 and 1 read.
    t.mark_read(u32::MAX - 1);
    t.mark_read(1);
    let mut done = Vec::new();
    t.drain_all(|r| done.push(r.tag));
    assert_eq!(done, [3, 4, 5, 0, 1, 2]);
}

#[test]
fn restore_puts_read_requests_back_with_their_kind() {
    let mut t = Table::new();
    add_op(&mut t, A, Op::Open, 0);
    add(&mut t, A, 1);
    add(&mut t, B, 2);
    assert_eq!(read_one(&mut t), Some(0));
    assert_eq!(read_one(&mut t), Some(1));
    // Only READ 2 is new: poll asks about it.
    assert!(!t.readable(|r| r.tag != 2));
    t.mark_all_new();
    assert!(t.index_matches());
    // The OPEN is new again: poll answers from the counters.
    assert!(t.readable(|_| panic!("asked")));
    // The cursor stayed at 2.
    let mut order = Vec::new();
    while let Some(id) = read_one(&mut t) {
        order.push(id);
    }
    assert_eq!(order, [2, 0, 1]);
}

#[test]
fn mark_read_of_a_read_request_moves_the_cursor_only() {
    let mut t = Table::new();
    for tag in 0..4 {
        add(&mut t, A, tag);
    }
    assert_eq!(read_one(&mut t), Some(0));
    assert_eq!(read_one(&mut t), Some(1));
    assert_eq!(t.mark_read(0).map(|r| r.tag), Some(0));
    assert_eq!(t.is_new(0), Some(false));
    assert!(t.index_matches());
    // The cursor is at 1: 2 next.
    assert_eq!(read_one(&mut t), Some(2));
}

#[test]
fn insert_failures_leave_the_queue_alone() {
    let mut t = ReqTable::<Failing, Req>::new();
    assert_eq!(t.insert(A, kind(Op::Open), req(A, Op::Open, 0)), Ok(0));
    fail_insert(2);
    assert_eq!(
        t.insert(B, kind(Op::Close), req(B, Op::Close, 1)),
        Err(ENOMEM)
    );
    assert!(t.index_matches());
    assert_eq!(t.select(|_| true), Some(0));
    t.mark_read(0);
    assert!(!t.readable(|_| true));
}

// ---- The reference: the former linear search over every request.

/// The table as it was: one map of every pending request with its "new"
/// mark, searched from the start on every `read()` and `poll()`.
struct Model {
    reqs: BTreeMap<u32, (Req, bool)>,
    msg_id_next: u32,
    msg_id_max: u32,
    req_id_next: u64,
}

impl Model {
    fn insert(&mut self, r: Req) -> Result<u32, ()> {
        let free = |from: u32, to: u32| (from..=to).find(|id| !self.reqs.contains_key(id));
        let id = free(self.msg_id_next, self.msg_id_max)
            .or_else(|| free(0, self.msg_id_next.checked_sub(1)?))
            .ok_or(())?;
        self.reqs.insert(id, (r, true));
        self.msg_id_next = if id >= self.msg_id_max { 0 } else { id + 1 };
        Ok(id)
    }

    /// The former `select`, with the kernel's former closure (every new
    /// request asked about; non-READs accepted at once).
    fn select(&self, mut deliverable: impl FnMut(&Req) -> bool) -> Option<u32> {
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
            .find(|(_, (r, new))| *new && (r.op != Op::Read || deliverable(r)))
            .map(|(&id, _)| id)
    }

    fn mark_read(&mut self, id: u32) -> Option<Req> {
        let e = self.reqs.get_mut(&id)?;
        e.1 = false;
        self.req_id_next = u64::from(id) + 1;
        Some(e.0)
    }

    /// The former `any_new` with the kernel's former predicate.
    fn readable(&self, reopening: impl Fn(usize) -> bool) -> bool {
        self.reqs
            .values()
            .any(|(r, new)| *new && !(r.op == Op::Read && reopening(r.obj)))
    }

    fn new_count(&self) -> usize {
        self.reqs.values().filter(|(_, new)| *new).count()
    }
}

/// A small deterministic PRNG (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// An object's state as `select` sees it (C: OPEN, CLOSE, REOPENING).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    Open,
    Close,
    Reopening,
}

const OBJECTS: [usize; 4] = [A, B, C, 0x1018];

/// What the kernel's `select` closure does with a READ: deliver it if its
/// object is open, else pass it over, a closed object becoming
/// re-opening.  Records the tags asked about.
fn meet(states: &mut BTreeMap<usize, St>, asked: &mut Vec<u32>, r: &Req) -> bool {
    asked.push(r.tag);
    let st = states.entry(r.obj).or_insert(St::Open);
    match *st {
        St::Open => true,
        St::Close => {
            *st = St::Reopening;
            false
        }
        St::Reopening => false,
    }
}

/// What a run went through.
#[derive(Debug, Default)]
struct Stats {
    delivered: u32,
    busy: u32,
    nomem: u32,
    skipped: usize,
    most_pending: usize,
}

/// Runs `ops` random operations on `t` and on the model, comparing every
/// answer, the READs asked about, and the whole table every 64 steps.
/// Without `drains`, objects are never withdrawn nor the cache flushed,
/// so requests pile up.
fn compare(
    seed: u64,
    mut t: ReqTable<Failing, Req>,
    mut m: Model,
    ops: u32,
    drains: bool,
) -> Stats {
    let mut rng = Rng(seed);
    let mut states: BTreeMap<usize, St> = OBJECTS.iter().map(|&o| (o, St::Open)).collect();
    let mut tag = 0;
    let mut stats = Stats::default();
    for step in 0..ops {
        let obj = OBJECTS[rng.below(4) as usize];
        let some_id = |rng: &mut Rng, m: &Model| match m.reqs.len() {
            0 => rng.next() as u32,
            n => *m.reqs.keys().nth(rng.below(n as u64) as usize).unwrap(),
        };
        let mut what = rng.below(100);
        if !drains && (71..=80).contains(&what) {
            what = 90;
        }
        match what {
            // A request is queued; sometimes a node allocation fails.
            0..=29 => {
                let op = [Op::Read, Op::Read, Op::Read, Op::Open, Op::Close][rng.below(5) as usize];
                let r = req(obj, op, tag);
                tag += 1;
                if rng.below(20) == 0 {
                    fail_insert(1 + rng.below(2) as u32);
                }
                let got = t.insert(obj, kind(op), r);
                fail_insert(0);
                match got {
                    Err(e) if e == ENOMEM => stats.nomem += 1,
                    Err(e) => {
                        assert_eq!(e, EBUSY);
                        assert_eq!(m.insert(r), Err(()), "step {step}");
                        stats.busy += 1;
                    }
                    Ok(id) => assert_eq!(m.insert(r), Ok(id), "step {step}"),
                }
            }
            // The daemon's read(): sometimes EMSGSIZE, a CLOSE is done.
            30..=54 => {
                let (mut st_t, mut st_m) = (states.clone(), states.clone());
                let (mut asked_t, mut asked_m) = (Vec::new(), Vec::new());
                let new = m.new_count();
                let (got, n) = visits(|| t.select(|r| meet(&mut st_t, &mut asked_t, r)));
                let want = m.select(|r| meet(&mut st_m, &mut asked_m, r));
                assert_eq!(got, want, "step {step}");
                assert_eq!(asked_t, asked_m, "step {step}");
                assert_eq!(st_t, st_m, "step {step}");
                assert!(n <= new + 1, "step {step}: {n} visited, {new} new");
                let read = got.is_some_and(|id| m.reqs[&id].0.op == Op::Read);
                stats.skipped += asked_t.len() - usize::from(read);
                states = st_t;
                if let Some(id) = got.filter(|_| rng.below(8) != 0) {
                    let r = t.mark_read(id).copied();
                    assert_eq!(r, m.mark_read(id), "step {step}");
                    stats.delivered += 1;
                    if r.is_some_and(|r| r.op == Op::Close) {
                        assert_eq!(t.remove(id), m.reqs.remove(&id).map(|e| e.0));
                    }
                }
            }
            // An answer (copen, READ_COMPLETE) or a killed waiter.
            55..=66 => {
                let id = some_id(&mut rng, &m);
                assert_eq!(t.remove(id), m.reqs.remove(&id).map(|e| e.0), "step {step}");
            }
            67..=70 => {
                let id = some_id(&mut rng, &m);
                let want = m
                    .reqs
                    .get(&id)
                    .filter(|e| e.0.op == Op::Read && e.0.obj == obj);
                let want = want.map(|e| e.0);
                if want.is_some() {
                    m.reqs.remove(&id);
                }
                let got = t.take_matching(id, |r| r.op == Op::Read && r.obj == obj);
                assert_eq!(got, want, "step {step}");
            }
            // The fd released (new CLOSEs finished) or the object withdrawn.
            71..=75 => {
                let closes = rng.below(2) == 0;
                let pick = |r: &Req, new: bool| !closes || (new && r.op == Op::Close);
                let mut got = Vec::new();
                t.drain_object(obj, pick, |r| got.push(r));
                let ids: Vec<u32> = m
                    .reqs
                    .iter()
                    .filter(|(_, (r, new))| r.obj == obj && pick(r, *new))
                    .map(|(&id, _)| id)
                    .collect();
                let want: Vec<Req> = ids
                    .iter()
                    .filter_map(|id| m.reqs.remove(id))
                    .map(|e| e.0)
                    .collect();
                assert_eq!(got, want, "step {step}");
            }
            // restore.
            76..=79 => {
                t.mark_all_new();
                m.reqs.values_mut().for_each(|e| e.1 = true);
            }
            // The cache dies (rarely).
            80 => {
                let mut got = Vec::new();
                t.drain_all(|r| got.push(r));
                let want: Vec<Req> = std::mem::take(&mut m.reqs)
                    .into_values()
                    .map(|e| e.0)
                    .collect();
                assert_eq!(got, want, "step {step}");
            }
            // poll().
            81..=90 => {
                let reopening = |o: usize| states.get(&o) == Some(&St::Reopening);
                let new = m.new_count();
                let (got, n) = visits(|| t.readable(|r| !reopening(r.obj)));
                assert_eq!(got, m.readable(reopening), "step {step}");
                assert!(n <= new, "step {step}: {n} visited, {new} new");
            }
            // An object changes state (copen, fd release, withdrawal).
            _ => {
                states.insert(
                    obj,
                    [St::Open, St::Close, St::Reopening][rng.below(3) as usize],
                );
            }
        }
        stats.most_pending = stats.most_pending.max(m.reqs.len());
        // The whole table: at every step while it is small.
        if m.reqs.len() < 100 || step % 64 == 0 {
            assert!(t.index_matches(), "step {step}");
            assert_eq!(t.len(), m.reqs.len(), "step {step}");
            for (&id, &(r, new)) in &m.reqs {
                assert_eq!(t.get(id), Some(&r), "step {step}");
                assert_eq!(t.is_new(id), Some(new), "step {step}");
            }
            for o in OBJECTS {
                let want: Vec<u32> = m
                    .reqs
                    .iter()
                    .filter(|(_, e)| e.0.obj == o)
                    .map(|(&id, _)| id)
                    .collect();
                assert_eq!(ids_of(&mut t, o), want, "step {step}");
            }
        }
    }
    // The run went through the main cases.
    assert!(stats.delivered > ops / 20, "{stats:?}");
    assert!(stats.skipped > 0 && stats.nomem > 0, "{stats:?}");
    stats
}

fn model(msg_id_max: u32, msg_id_next: u32) -> Model {
    Model {
        reqs: BTreeMap::new(),
        msg_id_next,
        msg_id_max,
        req_id_next: 0,
    }
}

#[test]
fn same_choices_as_the_linear_search_over_few_ids() {
    // 16 message ids: the table fills up (EBUSY), ids wrap, the cursor
    // goes round many times.
    for seed in 1..=8 {
        let t = ReqTable::<Failing, Req>::with_limits(15, OBJECT_ID_MAX);
        let stats = compare(seed, t, model(15, 0), 5000, true);
        assert!(stats.busy > 0, "{stats:?}");
    }
}

#[test]
fn same_choices_as_the_linear_search_past_u32_max() {
    // Ids from u32::MAX - 40 on: the ids and the read cursor (up to 2^32)
    // wrap.
    for seed in 100..=103 {
        let t = ReqTable::<Failing, Req>::new().with_next_ids(u32::MAX - 40, 1);
        compare(seed, t, model(u32::MAX, u32::MAX - 40), 5000, true);
    }
}

#[test]
fn same_choices_as_the_linear_search_with_many_pending() {
    // No withdrawal, no flush: more queued than answered, thousands
    // pending, most of them read.
    let t = ReqTable::<Failing, Req>::new();
    let stats = compare(7, t, model(u32::MAX, 0), 20_000, false);
    assert!(stats.most_pending > 1000, "{stats:?}");
}
