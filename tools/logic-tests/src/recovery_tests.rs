// SPDX-License-Identifier: GPL-2.0
//! Unit tests of `rust/logic/recovery.rs`: the `recovery` argument, the
//! registry of recoverable caches (tags, orphaning, attach, expiry) and the
//! release and attach decisions.

use crate::cmd::errno::{EBUSY, EINVAL, ENOENT, ENOMEM, EOPNOTSUPP};
use crate::cmd::{parse_request, Command};
use crate::recovery::*;

type E = Entry<Vec<u8>, u32>;

/// A list with a capacity, to test allocation failures.
struct List {
    v: Vec<Option<E>>,
    cap: usize,
}

impl SlotList<E> for List {
    fn slots(&self) -> &[Option<E>] {
        &self.v
    }
    fn slots_mut(&mut self) -> &mut [Option<E>] {
        &mut self.v
    }
    fn try_push(&mut self, e: E) -> Result<(), E> {
        if self.v.len() >= self.cap {
            return Err(e);
        }
        self.v.push(Some(e));
        Ok(())
    }
}

fn registry(cap: usize) -> Registry<Vec<u8>, u32, List> {
    Registry::new(List { v: Vec::new(), cap })
}

/// What the expiry work does: one expired orphan becomes ending, is ended
/// (nothing to do here) and taken out.  Its item.
fn expire(r: &mut Registry<Vec<u8>, u32, List>, now: i64) -> Option<u32> {
    let item = r.begin_expiry(now).map(|e| {
        assert_eq!(e.phase, Phase::Ending);
        e.item
    })?;
    r.remove(|&i| i == item).map(|e| e.item)
}

#[test]
fn the_commands_are_parsed() {
    assert_eq!(
        parse_request(b"recovery 60", 4096),
        Ok((Command::Recovery, &b"60"[..]))
    );
    assert_eq!(
        parse_request(b"attach", 4096),
        Ok((Command::Attach, &b""[..]))
    );
    assert_eq!(
        parse_request(b"attach\n", 4096),
        Ok((Command::Attach, &b""[..]))
    );
    assert_eq!(parse_request(b"attachx", 4096), Err(EOPNOTSUPP));
    assert_eq!(parse_request(b"recover 1", 4096), Err(EOPNOTSUPP));
}

#[test]
fn grace_is_decimal_seconds_1_to_3600() {
    assert_eq!(parse_grace(b"1"), Ok(1));
    assert_eq!(parse_grace(b"60"), Ok(60));
    assert_eq!(parse_grace(b"3600"), Ok(3600));
    assert_eq!(parse_grace(b"0060"), Ok(60));
    for bad in [
        &b""[..],
        b"0",
        b"3601",
        b"-1",
        b"+5",
        b"0x10",
        b"5 ",
        b" 5",
        b"5s",
        b"99999999999999999999999",
        b"4294967297",
        b"1.5",
    ] {
        assert_eq!(parse_grace(bad), Err(EINVAL), "{:?}", bad);
    }
}

#[test]
fn deadlines_compare_across_a_wrap() {
    assert!(reached(10, 10));
    assert!(reached(11, 10));
    assert!(!reached(9, 10));
    assert!(reached(i64::MIN + 5, i64::MAX - 5));
    assert!(!reached(i64::MAX - 5, i64::MIN + 5));
}

#[test]
fn tags_are_unique() {
    let mut r = registry(8);
    assert_eq!(r.register(b"a".to_vec(), 5, 1), Ok(()));
    assert_eq!(r.register(b"a".to_vec(), 9, 2), Err(EBUSY));
    assert_eq!(r.register(b"b".to_vec(), 5, 2), Ok(()));
    assert_eq!(r.len(), 2);
    // Orphaned or attached, a listed tag stays taken.
    assert!(r.orphan(|&i| i == 1, 0).is_some());
    assert_eq!(r.register(b"a".to_vec(), 5, 3), Err(EBUSY));
    // Gone, it is free again.
    assert_eq!(r.remove(|&i| i == 1).map(|e| e.item), Some(1));
    assert_eq!(r.register(b"a".to_vec(), 5, 3), Ok(()));
}

#[test]
fn register_without_memory_lists_nothing_and_slots_are_reused() {
    let mut r = registry(1);
    assert_eq!(r.register(b"a".to_vec(), 5, 1), Ok(()));
    assert_eq!(r.register(b"b".to_vec(), 5, 2), Err(ENOMEM));
    assert_eq!(r.len(), 1);
    // A freed slot takes the next cache without allocating.
    assert_eq!(r.remove(|&i| i == 1).map(|e| e.item), Some(1));
    assert_eq!(r.len(), 0);
    assert_eq!(r.register(b"b".to_vec(), 5, 2), Ok(()));
    assert_eq!(r.register(b"c".to_vec(), 5, 3), Err(ENOMEM));
    assert_eq!(r.remove(|&i| i == 9).map(|e| e.item), None);
}

#[test]
fn orphan_attach_orphan_expire() {
    let mut r = registry(8);
    r.register(b"t".to_vec(), 10, 7).unwrap();
    // Nothing to attach while it is attached; unknown tags are ENOENT.
    assert!(matches!(r.adopt(b"t", |_| true), Err(EBUSY)));
    assert!(matches!(r.adopt(b"x", |_| true), Err(ENOENT)));
    assert_eq!(r.next_expiry(0), None);
    // Orphaned at t=1000 ms for 10 s.
    let e = r.orphan(|&i| i == 7, 1000).unwrap();
    assert_eq!(e.phase, Phase::Orphaned { deadline: 11_000 });
    // Orphaning twice finds no attached entry.
    assert!(r.orphan(|&i| i == 7, 2000).is_none());
    assert_eq!(r.next_expiry(1000), Some(10_000));
    assert!(expire(&mut r, 10_999).is_none());
    // Attached again before the deadline.
    match r.adopt(b"t", |_| true) {
        Ok(Adopt::Adopted(e)) => assert_eq!((e.item, e.phase), (7, Phase::Attached)),
        other => panic!("{other:?}"),
    }
    assert_eq!(r.next_expiry(2000), None);
    assert!(expire(&mut r, 20_000).is_none());
    // A second attach loses: the first one has it.
    assert!(matches!(r.adopt(b"t", |_| true), Err(EBUSY)));
    // Orphaned again, with a fresh deadline; expires exactly then.
    r.orphan(|&i| i == 7, 30_000).unwrap();
    assert!(expire(&mut r, 39_999).is_none());
    assert_eq!(r.next_expiry(39_999), Some(1));
    assert_eq!(expire(&mut r, 40_000), Some(7));
    assert_eq!(r.len(), 0);
    // Expired means gone: attach finds nothing.
    assert!(matches!(r.adopt(b"t", |_| true), Err(ENOENT)));
}

#[test]
fn a_dead_orphan_is_taken_out_by_attach() {
    let mut r = registry(8);
    r.register(b"t".to_vec(), 10, 7).unwrap();
    r.orphan(|&i| i == 7, 0).unwrap();
    match r.adopt(b"t", |_| false) {
        Ok(Adopt::Dead(e)) => assert_eq!((e.item, e.phase), (7, Phase::Ending)),
        other => panic!("{other:?}"),
    }
    // Ending: attach finds nothing, the tag waits; out once ended.
    assert!(matches!(r.adopt(b"t", |_| true), Err(ENOENT)));
    assert!(r.ending());
    assert_eq!(r.remove(|&i| i == 7).map(|e| e.item), Some(7));
    assert!(!r.ending());
    assert_eq!(r.len(), 0);
}

#[test]
fn an_expiring_orphan_holds_its_tag_until_taken_out() {
    let mut r = registry(8);
    r.register(b"t".to_vec(), 1, 7).unwrap();
    r.register(b"u".to_vec(), 1, 8).unwrap();
    r.orphan(|&i| i == 7, 0).unwrap();
    assert!(!r.ending());
    assert_eq!(r.begin_expiry(1000).map(|e| e.item), Some(7));
    // Ending: listed, not attachable, no deadline, not orphaned again,
    // and its tag is still taken (a bind waits, see `ending`).
    assert!(r.ending());
    assert_eq!(r.len(), 2);
    assert!(matches!(r.adopt(b"t", |_| true), Err(ENOENT)));
    assert_eq!(r.next_expiry(5000), None);
    assert!(r.begin_expiry(5000).is_none());
    assert!(r.orphan(|&i| i == 7, 5000).is_none());
    assert_eq!(r.register(b"t".to_vec(), 1, 9), Err(EBUSY));
    // Taken out: the tag is free for a new cache.
    assert_eq!(r.remove(|&i| i == 7).map(|e| e.item), Some(7));
    assert!(!r.ending());
    assert_eq!(r.register(b"t".to_vec(), 1, 9), Ok(()));
}

#[test]
fn two_orphans_expire_in_deadline_order() {
    let mut r = registry(8);
    r.register(b"a".to_vec(), 30, 1).unwrap();
    r.register(b"b".to_vec(), 5, 2).unwrap();
    r.register(b"c".to_vec(), 5, 3).unwrap();
    r.orphan(|&i| i == 1, 0).unwrap();
    r.orphan(|&i| i == 2, 0).unwrap();
    // c stays attached: never expires.
    assert_eq!(r.next_expiry(0), Some(5000));
    assert_eq!(expire(&mut r, 5000), Some(2));
    assert!(expire(&mut r, 5000).is_none());
    assert_eq!(r.next_expiry(5000), Some(25_000));
    // Late work: a deadline already passed is due now.
    assert_eq!(r.next_expiry(31_000), Some(0));
    assert_eq!(expire(&mut r, 31_000), Some(1));
    assert_eq!(r.next_expiry(31_000), None);
    assert_eq!(r.len(), 1);
    // Each tag attaches to its own cache.
    r.register(b"d".to_vec(), 5, 4).unwrap();
    r.orphan(|&i| i == 3, 0).unwrap();
    r.orphan(|&i| i == 4, 0).unwrap();
    match r.adopt(b"d", |_| true) {
        Ok(Adopt::Adopted(e)) => assert_eq!(e.item, 4),
        other => panic!("{other:?}"),
    }
    match r.adopt(b"c", |_| true) {
        Ok(Adopt::Adopted(e)) => assert_eq!(e.item, 3),
        other => panic!("{other:?}"),
    }
}

#[test]
fn release_orphans_only_live_bound_recoverable_ondemand_caches() {
    assert_eq!(on_release(true, true, true, false), OnRelease::Orphan);
    assert_eq!(
        on_release(true, true, true, true),
        OnRelease::Kill { unlist: true }
    );
    assert_eq!(
        on_release(true, false, true, false),
        OnRelease::Kill { unlist: true }
    );
    assert_eq!(
        on_release(true, true, false, false),
        OnRelease::Kill { unlist: true }
    );
    assert_eq!(
        on_release(false, true, true, false),
        OnRelease::Kill { unlist: false }
    );
}

#[test]
fn attach_needs_an_unbound_file() {
    // Not bound yet (whatever mode a failed bind left): ask the registry.
    assert_eq!(check_attach(false, false, false, false), Ok(()));
    assert_eq!(check_attach(false, false, true, false), Ok(()));
    // A recoverable cache bound or adopted already: EBUSY.
    assert_eq!(check_attach(false, true, true, true), Err(EBUSY));
    assert_eq!(check_attach(true, true, true, true), Err(EBUSY));
    // Bound without recovery, or in normal mode: EOPNOTSUPP.
    assert_eq!(check_attach(false, true, true, false), Err(EOPNOTSUPP));
    assert_eq!(check_attach(false, true, false, false), Err(EOPNOTSUPP));
}

#[test]
fn recovery_before_bind_only() {
    assert_eq!(check_recovery(false, false), Ok(()));
    assert_eq!(check_recovery(false, true), Ok(()));
    assert_eq!(check_recovery(true, true), Err(EBUSY));
    assert_eq!(check_recovery(true, false), Err(EOPNOTSUPP));
}
