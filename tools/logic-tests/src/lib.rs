// SPDX-License-Identifier: GPL-2.0
//! Host build of the module's pure-logic files, for `cargo test`.
//!
//! The files are compiled unchanged from `rust/`; they depend on `core`
//! only.  Expected values come from the C 6.12 code they mirror.

#![allow(dead_code)]
#![deny(unsafe_code)]

/// The errno numbers of Linux (asm-generic, as on x86-64): what the kernel
/// build takes from its uapi constants.
#[allow(dead_code)]
mod sys {
    pub const EPERM: u32 = 1;
    pub const ENOENT: u32 = 2;
    pub const EINTR: u32 = 4;
    pub const EIO: u32 = 5;
    pub const ENXIO: u32 = 6;
    pub const ENOMEM: u32 = 12;
    pub const EFAULT: u32 = 14;
    pub const EBUSY: u32 = 16;
    pub const EEXIST: u32 = 17;
    pub const ENOTDIR: u32 = 20;
    pub const EINVAL: u32 = 22;
    pub const EFBIG: u32 = 27;
    pub const EROFS: u32 = 30;
    pub const ERANGE: u32 = 34;
    pub const ENODATA: u32 = 61;
    pub const EBADFD: u32 = 77;
    pub const EMSGSIZE: u32 = 90;
    pub const EOPNOTSUPP: u32 = 95;
    pub const ENOBUFS: u32 = 105;
    pub const ESTALE: u32 = 116;
}

#[path = "../../../rust/logic/errno.rs"]
pub mod errno;

#[path = "../../../rust/logic/cmd.rs"]
pub mod cmd;

#[path = "../../../rust/logic/layout.rs"]
pub mod layout;

#[path = "../../../rust/logic/object_state.rs"]
pub mod object_state;

#[path = "../../../rust/logic/reqtable.rs"]
pub mod reqtable;

#[path = "../../../rust/logic/granule.rs"]
pub mod granule;
#[path = "../../../rust/logic/recovery.rs"]
pub mod recovery;
#[path = "../../../rust/logic/window.rs"]
pub mod window;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod window_tests;

#[cfg(test)]
mod granule_tests;

#[cfg(test)]
mod layout_tests;

#[cfg(test)]
mod object_state_tests;

#[cfg(test)]
mod reqtable_tests;

#[cfg(test)]
mod reqtable_queue_tests;

#[cfg(test)]
mod recovery_tests;
