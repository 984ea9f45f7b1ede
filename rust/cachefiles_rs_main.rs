// SPDX-License-Identifier: GPL-2.0

//! cachefiles_rs: a Rust implementation of the `cachefiles` fscache backend.
//!
//! It provides `/dev/cachefiles` with the command interface of the C module
//! of Linux 6.12 (`fs/cachefiles`), binds a cache directory and registers
//! it with fscache.  See `Documentation/architecture.rst`.
//!
//! Module map: [`cmd`], [`layout`] and [`object_state`] are pure logic
//! (host-tested); [`cache`] holds the per-open state and runs the
//! commands; [`object`] is the fscache backend (backing files, I/O);
//! [`ondemand`] the on-demand protocol; [`daemon`] plugs the cache into
//! the devnode.  The thin abstractions over C are [`miscdev`], [`anonfd`],
//! [`poll`], [`completion`], [`vfs`] and [`fscache`] (the only users of
//! [`bindings`]).

use kernel::prelude::*;

mod anonfd;
mod bindings;
mod cache;
mod cmd;
mod completion;
mod daemon;
mod fscache;
mod layout;
mod miscdev;
mod object;
mod object_state;
mod ondemand;
mod param;
mod poll;
mod vfs;

module! {
    type: CachefilesModule,
    name: "cachefiles_rs",
    author: "cachefiles-rs developers",
    description: "Mounted-filesystem based cache (Rust implementation of cachefiles)",
    license: "GPL",
}

/// The devnode's file operations; `.owner` pins the module while open.
static DAEMON_FOPS: miscdev::StaticFops =
    miscdev::StaticFops(miscdev::fops::<cache::Cache>(THIS_MODULE.as_ptr()));

/// The on-demand anonymous fds' file operations; `.owner` pins the module
/// while one is open.
static ANON_FOPS: miscdev::StaticFops =
    miscdev::StaticFops(anonfd::fops::<object::Object>(THIS_MODULE.as_ptr()));

struct CachefilesModule {
    _dev: Pin<KBox<miscdev::Registration>>,
    /// Dropped after the device: drains the objects' re-open work.
    _queue: completion::OwnedQueue,
}

impl kernel::Module for CachefilesModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // Another backend (C cachefiles) owning the device would make
        // misc_register fail deep in sysfs with a stack dump: say it clearly.
        if vfs::Path::lookup(kernel::c_str!("/sys/class/misc/cachefiles"), false).is_ok() {
            pr_err!("/dev/cachefiles is already registered (is the C cachefiles module loaded?)\n");
            return Err(EBUSY);
        }
        let queue = completion::OwnedQueue::new().map_err(|_| ENOMEM)?;
        let dev = miscdev::Registration::register(kernel::c_str!("cachefiles"), &DAEMON_FOPS).inspect_err(|e| {
            pr_err!(
                "cannot register /dev/cachefiles (error {}): is another cachefiles module loaded?\n",
                e.to_errno()
            );
        })?;
        pr_info!("Loaded\n");
        Ok(CachefilesModule {
            _dev: dev,
            _queue: queue,
        })
    }
}

impl Drop for CachefilesModule {
    fn drop(&mut self) {
        pr_info!("Unloading\n");
    }
}
