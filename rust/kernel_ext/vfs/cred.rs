// SPDX-License-Identifier: GPL-2.0

//! Credentials and overrides of the current task's credentials.
//!
//! Credentials are immutable once anyone else may see them: fresh ones
//! ([`NewCred`], from `prepare_*`) can be changed, and become a shareable
//! [`Cred`] before use.
//!
//! C header: [`include/linux/cred.h`](srctree/include/linux/cred.h)

use super::{check, Dentry};
use crate::kernel_ext::bindings;
use crate::logic::errno::{Errno, ENOENT, ENOMEM};
use core::ptr::NonNull;

/// Fresh credentials, not yet seen by anyone else, which may still be
/// changed; [`NewCred::into_cred`] makes them a shareable [`Cred`].
///
/// # Invariants
///
/// `ptr` holds the only reference to credentials made by `prepare_creds`
/// or `prepare_kernel_cred`, put on drop.  No pointer to them has been
/// given to C code that could keep it.
pub(crate) struct NewCred {
    ptr: NonNull<bindings::cred>,
}

// SAFETY: The reference may be used and put from any thread; `&NewCred`
// gives no access to the credentials.
unsafe impl Send for NewCred {}
// SAFETY: As above.
unsafe impl Sync for NewCred {}

impl NewCred {
    /// Takes a fresh `prepare_*` result (`ENOMEM` for null).
    fn from_fresh(p: *mut bindings::cred) -> Result<NewCred, Errno> {
        // INVARIANT: A non-null `prepare_*` result is the only reference to
        // new credentials.
        NonNull::new(p).map(|ptr| NewCred { ptr }).ok_or(ENOMEM)
    }

    /// Acts with LSM identity `secid` (`set_security_override`).
    pub(crate) fn set_secid(&mut self, secid: u32) -> Result<(), Errno> {
        // SAFETY: Nobody else sees these credentials (type invariant) and
        // `&mut self` excludes other users here.
        check(unsafe { bindings::set_security_override(self.ptr.as_ptr(), secid) })
    }

    /// Creates files as `dir`'s LSM context dictates (`set_create_files_as`;
    /// `ENOENT` for a negative `dir`).
    pub(crate) fn create_files_as(&mut self, dir: &Dentry) -> Result<(), Errno> {
        let inode = dir.inode().ok_or(ENOENT)?;
        // SAFETY: As in `set_secid`; a live inode.
        check(unsafe { bindings::set_create_files_as(self.ptr.as_ptr(), inode.as_ptr()) })
    }

    /// Freezes the credentials: from now on they may be shared.
    pub(crate) fn into_cred(self) -> Cred {
        let ptr = self.ptr;
        core::mem::forget(self);
        // INVARIANT: The reference is handed over.
        Cred { ptr }
    }
}

impl Drop for NewCred {
    fn drop(&mut self) {
        // SAFETY: We own the reference (type invariant).
        unsafe { bindings::cfrs_put_cred(self.ptr.as_ptr()) };
    }
}

/// An owned reference to a set of credentials.
///
/// # Invariants
///
/// `ptr` holds one reference, put on drop.  The credentials are never
/// changed through it (others may hold them: a file's `f_cred`, the task's
/// `cred` during an override).
pub(crate) struct Cred {
    ptr: NonNull<bindings::cred>,
}

// SAFETY: Credentials are reference counted and immutable (type invariant).
unsafe impl Send for Cred {}
// SAFETY: As above.
unsafe impl Sync for Cred {}

impl Cred {
    pub(super) fn as_ptr(&self) -> *mut bindings::cred {
        self.ptr.as_ptr()
    }

    /// Kernel credentials based on the current task's (`prepare_kernel_cred`).
    pub(crate) fn kernel() -> Result<NewCred, Errno> {
        // SAFETY: `current` is a live task.
        NewCred::from_fresh(unsafe { bindings::prepare_kernel_cred(bindings::get_current()) })
    }

    /// A copy of the current (possibly overridden) credentials.
    pub(crate) fn current_copy() -> Result<NewCred, Errno> {
        // SAFETY: Process context.
        NewCred::from_fresh(unsafe { bindings::prepare_creds() })
    }

    /// Acts with these credentials until the guard is dropped.
    pub(crate) fn override_current(&self) -> CredOverride<'_> {
        // SAFETY: The credentials are valid and outlive the guard;
        // `override_creds` takes its own reference for the task.
        let old = unsafe { bindings::override_creds(self.ptr.as_ptr()) };
        // INVARIANT: `old` is what `override_creds` returned on this task.
        CredOverride { old, _cred: self }
    }
}

impl Drop for Cred {
    fn drop(&mut self) {
        // SAFETY: We own one reference (type invariant).
        unsafe { bindings::cfrs_put_cred(self.ptr.as_ptr()) };
    }
}

/// Credentials in force until drop, which restores the previous ones.
///
/// # Invariants
///
/// `old` is what `override_creds` returned on the current task: the
/// reference the task's `cred` slot held, owned by the guard until
/// `revert_creds` puts it back in the slot (and puts the slot's reference
/// to the override).  Not `Send` (raw pointer), so the same task reverts.
///
/// Guards are meant to be dropped in reverse order of creation (the
/// order in which block-scoped guards drop).  Reference counts stay
/// balanced whatever the order, since each revert exchanges the reference
/// it owns for the one in the slot; only the credentials left in force
/// would be wrong.
pub(crate) struct CredOverride<'a> {
    old: *const bindings::cred,
    _cred: &'a Cred,
}

impl Drop for CredOverride<'_> {
    fn drop(&mut self) {
        // SAFETY: `old` came from `override_creds` on this task (type
        // invariant) and is handed back exactly once.
        unsafe { bindings::revert_creds(self.old) };
    }
}
