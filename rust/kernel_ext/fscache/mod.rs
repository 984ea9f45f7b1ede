// SPDX-License-Identifier: GPL-2.0

//! The fscache side of a cache backend: registering a cache and the
//! `fscache_cache_ops` a backend implements.
//!
//! C header: [`include/linux/fscache-cache.h`](srctree/include/linux/fscache-cache.h)
//!
//! A backend implements [`CacheOps`]; [`OpsTable::build`] turns it into the
//! C vtables (`fscache_cache_ops`, and the `netfs_cache_ops` handed out by
//! `begin_operation`): trampolines that recover the backend from
//! `cache_priv`, the same pattern as `kernel::block::mq::Operations`.
//!
//! What the private pointers hold (set and cleared only by this module):
//! * `fscache_cache::cache_priv`: the backend, an `Arc<T>`
//!   ([`CacheCookie::add`]);
//! * `fscache_volume::cache_priv`: a `KBox<T::VolumeData>`;
//! * `fscache_cookie::cache_priv`: an `Arc<T::Object>` ([`Cookie::attach`]);
//! * `netfs_cache_resources`: `cache_priv` is the cookie (set by fscache),
//!   `cache_priv2` a counted reference to the backing file ([`FileRef`]).

mod cache;
mod cookie;
mod cres;
mod ops;
mod volume;

pub(crate) use cache::CacheCookie;
pub(crate) use cookie::{Cookie, CookieFlag, CookieRef};
pub(crate) use cres::{Cres, ReadHole, Source, Want, SREQ_COPY_TO_CACHE, SREQ_ONDEMAND};
pub(crate) use ops::{CacheOps, OpsTable};
pub(crate) use volume::VolumeHandle;
// Not named outside yet; re-exported so the path stays what it was.
#[allow(unused_imports)]
pub(crate) use volume::VolumeRef;
