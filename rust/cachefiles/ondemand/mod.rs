// SPDX-License-Identifier: GPL-2.0

//! On-demand mode: the requests the cache sends to its daemon (OPEN,
//! CLOSE, READ), the daemon's answers (`copen`, the READ_COMPLETE ioctl),
//! the anonymous fds and the objects' re-open work (C's `ondemand.c`).
//! The types ([`Request`], [`Requests`], [`Opcode`], the object's state)
//! are in `internal.rs`.  Within the folder, `requests.rs` is below
//! `fd.rs`, which is below this file; an anonymous fd's release drops an
//! unbind pin, so the folder is above `unbind.rs`.
//!
//! # Requests
//!
//! A [`Request`] lives in an `Arc`: one reference is in the cache's
//! request table while the request is pending, one is held by the task
//! waiting for it, and one by a daemon `read()` delivering it.  It owns a
//! reference to its object.  Whoever removes a request from the table
//! (under the table's mutex) completes it, exactly once: `copen`, the
//! READ_COMPLETE ioctl, the delivery of a CLOSE, a delivery error, the
//! object's withdrawal, the flush when the cache dies
//! (`Cache::flush_reqs`), or the waiter
//! itself when it is killed (contract invariants 1 and 2).
//!
//! # Locking
//!
//! `Cache::reqs` (a mutex: every user runs in process context, and
//! inserting allocates) protects the [`Requests`] table and the id
//! allocators.  An object's state lock (`Object::od`) nests inside it.
//! Enqueueing checks `DEAD` and DROPPING under the table lock, and the
//! flush and the withdrawal empty the table under it, so no request can
//! slip in after them (invariant 6).

mod fd;
mod requests;

use crate::cachefiles::internal::{Ahead, Cache, Object, Opcode, Request, Requests};
use crate::kernel_ext::completion::{Completion, Killed};
use crate::kernel_ext::fscache::CookieFlag;
use crate::kernel_ext::trace;
use crate::kernel_ext::vfs;
use crate::logic::cmd;
use crate::logic::cmd::errno::*;
use crate::logic::cmd::{CopenSize, Errno};
use crate::logic::object_state::{ReadAction, State};
use core::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use fd::get_fd;
use kernel::init::InPlaceInit;
use kernel::prelude::{pin_init, pr_err, KVec, GFP_KERNEL};
use kernel::sync::Arc;
use kernel::workqueue::WorkItem;

/// Size of `struct cachefiles_msg` before its payload.
const MSG_HEADER: usize = 16;
/// Offset of the `fd` member in `struct cachefiles_open`.
const OPEN_FD_OFFSET: usize = 8;
/// Size of `struct cachefiles_open` before its keys.
const OPEN_HEADER: usize = 16;
/// `CACHEFILES_MSG_MAX_SIZE`.
const MSG_MAX: usize = 1024;

/// Queues a request for `object` and waits for its answer (C's
/// `cachefiles_ondemand_send_req`).  READ waits are killable (`EINTR`).
fn send_req(object: &Arc<Object>, opcode: Opcode, body: KVec<u8>) -> Result<(), Errno> {
    match enqueue(object, opcode, body)? {
        Some((id, req)) => wait(object, id, &req),
        None => Ok(()),
    }
}

/// Queues a request and wakes the daemon; its id and the request, or
/// `None` if the cache is not in on-demand mode (nothing to send).
fn enqueue(
    object: &Arc<Object>,
    opcode: Opcode,
    body: KVec<u8>,
) -> Result<Option<(u32, Arc<Request>)>, Errno> {
    let cache = &object.cache;
    if !cache.ondemand() {
        return Ok(None);
    }
    let fail = |e: Errno| {
        if opcode == Opcode::Open {
            object.od.lock().open_not_sent();
        }
        Err(e)
    };
    if cache.is_dead() {
        return fail(EIO);
    }
    let req = match Arc::pin_init(
        pin_init!(Request {
            object: object.clone(),
            opcode,
            body,
            done <- Completion::new(),
            error: AtomicI32::new(0),
            delivered: AtomicU64::new(0),
        }),
        GFP_KERNEL,
    ) {
        Ok(r) => r,
        Err(_) => return fail(ENOMEM),
    };
    trace_new_req(object, &req);
    let id = {
        let mut reqs = cache.reqs.lock();
        let allowed = object.od.lock().may_send(opcode == Opcode::Close);
        if cache.is_dead() {
            drop(reqs);
            return fail(EIO);
        }
        if let Err(e) = allowed {
            drop(reqs);
            return fail(e);
        }
        match reqs.insert(req.object_addr(), req.kind(), req.clone()) {
            Ok(id) => id,
            Err(e) => {
                drop(reqs);
                return fail(e);
            }
        }
    };
    cache.wake_daemon();
    Ok(Some((id, req)))
}

/// Waits for the request `id` that the caller queued; a fatal signal takes
/// it back from the table (`EINTR`) unless the daemon is completing it.
fn wait(object: &Object, id: u32, req: &Arc<Request>) -> Result<(), Errno> {
    loop {
        match req.done.wait_killable() {
            Ok(()) => return req.result(),
            Err(Killed) => {
                if object.cache.reqs.lock().take_if(id, req) {
                    return Err(EINTR);
                }
                // Someone took it and is about to complete it.
                vfs::cond_resched();
            }
        }
    }
}

/// Traces a new CLOSE or READ request, as C does when it fills the message
/// in, before the request has a message id (both ids are still 0 then).  A
/// CLOSE is traced only for an open object: C makes no CLOSE otherwise.
fn trace_new_req(object: &Object, req: &Request) {
    match req.opcode {
        Opcode::Close => {
            if object.od.lock().state() == State::Open {
                trace::ondemand_close(object.debug_id, 0, 0);
            }
        }
        Opcode::Read => {
            let (off, len) = req.read_range().unwrap_or((0, 0));
            trace::ondemand_read(object.debug_id, 0, 0, off as i64, len as usize);
        }
        Opcode::Open => {}
    }
}

/// Sends OPEN for `object` unless it is already open (C's
/// `cachefiles_ondemand_init_object`).
pub(crate) fn init_object(object: &Arc<Object>) -> Result<(), Errno> {
    if !object.ondemand || !object.od.lock().needs_open() {
        return Ok(());
    }
    let cookie = object.cookie();
    let vkey = cookie.volume_key_with_nul();
    let ckey = cookie.key();
    let len = OPEN_HEADER + vkey.len() + ckey.len();
    let mut body = KVec::with_capacity(len, GFP_KERNEL).map_err(|_| ENOMEM)?;
    if !cookie.wants_cache_size() {
        pr_err!("WANT_CACHE_SIZE is needed for on-demand mode\n");
        object.od.lock().open_not_sent();
        return Err(EINVAL);
    }
    let vlen = vkey.len() as u32;
    let clen = ckey.len() as u32;
    for part in [
        &vlen.to_ne_bytes()[..],
        &clen.to_ne_bytes(),
        &[0; 8],
        vkey,
        ckey,
    ] {
        body.extend_from_slice(part, GFP_KERNEL)
            .map_err(|_| ENOMEM)?;
    }
    send_req(object, Opcode::Open, body)
}

kernel::impl_has_work! {
    impl HasWork<Object> for Object { self.work }
}

/// The re-open work (C's `ondemand_object_worker`), in `Object::work`.
impl WorkItem for Object {
    type Pointer = Arc<Object>;

    fn run(this: Arc<Object>) {
        // Failures leave the object CLOSE (or DROPPING), and the READ is
        // retried or failed.
        let _ = init_object(&this);
    }
}

impl Object {
    /// Queues the re-open work; `false` if it is already queued.
    fn queue_reopen(self: &Arc<Self>) -> bool {
        match crate::kernel_ext::completion::queue() {
            Some(q) => q.enqueue(self.clone()).is_ok(),
            None => false,
        }
    }
}

/// The body of a READ message: offset and length.
fn read_body(pos: i64, len: usize) -> Result<KVec<u8>, Errno> {
    let mut body = KVec::with_capacity(16, GFP_KERNEL).map_err(|_| ENOMEM)?;
    body.extend_from_slice(&(pos as u64).to_ne_bytes(), GFP_KERNEL)
        .map_err(|_| ENOMEM)?;
    body.extend_from_slice(&(len as u64).to_ne_bytes(), GFP_KERNEL)
        .map_err(|_| ENOMEM)?;
    Ok(body)
}

/// Asks the daemon for `len` bytes at `pos` and waits for them (C's
/// `cachefiles_ondemand_read`), running `queued` once the READ is queued,
/// before waiting for it (to queue a read-ahead behind it).
pub(crate) fn read_then(
    object: &Arc<Object>,
    pos: i64,
    len: usize,
    queued: impl FnOnce(),
) -> Result<(), Errno> {
    let sent = enqueue(object, Opcode::Read, read_body(pos, len)?)?;
    queued();
    match sent {
        Some((id, req)) => wait(object, id, &req),
        None => Ok(()),
    }
}

/// Asks the daemon for `[pos, pos + len)` without waiting (a read-ahead);
/// the message id if the READ was queued.  Nobody waits for it unless a
/// reader reaches the range ([`wait_read`]); the daemon's completion (or
/// a failure) frees it.
pub(crate) fn read_nowait(object: &Arc<Object>, pos: i64, len: usize) -> Option<u32> {
    let body = read_body(pos, len).ok()?;
    enqueue(object, Opcode::Read, body)
        .ok()
        .flatten()
        .map(|(id, _)| id)
}

/// Waits for the READ of `ahead` if it is still pending (the request with
/// that id is a READ of `object` for that range): `Ok(true)` once it
/// ended (filled or failed: the caller looks at the file again),
/// `Ok(false)` if it is not pending, `EINTR` on a fatal signal (the READ
/// stays queued for whoever comes next).
pub(crate) fn wait_read(object: &Object, ahead: Ahead) -> Result<bool, Errno> {
    let req = {
        let reqs = object.cache.reqs.lock();
        match reqs.get(ahead.id) {
            Some(r)
                if r.is_for(object)
                    && r.read_range() == Some((ahead.off as u64, ahead.len as u64)) =>
            {
                r.clone()
            }
            _ => return Ok(false),
        }
    };
    match req.done.wait_killable() {
        Ok(()) => Ok(true),
        Err(Killed) => Err(EINTR),
    }
}

/// The object is withdrawn: CLOSE to the daemon, then DROPPING and its
/// requests failed (C's `cachefiles_ondemand_clean_object`).  The re-open
/// work holds its own reference and finds the object DROPPING.
pub(crate) fn clean_object(object: &Arc<Object>) {
    if !object.ondemand {
        return;
    }
    let _ = send_req(object, Opcode::Close, KVec::new());
    let cache = &object.cache;
    let mut reqs = cache.reqs.lock();
    if object.od.lock().withdrawn() {
        reqs.finish_object(object, |_, _| true, Some(EIO));
    }
}

/// Whether the daemon has a request to read (C's on-demand `poll` rule:
/// READs of a re-opening object do not count).  `O(1)` while a new OPEN
/// or CLOSE is queued or nothing is new; otherwise new READs are looked
/// at, in id order, up to the first whose object is not re-opening
/// ([`Requests::readable`]).
pub(crate) fn has_readable(cache: &Cache) -> bool {
    let mut reqs = cache.reqs.lock();
    let readable = reqs.readable(|req| !req.object.od.lock().is_reopening());
    readable
}

/// `restore`: every pending request becomes new again, for a restarted
/// daemon (C's `cachefiles_ondemand_restore`).
pub(crate) fn restore(cache: &Cache) {
    cache.reqs.lock().mark_all_new();
    cache.wake_daemon();
}

/// Picks the next new request round robin ([`Requests::select`]), meeting
/// READs of closed objects on the way (C's `cachefiles_ondemand_select_req`).
/// The table hands out a new OPEN or CLOSE as soon as it meets it and asks
/// about READs only.
fn select(reqs: &mut Requests) -> Option<u32> {
    reqs.select(|req| {
        let action = req.object.od.lock().read_met();
        match action {
            ReadAction::Deliver => true,
            ReadAction::Skip => false,
            ReadAction::Reopen => {
                req.object.queue_reopen();
                false
            }
        }
    })
}

/// The daemon's `read()`: one message, or 0 bytes when nothing is
/// pending (C's `cachefiles_ondemand_daemon_read`).  `write` copies the
/// message to user space.
pub(crate) fn daemon_read(
    cache: &Arc<Cache>,
    buflen: usize,
    write: impl FnOnce(&[u8]) -> Result<(), Errno>,
) -> Result<usize, Errno> {
    let (id, req, n) = {
        let mut reqs = cache.reqs.lock();
        let Some(id) = select(&mut reqs) else {
            return Ok(0);
        };
        let Some(req) = reqs.get(id) else {
            return Ok(0);
        };
        let n = MSG_HEADER + req.body.len();
        if n > buflen {
            return Err(EMSGSIZE);
        }
        let Some(req) = reqs.mark_read(id).cloned() else {
            return Ok(0);
        };
        (id, req, n)
    };
    let ret = deliver(cache, id, &req, n, write);
    if let Err(e) = ret {
        if cache.reqs.lock().take_if(id, &req) {
            req.finish(Some(e));
        }
    } else if req.opcode == Opcode::Close && cache.reqs.lock().take_if(id, &req) {
        // CLOSE needs no answer.
        req.finish(None);
    }
    ret.map(|()| n)
}

/// Builds and copies out one message; for OPEN, makes the anonymous fd
/// and installs it only once the copy succeeded (invariant 3).
fn deliver(
    cache: &Arc<Cache>,
    id: u32,
    req: &Arc<Request>,
    n: usize,
    write: impl FnOnce(&[u8]) -> Result<(), Errno>,
) -> Result<(), Errno> {
    let pending = match req.opcode {
        Opcode::Open => Some(get_fd(cache, req)?),
        _ => None,
    };
    let mut msg = KVec::with_capacity(n.min(MSG_MAX), GFP_KERNEL).map_err(|_| ENOMEM)?;
    let object_id = req.object.od.lock().object_id();
    req.set_delivered_ids(id, object_id);
    for part in [id, req.opcode as u32, n as u32, object_id] {
        msg.extend_from_slice(&part.to_ne_bytes(), GFP_KERNEL)
            .map_err(|_| ENOMEM)?;
    }
    msg.extend_from_slice(&req.body, GFP_KERNEL)
        .map_err(|_| ENOMEM)?;
    if let Some(p) = &pending {
        let at = MSG_HEADER + OPEN_FD_OFFSET;
        if let Some(slot) = msg.get_mut(at..at + 4) {
            slot.copy_from_slice(&(p.fd() as u32).to_ne_bytes());
        }
    }
    // On failure `pending` drops here: the unexposed file is released as
    // if the daemon had closed it.
    write(&msg)?;
    if let Some(p) = pending {
        p.install();
    }
    Ok(())
}

/// `copen <id>,<size>` (C's `cachefiles_ondemand_copen`).
pub(crate) fn copen(cache: &Cache, args: &[u8]) -> Result<(), Errno> {
    let (id, size) = cmd::parse_copen_id(args)?;
    let id = u32::try_from(id).map_err(|_| EINVAL)?;
    let req = cache
        .reqs
        .lock()
        .take_matching(id, |r| {
            r.opcode == Opcode::Open && r.object.od.lock().ever_opened()
        })
        .ok_or(EINVAL)?;
    let object = &req.object;
    let ret = match cmd::parse_copen_size(size) {
        CopenSize::Fail { req: e, ret } => {
            req.error.store(-e.0, Ordering::Release);
            ret
        }
        CopenSize::Size(size) => {
            let mut state = object.od.lock();
            match state.copen_accepted() {
                Err(e) => {
                    req.error.store(-e.0, Ordering::Release);
                }
                Ok(()) => {
                    object.cookie().set_object_size(size);
                    object.cookie().set(CookieFlag::NoDataToRead, size == 0);
                    trace::ondemand_copen(object.debug_id, id, size as i64);
                    drop(state);
                    cache.wake_daemon();
                }
            }
            Ok(())
        }
    };
    object.od.lock().copen_finished();
    req.finish(None);
    ret
}
