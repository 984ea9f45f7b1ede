// SPDX-License-Identifier: GPL-2.0

//! Counted references to a module (`try_module_get` / `module_put`).
//!
//! C header: [`include/linux/module.h`](srctree/include/linux/module.h)
//!
//! While a [`ModuleRef`] lives, the module cannot be unloaded:
//! `delete_module(2)` fails (`EWOULDBLOCK`; kmod's `rmmod` says the module
//! "is in use").  Dropping the last one lets an unload proceed, so the code
//! that drops it must be sure that no code of the module runs afterwards
//! unless module exit waits for it (see `crate::cachefiles::recovery`).

use crate::kernel_ext::bindings;
use kernel::ThisModule;

/// One reference to a module.
///
/// # Invariants
///
/// `module` is a module on which this value holds one reference, taken by
/// a successful `try_module_get`.
pub(crate) struct ModuleRef {
    module: *mut bindings::module,
}

// SAFETY: A module reference may be dropped from any thread.
unsafe impl Send for ModuleRef {}
// SAFETY: Shared references give no access to the pointer.
unsafe impl Sync for ModuleRef {}

impl ModuleRef {
    /// Takes a reference to `module`; `None` if it is being unloaded.
    pub(crate) fn get(module: &'static ThisModule) -> Option<Self> {
        let ptr = module.as_ptr();
        // SAFETY: `ptr` is this module (or null for a built-in one, which
        // `try_module_get` accepts); the caller runs module code, so the
        // module structure is alive.
        if unsafe { bindings::try_module_get(ptr) } {
            // INVARIANT: The reference was just taken.
            Some(ModuleRef { module: ptr })
        } else {
            None
        }
    }
}

impl Drop for ModuleRef {
    fn drop(&mut self) {
        // SAFETY: We hold one reference (type invariant), released here once.
        unsafe { bindings::module_put(self.module) };
    }
}
