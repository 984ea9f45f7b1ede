// SPDX-License-Identifier: GPL-2.0
//! Host build of the module's pure-logic files, for `cargo test`.
//!
//! The files are compiled unchanged from `rust/`; they depend on `core`
//! only.  Expected values come from the C 6.12 code they mirror.

#![allow(dead_code)]

#[path = "../../../rust/logic/cmd.rs"]
pub mod cmd;

#[path = "../../../rust/logic/layout.rs"]
pub mod layout;

#[path = "../../../rust/logic/object_state.rs"]
pub mod object_state;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod layout_tests;

#[cfg(test)]
mod object_state_tests;
