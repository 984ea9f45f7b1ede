// SPDX-License-Identifier: GPL-2.0

//! The cachefiles backend, in safe Rust over `crate::kernel_ext`; the files
//! follow C's split of `fs/cachefiles`:
//!
//! * [`daemon`]: the devnode's file operations and commands (`daemon.c`);
//! * [`cache`]: the per-open [`cache::Cache`], its pins, flags and space
//!   accounting (`cache.c`); [`bind`]: `bind` and registration;
//! * [`volume`]: volume directories (`volume.c`);
//! * [`namei`]: cache directories, `cull`/`inuse`, the graveyard;
//!   [`lookup`]: an object's backing file (`namei.c`);
//! * [`object`]: [`object::Object`]; [`interface`]: the fscache operations
//!   (`interface.c`); [`io`]: reads (`io.c`); [`xattr`]: coherency xattrs
//!   (`xattr.c`);
//! * [`ondemand`]: the on-demand protocol and anonymous fds (`ondemand.c`).

pub(crate) mod bind;
pub(crate) mod cache;
pub(crate) mod daemon;
pub(crate) mod interface;
pub(crate) mod io;
pub(crate) mod lookup;
pub(crate) mod namei;
pub(crate) mod object;
pub(crate) mod ondemand;
pub(crate) mod volume;
pub(crate) mod xattr;
