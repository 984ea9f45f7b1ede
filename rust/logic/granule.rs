// SPDX-License-Identifier: GPL-2.0

//! The arithmetic of normal-mode (non-on-demand) cache I/O, C 6.12's rules
//! (`fs/cachefiles/io.c`): where a netfs read comes from, given what
//! `SEEK_DATA`/`SEEK_HOLE` found in the backing file; how a write is
//! rounded to pages (`prepare_write`); how a write subrequest is trimmed to
//! direct-I/O blocks (`issue_write`).  Offsets are non-negative `i64`s
//! (`loff_t`), sizes `u64`/`usize` as in C; nothing here overflows on
//! values the VFS can produce, and hostile values saturate.

/// Rounds `v` up to a multiple of `to` (> 0), saturating.
pub(crate) fn round_up(v: i64, to: i64) -> i64 {
    if to <= 0 {
        return v;
    }
    match v.rem_euclid(to) {
        0 => v,
        r => v.saturating_add(to - r),
    }
}

/// Rounds `v` down to a multiple of `to` (> 0).
pub(crate) fn round_down(v: i64, to: i64) -> i64 {
    if to <= 0 {
        return v;
    }
    v - v.rem_euclid(to)
}

/// What the first seek of a read (`SEEK_DATA` from `start`) tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AfterData {
    /// No data in `[start, start + len)`: download all of it.
    Hole,
    /// Data starts later in the range: download up to the first block
    /// holding data, `len` bytes.
    HoleThen {
        /// The shortened length.
        len: i64,
    },
    /// Data at `start`: look for the end of it (`SEEK_HOLE`).
    Data,
}

/// Classifies `SEEK_DATA`'s answer `data` (`None`: `ENXIO`, no data after
/// `start`) for a read of `len` bytes at `start`, `bsize` the backing
/// block size.
pub(crate) fn after_seek_data(start: i64, len: i64, data: Option<i64>, bsize: i64) -> AfterData {
    let Some(off) = data else {
        return AfterData::Hole;
    };
    if off >= start.saturating_add(len) {
        AfterData::Hole
    } else if off > start {
        AfterData::HoleThen {
            len: round_up(off, bsize) - start,
        }
    } else {
        AfterData::Data
    }
}

/// The length a cache read at `start` keeps when the data ends at `to`
/// (`SEEK_HOLE`'s answer): the whole `len` if the data covers it, else up
/// to `to` rounded up to a block at the end of the file (`i_size`) and
/// down elsewhere.
pub(crate) fn cached_len(start: i64, len: i64, to: i64, i_size: i64, bsize: i64) -> i64 {
    let end = start.saturating_add(len);
    if to >= end {
        return len;
    }
    let to = if end >= i_size {
        round_up(to, bsize)
    } else {
        round_down(to, bsize)
    };
    to - start
}

/// A write rounded to pages (C's `__cachefiles_prepare_write` head):
/// `Some(rounded len)`, or `None` if `start` is not page-aligned or `len`
/// exceeds `upper_len` (a misfit: `ENOBUFS`).
pub(crate) fn prepare_write_len(
    start: i64,
    len: usize,
    upper_len: usize,
    page: usize,
) -> Option<usize> {
    let page_i = i64::try_from(page).ok()?;
    if page == 0 || round_down(start, page_i) != start || len > upper_len {
        return None;
    }
    len.checked_next_multiple_of(page)
}

/// How `issue_write` trims a write subrequest to direct-I/O blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IssueTrim {
    /// Nothing block-aligned to write: count a misfit and terminate the
    /// subrequest as if `done` bytes were written.
    Skip {
        /// What the subrequest reports as transferred.
        done: usize,
    },
    /// Write: skip `pre` bytes at the front, extend the subrequest by
    /// `extend` bytes (to the block after the end of the file), then write
    /// `len` bytes at `start`.
    Write {
        /// Bytes skipped at the front (already counted as transferred).
        pre: usize,
        /// Bytes the subrequest grows by.
        extend: usize,
        /// Where the aligned write starts.
        start: i64,
        /// The aligned length written.
        len: usize,
    },
}

/// C's `cachefiles_issue_write` trimming of the subrequest `[start, start
/// + len)`: start on a block boundary; at the end of the file (`i_size`)
/// round the tail up if the stream may be extended that far
/// (`extendable_to`); drop a partial last block.
pub(crate) fn issue_trim(
    start: i64,
    len: usize,
    i_size: u64,
    extendable_to: usize,
    dio: usize,
) -> IssueTrim {
    if dio == 0 {
        return IssueTrim::Skip { done: len };
    }
    let mut start = start;
    let mut len = len;
    let mut pre = 0usize;
    let off = (start as u64 % dio as u64) as usize;
    if off != 0 {
        pre = dio - off;
        if pre >= len {
            return IssueTrim::Skip { done: len };
        }
        start = start.saturating_add(pre as i64);
        len -= pre;
    }
    let mut extend = 0usize;
    if u64::try_from(start.saturating_add(len as i64)).ok() == Some(i_size) {
        let part = len % dio;
        let need = dio - part;
        if part != 0 && extendable_to >= need {
            len += need;
            extend = need;
        }
    }
    let post = len % dio;
    if post != 0 {
        len -= post;
        if len == 0 {
            return IssueTrim::Skip { done: post };
        }
    }
    IssueTrim::Write {
        pre,
        extend,
        start,
        len,
    }
}

/// C's `cachefiles_shorten_object`: the backing file's new size for an
/// object of `new_size` bytes (whole DIO blocks), and the tail
/// `[new_size, dio_size)` to zero (empty if aligned).
pub(crate) fn shorten(new_size: i64, dio: i64) -> (i64, Option<(i64, i64)>) {
    let dio_size = round_up(new_size, dio);
    if new_size < dio_size {
        (dio_size, Some((new_size, dio_size - new_size)))
    } else {
        (dio_size, None)
    }
}
