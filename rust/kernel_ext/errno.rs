// SPDX-License-Identifier: GPL-2.0

//! The kernel's errno numbers that [`crate::logic::errno`] turns into
//! [`crate::logic::errno::Errno`] constants (`include/uapi/asm-generic/errno*.h`
//! via the kernel crate's bindings), so no number is typed by hand.

pub(crate) use crate::kernel_ext::bindings::{
    EBADFD, EBUSY, EEXIST, EFAULT, EFBIG, EINTR, EINVAL, EIO, EMSGSIZE, ENOBUFS, ENODATA, ENOENT,
    ENOMEM, ENOTDIR, ENXIO, EOPNOTSUPP, EPERM, ERANGE, EROFS, ESTALE,
};
