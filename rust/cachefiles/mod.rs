// SPDX-License-Identifier: GPL-2.0

//! The cachefiles backend, in safe Rust over `crate::kernel_ext`; the files
//! follow C's split of `fs/cachefiles`.
//!
//! # Layers
//!
//! The modules form layers: each uses only modules of lower layers, where
//! "uses" counts, besides paths, the calls of methods that another module
//! defines on a shared type, and the trait implementations another module
//! holds.  `scripts/check-layers` computes this graph and fails on a cycle.
//! From the bottom:
//!
//! 0. [`internal`]: the data model (C's `internal.h`), the types that refer
//!    to each other: [`internal::Cache`], [`internal::Object`],
//!    [`internal::Request`], the volume, the flags;
//! 1. [`cache`]: flags, the object list, I/O errors, free space and culling
//!    (`cache.c`); `ondemand::requests`: the request table's methods;
//! 2. [`namei`]: cache directories, `cull`/`inuse`, burying in the
//!    graveyard (`namei.c`, first half);
//! 3. [`xattr`]: coherency xattrs (`xattr.c`);
//! 4. [`volume`]: volume directories, their withdrawal (`volume.c`);
//! 5. [`unbind`]: the unbind pins and unbinding (`cachefiles_daemon_unbind`,
//!    `cachefiles_withdraw_cache`);
//! 6. `ondemand::fd`: the anonymous fds, whose release drops an unbind pin;
//! 7. [`ondemand`]: the on-demand protocol and the objects' re-open work
//!    (`ondemand.c`);
//! 8. [`object`]: making objects (which initialises their re-open work)
//!    and marking their files in use; [`io`]: reads (`io.c`);
//! 9. [`lookup`]: an object's backing file (`namei.c`, second half);
//!    [`normal_io`], [`normal_object`]: normal (non-on-demand) mode's
//!    netfs I/O, resizing, invalidation (`io.c`, `interface.c`);
//! 10. [`interface`]: the fscache operations (`interface.c`);
//! 11. [`recovery`]: recovery without a keeper (cachefiles_rs only): the
//!     registry of recoverable caches, orphaning, `attach`, expiry;
//! 12. [`bind`]: `bind`, registering with fscache through those operations
//!     (`cachefiles_daemon_bind`, `cachefiles_add_cache`);
//! 13. [`daemon`]: the devnode's file operations and commands (`daemon.c`).

pub(crate) mod bind;
pub(crate) mod cache;
pub(crate) mod daemon;
pub(crate) mod interface;
pub(crate) mod internal;
pub(crate) mod io;
pub(crate) mod lookup;
pub(crate) mod namei;
pub(crate) mod normal_io;
pub(crate) mod normal_object;
pub(crate) mod object;
pub(crate) mod ondemand;
pub(crate) mod recovery;
pub(crate) mod unbind;
pub(crate) mod volume;
pub(crate) mod xattr;
