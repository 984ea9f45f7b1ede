// SPDX-License-Identifier: GPL-2.0
//! Unit tests of `rust/object_state.rs`: the transitions of C 6.12's
//! on-demand objects, including the races fixed in 2024.

use crate::cmd::errno::{EBADFD, EEXIST, EIO};
use crate::object_state::{ObjectState, ReadAction, State};

#[test]
fn open_close_reopen_cycle() {
    let mut o = ObjectState::new();
    assert_eq!(
        (o.state(), o.object_id(), o.ever_opened()),
        (State::Close, 0, false)
    );
    assert!(o.needs_open());
    assert_eq!(o.may_send(false), Ok(()));
    assert_eq!(o.fd_opened(1), Ok(()));
    assert_eq!(o.object_id(), 1);
    assert_eq!(o.copen_accepted(), Ok(()));
    o.copen_finished();
    assert_eq!(o.state(), State::Open);
    assert!(!o.needs_open());
    assert_eq!(o.read_met(), ReadAction::Deliver);

    // The daemon dies: its fd is released.
    assert_eq!(o.fd_released(), 1);
    assert_eq!((o.state(), o.object_id()), (State::Close, u32::MAX));
    // A pending READ triggers exactly one reopen; later READs wait.
    assert_eq!(o.read_met(), ReadAction::Reopen);
    assert!(o.is_reopening());
    assert_eq!(o.read_met(), ReadAction::Skip);
    assert!(o.needs_open());
    // The re-sent OPEN gets a new fd (allowed: the old one is closed).
    assert_eq!(o.fd_opened(2), Ok(()));
    assert_eq!(o.copen_accepted(), Ok(()));
    o.copen_finished();
    assert_eq!((o.state(), o.object_id()), (State::Open, 2));
    assert_eq!(o.read_met(), ReadAction::Deliver);
}

#[test]
fn at_most_one_live_fd() {
    let mut o = ObjectState::new();
    assert_eq!(o.fd_opened(7), Ok(()));
    // `restore` re-exposes the OPEN: a second fd must not replace the first.
    assert_eq!(o.fd_opened(8), Err(EEXIST));
    assert_eq!(o.object_id(), 7);
    // The failed second fd leaves the object as it was.
    o.fd_open_failed();
    assert_eq!((o.state(), o.object_id()), (State::Close, 7));
}

#[test]
fn copen_after_fd_closed_fails_and_leaves_close() {
    let mut o = ObjectState::new();
    o.fd_opened(3).unwrap();
    o.fd_released();
    assert_eq!(o.copen_accepted(), Err(EBADFD));
    o.copen_finished();
    assert_eq!(o.state(), State::Close);
}

#[test]
fn failed_copen_on_reopen_stays_reopening_only_while_fd_lives() {
    let mut o = ObjectState::new();
    o.fd_opened(1).unwrap();
    o.copen_accepted().unwrap();
    o.fd_released();
    assert_eq!(o.read_met(), ReadAction::Reopen);
    o.fd_opened(2).unwrap();
    // copen <id>,-EIO: no state change, fd still live -> still REOPENING.
    o.copen_finished();
    assert_eq!(o.state(), State::Reopening);
    // Then the daemon closes the fd: CLOSE, so a later READ reopens again.
    o.fd_released();
    o.copen_finished();
    assert_eq!(o.state(), State::Close);
    assert_eq!(o.read_met(), ReadAction::Reopen);
}

#[test]
fn close_requests_need_an_open_object() {
    let mut o = ObjectState::new();
    assert_eq!(o.may_send(true), Err(EIO));
    o.fd_opened(1).unwrap();
    assert_eq!(o.may_send(true), Err(EIO));
    o.copen_accepted().unwrap();
    assert_eq!(o.may_send(true), Ok(()));
}

#[test]
fn dropping_is_terminal() {
    let mut o = ObjectState::new();
    // Never seen by the daemon: nothing to cancel.
    assert!(!o.withdrawn());
    assert_eq!(o.state(), State::Close);

    let mut o = ObjectState::new();
    o.fd_opened(4).unwrap();
    o.copen_accepted().unwrap();
    assert!(o.withdrawn());
    assert_eq!(o.state(), State::Dropping);
    assert_eq!(o.may_send(false), Err(EIO));
    assert_eq!(o.may_send(true), Err(EIO));
    o.fd_released();
    o.open_not_sent();
    o.fd_open_failed();
    o.copen_finished();
    assert_eq!(o.copen_accepted(), Err(EBADFD));
    assert_eq!(o.state(), State::Dropping);
}

#[test]
fn open_errors_reset_to_close() {
    let mut o = ObjectState::new();
    o.fd_opened(1).unwrap();
    o.copen_accepted().unwrap();
    o.fd_released();
    assert_eq!(o.read_met(), ReadAction::Reopen);
    // The re-sent OPEN could not be queued (e.g. the cache died).
    o.open_not_sent();
    assert_eq!(o.state(), State::Close);
}
