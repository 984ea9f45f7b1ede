// SPDX-License-Identifier: GPL-2.0

//! Reads of cached data (C's `io.c`): an operation's file, asynchronous
//! reads, the on-demand read decision (with read-ahead) and occupancy
//! queries.

use crate::cachefiles::internal::{Ahead, Cache, Object};
use crate::cachefiles::ondemand;
use crate::kernel_ext::fscache::{
    stats, CookieFlag, Cres, IoEnd, NetfsRead, ReadHole, Source, Termination, Want,
    SREQ_COPY_TO_CACHE, SREQ_ONDEMAND,
};
use crate::kernel_ext::trace::{self, Op};
use crate::kernel_ext::vfs::{FileRef, IoMode, Whence};
use crate::logic::cmd::errno::*;
use crate::logic::cmd::Errno;
use crate::logic::window::{self, Span};
use kernel::prelude::pr_err;
use kernel::sync::Arc;

impl Cache {
    /// Gives an I/O operation its file (C's `cachefiles_begin_operation`).
    pub(crate) fn begin_operation(cres: &mut Cres<'_, Cache>, want: Want) -> bool {
        if cres.file().is_none() {
            if let Some(file) = cres.cookie().object().and_then(|o| o.file()) {
                cres.set_file(file);
            }
        }
        if cres.file().is_none() && want != Want::Params {
            pr_err!("failed to get cres->file\n");
            return false;
        }
        true
    }

    /// Reads cached data (C's `cachefiles_read`): with direct I/O as C
    /// (queued, completed asynchronously), or through the backing file's
    /// page cache when the cache is bound `buffered` (done at once); the
    /// outcome goes to `term`.
    pub(crate) fn read_object(
        cres: &mut Cres<'_, Cache>,
        pos: i64,
        mut read: NetfsRead,
        hole: ReadHole,
    ) -> Result<(), Errno> {
        let fail = |e: Errno, read: NetfsRead| {
            read.done(Err(e));
            Err(e)
        };
        if !cres.wait_for_operation(Want::Read) {
            return fail(ENOBUFS, read);
        }
        stats::count_read();
        let Some(file) = cres.file() else {
            return fail(ENOBUFS, read);
        };
        let len = read.iter().count();
        let mut skipped = 0usize;
        if hole != ReadHole::Ignore {
            let end = pos.saturating_add(len as i64);
            let data = match file.llseek(pos, Whence::Data) {
                Ok(off) => Some(off),
                Err(ENXIO) => None,
                Err(e) => return fail(e, read),
            };
            match data {
                Some(off) if off < end => {
                    // `pos <= off < end`, so the difference fits `len`.
                    skipped = (off - pos) as usize;
                    read.iter().zero(skipped);
                }
                _ => {
                    if hole == ReadHole::Fail {
                        return fail(ENODATA, read);
                    }
                    read.iter().zero(len);
                    read.done(Ok(len));
                    return Ok(());
                }
            }
        }
        let object = cres.cookie().object();
        let obj = object.as_ref().map_or(0, |o| o.debug_id);
        let mode = object
            .as_ref()
            .map_or(IoMode::Direct, |o| o.bound.io_mode());
        let ino = file.inode().ino();
        trace::read(obj, ino, pos + skipped as i64, len - skipped);
        let end = CacheRead { skipped, obj, ino };
        read.submit(file, pos + skipped as i64, mode, end)
    }

    /// Decides where a read comes from, asking the daemon to fill a hole
    /// in on-demand mode (C's `cachefiles_do_prepare_read`).
    pub(crate) fn prepare_ondemand_read(
        cres: &mut Cres<'_, Cache>,
        start: i64,
        len_out: &mut usize,
        i_size: i64,
        flags: &mut usize,
    ) -> Source {
        if start >= i_size {
            return Source::FillWithZeroes;
        }
        if cres.cookie().test(CookieFlag::NoDataToRead) {
            *flags |= SREQ_COPY_TO_CACHE;
            if *flags & SREQ_ONDEMAND == 0 {
                return Source::DownloadFromServer;
            }
        }
        if cres.file().is_none() && !cres.wait_for_operation(Want::Read) {
            return Source::DownloadFromServer;
        }
        let (Some(file), Some(object)) = (cres.file().cloned(), cres.cookie().object()) else {
            return Source::DownloadFromServer;
        };
        let bsize = object.bound.bsize as i64;
        let _as_cache = object.bound.cred.override_current();
        let mut len = *len_out as i64;
        loop {
            // Whether `start` is in a hole, and where the hole ends if data
            // follows it (`None`: at the end of the file).
            let (hole, hole_end) = match file.llseek(start, Whence::Data) {
                Err(ENXIO) => (true, None),
                Err(e) => {
                    trace::io_error(object.debug_id, file.inode().ino(), -e.0, Op::Seek);
                    return Source::DownloadFromServer;
                }
                Ok(off) if off >= start + len => (true, Some(off)),
                Ok(off) if off > start => {
                    len = round_up(off, bsize) - start;
                    *len_out = len as usize;
                    (true, Some(off))
                }
                Ok(_) => (false, None),
            };
            if !hole {
                let to = match file.llseek(start, Whence::Hole) {
                    Ok(to) => to,
                    Err(e) => {
                        trace::io_error(object.debug_id, file.inode().ino(), -e.0, Op::Seek);
                        return Source::DownloadFromServer;
                    }
                };
                // A reader within a window of the next hole asks for it,
                // unless this call just waited for a miss of its own (a
                // random reader would fetch a window more each time).
                if *flags & SREQ_ONDEMAND != 0
                    && reads_ahead(&object)
                    && to - start <= len + object.bound.read_window as i64
                {
                    read_ahead(&object, &file, to);
                }
                if to < start + len {
                    let to = if start + len >= i_size {
                        round_up(to, bsize)
                    } else {
                        to - to % bsize
                    };
                    *len_out = (to - start) as usize;
                }
                return Source::ReadFromCache;
            }
            *flags |= SREQ_COPY_TO_CACHE;
            if *flags & SREQ_ONDEMAND == 0 {
                return Source::DownloadFromServer;
            }
            // A READ asked for ahead covers the miss: wait for it and look
            // again rather than asking twice.
            let pending = *object.ahead.lock();
            if let Some(a) = pending.filter(|a| a.covers(start)) {
                let waited = ondemand::wait_read(&object, a);
                let mut slot = object.ahead.lock();
                if slot.is_some_and(|x| x.id == a.id && x.off == a.off) {
                    *slot = None;
                }
                drop(slot);
                // Ended or gone (maybe just filled): look again; the
                // record is forgotten, so a hole left asks for itself.
                if waited.is_err() {
                    return Source::InvalidRead;
                }
                continue;
            }
            let (off, rlen) = read_span(&object, &file, start, len, hole_end);
            let next = off.saturating_add(rlen as i64);
            // Sequential: the miss follows data.  Then the next window is
            // asked for too, behind this READ, while the reader waits.
            let ahead = reads_ahead(&object)
                && off > 0
                && file.llseek(off - 1, Whence::Data) == Ok(off - 1);
            let queued = || {
                if ahead {
                    read_ahead(&object, &file, next);
                }
            };
            if ondemand::read_then(&object, off, rlen, queued).is_err() {
                return Source::InvalidRead;
            }
            *flags &= !SREQ_ONDEMAND;
        }
    }

    /// Where the next cached data in a range is (C's
    /// `cachefiles_query_occupancy`).
    pub(crate) fn query_occupancy(
        cres: &mut Cres<'_, Cache>,
        start: i64,
        len: usize,
        granularity: usize,
    ) -> Result<(i64, usize), Errno> {
        if !cres.wait_for_operation(Want::Read) {
            return Err(ENOBUFS);
        }
        let file = cres.file().ok_or(ENOBUFS)?;
        let bsize = cres.cookie().object().map_or(1, |o| o.bound.bsize);
        let gran = core::cmp::max(bsize as i64, granularity as i64).max(1);
        let end = start.saturating_add(len as i64);
        let off = match file.llseek(start, Whence::Data) {
            Ok(o) => o,
            Err(ENXIO) => return Err(ENODATA),
            Err(_) => return Err(ENOBUFS),
        };
        if round_up(off, gran) >= end {
            return Err(ENODATA);
        }
        let off2 = match file.llseek(off, Whence::Hole) {
            Ok(o) => o,
            Err(ENXIO) => return Err(ENODATA),
            Err(_) => return Err(ENOBUFS),
        };
        let off = round_up(off, gran);
        let off2 = off2 - off2 % gran;
        if off2 <= off {
            return Err(ENODATA);
        }
        let data_len = if off2 > end {
            len
        } else {
            (off2 - off) as usize
        };
        Ok((off, data_len))
    }
}

/// A read of cached data in flight: what its end adds before the netfs is
/// told.
struct CacheRead {
    /// Hole bytes zeroed before the read (counted as transferred).
    skipped: usize,
    /// The object's debug id and the backing inode, for the trace.
    obj: u32,
    ino: u64,
}

impl IoEnd for CacheRead {
    fn end(self, term: Termination, r: Result<usize, Errno>, was_async: bool) {
        if let Err(e) = r {
            trace::io_error(self.obj, self.ino, -e.0, Op::Read);
        }
        term.read_done(r.map(|n| n.saturating_add(self.skipped)), was_async);
    }
}

/// What a miss at `[start, start + len)` asks the daemon to fill: that
/// range, as C does, or with a read window (`read_window_kib`) the
/// window(s) around it, clamped to the hole it is in and to the object
/// (`logic/window.rs`).  `hole_end` is where data follows the hole
/// (`None`: the end of the file).  Only the READ is wider: the caller
/// still reads `[start, start + len)`.
fn read_span(
    object: &Object,
    file: &FileRef,
    start: i64,
    len: i64,
    hole_end: Option<i64>,
) -> (i64, usize) {
    let miss = (start, len as usize);
    let window = object.bound.read_window;
    let Ok(w) = i64::try_from(window) else {
        return miss;
    };
    if w == 0 || start < 0 || len <= 0 {
        return miss;
    }
    let hole_end = hole_end.unwrap_or_else(|| file.inode().size());
    let hole_start = hole_start(file, start - start % w, start);
    let (Ok(off), Ok(n), Ok(lo), Ok(hole_len)) = (
        u64::try_from(start),
        u64::try_from(len),
        u64::try_from(hole_start),
        u64::try_from(hole_end - hole_start),
    ) else {
        return miss;
    };
    let span = window::widen(
        Span { off, len: n },
        Span {
            off: lo,
            len: hole_len,
        },
        object.cookie().object_size(),
        window,
        kernel::page::PAGE_SIZE as u64,
    );
    match (i64::try_from(span.off), usize::try_from(span.len)) {
        (Ok(o), Ok(l)) => (o, l),
        _ => miss,
    }
}

/// Whether misses of `object` ask for the next window ahead
/// (`read_ahead`, with a window).
fn reads_ahead(object: &Object) -> bool {
    object.bound.read_ahead && object.bound.read_window > 0
}

/// Asks the daemon, without waiting, for the hole at `at` up to the end of
/// its window ([`window::ahead`]), unless the last read-ahead of the
/// object covers `at` or `at` holds data.
fn read_ahead(object: &Arc<Object>, file: &FileRef, at: i64) {
    let size = object.cookie().object_size();
    let Ok(at_u) = u64::try_from(at) else {
        return;
    };
    if at_u >= size || object.ahead.lock().is_some_and(|a| a.covers(at)) {
        return;
    }
    let hole_end = match file.llseek(at, Whence::Data) {
        Ok(data) if data <= at => return,
        Ok(data) => data as u64,
        Err(ENXIO) => size,
        Err(_) => return,
    };
    let page = kernel::page::PAGE_SIZE as u64;
    let Some(span) = window::ahead(at_u, hole_end, size, object.bound.read_window, page) else {
        return;
    };
    let (Ok(off), Ok(len)) = (i64::try_from(span.off), usize::try_from(span.len)) else {
        return;
    };
    if let Some(id) = ondemand::read_nowait(object, off, len) {
        *object.ahead.lock() = Some(Ahead { id, off, len });
    }
}

/// Data extents [`hole_start`] passes over before giving up.
const HOLE_SCAN_MAX: usize = 16;

/// Where the hole that `start` is in begins, looking no further back than
/// `from`: `from` if there is no data in `[from, start)`, else the end of
/// the last data before `start`.  After [`HOLE_SCAN_MAX`] data extents, or
/// on a seek error, `start` (no widening backwards).
fn hole_start(file: &FileRef, from: i64, start: i64) -> i64 {
    let mut pos = from;
    for _ in 0..HOLE_SCAN_MAX {
        if pos >= start {
            return start;
        }
        match file.llseek(pos, Whence::Data) {
            Ok(data) if data < start => match file.llseek(data, Whence::Hole) {
                Ok(hole) if hole > pos && hole <= start => pos = hole,
                _ => return start,
            },
            Ok(_) | Err(ENXIO) => return pos,
            Err(_) => return start,
        }
    }
    start
}

/// Rounds `v` (non-negative) up to a multiple of `to` (positive).
fn round_up(v: i64, to: i64) -> i64 {
    match v % to {
        0 => v,
        r => v.saturating_add(to - r),
    }
}
