// SPDX-License-Identifier: GPL-2.0

//! Credentials and overrides of the current task's credentials.
//!
//! C header: [`include/linux/cred.h`](srctree/include/linux/cred.h)

use super::{check, Dentry};
use crate::kernel_ext::bindings;
use crate::logic::cmd::Errno;
use core::ptr::NonNull;

/// An owned reference to a set of credentials.
///
/// # Invariants
///
/// `ptr` holds one reference, put on drop.
pub(crate) struct Cred {
    ptr: NonNull<bindings::cred>,
}

// SAFETY: Credentials are reference counted and immutable once committed
// or used as an override.
unsafe impl Send for Cred {}
// SAFETY: As above.
unsafe impl Sync for Cred {}

impl Cred {
    pub(super) fn as_ptr(&self) -> *mut bindings::cred {
        self.ptr.as_ptr()
    }

    /// Kernel credentials based on the current task's (`prepare_kernel_cred`).
    pub(crate) fn kernel() -> Result<Cred, Errno> {
        // SAFETY: `current` is a live task.
        let p = unsafe { bindings::prepare_kernel_cred(bindings::get_current()) };
        // INVARIANT: A non-null result carries a reference.
        NonNull::new(p)
            .map(|ptr| Cred { ptr })
            .ok_or(crate::logic::cmd::errno::ENOMEM)
    }

    /// A copy of the current (possibly overridden) credentials.
    pub(crate) fn current_copy() -> Result<Cred, Errno> {
        // SAFETY: Process context.
        let p = unsafe { bindings::prepare_creds() };
        // INVARIANT: A non-null result carries a reference.
        NonNull::new(p)
            .map(|ptr| Cred { ptr })
            .ok_or(crate::logic::cmd::errno::ENOMEM)
    }

    /// Acts with LSM identity `secid` (`set_security_override`).
    pub(crate) fn set_secid(&mut self, secid: u32) -> Result<(), Errno> {
        // SAFETY: We own the only reference to these fresh credentials.
        check(unsafe { bindings::set_security_override(self.ptr.as_ptr(), secid) })
    }

    /// Creates files as `dir`'s LSM context dictates (`set_create_files_as`).
    pub(crate) fn create_files_as(&mut self, dir: &Dentry) -> Result<(), Errno> {
        let inode = dir.inode().ok_or(crate::logic::cmd::errno::ENOENT)?;
        // SAFETY: Fresh credentials we own; a live inode.
        check(unsafe { bindings::set_create_files_as(self.ptr.as_ptr(), inode.as_ptr()) })
    }

    /// Acts with these credentials until the guard is dropped.
    pub(crate) fn override_current(&self) -> CredOverride<'_> {
        // SAFETY: The credentials are valid and outlive the guard.
        let old = unsafe { bindings::override_creds(self.ptr.as_ptr()) };
        CredOverride { old, _cred: self }
    }
}

impl Drop for Cred {
    fn drop(&mut self) {
        // SAFETY: We own one reference.
        unsafe { bindings::cfrs_put_cred(self.ptr.as_ptr()) };
    }
}

/// Credentials in force until drop, which restores the previous ones.
pub(crate) struct CredOverride<'a> {
    old: *const bindings::cred,
    _cred: &'a Cred,
}

impl Drop for CredOverride<'_> {
    fn drop(&mut self) {
        // SAFETY: `old` came from `override_creds` on this task.
        unsafe { bindings::revert_creds(self.old) };
    }
}
