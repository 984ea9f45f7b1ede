// SPDX-License-Identifier: GPL-2.0

//! The on-demand state of a cache object: its anonymous fd and its
//! CLOSE / OPEN / REOPENING / DROPPING state (C 6.12 `ondemand_id` and
//! `enum cachefiles_object_state`).
//!
//! [`ObjectState`] keeps both private: the methods below are the only
//! transitions, each named after the event that causes it in C.  The kernel
//! keeps one per object under the object's lock (C's `info->lock`), so each
//! method is one atomic step as invariant 4 of the 2024 fixes requires
//! ("`ondemand_id`/state changes are atomic w.r.t. copen and fd release").
//!
//! ```text
//!   CLOSE --copen ok--> OPEN --fd released--> CLOSE
//!   CLOSE --daemon meets a READ--> REOPENING --copen ok--> OPEN
//!   any --withdrawn (after an OPEN was read)--> DROPPING (terminal)
//! ```
//!
//! One deliberate difference from C: C's fd release sets CLOSE even on a
//! DROPPING object; here DROPPING is terminal, so a withdrawn object can
//! never be re-opened or accept requests again.
//!
//! Pure logic (`core` only): host-tested by `tools/logic-tests`; the
//! kernel keeps one per object (`Object::od`).

use super::cmd::errno::{EBADFD, EEXIST, EIO};
use super::cmd::Errno;

/// The object's anonymous fd, as far as the cache knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fd {
    /// No OPEN request was ever read for the object (C `ondemand_id == 0`).
    Never,
    /// The daemon holds an fd; messages carry this object id (`> 0`).
    Live(u32),
    /// The daemon closed the fd (C `CACHEFILES_ONDEMAND_ID_CLOSED`, -1).
    Closed,
}

/// The object's state (C `enum cachefiles_object_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// No usable fd: initial, or the daemon closed it.
    Close,
    /// `copen` succeeded: READs can be served through the fd.
    Open,
    /// Closed with a READ pending: an OPEN is being re-sent.
    Reopening,
    /// The object is withdrawn: no new requests (terminal).
    Dropping,
}

/// What to do with a READ request the daemon's `read()` comes across.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadAction {
    /// Hand it to the daemon.
    Deliver,
    /// Leave it queued: the object is being re-opened.
    Skip,
    /// Leave it queued and re-send OPEN (the object just became
    /// REOPENING; the caller queues the reopen work).
    Reopen,
}

/// The on-demand state of one object.
///
/// # Invariants
///
/// `state == Open` implies the fd was opened (`fd` is `Live` or, after a
/// racing release, about to become `Closed` with `state == Close`); once
/// `state == Dropping` it never changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ObjectState {
    fd: Fd,
    state: State,
}

impl Default for ObjectState {
    fn default() -> Self {
        Self::new()
    }
}

impl ObjectState {
    /// A new object: no fd, CLOSE.
    pub(crate) const fn new() -> Self {
        ObjectState {
            fd: Fd::Never,
            state: State::Close,
        }
    }

    /// The current state (read by the host tests; the kernel only acts
    /// through the transitions).
    #[allow(dead_code)]
    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// The object id messages carry: the fd's id, 0 before any, and
    /// `u32::MAX` (C's -1) once the fd is closed.
    pub(crate) fn object_id(&self) -> u32 {
        match self.fd {
            Fd::Never => 0,
            Fd::Live(id) => id,
            Fd::Closed => u32::MAX,
        }
    }

    /// Whether the daemon ever read an OPEN for the object (what `copen`
    /// requires, and what decides whether withdrawal must cancel requests).
    pub(crate) fn ever_opened(&self) -> bool {
        self.fd != Fd::Never
    }

    /// Whether an OPEN request must be sent to set the object up (not if
    /// it is already OPEN, e.g. on a re-lookup after a stale cache file).
    pub(crate) fn needs_open(&self) -> bool {
        self.state != State::Open
    }

    /// Whether a request may be queued for the object: never once
    /// DROPPING; a CLOSE only to an OPEN object (C's `send_req` checks).
    pub(crate) fn may_send(&self, is_close: bool) -> Result<(), Errno> {
        match self.state {
            State::Dropping => Err(EIO),
            State::Open => Ok(()),
            _ if is_close => Err(EIO),
            _ => Ok(()),
        }
    }

    /// The daemon read an OPEN and the cache made fd `id` for it: fails
    /// with `EEXIST` if a live fd exists (at most one per object; the new
    /// fd is then discarded unexposed).
    pub(crate) fn fd_opened(&mut self, id: u32) -> Result<(), Errno> {
        if let Fd::Live(_) = self.fd {
            return Err(EEXIST);
        }
        self.fd = Fd::Live(id);
        Ok(())
    }

    /// Making the fd for an OPEN failed: the object is CLOSE unless it
    /// already has a live fd (or is dropped).
    pub(crate) fn fd_open_failed(&mut self) {
        if !matches!(self.fd, Fd::Live(_)) && self.state != State::Dropping {
            self.state = State::Close;
        }
    }

    /// An OPEN could not be queued or failed before an fd existed.
    pub(crate) fn open_not_sent(&mut self) {
        if self.state != State::Dropping {
            self.state = State::Close;
        }
    }

    /// `copen` with a size: the object becomes OPEN, unless its fd was
    /// closed meanwhile (`EBADFD`: the OPEN fails).
    pub(crate) fn copen_accepted(&mut self) -> Result<(), Errno> {
        if self.fd == Fd::Closed {
            return Err(EBADFD);
        }
        if self.state != State::Dropping {
            self.state = State::Open;
        }
        Ok(())
    }

    /// The end of every `copen`: an object whose fd is gone is CLOSE, so
    /// that it cannot stay REOPENING forever.
    pub(crate) fn copen_finished(&mut self) {
        if self.fd == Fd::Closed && self.state != State::Dropping {
            self.state = State::Close;
        }
    }

    /// The daemon released the fd; returns the id it had (its queued CLOSE
    /// requests are then completed and the id freed).
    pub(crate) fn fd_released(&mut self) -> u32 {
        let id = self.object_id();
        self.fd = Fd::Closed;
        if self.state != State::Dropping {
            self.state = State::Close;
        }
        id
    }

    /// The daemon's `read()` came across a READ request for the object.
    pub(crate) fn read_met(&mut self) -> ReadAction {
        match self.state {
            State::Close => {
                self.state = State::Reopening;
                ReadAction::Reopen
            }
            State::Reopening => ReadAction::Skip,
            State::Open | State::Dropping => ReadAction::Deliver,
        }
    }

    /// Whether a queued READ for the object must not wake the daemon
    /// (`poll()` ignores READs of a REOPENING object).
    pub(crate) fn is_reopening(&self) -> bool {
        self.state == State::Reopening
    }

    /// The object is withdrawn.  Returns whether the daemon ever saw it,
    /// in which case it becomes DROPPING and the caller must fail its
    /// queued requests and wait for its reopen work.
    pub(crate) fn withdrawn(&mut self) -> bool {
        if !self.ever_opened() {
            return false;
        }
        self.state = State::Dropping;
        true
    }
}
