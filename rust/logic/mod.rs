// SPDX-License-Identifier: GPL-2.0

//! Pure logic: no `unsafe`, no `kernel` crate, only `core`.  The host crate
//! in `tools/logic-tests` compiles these files unchanged and tests them with
//! `cargo test`.
//!
//! * [`errno`]: errno values (numbers from the kernel's uapi constants);
//! * [`cmd`]: the devnode's command parser and status line;
//! * [`layout`]: the cache directory's names and xattrs;
//! * [`object_state`]: an object's on-demand state machine;
//! * [`reqtable`]: the on-demand request table and its id allocators;
//! * [`window`]: the range of a wider READ request (`read_window_kib`).
//! * [`granule`]: normal-mode I/O arithmetic (read sources, write
//!   rounding to pages and direct-I/O blocks, shortening).
//! * [`recovery`]: recovery without a keeper (`recovery`, `attach`, the
//!   registry of orphaned caches).

pub(crate) mod cmd;
pub(crate) mod errno;
pub(crate) mod granule;
pub(crate) mod layout;
pub(crate) mod object_state;
pub(crate) mod recovery;
pub(crate) mod reqtable;
pub(crate) mod window;

/// The errno numbers [`errno`] is built from: the kernel's own constants.
use crate::kernel_ext::errno as sys;
