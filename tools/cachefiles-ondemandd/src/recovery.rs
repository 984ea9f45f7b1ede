//! Start-up with `--recovery SECONDS`: attach to the orphaned cache of our
//! tag if there is one (a previous daemon died without a keeper), bind a
//! fresh recoverable cache otherwise.
//!
//! `recovery` and `attach` are cachefiles_rs commands; C `cachefiles.ko`
//! answers them EOPNOTSUPP, like any unknown command.  The daemon then
//! binds as without the option (and says so).

use std::io;
use std::path::Path;

use crate::bind::{self, Buffered};

use crate::devnode::describe;
use crate::server::Control;
use crate::{info, warn};

/// The tag of a cache bound without `tag`.
pub const DEFAULT_TAG: &str = "CacheFiles";

/// The longest grace period the kernel accepts, seconds.
pub const MAX_SECS: u32 = 3600;

/// How the devnode was set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// A new cache was bound (recoverable if the kernel supports it).
    Bound {
        /// Whether `recovery` was accepted.
        recoverable: bool,
    },
    /// The orphaned cache of our tag was adopted (`attach`).
    Attached,
}

/// Parses the value of `--recovery`: seconds, 1 to [`MAX_SECS`].
pub fn parse_secs(v: &str) -> Result<u32, String> {
    match v.parse::<u32>() {
        Ok(n) if (1..=MAX_SECS).contains(&n) => Ok(n),
        _ => Err(format!(
            "--recovery: '{v}' is not a number of seconds from 1 to {MAX_SECS}"
        )),
    }
}

fn is_errno(e: &io::Error, errno: i32) -> bool {
    e.raw_os_error() == Some(errno)
}

/// Sends `cmd`, logging it; a failure is an error message.
fn send(ctl: &dyn Control, cmd: &str) -> Result<(), String> {
    ctl.command(cmd)
        .map_err(|e| format!("'{cmd}' failed: {}", describe(&e)))?;
    info!("sent '{cmd}'");
    Ok(())
}

/// The start-up commands on a freshly opened devnode: with `recovery`,
/// `tag` and `attach` first, then (no orphan) `dir`, `recovery SECONDS`
/// and `bind ondemand`; without, C's sequence `dir`, `tag`, `bind ondemand`.
/// `buffered` (`--buffered`) is sent just before `bind ondemand` either way.
pub fn start(
    ctl: &dyn Control,
    dir: &str,
    tag: Option<&str>,
    recovery: Option<u32>,
    buffered: Option<Buffered>,
) -> Result<Started, String> {
    let Some(secs) = recovery else {
        bind::bind(ctl, Path::new(dir), tag, buffered, "")?;
        return Ok(Started::Bound { recoverable: false });
    };
    if let Some(t) = tag {
        send(ctl, &format!("tag {t}"))?;
    }
    let shown = tag.unwrap_or(DEFAULT_TAG);
    let supported = match ctl.command("attach") {
        Ok(()) => {
            info!("attached to the orphaned cache '{shown}' and its pending requests");
            return Ok(Started::Attached);
        }
        Err(e) if is_errno(&e, libc::ENOENT) => {
            info!("no orphaned cache '{shown}' to attach to: binding a new one");
            true
        }
        Err(e) if is_errno(&e, libc::EOPNOTSUPP) => {
            warn!(
                "the cachefiles module has no recovery ('attach': EOPNOTSUPP): binding without it"
            );
            false
        }
        Err(e) => return Err(format!("'attach' failed: {}", describe(&e))),
    };
    send(ctl, &format!("dir {dir}"))?;
    if supported {
        send(ctl, &format!("recovery {secs}"))?;
    }
    bind::bind_ondemand(ctl, buffered, "")?;
    Ok(Started::Bound {
        recoverable: supported,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::os::fd::RawFd;

    /// Records commands; answers each with the errno scripted for its
    /// first word (0: success).
    struct Fake {
        sent: RefCell<Vec<String>>,
        answers: Vec<(&'static str, i32)>,
    }

    impl Control for Fake {
        fn command(&self, cmd: &str) -> io::Result<()> {
            self.sent.borrow_mut().push(cmd.to_string());
            let word = cmd.split(' ').next().unwrap_or("");
            match self.answers.iter().find(|(w, _)| *w == word) {
                Some(&(_, e)) if e != 0 => Err(io::Error::from_raw_os_error(e)),
                _ => Ok(()),
            }
        }
        fn reserved_fds(&self) -> Vec<RawFd> {
            Vec::new()
        }
    }

    fn run(
        tag: Option<&str>,
        rec: Option<u32>,
        answers: Vec<(&'static str, i32)>,
    ) -> (Result<Started, String>, Vec<String>) {
        let f = Fake {
            sent: RefCell::new(Vec::new()),
            answers,
        };
        let r = start(&f, "/c", tag, rec, None);
        (r, f.sent.into_inner())
    }

    #[test]
    fn without_recovery_the_c_sequence() {
        let (r, sent) = run(Some("t"), None, vec![]);
        assert_eq!(r, Ok(Started::Bound { recoverable: false }));
        assert_eq!(sent, ["dir /c", "tag t", "bind ondemand"]);
        let (_, sent) = run(None, None, vec![]);
        assert_eq!(sent, ["dir /c", "bind ondemand"]);
    }

    #[test]
    fn attach_first() {
        let (r, sent) = run(Some("t"), Some(30), vec![]);
        assert_eq!(r, Ok(Started::Attached));
        assert_eq!(sent, ["tag t", "attach"]);
        // Default tag: nothing to send before attach.
        let (r, sent) = run(None, Some(30), vec![]);
        assert_eq!(r, Ok(Started::Attached));
        assert_eq!(sent, ["attach"]);
    }

    #[test]
    fn no_orphan_binds_a_recoverable_cache() {
        let (r, sent) = run(Some("t"), Some(30), vec![("attach", libc::ENOENT)]);
        assert_eq!(r, Ok(Started::Bound { recoverable: true }));
        assert_eq!(
            sent,
            ["tag t", "attach", "dir /c", "recovery 30", "bind ondemand"]
        );
    }

    #[test]
    fn c_module_binds_without_recovery() {
        let (r, sent) = run(Some("t"), Some(30), vec![("attach", libc::EOPNOTSUPP)]);
        assert_eq!(r, Ok(Started::Bound { recoverable: false }));
        assert_eq!(sent, ["tag t", "attach", "dir /c", "bind ondemand"]);
    }

    #[test]
    fn other_errors_fail_start_up() {
        let (r, sent) = run(Some("t"), Some(30), vec![("attach", libc::EBUSY)]);
        assert!(r.unwrap_err().contains("EBUSY"));
        assert_eq!(sent, ["tag t", "attach"]);
        let (r, _) = run(
            None,
            Some(30),
            vec![("attach", libc::ENOENT), ("bind", libc::EBUSY)],
        );
        assert!(r.unwrap_err().starts_with("'bind ondemand' failed"));
        let (r, _) = run(
            None,
            Some(30),
            vec![("attach", libc::ENOENT), ("recovery", libc::EINVAL)],
        );
        assert!(r.unwrap_err().starts_with("'recovery 30' failed"));
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_secs("1"), Ok(1));
        assert_eq!(parse_secs("3600"), Ok(3600));
        for bad in ["0", "3601", "-1", "x", "", "1.5"] {
            assert!(parse_secs(bad).is_err(), "{bad}");
        }
    }
}
