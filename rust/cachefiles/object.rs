// SPDX-License-Identifier: GPL-2.0

//! Cache objects: the backing file of one fscache cookie (C's
//! `struct cachefiles_object`, `namei.c`, `interface.c`, `io.c`, `xattr.c`).
//!
//! # Lifetime and ownership
//!
//! An [`Object`] lives in an `Arc`.  References are held by: the cookie
//! (`cache_priv`, from lookup to withdrawal), the cache's object list
//! (same span, used to withdraw everything on unbind), each anonymous fd
//! of the object, each on-demand request for it, and its queued re-open
//! work.  Each object is counted in fscache (`count_object`) until it is
//! freed, so unbinding waits for all of them.  An object holds its
//! cookie (a counted reference), the cache, and the cache's bound
//! resources (mount, credentials), so whatever outlives withdrawal (an
//! fd, a request) finds everything it touches alive.
//!
//! # Locking
//!
//! * `file` (C `object->lock`, a spinlock): the backing file; users clone
//!   the reference and drop the lock at once.
//! * `od` (C `info->lock`, a spinlock): the on-demand state
//!   ([`ObjectState`]).  Taken inside the cache's request-table mutex,
//!   never the other way round.

use crate::cachefiles::cache::{Bound, Cache, CacheVolume};
use crate::kernel_ext::fscache::{
    Cookie, CookieFlag, CookieRef, Cres, ReadHole, Source, Want, SREQ_COPY_TO_CACHE, SREQ_ONDEMAND,
};
use crate::kernel_ext::vfs::{Dentry, FileRef, InodeGuard, IovIter, Whence, S_KERNEL_FILE};
use crate::logic::cmd::{errno::*, Errno};
use crate::logic::layout;
use crate::logic::object_state::ObjectState;
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::init::InPlaceInit;
use kernel::prelude::{pin_data, pin_init, pr_err, pr_notice, pr_warn, CStr, GFP_KERNEL};
use kernel::str::BStr;
use kernel::sync::{Arc, SpinLock};
use kernel::workqueue::{Work, WorkItem};

/// Cache files are sized in whole direct-I/O blocks.
const DIO_BLOCK_SIZE: u64 = 4096;

/// The object's cookie reference, also counting the object in fscache
/// (uncounted when the object goes, before the cookie is put).
struct CountedCookie(CookieRef<Cache>);

impl Drop for CountedCookie {
    fn drop(&mut self) {
        self.0.uncount_object();
    }
}

/// A cache object.  See the module documentation.
#[pin_data]
pub(crate) struct Object {
    cookie: CountedCookie,
    pub(crate) cache: Arc<Cache>,
    pub(crate) bound: Arc<Bound>,
    /// The backing file's name in its fan-out directory.
    name: layout::Name,
    /// The backing file, once looked up or created (C `object->file`).
    #[pin]
    file: SpinLock<Option<FileRef>>,
    /// The file is an unnamed tmpfile, linked in at withdrawal.
    using_tmpfile: AtomicBool,
    /// Whether the cache was in on-demand mode when the object was made.
    pub(crate) ondemand: bool,
    /// On-demand state (C `ondemand_id` and state under `info->lock`).
    #[pin]
    pub(crate) od: SpinLock<ObjectState>,
    /// Re-sends OPEN for a closed object that met a READ.
    #[pin]
    work: Work<Object>,
}

kernel::impl_has_work! {
    impl HasWork<Object> for Object { self.work }
}

impl WorkItem for Object {
    type Pointer = Arc<Object>;

    fn run(this: Arc<Object>) {
        // The re-open of C's `ondemand_object_worker`: failures leave the
        // object CLOSE (or DROPPING), and the READ is retried or failed.
        let _ = crate::cachefiles::ondemand::init_object(&this);
    }
}

impl Object {
    /// A new object for `cookie`, counted in fscache.
    fn new(
        cache: Arc<Cache>,
        bound: Arc<Bound>,
        cookie: &Cookie<Cache>,
    ) -> Result<Arc<Self>, Errno> {
        let name = layout::cook_key(cookie.key()).ok_or(EINVAL)?;
        cookie.count_object();
        let counted = CountedCookie(cookie.get());
        let ondemand = cache.ondemand();
        Arc::pin_init(
            pin_init!(Object {
                cookie: counted,
                cache,
                bound,
                name,
                file <- kernel::new_spinlock!(None, "cachefiles_rs_object_file"),
                using_tmpfile: AtomicBool::new(false),
                ondemand,
                od <- kernel::new_spinlock!(ObjectState::new(), "cachefiles_rs_object_od"),
                work <- kernel::new_work!("cachefiles_rs_object_reopen"),
            }),
            GFP_KERNEL,
        )
        .map_err(|_| ENOMEM)
    }

    /// The object's cookie.
    pub(crate) fn cookie(&self) -> &Cookie<Cache> {
        &self.cookie.0
    }

    /// A reference to the backing file, if there is one.
    pub(crate) fn file(&self) -> Option<FileRef> {
        self.file.lock().clone()
    }

    /// The fan-out directory of the object in `vol`.
    fn fan<'a>(&self, vol: &'a CacheVolume) -> Option<&'a Dentry> {
        vol.fanout_dir((self.cookie().key_hash() & 0xff) as u8)
    }

    /// Runs `f` on the object's file and its fan-out directory, the
    /// directory locked; `None` (and `f` not run) without a file, volume or
    /// fan-out directory.
    fn with_fan_locked<R>(
        &self,
        f: impl FnOnce(&FileRef, &Dentry, &InodeGuard<'_>) -> R,
    ) -> Option<R> {
        let (Some(vol), Some(file)) = (self.cookie().volume_data(), self.file()) else {
            return None;
        };
        let fan = self.fan(vol)?;
        let lock = fan.inode()?.lock_parent();
        Some(f(&file, fan, &lock))
    }

    /// Queues the re-open work; `false` if it is already queued.
    pub(crate) fn queue_reopen(self: &Arc<Self>) -> bool {
        match crate::kernel_ext::completion::queue() {
            Some(q) => q.enqueue(self.clone()).is_ok(),
            None => false,
        }
    }

    /// Marks `inode` in use by the cache; `false` if it already is.
    fn mark_in_use(inode: &crate::kernel_ext::vfs::Inode) -> bool {
        let lock = inode.lock();
        if lock.flags() & S_KERNEL_FILE != 0 {
            return false;
        }
        lock.update_flags(S_KERNEL_FILE, 0);
        true
    }

    fn unmark_in_use(inode: &crate::kernel_ext::vfs::Inode) {
        inode.lock().update_flags(0, S_KERNEL_FILE);
    }

    /// Unmarks the backing file and tells the daemon there is something
    /// it could cull (C's `cachefiles_unmark_inode_in_use`).
    fn release_file(&self, file: &FileRef) {
        Self::unmark_in_use(file.inode());
        if !self.using_tmpfile.load(Ordering::Acquire) {
            self.cache.file_released(file.inode().blocks());
        }
    }
}

impl Cache {
    /// Finds or creates the backing file of `cookie` (C's
    /// `cachefiles_lookup_cookie`).
    pub(crate) fn lookup_cookie(self: &Arc<Self>, cookie: &Cookie<Cache>) -> bool {
        // Only on-demand mode is served; a normal-mode netfs runs uncached.
        if !self.ondemand() {
            return false;
        }
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
            self.look_up_object(&bound, vol, &object)
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

    /// Looks the backing file up in its fan-out directory, opening it or
    /// making a new one (C's `cachefiles_look_up_object`).
    fn look_up_object(&self, bound: &Bound, vol: &CacheVolume, object: &Arc<Object>) -> bool {
        let Some(fan) = object.fan(vol) else {
            return false;
        };
        match fan.lookup_positive(object.name.as_bytes()) {
            Err(ENOENT) => {}
            Err(e) => {
                if e == EIO {
                    self.io_error(format_args!("Lookup failed"));
                }
                return false;
            }
            Ok(dentry) if !dentry.is_reg() => {
                pr_err!(
                    "{} is not a file\n",
                    BStr::from_bytes(object.name.as_bytes())
                );
                let Some(fan_inode) = fan.inode() else {
                    return false;
                };
                if self
                    .bury(bound, fan, fan_inode.lock_parent(), &dentry)
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
    fn create_file(&self, bound: &Bound, fan: &Dentry, object: &Arc<Object>) -> bool {
        if self.has_space(&bound.mnt, &bound.thresholds, 1, 0).is_err() {
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
    fn create_tmpfile(
        &self,
        bound: &Bound,
        fan: &Dentry,
        object: &Arc<Object>,
    ) -> Result<FileRef, Errno> {
        let file = FileRef::tmpfile(&bound.mnt, fan, &bound.cred).inspect_err(|e| {
            if *e == EIO {
                self.io_error(format_args!("Failed to create tmpfile"));
            }
        })?;
        // A new file nobody else can see: marking cannot fail.
        let _ = Object::mark_in_use(file.inode());
        let ret = (|| {
            crate::cachefiles::ondemand::init_object(object)?;
            let size = object
                .cookie()
                .object_size()
                .checked_next_multiple_of(DIO_BLOCK_SIZE);
            let size = size.and_then(|s| i64::try_from(s).ok()).ok_or(EFBIG)?;
            if size > 0 {
                file.truncate(size)?;
            }
            if !file.has_rw_iter() {
                pr_notice!("Cache does not support read_iter and write_iter\n");
                return Err(EINVAL);
            }
            Ok(())
        })();
        if let Err(e) = ret {
            Object::unmark_in_use(file.inode());
            return Err(e);
        }
        Ok(file)
    }

    /// Opens an existing backing file, sends OPEN and checks the file's
    /// coherency data, replacing a stale file (C's `cachefiles_open_file`).
    fn open_file(
        &self,
        bound: &Bound,
        fan: &Dentry,
        object: &Arc<Object>,
        dentry: &Dentry,
    ) -> bool {
        let Some(inode) = dentry.inode() else {
            return false;
        };
        if !Object::mark_in_use(inode) {
            pr_notice!(
                "cachefiles: Inode already in use: {} (B={:x})\n",
                BStr::from_bytes(object.name.as_bytes()),
                inode.ino()
            );
            return false;
        }
        let file = match FileRef::open_backing(&bound.mnt, dentry, &bound.cred) {
            Ok(f) => f,
            Err(_) => {
                Object::unmark_in_use(inode);
                return false;
            }
        };
        if !file.has_rw_iter() {
            pr_notice!("Cache does not support read_iter and write_iter\n");
            drop(file);
            Object::unmark_in_use(inode);
            return false;
        }
        if crate::cachefiles::ondemand::init_object(object).is_err() {
            drop(file);
            Object::unmark_in_use(inode);
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

    /// Checks the backing file's xattr against the cookie (C's
    /// `cachefiles_check_auxdata`): `ESTALE` if it does not match.
    fn check_auxdata(&self, object: &Object, file: &FileRef) -> Result<(), Errno> {
        let aux = object.cookie().aux();
        let mut buf = [0u8; layout::OBJECT_XATTR_HEADER + 255];
        let want = layout::OBJECT_XATTR_HEADER + aux.len();
        let buf = buf.get_mut(..want).ok_or(ESTALE)?;
        match file.get_xattr(xattr_name(), buf) {
            Ok(n) if n == want => {
                match layout::check_object_xattr(buf, aux, object.cookie().object_size()) {
                    Ok(()) => Ok(()),
                    Err(layout::Mismatch::Dirty) => {
                        pr_warn!("Dirty object in cache\n");
                        Err(ESTALE)
                    }
                    Err(_) => Err(ESTALE),
                }
            }
            Ok(_) => Err(ESTALE),
            Err(e) => {
                if e == EIO {
                    self.io_error(format_args!("Failed to read aux with error {}", -e.0));
                }
                Err(e)
            }
        }
    }

    /// Writes the object's xattr (C's `cachefiles_set_object_xattr`).
    fn set_object_xattr(&self, object: &Object) -> Result<(), Errno> {
        let file = object.file().ok_or(ESTALE)?;
        let content = if object.cookie().test(CookieFlag::LocalWrite) {
            layout::Content::Dirty
        } else {
            layout::Content::NoData
        };
        let mut buf = [0u8; layout::OBJECT_XATTR_HEADER + 255];
        let len = layout::encode_object_xattr(
            &mut buf,
            object.cookie().object_size(),
            content,
            object.cookie().aux(),
        )
        .ok_or(EINVAL)?;
        file.set_xattr(xattr_name(), &buf[..len]).inspect_err(|e| {
            if *e != ENOMEM {
                self.io_error(format_args!("Failed to set xattr with error {}", -e.0));
            }
        })
    }

    /// Keeps the file's size a whole number of DIO blocks covering the
    /// object (C's `cachefiles_adjust_size`).
    fn adjust_size(&self, object: &Object) {
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
        if file.truncate(want) == Err(EIO) {
            self.io_error(format_args!("Size set failed"));
        }
    }

    /// Links a tmpfile into its fan-out directory, replacing a stale file
    /// of the same name (C's `cachefiles_commit_tmpfile`).
    fn commit_tmpfile(&self, bound: &Bound, object: &Object) -> bool {
        object
            .with_fan_locked(|file, fan, lock| {
                let name = object.name.as_bytes();
                let Ok(mut dentry) = fan.lookup(name, lock) else {
                    return false;
                };
                if let Some(existing) = dentry.inode() {
                    if core::ptr::eq(existing, file.inode()) {
                        return true;
                    }
                    if self.unlink_in(bound, fan, lock, &dentry).is_err() {
                        return false;
                    }
                    drop(dentry);
                    let Ok(d) = fan.lookup(name, lock) else {
                        return false;
                    };
                    dentry = d;
                }
                if bound.mnt.link(file, fan, lock, &dentry).is_err() {
                    return false;
                }
                object.using_tmpfile.store(false, Ordering::Release);
                true
            })
            .unwrap_or(false)
    }

    /// Unlinks `dentry` from the locked `dir` (C's `cachefiles_unlink`).
    fn unlink_in(
        &self,
        bound: &Bound,
        dir: &Dentry,
        lock: &InodeGuard<'_>,
        dentry: &Dentry,
    ) -> Result<(), Errno> {
        if let Err(e) = bound.mnt.may_unlink(dir, dentry) {
            self.io_error(format_args!("Unlink security error"));
            return Err(e);
        }
        let ret = bound.mnt.unlink(dir, lock, dentry);
        if ret == Err(EIO) {
            self.io_error(format_args!("Unlink failed"));
        }
        ret
    }

    /// Deletes a retired object's file (C's `cachefiles_delete_object`).
    fn delete_object(&self, bound: &Bound, object: &Object) {
        object.with_fan_locked(|file, fan, lock| {
            let dentry = file.dentry();
            if dentry.has_parent(fan) {
                let _ = self.unlink_in(bound, fan, lock, &dentry);
            }
        });
    }

    /// Drops the cookie's object (C's `cachefiles_withdraw_cookie`): sends
    /// CLOSE and fails its requests, commits the file (xattr, link) unless
    /// the netfs retired it, and releases the file.
    pub(crate) fn withdraw_cookie(&self, cookie: &Cookie<Cache>) {
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

    /// Gives an I/O operation its file (C's `cachefiles_begin_operation`).
    pub(crate) fn begin_operation(cres: &mut Cres<'_, Cache>, want: Want) -> bool {
        if cres.file().is_none() {
            if let Some(file) = cres.cookie().object().and_then(|o| o.file()) {
                cres.set_file(file);
            }
        }
        if cres.file().is_none() && want != Want::Params {
            pr_err!("failed to get cres->file\n");
            return false;
        }
        true
    }

    /// Reads cached data (C's `cachefiles_read`, done synchronously).
    pub(crate) fn read_object(
        cres: &mut Cres<'_, Cache>,
        pos: i64,
        iter: &mut IovIter,
        hole: ReadHole,
    ) -> Result<usize, Errno> {
        if !cres.wait_for_operation(Want::Read) {
            return Err(ENOBUFS);
        }
        let file = cres.file().ok_or(ENOBUFS)?;
        let len = iter.count();
        let mut skipped = 0usize;
        if hole != ReadHole::Ignore {
            let end = pos.saturating_add(len as i64);
            let data = match file.llseek(pos, Whence::Data) {
                Ok(off) => Some(off),
                Err(ENXIO) => None,
                Err(e) => return Err(e),
            };
            match data {
                Some(off) if off < end => {
                    // `pos <= off < end`, so the difference fits `len`.
                    skipped = (off - pos) as usize;
                    iter.zero(skipped);
                }
                _ => {
                    if hole == ReadHole::Fail {
                        return Err(ENODATA);
                    }
                    iter.zero(len);
                    return Ok(len);
                }
            }
        }
        let n = file.read_direct(pos + skipped as i64, iter)?;
        if cres.cookie().inval_counter() != cres.inval_counter() {
            return Err(ESTALE);
        }
        Ok(n + skipped)
    }

    /// Decides where a read comes from, asking the daemon to fill a hole
    /// in on-demand mode (C's `cachefiles_do_prepare_read`).
    pub(crate) fn prepare_ondemand_read(
        cres: &mut Cres<'_, Cache>,
        start: i64,
        len_out: &mut usize,
        i_size: i64,
        flags: &mut usize,
    ) -> Source {
        if start >= i_size {
            return Source::FillWithZeroes;
        }
        if cres.cookie().test(CookieFlag::NoDataToRead) {
            *flags |= SREQ_COPY_TO_CACHE;
            if *flags & SREQ_ONDEMAND == 0 {
                return Source::DownloadFromServer;
            }
        }
        if cres.file().is_none() && !cres.wait_for_operation(Want::Read) {
            return Source::DownloadFromServer;
        }
        let (Some(file), Some(object)) = (cres.file().cloned(), cres.cookie().object()) else {
            return Source::DownloadFromServer;
        };
        let object: Arc<Object> = object.into();
        let bsize = object.bound.bsize as i64;
        let _as_cache = object.bound.cred.override_current();
        let mut len = *len_out as i64;
        loop {
            let hole = match file.llseek(start, Whence::Data) {
                Err(ENXIO) => true,
                Err(_) => return Source::DownloadFromServer,
                Ok(off) if off >= start + len => true,
                Ok(off) if off > start => {
                    len = round_up(off, bsize) - start;
                    *len_out = len as usize;
                    true
                }
                Ok(_) => false,
            };
            if !hole {
                let to = match file.llseek(start, Whence::Hole) {
                    Ok(to) => to,
                    Err(_) => return Source::DownloadFromServer,
                };
                if to < start + len {
                    let to = if start + len >= i_size {
                        round_up(to, bsize)
                    } else {
                        to - to % bsize
                    };
                    *len_out = (to - start) as usize;
                }
                return Source::ReadFromCache;
            }
            *flags |= SREQ_COPY_TO_CACHE;
            if *flags & SREQ_ONDEMAND == 0 {
                return Source::DownloadFromServer;
            }
            if crate::cachefiles::ondemand::read(&object, start, len as usize).is_err() {
                return Source::InvalidRead;
            }
            *flags &= !SREQ_ONDEMAND;
        }
    }

    /// Where the next cached data in a range is (C's
    /// `cachefiles_query_occupancy`).
    pub(crate) fn query_occupancy(
        cres: &mut Cres<'_, Cache>,
        start: i64,
        len: usize,
        granularity: usize,
    ) -> Result<(i64, usize), Errno> {
        if !cres.wait_for_operation(Want::Read) {
            return Err(ENOBUFS);
        }
        let file = cres.file().ok_or(ENOBUFS)?;
        let bsize = cres.cookie().object().map_or(1, |o| o.bound.bsize);
        let gran = core::cmp::max(bsize as i64, granularity as i64).max(1);
        let end = start.saturating_add(len as i64);
        let off = match file.llseek(start, Whence::Data) {
            Ok(o) => o,
            Err(ENXIO) => return Err(ENODATA),
            Err(_) => return Err(ENOBUFS),
        };
        if round_up(off, gran) >= end {
            return Err(ENODATA);
        }
        let off2 = match file.llseek(off, Whence::Hole) {
            Ok(o) => o,
            Err(ENXIO) => return Err(ENODATA),
            Err(_) => return Err(ENOBUFS),
        };
        let off = round_up(off, gran);
        let off2 = off2 - off2 % gran;
        if off2 <= off {
            return Err(ENODATA);
        }
        let data_len = if off2 > end {
            len
        } else {
            (off2 - off) as usize
        };
        Ok((off, data_len))
    }
}

/// Rounds `v` (non-negative) up to a multiple of `to` (positive).
fn round_up(v: i64, to: i64) -> i64 {
    match v % to {
        0 => v,
        r => v.saturating_add(to - r),
    }
}

/// The xattr holding coherency data (`user.CacheFiles.cache`).
pub(crate) fn xattr_name() -> &'static CStr {
    // `layout::XATTR_NAME` is a NUL-terminated constant without inner NULs.
    CStr::from_bytes_with_nul(layout::XATTR_NAME).unwrap_or(kernel::c_str!("user.CacheFiles.cache"))
}
