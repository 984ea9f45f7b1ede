// SPDX-License-Identifier: GPL-2.0

//! Normal (non-on-demand) mode, netfs I/O (C's `io.c`): where a read comes
//! from, writes to the cache, and the netfs 6.12 write path
//! (`prepare_write`, `prepare_write_subreq`, `issue_write`).  The
//! arithmetic is in `logic/granule.rs`.  On-demand caches never come here
//! (`interface.rs` branches on the mode first).
//!
//! Writes are asynchronous, as C's `__cachefiles_write`: a direct-I/O
//! kiocb is submitted and the netfs's termination function is called
//! from its completion (`was_async = true`, maybe in interrupt context),
//! or by the submitter (`was_async = false`) when the backing filesystem
//! does the write at once (a bound `buffered` cache always does).  The
//! blocks in flight count in the cache's `b_writing` until the
//! completion.

use crate::cachefiles::cache::SpaceFor;
use crate::cachefiles::internal::{Cache, Object};
use crate::cachefiles::object::DIO_BLOCK_SIZE;
use crate::kernel_ext::fscache::{
    stats, CookieFlag, Cres, IoEnd, NetfsWrite, Source, Subreq, Termination, Want,
    SREQ_COPY_TO_CACHE, SREQ_ONDEMAND,
};
use crate::kernel_ext::trace::{self, Op};
use crate::kernel_ext::vfs::{FileRef, Whence};
use crate::logic::cmd::errno::*;
use crate::logic::cmd::Errno;
use crate::logic::granule::{self, AfterData, IssueTrim};
use kernel::sync::Arc;

/// The page size, as C's `PAGE_SIZE` in `__cachefiles_prepare_write`.
const PAGE: usize = kernel::page::PAGE_SIZE;

/// The operation's file and object, waiting for the cookie if the file is
/// not there yet (C: `cachefiles_cres_file` and
/// `fscache_wait_for_operation`).
fn file_and_object(cres: &mut Cres<'_, Cache>, want: Want) -> Option<(FileRef, Arc<Object>)> {
    if cres.file().is_none() && !cres.wait_for_operation(want) {
        return None;
    }
    attached(cres)
}

/// The operation's file and object, if both are there now.
fn attached(cres: &Cres<'_, Cache>) -> Option<(FileRef, Arc<Object>)> {
    Some((cres.file().cloned()?, cres.cookie().object()?))
}

impl Cache {
    /// Where a normal-mode read subrequest comes from, shortening it to a
    /// cached/uncached boundary (C's `cachefiles_prepare_read` without an
    /// on-demand daemon).
    pub(crate) fn normal_prepare_read(subreq: &mut Subreq<'_, Cache>, i_size: u64) -> Source {
        let (Ok(start), Ok(i_size), Ok(len)) = (
            i64::try_from(subreq.start()),
            i64::try_from(i_size),
            i64::try_from(subreq.len()),
        ) else {
            return Source::DownloadFromServer;
        };
        if start >= i_size {
            return Source::FillWithZeroes;
        }
        let (no_data, found) = {
            let mut cres = subreq.cres();
            let no_data = cres.cookie().test(CookieFlag::NoDataToRead);
            (
                no_data,
                if no_data {
                    None
                } else {
                    file_and_object(&mut cres, Want::Read)
                },
            )
        };
        if no_data {
            *subreq.flags_mut() |= SREQ_COPY_TO_CACHE;
            if *subreq.flags_mut() & SREQ_ONDEMAND == 0 {
                return Source::DownloadFromServer;
            }
        }
        let Some((file, object)) = found else {
            return Source::DownloadFromServer;
        };
        let bsize = object.bound.bsize as i64;
        let _as_cache = object.bound.cred.override_current();
        let seek_error = |e: Errno| {
            trace::io_error(object.debug_id, file.inode().ino(), -e.0, Op::Seek);
            Source::DownloadFromServer
        };
        let data = match file.llseek(start, Whence::Data) {
            Ok(off) => Some(off),
            Err(ENXIO) => None,
            Err(e) => return seek_error(e),
        };
        match granule::after_seek_data(start, len, data, bsize) {
            AfterData::Hole => {}
            AfterData::HoleThen { len } => subreq.set_len(len as usize),
            AfterData::Data => {
                let to = match file.llseek(start, Whence::Hole) {
                    Ok(to) => to,
                    Err(e) => return seek_error(e),
                };
                let keep = granule::cached_len(start, len, to, i_size, bsize);
                if keep != len {
                    subreq.set_len(keep as usize);
                }
                return Source::ReadFromCache;
            }
        }
        *subreq.flags_mut() |= SREQ_COPY_TO_CACHE;
        Source::DownloadFromServer
    }

    /// Writes `write`'s data to the object's file at `pos`, maybe
    /// asynchronously (C's `cachefiles_write`); the outcome goes to
    /// `write`'s termination.  The error if the write failed at once.
    pub(crate) fn normal_write(
        cres: &mut Cres<'_, Cache>,
        pos: i64,
        write: NetfsWrite,
    ) -> Result<(), Errno> {
        write_to(write_target(cres), pos, write)
    }

    /// Prepares a write to the cache (C's `cachefiles_prepare_write`).
    pub(crate) fn normal_prepare_write(
        cres: &mut Cres<'_, Cache>,
        start: &mut i64,
        len: &mut usize,
        upper_len: usize,
        no_space_allocated_yet: bool,
    ) -> Result<(), Errno> {
        let (file, object) = file_and_object(cres, Want::Write).ok_or(ENOBUFS)?;
        let _as_cache = object.bound.cred.override_current();
        normal_check_write(
            &object,
            &file,
            *start,
            len,
            upper_len,
            no_space_allocated_yet,
        )
    }

    /// Prepares a write subrequest of the cache stream (C's
    /// `cachefiles_prepare_write_subreq`).
    pub(crate) fn normal_prepare_write_subreq(mut subreq: Subreq<'_, Cache>) {
        subreq.limit_stream_to_dio();
        let ok = {
            let mut cres = subreq.cres();
            cres.file().is_some() || (cres.wait_for_operation(Want::Write) && cres.file().is_some())
        };
        if !ok {
            subreq.prepare_write_failed();
        }
    }

    /// Writes a subrequest of the cache stream, trimmed to direct-I/O
    /// blocks (C's `cachefiles_issue_write`).  One difference: C writes the
    /// trimmed data at the subrequest's untrimmed start; this writes it
    /// where it belongs (the two agree unless the subrequest starts
    /// inside a block, which netfs's page-aligned copies to the cache
    /// never do).
    pub(crate) fn normal_issue_write(mut subreq: Subreq<'_, Cache>) {
        let Ok(start) = i64::try_from(subreq.start()) else {
            subreq.terminate_write(Err(EINVAL));
            return;
        };
        let trim = granule::issue_trim(
            start,
            subreq.len(),
            subreq.request_i_size(),
            subreq.submit_extendable_to(),
            DIO_BLOCK_SIZE as usize,
        );
        let (pre, extend, start, mut len) = match trim {
            IssueTrim::Skip { done } => {
                stats::count_dio_misfit();
                subreq.terminate_write(Ok(done));
                return;
            }
            IssueTrim::Write {
                pre,
                extend,
                start,
                len,
            } => (pre, extend, start, len),
        };
        if pre > 0 {
            subreq.add_transferred(pre);
            subreq.iter().advance(pre);
        }
        // `issue_trim` extends only within `submit_extendable_to`, which
        // `extend` checks again.
        if extend > 0 && !subreq.extend(extend) {
            subreq.terminate_write(Err(ENOBUFS));
            return;
        }
        subreq.iter().truncate(len);
        let checked = {
            match attached(&subreq.cres()) {
                Some((file, object)) => {
                    let _as_cache = object.bound.cred.override_current();
                    let upper = len;
                    normal_check_write(&object, &file, start, &mut len, upper, true)
                }
                None => Err(ENOBUFS),
            }
        };
        if let Err(e) = checked {
            subreq.terminate_write(Err(e));
            return;
        }
        // The subrequest is netfs's again once the write ends, maybe
        // before `normal_write` returns: nothing here touches it after.
        let target = write_target(&mut subreq.cres());
        // A failure is reported to the termination as well.
        let _ = write_to(target, start, subreq.into_write());
    }
}

/// The file and object a write goes to, once the cookie is ready for
/// writing (C's `fscache_wait_for_operation` in `cachefiles_write`).
fn write_target(cres: &mut Cres<'_, Cache>) -> Option<(FileRef, Arc<Object>)> {
    if !cres.wait_for_operation(Want::Write) {
        return None;
    }
    attached(cres)
}

/// Submits `write` to `target` at `pos`, or reports `ENOBUFS` to its
/// termination (and returns it) without a target.
fn write_to(
    target: Option<(FileRef, Arc<Object>)>,
    pos: i64,
    write: NetfsWrite,
) -> Result<(), Errno> {
    match target {
        Some((file, object)) => write_object(object, &file, pos, write),
        None => {
            write.done(Err(ENOBUFS));
            Err(ENOBUFS)
        }
    }
}

/// Submits `write` to `object`'s `file` at `pos`, counting its blocks in
/// the cache's `b_writing` until it ends (C's `__cachefiles_write`).
fn write_object(
    object: Arc<Object>,
    file: &FileRef,
    pos: i64,
    mut write: NetfsWrite,
) -> Result<(), Errno> {
    stats::count_write();
    let len = write.iter().count();
    let ino = file.inode().ino();
    let blocks = (len as u64).div_ceil(object.bound.bsize.max(1));
    let mode = object.bound.io_mode();
    object.cache.start_writing(blocks);
    trace::write(object.debug_id, ino, pos, len);
    let end = CacheWrite {
        object,
        blocks,
        ino,
    };
    write.submit(file, pos, mode, end)
}

/// A write to the cache in flight: what its end does before the netfs is
/// told (C's `cachefiles_write_complete`).
struct CacheWrite {
    object: Arc<Object>,
    /// The blocks counted in the cache's `b_writing`.
    blocks: u64,
    /// The backing inode, for the trace.
    ino: u64,
}

impl IoEnd for CacheWrite {
    /// Runs in the write's completion context (maybe an interrupt): only
    /// a trace event, atomic operations and the netfs's termination.
    fn end(self, term: Termination, r: Result<usize, Errno>, was_async: bool) {
        let CacheWrite {
            object,
            blocks,
            ino,
        } = self;
        if let Err(e) = r {
            trace::io_error(object.debug_id, ino, -e.0, Op::Write);
        }
        object.cache.end_writing(blocks);
        object.cookie().set(CookieFlag::HaveData, true);
        // Put before the netfs is told: until then the operation's access
        // to the cookie keeps the object attached to it (withdrawal waits
        // for the accesses to end), so this is not the last reference,
        // whose drop may sleep.
        drop(object);
        term.write_done(r, was_async);
    }
}

/// Rounds a write to pages and checks the backing filesystem has room for
/// it, punching out a partly allocated range when it has not (C's
/// `__cachefiles_prepare_write`).  Runs with the cache's credentials.
fn normal_check_write(
    object: &Object,
    file: &FileRef,
    start: i64,
    len: &mut usize,
    upper_len: usize,
    no_space_allocated_yet: bool,
) -> Result<(), Errno> {
    let Some(rounded) = granule::prepare_write_len(start, *len, upper_len, PAGE) else {
        stats::count_dio_misfit();
        return Err(ENOBUFS);
    };
    *len = rounded;
    let cache = &object.cache;
    let bound = &object.bound;
    let pages = (rounded / PAGE) as u64;
    let end = start.saturating_add(rounded as i64);
    let ino = file.inode().ino();
    let check_space = || cache.has_space(&bound.mnt, &bound.thresholds, 0, pages, SpaceFor::Write);
    if no_space_allocated_yet {
        return check_space();
    }
    match file.llseek(start, Whence::Data) {
        Err(ENXIO) => return check_space(),
        Err(e) => {
            trace::io_error(object.debug_id, ino, -e.0, Op::Seek);
            return Err(e);
        }
        Ok(pos) if pos >= end => return check_space(),
        Ok(_) => {}
    }
    if cache
        .has_space(&bound.mnt, &bound.thresholds, 0, pages, SpaceFor::Check)
        .is_ok()
    {
        return Ok(());
    }
    match file.llseek(start, Whence::Hole) {
        Err(e) => {
            trace::io_error(object.debug_id, ino, -e.0, Op::Seek);
            return Err(e);
        }
        Ok(pos) if pos >= end => return Ok(()),
        Ok(_) => {}
    }
    stats::count_no_write_space();
    if let Err(e) = file.punch_hole(start, rounded as i64) {
        trace::io_error(object.debug_id, ino, -e.0, Op::Fallocate);
        cache.io_error_obj(
            object,
            format_args!("CacheFiles: fallocate failed ({})", -e.0),
        );
        return Err(EIO);
    }
    Ok(())
}
