//! The event loop: epoll on the devnode (EPOLLIN) and on a signalfd for
//! SIGTERM/SIGINT.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::devnode::{describe, Devnode};
use crate::protocol::MSG_MAX_SIZE;
use crate::server::Server;
use crate::{debug, error, info};

const TOKEN_DEVNODE: u64 = 1;
const TOKEN_SIGNAL: u64 = 2;

/// Consecutive read() errors tolerated within one batch before waiting for
/// the next wake-up (each error consumes the request it concerned).
const MAX_READ_ERRORS_PER_BATCH: u32 = 64;

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Blocks SIGTERM and SIGINT and returns a signalfd delivering them.
pub fn termination_signalfd() -> io::Result<OwnedFd> {
    signalfd_for(&[])
}

/// Blocks SIGTERM, SIGINT and `extra` and returns a signalfd delivering
/// them.
///
/// The dispositions of SIGTERM and SIGINT are first reset to the default:
/// a shell starts background jobs with SIGINT ignored, and an ignored
/// signal is discarded before it could reach the signalfd.
pub fn signalfd_for(extra: &[libc::c_int]) -> io::Result<OwnedFd> {
    // SAFETY: sigset_t is plain data; the sig* calls initialise and fill it.
    // Setting SIG_DFL installs no handler code.
    unsafe {
        libc::signal(libc::SIGTERM, libc::SIG_DFL);
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        for &sig in extra {
            libc::sigaddset(&mut set, sig);
        }
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        let fd = cvt(libc::signalfd(
            -1,
            &set,
            libc::SFD_CLOEXEC | libc::SFD_NONBLOCK,
        ))?;
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Reads the pending signal number from the signalfd, if any.
pub fn read_signal(sfd: &OwnedFd) -> Option<u32> {
    // SAFETY: signalfd_siginfo is plain data; read() fills at most its size.
    unsafe {
        let mut info: libc::signalfd_siginfo = std::mem::zeroed();
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        let n = libc::read(
            sfd.as_raw_fd(),
            (&mut info as *mut libc::signalfd_siginfo).cast(),
            size,
        );
        if n == size as isize {
            Some(info.ssi_signo)
        } else {
            None
        }
    }
}

struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    fn new() -> io::Result<Epoll> {
        // SAFETY: plain syscall.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: fd was just created and is owned here.
        Ok(Epoll {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: `ev` is a valid epoll_event.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) })?;
        Ok(())
    }

    /// Waits for events; returns the tokens that fired (EINTR → empty).
    fn wait(&self) -> io::Result<Vec<(u64, u32)>> {
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 8];
        // SAFETY: `evs` has room for the 8 events we ask for.
        let n = unsafe {
            libc::epoll_wait(self.fd.as_raw_fd(), evs.as_mut_ptr(), evs.len() as i32, -1)
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                return Ok(Vec::new());
            }
            return Err(e);
        }
        Ok(evs[..n as usize]
            .iter()
            .map(|e| (e.u64, e.events))
            .collect())
    }
}

/// Drains the devnode: reads one message at a time until read() returns 0.
fn drain(dev: &Devnode, server: &mut Server) {
    let mut buf = [0u8; MSG_MAX_SIZE];
    let mut errors = 0;
    loop {
        match dev.read_msg(&mut buf) {
            Ok(0) => return,
            Ok(n) => server.handle_raw(dev, &buf[..n]),
            Err(e) => {
                server.count(|s| s.errors += 1);
                errors += 1;
                error!("read from the devnode failed: {}", describe(&e));
                // EMFILE/ENFILE/ENOMEM/EEXIST/EBUSY fail only the request in
                // hand (the kernel completes it with that error); keep going,
                // but do not spin on a persistent error.
                let transient = matches!(
                    e.raw_os_error(),
                    Some(
                        libc::EMFILE
                            | libc::ENFILE
                            | libc::ENOMEM
                            | libc::EEXIST
                            | libc::EBUSY
                            | libc::EFAULT
                    )
                );
                if !transient || errors >= MAX_READ_ERRORS_PER_BATCH {
                    return;
                }
            }
        }
    }
}

/// Runs until SIGTERM/SIGINT arrive on `sfd` (from
/// [`termination_signalfd`]).  Returns the signal that stopped the loop.
pub fn run(dev: &Devnode, sfd: &OwnedFd, server: &mut Server) -> io::Result<u32> {
    let ep = Epoll::new()?;
    server.reserve_fd(sfd.as_raw_fd());
    server.reserve_fd(ep.fd.as_raw_fd());
    ep.add(dev.raw(), TOKEN_DEVNODE)?;
    ep.add(sfd.as_raw_fd(), TOKEN_SIGNAL)?;
    server.write_stats();
    // Serve anything queued before we started waiting.
    drain(dev, server);
    server.write_stats();
    loop {
        for (token, events) in ep.wait()? {
            match token {
                TOKEN_SIGNAL => {
                    if let Some(sig) = read_signal(sfd) {
                        return Ok(sig);
                    }
                }
                TOKEN_DEVNODE => {
                    debug!("devnode ready (events {events:#x})");
                    drain(dev, server);
                    server.write_stats();
                }
                _ => {}
            }
        }
    }
}

/// Logs the end-of-run summary.
pub fn log_summary(server: &Server) {
    info!("summary: {}", server.stats().summary());
}
