// SPDX-License-Identifier: GPL-2.0

//! The backend's data model (C's `internal.h`): the types that refer to
//! each other, and nothing that needs the code above them.
//!
//! A cache lists its objects and its on-demand requests; an object and a
//! request point back at their cache; a request holds its object.  Types
//! that name each other can only be layered if they live in one module, so
//! they are all here, as C declares `cachefiles_cache`,
//! `cachefiles_object`, `cachefiles_volume` and `cachefiles_req` together
//! in `internal.h`.  Their behaviour is in the modules above, one concept
//! each, in the order of [`crate::cachefiles`]'s documentation:
//! [`Cache`] in `cache.rs` (flags, space, errors), `unbind.rs` (pins,
//! unbinding), `bind.rs` and `daemon.rs`; [`Object`] in `object.rs`,
//! `lookup.rs` and `ondemand/`; [`Request`] in `ondemand/`.
//!
//! What is here besides the types is what the lowest layers need and
//! cannot take from higher ones: the field accessors [`Object::cookie`] and
//! [`Object::file`], [`Request::finish`] and [`Requests::finish_all`] (the
//! flush of a dead cache, `cache.rs`), and the destructors.
//!
//! The lifetimes and locks of each type are described where its behaviour
//! is: `cache.rs` for [`Cache`] and [`Bound`], `object.rs` for [`Object`],
//! `ondemand/mod.rs` for [`Request`] and [`Requests`].

use crate::kernel_ext::completion::Completion;
use crate::kernel_ext::fscache::{CacheCookie, CacheTypes, Cookie, CookieRef, VolumeList};
use crate::kernel_ext::poll::PollQueue;
use crate::kernel_ext::rbmap::RbMaps;
use crate::kernel_ext::vfs::{Cred, Dentry, FileRef, IoMode, Mount, S_KERNEL_FILE};
use crate::logic::cmd::{Errno, Limits, Thresholds};
use crate::logic::layout;
use crate::logic::object_state::ObjectState;
use crate::logic::reqtable::ReqTable;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use kernel::prelude::{pin_data, KVec};
use kernel::rbtree::RBTree;
use kernel::sync::{Arc, Mutex, SpinLock};
use kernel::workqueue::Work;

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

/// The cache holds the devnode's exclusive-open slot: set by `open()`,
/// given back when the last pin goes (as in C), when the cache is
/// orphaned, or moved to the orphan a file adopts (`recovery.rs`).
pub(super) const DEVICE: usize = 1 << 5;

/// The cache was bound after `recovery`: it is listed in the recovery
/// registry and may be orphaned (`recovery.rs`).  Never cleared.
pub(super) const RECOVERABLE: usize = 1 << 6;

/// Configuration set by commands before `bind`.
pub(super) struct Config {
    pub(super) limits: Limits,
    /// `dir`: the cache root, NUL-terminated.
    pub(super) rootdir: Option<KVec<u8>>,
    /// `tag`: the cache's name in fscache, NUL-terminated.
    pub(super) tag: Option<KVec<u8>>,
    /// `secctx`: the LSM identity the cache acts with.
    pub(super) secid: Option<u32>,
    /// `buffered [0|1]` (cachefiles_rs only): the backing I/O mode; `None`
    /// takes the `buffered_io` module parameter at `bind`.
    pub(super) buffered: Option<bool>,
    /// `recovery <seconds>`: the grace period of an orphan (cachefiles_rs
    /// only; `None`: C's behaviour, the cache dies with its devnode file).
    pub(super) recovery: Option<u32>,
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
    /// Backing I/O of on-demand objects goes through the page cache
    /// (`buffered`), instead of C's direct I/O; see `ondemand.rst`.
    pub(crate) buffered: bool,
    /// The window of READ requests in bytes, whole pages (0: C's
    /// requests); see `logic/window.rs`.
    pub(crate) read_window: u64,
    /// With a window, a sequential reader's next window is asked for
    /// without waiting (`read_ahead`); see `io.rs`.
    pub(crate) read_ahead: bool,
}

impl Bound {
    /// How on-demand objects' backing files are read and written.
    pub(crate) fn io_mode(&self) -> IoMode {
        if self.buffered {
            IoMode::Buffered
        } else {
            IoMode::Direct
        }
    }
}

/// The state behind one open of the devnode (C's `cachefiles_cache`).
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

/// What the cache keeps in fscache's volumes and cookies; the operations
/// (`CacheOps`) are in `interface.rs`.
impl CacheTypes for Cache {
    type VolumeData = CacheVolume;
    type Object = Object;
}

/// A volume as this cache serves it (C's `struct cachefiles_volume`): its
/// directory `cache/I<key>` and the 256 fan-out directories in it, all
/// marked in use.  Kept in the fscache volume's `cache_priv`.
pub(crate) struct CacheVolume {
    /// The fan-out directories `@00`..`@ff` (dropped before `dentry`).
    pub(super) fanout: KVec<CacheDir>,
    pub(super) dentry: CacheDir,
}

/// The object's cookie reference, also counting the object in fscache
/// (uncounted when the object goes, before the cookie is put).
pub(super) struct CountedCookie(pub(super) CookieRef<Cache>);

impl Drop for CountedCookie {
    fn drop(&mut self) {
        self.0.uncount_object();
    }
}

/// A cache object: the backing file of one fscache cookie (C's
/// `struct cachefiles_object`).  See `object.rs`.
#[pin_data]
pub(crate) struct Object {
    /// The id naming the object in trace records (C's `debug_id`): 1, 2...
    /// in creation order.
    pub(crate) debug_id: u32,
    pub(super) cookie: CountedCookie,
    pub(crate) cache: Arc<Cache>,
    pub(crate) bound: Arc<Bound>,
    /// The backing file's name in its fan-out directory.
    pub(super) name: layout::Name,
    /// The backing file, once looked up or created (C `object->file`).
    #[pin]
    pub(super) file: SpinLock<Option<FileRef>>,
    /// The file is an unnamed tmpfile, linked in at withdrawal.
    pub(super) using_tmpfile: AtomicBool,
    /// Whether the cache was in on-demand mode when the object was made.
    pub(crate) ondemand: bool,
    /// On-demand state (C `ondemand_id` and state under `info->lock`).
    #[pin]
    pub(crate) od: SpinLock<ObjectState>,
    /// Re-sends OPEN for a closed object that met a READ (`ondemand/`).
    #[pin]
    pub(super) work: Work<Object>,
    /// The last READ asked for ahead of a reader (`read_ahead`), which a
    /// reader reaching its range waits for instead of asking again.
    #[pin]
    pub(crate) ahead: SpinLock<Option<Ahead>>,
}

/// A READ asked for ahead of a reader: its message id and range.  The id
/// is only a hint: the request is looked up by id and range in the table
/// (it may be gone, and the id reused).
#[derive(Clone, Copy)]
pub(crate) struct Ahead {
    pub(crate) id: u32,
    pub(crate) off: i64,
    pub(crate) len: usize,
}

impl Ahead {
    /// Whether `pos` is in the range.
    pub(crate) fn covers(&self, pos: i64) -> bool {
        pos >= self.off && pos - self.off < self.len as i64
    }
}

impl Object {
    /// The object's cookie.
    pub(crate) fn cookie(&self) -> &Cookie<Cache> {
        &self.cookie.0
    }

    /// A reference to the backing file, if there is one.
    pub(crate) fn file(&self) -> Option<FileRef> {
        self.file.lock().clone()
    }
}

/// Request opcodes (`enum cachefiles_opcode`, uapi).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub(crate) enum Opcode {
    Open = 0,
    Close = 1,
    Read = 2,
}

/// One request to the daemon (C's `cachefiles_req`).  See
/// `ondemand/mod.rs`.
#[pin_data]
pub(crate) struct Request {
    pub(super) object: Arc<Object>,
    pub(super) opcode: Opcode,
    /// The message after its header (the OPEN fd is filled at delivery).
    pub(super) body: KVec<u8>,
    #[pin]
    pub(super) done: Completion,
    /// The outcome, a negative errno or 0; set before `done` completes.
    pub(super) error: AtomicI32,
    /// The message and object ids of the last delivery (message id in the
    /// high half), 0 before the first: C traces an OPEN's anonymous fd
    /// with the ids its message carries at that point.
    pub(super) delivered: AtomicU64,
}

impl Request {
    /// Completes the request, with `err` if given, for every waiter: its
    /// sender, and readers that met a read-ahead READ (`wait_read`).
    pub(super) fn finish(&self, err: Option<Errno>) {
        if let Some(e) = err {
            self.error.store(-e.0, Ordering::Release);
        }
        self.done.complete_all();
    }
}

/// The request table and id allocators (C's `reqs` and `ondemand_ids`
/// xarrays); see [`ReqTable`] for its invariants.  Protected by
/// `Cache::reqs`, a mutex: every method runs under it, and an object's
/// state lock (`Object::od`) nests inside it.  Its other methods are in
/// `ondemand/requests.rs`.
pub(crate) type Requests = ReqTable<RbMaps, Arc<Request>>;

impl ReqTable<RbMaps, Arc<Request>> {
    /// Takes out and completes every request with `err`.
    pub(super) fn finish_all(&mut self, err: Errno) {
        self.drain_all(|req| req.finish(Some(err)));
    }
}
