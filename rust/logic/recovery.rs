// SPDX-License-Identifier: GPL-2.0

//! Recovery without a keeper (cachefiles_rs only, opt-in): the decisions
//! behind `recovery <seconds>`, `attach` and the orphaning of a cache whose
//! last devnode fd was closed.  See `Documentation/recovery.rst`.
//!
//! A cache bound after `recovery <seconds>` is *recoverable*: it is listed
//! in a [`Registry`] under its tag, first [`Phase::Attached`] (a devnode
//! file serves it).  When that file is released the cache becomes
//! [`Phase::Orphaned`] until a deadline; `attach` by its tag makes it
//! attached again (to the new file), and an orphan whose deadline passed
//! is [`Phase::Ending`]: it dies as a C cache does on close and is taken
//! out once it is unbound, so that a `bind` can wait for that instead of
//! finding its tag still in use in fscache or its directory still marked.
//! Tags are unique in the registry: a second recoverable cache with the
//! tag of a listed one is refused (`EBUSY`).
//!
//! The registry takes no lock: the kernel keeps it under one mutex and
//! calls every method under it.  Times are milliseconds of a monotonic
//! clock; deadlines compare with wrapping arithmetic.
//!
//! Pure logic (`core` only): host-tested by `tools/logic-tests`.

use super::cmd::errno::{EBUSY, EINVAL, ENOENT, ENOMEM, EOPNOTSUPP};
use super::cmd::Errno;
use core::marker::PhantomData;
use core::ops::Deref;

/// The shortest grace period `recovery` accepts, in seconds.
pub(crate) const GRACE_MIN_SECS: u32 = 1;
/// The longest grace period `recovery` accepts, in seconds (one hour):
/// a cache nobody serves is never kept longer.
pub(crate) const GRACE_MAX_SECS: u32 = 3600;

/// Parses the argument of `recovery <seconds>`: decimal digits only (no
/// sign, no spaces, no base prefix), [`GRACE_MIN_SECS`] to
/// [`GRACE_MAX_SECS`]; anything else is `EINVAL`.
pub(crate) fn parse_grace(args: &[u8]) -> Result<u32, Errno> {
    if args.is_empty() || !args.iter().all(u8::is_ascii_digit) {
        return Err(EINVAL);
    }
    let mut v: u32 = 0;
    for &d in args {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u32::from(d - b'0')))
            .ok_or(EINVAL)?;
    }
    if !(GRACE_MIN_SECS..=GRACE_MAX_SECS).contains(&v) {
        return Err(EINVAL);
    }
    Ok(v)
}

/// Whether `now` is at or after `deadline` (both in ms of a clock that may
/// wrap).
pub(crate) fn reached(now: i64, deadline: i64) -> bool {
    now.wrapping_sub(deadline) >= 0
}

/// Where a recoverable cache is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// A devnode file serves the cache.
    Attached,
    /// No devnode file serves it: it waits for `attach` until `deadline`
    /// (ms), then dies.
    Orphaned {
        /// When the grace period ends.
        deadline: i64,
    },
    /// Being ended (its grace period passed, or it died as an orphan):
    /// attach finds nothing; it is taken out once unbound.
    Ending,
}

/// One recoverable cache in the [`Registry`].
#[derive(Debug)]
pub(crate) struct Entry<K, T> {
    /// The cache's tag (its name in fscache), unique in the registry.
    pub(crate) tag: K,
    /// The grace period, seconds.
    pub(crate) grace_secs: u32,
    pub(crate) phase: Phase,
    /// The caller's data (the cache, and what the orphan holds).
    pub(crate) item: T,
}

/// The storage of a [`Registry`]: a growable list of slots (`KVec` in the
/// kernel, `Vec` on the host); a free slot is `None`.
pub(crate) trait SlotList<E> {
    /// The slots.
    fn slots(&self) -> &[Option<E>];
    /// The slots, mutably.
    fn slots_mut(&mut self) -> &mut [Option<E>];
    /// Appends a slot holding `e`; on failure (no memory) gives `e` back.
    fn try_push(&mut self, e: E) -> Result<(), E>;
}

/// The outcome of [`Registry::adopt`].
#[derive(Debug)]
pub(crate) enum Adopt<'a, K, T> {
    /// The orphan is attached again; its entry.
    Adopted(&'a mut Entry<K, T>),
    /// The orphan was no longer usable (`alive` said so): it is now
    /// [`Phase::Ending`], for the caller to end and take out; `attach`
    /// then fails with `ENOENT`.
    Dead(&'a mut Entry<K, T>),
}

/// The recoverable caches, by tag.  `O(n)` per operation, `n` the most
/// recoverable caches ever listed at once (a handful): slots are reused.
pub(crate) struct Registry<K, T, L> {
    list: L,
    _entries: PhantomData<Entry<K, T>>,
}

impl<K: Deref<Target = [u8]>, T, L: SlotList<Entry<K, T>>> Registry<K, T, L> {
    /// A registry over the (empty) `list`.
    pub(crate) fn new(list: L) -> Self {
        Registry {
            list,
            _entries: PhantomData,
        }
    }

    fn entries(&self) -> impl Iterator<Item = &Entry<K, T>> {
        self.list.slots().iter().flatten()
    }

    /// The number of recoverable caches listed.
    pub(crate) fn len(&self) -> usize {
        self.entries().count()
    }

    /// The slot of the first entry `pick` selects.
    fn position(&self, pick: impl Fn(&Entry<K, T>) -> bool) -> Option<usize> {
        self.list
            .slots()
            .iter()
            .position(|s| s.as_ref().is_some_and(&pick))
    }

    /// Takes the entry out of slot `i`.
    fn take(&mut self, i: usize) -> Option<Entry<K, T>> {
        self.list.slots_mut().get_mut(i)?.take()
    }

    /// Whether a listed cache is being ended: a `bind` waits until none
    /// is (it may share the binding cache's tag or directory).
    pub(crate) fn ending(&self) -> bool {
        self.entries().any(|e| e.phase == Phase::Ending)
    }

    /// Lists a cache about to bind under `tag`, attached: `EBUSY` if a
    /// recoverable cache with that tag is listed, `ENOMEM`.
    pub(crate) fn register(&mut self, tag: K, grace_secs: u32, item: T) -> Result<(), Errno> {
        if self.position(|e| *e.tag == *tag).is_some() {
            return Err(EBUSY);
        }
        let entry = Entry {
            tag,
            grace_secs,
            phase: Phase::Attached,
            item,
        };
        if let Some(free) = self.list.slots_mut().iter_mut().find(|s| s.is_none()) {
            *free = Some(entry);
            return Ok(());
        }
        self.list.try_push(entry).map_err(|_| ENOMEM)
    }

    /// Takes out the entry whose item `is` selects, whatever its phase.
    pub(crate) fn remove(&mut self, is: impl Fn(&T) -> bool) -> Option<Entry<K, T>> {
        let i = self.position(|e| is(&e.item))?;
        self.take(i)
    }

    /// The attached entry whose item `is` selects loses its devnode file:
    /// it becomes an orphan until `now` plus its grace period.  Returns
    /// the entry; `None` if there is no such attached entry.
    pub(crate) fn orphan(&mut self, is: impl Fn(&T) -> bool, now: i64) -> Option<&mut Entry<K, T>> {
        let e = self
            .list
            .slots_mut()
            .iter_mut()
            .flatten()
            .find(|e| e.phase == Phase::Attached && is(&e.item))?;
        let grace_ms = i64::from(e.grace_secs) * 1000;
        e.phase = Phase::Orphaned {
            deadline: now.wrapping_add(grace_ms),
        };
        Some(e)
    }

    /// `attach` to `tag`: the orphan listed under it becomes attached.
    /// `ENOENT` if no cache is listed under `tag` or the one listed is
    /// ending, `EBUSY` if it is attached (another devnode file serves it).
    /// An orphan that `alive` rejects (the cache died meanwhile) becomes
    /// ending instead ([`Adopt::Dead`]).
    pub(crate) fn adopt(
        &mut self,
        tag: &[u8],
        alive: impl Fn(&T) -> bool,
    ) -> Result<Adopt<'_, K, T>, Errno> {
        let i = self.position(|e| *e.tag == *tag).ok_or(ENOENT)?;
        let slot = self.list.slots_mut().get_mut(i).ok_or(ENOENT)?;
        let e = slot.as_mut().ok_or(ENOENT)?;
        match e.phase {
            Phase::Attached => return Err(EBUSY),
            Phase::Ending => return Err(ENOENT),
            Phase::Orphaned { .. } => {}
        }
        if !alive(&e.item) {
            e.phase = Phase::Ending;
            return Ok(Adopt::Dead(e));
        }
        e.phase = Phase::Attached;
        Ok(Adopt::Adopted(e))
    }

    /// One orphan whose deadline is reached at `now`, if any, becomes
    /// [`Phase::Ending`]: the caller ends it, then takes it out with
    /// [`Self::remove`].
    pub(crate) fn begin_expiry(&mut self, now: i64) -> Option<&mut Entry<K, T>> {
        let e = self
            .list
            .slots_mut()
            .iter_mut()
            .flatten()
            .find(|e| match e.phase {
                Phase::Orphaned { deadline } => reached(now, deadline),
                Phase::Attached | Phase::Ending => false,
            })?;
        e.phase = Phase::Ending;
        Some(e)
    }

    /// Milliseconds from `now` to the earliest deadline of an orphan (0 if
    /// one is reached already); `None` without orphans.
    pub(crate) fn next_expiry(&self, now: i64) -> Option<u64> {
        self.entries()
            .filter_map(|e| match e.phase {
                Phase::Orphaned { deadline } => Some(deadline.wrapping_sub(now).max(0) as u64),
                Phase::Attached | Phase::Ending => None,
            })
            .min()
    }
}

/// What to do with a cache whose devnode file is released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnRelease {
    /// Orphan it: it stays bound, its requests stay pending.
    Orphan,
    /// End it as C does (dead, pending requests fail, unbound with its
    /// last pin); if `unlist`, take it out of the registry first.
    Kill {
        /// The cache is listed (recoverable) and must be taken out.
        unlist: bool,
    },
}

/// The decision at the release of a devnode file: only a recoverable cache
/// that is bound (`ready`), in on-demand mode and not dead is orphaned.
pub(crate) fn on_release(recoverable: bool, ready: bool, ondemand: bool, dead: bool) -> OnRelease {
    if recoverable && ready && ondemand && !dead {
        OnRelease::Orphan
    } else {
        OnRelease::Kill {
            unlist: recoverable,
        }
    }
}

/// The checks of `attach` on the file's cache, before the registry is
/// asked: `adopted` (the file already adopted an orphan), `ready` (its
/// cache is bound), `ondemand`, `recoverable` (bound after `recovery`).
/// A file with a recoverable cache has its cache (`EBUSY`); one bound in
/// normal mode or without `recovery` cannot recover (`EOPNOTSUPP`).
pub(crate) fn check_attach(
    adopted: bool,
    ready: bool,
    ondemand: bool,
    recoverable: bool,
) -> Result<(), Errno> {
    if adopted || (ready && ondemand && recoverable) {
        return Err(EBUSY);
    }
    if ready {
        return Err(EOPNOTSUPP);
    }
    Ok(())
}

/// The checks of `recovery` on the file's cache: too late once bound in
/// on-demand mode (`EBUSY`), impossible in normal mode (`EOPNOTSUPP`).
pub(crate) fn check_recovery(ready: bool, ondemand: bool) -> Result<(), Errno> {
    match (ready, ondemand) {
        (true, true) => Err(EBUSY),
        (true, false) => Err(EOPNOTSUPP),
        (false, _) => Ok(()),
    }
}
