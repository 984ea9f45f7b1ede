// SPDX-License-Identifier: GPL-2.0

//! The module's parameters, declared in C (`param.c`)
//! because the 6.12 `module!` macro cannot declare any.

use crate::kernel_ext::bindings;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// The `debug` parameter (`/sys/module/cachefiles_rs/parameters/debug`).
fn debug() -> &'static AtomicU32 {
    // The parameter code reads and writes it as one 32-bit value.
    // SAFETY: A static `unsigned int` of the module, aliasable by an atomic.
    unsafe { AtomicU32::from_ptr(core::ptr::addr_of_mut!(bindings::cfrs_debug)) }
}

/// Sets the debugging mask (the `debug` command).  Like C, the mask is an
/// `unsigned int`: higher bits of the parsed value are dropped.
///
/// The mask is accepted, stored (the parameter reads it back) and otherwise
/// ignored, exactly as in C cachefiles built without
/// `CONFIG_CACHEFILES_DEBUG` (Debian's configuration), where nothing reads
/// `cachefiles_debug`: with that option, C's mask only selects
/// `kenter`/`kleave`/`kdebug` printks.  The tracepoints (`trace.rs`) are
/// the way to observe the backend; see `Documentation/tracing.rst`.
pub(crate) fn set_debug_mask(mask: u64) {
    debug().store(mask as u32, Ordering::Relaxed);
}

/// Reads a module `bool` parameter.
///
/// # Safety
///
/// `p` is a static `bool` of the module, which the parameter code reads
/// and writes as one byte with plain loads and stores.
unsafe fn load_bool(p: *mut bool) -> bool {
    // A relaxed atomic load sees either value.
    // SAFETY: Aliasable by an atomic of the same size and alignment, valid
    // for the module's lifetime (caller).
    unsafe { AtomicBool::from_ptr(p) }.load(Ordering::Relaxed)
}

/// The `buffered_io` parameter
/// (`/sys/module/cachefiles_rs/parameters/buffered_io`): whether a cache
/// bound now uses buffered backing I/O when its daemon did not say (the
/// `buffered` command).  Read once per `bind`; changing it affects only
/// caches bound afterwards.
pub(crate) fn buffered_io_default() -> bool {
    // SAFETY: A static `bool` parameter of the module.
    unsafe { load_bool(core::ptr::addr_of_mut!(bindings::cfrs_buffered_io)) }
}

/// The `read_ahead` parameter
/// (`/sys/module/cachefiles_rs/parameters/read_ahead`): whether caches
/// bound now ask for a sequential reader's next READ window ahead.  Read
/// once per `bind`.
pub(crate) fn read_ahead() -> bool {
    // SAFETY: A static `bool` parameter of the module.
    unsafe { load_bool(core::ptr::addr_of_mut!(bindings::cfrs_read_ahead)) }
}

/// The `read_window_kib` parameter
/// (`/sys/module/cachefiles_rs/parameters/read_window_kib`): the window of
/// wider READ requests, in KiB, for caches bound now (0: C's requests).
/// Read once per `bind`.
pub(crate) fn read_window_kib() -> u32 {
    // SAFETY: A static `unsigned int` of the module, read and written by
    // the parameter code as one 32-bit value, aliasable by an atomic.
    let p = unsafe { AtomicU32::from_ptr(core::ptr::addr_of_mut!(bindings::cfrs_read_window_kib)) };
    p.load(Ordering::Relaxed)
}
