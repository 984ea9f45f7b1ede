// SPDX-License-Identifier: GPL-2.0

//! A cache's own state (C's `cache.c`, less binding): opening the device,
//! flags, the object list, I/O errors and the free-space checks that start
//! and stop culling.  The type [`Cache`] is in `internal.rs`; the unbind
//! pins and unbinding are in `unbind.rs`, binding in `bind.rs`, the
//! devnode's operations in `daemon.rs`.
//!
//! # Lifetime
//!
//! A [`Cache`] is created by `open()` and lives in an `Arc`.  Independently
//! of memory, it has an *unbind pin count* (`pins`): the devnode file holds
//! one pin, and (with on-demand mode) every anonymous fd holds one.  When
//! the last pin goes, the cache is unbound (`unbind.rs`): withdrawn from
//! fscache, its backing directories released, and the device may be
//! opened again.  The `Arc` given to fscache as `cache_priv` is released by
//! that unbind, which breaks the only reference cycle.
//!
//! # Locking
//!
//! * `config` (the C `daemon_mutex`) serialises commands and protects the
//!   configuration (limits, dir, tag, secctx) and the binding procedure.
//! * `bound` (a spinlock) protects only the slot holding the [`Bound`]
//!   resources; they are immutable once published, so users clone the `Arc`
//!   and drop the lock at once (no sleeping under it).
//! * `flags` and the counters are atomics.
//! * `objects` (a mutex) lists the live objects, to withdraw them on
//!   unbind; `reqs` (a mutex) holds the on-demand requests (see
//!   `ondemand/mod.rs`).  Neither is held while calling into fscache.

use crate::cachefiles::internal::{Bound, Cache, Config, Object, Requests, CULLING, DEAD};
use crate::cachefiles::internal::{DEVICE, ONDEMAND, STATE_CHANGED};
use crate::kernel_ext::fscache::{stats, VolumeList};
use crate::kernel_ext::poll::{PollQueue, WaitKey};
use crate::kernel_ext::vfs;
use crate::kernel_ext::vfs::Mount;
use crate::logic::cmd::errno::*;
use crate::logic::cmd::{Errno, Limits, Space, Thresholds};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use kernel::init::InPlaceInit;
use kernel::prelude::{pin_init, pr_err, GFP_KERNEL};
use kernel::rbtree::RBTree;
use kernel::sync::Arc;

/// Whether a daemon holds the device: it may be open once system-wide, and
/// stays taken until the cache behind it is unbound or orphaned
/// ([`Cache::release_device`]).  The cache holding it has the `DEVICE` flag.
static DEVICE_TAKEN: AtomicBool = AtomicBool::new(false);

static POLLWQ_KEY: WaitKey = WaitKey::new();

impl Cache {
    /// Opens the device: root only, one opener at a time.
    pub(crate) fn open() -> Result<Arc<Cache>, Errno> {
        if !vfs::capable_sys_admin() {
            return Err(EPERM);
        }
        if DEVICE_TAKEN.swap(true, Ordering::AcqRel) {
            return Err(EBUSY);
        }
        let cache = Arc::pin_init(
            pin_init!(Cache {
                flags: AtomicUsize::new(DEVICE),
                pins: AtomicUsize::new(1),
                config <- kernel::new_mutex!(Config {
                    limits: Limits::default(),
                    rootdir: None,
                    tag: None,
                    secid: None,
                    buffered: None,
                    recovery: None,
                }),
                bound <- kernel::new_spinlock!(None),
                pollwq <- PollQueue::new(kernel::c_str!("cachefiles_rs_pollwq"), &POLLWQ_KEY),
                volumes <- VolumeList::new(),
                objects <- kernel::new_mutex!(RBTree::new()),
                reqs <- kernel::new_mutex!(Requests::new()),
                f_released: AtomicU32::new(0),
                b_released: AtomicU64::new(0),
                b_writing: AtomicU64::new(0),
                gravecounter: AtomicU32::new(0),
            }),
            GFP_KERNEL,
        );
        cache.map_err(|_| {
            DEVICE_TAKEN.store(false, Ordering::Release);
            ENOMEM
        })
    }

    /// The cache is unbound (or orphaned) and gone from the devnode: if it
    /// holds the device, the device may be opened again.
    pub(super) fn release_device(&self) {
        if self.clear(DEVICE) {
            DEVICE_TAKEN.store(false, Ordering::Release);
        }
    }

    /// A file that made `from` now serves `to` (an orphan it adopted): the
    /// device stays taken, now by `to`.  `false` if `from` did not hold it.
    pub(super) fn move_device(from: &Cache, to: &Cache) -> bool {
        if !from.clear(DEVICE) {
            return false;
        }
        to.set(DEVICE);
        true
    }

    pub(super) fn test(&self, bit: usize) -> bool {
        self.flags.load(Ordering::Acquire) & bit != 0
    }

    pub(super) fn set(&self, bit: usize) -> bool {
        self.flags.fetch_or(bit, Ordering::AcqRel) & bit != 0
    }

    pub(super) fn clear(&self, bit: usize) -> bool {
        self.flags.fetch_and(!bit, Ordering::AcqRel) & bit != 0
    }

    pub(crate) fn bound(&self) -> Option<Arc<Bound>> {
        self.bound.lock().clone()
    }

    /// Whether the cache is in on-demand mode.
    pub(crate) fn ondemand(&self) -> bool {
        self.test(ONDEMAND)
    }

    /// Whether the cache is dead (devnode closed or I/O error).
    pub(crate) fn is_dead(&self) -> bool {
        self.test(DEAD)
    }

    /// Wakes the daemon's pollers.
    pub(crate) fn wake_daemon(&self) {
        self.pollwq.wake_all();
    }

    /// Asks fscache to withdraw every live object's cookie (C's
    /// `cachefiles_withdraw_objects`); `wait_for_objects` then waits for
    /// them to be freed.
    pub(super) fn withdraw_objects(&self) {
        loop {
            let object = {
                let mut objects = self.objects.lock();
                let Some(&addr) = objects.keys().next() else {
                    return;
                };
                objects.remove(&addr)
            };
            if let Some(object) = object {
                object.cookie().withdraw();
            }
            vfs::cond_resched();
        }
    }

    /// Lists a looked-up object (for withdrawal on unbind).
    pub(crate) fn add_object(&self, object: &Arc<Object>) -> Result<(), Errno> {
        let addr = &**object as *const Object as usize;
        self.objects
            .lock()
            .try_create_and_insert(addr, object.clone(), GFP_KERNEL)
            .map(|_| ())
            .map_err(|_| ENOMEM)
    }

    /// Unlists an object being withdrawn.
    pub(crate) fn remove_object(&self, object: &Object) {
        let addr = object as *const Object as usize;
        let removed = self.objects.lock().remove(&addr);
        drop(removed);
    }

    /// A backing file was released: the daemon may cull it (C's
    /// `cachefiles_unmark_inode_in_use` accounting).
    pub(crate) fn file_released(&self, blocks: u64) {
        self.b_released.fetch_add(blocks, Ordering::AcqRel);
        self.f_released.fetch_add(1, Ordering::AcqRel);
        self.state_changed();
    }

    /// Runs a write of `blocks` backing blocks, counted as in flight for
    /// the free-space checks meanwhile.
    pub(crate) fn writing<R>(&self, blocks: u64, write: impl FnOnce() -> R) -> R {
        self.start_writing(blocks);
        let r = write();
        self.end_writing(blocks);
        r
    }

    /// Counts a write of `blocks` backing blocks as in flight (C's
    /// `b_writing`), until [`Cache::end_writing`].
    pub(crate) fn start_writing(&self, blocks: u64) {
        self.b_writing.fetch_add(blocks, Ordering::AcqRel);
    }

    /// A write counted by [`Cache::start_writing`] ended.  Only an atomic
    /// operation: callable from an I/O completion (interrupt context).
    pub(crate) fn end_writing(&self, blocks: u64) {
        self.b_writing.fetch_sub(blocks, Ordering::AcqRel);
    }

    /// Marks the cache dead after an I/O error on the backing filesystem;
    /// pending on-demand requests fail.
    pub(crate) fn io_error(&self, what: core::fmt::Arguments<'_>) {
        pr_err!("I/O Error: {}\n", what);
        if let Some(b) = self.bound() {
            b.cookie.io_error();
        }
        self.set(DEAD);
        if self.ondemand() {
            self.flush_reqs();
        }
    }

    /// [`Cache::io_error`] about one object: the message ends with its
    /// debug id as `[o=%08x]` (C's `cachefiles_io_error_obj`).
    pub(crate) fn io_error_obj(&self, object: &Object, what: core::fmt::Arguments<'_>) {
        self.io_error(format_args!("{} [o={:08x}]", what, object.debug_id));
    }

    /// Fails every pending on-demand request: the cache is dead (C's
    /// `cachefiles_flush_reqs`).  The caller has set `DEAD`.
    pub(crate) fn flush_reqs(&self) {
        self.reqs.lock().finish_all(EIO);
    }

    /// Records a state change and wakes the daemon's pollers.
    pub(super) fn state_changed(&self) {
        self.set(STATE_CHANGED);
        self.pollwq.wake_all();
    }

    /// Checks the backing filesystem for room for `fnr` files and `bnr`
    /// blocks, and starts or stops culling (C's `cachefiles_has_space`);
    /// a refusal (`ENOBUFS`) for a write or a create is counted in fscache's
    /// `NoSpace` statistics as `why` says.
    pub(crate) fn has_space(
        &self,
        mnt: &Mount,
        thresholds: &Thresholds,
        fnr: u64,
        bnr: u64,
        why: SpaceFor,
    ) -> Result<(), Errno> {
        let st = mnt.statfs_root().inspect_err(|e| {
            if *e == EIO {
                self.io_error(format_args!("statfs failed"));
            }
        })?;
        let b_avail = st
            .f_bavail
            .saturating_sub(self.b_writing.load(Ordering::Relaxed));
        match thresholds.classify(st.f_ffree, b_avail, fnr, bnr) {
            Space::Stop => {
                match why {
                    SpaceFor::Write => stats::count_no_write_space(),
                    SpaceFor::Create => stats::count_no_create_space(),
                    SpaceFor::Check => {}
                }
                self.begin_cull();
                Err(ENOBUFS)
            }
            Space::Cull => {
                self.begin_cull();
                Ok(())
            }
            Space::Run => {
                if self.clear(CULLING) {
                    self.state_changed();
                }
                Ok(())
            }
            Space::Keep => Ok(()),
        }
    }

    pub(super) fn begin_cull(&self) {
        if !self.set(CULLING) {
            self.state_changed();
        }
    }
}

/// Why [`Cache::has_space`] is asked (C's `enum cachefiles_has_space_for`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SpaceFor {
    /// Only the culling state: a refusal is not counted.
    Check,
    /// A write to a backing file (`NoSpace nwr`).
    Write,
    /// A new backing file or directory (`NoSpace ncr`).
    Create,
}
