// SPDX-License-Identifier: GPL-2.0

//! Directories and culling (C's `namei.c`, first half): making and marking
//! cache directories, `cull`/`inuse` lookups, burying files and directories
//! in the graveyard.

use crate::cachefiles::cache::SpaceFor;
use crate::cachefiles::internal::{Bound, Cache, CacheDir};
use crate::kernel_ext::fscache::stats;
use crate::kernel_ext::trace::{self, Op, Why};
use crate::kernel_ext::vfs;
use crate::kernel_ext::vfs::{Dentry, Mount, RenameLock, S_KERNEL_FILE};
use crate::logic::cmd::errno::*;
use crate::logic::cmd::{Errno, Thresholds};
use core::sync::atomic::Ordering;
use kernel::prelude::{pr_err, pr_notice};
use kernel::str::BStr;

impl Cache {
    /// Looks up or creates the directory `name` in `dir` and marks it in
    /// use (C's `cachefiles_get_directory`).
    pub(super) fn get_directory(
        &self,
        mnt: &Mount,
        dir: &Dentry,
        thresholds: &Thresholds,
        name: &[u8],
    ) -> Result<(CacheDir, bool), Errno> {
        let mut is_new = false;
        let subdir = loop {
            let dir_lock = dir.lock_dir()?;
            let dino = dir_ino(dir);
            let subdir = dir_lock.lookup(name);
            match &subdir {
                Ok(d) => trace::lookup(0, dino, d.inode().map_or(0, |i| i.ino()), 0),
                Err(e) => {
                    trace::lookup(0, dino, 0, -e.0);
                    trace::vfs_error(0, dino, -e.0, Op::Lookup);
                }
            }
            let subdir = subdir.inspect_err(|e| {
                if *e != ENOMEM {
                    pr_err!(
                        "Lookup {} failed with error {}\n",
                        BStr::from_bytes(name),
                        -e.0
                    );
                }
            })?;
            if subdir.is_negative() {
                let made = self
                    .has_space(mnt, thresholds, 1, 0, SpaceFor::Create)
                    .and_then(|()| {
                        mnt.mkdir(&dir_lock, &subdir, 0o700)
                            .inspect(|()| {
                                let sub = subdir.inode().map_or(0, |i| i.ino());
                                trace::mkdir(dino, sub);
                            })
                            .inspect_err(|e| trace::vfs_error(0, dino, -e.0, Op::Mkdir))
                    });
                if let Err(e) = made {
                    pr_err!(
                        "mkdir {} failed with error {}\n",
                        BStr::from_bytes(name),
                        -e.0
                    );
                    return Err(e);
                }
                is_new = true;
                if subdir.is_unhashed() {
                    continue;
                }
            }
            let inode = subdir.inode().ok_or(ENOENT)?;
            let sub_lock = inode.lock();
            drop(dir_lock);
            if sub_lock.flags() & S_KERNEL_FILE != 0 {
                trace::mark_failed(0, inode.ino());
                pr_notice!(
                    "cachefiles: Inode already in use: {}\n",
                    BStr::from_bytes(name)
                );
                drop(sub_lock);
                return Err(EBUSY);
            }
            sub_lock.update_flags(S_KERNEL_FILE, 0);
            trace::mark_active(0, inode.ino());
            drop(sub_lock);
            break CacheDir { dentry: subdir };
        };
        if !subdir.dentry.can_lookup() {
            pr_err!("{} is not a directory\n", BStr::from_bytes(name));
            return Err(EIO);
        }
        if !subdir.dentry.inode().is_some_and(|i| i.has_dir_ops()) {
            return Err(EPERM);
        }
        Ok((subdir, is_new))
    }

    /// Looks `name` up in `dir` for culling; returns it with `dir` locked,
    /// or `EBUSY` if the cache uses it (C's `cachefiles_lookup_for_cull`).
    pub(super) fn lookup_for_cull<'d>(
        &self,
        dir: &'d Dentry,
        name: &[u8],
    ) -> Result<(Dentry, vfs::DirGuard<'d>), Errno> {
        let dir_lock = dir.lock_dir()?;
        let victim = dir_lock.lookup(name).map_err(|e| match e {
            // Probably retired by the netfs meanwhile.
            ENOENT => ESTALE,
            EIO => {
                self.io_error(format_args!("Lookup failed"));
                EIO
            }
            ENOMEM => ENOMEM,
            other => {
                pr_err!("Internal error: {}\n", -other.0);
                EIO
            }
        })?;
        match victim.inode() {
            None => Err(ENOENT),
            Some(i) if i.flags_unlocked() & S_KERNEL_FILE != 0 => Err(EBUSY),
            Some(_) => Ok((victim, dir_lock)),
        }
    }

    /// Culls `victim` from `dir` unless the cache uses it (C's
    /// `cachefiles_cull`); any failure past the lookup reads as `ESTALE`
    /// (gone), `ENOMEM` or `EIO`.
    pub(super) fn cull(
        &self,
        bound: &Bound,
        dir: &Dentry,
        dir_lock: vfs::DirGuard<'_>,
        victim: Dentry,
    ) -> Result<(), Errno> {
        let ret = (|| {
            let inode = victim.inode().ok_or(ENOENT)?;
            {
                let lock = inode.lock();
                if lock.flags() & S_KERNEL_FILE != 0 {
                    return Err(EBUSY);
                }
                // Stop the cache from picking it back up.
                lock.update_flags(S_KERNEL_FILE, 0);
            }
            self.bury(bound, None, dir, dir_lock, &victim, Why::WasCulled)?;
            stats::count_culled();
            Ok(())
        })();
        match ret {
            Ok(()) => Ok(()),
            Err(ENOENT) => Err(ESTALE),
            Err(ENOMEM) => Err(ENOMEM),
            Err(e) => {
                pr_err!("Internal error: {}\n", -e.0);
                Err(EIO)
            }
        }
    }

    /// Removes `rep` from `dir` (locked by `dir_lock`, released here): files
    /// are unlinked, directories moved to the graveyard (C's
    /// `cachefiles_bury_object`).  `obj` is the debug id of the object it
    /// is removed for, if any; `why` is recorded in the trace.
    pub(crate) fn bury(
        &self,
        bound: &Bound,
        obj: Option<u32>,
        dir: &Dentry,
        dir_lock: vfs::DirGuard<'_>,
        rep: &Dentry,
        why: Why,
    ) -> Result<(), Errno> {
        if !rep.has_parent(dir) {
            return Err(ESTALE);
        }
        let killed = obj.unwrap_or(trace::NO_OBJECT);
        let rep_ino = rep.inode().map_or(0, |i| i.ino());
        if !rep.is_dir() {
            // Keep the dentry from going negative if only a file pins it.
            let _pin = rep.get();
            trace::unlink(killed, rep_ino, why);
            if let Err(e) = bound.mnt.may_unlink(dir, rep) {
                self.io_error(format_args!("Unlink security error"));
                return Err(e);
            }
            let ret = bound.mnt.unlink(&dir_lock, rep);
            if let Err(e) = ret {
                if e == EIO {
                    self.io_error(format_args!("Unlink failed"));
                }
                trace::vfs_error(obj.unwrap_or(0), dir_ino(dir), -e.0, Op::Unlink);
            }
            return ret;
        }
        drop(dir_lock);
        let graveyard = &bound.graveyard.dentry;
        loop {
            let mut nbuf = [0u8; 16];
            let stamp = vfs::real_seconds() as u32;
            let count = self
                .gravecounter
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_add(1);
            hex8(&mut nbuf[..8], stamp);
            hex8(&mut nbuf[8..], count);

            let locks = RenameLock::new(graveyard, dir)?;
            if !rep.has_parent(dir) || rep.inode().is_some_and(|i| i.is_dead_dir()) {
                // Culled while the parent was unlocked.
                return Ok(());
            }
            if !graveyard.can_lookup() {
                drop(locks);
                self.io_error(format_args!("Graveyard no longer a directory"));
                return Err(EIO);
            }
            if locks.is_trap(rep) {
                drop(locks);
                self.io_error(format_args!("May not make directory loop"));
                return Err(EIO);
            }
            if rep.is_mountpoint() {
                drop(locks);
                self.io_error(format_args!("Mountpoint in cache"));
                return Err(EIO);
            }
            let grave = match graveyard.lookup_renaming(&nbuf, &locks) {
                Ok(g) => g,
                Err(e) if e == ENOMEM => {
                    drop(locks);
                    trace::vfs_error(obj.unwrap_or(0), dir_ino(graveyard), -e.0, Op::Lookup);
                    return Err(ENOMEM);
                }
                Err(e) => {
                    trace::vfs_error(obj.unwrap_or(0), dir_ino(graveyard), -e.0, Op::Lookup);
                    drop(locks);
                    self.io_error(format_args!("Lookup error {}", -e.0));
                    return Err(EIO);
                }
            };
            if !grave.is_negative() {
                drop(locks);
                drop(grave);
                vfs::cond_resched();
                continue;
            }
            if grave.is_mountpoint() {
                drop(locks);
                self.io_error(format_args!("Mountpoint in graveyard"));
                return Err(EIO);
            }
            if locks.is_trap(&grave) {
                drop(locks);
                self.io_error(format_args!("May not make directory loop"));
                return Err(EIO);
            }
            match bound.mnt.may_rename(dir, rep, graveyard, &grave) {
                Err(e) => self.io_error(format_args!("Rename security error {}", -e.0)),
                Ok(()) => {
                    trace::rename(killed, rep_ino, why);
                    match bound.mnt.rename(&locks, dir, rep, graveyard, &grave) {
                        Ok(()) => {}
                        Err(e) => {
                            trace::vfs_error(obj.unwrap_or(0), dir_ino(dir), -e.0, Op::Rename);
                            if e != ENOMEM {
                                self.io_error(format_args!("Rename failed with error {}", -e.0));
                            }
                        }
                    }
                }
            }
            if let Some(i) = rep.inode() {
                // C clears the mark here under the rename locks only; the
                // inode lock (a child's, nested in its parents' as in
                // `vfs_rename`) makes the write race-free.
                i.lock().update_flags(0, S_KERNEL_FILE);
                trace::mark_inactive(obj.unwrap_or(0), i.ino());
            }
            return Ok(());
        }
    }
}

/// Writes `v` as 8 lower-case hex digits (C's `%08x`).
fn hex8(out: &mut [u8], v: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, o) in out.iter_mut().take(8).enumerate() {
        *o = HEX[((v >> (28 - 4 * i)) & 0xf) as usize];
    }
}

/// The inode number of directory `dir` (0 if it is negative).
pub(super) fn dir_ino(dir: &Dentry) -> u64 {
    dir.inode().map_or(0, |i| i.ino())
}
