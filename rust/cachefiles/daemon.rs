// SPDX-License-Identifier: GPL-2.0

//! The devnode (C's `daemon.c`): the file operations of
//! `/dev/cachefiles` (each open is a [`Daemon`], which serves the
//! [`Cache`] it made or, after `attach`, the orphan it adopted), the status
//! `read()`, `poll()`, and the commands a daemon writes.

use crate::cachefiles::bind::nul_terminated;
use crate::cachefiles::cache::SpaceFor;
use crate::cachefiles::internal::STATE_CHANGED;
use crate::cachefiles::internal::{Cache, Config, CULLING, DEAD, READY, RECOVERABLE};
use crate::cachefiles::ondemand;
use crate::cachefiles::recovery;
use crate::kernel_ext::miscdev::{File, FileOps};
use crate::kernel_ext::poll::{PollQueue, PollTable, EPOLLIN, EPOLLOUT};
use crate::kernel_ext::vfs;
use crate::kernel_ext::vfs::Path;
use crate::logic::cmd;
use crate::logic::cmd::errno::*;
use crate::logic::cmd::{Command, Errno, Limit};
use crate::logic::recovery as recovery_logic;
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::init::InPlaceInit;
use kernel::prelude::{pin_data, pin_init, pr_err, Error, KVec, Result, GFP_KERNEL};
use kernel::sync::{Arc, SpinLock};
use kernel::uaccess::UserSlice;

fn to_error(e: Errno) -> Error {
    Error::from_errno(-e.0)
}

/// One open of the devnode (the per-file state): the cache `open()` made,
/// or the orphan it adopted with `attach` (cachefiles_rs only).
///
/// # Locking
///
/// `adopted` (a spinlock) protects only the slot; it is written once, by
/// `attach` under `own.config`, and users clone the `Arc` and drop the
/// lock at once.  `has_adopted` is set after the slot is filled, so that
/// files that never attach (all of them without recovery) only read an
/// atomic.
#[pin_data]
pub(crate) struct Daemon {
    /// The cache `open()` made.  Kept until `release()` even after an
    /// `attach`, as pollers may still be registered on its wait queue.
    own: Arc<Cache>,
    #[pin]
    adopted: SpinLock<Option<Arc<Cache>>>,
    has_adopted: AtomicBool,
}

impl Daemon {
    /// Runs `f` on the cache this file serves: its own one without a
    /// counted reference (all files without recovery), an adopted one
    /// through a clone of the slot's `Arc` (the lock is not held by `f`).
    fn with_serving<R>(&self, f: impl FnOnce(&Arc<Cache>) -> R) -> R {
        if self.has_adopted.load(Ordering::Acquire) {
            let adopted = self.adopted.lock().clone();
            if let Some(c) = adopted {
                return f(&c);
            }
        }
        f(&self.own)
    }

    /// The cache this file serves, counted.
    fn serving(&self) -> Arc<Cache> {
        self.with_serving(|c| c.clone())
    }

    /// `write()`: parses and runs one command.
    fn run_write(&self, data: &[u8]) -> Result<(), Errno> {
        let (command, args) = cmd::parse_request(data, kernel::page::PAGE_SIZE)?;
        if command == Command::Attach {
            return self.attach_orphan(args);
        }
        self.with_serving(|c| c.write_command(command, args))
    }

    /// `attach`: this file adopts the orphaned cache of its tag (see
    /// `recovery.rs`); in-flight requests are marked new, as `restore`
    /// does.  The file's own cache, never bound, is dropped from service.
    fn attach_orphan(&self, args: &[u8]) -> Result<(), Errno> {
        let own = &self.own;
        let config = own.config.lock();
        let adopted = self.has_adopted.load(Ordering::Acquire);
        if !adopted && own.test(DEAD) {
            return Err(EIO);
        }
        recovery_logic::check_attach(
            adopted,
            own.test(READY),
            own.ondemand(),
            own.test(RECOVERABLE),
        )?;
        if !args.is_empty() {
            return Err(EINVAL);
        }
        let tag = match config.tag.as_deref() {
            Some(t) => t.strip_suffix(&[0]).unwrap_or(t),
            None => DEFAULT_TAG,
        };
        let cache = match recovery::adopt(tag, config.recovery)? {
            Ok(cache) => cache,
            Err(dead) => {
                drop(config);
                dead.end();
                return Err(ENOENT);
            }
        };
        // This file now serves `cache`: its own cache stops taking
        // commands, hands over the device slot and drops its pin (it was
        // never bound, so that unbinds nothing).
        own.set(DEAD);
        Cache::move_device(own, &cache);
        *self.adopted.lock() = Some(cache.clone());
        self.has_adopted.store(true, Ordering::Release);
        drop(config);
        own.put_pin();
        ondemand::restore(&cache);
        own.wake_daemon();
        Ok(())
    }
}

/// The tag of a cache bound without `tag` (as C).
pub(super) const DEFAULT_TAG: &[u8] = b"CacheFiles";

impl FileOps for Daemon {
    fn open(_file: &File<'_>) -> Result<Arc<Self>> {
        let own = Cache::open().map_err(to_error)?;
        Arc::pin_init(
            pin_init!(Daemon {
                own,
                adopted <- kernel::new_spinlock!(None),
                has_adopted: AtomicBool::new(false),
            }),
            GFP_KERNEL,
        )
    }

    fn release(this: Arc<Self>, _file: &File<'_>) {
        // After an `attach`, the own cache is already out of service.
        this.serving().release();
    }

    fn read(this: &Arc<Self>, _file: &File<'_>, buf: UserSlice, len: usize) -> Result<usize> {
        let mut writer = buf.writer();
        this.with_serving(|c| c.read(len, |bytes| writer.write_slice(bytes).map_err(|_| EFAULT)))
            .map_err(to_error)
    }

    fn write(this: &Arc<Self>, _file: &File<'_>, buf: UserSlice, len: usize) -> Result<usize> {
        this.with_serving(|c| c.check_write(len))
            .map_err(to_error)?;
        let mut data = KVec::with_capacity(len, GFP_KERNEL).map_err(|_| to_error(ENOMEM))?;
        buf.read_all(&mut data, GFP_KERNEL)?;
        this.run_write(&data).map_err(to_error)?;
        Ok(len)
    }

    fn poll(this: &Arc<Self>, file: &File<'_>, table: &PollTable<'_>) -> u32 {
        this.with_serving(|cache| {
            table.register(file, cache.pollwq());
            cache.poll_mask()
        })
    }
}

impl Cache {
    /// The devnode file serving the cache is being closed: a recoverable
    /// cache is orphaned (`recovery.rs`); any other dies, and every pending
    /// on-demand request fails, as in C.
    pub(crate) fn release(self: Arc<Self>) {
        if recovery::orphan_on_release(&self) {
            return;
        }
        self.kill();
    }

    /// Normal-mode `read()`: the status line.  `write` copies it out.
    pub(crate) fn read(
        self: &Arc<Self>,
        buflen: usize,
        write: impl FnOnce(&[u8]) -> Result<(), Errno>,
    ) -> Result<usize, Errno> {
        if !self.test(READY) {
            return Ok(0);
        }
        if self.ondemand() {
            return ondemand::daemon_read(self, buflen, write);
        }
        let Some(bound) = self.bound() else {
            return Ok(0);
        };
        // Like C, the outcome of the check only matters for its effect on
        // the culling state.
        let _ = self.has_space(&bound.mnt, &bound.thresholds, 0, 0, SpaceFor::Check);
        let freleased = self.f_released.swap(0, Ordering::AcqRel);
        let breleased = self.b_released.swap(0, Ordering::AcqRel);
        self.clear(STATE_CHANGED);
        let mut buf = [0u8; cmd::STATUS_MAX];
        let n = cmd::format_status(
            &mut buf,
            self.test(CULLING),
            &bound.thresholds,
            freleased,
            breleased,
        );
        if n > buflen {
            return Err(EMSGSIZE);
        }
        write(&buf[..n])?;
        Ok(n)
    }

    /// `poll()` mask.
    pub(crate) fn poll_mask(&self) -> u32 {
        let mut mask = 0;
        if self.ondemand() {
            if ondemand::has_readable(self) {
                mask |= EPOLLIN;
            }
        } else if self.test(STATE_CHANGED) {
            mask |= EPOLLIN;
        }
        if self.test(CULLING) {
            mask |= EPOLLOUT;
        }
        mask
    }

    /// The wait queue `poll()` registers on.
    pub(crate) fn pollwq(&self) -> &PollQueue {
        &self.pollwq
    }

    /// Runs one parsed command (but `attach`, which is the file's).
    pub(crate) fn write_command(
        self: &Arc<Self>,
        command: Command,
        args: &[u8],
    ) -> Result<(), Errno> {
        let mut config = self.config.lock();
        if self.test(DEAD) {
            return Err(EIO);
        }
        self.run(&mut config, command, args)
    }

    /// Checks that a write may be attempted at all, before copying it in.
    pub(crate) fn check_write(&self, len: usize) -> Result<(), Errno> {
        if self.test(DEAD) {
            return Err(EIO);
        }
        if len > kernel::page::PAGE_SIZE - 1 {
            return Err(EOPNOTSUPP);
        }
        Ok(())
    }

    pub(super) fn run(
        self: &Arc<Self>,
        config: &mut Config,
        command: Command,
        args: &[u8],
    ) -> Result<(), Errno> {
        match command {
            Command::Bind => self.bind(config, args),
            Command::Brun => set_limit(config, Limit::Brun, args),
            Command::Bcull => set_limit(config, Limit::Bcull, args),
            Command::Bstop => set_limit(config, Limit::Bstop, args),
            Command::Frun => set_limit(config, Limit::Frun, args),
            Command::Fcull => set_limit(config, Limit::Fcull, args),
            Command::Fstop => set_limit(config, Limit::Fstop, args),
            Command::Cull => self.cull_or_inuse(args, true),
            Command::Inuse => self.cull_or_inuse(args, false),
            Command::Debug => match cmd::parse_debug(args) {
                Ok(mask) => {
                    crate::kernel_ext::param::set_debug_mask(mask);
                    Ok(())
                }
                Err(e) => {
                    pr_err!("debug command requires mask\n");
                    Err(e)
                }
            },
            Command::Dir => {
                if args.is_empty() {
                    pr_err!("Empty directory specified\n");
                    return Err(EINVAL);
                }
                if config.rootdir.is_some() {
                    pr_err!("Second cache directory specified\n");
                    return Err(EEXIST);
                }
                config.rootdir = Some(nul_terminated(args)?);
                Ok(())
            }
            Command::Tag => {
                if args.is_empty() {
                    pr_err!("Empty tag specified\n");
                    return Err(EINVAL);
                }
                if config.tag.is_some() {
                    return Err(EEXIST);
                }
                config.tag = Some(nul_terminated(args)?);
                Ok(())
            }
            Command::Secctx => {
                if args.is_empty() {
                    pr_err!("Empty security context specified\n");
                    return Err(EINVAL);
                }
                if config.secid.is_some() {
                    pr_err!("Second security context specified\n");
                    return Err(EINVAL);
                }
                config.secid = Some(vfs::secctx_to_secid(args)?);
                Ok(())
            }
            Command::Copen => {
                if !self.ondemand() {
                    return Err(EOPNOTSUPP);
                }
                ondemand::copen(self, args)
            }
            Command::Restore => {
                if !self.ondemand() {
                    return Err(EOPNOTSUPP);
                }
                ondemand::restore(self);
                Ok(())
            }
            Command::Buffered => {
                // The mode is fixed when the cache is bound: objects and
                // their files are made with it.
                if self.test(READY) {
                    pr_err!("Backing I/O mode set after bind\n");
                    return Err(EBUSY);
                }
                config.buffered = Some(cmd::parse_buffered(args)?);
                Ok(())
            }
            Command::Recovery => {
                recovery_logic::check_recovery(self.test(READY), self.ondemand())?;
                let grace = recovery_logic::parse_grace(args)?;
                if config.recovery.is_some() {
                    return Err(EEXIST);
                }
                config.recovery = Some(grace);
                Ok(())
            }
            // Handled by the file (`Daemon::attach_orphan`).
            Command::Attach => Err(EOPNOTSUPP),
        }
    }

    /// `cull <name>` / `inuse <name>` on the caller's working directory.
    pub(super) fn cull_or_inuse(&self, args: &[u8], cull: bool) -> Result<(), Errno> {
        let what = if cull { "cull" } else { "inuse" };
        if args.contains(&b'/') {
            pr_err!("{} command requires dirfd and filename\n", what);
            return Err(EINVAL);
        }
        if !self.test(READY) {
            pr_err!("{} applied to unready cache\n", what);
            return Err(EIO);
        }
        if self.test(DEAD) {
            pr_err!("{} applied to dead cache\n", what);
            return Err(EIO);
        }
        let Some(bound) = self.bound() else {
            return Err(EIO);
        };
        let pwd = Path::pwd();
        if !pwd.dentry.can_lookup() {
            pr_err!("{} command requires dirfd to be a directory\n", what);
            return Err(ENOTDIR);
        }
        let _as_cache = bound.cred.override_current();
        let (victim, dir_lock) = self.lookup_for_cull(&pwd.dentry, args)?;
        if !cull {
            return Ok(());
        }
        self.cull(&bound, &pwd.dentry, dir_lock, victim)
    }
}

/// Sets one culling limit (`brun`, `fcull`, ...).
fn set_limit(config: &mut Config, which: Limit, args: &[u8]) -> Result<(), Errno> {
    let v = cmd::parse_percent(args)?;
    if !config.limits.set(which, v) {
        pr_err!("Free space limits must be in range 0%<=stop<cull<run<100%\n");
        return Err(EINVAL);
    }
    Ok(())
}
