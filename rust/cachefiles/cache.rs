// SPDX-License-Identifier: GPL-2.0

//! A cache: the state behind one open of `/dev/cachefiles`, its lifetime
//! (unbind pins), flags and free-space accounting (C's `cache.c`).
//!
//! # Lifetime
//!
//! A [`Cache`] is created by `open()` and lives in an `Arc`.  Independently
//! of memory, it has an *unbind pin count* (`pins`): the devnode file holds
//! one pin, and (with on-demand mode) every anonymous fd holds one.  When
//! the last pin goes, the cache is unbound: withdrawn from fscache, its
//! backing directories released, and the device may be opened again.  The
//! `Arc` given to fscache as `cache_priv` is released by that unbind, which
//! breaks the only reference cycle.
//!
//! # Locking
//!
//! * `state` (the C `daemon_mutex`) serialises commands and protects the
//!   configuration (limits, dir, tag, secctx) and the binding procedure.
//! * `bound` (a spinlock) protects only the slot holding the [`Bound`]
//!   resources; they are immutable once published, so users clone the `Arc`
//!   and drop the lock at once (no sleeping under it).
//! * `flags` and the counters are atomics.
//! * `objects` (a mutex) lists the live objects, to withdraw them on
//!   unbind; `reqs` (a mutex) holds the on-demand requests (see
//!   [`crate::cachefiles::ondemand`]).  Neither is held while calling into fscache.

use crate::cachefiles::object::Object;
use crate::cachefiles::ondemand;
use crate::cachefiles::ondemand::Requests;
use crate::kernel_ext::fscache::{CacheCookie, VolumeList};
use crate::kernel_ext::poll::{PollQueue, WaitKey};
use crate::kernel_ext::vfs;
use crate::kernel_ext::vfs::{Cred, Dentry, Mount, S_KERNEL_FILE};
use crate::logic::cmd::errno::*;
use crate::logic::cmd::{Errno, Limits, Space, Thresholds};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use kernel::init::InPlaceInit;
use kernel::prelude::{pin_data, pin_init, pr_err, pr_info, KVec, GFP_KERNEL};
use kernel::rbtree::RBTree;
use kernel::sync::{Arc, Mutex, SpinLock};

/// The cache has been bound to a directory and registered (`READY`).
pub(super) const READY: usize = 1 << 0;

/// The devnode was closed or an I/O error happened; never cleared (`DEAD`).
pub(super) const DEAD: usize = 1 << 1;

/// The backing filesystem is short of space: cull (`CULLING`).
pub(super) const CULLING: usize = 1 << 2;

/// The daemon has something to read in normal mode (`STATE_CHANGED`).
pub(super) const STATE_CHANGED: usize = 1 << 3;

/// `bind ondemand` was requested (`ONDEMAND_MODE`).
pub(super) const ONDEMAND: usize = 1 << 4;

/// Whether a daemon holds the device: it may be open once system-wide, and
/// stays taken until the cache behind it is unbound.
static DEVICE_TAKEN: AtomicBool = AtomicBool::new(false);

static POLLWQ_KEY: WaitKey = WaitKey::new();

/// Configuration set by commands before `bind`.
pub(super) struct Config {
    pub(super) limits: Limits,
    /// `dir`: the cache root, NUL-terminated.
    pub(super) rootdir: Option<KVec<u8>>,
    /// `tag`: the cache's name in fscache, NUL-terminated.
    pub(super) tag: Option<KVec<u8>>,
    /// `secctx`: the LSM identity the cache acts with.
    pub(super) secid: Option<u32>,
}

/// A directory of the cache, marked in use (`S_KERNEL_FILE`) so that
/// `cull` and `rmdir` leave it alone; unmarked and released on drop.
pub(super) struct CacheDir {
    pub(super) dentry: Dentry,
}

impl Drop for CacheDir {
    fn drop(&mut self) {
        if let Some(inode) = self.dentry.inode() {
            inode.lock().update_flags(0, S_KERNEL_FILE);
            crate::kernel_ext::trace::mark_inactive(0, inode.ino());
        }
    }
}

/// What a bound cache holds; immutable once published.
///
/// Fields drop in declaration order, which is the required teardown order:
/// the fscache cookie first (after withdrawal), then the directories, and
/// the mount only after every dentry on it is released.
pub(crate) struct Bound {
    pub(super) cookie: CacheCookie<Cache>,
    pub(super) store: CacheDir,
    pub(super) graveyard: CacheDir,
    pub(crate) mnt: Mount,
    /// The credentials the cache acts with on the backing filesystem.
    pub(crate) cred: Cred,
    pub(crate) thresholds: Thresholds,
    /// The backing filesystem's block size (at most a page).
    pub(crate) bsize: u64,
}

/// The state behind one open of the devnode.
#[pin_data]
pub(crate) struct Cache {
    pub(super) flags: AtomicUsize,
    /// Unbind pins: the devnode file and the anonymous fds.
    pub(super) pins: AtomicUsize,
    #[pin]
    pub(super) config: Mutex<Config>,
    #[pin]
    pub(super) bound: SpinLock<Option<Arc<Bound>>>,
    #[pin]
    pub(super) pollwq: PollQueue,
    /// The volumes this cache serves (C's `cache->volumes`), by address:
    /// needed to withdraw them on unbind.  A mutex, as inserting allocates
    /// with `GFP_KERNEL`.
    #[pin]
    pub(super) volumes: VolumeList<Cache>,
    /// The live objects, by address (C's `object_list`).
    #[pin]
    pub(super) objects: Mutex<RBTree<usize, Arc<Object>>>,
    /// On-demand requests (C's `reqs` and `ondemand_ids`).
    #[pin]
    pub(crate) reqs: Mutex<Requests>,
    pub(super) f_released: AtomicU32,
    pub(super) b_released: AtomicU64,
    pub(super) b_writing: AtomicU64,
    pub(super) gravecounter: AtomicU32,
}

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
                flags: AtomicUsize::new(0),
                pins: AtomicUsize::new(1),
                config <- kernel::new_mutex!(Config {
                    limits: Limits::default(),
                    rootdir: None,
                    tag: None,
                    secid: None,
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

    /// The devnode is being closed: the cache is dead from now on, and
    /// every pending on-demand request fails.
    pub(crate) fn release(self: Arc<Self>) {
        self.set(DEAD);
        if self.ondemand() {
            ondemand::flush(&self);
        }
        self.put_pin();
    }

    /// Takes an unbind pin (for an anonymous fd).
    pub(crate) fn get_pin(&self) {
        self.pins.fetch_add(1, Ordering::AcqRel);
    }

    /// Drops an unbind pin; the last one unbinds the cache.
    pub(crate) fn put_pin(&self) {
        if self.pins.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.unbind();
            DEVICE_TAKEN.store(false, Ordering::Release);
        }
    }

    /// Takes the cache out of service (C's `cachefiles_daemon_unbind`).
    pub(super) fn unbind(&self) {
        let Some(bound) = self.bound.lock().take() else {
            return;
        };
        if self.test(READY) {
            pr_info!(
                "File cache on {} unregistering\n",
                bound.cookie.name().to_str().unwrap_or("?")
            );
            bound.cookie.withdraw();
            self.withdraw_volume_accesses();
            self.withdraw_objects();
            bound.cookie.wait_for_objects();
            let _creds = bound.cred.override_current();
            self.withdraw_volumes(&bound);
            if let Err(e @ EIO) = bound.store.dentry.sync_fs() {
                self.io_error(format_args!(
                    "Attempt to sync backing fs superblock returned error {}",
                    -e.0
                ));
            }
        }
        // Dropping `bound` relinquishes the cookie (releasing fscache's
        // reference to us), unmarks the directories and puts the mount and
        // credentials.
        drop(bound);
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
        self.b_writing.fetch_add(blocks, Ordering::AcqRel);
        let r = write();
        self.b_writing.fetch_sub(blocks, Ordering::AcqRel);
        r
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
            ondemand::flush(self);
        }
    }

    /// Records a state change and wakes the daemon's pollers.
    pub(super) fn state_changed(&self) {
        self.set(STATE_CHANGED);
        self.pollwq.wake_all();
    }

    /// Checks the backing filesystem for room for `fnr` files and `bnr`
    /// blocks, and starts or stops culling (C's `cachefiles_has_space`).
    pub(crate) fn has_space(
        &self,
        mnt: &Mount,
        thresholds: &Thresholds,
        fnr: u64,
        bnr: u64,
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
