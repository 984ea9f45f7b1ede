// SPDX-License-Identifier: GPL-2.0

//! Cache objects: the backing file of one fscache cookie (C's
//! `struct cachefiles_object`): making one, its fan-out directory, marking
//! its file in use.  The type [`Object`] is in `internal.rs`; its backing
//! file is found or made in `lookup.rs`, its on-demand side (requests,
//! anonymous fd, the re-open work) is in `ondemand/`.  Making an object
//! initialises that work, which needs its `WorkItem` implementation: this
//! module is above `ondemand/`.
//!
//! # Lifetime and ownership
//!
//! An [`Object`] lives in an `Arc`.  References are held by: the cookie
//! (`cache_priv`, from lookup to withdrawal), the cache's object list
//! (same span, used to withdraw everything on unbind), each anonymous fd
//! of the object, each on-demand request for it, and its queued re-open
//! work.  Each object is counted in fscache (`count_object`) until it is
//! freed, so unbinding waits for all of them.  An object holds its
//! cookie (a counted reference), the cache, and the cache's bound
//! resources (mount, credentials), so whatever outlives withdrawal (an
//! fd, a request) finds everything it touches alive.
//!
//! # Locking
//!
//! * `file` (C `object->lock`, a spinlock): the backing file; users clone
//!   the reference and drop the lock at once.
//! * `od` (C `info->lock`, a spinlock): the on-demand state
//!   ([`ObjectState`]).  Taken inside the cache's request-table mutex,
//!   never the other way round.
//! * `ahead` (a spinlock): the last READ asked for ahead of a reader
//!   (`read_ahead`, `io.rs`); taken alone, for a copy or a store.

use crate::cachefiles::internal::{Bound, Cache, CacheVolume, CountedCookie, Object};
use crate::kernel_ext::fscache::Cookie;
use crate::kernel_ext::trace;
use crate::kernel_ext::vfs::{Dentry, DirGuard, FileRef, Inode, S_KERNEL_FILE};
use crate::logic::cmd::errno::*;
use crate::logic::cmd::Errno;
use crate::logic::layout;
use crate::logic::object_state::ObjectState;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use kernel::init::InPlaceInit;
use kernel::prelude::{pin_init, GFP_KERNEL};
use kernel::sync::Arc;

/// The last debug id given to an object (C's `cachefiles_object_debug_id`).
static OBJECT_DEBUG_ID: AtomicU32 = AtomicU32::new(0);

/// Cache files are sized in whole direct-I/O blocks.
pub(super) const DIO_BLOCK_SIZE: u64 = 4096;

impl Object {
    /// A new object for `cookie`, counted in fscache.
    pub(super) fn new(
        cache: Arc<Cache>,
        bound: Arc<Bound>,
        cookie: &Cookie<Cache>,
    ) -> Result<Arc<Self>, Errno> {
        let name = layout::cook_key(cookie.key()).ok_or(EINVAL)?;
        cookie.count_object();
        let counted = CountedCookie(cookie.get());
        let ondemand = cache.ondemand();
        let debug_id = OBJECT_DEBUG_ID
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1);
        Arc::pin_init(
            pin_init!(Object {
                debug_id,
                cookie: counted,
                cache,
                bound,
                name,
                file <- kernel::new_spinlock!(None, "cachefiles_rs_object_file"),
                using_tmpfile: AtomicBool::new(false),
                ondemand,
                od <- kernel::new_spinlock!(ObjectState::new(), "cachefiles_rs_object_od"),
                work <- kernel::new_work!("cachefiles_rs_object_reopen"),
                ahead <- kernel::new_spinlock!(None, "cachefiles_rs_object_ahead"),
            }),
            GFP_KERNEL,
        )
        .map_err(|_| ENOMEM)
    }

    /// The fan-out directory of the object in `vol`.
    pub(super) fn fan<'a>(&self, vol: &'a CacheVolume) -> Option<&'a Dentry> {
        vol.fanout_dir((self.cookie().key_hash() & 0xff) as u8)
    }

    /// Runs `f` on the object's file and its fan-out directory, the
    /// directory locked; `None` (and `f` not run) without a file, volume or
    /// fan-out directory.
    pub(super) fn with_fan_locked<R>(
        &self,
        f: impl FnOnce(&FileRef, &Dentry, &DirGuard<'_>) -> R,
    ) -> Option<R> {
        let (Some(vol), Some(file)) = (self.cookie().volume_data(), self.file()) else {
            return None;
        };
        let fan = self.fan(&vol)?;
        let lock = fan.lock_dir().ok()?;
        Some(f(&file, fan, &lock))
    }

    /// Marks `inode` in use by the cache for `self`; `false` if it already
    /// is (C's `cachefiles_mark_inode_in_use`).
    pub(super) fn mark_in_use(&self, inode: &Inode) -> bool {
        let lock = inode.lock();
        if lock.flags() & S_KERNEL_FILE != 0 {
            trace::mark_failed(self.debug_id, inode.ino());
            return false;
        }
        lock.update_flags(S_KERNEL_FILE, 0);
        trace::mark_active(self.debug_id, inode.ino());
        true
    }

    /// Unmarks `inode` (C's `cachefiles_do_unmark_inode_in_use`).
    pub(super) fn unmark_in_use(&self, inode: &Inode) {
        let lock = inode.lock();
        lock.update_flags(0, S_KERNEL_FILE);
        trace::mark_inactive(self.debug_id, inode.ino());
    }

    /// Unmarks the backing file and tells the daemon there is something
    /// it could cull (C's `cachefiles_unmark_inode_in_use`).
    pub(super) fn release_file(&self, file: &FileRef) {
        self.unmark_in_use(file.inode());
        if !self.using_tmpfile.load(Ordering::Acquire) {
            self.cache.file_released(file.inode().blocks());
        }
    }
}
