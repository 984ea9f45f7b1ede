// SPDX-License-Identifier: GPL-2.0

//! `bind [ondemand]` (C's `cachefiles_daemon_bind` and
//! `cachefiles_add_cache`): checks the backing filesystem, makes `cache/` and
//! `graveyard/`, and registers the cache with fscache under its tag.

use crate::cachefiles::cache::SpaceFor;
use crate::cachefiles::internal::{Bound, Cache, Config, ONDEMAND, READY, RECOVERABLE};
use crate::cachefiles::recovery;
use crate::kernel_ext::fscache::CacheCookie;
use crate::kernel_ext::vfs;
use crate::kernel_ext::vfs::{Cred, Path};
use crate::logic::cmd::errno::*;
use crate::logic::cmd::{Errno, Thresholds};
use crate::logic::window;
use kernel::prelude::{pr_err, pr_info, pr_warn, CStr, KVec, GFP_KERNEL};
use kernel::sync::Arc;

impl Cache {
    /// `bind [ondemand]`.
    pub(super) fn bind(self: &Arc<Self>, config: &mut Config, args: &[u8]) -> Result<(), Errno> {
        if !config.limits.consistent() {
            return Err(ERANGE);
        }
        let Some(rootdir) = config.rootdir.as_ref() else {
            pr_err!("No cache directory specified\n");
            return Err(EINVAL);
        };
        if self.test(READY) {
            pr_err!("Cache already bound\n");
            return Err(EBUSY);
        }
        if args == b"ondemand" {
            // Like C, the mode sticks even if the binding below fails.
            self.set(ONDEMAND);
        } else if !args.is_empty() {
            pr_err!("Invalid argument to the 'bind' command\n");
            return Err(EINVAL);
        }
        if config.tag.is_none() {
            config.tag = Some(nul_terminated(b"CacheFiles")?);
        }
        let tag = config
            .tag
            .as_deref()
            .and_then(|t| CStr::from_bytes_with_nul(t).ok())
            .ok_or(EINVAL)?;
        let rootdir = CStr::from_bytes_with_nul(rootdir).map_err(|_| EINVAL)?;
        // `recovery` (cachefiles_rs only) needs on-demand mode, and a tag
        // no other recoverable cache has: the cache is listed first.  Any
        // bind first waits for expiring orphans to be unbound (their tags
        // and directories are in use until then).
        let grace = config.recovery;
        if let Some(grace) = grace {
            if !self.ondemand() {
                pr_err!("Recovery needs on-demand mode\n");
                return Err(EOPNOTSUPP);
            }
            recovery::register(self, tag.as_bytes(), grace)?;
        } else {
            recovery::wait_ending()?;
        }
        let ret = self.add_cache(config, tag, rootdir).inspect_err(|e| {
            pr_err!("Failed to register: {}\n", -e.0);
        });
        if grace.is_some() {
            match ret {
                Ok(()) => {
                    self.set(RECOVERABLE);
                }
                Err(_) => recovery::unregister(self),
            }
        }
        ret
    }

    /// Brings the cache online (C's `cachefiles_add_cache`).
    pub(super) fn add_cache(
        self: &Arc<Self>,
        config: &Config,
        tag: &CStr,
        rootdir: &CStr,
    ) -> Result<(), Errno> {
        let cookie = CacheCookie::<Cache>::acquire(tag)?;

        let mut cred = Cred::kernel()?;
        if let Some(secid) = config.secid {
            cred.set_secid(secid).inspect_err(|e| {
                pr_err!(
                    "Security denies permission to nominate security context: error {}\n",
                    -e.0
                );
            })?;
        }
        let cred = cred.into_cred();
        let path = {
            let _as_cache = cred.override_current();
            Path::lookup(rootdir, true)?
        };
        let root = &path.dentry;
        if path.mnt.is_idmapped() {
            pr_warn!("File cache on idmapped mounts not supported");
            return Err(EINVAL);
        }
        if !root.inode().is_some_and(|i| i.has_root_ops()) || !root.sb_is_usable() {
            return Err(EOPNOTSUPP);
        }
        if root.sb_is_rdonly() {
            return Err(EROFS);
        }

        // Files are created with the root directory's security context: the
        // credentials become a copy of the kernel ones with that context.
        let cred = {
            let as_cache = cred.override_current();
            let mut files_as = Cred::current_copy()?;
            drop(as_cache);
            files_as.create_files_as(root)?;
            files_as.into_cred()
        };

        let (store, graveyard, thresholds, bsize) = {
            let _as_cache = cred.override_current();
            match vfs::may_create_in(root) {
                Err(e) if e != EOPNOTSUPP => return Err(e),
                _ => {}
            }
            let st = path.mnt.statfs(root)?;
            if st.f_bsize <= 0 {
                return Err(ERANGE);
            }
            if st.f_bsize as u64 > kernel::page::PAGE_SIZE as u64 {
                return Err(EOPNOTSUPP);
            }
            let thresholds = Thresholds::new(&config.limits, st.f_files, st.f_blocks);
            let (store, _) = self.get_directory(&path.mnt, root, &thresholds, b"cache")?;
            let (graveyard, _) = self.get_directory(&path.mnt, root, &thresholds, b"graveyard")?;
            (store, graveyard, thresholds, st.f_bsize as u64)
        };

        let Path { mnt, dentry: root } = path;
        drop(root);
        let bound = Arc::new(
            Bound {
                cookie,
                store,
                graveyard,
                mnt,
                cred,
                thresholds,
                bsize,
                buffered: config
                    .buffered
                    .unwrap_or_else(crate::kernel_ext::param::buffered_io_default),
                read_window: window::window_bytes(
                    crate::kernel_ext::param::read_window_kib(),
                    kernel::page::PAGE_SIZE as u64,
                ),
                read_ahead: crate::kernel_ext::param::read_ahead(),
            },
            GFP_KERNEL,
        )
        .map_err(|_| ENOMEM)?;
        *self.bound.lock() = Some(bound.clone());
        if let Err(e) = bound.cookie.add(self.clone()) {
            *self.bound.lock() = None;
            return Err(e);
        }
        self.set(READY);
        pr_info!(
            "File cache on {} registered\n",
            bound.cookie.name().to_str().unwrap_or("?")
        );
        if bound.buffered {
            pr_info!("Buffered backing I/O (page cache) for on-demand objects\n");
        }
        if bound.read_window > 0 {
            pr_info!(
                "READ requests widened to {} KiB windows{}\n",
                bound.read_window / 1024,
                if bound.read_ahead {
                    ", the next one asked for ahead"
                } else {
                    ""
                }
            );
        }
        let _as_cache = bound.cred.override_current();
        let _ = self.has_space(&bound.mnt, &bound.thresholds, 0, 0, SpaceFor::Check);
        Ok(())
    }
}

/// Copies `s` into a new NUL-terminated buffer (the `dir` and `tag`
/// strings).
pub(super) fn nul_terminated(s: &[u8]) -> Result<KVec<u8>, Errno> {
    let mut v = KVec::with_capacity(s.len() + 1, GFP_KERNEL).map_err(|_| ENOMEM)?;
    v.extend_from_slice(s, GFP_KERNEL).map_err(|_| ENOMEM)?;
    v.push(0, GFP_KERNEL).map_err(|_| ENOMEM)?;
    Ok(v)
}
