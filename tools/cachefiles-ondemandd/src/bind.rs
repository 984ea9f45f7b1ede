//! Binding a fresh cache on the devnode: `dir`, `tag`, the backing I/O
//! mode (`buffered`, cachefiles_rs only) and `bind ondemand`, one `write()`
//! each.  Shared by `serve` and `supervise`.

use std::path::Path;

use crate::devnode::{describe, errno_name};
use crate::server::Control;
use crate::{info, warn};

/// `--buffered[=MODE]`: ask for buffered (page-cache) backing I/O, or for
/// direct I/O explicitly, with the `buffered [0|1]` command.  C
/// cachefiles.ko does not know the command and answers `EOPNOTSUPP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buffered {
    /// `buffered 1`; `EOPNOTSUPP` stops the daemon (exit 1).
    Require,
    /// `buffered 1`; on `EOPNOTSUPP` go on with direct I/O (logged).
    Try,
    /// `buffered 0` (direct I/O even if the module parameter says
    /// otherwise); on `EOPNOTSUPP` go on: the backend only does direct I/O.
    Off,
}

impl Buffered {
    /// Parses the value of `--buffered=MODE` (`None`: plain `--buffered`).
    pub fn parse(v: Option<&str>) -> Result<Buffered, String> {
        match v {
            None | Some("require") => Ok(Buffered::Require),
            Some("try") => Ok(Buffered::Try),
            Some("off") => Ok(Buffered::Off),
            Some(o) => Err(format!(
                "--buffered: unknown mode '{o}' (require, try, off)"
            )),
        }
    }

    /// The devnode command.
    pub fn command(self) -> &'static str {
        match self {
            Buffered::Require | Buffered::Try => "buffered 1",
            Buffered::Off => "buffered 0",
        }
    }

    /// What a failed `buffered` command means: `Ok(note)` to go on (the
    /// note is logged as a warning), `Err(message)` to stop.
    pub fn on_error(self, errno: Option<i32>, what: &str) -> Result<String, String> {
        let cmd = self.command();
        if errno != Some(libc::EOPNOTSUPP) {
            return Err(format!("'{cmd}' failed: {what}"));
        }
        match self {
            Buffered::Require => Err(format!(
                "'{cmd}' failed: {what}: this cachefiles backend has no buffered \
                 backing I/O (C cachefiles.ko does not know the command; \
                 cachefiles_rs.ko does); use --buffered=try to go on with direct I/O"
            )),
            Buffered::Try => Ok(format!(
                "'{cmd}' refused with {}: this cachefiles backend has no buffered \
                 backing I/O (C cachefiles.ko); going on with direct I/O",
                errno_name(libc::EOPNOTSUPP)
            )),
            Buffered::Off => Ok(format!(
                "'{cmd}' refused with {}: this cachefiles backend only does direct \
                 I/O (C cachefiles.ko); going on",
                errno_name(libc::EOPNOTSUPP)
            )),
        }
    }
}

/// Sends `dir`, `tag` (if any), `buffered` (if asked) and `bind ondemand`;
/// `who` prefixes the log lines.
pub fn bind(
    ctl: &dyn Control,
    cache_dir: &Path,
    tag: Option<&str>,
    buffered: Option<Buffered>,
    who: &str,
) -> Result<(), String> {
    let dir = cache_dir
        .to_str()
        .ok_or_else(|| format!("cache directory {} is not valid UTF-8", cache_dir.display()))?;
    send(ctl, &format!("dir {dir}"), who)?;
    if let Some(t) = tag {
        send(ctl, &format!("tag {t}"), who)?;
    }
    bind_ondemand(ctl, buffered, who)
}

/// The last step of a bind once `dir` (and `tag`, `recovery`) are sent:
/// the backing I/O mode if one was asked for, then `bind ondemand`.
pub fn bind_ondemand(
    ctl: &dyn Control,
    buffered: Option<Buffered>,
    who: &str,
) -> Result<(), String> {
    if let Some(mode) = buffered {
        let cmd = mode.command();
        match ctl.command(cmd) {
            Ok(()) => info!("{who}sent '{cmd}'"),
            Err(e) => warn!("{who}{}", mode.on_error(e.raw_os_error(), &describe(&e))?),
        }
    }
    send(ctl, "bind ondemand", who)
}

/// Sends `cmd`, logging it; a failure is an error message.
fn send(ctl: &dyn Control, cmd: &str, who: &str) -> Result<(), String> {
    ctl.command(cmd)
        .map_err(|e| format!("'{cmd}' failed: {}", describe(&e)))?;
    info!("{who}sent '{cmd}'");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_commands() {
        assert_eq!(Buffered::parse(None), Ok(Buffered::Require));
        assert_eq!(Buffered::parse(Some("require")), Ok(Buffered::Require));
        assert_eq!(Buffered::parse(Some("try")), Ok(Buffered::Try));
        assert_eq!(Buffered::parse(Some("off")), Ok(Buffered::Off));
        assert!(Buffered::parse(Some("on")).is_err());
        assert!(Buffered::parse(Some("")).is_err());
        assert_eq!(Buffered::Require.command(), "buffered 1");
        assert_eq!(Buffered::Try.command(), "buffered 1");
        assert_eq!(Buffered::Off.command(), "buffered 0");
    }

    #[test]
    fn eopnotsupp_stops_only_require() {
        let e = Some(libc::EOPNOTSUPP);
        let stop = Buffered::Require.on_error(e, "x").unwrap_err();
        assert!(stop.contains("C cachefiles.ko") && stop.contains("--buffered=try"));
        assert!(Buffered::Try
            .on_error(e, "x")
            .unwrap()
            .contains("going on with direct I/O"));
        assert!(Buffered::Off.on_error(e, "x").is_ok());
        // Any other error (EBUSY after bind, EINVAL) stops every mode.
        for m in [Buffered::Require, Buffered::Try, Buffered::Off] {
            assert!(m.on_error(Some(libc::EBUSY), "x").is_err());
            assert!(m.on_error(Some(libc::EINVAL), "x").is_err());
            assert!(m.on_error(None, "x").is_err());
        }
    }
}
