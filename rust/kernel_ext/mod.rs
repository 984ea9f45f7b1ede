// SPDX-License-Identifier: GPL-2.0

//! Safe abstractions over the C kernel APIs the backend needs and the 6.12
//! `kernel` crate lacks.  This folder is the only user of [`bindings`]: the
//! logic in `crate::cachefiles` and `crate::logic` has no `unsafe` code.
//!
//! * [`miscdev`]: a misc character device whose file operations are a trait;
//! * [`anonfd`]: anonymous-inode files handed to user space;
//! * [`poll`], [`completion`]: wait queues, killable completions, the
//!   module's workqueue;
//! * [`delayed`], [`global`], [`module_ref`]: a delayed call on that
//!   workqueue, module-wide objects, references that pin the module;
//! * [`vfs`]: paths, dentries, inodes, mounts, files, credentials;
//! * [`fscache`]: the cache-backend side of fscache and netfs;
//! * [`param`]: the module parameters (declared in C);
//! * [`errno`]: the kernel's errno numbers, for [`crate::logic::errno`];
//! * [`rbmap`]: the kernel's red-black tree as the request table's map.
//!
//! The C files next to them (`helpers.c`, `vfs/helpers.c`,
//! `fscache/helpers.c`, `param.c`) wrap static inlines and macros.

pub(crate) mod anonfd;
pub(crate) mod bindings;
pub(crate) mod completion;
pub(crate) mod delayed;
pub(crate) mod errno;
pub(crate) mod fscache;
pub(crate) mod global;
pub(crate) mod miscdev;
pub(crate) mod module_ref;
pub(crate) mod param;
pub(crate) mod poll;
pub(crate) mod rbmap;
pub(crate) mod trace;
pub(crate) mod vfs;
