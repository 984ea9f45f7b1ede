// SPDX-License-Identifier: GPL-2.0

//! Errno values as the logic returns them: [`Errno`] holds the positive
//! value that C code would return negated.
//!
//! The numbers are not typed here: they come from `super::sys`, which the
//! kernel build binds to the kernel's own uapi constants
//! (`crate::kernel_ext::errno`) and the host test crate to its own table.

use super::sys;

/// A positive errno value, as the C code would return negated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Errno(pub(crate) i32);

/// Declares each errno constant from the value `sys` gives it.
macro_rules! errnos {
    ($($name:ident),* $(,)?) => {
        $(
            #[doc = concat!("`", stringify!($name), "`.")]
            pub(crate) const $name: Errno = Errno(sys::$name as i32);
        )*
    };
}

errnos!(
    EPERM, ENOENT, EINTR, EIO, ENOMEM, EFAULT, EBUSY, EEXIST, ENOTDIR, EFBIG, EINVAL, EROFS,
    ENODATA, ERANGE, EBADFD, EMSGSIZE, EOPNOTSUPP, ENOBUFS, ENXIO, ESTALE
);
