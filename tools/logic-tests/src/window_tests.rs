// SPDX-License-Identifier: GPL-2.0
//! Tests of `rust/logic/window.rs`: the range a wider READ asks for.

use crate::window::{ahead, widen, window_bytes, Span, MAX_WINDOW};

const PAGE: u64 = 4096;
const K: u64 = 1024;
const M: u64 = 1024 * 1024;

fn s(off: u64, len: u64) -> Span {
    Span { off, len }
}

/// A hole covering the whole of a `size`-byte object.
fn empty(size: u64) -> Span {
    s(0, size.next_multiple_of(PAGE))
}

#[test]
fn window_from_the_parameter() {
    assert_eq!(window_bytes(0, PAGE), 0);
    assert_eq!(window_bytes(3, PAGE), 0);
    assert_eq!(window_bytes(4, PAGE), 4 * K);
    assert_eq!(window_bytes(6, PAGE), 4 * K);
    assert_eq!(window_bytes(512, PAGE), 512 * K);
    assert_eq!(window_bytes(2048, PAGE), 2 * M);
    assert_eq!(window_bytes(u32::MAX, PAGE), MAX_WINDOW);
    assert_eq!(window_bytes(512, 0), 0);
    // 64 KiB pages: rounded down to whole pages.
    assert_eq!(window_bytes(100, 64 * K), 64 * K);
}

#[test]
fn off_gives_c_s_request() {
    let miss = s(8 * PAGE, PAGE);
    assert_eq!(widen(miss, empty(10 * M), 10 * M, 0, PAGE), miss);
    // A window that is not a whole number of pages is refused.
    assert_eq!(widen(miss, empty(10 * M), 10 * M, 6000, PAGE), miss);
    assert_eq!(widen(s(0, 0), empty(M), M, 512 * K, PAGE), s(0, 0));
}

#[test]
fn aligned_window_around_the_miss() {
    let w = 512 * K;
    // One page in the middle of an empty 10 MiB object: its window.
    assert_eq!(
        widen(s(600 * K, PAGE), empty(10 * M), 10 * M, w, PAGE),
        s(512 * K, 512 * K)
    );
    // A miss across a window boundary: both windows.
    assert_eq!(
        widen(s(508 * K, 8 * K), empty(10 * M), 10 * M, w, PAGE),
        s(0, M)
    );
    // A miss already wider than the window stays whole, rounded out.
    assert_eq!(
        widen(s(100 * K, 900 * K), empty(10 * M), 10 * M, w, PAGE),
        s(0, M)
    );
}

#[test]
fn clamped_to_the_object() {
    let w = 2 * M;
    // The last window of a 3 MiB + 100 bytes object ends at its last page.
    let size = 3 * M + 100;
    assert_eq!(
        widen(s(3 * M, PAGE), empty(size), size, w, PAGE),
        s(2 * M, M + PAGE)
    );
    // A small object: never past its end.
    assert_eq!(
        widen(s(0, PAGE), empty(10 * K), 10 * K, w, PAGE),
        s(0, 12 * K)
    );
}

#[test]
fn never_asks_for_data_already_there() {
    let w = 512 * K;
    // Data before 520 KiB and from 700 KiB on: the hole is [520, 700) KiB.
    let hole = s(520 * K, 180 * K);
    assert_eq!(
        widen(s(600 * K, PAGE), hole, 10 * M, w, PAGE),
        s(520 * K, 180 * K)
    );
    // A hole starting inside a page (1 KiB blocks): the first whole page.
    let hole = s(521 * K, 179 * K);
    assert_eq!(
        widen(s(600 * K, PAGE), hole, 10 * M, w, PAGE),
        s(524 * K, 176 * K)
    );
    // A miss starting in the page with data (impossible: SEEK_DATA would
    // have found the data there) is not widened.
    assert_eq!(
        widen(s(520 * K, PAGE), hole, 10 * M, w, PAGE),
        s(520 * K, PAGE)
    );
    // A miss that ends past the hole (rounded up to a block): kept whole.
    assert_eq!(
        widen(s(696 * K, 8 * K), hole, 10 * M, w, PAGE),
        s(524 * K, 180 * K)
    );
}

#[test]
fn inconsistent_inputs_give_the_miss_back() {
    let w = 512 * K;
    let miss = s(600 * K, PAGE);
    // The miss does not start in the hole.
    assert_eq!(widen(miss, s(700 * K, M), 10 * M, w, PAGE), miss);
    assert_eq!(widen(miss, s(0, 600 * K), 10 * M, w, PAGE), miss);
    // Offsets near u64::MAX: no overflow, no widening.
    let far = s(u64::MAX - PAGE, PAGE);
    assert_eq!(widen(far, s(u64::MAX - M, M), u64::MAX, w, PAGE), far);
}

#[test]
fn result_properties_over_a_grid() {
    // For many misses, holes and windows: the result contains the miss,
    // stays in [hole start rounded up to a page, ...), is page aligned at
    // its start (when the miss is), ends at most at the window's end or
    // the miss's end, and never past the object's last page.
    for &w in &[PAGE, 64 * K, 512 * K, 2 * M] {
        for &size in &[PAGE, 100 * K + 1, 3 * M + 7] {
            let size_end = size.next_multiple_of(PAGE);
            for hole_lo in (0..size_end).step_by(48 * 1024) {
                for hole_len in [PAGE, 200 * K, size_end] {
                    let hole = s(hole_lo, hole_len);
                    for miss_off in (hole_lo..(hole_lo + hole_len).min(size_end)).step_by(20 * 1024)
                    {
                        let miss_off = miss_off - miss_off % PAGE;
                        if miss_off < hole_lo {
                            continue;
                        }
                        let miss = s(miss_off, PAGE);
                        let r = widen(miss, hole, size, w, PAGE);
                        assert!(r.off <= miss.off && r.off + r.len >= miss.off + miss.len);
                        assert_eq!(r.off % PAGE, 0, "{miss:?} {hole:?} -> {r:?}");
                        assert!(r.off >= hole_lo.next_multiple_of(PAGE).min(miss.off));
                        let win_end = (miss.off + miss.len).next_multiple_of(w);
                        let end = r.off + r.len;
                        assert!(end <= win_end.max(miss.off + miss.len));
                        assert!(end <= (hole.off + hole.len).max(miss.off + miss.len));
                        assert!(end <= size_end.max(miss.off + miss.len));
                        assert!(r.off >= miss.off - miss.off % w);
                    }
                }
            }
        }
    }
}

#[test]
fn read_ahead_to_the_end_of_the_window() {
    let w = 512 * K;
    // A hole at a window's start: the whole window.
    assert_eq!(ahead(w, 4 * M, 4 * M, w, PAGE), Some(s(w, w)));
    // In the middle of a window: the rest of it.
    assert_eq!(
        ahead(w + 8 * K, 4 * M, 4 * M, w, PAGE),
        Some(s(w + 8 * K, w - 8 * K))
    );
    // Clamped to the hole (data follows it) and to the object.
    assert_eq!(ahead(w, w + 64 * K, 4 * M, w, PAGE), Some(s(w, 64 * K)));
    assert_eq!(ahead(w, 4 * M, w + 5000, w, PAGE), Some(s(w, 8 * K)));
    // A hole starting inside a page (1 KiB blocks): from the next page.
    assert_eq!(
        ahead(w + K, 4 * M, 4 * M, w, PAGE),
        Some(s(w + PAGE, w - PAGE))
    );
}

#[test]
fn read_ahead_of_nothing() {
    let w = 512 * K;
    assert_eq!(ahead(0, 4 * M, 4 * M, 0, PAGE), None);
    assert_eq!(ahead(0, 4 * M, 4 * M, w + 1, PAGE), None);
    assert_eq!(ahead(0, 4 * M, 4 * M, w, 0), None);
    // At or past the object's end.
    assert_eq!(ahead(4 * M, 8 * M, 4 * M, w, PAGE), None);
    assert_eq!(ahead(5 * M, 8 * M, 4 * M, w, PAGE), None);
    // An empty hole, or one ending inside the first page.
    assert_eq!(ahead(w, w, 4 * M, w, PAGE), None);
    assert_eq!(ahead(w + K, w + 2 * K, 4 * M, w, PAGE), None);
    // The last page of a window, and overflow.
    assert_eq!(ahead(2 * w - 100, 4 * M, 4 * M, w, PAGE), None);
    assert_eq!(ahead(u64::MAX - 10, u64::MAX, u64::MAX, w, PAGE), None);
}
