// SPDX-License-Identifier: GPL-2.0

//! (mount, dentry) pairs resolved by name or taken from the task.
//!
//! C header: [`include/linux/path.h`](srctree/include/linux/path.h)

use super::{check, Dentry, Mount};
use crate::kernel_ext::bindings;
use crate::logic::errno::Errno;
use core::ptr::NonNull;
use kernel::prelude::*;

/// A (mount, dentry) pair with a reference on each (each field owns its
/// own reference; the pair has no invariant beyond theirs).
pub(crate) struct Path {
    pub(crate) mnt: Mount,
    pub(crate) dentry: Dentry,
}

impl Path {
    /// Resolves `name` (`kern_path`), requiring a directory if `dir`.
    pub(crate) fn lookup(name: &CStr, dir: bool) -> Result<Path, Errno> {
        let mut p = bindings::path::default();
        let flags = if dir {
            bindings::CFRS_LOOKUP_DIRECTORY
        } else {
            0
        };
        // SAFETY: `name` is NUL-terminated; `p` receives references.
        check(unsafe { bindings::kern_path(name.as_char_ptr(), flags, &mut p) })?;
        // SAFETY: `kern_path` succeeded, so `p` holds a reference on each.
        Ok(unsafe { Path::from_raw(p) })
    }

    /// The current task's working directory.
    pub(crate) fn pwd() -> Path {
        let mut p = bindings::path::default();
        // SAFETY: Called in process context; fills `p` with references.
        unsafe { bindings::cfrs_get_fs_pwd(&mut p) };
        // SAFETY: `get_fs_pwd` took a reference on both.
        unsafe { Path::from_raw(p) }
    }

    /// # Safety
    ///
    /// `p` must hold a reference on both its members, handed over.
    unsafe fn from_raw(p: bindings::path) -> Path {
        // SAFETY: By the function's requirements, both are non-null and
        // referenced.
        unsafe {
            Path {
                mnt: Mount::from_raw(NonNull::new_unchecked(p.mnt)),
                dentry: Dentry::from_raw(NonNull::new_unchecked(p.dentry)),
            }
        }
    }
}
