// SPDX-License-Identifier: GPL-2.0

//! The module's tracepoints: those of C cachefiles in Linux 6.12 (system
//! `cachefiles`, same event names, record fields and output formats),
//! declared in C (`trace/events.h`) and fired through the one-line C
//! functions of `trace/trace.c`.
//!
//! The probes take plain integers where C's take structures: `obj` is an
//! object's debug id (0 where C passes no object, except for
//! [`unlink`]/[`rename`], where C records `UINT_MAX`: see [`NO_OBJECT`]),
//! `ino` an inode number, errors are negative errnos.  Reason codes are the
//! enums below, with C's values.  A disabled event costs one call and a
//! static-key test.

use crate::kernel_ext::bindings;

/// The object id [`unlink`] and [`rename`] record when no object is
/// involved (C: `obj ? obj->debug_id : UINT_MAX`).
pub(crate) const NO_OBJECT: u32 = u32::MAX;

/// Why a backing file is removed (C's `enum fscache_why_object_killed`).
#[derive(Clone, Copy)]
#[allow(dead_code)]
#[repr(u32)]
pub(crate) enum Why {
    IsStale = 0,
    IsWeird = 1,
    Invalidated = 2,
    NoSpace = 3,
    WasRetired = 4,
    WasCulled = 5,
    VolumeIsWeird = 6,
}

/// Outcome of a coherency check or update (C's
/// `enum cachefiles_coherency_trace`).
#[derive(Clone, Copy)]
#[allow(dead_code)]
#[repr(u32)]
pub(crate) enum Coherency {
    CheckAux = 0,
    CheckContent = 1,
    CheckDirty = 2,
    CheckLen = 3,
    CheckObjsize = 4,
    CheckOk = 5,
    CheckType = 6,
    CheckXattr = 7,
    SetFail = 8,
    SetOk = 9,
    VolCheckCmp = 10,
    VolCheckOk = 11,
    VolCheckResv = 12,
    VolCheckXattr = 13,
    VolSetFail = 14,
    VolSetOk = 15,
}

/// Why a backing file's size changes (C's `enum cachefiles_trunc_trace`).
#[derive(Clone, Copy)]
#[allow(dead_code)]
#[repr(u32)]
pub(crate) enum Trunc {
    DioAdjust = 0,
    ExpandTmpfile = 1,
    Shrink = 2,
}

/// The failed operation of a [`vfs_error`] or [`io_error`] (C's
/// `enum cachefiles_error_trace`).
#[derive(Clone, Copy)]
#[allow(dead_code)]
#[repr(u32)]
pub(crate) enum Op {
    Fallocate = 0,
    Getxattr = 1,
    Link = 2,
    Lookup = 3,
    Mkdir = 4,
    NotifyChange = 5,
    Open = 6,
    Read = 7,
    Remxattr = 8,
    Rename = 9,
    Seek = 10,
    Setxattr = 11,
    Statfs = 12,
    Tmpfile = 13,
    Trunc = 14,
    Unlink = 15,
    Write = 16,
}

/// `cachefiles_lookup`: a lookup of a name in directory `dir`; `ino` is 0
/// and `error` the errno (negative) when it failed or found nothing.
pub(crate) fn lookup(obj: u32, dir: u64, ino: u64, error: i32) {
    // SAFETY: Takes plain integers; callable from any context.
    unsafe { bindings::cfrs_trace_lookup(obj, dir as _, ino as _, error) }
}

/// `cachefiles_mkdir`: directory `subdir` created in `dir`.
pub(crate) fn mkdir(dir: u64, subdir: u64) {
    // SAFETY: Takes plain integers; callable from any context.
    unsafe { bindings::cfrs_trace_mkdir(dir as _, subdir as _) }
}

/// `cachefiles_tmpfile`: an unnamed backing file made.
pub(crate) fn tmpfile(obj: u32, ino: u64) {
    // SAFETY: Takes plain integers; callable from any context.
    unsafe { bindings::cfrs_trace_tmpfile(obj, ino as _) }
}

/// `cachefiles_link`: a tmpfile linked into its fan-out directory.
pub(crate) fn link(obj: u32, ino: u64) {
    // SAFETY: Takes plain integers; callable from any context.
    unsafe { bindings::cfrs_trace_link(obj, ino as _) }
}

/// `cachefiles_unlink`: a backing file about to be unlinked.
pub(crate) fn unlink(obj: u32, ino: u64, why: Why) {
    // SAFETY: Takes plain integers; callable from any context.
    unsafe { bindings::cfrs_trace_unlink(obj, ino as _, why as u32) }
}

/// `cachefiles_rename`: a backing directory about to go to the graveyard.
pub(crate) fn rename(obj: u32, ino: u64, why: Why) {
    // SAFETY: Takes plain integers; callable from any context.
    unsafe { bindings::cfrs_trace_rename(obj, ino as _, why as u32) }
}

/// `cachefiles_coherency`: an object's xattr checked or written;
/// `content` is the content byte of the xattr.
pub(crate) fn coherency(obj: u32, ino: u64, content: u8, why: Coherency) {
    // SAFETY: Takes plain integers; callable from any context.
    unsafe { bindings::cfrs_trace_coherency(obj, ino as _, content.into(), why as u32) }
}

/// `cachefiles_vol_coherency`: a volume's xattr checked or written; `vol`
/// is the volume cookie's debug id.
pub(crate) fn vol_coherency(vol: u32, ino: u64, why: Coherency) {
    // SAFETY: Takes plain integers; callable from any context.
    unsafe { bindings::cfrs_trace_vol_coherency(vol, ino as _, why as u32) }
}

/// `cachefiles_read`: a read of `len` bytes at `start` from a backing file.
pub(crate) fn read(obj: u32, ino: u64, start: i64, len: usize) {
    // SAFETY: Takes plain integers; callable from any context.
    unsafe { bindings::cfrs_trace_read(obj, ino as _, start, len) }
}

/// `cachefiles_write`: a write of `len` bytes at `start` to a backing file.
pub(crate) fn write(obj: u32, ino: u64, start: i64, len: usize) {
    // SAFETY: Takes plain integers; callable from any context.
    unsafe { bindings::cfrs_trace_write(obj, ino as _, start, len) }
}

/// `cachefiles_trunc`: a backing file resized from `from` to `to` bytes.
pub(crate) fn trunc(obj: u32, ino: u64, from: i64, to: i64, why: Trunc) {
    // SAFETY: Takes plain integers; callable from any context.
    unsafe { bindings::cfrs_trace_trunc(obj, ino as _, from, to, why as u32) }
}

/// `cachefiles_mark_active`: an inode marked in use by the cache.
pub(crate) fn mark_active(obj: u32, ino: u64) {
    // SAFETY: Takes plain integers; callable from any context.
    unsafe { bindings::cfrs_trace_mark_active(obj, ino as _) }
}

/// `cachefiles_mark_failed`: an inode already in use could not be marked.
pub(crate) fn mark_failed(obj: u32, ino: u64) {
    // SAFETY: Takes plain integers; callable from any context.
    unsafe { bindings::cfrs_trace_mark_failed(obj, ino as _) }
}

/// `cachefiles_mark_inactive`: an inode no longer in use by the cache.
pub(crate) fn mark_inactive(obj: u32, ino: u64) {
    // SAFETY: Takes plain integers; callable from any context.
    unsafe { bindings::cfrs_trace_mark_inactive(obj, ino as _) }
}

/// `cachefiles_vfs_error`: an operation on the backing filesystem failed.
pub(crate) fn vfs_error(obj: u32, ino: u64, error: i32, op: Op) {
    // SAFETY: Takes plain integers; callable from any context.
    unsafe { bindings::cfrs_trace_vfs_error(obj, ino as _, error, op as u32) }
}

/// `cachefiles_io_error`: I/O on a backing file failed.
pub(crate) fn io_error(obj: u32, ino: u64, error: i32, op: Op) {
    // SAFETY: Takes plain integers; callable from any context.
    unsafe { bindings::cfrs_trace_io_error(obj, ino as _, error, op as u32) }
}

/// `cachefiles_ondemand_open`: the anonymous fd of an OPEN request made.
/// `msg_id` and `object_id` are those the message carried when the fd was
/// made (C fills them in afterwards: 0 on the first delivery).
pub(crate) fn ondemand_open(obj: u32, msg_id: u32, object_id: u32, fd: u32, flags: u32) {
    // SAFETY: Takes plain integers; callable from any context.
    unsafe { bindings::cfrs_trace_ondemand_open(obj, msg_id, object_id, fd, flags) }
}

/// `cachefiles_ondemand_copen`: the daemon accepted OPEN `msg_id` with
/// `size`.
pub(crate) fn ondemand_copen(obj: u32, msg_id: u32, size: i64) {
    // SAFETY: Takes plain integers; callable from any context.
    unsafe { bindings::cfrs_trace_ondemand_copen(obj, msg_id, size as _) }
}

/// `cachefiles_ondemand_close`: a CLOSE request made (before it has ids:
/// C records 0 for both).
pub(crate) fn ondemand_close(obj: u32, msg_id: u32, object_id: u32) {
    // SAFETY: Takes plain integers; callable from any context.
    unsafe { bindings::cfrs_trace_ondemand_close(obj, msg_id, object_id) }
}

/// `cachefiles_ondemand_read`: a READ request made (before it has ids: C
/// records 0 for both).
pub(crate) fn ondemand_read(obj: u32, msg_id: u32, object_id: u32, start: i64, len: usize) {
    // SAFETY: Takes plain integers; callable from any context.
    unsafe { bindings::cfrs_trace_ondemand_read(obj, msg_id, object_id, start, len) }
}

/// `cachefiles_ondemand_cread`: READ `msg_id` completed by the daemon.
pub(crate) fn ondemand_cread(obj: u32, msg_id: u32) {
    // SAFETY: Takes plain integers; callable from any context.
    unsafe { bindings::cfrs_trace_ondemand_cread(obj, msg_id) }
}

/// `cachefiles_ondemand_fd_write`: the daemon writes through an anonymous
/// fd to the backing file `ino`.
pub(crate) fn ondemand_fd_write(obj: u32, ino: u64, start: i64, len: usize) {
    // SAFETY: Takes plain integers; callable from any context.
    unsafe { bindings::cfrs_trace_ondemand_fd_write(obj, ino as _, start, len) }
}

/// `cachefiles_ondemand_fd_release`: an anonymous fd released.
pub(crate) fn ondemand_fd_release(obj: u32, object_id: u32) {
    // SAFETY: Takes plain integers; callable from any context.
    unsafe { bindings::cfrs_trace_ondemand_fd_release(obj, object_id as _) }
}
