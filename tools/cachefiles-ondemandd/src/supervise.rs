//! `supervise`: keeps the bound devnode open (so the cache survives daemon
//! crashes, contract §1.12) and runs the serving daemon as a child,
//! restarting it when it dies.  The child gets the devnode fd over a Unix
//! socket (SCM_RIGHTS) and sends `restore`; the supervisor never reads
//! requests itself.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::cli::SuperviseOptions;
use crate::devnode::{describe, Devnode};
use crate::{error, fdpass, info, warn};

/// A child that lived at least this long resets the back-off.
const STABLE_AFTER: Duration = Duration::from_secs(10);

/// How long a stopping child gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The back-off before restart number `quick_deaths` in a row.
pub fn backoff(base_ms: u64, max_ms: u64, quick_deaths: u32) -> Duration {
    let shift = quick_deaths.saturating_sub(1).min(20);
    Duration::from_millis(base_ms.saturating_mul(1 << shift).min(max_ms))
}

/// Drains the signalfd; returns a termination signal if one arrived.
fn read_signals(sfd: &OwnedFd) -> Option<u32> {
    let mut term = None;
    while let Some(sig) = crate::eventloop::read_signal(sfd) {
        if sig != libc::SIGCHLD as u32 {
            term = Some(sig);
        }
    }
    term
}

fn bind(opts: &SuperviseOptions) -> Result<Devnode, String> {
    let dev = Devnode::open(&opts.devnode)
        .map_err(|e| format!("cannot open {}: {}", opts.devnode.display(), describe(&e)))?;
    crate::bind::bind(
        &dev,
        &opts.cache_dir,
        opts.tag.as_deref(),
        opts.buffered,
        "supervisor: ",
    )?;
    Ok(dev)
}

struct Supervisor<'a> {
    opts: &'a SuperviseOptions,
    exe: std::path::PathBuf,
    child: Option<(Child, Instant)>,
    next_start: Option<Instant>,
    quick_deaths: u32,
    restarts: u64,
}

impl Supervisor<'_> {
    fn spawn(&mut self) {
        let mut cmd = Command::new(daemon_program(&self.exe));
        // Readiness and the fd store are the supervisor's business.
        cmd.env_remove("NOTIFY_SOCKET");
        cmd.arg("serve")
            .arg("--fd-from")
            .arg(&self.opts.socket)
            .args(&self.opts.daemon_args);
        match cmd.spawn() {
            Ok(c) => {
                info!("supervisor: started daemon pid {}", c.id());
                self.write_pidfile(Some(c.id()));
                self.child = Some((c, Instant::now()));
                self.next_start = None;
            }
            Err(e) => {
                error!(
                    "supervisor: cannot start {}: {}",
                    self.exe.display(),
                    describe(&e)
                );
                self.schedule_restart(true);
            }
        }
    }

    /// Writes (atomically) or removes the child pid file.
    fn write_pidfile(&self, pid: Option<u32>) {
        let Some(path) = &self.opts.child_pidfile else {
            return;
        };
        let r = match pid {
            Some(pid) => {
                let mut tmp = path.clone().into_os_string();
                tmp.push(".tmp");
                std::fs::write(&tmp, format!("{pid}\n")).and_then(|()| std::fs::rename(&tmp, path))
            }
            None => match std::fs::remove_file(path) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                other => other,
            },
        };
        if let Err(e) = r {
            warn!("supervisor: pid file {}: {}", path.display(), describe(&e));
        }
    }

    fn schedule_restart(&mut self, quick: bool) {
        if quick {
            self.quick_deaths = self.quick_deaths.saturating_add(1);
        } else {
            self.quick_deaths = 1;
        }
        let d = backoff(
            self.opts.restart_delay_ms,
            self.opts.restart_delay_max_ms,
            self.quick_deaths,
        );
        self.next_start = Some(Instant::now() + d);
        self.restarts += 1;
        info!(
            "supervisor: restarting the daemon in {} ms (restart {})",
            d.as_millis(),
            self.restarts
        );
    }

    /// Reaps the child if it exited; schedules its restart.
    fn reap(&mut self) {
        let Some((child, started)) = self.child.as_mut() else {
            return;
        };
        match child.try_wait() {
            Ok(Some(status)) => {
                let lived = started.elapsed();
                warn!(
                    "supervisor: daemon pid {} died ({status}) after {} ms",
                    child.id(),
                    lived.as_millis()
                );
                self.child = None;
                self.write_pidfile(None);
                self.schedule_restart(lived < STABLE_AFTER);
            }
            Ok(None) => {}
            Err(e) => error!("supervisor: waitpid failed: {}", describe(&e)),
        }
    }

    fn stop_child(&mut self) {
        let Some((mut child, _)) = self.child.take() else {
            return;
        };
        self.write_pidfile(None);
        let pid = child.id() as libc::pid_t;
        // SAFETY: plain syscall; `pid` is our unreaped child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_GRACE;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    info!("supervisor: daemon pid {pid} stopped ({status})");
                    return;
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    warn!("supervisor: daemon pid {pid} did not stop; SIGKILL");
                    let _ = child.kill();
                    let _ = child.wait();
                    return;
                }
            }
        }
    }
}

/// The program to start as daemon: this executable's path, so that an
/// upgraded binary installed there is used at the next restart; if that
/// path is gone (replaced by rename: "/path (deleted)"), and nothing is
/// installed there again, the running image through /proc/self/exe.
fn daemon_program(exe: &std::path::Path) -> std::path::PathBuf {
    let s = exe.to_string_lossy();
    let path = std::path::PathBuf::from(s.strip_suffix(" (deleted)").unwrap_or(&s));
    if path.is_file() {
        path
    } else {
        std::path::PathBuf::from("/proc/self/exe")
    }
}

fn serve_connection(listener: &OwnedFd, dev: &Devnode) {
    let conn = match fdpass::accept(listener) {
        Ok(c) => c,
        Err(e) => {
            warn!("supervisor: accept failed: {}", describe(&e));
            return;
        }
    };
    // SAFETY: plain syscall.
    let me = unsafe { libc::geteuid() };
    match fdpass::peer_uid(&conn) {
        Ok(uid) if uid == 0 || uid == me => {}
        Ok(uid) => {
            warn!("supervisor: refusing the devnode to uid {uid}");
            return;
        }
        Err(e) => {
            warn!("supervisor: SO_PEERCRED failed: {}", describe(&e));
            return;
        }
    }
    match fdpass::send_with_fd(conn.as_raw_fd(), None, b"cachefiles", Some(dev.raw())) {
        Ok(()) => info!("supervisor: handed the devnode fd to a daemon"),
        Err(e) => warn!(
            "supervisor: sending the devnode fd failed: {}",
            describe(&e)
        ),
    }
}

/// Runs the supervisor; returns the process exit status.
pub fn run(opts: &SuperviseOptions) -> std::process::ExitCode {
    use std::process::ExitCode;
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            error!("supervisor: cannot find my executable: {}", describe(&e));
            return ExitCode::FAILURE;
        }
    };
    let sfd = match crate::eventloop::signalfd_for(&[libc::SIGCHLD]) {
        Ok(s) => s,
        Err(e) => {
            error!("cannot set up signal handling: {}", describe(&e));
            return ExitCode::FAILURE;
        }
    };
    let dev = match bind(opts) {
        Ok(d) => d,
        Err(e) => {
            error!("supervisor: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match fdpass::listen(&opts.socket) {
        Ok(l) => l,
        Err(e) => {
            error!(
                "supervisor: cannot listen on {}: {}",
                opts.socket.display(),
                describe(&e)
            );
            return ExitCode::FAILURE;
        }
    };
    info!(
        "supervisor: holding the devnode, socket {}",
        opts.socket.display()
    );
    // Under systemd (Type=notify) the supervisor is the main process.
    if let Err(e) = crate::sdnotify::notify(&crate::sdnotify::ready_message("supervising"), None) {
        warn!("supervisor: sd_notify READY failed: {}", describe(&e));
    }
    let mut sup = Supervisor {
        opts,
        exe,
        child: None,
        next_start: None,
        quick_deaths: 0,
        restarts: 0,
    };
    sup.spawn();
    let sig = loop {
        let timeout = match sup.next_start {
            Some(t) => {
                let now = Instant::now();
                if t <= now {
                    0
                } else {
                    // Round up so that we do not wake just before `t`.
                    (t - now).as_millis().min(60_000) as i32 + 1
                }
            }
            None => -1,
        };
        let mut fds = [
            libc::pollfd {
                fd: sfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: listener.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is a valid array of 2 pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                error!("supervisor: poll failed: {}", describe(&e));
                break None;
            }
            continue;
        }
        if fds[0].revents != 0 {
            if let Some(sig) = read_signals(&sfd) {
                break Some(sig);
            }
            sup.reap();
        }
        if fds[1].revents != 0 {
            serve_connection(&listener, &dev);
        }
        if sup.child.is_none() && sup.next_start.is_some_and(|t| t <= Instant::now()) {
            sup.spawn();
        }
    };
    sup.stop_child();
    drop(listener);
    let _ = std::fs::remove_file(&opts.socket);
    drop(dev);
    match sig {
        Some(sig) => {
            info!(
                "supervisor: stopped by signal {sig} after {} restarts; closed the devnode",
                sup.restarts
            );
            ExitCode::SUCCESS
        }
        None => ExitCode::FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_program_falls_back_to_proc_self_exe() {
        assert_eq!(
            daemon_program(std::path::Path::new("/bin/sh")),
            std::path::PathBuf::from("/bin/sh")
        );
        assert_eq!(
            daemon_program(std::path::Path::new("/bin/sh (deleted)")),
            std::path::PathBuf::from("/bin/sh")
        );
        assert_eq!(
            daemon_program(std::path::Path::new("/nonexistent/x (deleted)")),
            std::path::PathBuf::from("/proc/self/exe")
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(100, 5000, 1), Duration::from_millis(100));
        assert_eq!(backoff(100, 5000, 2), Duration::from_millis(200));
        assert_eq!(backoff(100, 5000, 4), Duration::from_millis(800));
        assert_eq!(backoff(100, 5000, 10), Duration::from_millis(5000));
        assert_eq!(backoff(100, 5000, u32::MAX), Duration::from_millis(5000));
        assert_eq!(backoff(100, 5000, 0), Duration::from_millis(100));
    }
}
