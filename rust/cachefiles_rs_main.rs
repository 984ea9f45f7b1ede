// SPDX-License-Identifier: GPL-2.0

//! cachefiles_rs: a Rust implementation of the `cachefiles` fscache backend.
//!
//! It provides `/dev/cachefiles` with the command interface of the C module
//! of Linux 6.12 (`fs/cachefiles`), binds a cache directory and registers
//! it with fscache.  See `Documentation/architecture.rst`.
//!
//! Module map (see `Documentation/architecture.rst`):
//!
//! * [`kernel_ext`]: thin, safe abstractions over C (misc device, anon fds,
//!   poll, completions, VFS, fscache) and the C helpers they call; the only
//!   place with `unsafe` code and raw bindings;
//! * [`logic`]: pure logic with no kernel dependency (command parser, cache
//!   layout, object state machine), host-tested in `tools/logic-tests`;
//! * [`cachefiles`]: the backend itself, safe Rust over `kernel_ext`, in
//!   layers (`scripts/check-layers` checks that they have no cycle): the
//!   data model (`internal`, C's `internal.h`), then the cache's state,
//!   directories, xattrs, volumes, unbinding, the on-demand protocol,
//!   objects and reads, the fscache operations, `bind`, and the devnode
//!   and its commands (`daemon`) on top.
//!
//! `unsafe` code in [`cachefiles`] and [`logic`] is a compile error
//! (`deny(unsafe_code)` on both modules).

use kernel::prelude::*;

#[deny(unsafe_code)]
mod cachefiles;
mod kernel_ext;
#[deny(unsafe_code)]
mod logic;

use cachefiles::daemon::Daemon;
use cachefiles::recovery::Recovery;
use kernel_ext::{completion, global::Published, miscdev, vfs};

module! {
    type: CachefilesModule,
    name: "cachefiles_rs",
    author: "cachefiles-rs developers",
    description: "Mounted-filesystem based cache (Rust implementation of cachefiles)",
    license: "GPL",
}

/// The devnode's file operations; `.owner` pins the module while open.
static DAEMON_FOPS: miscdev::StaticFops =
    miscdev::StaticFops(miscdev::fops::<Daemon>(THIS_MODULE.as_ptr()));

/// The module's state; fields drop in declaration order.
struct CachefilesModule {
    _dev: Pin<KBox<miscdev::Registration>>,
    /// The registry of recoverable caches (empty by then: orphans pin the
    /// module); dropping it cancels its expiry work synchronously, before
    /// the queue it runs on goes.
    _recovery: Published<Recovery>,
    /// Dropped last: drains the objects' re-open work.
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
        let recovery = cachefiles::recovery::start()?;
        let dev = miscdev::Registration::register(kernel::c_str!("cachefiles"), &DAEMON_FOPS).inspect_err(|e| {
            pr_err!(
                "cannot register /dev/cachefiles (error {}): is another cachefiles module loaded?\n",
                e.to_errno()
            );
        })?;
        pr_info!("Loaded\n");
        Ok(CachefilesModule {
            _dev: dev,
            _recovery: recovery,
            _queue: queue,
        })
    }
}

impl Drop for CachefilesModule {
    fn drop(&mut self) {
        pr_info!("Unloading\n");
    }
}
