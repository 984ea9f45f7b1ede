// SPDX-License-Identifier: GPL-2.0

//! Normal (non-on-demand) mode, changes to a whole object (C's
//! `interface.c` and `xattr.c`): resizing (truncation, the zeroed tail of
//! the last direct-I/O block), invalidation (a new tmpfile swapped in, the
//! old file buried, the tmpfile linked in at withdrawal) and the dirty
//! mark before the netfs writes.  On-demand caches never come here
//! (`interface.rs` branches on the mode first).

use crate::cachefiles::internal::{Cache, Object};
use crate::cachefiles::object::DIO_BLOCK_SIZE;
use crate::kernel_ext::fscache::{Cookie, CookieFlag, Cres};
use crate::kernel_ext::trace::{self, Op, Trunc, Why};
use crate::kernel_ext::vfs::FileRef;
use crate::logic::granule;
use core::sync::atomic::Ordering;

impl Cache {
    /// The netfs changed the object's size (C's `cachefiles_resize_cookie`):
    /// a smaller object shortens the backing file.
    pub(crate) fn normal_resize(cres: &mut Cres<'_, Cache>, new_size: i64) {
        let cookie = cres.cookie();
        let new = u64::try_from(new_size).unwrap_or(0);
        if new < cookie.object_size() {
            if let (Some(file), Some(object)) = (cres.file(), cookie.object()) {
                let _as_cache = object.bound.cred.override_current();
                object.cache.normal_shorten(&object, file, new_size.max(0));
            }
        }
        cookie.set_object_size(new);
    }

    /// Shortens the backing file to whole DIO blocks covering `new_size`
    /// and zeroes the tail past `new_size`, so that nothing beyond the new
    /// end is ever read back (C's `cachefiles_shorten_object`).  On failure
    /// the object's xattr is removed (the file is not served again).
    fn normal_shorten(&self, object: &Object, file: &FileRef, new_size: i64) -> bool {
        let inode = file.inode();
        let ino = inode.ino();
        let (dio_size, tail) = granule::shorten(new_size, DIO_BLOCK_SIZE as i64);
        trace::trunc(object.debug_id, ino, inode.size(), dio_size, Trunc::Shrink);
        if let Err(e) = file.truncate(dio_size) {
            trace::io_error(object.debug_id, ino, -e.0, Op::Trunc);
            self.io_error_obj(object, format_args!("Trunc-to-size failed {}", -e.0));
            self.remove_object_xattr(object, file);
            return false;
        }
        if let Some((off, len)) = tail {
            trace::trunc(object.debug_id, ino, dio_size, new_size, Trunc::DioAdjust);
            if let Err(e) = file.zero_range(off, len) {
                trace::io_error(object.debug_id, ino, -e.0, Op::Fallocate);
                self.io_error_obj(object, format_args!("Trunc-to-dio-size failed {}", -e.0));
                self.remove_object_xattr(object, file);
                return false;
            }
        }
        true
    }

    /// Invalidates the object's data (C's `cachefiles_invalidate_cookie`):
    /// a new tmpfile takes the old file's place at once (linked in at
    /// withdrawal), the old file is buried.  `false` if no tmpfile could be
    /// made (fscache then stops caching the cookie).
    pub(crate) fn normal_invalidate(&self, cookie: &Cookie<Cache>) -> bool {
        let Some(object) = cookie.object() else {
            cookie.resume_after_invalidation();
            return true;
        };
        let old_tmpfile = object.using_tmpfile.load(Ordering::Acquire);
        if object.file().is_none() {
            cookie.resume_after_invalidation();
            return true;
        }
        let bound = object.bound.clone();
        let Some(vol) = cookie.volume_data() else {
            return false;
        };
        let Some(fan) = object.fan(&vol) else {
            return false;
        };
        let _as_cache = bound.cred.override_current();
        let Ok(new_file) = self.create_tmpfile(&bound, fan, &object) else {
            return false;
        };
        let old_file = {
            let mut slot = object.file.lock();
            let old = slot.replace(new_file);
            object.using_tmpfile.store(true, Ordering::Release);
            old
        };
        cookie.set(CookieFlag::NeedsUpdate, true);
        cookie.resume_after_invalidation();
        if let Some(old) = old_file {
            if !old_tmpfile {
                if let Ok(lock) = fan.lock_dir() {
                    let dentry = old.dentry();
                    let _ = self.bury(
                        &bound,
                        Some(object.debug_id),
                        fan,
                        lock,
                        &dentry,
                        Why::Invalidated,
                    );
                }
            }
            drop(old);
        }
        true
    }

    /// The netfs is about to modify the object: mark it dirty on disk
    /// unless it is still an unlinked tmpfile (C's
    /// `cachefiles_prepare_to_write`).
    pub(crate) fn normal_prepare_to_write(&self, cookie: &Cookie<Cache>) {
        let Some(object) = cookie.object() else {
            return;
        };
        if !object.using_tmpfile.load(Ordering::Acquire) {
            let _as_cache = object.bound.cred.override_current();
            let _ = self.set_object_xattr(&object);
        }
    }
}
