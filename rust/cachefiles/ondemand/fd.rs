// SPDX-License-Identifier: GPL-2.0

//! The anonymous fds handed to the daemon with each OPEN (C's
//! `cachefiles_ondemand_get_fd` and `cachefiles_ondemand_fd_fops`): one live
//! fd per object, writes into the backing file, READ_COMPLETE.

use crate::cachefiles::cache::SpaceFor;
use crate::cachefiles::internal::{Cache, Object, Opcode, Request};
use crate::kernel_ext::anonfd::{self, AnonFdOps, PendingFd};
use crate::kernel_ext::fscache::CookieFlag;
use crate::kernel_ext::miscdev::StaticFops;
use crate::kernel_ext::trace::{self, Op};
use crate::kernel_ext::vfs::{IoMode, IovIter};
use crate::logic::cmd::errno::*;
use crate::logic::cmd::Errno;
use kernel::sync::Arc;

/// `CACHEFILES_IOC_READ_COMPLETE`, `_IOW(0x98, 1, int)`.
pub(crate) const IOC_READ_COMPLETE: u32 = 0x4004_9801;

/// The anonymous fds' file operations; `.owner` pins the module while one
/// is open.  Here, next to the `AnonFdOps` implementation, rather than at
/// the crate root, which uses the backend: the backend refers to the root
/// only for `THIS_MODULE`, the module's identity that `module!` defines.
static ANON_FOPS: StaticFops = StaticFops(anonfd::fops::<Object>(crate::THIS_MODULE.as_ptr()));

/// Makes the anonymous fd of an OPEN (C's `cachefiles_ondemand_get_fd`):
/// at most one live fd per object (`EEXIST`), holding an object reference
/// and an unbind pin.
pub(super) fn get_fd(cache: &Arc<Cache>, req: &Request) -> Result<PendingFd<Object>, Errno> {
    let object = &req.object;
    let id = match cache.reqs.lock().alloc_object_id() {
        Ok(id) => id,
        Err(e) => {
            object.od.lock().fd_open_failed();
            return Err(e);
        }
    };
    let free_id = |e: Errno| {
        let _ = cache.reqs.lock().free_object_id(id);
        object.od.lock().fd_open_failed();
        Err(e)
    };
    let pending = match PendingFd::new(kernel::c_str!("[cachefiles]"), &ANON_FOPS, object.clone()) {
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
    let (msg_id, object_id) = req.delivered_ids();
    trace::ondemand_open(object.debug_id, msg_id, object_id, pending.fd() as u32, 0);
    Ok(pending)
}

/// The anonymous fd's operations (C's `cachefiles_ondemand_fd_fops`).
impl AnonFdOps for Object {
    fn release(this: Arc<Self>) {
        let cache = this.cache.clone();
        {
            let mut reqs = cache.reqs.lock();
            let id = this.od.lock().fd_released();
            // Pending CLOSEs the daemon has not seen need no delivery now.
            reqs.finish_object(&this, |req, new| new && req.opcode == Opcode::Close, None);
            let _ = reqs.free_object_id(id);
            drop(reqs);
            trace::ondemand_fd_release(this.debug_id, id);
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
            this.cache.has_space(
                &this.bound.mnt,
                &this.bound.thresholds,
                0,
                pages,
                SpaceFor::Write,
            )?;
        }
        let blocks = (len as u64).div_ceil(this.bound.bsize);
        let ino = file.inode().ino();
        trace::ondemand_fd_write(this.debug_id, ino, pos, len);
        trace::write(this.debug_id, ino, pos, len);
        // Direct (C) or buffered: the same checks above, so the daemon sees
        // one ABI (see "Buffered backing I/O" in ondemand.rst).
        let mode = this.bound.io_mode();
        let ret = this
            .cache
            .writing(blocks, || file.write_at(pos, iter, mode));
        if let Err(e) = ret {
            trace::io_error(this.debug_id, ino, -e.0, Op::Write);
        }
        this.cookie().set(CookieFlag::HaveData, true);
        ret
    }

    /// Only with buffered backing I/O (an opt-in; C's anon fd has no
    /// `splice_write`): a pipe's pages need not suit direct I/O.
    fn splice_write_allowed(this: &Self) -> bool {
        this.bound.io_mode() == IoMode::Buffered
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
        trace::ondemand_cread(this.debug_id, id);
        req.finish(None);
        Ok(0)
    }
}
