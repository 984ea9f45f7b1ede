// SPDX-License-Identifier: GPL-2.0

//! The cachefiles backend, in safe Rust over `crate::kernel_ext`.

pub(crate) mod cache;
pub(crate) mod daemon;
pub(crate) mod object;
pub(crate) mod ondemand;
