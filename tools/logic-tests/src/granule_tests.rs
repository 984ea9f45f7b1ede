// SPDX-License-Identifier: GPL-2.0
//! Unit tests of `rust/logic/granule.rs`; expected values worked out by
//! hand from C 6.12's `cachefiles_do_prepare_read`,
//! `__cachefiles_prepare_write`, `cachefiles_issue_write` and
//! `cachefiles_shorten_object`.

use crate::granule::*;

#[test]
fn rounding() {
    assert_eq!(round_up(0, 4096), 0);
    assert_eq!(round_up(1, 4096), 4096);
    assert_eq!(round_up(4096, 4096), 4096);
    assert_eq!(round_up(i64::MAX - 1, 4096), i64::MAX);
    assert_eq!(round_down(4097, 4096), 4096);
    assert_eq!(round_down(4095, 4096), 0);
}

#[test]
fn seek_data_classifies_holes_and_partial_data() {
    // ENXIO: nothing after start.
    assert_eq!(after_seek_data(0, 65536, None, 4096), AfterData::Hole);
    // Data only after the range.
    assert_eq!(
        after_seek_data(0, 65536, Some(65536), 4096),
        AfterData::Hole
    );
    // Data inside the range, not at start: download up to its block.
    assert_eq!(
        after_seek_data(4096, 65536, Some(10000), 4096),
        AfterData::HoleThen { len: 12288 - 4096 }
    );
    // Data at start.
    assert_eq!(
        after_seek_data(8192, 4096, Some(8192), 4096),
        AfterData::Data
    );
}

#[test]
fn cached_len_rounds_down_inside_and_up_at_eof() {
    // Data covers the range.
    assert_eq!(cached_len(0, 65536, 65536, 1 << 20, 4096), 65536);
    // Data ends inside, not at EOF: round down to a block.
    assert_eq!(cached_len(0, 65536, 10000, 1 << 20, 4096), 8192);
    // Data ends inside, the range reaches EOF: round up (the block at
    // EOF is partial in the file but whole in the cache file).
    assert_eq!(cached_len(0, 65536, 10000, 60000, 4096), 12288);
}

#[test]
fn prepare_write_needs_page_alignment() {
    assert_eq!(prepare_write_len(0, 100, 4096, 4096), Some(4096));
    assert_eq!(prepare_write_len(8192, 8192, 8192, 4096), Some(8192));
    assert_eq!(prepare_write_len(100, 100, 4096, 4096), None);
    assert_eq!(prepare_write_len(0, 8192, 4096, 4096), None);
}

#[test]
fn issue_write_trims_to_blocks() {
    // Aligned and whole.
    assert_eq!(
        issue_trim(0, 1 << 20, 8 << 20, 0, 4096),
        IssueTrim::Write {
            pre: 0,
            extend: 0,
            start: 0,
            len: 1 << 20
        }
    );
    // Unaligned start: skip to the next block.
    assert_eq!(
        issue_trim(100, 8192, 1 << 20, 0, 4096),
        IssueTrim::Write {
            pre: 3996,
            extend: 0,
            start: 4096,
            len: 4096
        }
    );
    // Unaligned start, nothing left.
    assert_eq!(
        issue_trim(100, 3000, 1 << 20, 0, 4096),
        IssueTrim::Skip { done: 3000 }
    );
    // Partial last block at EOF, extendable: round up.
    assert_eq!(
        issue_trim(0, 5000, 5000, 4096, 4096),
        IssueTrim::Write {
            pre: 0,
            extend: 3192,
            start: 0,
            len: 8192
        }
    );
    // Partial last block at EOF, not extendable: drop it.
    assert_eq!(
        issue_trim(0, 5000, 5000, 0, 4096),
        IssueTrim::Write {
            pre: 0,
            extend: 0,
            start: 0,
            len: 4096
        }
    );
    // Less than a block, not at EOF.
    assert_eq!(
        issue_trim(0, 1000, 1 << 20, 4096, 4096),
        IssueTrim::Skip { done: 1000 }
    );
}

#[test]
fn shorten_zeroes_the_tail_of_the_last_block() {
    assert_eq!(shorten(8192, 4096), (8192, None));
    assert_eq!(
        shorten((5 << 20) + 1000, 4096),
        ((5 << 20) + 4096, Some(((5 << 20) + 1000, 3096)))
    );
    assert_eq!(shorten(0, 4096), (0, None));
}
