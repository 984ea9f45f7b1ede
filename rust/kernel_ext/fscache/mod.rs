// SPDX-License-Identifier: GPL-2.0

//! The fscache side of a cache backend: registering a cache and the
//! `fscache_cache_ops` a backend implements.
//!
//! C header: [`include/linux/fscache-cache.h`](srctree/include/linux/fscache-cache.h)
//!
//! A backend implements [`CacheTypes`] (what it keeps in fscache's private
//! pointers; the wrappers below are generic over it) and [`CacheOps`] (the
//! operations); [`OpsTable::build`] turns the latter into the C vtables
//! (`fscache_cache_ops`, and the `netfs_cache_ops` handed out by
//! `begin_operation`): trampolines that recover the backend from
//! `cache_priv`, the same pattern as `kernel::block::mq::Operations`.
//!
//! One concept per file:
//! * `cache.rs`: [`CacheCookie`], registering a cache and withdrawing it;
//! * `volume.rs`: [`VolumeHandle`], [`VolumeRef`] and the volume's data;
//!   `volume_list.rs`: [`VolumeList`], the served volumes (unbind);
//! * `cookie.rs`: [`Cookie`], [`CookieRef`], [`CookieFlag`] and the tokens
//!   of the cookie's state machine ([`CookieLookup`], [`CookieWithdrawal`]);
//! * `cres.rs`: [`Cres`] (an operation's `netfs_cache_resources`),
//!   [`Want`], [`Source`], [`ReadHole`], the `SREQ_*` flags;
//! * `netfs_io.rs`: [`Termination`] (the netfs's completion of one I/O),
//!   [`NetfsRead`] and [`NetfsWrite`] (a read or write the netfs asked
//!   for) and [`IoEnd`] (what the cache does when one ends);
//! * `subreq.rs`: [`Subreq`] (a netfs subrequest handed to
//!   `prepare_read`, `prepare_write_subreq`, `issue_write`) and [`stats`],
//!   fscache's I/O counters;
//! * `ops.rs`: [`CacheTypes`], the `#[vtable]` trait [`CacheOps`] and
//!   [`OpsTable`], the C vtables, with the `fscache_cache_ops` trampolines;
//!   `netfs_ops.rs`: the `netfs_cache_ops` trampolines.
//!
//! What the private pointers hold (set and cleared only by this module):
//! * `fscache_cache::cache_priv`: the backend, an `Arc<T>`
//!   ([`CacheCookie::add`]), from registration until after withdrawal;
//! * `fscache_volume::cache_priv`: an `Arc<T::VolumeData>`, under the
//!   volume's spinlock (see `volume.rs`);
//! * `fscache_cookie::cache_priv`: an `Arc<T::Object>`, under the cookie's
//!   spinlock, attached and detached only by the lookup and withdrawal
//!   callbacks (see `cookie.rs`);
//! * `netfs_cache_resources`: `cache_priv` is the cookie (set by fscache),
//!   `cache_priv2` a counted reference to the backing file
//!   ([`FileRef`](crate::kernel_ext::vfs::FileRef)).

mod cache;
mod cookie;
mod cres;
mod netfs_io;
mod netfs_ops;
mod ops;
mod subreq;
mod volume;
mod volume_list;

pub(crate) use cache::CacheCookie;
pub(crate) use cookie::{Cookie, CookieFlag, CookieLookup, CookieRef, CookieWithdrawal};
pub(crate) use cres::{Cres, ReadHole, Source, Want, SREQ_COPY_TO_CACHE, SREQ_ONDEMAND};
pub(crate) use netfs_io::{IoEnd, NetfsRead, NetfsWrite, Termination};
pub(crate) use ops::{CacheOps, CacheTypes, OpsTable};
pub(crate) use subreq::{stats, Subreq};
pub(crate) use volume::{VolumeHandle, VolumeRef};
pub(crate) use volume_list::VolumeList;
