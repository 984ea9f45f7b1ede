// SPDX-License-Identifier: GPL-2.0

//! The backend's fscache operations (C's `interface.c`): [`CacheOps`] for
//! [`Cache`], cookie lookup and withdrawal, and file sizing.

use crate::cachefiles::internal::{Cache, CacheVolume, Object};
use crate::cachefiles::object::DIO_BLOCK_SIZE;
use crate::kernel_ext::fscache::{
    CacheOps, Cookie, CookieFlag, CookieLookup, CookieWithdrawal, Cres, NetfsRead, NetfsWrite,
    ReadHole, Source, Subreq, VolumeHandle, VolumeList, Want,
};
use crate::kernel_ext::trace::{self, Op};
use crate::kernel_ext::vfs::FileRef;
use crate::logic::cmd::errno::*;
use crate::logic::cmd::Errno;
use core::sync::atomic::Ordering;
use kernel::prelude::{pr_warn, vtable};
use kernel::sync::{Arc, ArcBorrow};

#[vtable]
impl CacheOps for Cache {
    fn volumes(this: &Self) -> &VolumeList<Self> {
        &this.volumes
    }

    fn acquire_volume(this: &Self, volume: &VolumeHandle<Self>) -> Option<Arc<CacheVolume>> {
        Cache::acquire_volume(this, volume)
    }

    fn free_volume(this: &Self, data: Arc<CacheVolume>) {
        this.free_volume(data)
    }

    fn lookup_cookie(this: ArcBorrow<'_, Self>, cookie: CookieLookup<'_, Self>) -> bool {
        Cache::lookup_cookie(&this.into(), &cookie)
    }

    fn withdraw_cookie(this: &Self, cookie: CookieWithdrawal<'_, Self>) {
        Cache::withdraw_cookie(this, &cookie)
    }

    /// On-demand mode: a no-op (objects are sized by the daemon); normal
    /// mode: `normal_object.rs`.
    fn resize_cookie(this: &Self, cres: &mut Cres<'_, Self>, new_size: i64) {
        if !this.ondemand() {
            Cache::normal_resize(cres, new_size);
        }
    }

    /// On-demand mode: not supported (the cookie stops being cached);
    /// normal mode: a new tmpfile (`normal_object.rs`).
    fn invalidate_cookie(this: &Self, cookie: &Cookie<Self>) -> bool {
        if this.ondemand() {
            return false;
        }
        this.normal_invalidate(cookie)
    }

    /// On-demand mode: nothing (the netfs does not write); normal mode:
    /// the dirty mark (`normal_object.rs`).
    fn prepare_to_write(this: &Self, cookie: &Cookie<Self>) {
        if !this.ondemand() {
            this.normal_prepare_to_write(cookie);
        }
    }

    fn begin_operation(_this: &Self, cres: &mut Cres<'_, Self>, want: Want) -> bool {
        Cache::begin_operation(cres, want)
    }

    fn read(
        _this: &Self,
        cres: &mut Cres<'_, Self>,
        pos: i64,
        read: NetfsRead,
        hole: ReadHole,
    ) -> Result<(), Errno> {
        Cache::read_object(cres, pos, read, hole)
    }

    /// On-demand mode: refused (the data comes from the daemon); normal
    /// mode: written (`normal_io.rs`).
    fn write(
        this: &Self,
        cres: &mut Cres<'_, Self>,
        pos: i64,
        write: NetfsWrite,
    ) -> Result<(), Errno> {
        if this.ondemand() {
            write.done(Err(ENOBUFS));
            return Err(ENOBUFS);
        }
        Cache::normal_write(cres, pos, write)
    }

    /// On-demand mode: from the server (EROFS uses
    /// `prepare_ondemand_read`); normal mode: `normal_io.rs`.
    fn prepare_read(this: &Self, subreq: &mut Subreq<'_, Self>, i_size: u64) -> Source {
        if this.ondemand() {
            return Source::DownloadFromServer;
        }
        Cache::normal_prepare_read(subreq, i_size)
    }

    /// On-demand mode: refused (`ENOBUFS`: the netfs then does not
    /// cache); normal mode: `normal_io.rs`.
    fn prepare_write(
        this: &Self,
        cres: &mut Cres<'_, Self>,
        start: &mut i64,
        len: &mut usize,
        upper_len: usize,
        _i_size: i64,
        no_space_allocated_yet: bool,
    ) -> Result<(), Errno> {
        if this.ondemand() {
            return Err(ENOBUFS);
        }
        Cache::normal_prepare_write(cres, start, len, upper_len, no_space_allocated_yet)
    }

    /// On-demand mode: fails the subrequest (the netfs does not write to
    /// on-demand objects); normal mode: `normal_io.rs`.
    fn prepare_write_subreq(this: &Self, subreq: Subreq<'_, Self>) {
        if this.ondemand() {
            subreq.prepare_write_failed();
            return;
        }
        Cache::normal_prepare_write_subreq(subreq)
    }

    /// On-demand mode: fails the subrequest with `ENOBUFS`; normal mode:
    /// `normal_io.rs`.
    fn issue_write(this: &Self, subreq: Subreq<'_, Self>) {
        if this.ondemand() {
            subreq.terminate_write(Err(ENOBUFS));
            return;
        }
        Cache::normal_issue_write(subreq)
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

/// Writes back what a buffered cache wrote to an object's file, before its
/// xattr and link are committed (C writes with direct I/O and has nothing
/// to write back).  False if the writeback failed.
fn write_back(object: &Object, file: &FileRef) -> bool {
    if !object.bound.buffered {
        return true;
    }
    match file.sync_data() {
        Ok(()) => true,
        Err(e) => {
            let ino = file.inode().ino();
            trace::io_error(object.debug_id, ino, -e.0, Op::Write);
            pr_warn!("Writeback of cache file (B={:x}) failed: {}\n", ino, -e.0);
            false
        }
    }
}

impl Cache {
    /// Finds or creates the backing file of `cookie` (C's
    /// `cachefiles_lookup_cookie`).
    pub(crate) fn lookup_cookie(self: &Arc<Self>, cookie: &CookieLookup<'_, Cache>) -> bool {
        let Some(bound) = self.bound() else {
            return false;
        };
        let Some(vol) = cookie.volume_data() else {
            return false;
        };
        let Ok(object) = Object::new(self.clone(), bound.clone(), cookie) else {
            return false;
        };
        drop(cookie.attach(object.clone()));
        let found = {
            let _as_cache = bound.cred.override_current();
            self.look_up_object(&bound, &vol, &object)
        };
        if !found {
            // The object stays attached: fscache withdraws it later.
            cookie.caching_failed();
            return false;
        }
        if self.add_object(&object).is_err() {
            cookie.caching_failed();
            return false;
        }
        let _as_cache = bound.cred.override_current();
        self.adjust_size(&object);
        true
    }

    /// Drops the cookie's object (C's `cachefiles_withdraw_cookie`): sends
    /// CLOSE and fails its requests, commits the file (xattr, link) unless
    /// the netfs retired it, and releases the file.  With buffered backing
    /// I/O the file's data is written back first, and a file whose
    /// writeback failed is deleted instead of committed.
    pub(crate) fn withdraw_cookie(&self, cookie: &CookieWithdrawal<'_, Cache>) {
        let Some(object) = cookie.detach() else {
            return;
        };
        self.remove_object(&object);
        crate::cachefiles::ondemand::clean_object(&object);
        let file = object.file();
        if let Some(file) = file {
            let bound = object.bound.clone();
            let _as_cache = bound.cred.override_current();
            if cookie.test(CookieFlag::Retired) {
                if !object.using_tmpfile.load(Ordering::Acquire) {
                    self.delete_object(&bound, &object);
                }
            } else if !write_back(&object, &file) {
                // What was written may be on disk neither as data nor as
                // a hole: the file must not be served again.  A tmpfile
                // just stays unlinked.
                if !object.using_tmpfile.load(Ordering::Acquire) {
                    self.delete_object(&bound, &object);
                }
            } else {
                let local = cookie.test_and_clear(CookieFlag::LocalWrite);
                let update = cookie.test_and_clear(CookieFlag::NeedsUpdate);
                if local || update {
                    let _ = self.set_object_xattr(&object);
                }
                if object.using_tmpfile.load(Ordering::Acquire) {
                    self.commit_tmpfile(&bound, &object);
                }
            }
            object.release_file(&file);
            drop(file);
            let taken = object.file.lock().take();
            drop(taken);
        }
    }

    /// Keeps the file's size a whole number of DIO blocks covering the
    /// object (C's `cachefiles_adjust_size`).
    pub(super) fn adjust_size(&self, object: &Object) {
        let Some(file) = object.file() else {
            return;
        };
        let Some(want) = object
            .cookie()
            .object_size()
            .checked_next_multiple_of(DIO_BLOCK_SIZE)
            .and_then(|s| i64::try_from(s).ok())
        else {
            return;
        };
        if file.inode().size() == want {
            return;
        }
        if let Err(e) = file.truncate(want) {
            // C records no object here.
            crate::kernel_ext::trace::io_error(
                0,
                file.inode().ino(),
                -e.0,
                crate::kernel_ext::trace::Op::NotifyChange,
            );
            if e == EIO {
                self.io_error_obj(object, format_args!("Size set failed"));
            }
        }
    }
}
