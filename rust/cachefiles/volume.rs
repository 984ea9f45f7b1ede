// SPDX-License-Identifier: GPL-2.0

//! Volumes (C's `volume.c`): the directory `cache/I<key>` of each fscache
//! volume and its 256 fan-out directories, set up when a netfs acquires the
//! volume and released (xattr refreshed) on unbind.

use crate::cachefiles::internal::{Bound, Cache, CacheVolume};
use crate::kernel_ext::fscache::VolumeHandle;
use crate::kernel_ext::vfs;
use crate::kernel_ext::vfs::Dentry;
use crate::logic::cmd::errno::*;
use crate::logic::layout;
use kernel::prelude::{KVec, GFP_KERNEL};
use kernel::sync::Arc;

impl CacheVolume {
    /// Fan-out directory `i` (`@xx`).
    pub(crate) fn fanout_dir(&self, i: u8) -> Option<&Dentry> {
        self.fanout.get(usize::from(i)).map(|d| &d.dentry)
    }
}

impl Cache {
    /// Waits for accesses to each volume still in use to drain (C's
    /// `cachefiles_withdraw_fscache_volumes`).
    pub(super) fn withdraw_volume_accesses(&self) {
        loop {
            let busy = {
                let volumes = self.volumes.lock();
                let found = volumes
                    .iter()
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
    pub(super) fn withdraw_volumes(&self, bound: &Bound) {
        loop {
            let taken = {
                let mut volumes = self.volumes.lock();
                let Some(first) = volumes.iter().next() else {
                    return;
                };
                match first.try_get() {
                    // Being freed: `free_volume` will remove it; let it run.
                    None => None,
                    Some(volume) => {
                        let data = volumes.detach(&volume);
                        Some((volume, data))
                    }
                }
            };
            let Some((volume, data)) = taken else {
                vfs::cond_resched();
                continue;
            };
            if let Some(data) = data {
                let _ = self.set_volume_xattr(
                    bound,
                    volume.debug_id(),
                    &data.dentry.dentry,
                    volume.coherency(),
                );
            }
        }
    }

    /// Sets up `volume`'s directories (C's `cachefiles_acquire_volume`).
    pub(super) fn acquire_volume(&self, volume: &VolumeHandle<Cache>) -> Option<Arc<CacheVolume>> {
        let bound = self.bound()?;
        let _as_cache = bound.cred.override_current();
        let name = layout::volume_dir_name(volume.key())?;
        let store = &bound.store.dentry;
        let dentry = loop {
            let (dir, is_new) = self
                .get_directory(&bound.mnt, store, &bound.thresholds, name.as_bytes())
                .ok()?;
            if is_new {
                self.set_volume_xattr(&bound, volume.debug_id(), &dir.dentry, volume.coherency())
                    .ok()?;
                break dir;
            }
            match self.check_volume_xattr(volume.debug_id(), &dir.dentry, volume.coherency()) {
                Ok(()) => break dir,
                Err(ESTALE) => {
                    // A directory left by another volume of the same name:
                    // bury it and start again.
                    let store_lock = store.lock_dir().ok()?;
                    let _ = self.bury(
                        &bound,
                        None,
                        store,
                        store_lock,
                        &dir.dentry,
                        crate::kernel_ext::trace::Why::VolumeIsWeird,
                    );
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
        let data = Arc::new(CacheVolume { fanout, dentry }, GFP_KERNEL).ok()?;
        // Keep fscache from waiting for the volume to go idle until unbind.
        volume.pin_access();
        Some(data)
    }

    /// fscache frees a volume (C's `cachefiles_free_volume`; the glue has
    /// unlisted it): release its directories.
    pub(super) fn free_volume(&self, data: Arc<CacheVolume>) {
        drop(data);
    }
}
