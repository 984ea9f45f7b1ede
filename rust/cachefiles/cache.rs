// SPDX-License-Identifier: GPL-2.0

//! A cache: the state behind one open of `/dev/cachefiles`, its commands,
//! binding to a directory and registration with fscache.
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
use crate::cachefiles::ondemand::{self, Requests};
use crate::kernel_ext::fscache::{
    CacheCookie, CacheOps, Cookie, Cres, ReadHole, Source, VolumeHandle, Want,
};
use crate::kernel_ext::poll::{PollQueue, WaitKey, EPOLLIN, EPOLLOUT};
use crate::kernel_ext::vfs::IovIter;
use crate::kernel_ext::vfs::{self, Cred, Dentry, Mount, Path, RenameLock, S_KERNEL_FILE};
use crate::logic::cmd::{self, errno::*, Command, Errno, Limit, Limits, Space, Thresholds};
use crate::logic::layout;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use kernel::init::InPlaceInit;
use kernel::prelude::{
    pin_data, pin_init, pr_err, pr_info, pr_notice, pr_warn, CStr, KBox, KVec, GFP_KERNEL,
};
use kernel::rbtree::RBTree;
use kernel::str::BStr;
use kernel::sync::{Arc, ArcBorrow, Mutex, SpinLock};

/// The cache has been bound to a directory and registered (`READY`).
const READY: usize = 1 << 0;
/// The devnode was closed or an I/O error happened; never cleared (`DEAD`).
const DEAD: usize = 1 << 1;
/// The backing filesystem is short of space: cull (`CULLING`).
const CULLING: usize = 1 << 2;
/// The daemon has something to read in normal mode (`STATE_CHANGED`).
const STATE_CHANGED: usize = 1 << 3;
/// `bind ondemand` was requested (`ONDEMAND_MODE`).
const ONDEMAND: usize = 1 << 4;

/// Whether a daemon holds the device: it may be open once system-wide, and
/// stays taken until the cache behind it is unbound.
static DEVICE_TAKEN: AtomicBool = AtomicBool::new(false);

static POLLWQ_KEY: WaitKey = WaitKey::new();

/// Configuration set by commands before `bind`.
struct Config {
    limits: Limits,
    /// `dir`: the cache root, NUL-terminated.
    rootdir: Option<KVec<u8>>,
    /// `tag`: the cache's name in fscache, NUL-terminated.
    tag: Option<KVec<u8>>,
    /// `secctx`: the LSM identity the cache acts with.
    secid: Option<u32>,
}

/// A directory of the cache, marked in use (`S_KERNEL_FILE`) so that
/// `cull` and `rmdir` leave it alone; unmarked and released on drop.
struct CacheDir {
    dentry: Dentry,
}

impl Drop for CacheDir {
    fn drop(&mut self) {
        if let Some(inode) = self.dentry.inode() {
            inode.lock().update_flags(0, S_KERNEL_FILE);
        }
    }
}

/// A volume as this cache serves it (C's `struct cachefiles_volume`): its
/// directory `cache/I<key>` and the 256 fan-out directories in it, all
/// marked in use.  Kept in the fscache volume's `cache_priv`.
pub(crate) struct CacheVolume {
    /// The fan-out directories `@00`..`@ff` (dropped before `dentry`).
    fanout: KVec<CacheDir>,
    dentry: CacheDir,
}

impl CacheVolume {
    /// Fan-out directory `i` (`@xx`).
    pub(crate) fn fanout_dir(&self, i: u8) -> Option<&Dentry> {
        self.fanout.get(usize::from(i)).map(|d| &d.dentry)
    }
}

/// What a bound cache holds; immutable once published.
///
/// Fields drop in declaration order, which is the required teardown order:
/// the fscache cookie first (after withdrawal), then the directories, and
/// the mount only after every dentry on it is released.
pub(crate) struct Bound {
    cookie: CacheCookie<Cache>,
    store: CacheDir,
    graveyard: CacheDir,
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
    flags: AtomicUsize,
    /// Unbind pins: the devnode file and the anonymous fds.
    pins: AtomicUsize,
    #[pin]
    config: Mutex<Config>,
    #[pin]
    bound: SpinLock<Option<Arc<Bound>>>,
    #[pin]
    pollwq: PollQueue,
    /// The volumes this cache serves (C's `cache->volumes`), by address:
    /// needed to withdraw them on unbind.  A mutex, as inserting allocates
    /// with `GFP_KERNEL`.
    #[pin]
    volumes: Mutex<RBTree<usize, VolumeHandle<Cache>>>,
    /// The live objects, by address (C's `object_list`).
    #[pin]
    objects: Mutex<RBTree<usize, Arc<Object>>>,
    /// On-demand requests (C's `reqs` and `ondemand_ids`).
    #[pin]
    pub(crate) reqs: Mutex<Requests>,
    f_released: AtomicU32,
    b_released: AtomicU64,
    b_writing: AtomicU64,
    gravecounter: AtomicU32,
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
                volumes <- kernel::new_mutex!(RBTree::new()),
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

    fn test(&self, bit: usize) -> bool {
        self.flags.load(Ordering::Acquire) & bit != 0
    }

    fn set(&self, bit: usize) -> bool {
        self.flags.fetch_or(bit, Ordering::AcqRel) & bit != 0
    }

    fn clear(&self, bit: usize) -> bool {
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
    fn unbind(&self) {
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
    fn withdraw_objects(&self) {
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

    /// Waits for accesses to each volume still in use to drain (C's
    /// `cachefiles_withdraw_fscache_volumes`).
    fn withdraw_volume_accesses(&self) {
        loop {
            let busy = {
                let volumes = self.volumes.lock();
                let found = volumes
                    .values()
                    .filter(|v| v.has_accesses())
                    .find_map(|v| v.try_get());
                found
            };
            // The list lock is not held here: dropping the reference may
            // free the volume, which calls `free_volume`, which takes it.
            let Some(volume) = busy else {
                return;
            };
            volume.withdraw();
        }
    }

    /// Releases every volume, leaving its xattr up to date (C's
    /// `cachefiles_withdraw_volumes`).
    fn withdraw_volumes(&self, bound: &Bound) {
        loop {
            let taken = {
                let mut volumes = self.volumes.lock();
                let Some((&addr, first)) = volumes.iter().next() else {
                    return;
                };
                match first.try_get() {
                    // Being freed: `free_volume` will remove it; let it run.
                    None => None,
                    Some(volume) => {
                        volumes.remove(&addr);
                        Some(volume)
                    }
                }
            };
            let Some(volume) = taken else {
                vfs::cond_resched();
                continue;
            };
            if let Some(data) = volume.take_data() {
                let _ = self.set_volume_xattr(bound, &data.dentry.dentry, volume.coherency());
            }
        }
    }

    /// Writes a volume directory's xattr (C's `cachefiles_set_volume_xattr`).
    fn set_volume_xattr(&self, bound: &Bound, dir: &Dentry, coherency: &[u8]) -> Result<(), Errno> {
        let mut buf = [0u8; layout::VOLUME_XATTR_HEADER + 255];
        let len = layout::encode_volume_xattr(&mut buf, coherency).ok_or(EINVAL)?;
        bound
            .mnt
            .set_xattr(dir, xattr_name(), &buf[..len])
            .inspect_err(|e| {
                if *e != ENOMEM {
                    self.io_error(format_args!("Failed to set xattr with error {}", -e.0));
                }
            })
    }

    /// Checks a volume directory's xattr against the volume's coherency
    /// data: `ESTALE` if it differs (C's `cachefiles_check_volume_xattr`).
    fn check_volume_xattr(&self, dir: &Dentry, coherency: &[u8]) -> Result<(), Errno> {
        let mut buf = [0u8; layout::VOLUME_XATTR_HEADER + 255];
        let want = layout::VOLUME_XATTR_HEADER + coherency.len();
        match dir.get_xattr(xattr_name(), &mut buf[..want]) {
            Ok(n) if n == want && layout::volume_xattr_matches(&buf[..n], coherency) => Ok(()),
            Ok(_) => Err(ESTALE),
            Err(e) => {
                if e == EIO {
                    self.io_error(format_args!("Failed to read xattr with error {}", -e.0));
                }
                Err(e)
            }
        }
    }

    /// Sets up `volume`'s directories (C's `cachefiles_acquire_volume`).
    fn acquire_volume(&self, volume: &VolumeHandle<Cache>) -> Option<KBox<CacheVolume>> {
        let bound = self.bound()?;
        let _as_cache = bound.cred.override_current();
        let name = layout::volume_dir_name(volume.key())?;
        let store = &bound.store.dentry;
        let dentry = loop {
            let (dir, is_new) = self
                .get_directory(&bound.mnt, store, &bound.thresholds, name.as_bytes())
                .ok()?;
            if is_new {
                self.set_volume_xattr(&bound, &dir.dentry, volume.coherency())
                    .ok()?;
                break dir;
            }
            match self.check_volume_xattr(&dir.dentry, volume.coherency()) {
                Ok(()) => break dir,
                Err(ESTALE) => {
                    // A directory left by another volume of the same name:
                    // bury it and start again.
                    let store_lock = store.inode()?.lock_parent();
                    let _ = self.bury(&bound, store, store_lock, &dir.dentry);
                    drop(dir);
                    vfs::cond_resched();
                }
                Err(_) => return None,
            }
        };
        let mut fanout = KVec::with_capacity(256, GFP_KERNEL).ok()?;
        for i in 0..=u8::MAX {
            let (fan, _) = self
                .get_directory(
                    &bound.mnt,
                    &dentry.dentry,
                    &bound.thresholds,
                    &layout::fanout_name(i),
                )
                .ok()?;
            fanout.push(fan, GFP_KERNEL).ok()?;
        }
        let data = KBox::new(CacheVolume { fanout, dentry }, GFP_KERNEL).ok()?;
        self.volumes
            .lock()
            .try_create_and_insert(volume.addr(), volume.clone(), GFP_KERNEL)
            .ok()?;
        // Keep fscache from waiting for the volume to go idle until unbind.
        volume.pin_access();
        Some(data)
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
    fn state_changed(&self) {
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

    fn begin_cull(&self) {
        if !self.set(CULLING) {
            self.state_changed();
        }
    }

    /// Normal-mode `read()`: the status line.  `write` copies it out.
    pub(crate) fn read(
        self: &Arc<Self>,
        buflen: usize,
        write: impl FnOnce(&[u8]) -> Result<(), Errno>,
    ) -> Result<usize, Errno> {
        if !self.test(READY) {
            return Ok(0);
        }
        if self.ondemand() {
            return ondemand::daemon_read(self, buflen, write);
        }
        let Some(bound) = self.bound() else {
            return Ok(0);
        };
        // Like C, the outcome of the check only matters for its effect on
        // the culling state.
        let _ = self.has_space(&bound.mnt, &bound.thresholds, 0, 0);
        let freleased = self.f_released.swap(0, Ordering::AcqRel);
        let breleased = self.b_released.swap(0, Ordering::AcqRel);
        self.clear(STATE_CHANGED);
        let mut buf = [0u8; cmd::STATUS_MAX];
        let n = cmd::format_status(
            &mut buf,
            self.test(CULLING),
            &bound.thresholds,
            freleased,
            breleased,
        );
        if n > buflen {
            return Err(EMSGSIZE);
        }
        write(&buf[..n])?;
        Ok(n)
    }

    /// `poll()` mask.
    pub(crate) fn poll_mask(&self) -> u32 {
        let mut mask = 0;
        if self.ondemand() {
            if ondemand::has_readable(self) {
                mask |= EPOLLIN;
            }
        } else if self.test(STATE_CHANGED) {
            mask |= EPOLLIN;
        }
        if self.test(CULLING) {
            mask |= EPOLLOUT;
        }
        mask
    }

    /// The wait queue `poll()` registers on.
    pub(crate) fn pollwq(&self) -> &PollQueue {
        &self.pollwq
    }

    /// `write()`: parses and runs one command.
    pub(crate) fn write(self: &Arc<Self>, data: &[u8]) -> Result<(), Errno> {
        let (command, args) = cmd::parse_request(data, kernel::page::PAGE_SIZE)?;
        let mut config = self.config.lock();
        if self.test(DEAD) {
            return Err(EIO);
        }
        self.run(&mut config, command, args)
    }

    /// Checks that a write may be attempted at all, before copying it in.
    pub(crate) fn check_write(&self, len: usize) -> Result<(), Errno> {
        if self.test(DEAD) {
            return Err(EIO);
        }
        if len > kernel::page::PAGE_SIZE - 1 {
            return Err(EOPNOTSUPP);
        }
        Ok(())
    }

    fn run(
        self: &Arc<Self>,
        config: &mut Config,
        command: Command,
        args: &[u8],
    ) -> Result<(), Errno> {
        match command {
            Command::Bind => self.bind(config, args),
            Command::Brun => set_limit(config, Limit::Brun, args),
            Command::Bcull => set_limit(config, Limit::Bcull, args),
            Command::Bstop => set_limit(config, Limit::Bstop, args),
            Command::Frun => set_limit(config, Limit::Frun, args),
            Command::Fcull => set_limit(config, Limit::Fcull, args),
            Command::Fstop => set_limit(config, Limit::Fstop, args),
            Command::Cull => self.cull_or_inuse(args, true),
            Command::Inuse => self.cull_or_inuse(args, false),
            Command::Debug => match cmd::parse_debug(args) {
                Ok(mask) => {
                    crate::kernel_ext::param::set_debug_mask(mask);
                    Ok(())
                }
                Err(e) => {
                    pr_err!("debug command requires mask\n");
                    Err(e)
                }
            },
            Command::Dir => {
                if args.is_empty() {
                    pr_err!("Empty directory specified\n");
                    return Err(EINVAL);
                }
                if config.rootdir.is_some() {
                    pr_err!("Second cache directory specified\n");
                    return Err(EEXIST);
                }
                config.rootdir = Some(nul_terminated(args)?);
                Ok(())
            }
            Command::Tag => {
                if args.is_empty() {
                    pr_err!("Empty tag specified\n");
                    return Err(EINVAL);
                }
                if config.tag.is_some() {
                    return Err(EEXIST);
                }
                config.tag = Some(nul_terminated(args)?);
                Ok(())
            }
            Command::Secctx => {
                if args.is_empty() {
                    pr_err!("Empty security context specified\n");
                    return Err(EINVAL);
                }
                if config.secid.is_some() {
                    pr_err!("Second security context specified\n");
                    return Err(EINVAL);
                }
                config.secid = Some(vfs::secctx_to_secid(args)?);
                Ok(())
            }
            Command::Copen => {
                if !self.ondemand() {
                    return Err(EOPNOTSUPP);
                }
                ondemand::copen(self, args)
            }
            Command::Restore => {
                if !self.ondemand() {
                    return Err(EOPNOTSUPP);
                }
                ondemand::restore(self);
                Ok(())
            }
        }
    }

    /// `bind [ondemand]`.
    fn bind(self: &Arc<Self>, config: &mut Config, args: &[u8]) -> Result<(), Errno> {
        if !config.limits.consistent() {
            return Err(ERANGE);
        }
        let Some(rootdir) = config.rootdir.as_ref() else {
            pr_err!("No cache directory specified\n");
            return Err(EINVAL);
        };
        if self.test(READY) {
            pr_err!("Cache already bound\n");
            return Err(EBUSY);
        }
        if args == b"ondemand" {
            // Like C, the mode sticks even if the binding below fails.
            self.set(ONDEMAND);
        } else if !args.is_empty() {
            pr_err!("Invalid argument to the 'bind' command\n");
            return Err(EINVAL);
        }
        if config.tag.is_none() {
            config.tag = Some(nul_terminated(b"CacheFiles")?);
        }
        let tag = config
            .tag
            .as_deref()
            .and_then(|t| CStr::from_bytes_with_nul(t).ok())
            .ok_or(EINVAL)?;
        let rootdir = CStr::from_bytes_with_nul(rootdir).map_err(|_| EINVAL)?;
        self.add_cache(config, tag, rootdir).inspect_err(|e| {
            pr_err!("Failed to register: {}\n", -e.0);
        })
    }

    /// Brings the cache online (C's `cachefiles_add_cache`).
    fn add_cache(
        self: &Arc<Self>,
        config: &Config,
        tag: &CStr,
        rootdir: &CStr,
    ) -> Result<(), Errno> {
        let cookie = CacheCookie::<Cache>::acquire(tag)?;

        let mut cred = Cred::kernel()?;
        if let Some(secid) = config.secid {
            cred.set_secid(secid).inspect_err(|e| {
                pr_err!(
                    "Security denies permission to nominate security context: error {}\n",
                    -e.0
                );
            })?;
        }
        let path = {
            let _as_cache = cred.override_current();
            Path::lookup(rootdir, true)?
        };
        let root = &path.dentry;
        if path.mnt.is_idmapped() {
            pr_warn!("File cache on idmapped mounts not supported");
            return Err(EINVAL);
        }
        if !root.inode().is_some_and(|i| i.has_root_ops()) || !root.sb_is_usable() {
            return Err(EOPNOTSUPP);
        }
        if root.sb_is_rdonly() {
            return Err(EROFS);
        }

        // Files are created with the root directory's security context: the
        // credentials become a copy of the kernel ones with that context.
        let cred = {
            let as_cache = cred.override_current();
            let mut files_as = Cred::current_copy()?;
            drop(as_cache);
            files_as.create_files_as(root)?;
            files_as
        };

        let (store, graveyard, thresholds, bsize) = {
            let _as_cache = cred.override_current();
            match vfs::may_create_in(root) {
                Err(e) if e != EOPNOTSUPP => return Err(e),
                _ => {}
            }
            let st = path.mnt.statfs(root.as_ptr())?;
            if st.f_bsize <= 0 {
                return Err(ERANGE);
            }
            if st.f_bsize as u64 > kernel::page::PAGE_SIZE as u64 {
                return Err(EOPNOTSUPP);
            }
            let thresholds = Thresholds::new(&config.limits, st.f_files, st.f_blocks);
            let (store, _) = self.get_directory(&path.mnt, root, &thresholds, b"cache")?;
            let (graveyard, _) = self.get_directory(&path.mnt, root, &thresholds, b"graveyard")?;
            (store, graveyard, thresholds, st.f_bsize as u64)
        };

        let Path { mnt, dentry: root } = path;
        drop(root);
        let bound = Arc::new(
            Bound {
                cookie,
                store,
                graveyard,
                mnt,
                cred,
                thresholds,
                bsize,
            },
            GFP_KERNEL,
        )
        .map_err(|_| ENOMEM)?;
        *self.bound.lock() = Some(bound.clone());
        if let Err(e) = bound.cookie.add(self.clone()) {
            *self.bound.lock() = None;
            return Err(e);
        }
        self.set(READY);
        pr_info!(
            "File cache on {} registered\n",
            bound.cookie.name().to_str().unwrap_or("?")
        );
        let _as_cache = bound.cred.override_current();
        let _ = self.has_space(&bound.mnt, &bound.thresholds, 0, 0);
        Ok(())
    }

    /// Looks up or creates the directory `name` in `dir` and marks it in
    /// use (C's `cachefiles_get_directory`).
    fn get_directory(
        &self,
        mnt: &Mount,
        dir: &Dentry,
        thresholds: &Thresholds,
        name: &[u8],
    ) -> Result<(CacheDir, bool), Errno> {
        let dir_inode = dir.inode().ok_or(ENOENT)?;
        let mut is_new = false;
        let subdir = loop {
            let dir_lock = dir_inode.lock_parent();
            let subdir = dir.lookup(name, &dir_lock).inspect_err(|e| {
                if *e != ENOMEM {
                    pr_err!(
                        "Lookup {} failed with error {}\n",
                        BStr::from_bytes(name),
                        -e.0
                    );
                }
            })?;
            if subdir.is_negative() {
                let made = self
                    .has_space(mnt, thresholds, 1, 0)
                    .and_then(|()| mnt.mkdir(dir, &dir_lock, &subdir, 0o700));
                if let Err(e) = made {
                    pr_err!(
                        "mkdir {} failed with error {}\n",
                        BStr::from_bytes(name),
                        -e.0
                    );
                    return Err(e);
                }
                is_new = true;
                if subdir.is_unhashed() {
                    continue;
                }
            }
            let inode = subdir.inode().ok_or(ENOENT)?;
            let sub_lock = inode.lock();
            drop(dir_lock);
            if sub_lock.flags() & S_KERNEL_FILE != 0 {
                pr_notice!(
                    "cachefiles: Inode already in use: {}\n",
                    BStr::from_bytes(name)
                );
                drop(sub_lock);
                return Err(EBUSY);
            }
            sub_lock.update_flags(S_KERNEL_FILE, 0);
            drop(sub_lock);
            break CacheDir { dentry: subdir };
        };
        if !subdir.dentry.can_lookup() {
            pr_err!("{} is not a directory\n", BStr::from_bytes(name));
            return Err(EIO);
        }
        if !subdir.dentry.inode().is_some_and(|i| i.has_dir_ops()) {
            return Err(EPERM);
        }
        Ok((subdir, is_new))
    }

    /// `cull <name>` / `inuse <name>` on the caller's working directory.
    fn cull_or_inuse(&self, args: &[u8], cull: bool) -> Result<(), Errno> {
        let what = if cull { "cull" } else { "inuse" };
        if args.contains(&b'/') {
            pr_err!("{} command requires dirfd and filename\n", what);
            return Err(EINVAL);
        }
        if !self.test(READY) {
            pr_err!("{} applied to unready cache\n", what);
            return Err(EIO);
        }
        if self.test(DEAD) {
            pr_err!("{} applied to dead cache\n", what);
            return Err(EIO);
        }
        let Some(bound) = self.bound() else {
            return Err(EIO);
        };
        let pwd = Path::pwd();
        if !pwd.dentry.can_lookup() {
            pr_err!("{} command requires dirfd to be a directory\n", what);
            return Err(ENOTDIR);
        }
        let _as_cache = bound.cred.override_current();
        let (victim, dir_lock) = self.lookup_for_cull(&pwd.dentry, args)?;
        if !cull {
            return Ok(());
        }
        self.cull(&bound, &pwd.dentry, dir_lock, victim)
    }

    /// Looks `name` up in `dir` for culling; returns it with `dir` locked,
    /// or `EBUSY` if the cache uses it (C's `cachefiles_lookup_for_cull`).
    fn lookup_for_cull<'d>(
        &self,
        dir: &'d Dentry,
        name: &[u8],
    ) -> Result<(Dentry, vfs::InodeGuard<'d>), Errno> {
        let dir_inode = dir.inode().ok_or(ENOENT)?;
        let dir_lock = dir_inode.lock_parent();
        let victim = dir.lookup(name, &dir_lock).map_err(|e| match e {
            // Probably retired by the netfs meanwhile.
            ENOENT => ESTALE,
            EIO => {
                self.io_error(format_args!("Lookup failed"));
                EIO
            }
            ENOMEM => ENOMEM,
            other => {
                pr_err!("Internal error: {}\n", -other.0);
                EIO
            }
        })?;
        match victim.inode() {
            None => Err(ENOENT),
            Some(i) if i.flags_unlocked() & S_KERNEL_FILE != 0 => Err(EBUSY),
            Some(_) => Ok((victim, dir_lock)),
        }
    }

    /// Culls `victim` from `dir` unless the cache uses it (C's
    /// `cachefiles_cull`); any failure past the lookup reads as `ESTALE`
    /// (gone), `ENOMEM` or `EIO`.
    fn cull(
        &self,
        bound: &Bound,
        dir: &Dentry,
        dir_lock: vfs::InodeGuard<'_>,
        victim: Dentry,
    ) -> Result<(), Errno> {
        let ret = (|| {
            let inode = victim.inode().ok_or(ENOENT)?;
            {
                let lock = inode.lock();
                if lock.flags() & S_KERNEL_FILE != 0 {
                    return Err(EBUSY);
                }
                // Stop the cache from picking it back up.
                lock.update_flags(S_KERNEL_FILE, 0);
            }
            self.bury(bound, dir, dir_lock, &victim)
        })();
        match ret {
            Ok(()) => Ok(()),
            Err(ENOENT) => Err(ESTALE),
            Err(ENOMEM) => Err(ENOMEM),
            Err(e) => {
                pr_err!("Internal error: {}\n", -e.0);
                Err(EIO)
            }
        }
    }

    /// Removes `rep` from `dir` (locked by `dir_lock`, released here): files
    /// are unlinked, directories moved to the graveyard (C's
    /// `cachefiles_bury_object`).
    pub(crate) fn bury(
        &self,
        bound: &Bound,
        dir: &Dentry,
        dir_lock: vfs::InodeGuard<'_>,
        rep: &Dentry,
    ) -> Result<(), Errno> {
        if !rep.has_parent(dir) {
            return Err(ESTALE);
        }
        if !rep.is_dir() {
            // Keep the dentry from going negative if only a file pins it.
            let _pin = rep.get();
            if let Err(e) = bound.mnt.may_unlink(dir, rep) {
                self.io_error(format_args!("Unlink security error"));
                return Err(e);
            }
            let ret = bound.mnt.unlink(dir, &dir_lock, rep);
            if ret == Err(EIO) {
                self.io_error(format_args!("Unlink failed"));
            }
            return ret;
        }
        drop(dir_lock);
        let graveyard = &bound.graveyard.dentry;
        loop {
            let mut nbuf = [0u8; 16];
            let stamp = vfs::real_seconds() as u32;
            let count = self
                .gravecounter
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_add(1);
            hex8(&mut nbuf[..8], stamp);
            hex8(&mut nbuf[8..], count);

            let locks = RenameLock::new(graveyard, dir)?;
            if !rep.has_parent(dir) || rep.inode().is_some_and(|i| i.is_dead_dir()) {
                // Culled while the parent was unlocked.
                return Ok(());
            }
            if !graveyard.can_lookup() {
                drop(locks);
                self.io_error(format_args!("Graveyard no longer a directory"));
                return Err(EIO);
            }
            if locks.is_trap(rep) {
                drop(locks);
                self.io_error(format_args!("May not make directory loop"));
                return Err(EIO);
            }
            if rep.is_mountpoint() {
                drop(locks);
                self.io_error(format_args!("Mountpoint in cache"));
                return Err(EIO);
            }
            let grave = match graveyard.lookup_renaming(&nbuf, &locks) {
                Ok(g) => g,
                Err(ENOMEM) => return Err(ENOMEM),
                Err(e) => {
                    drop(locks);
                    self.io_error(format_args!("Lookup error {}", -e.0));
                    return Err(EIO);
                }
            };
            if !grave.is_negative() {
                drop(locks);
                drop(grave);
                vfs::cond_resched();
                continue;
            }
            if grave.is_mountpoint() {
                drop(locks);
                self.io_error(format_args!("Mountpoint in graveyard"));
                return Err(EIO);
            }
            if locks.is_trap(&grave) {
                drop(locks);
                self.io_error(format_args!("May not make directory loop"));
                return Err(EIO);
            }
            match bound.mnt.may_rename(dir, rep, graveyard, &grave) {
                Err(e) => self.io_error(format_args!("Rename security error {}", -e.0)),
                Ok(()) => match bound.mnt.rename(&locks, dir, rep, graveyard, &grave) {
                    Ok(()) | Err(ENOMEM) => {}
                    Err(e) => self.io_error(format_args!("Rename failed with error {}", -e.0)),
                },
            }
            if let Some(i) = rep.inode() {
                // The parents are locked by the rename; C clears the mark
                // without the inode lock here too.
                i.clear_flags_unlocked(S_KERNEL_FILE);
            }
            return Ok(());
        }
    }
}

/// Sets one culling limit (`brun`, `fcull`, ...).
fn set_limit(config: &mut Config, which: Limit, args: &[u8]) -> Result<(), Errno> {
    let v = cmd::parse_percent(args)?;
    if !config.limits.set(which, v) {
        pr_err!("Free space limits must be in range 0%<=stop<cull<run<100%\n");
        return Err(EINVAL);
    }
    Ok(())
}

/// Copies `s` into a new NUL-terminated buffer.
fn nul_terminated(s: &[u8]) -> Result<KVec<u8>, Errno> {
    let mut v = KVec::with_capacity(s.len() + 1, GFP_KERNEL).map_err(|_| ENOMEM)?;
    v.extend_from_slice(s, GFP_KERNEL).map_err(|_| ENOMEM)?;
    v.push(0, GFP_KERNEL).map_err(|_| ENOMEM)?;
    Ok(v)
}

/// Writes `v` as 8 lower-case hex digits (C's `%08x`).
fn hex8(out: &mut [u8], v: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, o) in out.iter_mut().take(8).enumerate() {
        *o = HEX[((v >> (28 - 4 * i)) & 0xf) as usize];
    }
}

impl CacheOps for Cache {
    type VolumeData = CacheVolume;
    type Object = Object;

    fn acquire_volume(this: &Self, volume: VolumeHandle<Self>) -> Option<KBox<CacheVolume>> {
        Cache::acquire_volume(this, &volume)
    }

    fn free_volume(this: &Self, volume: VolumeHandle<Self>, data: KBox<CacheVolume>) {
        this.volumes.lock().remove(&volume.addr());
        drop(data);
    }

    fn lookup_cookie(this: ArcBorrow<'_, Self>, cookie: &Cookie<Self>) -> bool {
        Cache::lookup_cookie(&this.into(), cookie)
    }

    fn withdraw_cookie(this: &Self, cookie: &Cookie<Self>) {
        Cache::withdraw_cookie(this, cookie)
    }

    fn begin_operation(_this: &Self, cres: &mut Cres<'_, Self>, want: Want) -> bool {
        Cache::begin_operation(cres, want)
    }

    fn read(
        _this: &Self,
        cres: &mut Cres<'_, Self>,
        pos: i64,
        iter: &mut IovIter,
        hole: ReadHole,
    ) -> Result<usize, Errno> {
        Cache::read_object(cres, pos, iter, hole)
    }

    fn prepare_ondemand_read(
        _this: &Self,
        cres: &mut Cres<'_, Self>,
        start: i64,
        len: &mut usize,
        i_size: i64,
        flags: &mut usize,
    ) -> Source {
        Cache::prepare_ondemand_read(cres, start, len, i_size, flags)
    }

    fn query_occupancy(
        _this: &Self,
        cres: &mut Cres<'_, Self>,
        start: i64,
        len: usize,
        granularity: usize,
    ) -> Result<(i64, usize), Errno> {
        Cache::query_occupancy(cres, start, len, granularity)
    }
}

use crate::cachefiles::object::xattr_name;
