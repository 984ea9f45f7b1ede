// SPDX-License-Identifier: GPL-2.0

//! On-demand mode: the requests the cache sends to its daemon (OPEN,
//! CLOSE, READ), the daemon's answers (`copen`, the READ_COMPLETE ioctl)
//! and the anonymous fds (C's `ondemand.c`).
//!
//! # Requests
//!
//! A [`Request`] lives in an `Arc`: one reference is in the cache's
//! request table while the request is pending, one is held by the task
//! waiting for it, and one by a daemon `read()` delivering it.  It owns a
//! reference to its object.  Whoever removes a request from the table
//! (under the table's mutex) completes it, exactly once: `copen`, the
//! READ_COMPLETE ioctl, the delivery of a CLOSE, a delivery error, the
//! object's withdrawal, the flush when the cache dies, or the waiter
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

use crate::cachefiles::cache::Cache;
use crate::cachefiles::object::Object;
use crate::kernel_ext::anonfd::{AnonFdOps, PendingFd};
use crate::kernel_ext::completion::{Completion, Killed};
use crate::kernel_ext::fscache::CookieFlag;
use crate::kernel_ext::vfs::{self, IovIter};
use crate::logic::cmd::{self, errno::*, CopenSize, Errno};
use crate::logic::object_state::ReadAction;
use core::sync::atomic::{AtomicI32, Ordering};
use kernel::init::InPlaceInit;
use kernel::prelude::{pin_data, pin_init, pr_err, KVec, GFP_KERNEL};
use kernel::rbtree::RBTree;
use kernel::sync::Arc;

/// Request opcodes (`enum cachefiles_opcode`, uapi).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub(crate) enum Opcode {
    Open = 0,
    Close = 1,
    Read = 2,
}

/// Size of `struct cachefiles_msg` before its payload.
const MSG_HEADER: usize = 16;
/// Offset of the `fd` member in `struct cachefiles_open`.
const OPEN_FD_OFFSET: usize = 8;
/// Size of `struct cachefiles_open` before its keys.
const OPEN_HEADER: usize = 16;
/// `CACHEFILES_MSG_MAX_SIZE`.
const MSG_MAX: usize = 1024;
/// `CACHEFILES_IOC_READ_COMPLETE`, `_IOW(0x98, 1, int)`.
pub(crate) const IOC_READ_COMPLETE: u32 = 0x4004_9801;

/// One request to the daemon.  See the module documentation.
#[pin_data]
pub(crate) struct Request {
    object: Arc<Object>,
    opcode: Opcode,
    /// The message after its header (the OPEN fd is filled at delivery).
    body: KVec<u8>,
    #[pin]
    done: Completion,
    /// The outcome, a negative errno or 0; set before `done` completes.
    error: AtomicI32,
}

impl Request {
    fn finish(&self, err: Option<Errno>) {
        if let Some(e) = err {
            self.error.store(-e.0, Ordering::Release);
        }
        self.done.complete();
    }

    fn result(&self) -> Result<(), Errno> {
        match self.error.load(Ordering::Acquire) {
            0 => Ok(()),
            e => Err(Errno(-e)),
        }
    }

    fn is_for(&self, object: &Object) -> bool {
        core::ptr::eq(&*self.object, object)
    }

    fn object_addr(&self) -> usize {
        &*self.object as *const Object as usize
    }
}

/// A pending request and whether the daemon has yet to see it (C's
/// `CACHEFILES_REQ_NEW` mark).
struct Entry {
    req: Arc<Request>,
    new: bool,
}

/// The request table and id allocators (C's `reqs` and `ondemand_ids`
/// xarrays).  Protected by `Cache::reqs`.
pub(crate) struct Requests {
    /// Pending requests by message id.
    table: RBTree<u32, Entry>,
    /// The same requests by (object address, message id): an object's
    /// requests are found without scanning the table.
    by_object: RBTree<(usize, u32), ()>,
    /// Where the next message id search starts (ids are cyclic over u32,
    /// so a stale id is not soon reused: invariant 5).
    msg_id_next: u32,
    /// Where the daemon's next `read()` starts looking (round robin).
    req_id_next: u64,
    /// Object ids of live anonymous fds.
    ids: RBTree<u32, ()>,
    /// Where the next object id search starts (cyclic over 1..=INT_MAX).
    id_next: u32,
}

/// The first id in `from..=to` not in `t`.
fn first_free<V>(t: &RBTree<u32, V>, from: u32, to: u32) -> Option<u32> {
    let mut id = from;
    loop {
        if t.get(&id).is_none() {
            return Some(id);
        }
        if id >= to {
            return None;
        }
        id += 1;
    }
}

impl Requests {
    /// An empty table.
    pub(crate) fn new() -> Self {
        Requests {
            table: RBTree::new(),
            by_object: RBTree::new(),
            msg_id_next: 0,
            req_id_next: 0,
            ids: RBTree::new(),
            id_next: 1,
        }
    }

    fn alloc_msg_id(&self) -> Option<u32> {
        let next = self.msg_id_next;
        first_free(&self.table, next, u32::MAX).or_else(|| {
            next.checked_sub(1)
                .and_then(|last| first_free(&self.table, 0, last))
        })
    }

    fn alloc_object_id(&mut self) -> Result<u32, Errno> {
        const MAX: u32 = i32::MAX as u32;
        let next = self.id_next.clamp(1, MAX);
        let id = first_free(&self.ids, next, MAX)
            .or_else(|| {
                (next > 1)
                    .then(|| first_free(&self.ids, 1, next - 1))
                    .flatten()
            })
            .ok_or(EBUSY)?;
        self.ids
            .try_create_and_insert(id, (), GFP_KERNEL)
            .map_err(|_| ENOMEM)?;
        self.id_next = if id == MAX { 1 } else { id + 1 };
        Ok(id)
    }

    /// Adds a request under a free message id, which it returns.
    fn insert(&mut self, req: &Arc<Request>) -> Result<u32, Errno> {
        let id = self.alloc_msg_id().ok_or(EBUSY)?;
        let key = (req.object_addr(), id);
        self.by_object
            .try_create_and_insert(key, (), GFP_KERNEL)
            .map_err(|_| ENOMEM)?;
        let entry = Entry {
            req: req.clone(),
            new: true,
        };
        if self
            .table
            .try_create_and_insert(id, entry, GFP_KERNEL)
            .is_err()
        {
            let _ = self.by_object.remove(&key);
            return Err(ENOMEM);
        }
        self.msg_id_next = id.wrapping_add(1);
        Ok(id)
    }

    /// Takes out request `id`.
    fn remove(&mut self, id: u32) -> Option<Arc<Request>> {
        let entry = self.table.remove(&id)?;
        let _ = self.by_object.remove(&(entry.req.object_addr(), id));
        Some(entry.req)
    }

    /// Takes out request `id` if `pick` accepts it.
    fn take_matching(
        &mut self,
        id: u32,
        pick: impl FnOnce(&Request) -> bool,
    ) -> Option<Arc<Request>> {
        if self.table.get(&id).is_some_and(|e| pick(&e.req)) {
            self.remove(id)
        } else {
            None
        }
    }

    /// Takes out the request `id` if it still is `req`.
    fn take_if(&mut self, id: u32, req: &Arc<Request>) -> bool {
        self.take_matching(id, |r| core::ptr::eq(r, &**req))
            .is_some()
    }

    /// The first message id of `object`'s requests from `from` on.
    fn next_of(&mut self, object: usize, from: u32) -> Option<u32> {
        let cursor = self.by_object.cursor_lower_bound(&(object, from))?;
        let &(addr, id) = cursor.current().0;
        (addr == object).then_some(id)
    }

    /// Takes out and completes (with `err`) the requests of `object` that
    /// `pick` selects.
    fn drain_object(&mut self, object: &Object, pick: impl Fn(&Entry) -> bool, err: Option<Errno>) {
        let addr = object as *const Object as usize;
        let mut from = 0;
        while let Some(id) = self.next_of(addr, from) {
            if self.table.get(&id).is_some_and(&pick) {
                if let Some(req) = self.remove(id) {
                    req.finish(err);
                }
            }
            match id.checked_add(1) {
                Some(next) => from = next,
                None => break,
            }
        }
    }

    /// Takes out and completes every request with `err`.
    fn drain_all(&mut self, err: Errno) {
        self.by_object = RBTree::new();
        let mut cursor = self.table.cursor_front();
        while let Some(c) = cursor {
            let (next, node) = c.remove_current();
            node.to_key_value().1.req.finish(Some(err));
            cursor = next;
        }
    }
}

/// Queues a request for `object` and waits for its answer (C's
/// `cachefiles_ondemand_send_req`).  READ waits are killable (`EINTR`).
fn send_req(object: &Arc<Object>, opcode: Opcode, body: KVec<u8>) -> Result<(), Errno> {
    let cache = &object.cache;
    if !cache.ondemand() {
        return Ok(());
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
        }),
        GFP_KERNEL,
    ) {
        Ok(r) => r,
        Err(_) => return fail(ENOMEM),
    };
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
        match reqs.insert(&req) {
            Ok(id) => id,
            Err(e) => {
                drop(reqs);
                return fail(e);
            }
        }
    };
    cache.wake_daemon();
    loop {
        match req.done.wait_killable() {
            Ok(()) => return req.result(),
            Err(Killed) => {
                if cache.reqs.lock().take_if(id, &req) {
                    return Err(EINTR);
                }
                // Someone took it and is about to complete it.
                vfs::cond_resched();
            }
        }
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

/// Asks the daemon for `len` bytes at `pos` and waits for them (C's
/// `cachefiles_ondemand_read`).
pub(crate) fn read(object: &Arc<Object>, pos: i64, len: usize) -> Result<(), Errno> {
    let mut body = KVec::with_capacity(16, GFP_KERNEL).map_err(|_| ENOMEM)?;
    body.extend_from_slice(&(pos as u64).to_ne_bytes(), GFP_KERNEL)
        .map_err(|_| ENOMEM)?;
    body.extend_from_slice(&(len as u64).to_ne_bytes(), GFP_KERNEL)
        .map_err(|_| ENOMEM)?;
    send_req(object, Opcode::Read, body)
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
        reqs.drain_object(object, |_| true, Some(EIO));
    }
}

/// Fails every pending request: the cache is dead (C's
/// `cachefiles_flush_reqs`).  The caller has set `DEAD`.
pub(crate) fn flush(cache: &Cache) {
    cache.reqs.lock().drain_all(EIO);
}

/// Whether the daemon has a request to read (C's on-demand `poll` rule:
/// READs of a re-opening object do not count).
pub(crate) fn has_readable(cache: &Cache) -> bool {
    let reqs = cache.reqs.lock();
    let readable = reqs
        .table
        .values()
        .any(|e| e.new && !(e.req.opcode == Opcode::Read && e.req.object.od.lock().is_reopening()));
    readable
}

/// `restore`: every pending request becomes new again, for a restarted
/// daemon (C's `cachefiles_ondemand_restore`).
pub(crate) fn restore(cache: &Cache) {
    {
        let mut reqs = cache.reqs.lock();
        for e in reqs.table.values_mut() {
            e.new = true;
        }
    }
    cache.wake_daemon();
}

/// Picks the next new request from `start` on, then from the beginning
/// (round robin), meeting READs of closed objects on the way (C's
/// `cachefiles_ondemand_select_req`).
fn select(reqs: &Requests) -> Option<u32> {
    let start = reqs.req_id_next;
    for pass in 0..2 {
        for (&id, e) in reqs.table.iter() {
            let first = u64::from(id) >= start;
            if (pass == 0) != first {
                if pass == 1 {
                    break;
                }
                continue;
            }
            if !e.new {
                continue;
            }
            if e.req.opcode != Opcode::Read {
                return Some(id);
            }
            let action = e.req.object.od.lock().read_met();
            match action {
                ReadAction::Deliver => return Some(id),
                ReadAction::Skip => {}
                ReadAction::Reopen => {
                    e.req.object.queue_reopen();
                }
            }
        }
    }
    None
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
        let Some(id) = select(&reqs) else {
            return Ok(0);
        };
        let Some(entry) = reqs.table.get_mut(&id) else {
            return Ok(0);
        };
        let n = MSG_HEADER + entry.req.body.len();
        if n > buflen {
            return Err(EMSGSIZE);
        }
        entry.new = false;
        let req = entry.req.clone();
        reqs.req_id_next = u64::from(id) + 1;
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

/// Makes the anonymous fd of an OPEN (C's `cachefiles_ondemand_get_fd`):
/// at most one live fd per object (`EEXIST`), holding an object reference
/// and an unbind pin.
fn get_fd(cache: &Arc<Cache>, req: &Request) -> Result<PendingFd<Object>, Errno> {
    let object = &req.object;
    let id = match cache.reqs.lock().alloc_object_id() {
        Ok(id) => id,
        Err(e) => {
            object.od.lock().fd_open_failed();
            return Err(e);
        }
    };
    let free_id = |e: Errno| {
        let _ = cache.reqs.lock().ids.remove(&id);
        object.od.lock().fd_open_failed();
        Err(e)
    };
    let pending = match PendingFd::new(
        kernel::c_str!("[cachefiles]"),
        &crate::ANON_FOPS,
        object.clone(),
    ) {
        Ok(p) => p,
        Err(e) => return free_id(e),
    };
    let opened = object.od.lock().fd_opened(id);
    if let Err(e) = opened {
        // The file must not run its release: it never was the object's fd.
        drop(pending.abort());
        return free_id(e);
    }
    cache.get_pin();
    Ok(pending)
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

/// The anonymous fd's operations (C's `cachefiles_ondemand_fd_fops`).
impl AnonFdOps for Object {
    fn release(this: Arc<Self>) {
        let cache = this.cache.clone();
        {
            let mut reqs = cache.reqs.lock();
            let id = this.od.lock().fd_released();
            // Pending CLOSEs the daemon has not seen need no delivery now.
            reqs.drain_object(&this, |e| e.new && e.req.opcode == Opcode::Close, None);
            let _ = reqs.ids.remove(&id);
        }
        // The object reference goes before the pin: unbinding waits for
        // every object to be freed.
        drop(this);
        cache.put_pin();
    }

    fn write_iter(this: &Self, pos: i64, iter: &mut IovIter) -> Result<usize, Errno> {
        let file = this.file().ok_or(ENOBUFS)?;
        let len = iter.count();
        let page = kernel::page::PAGE_SIZE as i64;
        if pos < 0 || pos % page != 0 {
            return Err(ENOBUFS);
        }
        let pages = len.div_ceil(kernel::page::PAGE_SIZE) as u64;
        {
            let _as_cache = this.bound.cred.override_current();
            this.cache
                .has_space(&this.bound.mnt, &this.bound.thresholds, 0, pages)?;
        }
        let blocks = (len as u64).div_ceil(this.bound.bsize);
        let ret = this.cache.writing(blocks, || file.write_direct(pos, iter));
        this.cookie().set(CookieFlag::HaveData, true);
        ret
    }

    fn llseek(this: &Self, pos: i64, whence: i32) -> Result<i64, Errno> {
        this.file().ok_or(ENOBUFS)?.llseek_raw(pos, whence)
    }

    fn ioctl(this: &Self, cmd: u32, arg: usize) -> Result<i64, Errno> {
        if cmd != IOC_READ_COMPLETE {
            return Err(EINVAL);
        }
        let cache = &this.cache;
        if !cache.ondemand() {
            return Err(EOPNOTSUPP);
        }
        let id = u32::try_from(arg).map_err(|_| EINVAL)?;
        let req = cache
            .reqs
            .lock()
            .take_matching(id, |r| r.opcode == Opcode::Read && r.is_for(this))
            .ok_or(EINVAL)?;
        req.finish(None);
        Ok(0)
    }
}
