// SPDX-License-Identifier: GPL-2.0

//! Taking a cache out of service (C's `cachefiles_put_unbind_pincount`,
//! `cachefiles_daemon_unbind` and `cachefiles_withdraw_cache`): the unbind
//! pins, and the unbinding the last one triggers.
//!
//! The devnode file holds one pin, each anonymous fd another (see
//! `cache.rs`); whichever goes last, the devnode's `release()` or an
//! anonymous fd's, unbinds the cache here.  An orphaned recoverable cache
//! keeps its devnode file's pin until it is attached again (the new file
//! takes it over) or expires (`recovery.rs`).

use crate::cachefiles::internal::{Cache, DEAD, READY};
use crate::logic::cmd::errno::*;
use core::sync::atomic::Ordering;
use kernel::prelude::pr_info;

impl Cache {
    /// Takes an unbind pin (for an anonymous fd).
    pub(crate) fn get_pin(&self) {
        self.pins.fetch_add(1, Ordering::AcqRel);
    }

    /// Drops an unbind pin; the last one unbinds the cache.
    pub(crate) fn put_pin(&self) {
        if self.pins.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.unbind();
            self.release_device();
        }
    }

    /// Ends the cache as C's devnode `release()` does: dead from now on,
    /// every pending on-demand request fails (`EIO`), and the devnode's
    /// pin goes (the last pin unbinds).
    pub(crate) fn kill(&self) {
        self.set(DEAD);
        if self.ondemand() {
            self.flush_reqs();
        }
        self.put_pin();
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
}
