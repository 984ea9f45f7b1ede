// SPDX-License-Identifier: GPL-2.0

//! Recovery without a keeper (cachefiles_rs only, opt-in with
//! `recovery <seconds>` before `bind ondemand`): a recoverable cache whose
//! last devnode fd is closed is *orphaned* instead of killed, for at most
//! its grace period; a new daemon adopts it with `tag <name>` + `attach`;
//! an orphan nobody adopts in time dies as a C cache does on close.  The
//! decisions are `crate::logic::recovery` (host-tested); this file holds
//! the module-wide registry, the module reference of each orphan and the
//! expiry work.  See `Documentation/recovery.rst`.
//!
//! # References
//!
//! A listed cache is held by its registry entry (`Arc<Cache>`).  An orphan
//! also holds the unbind pin of its former devnode file (so it stays
//! bound) and a [`ModuleRef`] (so the module cannot be unloaded while a
//! live cache has no open file pinning the module).  `attach` moves the
//! pin to the adopting file and drops the module reference (the file pins
//! the module); expiry marks the entry ending, drops the pin (which may
//! unbind the cache), takes the entry out, then drops the cache and the
//! module reference, last.
//!
//! # Ending, and a bind
//!
//! fscache refuses a cache name (`EBUSY`, "Cache tag in use") until the
//! cache of that name is relinquished, and a cache directory stays marked
//! in use (`EBUSY`, "Inode already in use"), until the end of its cache's
//! unbind, which waits for the cache's objects to go.  A C cache is
//! unbound in its devnode's `release()`, before the exclusive-open slot is
//! free, so a new daemon never meets it; an orphan is unbound by the
//! expiry work while other files may be open.  So an expiring orphan stays
//! listed, ending, until it is unbound, and every `bind` waits until no
//! cache is ending ([`wait_ending`]; `Recovery::ended`).
//!
//! # Locking
//!
//! `Recovery::registry` (a mutex: entries are allocated with `GFP_KERNEL`)
//! protects the registry: every phase change (orphaned, attached, taken
//! out) happens under it, so an `attach` and the expiry of the same orphan
//! cannot both win, nor two `attach`es.  Nothing else is taken under it
//! except the delayed work's timer (`mod_delayed_work`, which does not
//! sleep); caches are ended after it is released.  `Recovery::ended` is
//! its condition variable: notified whenever an ending entry is taken out.
//!
//! # The expiry work and module exit
//!
//! [`expire`] runs on the module's workqueue as a [`DelayedCall`] and may
//! drop the last module reference of the system: module exit may then run
//! while the work function is still returning.  That is safe because the
//! exit drops [`Recovery`] (through its `Published` guard) before the
//! workqueue, and `DelayedCall`'s drop is `cancel_delayed_work_sync`, which
//! waits for a running instance to return before any of the module's code
//! or data goes; `delayed` is `Recovery`'s first field so that it is
//! dropped (waited for) before the registry.

use crate::cachefiles::internal::{Cache, DEAD, READY, RECOVERABLE};
use crate::kernel_ext::delayed::DelayedCall;
use crate::kernel_ext::global::{Global, Published};
use crate::kernel_ext::module_ref::ModuleRef;
use crate::logic::cmd::errno::*;
use crate::logic::cmd::Errno;
use crate::logic::recovery::{self as logic, Adopt, Entry, OnRelease, SlotList};
use core::pin::Pin;
use kernel::init::InPlaceInit;
use kernel::prelude::{
    pin_data, pin_init, pinned_drop, pr_err, pr_info, KBox, KVec, Result, GFP_KERNEL,
};
use kernel::sync::lock::{mutex::MutexBackend, Guard};
use kernel::sync::{Arc, CondVar, Mutex};

/// What the registry keeps of a recoverable cache.
pub(crate) struct Held {
    cache: Arc<Cache>,
    /// The module reference of an orphan; `None` while attached.
    module: Option<ModuleRef>,
}

type Slots = KVec<Option<Entry<KVec<u8>, Held>>>;

impl SlotList<Entry<KVec<u8>, Held>> for Slots {
    fn slots(&self) -> &[Option<Entry<KVec<u8>, Held>>] {
        self.as_slice()
    }

    fn slots_mut(&mut self) -> &mut [Option<Entry<KVec<u8>, Held>>] {
        self.as_mut_slice()
    }

    fn try_push(&mut self, e: Entry<KVec<u8>, Held>) -> Result<(), Entry<KVec<u8>, Held>> {
        // Reserved first, so that a failure gives `e` back.
        if self.reserve(1, GFP_KERNEL).is_err() {
            return Err(e);
        }
        self.push(Some(e), GFP_KERNEL)
            .map_err(|_| {
                // Unreachable: the room is reserved.  Nothing to give back.
                pr_err!("recovery: push failed after reserve\n");
            })
            .or(Ok(()))
    }
}

type Registry = logic::Registry<KVec<u8>, Held, Slots>;

/// The module-wide recovery state.
#[pin_data(PinnedDrop)]
pub(crate) struct Recovery {
    /// Ends the orphans whose grace period is over.  First field: dropped
    /// (cancelled, a running instance waited for) before the registry.
    #[pin]
    expiry: DelayedCall,
    /// The recoverable caches (see "Locking").
    #[pin]
    registry: Mutex<Registry>,
    /// Notified when an ending cache is taken out of the registry.
    #[pin]
    ended: CondVar,
}

static RECOVERY: Global<Recovery> = Global::new();

/// Makes and publishes the registry, at module init.  The guard must be
/// dropped at module exit before the module's workqueue.
pub(crate) fn start() -> Result<Published<Recovery>> {
    let r = KBox::pin_init(
        pin_init!(Recovery {
            expiry <- DelayedCall::new(expire),
            registry <- kernel::new_mutex!(Registry::new(KVec::new())),
            ended <- kernel::new_condvar!(),
        }),
        GFP_KERNEL,
    )?;
    Ok(RECOVERY.publish(r))
}

#[pinned_drop]
impl PinnedDrop for Recovery {
    fn drop(self: Pin<&mut Self>) {
        // Every orphan pins the module and every attached cache has an
        // open file, so the registry is empty at module exit.
        let left = self.registry.lock().len();
        if left != 0 {
            pr_err!("recovery: {} caches still listed at module exit\n", left);
        }
    }
}

/// Milliseconds of the monotonic clock.
fn now_ms() -> i64 {
    kernel::time::Ktime::ktime_get().to_ms()
}

/// A tag for messages.
fn show(tag: &[u8]) -> &str {
    core::str::from_utf8(tag).unwrap_or("?")
}

/// Schedules the expiry work for the earliest deadline, if any.
fn schedule(r: &Recovery, registry: &Registry, now: i64) {
    if let Some(ms) = registry.next_expiry(now) {
        r.expiry.schedule(ms);
    }
}

/// Waits (interruptibly: `EINTR`) until no listed cache is ending;
/// returns the registry's guard.
fn lock_unless_ending(r: &Recovery) -> Result<Guard<'_, Registry, MutexBackend>, Errno> {
    let mut registry = r.registry.lock();
    while registry.ending() {
        if r.ended.wait_interruptible(&mut registry) {
            return Err(EINTR);
        }
    }
    Ok(registry)
}

/// Every `bind`, before it takes its tag and directory: waits until no
/// orphan is ending (see "Ending, and a bind"); `EINTR` if a signal comes
/// first.
pub(super) fn wait_ending() -> Result<(), Errno> {
    match RECOVERY.get() {
        Some(r) => lock_unless_ending(r).map(drop),
        None => Ok(()),
    }
}

/// `bind` with `recovery <grace>` set: lists `cache` under `tag` (without
/// its NUL) before it binds, once no cache is ending.  `EBUSY` if a
/// recoverable cache has that tag.
pub(super) fn register(cache: &Arc<Cache>, tag: &[u8], grace: u32) -> Result<(), Errno> {
    let r = RECOVERY.get().ok_or(ENOENT)?;
    let mut key = KVec::with_capacity(tag.len(), GFP_KERNEL).map_err(|_| ENOMEM)?;
    key.extend_from_slice(tag, GFP_KERNEL).map_err(|_| ENOMEM)?;
    let held = Held {
        cache: cache.clone(),
        module: None,
    };
    lock_unless_ending(r)?
        .register(key, grace, held)
        .inspect_err(|e| {
            if *e == EBUSY {
                pr_err!(
                    "recovery: a recoverable cache is already tagged {}\n",
                    show(tag)
                );
            }
        })
}

/// The bind of a registered cache failed, or it is ending: takes it out.
pub(super) fn unregister(cache: &Arc<Cache>) {
    let Some(r) = RECOVERY.get() else {
        return;
    };
    let entry = r.registry.lock().remove(|h| Arc::ptr_eq(&h.cache, cache));
    // An attached entry holds nothing but the cache reference.
    drop(entry);
}

/// The devnode file serving `cache` is released.  Orphans the cache if it
/// is recoverable, bound, in on-demand mode and alive; then `true`: the
/// file's pin is now the orphan's, and the device is free.  Otherwise
/// takes a recoverable cache out of the registry and returns `false`: the
/// caller ends the cache as C does.
pub(super) fn orphan_on_release(cache: &Arc<Cache>) -> bool {
    let decision = logic::on_release(
        cache.test(RECOVERABLE),
        cache.test(READY),
        cache.ondemand(),
        cache.test(DEAD),
    );
    let Some(r) = RECOVERY.get() else {
        return false;
    };
    if let OnRelease::Kill { unlist } = decision {
        if unlist {
            unregister(cache);
        }
        return false;
    }
    // The file being released pins the module, so the module is live.
    let Some(module) = ModuleRef::get(&crate::THIS_MODULE) else {
        unregister(cache);
        return false;
    };
    let now = now_ms();
    let mut registry = r.registry.lock();
    let Some(e) = registry.orphan(|h| Arc::ptr_eq(&h.cache, cache), now) else {
        drop(registry);
        // Not listed (cannot happen for a RECOVERABLE cache): end it.
        return false;
    };
    e.item.module = Some(module);
    pr_info!(
        "File cache on {} orphaned: waiting {} s for a daemon to attach\n",
        show(&e.tag),
        e.grace_secs
    );
    schedule(r, &registry, now);
    drop(registry);
    cache.release_device();
    true
}

/// An orphan that died before anyone attached (an I/O error made it dead),
/// marked ending by `attach`; to be ended by [`DeadOrphan::end`] once the
/// caller holds no lock.
pub(crate) struct DeadOrphan(Arc<Cache>);

impl DeadOrphan {
    /// Ends the orphan (see [`end`]).
    pub(crate) fn end(self) {
        if let Some(r) = RECOVERY.get() {
            end(r, self.0);
        }
    }
}

/// `attach`: adopts the orphan tagged `tag` (without NUL), setting its
/// grace period to `grace` if given.  Returns the cache, which now holds
/// the orphan's pin for the caller's file; the orphan's module reference
/// is dropped (the caller's open file pins the module).  `ENOENT` if no
/// cache has that tag, `EBUSY` if the cache with that tag is attached;
/// `Ok(Err(_))` if the orphan had died: `attach` fails with `ENOENT`.
pub(super) fn adopt(
    tag: &[u8],
    grace: Option<u32>,
) -> Result<Result<Arc<Cache>, DeadOrphan>, Errno> {
    let r = RECOVERY.get().ok_or(ENOENT)?;
    let mut registry = r.registry.lock();
    match registry.adopt(tag, |h| !h.cache.is_dead())? {
        Adopt::Adopted(e) => {
            if let Some(g) = grace {
                e.grace_secs = g;
            }
            let cache = e.item.cache.clone();
            let module = e.item.module.take();
            pr_info!("File cache on {} attached by a new daemon\n", show(&e.tag));
            drop(registry);
            drop(module);
            Ok(Ok(cache))
        }
        Adopt::Dead(e) => Ok(Err(DeadOrphan(e.item.cache.clone()))),
    }
}

/// Ends an ending orphan: it dies as a C cache does on close (dead,
/// pending requests fail with `EIO`, unbound with its last pin); then its
/// entry is taken out and waiting binds go on.  The module
/// reference (the entry's) is dropped last.
fn end(r: &Recovery, cache: Arc<Cache>) {
    cache.kill();
    let entry = r.registry.lock().remove(|h| Arc::ptr_eq(&h.cache, &cache));
    r.ended.notify_all();
    drop(cache);
    if let Some(e) = entry {
        let Held { cache, module } = e.item;
        drop(cache);
        drop(module);
    }
}

/// The expiry work: ends every orphan whose grace period is over and
/// schedules itself for the next deadline.  See "The expiry work and
/// module exit" for why it may drop the last module reference.
fn expire() {
    let Some(r) = RECOVERY.get() else {
        return;
    };
    loop {
        let now = now_ms();
        let mut registry = r.registry.lock();
        let Some(e) = registry.begin_expiry(now) else {
            schedule(r, &registry, now);
            return;
        };
        pr_info!(
            "File cache on {}: no daemon attached within {} s, withdrawing\n",
            show(&e.tag),
            e.grace_secs
        );
        let cache = e.item.cache.clone();
        drop(registry);
        end(r, cache);
    }
}
