// SPDX-License-Identifier: GPL-2.0

//! An object's backing file (C's `namei.c`, second half): looking it up in
//! its fan-out directory, creating it as a tmpfile, opening and checking an
//! existing one, linking the tmpfile in at withdrawal, deleting it.

use crate::cachefiles::cache::SpaceFor;
use crate::cachefiles::internal::{Bound, Cache, CacheVolume, Object};
use crate::cachefiles::namei::dir_ino;
use crate::cachefiles::object::DIO_BLOCK_SIZE;
use crate::kernel_ext::fscache::CookieFlag;
use crate::kernel_ext::trace::{self, Op, Trunc, Why};
use crate::kernel_ext::vfs::{Dentry, DirGuard, FileRef};
use crate::logic::cmd::errno::*;
use crate::logic::cmd::Errno;
use core::sync::atomic::Ordering;
use kernel::prelude::{pr_err, pr_notice};
use kernel::str::BStr;
use kernel::sync::Arc;

impl Cache {
    /// Looks the backing file up in its fan-out directory, opening it or
    /// making a new one (C's `cachefiles_look_up_object`).
    pub(super) fn look_up_object(
        &self,
        bound: &Bound,
        vol: &CacheVolume,
        object: &Arc<Object>,
    ) -> bool {
        let Some(fan) = object.fan(vol) else {
            return false;
        };
        let found = fan.lookup_positive(object.name.as_bytes());
        let (ino, err) = match &found {
            Ok(d) => (d.inode().map_or(0, |i| i.ino()), 0),
            Err(e) => (0, -e.0),
        };
        trace::lookup(object.debug_id, dir_ino(fan), ino, err);
        match found {
            Err(ENOENT) => {}
            Err(e) => {
                if e == EIO {
                    self.io_error_obj(object, format_args!("Lookup failed"));
                }
                return false;
            }
            Ok(dentry) if !dentry.is_reg() => {
                pr_err!(
                    "{} is not a file\n",
                    BStr::from_bytes(object.name.as_bytes())
                );
                let Ok(fan_lock) = fan.lock_dir() else {
                    return false;
                };
                if self
                    .bury(
                        bound,
                        Some(object.debug_id),
                        fan,
                        fan_lock,
                        &dentry,
                        Why::IsWeird,
                    )
                    .is_err()
                {
                    return false;
                }
            }
            Ok(dentry) => return self.open_file(bound, fan, object, &dentry),
        }
        object.cookie().lookup_negative();
        self.create_file(bound, fan, object)
    }

    /// Makes a new (unnamed) backing file (C's `cachefiles_create_file`).
    pub(super) fn create_file(&self, bound: &Bound, fan: &Dentry, object: &Arc<Object>) -> bool {
        if self
            .has_space(&bound.mnt, &bound.thresholds, 1, 0, SpaceFor::Create)
            .is_err()
        {
            return false;
        }
        let Ok(file) = self.create_tmpfile(bound, fan, object) else {
            return false;
        };
        object.cookie().set(CookieFlag::NeedsUpdate, true);
        object.using_tmpfile.store(true, Ordering::Release);
        *object.file.lock() = Some(file);
        true
    }

    /// Creates the tmpfile, sends OPEN and sizes the file to what the
    /// daemon said (C's `cachefiles_create_tmpfile`).
    pub(super) fn create_tmpfile(
        &self,
        bound: &Bound,
        fan: &Dentry,
        object: &Arc<Object>,
    ) -> Result<FileRef, Errno> {
        let file = FileRef::tmpfile(&bound.mnt, fan, &bound.cred).inspect_err(|e| {
            trace::vfs_error(object.debug_id, dir_ino(fan), -e.0, Op::Tmpfile);
            if *e == EIO {
                self.io_error_obj(object, format_args!("Failed to create tmpfile"));
            }
        })?;
        let ino = file.inode().ino();
        trace::tmpfile(object.debug_id, ino);
        // A new file nobody else can see: marking cannot fail.
        let _ = object.mark_in_use(file.inode());
        let ret = (|| {
            crate::cachefiles::ondemand::init_object(object)?;
            let size = object
                .cookie()
                .object_size()
                .checked_next_multiple_of(DIO_BLOCK_SIZE);
            let size = size.and_then(|s| i64::try_from(s).ok()).ok_or(EFBIG)?;
            if size > 0 {
                trace::trunc(object.debug_id, ino, 0, size, Trunc::ExpandTmpfile);
                file.truncate(size).inspect_err(|e| {
                    trace::vfs_error(object.debug_id, ino, -e.0, Op::Trunc);
                })?;
            }
            if !file.has_rw_iter() {
                pr_notice!("Cache does not support read_iter and write_iter\n");
                return Err(EINVAL);
            }
            Ok(())
        })();
        if let Err(e) = ret {
            object.unmark_in_use(file.inode());
            return Err(e);
        }
        Ok(file)
    }

    /// Opens an existing backing file, sends OPEN and checks the file's
    /// coherency data, replacing a stale file (C's `cachefiles_open_file`).
    pub(super) fn open_file(
        &self,
        bound: &Bound,
        fan: &Dentry,
        object: &Arc<Object>,
        dentry: &Dentry,
    ) -> bool {
        let Some(inode) = dentry.inode() else {
            return false;
        };
        if !object.mark_in_use(inode) {
            pr_notice!(
                "cachefiles: Inode already in use: {} (B={:x})\n",
                BStr::from_bytes(object.name.as_bytes()),
                inode.ino()
            );
            return false;
        }
        let file = match FileRef::open_backing(&bound.mnt, dentry, &bound.cred) {
            Ok(f) => f,
            Err(e) => {
                trace::vfs_error(object.debug_id, inode.ino(), -e.0, Op::Open);
                object.unmark_in_use(inode);
                return false;
            }
        };
        if !file.has_rw_iter() {
            pr_notice!("Cache does not support read_iter and write_iter\n");
            drop(file);
            object.unmark_in_use(inode);
            return false;
        }
        if crate::cachefiles::ondemand::init_object(object).is_err() {
            drop(file);
            object.unmark_in_use(inode);
            return false;
        }
        match self.check_auxdata(object, &file) {
            Ok(()) => {}
            Err(e) => {
                object.cookie().lookup_negative();
                object.release_file(&file);
                drop(file);
                return e == ESTALE && self.create_file(bound, fan, object);
            }
        }
        object.cookie().set(CookieFlag::NoDataToRead, false);
        file.touch_atime();
        *object.file.lock() = Some(file);
        true
    }

    /// Links a tmpfile into its fan-out directory, replacing a stale file
    /// of the same name (C's `cachefiles_commit_tmpfile`).
    pub(super) fn commit_tmpfile(&self, bound: &Bound, object: &Object) -> bool {
        object
            .with_fan_locked(|file, fan, lock| {
                let name = object.name.as_bytes();
                let obj = object.debug_id;
                let lookup = || {
                    lock.lookup(name).inspect_err(|e| {
                        trace::vfs_error(obj, dir_ino(fan), -e.0, Op::Lookup);
                    })
                };
                let Ok(mut dentry) = lookup() else {
                    return false;
                };
                if let Some(existing) = dentry.inode() {
                    if core::ptr::eq(existing, file.inode()) {
                        return true;
                    }
                    if self
                        .unlink_in(bound, obj, fan, lock, &dentry, Why::IsStale)
                        .is_err()
                    {
                        return false;
                    }
                    drop(dentry);
                    let Ok(d) = lookup() else {
                        return false;
                    };
                    dentry = d;
                }
                if let Err(e) = bound.mnt.link(file, lock, &dentry) {
                    trace::vfs_error(obj, dir_ino(fan), -e.0, Op::Link);
                    return false;
                }
                trace::link(obj, file.inode().ino());
                object.using_tmpfile.store(false, Ordering::Release);
                true
            })
            .unwrap_or(false)
    }

    /// Unlinks `dentry` from the locked `dir` (C's `cachefiles_unlink`);
    /// `obj` is the debug id of the object it is unlinked for, or
    /// [`trace::NO_OBJECT`].
    pub(super) fn unlink_in(
        &self,
        bound: &Bound,
        obj: u32,
        dir: &Dentry,
        lock: &DirGuard<'_>,
        dentry: &Dentry,
        why: Why,
    ) -> Result<(), Errno> {
        trace::unlink(obj, dentry.inode().map_or(0, |i| i.ino()), why);
        if let Err(e) = bound.mnt.may_unlink(dir, dentry) {
            self.io_error(format_args!("Unlink security error"));
            return Err(e);
        }
        let ret = bound.mnt.unlink(lock, dentry);
        if let Err(e) = ret {
            if e == EIO {
                self.io_error(format_args!("Unlink failed"));
            }
            trace::vfs_error(obj, dir_ino(dir), -e.0, Op::Unlink);
        }
        ret
    }

    /// Deletes a retired object's file (C's `cachefiles_delete_object`).
    pub(super) fn delete_object(&self, bound: &Bound, object: &Object) {
        object.with_fan_locked(|file, fan, lock| {
            let dentry = file.dentry();
            if dentry.has_parent(fan) {
                let _ = self.unlink_in(bound, object.debug_id, fan, lock, &dentry, Why::WasRetired);
            }
        });
    }
}
