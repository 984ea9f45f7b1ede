// SPDX-License-Identifier: GPL-2.0

//! The devnode (C's `daemon.c`): the file operations of
//! `/dev/cachefiles` (each open is a [`Cache`]), the status `read()`,
//! `poll()`, and the commands a daemon writes.

use crate::cachefiles::bind::nul_terminated;
use crate::cachefiles::internal::{Cache, Config, CULLING, DEAD, READY, STATE_CHANGED};
use crate::cachefiles::ondemand;
use crate::kernel_ext::miscdev::{File, FileOps};
use crate::kernel_ext::poll::{PollQueue, PollTable, EPOLLIN, EPOLLOUT};
use crate::kernel_ext::vfs;
use crate::kernel_ext::vfs::Path;
use crate::logic::cmd;
use crate::logic::cmd::errno::*;
use crate::logic::cmd::{Command, Errno, Limit};
use core::sync::atomic::Ordering;
use kernel::prelude::{pr_err, Error, KVec, Result, GFP_KERNEL};
use kernel::sync::Arc;
use kernel::uaccess::UserSlice;

fn to_error(e: Errno) -> Error {
    Error::from_errno(-e.0)
}

impl FileOps for Cache {
    fn open(_file: &File<'_>) -> Result<Arc<Self>> {
        Cache::open().map_err(to_error)
    }

    fn release(this: Arc<Self>, _file: &File<'_>) {
        this.release();
    }

    fn read(this: &Arc<Self>, _file: &File<'_>, buf: UserSlice, len: usize) -> Result<usize> {
        let mut writer = buf.writer();
        this.read(len, |bytes| writer.write_slice(bytes).map_err(|_| EFAULT))
            .map_err(to_error)
    }

    fn write(this: &Arc<Self>, _file: &File<'_>, buf: UserSlice, len: usize) -> Result<usize> {
        this.check_write(len).map_err(to_error)?;
        let mut data = KVec::with_capacity(len, GFP_KERNEL).map_err(|_| to_error(ENOMEM))?;
        buf.read_all(&mut data, GFP_KERNEL)?;
        this.write(&data).map_err(to_error)?;
        Ok(len)
    }

    fn poll(this: &Arc<Self>, file: &File<'_>, table: &PollTable<'_>) -> u32 {
        table.register(file, this.pollwq());
        this.poll_mask()
    }
}

impl Cache {
    /// The devnode is being closed: the cache is dead from now on, and
    /// every pending on-demand request fails.
    pub(crate) fn release(self: Arc<Self>) {
        self.set(DEAD);
        if self.ondemand() {
            self.flush_reqs();
        }
        self.put_pin();
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
        let _ = self.has_space(&bound.mnt, &bound.thresholds, 0, 0);
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

    /// `write()`: parses and runs one command.
    pub(crate) fn write(self: &Arc<Self>, data: &[u8]) -> Result<(), Errno> {
        let (command, args) = cmd::parse_request(data, kernel::page::PAGE_SIZE)?;
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
