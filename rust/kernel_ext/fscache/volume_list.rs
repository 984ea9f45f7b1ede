// SPDX-License-Identifier: GPL-2.0

//! The list of volumes a cache serves (C's `cache->volumes`), which the
//! backend needs to withdraw them on unbind.
//!
//! A [`VolumeHandle`] is a bare pointer: fscache frees the volume after
//! `free_volume` without asking anyone.  So the backend never owns one:
//! callbacks lend theirs, and the only stored copies are this list's, which
//! the `free_volume` trampoline unlists before fscache frees the volume.

use super::{volume, CacheTypes, VolumeHandle, VolumeRef};
use crate::logic::cmd::{errno::ENOMEM, Errno};
use kernel::prelude::*;
use kernel::rbtree::{RBTree, RBTreeNode};
use kernel::sync::{Arc, Mutex};

/// The volumes a cache serves, by address.
///
/// # Invariants
///
/// Every listed volume is alive.  Only the trampolines list and unlist
/// volumes: `acquire_volume` lists a volume when the backend returns data
/// for it, `free_volume` unlists it before fscache frees it, and
/// [`VolumeListGuard::detach`] unlists it when taking its data (after
/// which fscache does not call `free_volume`).  So a listed volume always
/// has data, and fscache always calls `free_volume` before freeing it.
///
/// Locking: a mutex (`GFP_KERNEL` allocations happen near it); never held
/// while dropping a [`VolumeRef`], as the last reference frees the volume
/// and `free_volume` takes the lock.
#[pin_data]
pub(crate) struct VolumeList<T: CacheTypes> {
    #[pin]
    inner: Mutex<RBTree<usize, VolumeHandle<T>>>,
}

/// A list entry, allocated before the volume is listed.
pub(super) type VolumeNode<T> = RBTreeNode<usize, VolumeHandle<T>>;

impl<T: CacheTypes> VolumeList<T> {
    /// An empty list.
    pub(crate) fn new() -> impl PinInit<Self> {
        // INVARIANT: Nothing listed.
        pin_init!(Self {
            inner <- kernel::new_mutex!(RBTree::new()),
        })
    }

    /// Allocates the entry of `volume` (in its `acquire_volume` callback).
    pub(super) fn node(volume: &VolumeHandle<T>) -> Result<VolumeNode<T>, Errno> {
        RBTreeNode::new(volume.addr(), volume.dup(), GFP_KERNEL).map_err(|_| ENOMEM)
    }

    /// Lists a volume (the `acquire_volume` trampoline, once its data is
    /// set).
    pub(super) fn insert(&self, node: VolumeNode<T>) {
        // INVARIANT: The volume is alive and has data (see the caller).
        let _ = self.inner.lock().insert(node);
    }

    /// Unlists the volume at `addr` (the trampolines, before fscache may
    /// free it).
    pub(super) fn remove(&self, addr: usize) {
        let _ = self.inner.lock().remove(&addr);
    }

    /// Locks the list.
    pub(crate) fn lock(&self) -> VolumeListGuard<'_, T> {
        VolumeListGuard {
            guard: self.inner.lock(),
        }
    }
}

/// The locked list; lends its volumes for as long as it is held.
pub(crate) struct VolumeListGuard<'a, T: CacheTypes> {
    guard: kernel::sync::lock::Guard<
        'a,
        RBTree<usize, VolumeHandle<T>>,
        kernel::sync::lock::mutex::MutexBackend,
    >,
}

impl<T: CacheTypes> VolumeListGuard<'_, T> {
    /// The listed volumes, alive while the guard is held (invariants of
    /// [`VolumeList`]: unlisting needs the lock).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &VolumeHandle<T>> {
        self.guard.values()
    }

    /// Unlists `volume` and takes its data (fscache will not call
    /// `free_volume` for it any more).  Users of the data still holding a
    /// clone keep it alive until they drop it.
    pub(crate) fn detach(&mut self, volume: &VolumeRef<T>) -> Option<Arc<T::VolumeData>> {
        let _ = self.guard.remove(&volume.addr());
        // SAFETY: We hold a reference, so the volume is alive; it belongs
        // to a cache served by `T` (invariants of `VolumeRef`).
        // INVARIANT: Unlisted first, then its data taken.
        unsafe { volume::take_data::<T>(volume.as_ptr()) }
    }
}
