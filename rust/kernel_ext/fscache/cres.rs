// SPDX-License-Identifier: GPL-2.0

//! The cache resources of a netfs I/O operation and the enums and flags
//! of the netfs read interface (one read or write's termination and data:
//! `netfs_io.rs`).

use super::{CacheTypes, Cookie};
use crate::kernel_ext::bindings;
use crate::kernel_ext::vfs::FileRef;
use core::marker::PhantomData;
use core::ptr::NonNull;

/// What an I/O operation will do (`enum fscache_want_state`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// Only the object's parameters.
    Params,
    /// Writing.
    Write,
    /// Reading.
    Read,
}

impl Want {
    pub(super) fn from_raw(w: bindings::fscache_want_state) -> Self {
        match w {
            bindings::fscache_want_state_FSCACHE_WANT_PARAMS => Want::Params,
            bindings::fscache_want_state_FSCACHE_WANT_WRITE => Want::Write,
            _ => Want::Read,
        }
    }

    pub(super) fn to_raw(self) -> bindings::fscache_want_state {
        match self {
            Want::Params => bindings::fscache_want_state_FSCACHE_WANT_PARAMS,
            Want::Write => bindings::fscache_want_state_FSCACHE_WANT_WRITE,
            Want::Read => bindings::fscache_want_state_FSCACHE_WANT_READ,
        }
    }
}

/// Where a read's data must come from (`enum netfs_io_source`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Source {
    /// Past the end of the object: zeroes.
    FillWithZeroes,
    /// Not in the cache.
    DownloadFromServer,
    /// In the cache.
    ReadFromCache,
    /// The read cannot be done.
    InvalidRead,
}

impl Source {
    pub(super) fn to_raw(self) -> bindings::netfs_io_source {
        match self {
            Source::FillWithZeroes => bindings::netfs_io_source_NETFS_FILL_WITH_ZEROES,
            Source::DownloadFromServer => bindings::netfs_io_source_NETFS_DOWNLOAD_FROM_SERVER,
            Source::ReadFromCache => bindings::netfs_io_source_NETFS_READ_FROM_CACHE,
            Source::InvalidRead => bindings::netfs_io_source_NETFS_INVALID_READ,
        }
    }
}

/// How a read treats holes in the cached data (`netfs_read_from_hole`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadHole {
    /// Read whatever is there.
    Ignore,
    /// Zero-fill holes.
    Clear,
    /// Fail with `ENODATA` if the range holds no data.
    Fail,
}

/// Request flag of a netfs read: from on-demand mode (`NETFS_SREQ_ONDEMAND`).
pub(crate) const SREQ_ONDEMAND: usize = 1 << bindings::NETFS_SREQ_ONDEMAND;
/// Request flag: the data should be copied to the cache.
pub(crate) const SREQ_COPY_TO_CACHE: usize = 1 << bindings::NETFS_SREQ_COPY_TO_CACHE;

/// The cache resources of one netfs I/O operation
/// (`struct netfs_cache_resources`), borrowed for a callback.
///
/// Only the trampolines of [`OpsTable`](super::OpsTable) make one, for the
/// callback they run; it is not `Send` (one operation runs in one thread
/// at a time, so nothing else touches `cache_priv2` meanwhile).
///
/// # Invariants
///
/// `ptr` is valid for `'a`; its `cache_priv` is a live cookie of a cache
/// served by `T` (fscache sets it) with an access held for the operation,
/// and `cache_priv2` is null or a [`FileRef`] owned by the operation.
pub(crate) struct Cres<'a, T: CacheTypes> {
    ptr: *mut bindings::netfs_cache_resources,
    _p: PhantomData<(&'a mut bindings::netfs_cache_resources, T)>,
}

impl<T: CacheTypes> Cres<'_, T> {
    /// The resources behind `ptr`, for a callback.
    ///
    /// # Safety
    ///
    /// `ptr` must satisfy the type invariants for `'a`: fscache began an
    /// operation on it for a cookie of a cache registered with `T`
    /// (`begin_operation`), which has not ended, and the caller runs in
    /// the callback that owns it.
    pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::netfs_cache_resources) -> Cres<'a, T> {
        // INVARIANT: Guaranteed by the caller.
        Cres {
            ptr,
            _p: PhantomData,
        }
    }

    /// The cookie the operation is on.
    pub(crate) fn cookie(&self) -> &Cookie<T> {
        // SAFETY: `cache_priv` is a live cookie of a `T` cache, which the
        // operation's access keeps alive while `self` is borrowed (type
        // invariants).
        unsafe { Cookie::from_raw((*self.ptr).cache_priv.cast()) }
    }

    /// The backing file the operation uses, if it has one yet.
    pub(crate) fn file(&self) -> Option<&FileRef> {
        // SAFETY: `cache_priv2` is null or the raw pointer of a `FileRef`
        // the operation owns; `FileRef` is transparent over that pointer.
        unsafe {
            let slot = core::ptr::addr_of!((*self.ptr).cache_priv2);
            (!(*slot).is_null()).then(|| &*(slot as *const FileRef))
        }
    }

    /// Gives the operation its (counted) backing file.
    pub(crate) fn set_file(&mut self, file: FileRef) {
        // SAFETY: Valid `cres`; `end_operation` puts the reference.
        unsafe {
            let old = core::mem::replace(&mut (*self.ptr).cache_priv2, file.into_raw().cast());
            if let Some(old) = NonNull::new(old.cast::<bindings::file>()) {
                drop(FileRef::from_raw(old));
            }
        }
    }

    /// Waits until the cookie is ready for `want`, making sure the
    /// operation has its file (`fscache_wait_for_operation`).
    pub(crate) fn wait_for_operation(&mut self, want: Want) -> bool {
        // SAFETY: Valid `cres` with an access on its cookie.
        unsafe { bindings::fscache_wait_for_operation(self.ptr, want.to_raw()) }
    }
}
