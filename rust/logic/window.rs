// SPDX-License-Identifier: GPL-2.0

//! Wider READ requests (opt-in, `read_window_kib`): the range an on-demand
//! miss asks the daemon to fill.
//!
//! C asks for exactly the missing range the netfs is reading (often one
//! page or one readahead chunk).  With a window of `W` bytes, a miss asks
//! for the `W`-aligned window(s) around that range instead, clamped to the
//! hole the range is in (data already in the cache file is never asked
//! for again) and to the object's size.  What the netfs reads, and so what
//! `prepare_ondemand_read` returns, is unchanged: only the READ is wider.
//!
//! All offsets are byte offsets in the object (its backing file).

/// The largest window: bounds the work one miss can give the daemon.
pub(crate) const MAX_WINDOW: u64 = 16 << 20;

/// The window in bytes for the `read_window_kib` parameter: KiB, rounded
/// down to whole pages, at most [`MAX_WINDOW`]; 0 (off, C's requests) for
/// values under a page.
pub(crate) fn window_bytes(kib: u32, page: u64) -> u64 {
    let bytes = (u64::from(kib) * 1024).min(MAX_WINDOW);
    if page == 0 {
        return 0;
    }
    bytes - bytes % page
}

/// A byte range `[off, off + len)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) off: u64,
    pub(crate) len: u64,
}

impl Span {
    fn end(self) -> u64 {
        self.off.saturating_add(self.len)
    }
}

/// What one miss asks the daemon for.
///
/// * `miss`: the range C would ask for (the netfs's range in the hole; it
///   may end past the hole when rounded up to a block);
/// * `hole`: the hole it lies in, `[hole.off, hole.end())`, as far as it is
///   known: its start at or after the window's start, its end at the next
///   data (or the end of the file);
/// * `size`: the object's size (the daemon has nothing past it);
/// * `window`: the window size, a multiple of `page` (0: off);
/// * `page`: the page size; every offset asked for is page aligned, as the
///   daemon's writes must be.
///
/// The result always contains `miss`; it starts at a page boundary at or
/// after `hole.off` (or at `miss.off` if that is lower) and ends at the
/// window's end, the hole's end or the object's end rounded up to a page,
/// whichever comes first (but never before `miss`'s end).  Inputs that do
/// not fit (a `miss` that does not start in its `hole`, zero sizes, a
/// window that is not a whole number of pages, overflow) give `miss` back.
pub(crate) fn widen(miss: Span, hole: Span, size: u64, window: u64, page: u64) -> Span {
    if window == 0 || page == 0 || !window.is_multiple_of(page) || miss.len == 0 {
        return miss;
    }
    let (start, end) = (miss.off, miss.end());
    if start < hole.off || start >= hole.end() {
        return miss;
    }
    let size_end = match size.checked_next_multiple_of(page) {
        Some(s) => s,
        None => return miss,
    };
    // The window(s) around the miss.
    let win_lo = start - start % window;
    let win_hi = match end.checked_next_multiple_of(window) {
        Some(h) => h,
        None => return miss,
    };
    // Clamped to the hole (pages wholly in it) and to the object.
    let hole_lo = match hole.off.checked_next_multiple_of(page) {
        Some(l) => l,
        None => return miss,
    };
    let lo = win_lo.max(hole_lo).min(start);
    let hi = win_hi.min(hole.end()).min(size_end).max(end);
    Span {
        off: lo,
        len: hi - lo,
    }
}

/// What a read-ahead asks for (opt-in, `read_ahead`): the hole starting at
/// `at` (and ending at `hole_end`, the next data or the end of the file),
/// from the first page boundary at or after `at` (data before it is never
/// asked for again) up to the end of `at`'s window, clamped to the hole
/// and to the object's `size` rounded up to a page.  `None` if that is
/// empty or the inputs do not fit (window 0 or not whole pages, `at` at or
/// past `size`, overflow).
pub(crate) fn ahead(at: u64, hole_end: u64, size: u64, window: u64, page: u64) -> Option<Span> {
    if window == 0 || page == 0 || !window.is_multiple_of(page) || at >= size {
        return None;
    }
    let lo = at.checked_next_multiple_of(page)?;
    let win_hi = (at - at % window).checked_add(window)?;
    let hi = win_hi
        .min(hole_end)
        .min(size.checked_next_multiple_of(page)?);
    (hi > lo).then(|| Span {
        off: lo,
        len: hi - lo,
    })
}
