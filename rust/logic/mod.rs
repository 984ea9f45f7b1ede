// SPDX-License-Identifier: GPL-2.0

//! Pure logic: no `unsafe`, no `kernel` crate, only `core`.  The host crate
//! in `tools/logic-tests` compiles these files unchanged and tests them with
//! `cargo test`.
//!
//! * [`cmd`]: the devnode's command parser, status line, errno values;
//! * [`layout`]: the cache directory's names and xattrs;
//! * [`object_state`]: an object's on-demand state machine.

pub(crate) mod cmd;
pub(crate) mod layout;
pub(crate) mod object_state;
