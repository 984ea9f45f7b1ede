//! Command-line parsing (no external crates).

use std::path::PathBuf;

use crate::bind::Buffered;
use crate::fault::Fault;
use crate::log::Level;

/// Usage text.
pub const USAGE: &str = "\
usage: cachefiles-ondemandd [serve] --cache-dir DIR --blobs DIR [--buffered[=MODE]]
                            [options]
       cachefiles-ondemandd [serve] --fd N --blobs DIR [options]
       cachefiles-ondemandd [serve] --fd-from SOCKET --blobs DIR [options]
       cachefiles-ondemandd supervise --socket PATH --cache-dir DIR
                            [--tag TAG] [--devnode PATH] [--buffered[=MODE]]
                            [--restart-delay MS]
                            [--restart-delay-max MS] [--child-pidfile FILE]
                            [--log-level LEVEL]
                            -- --blobs DIR [serve options]

Serves cachefiles on-demand requests (EROFS over fscache) from the files of
--blobs DIR: a cookie key (EROFS blob name / fsid) is a file name there.

  --cache-dir DIR     cache directory (`dir DIR`, then `bind ondemand`)
  --tag TAG           cache tag (`tag TAG`)
  --buffered[=MODE]   before `bind`, ask for buffered (page-cache) backing
                      I/O with `buffered 1` (cachefiles_rs only; C answers
                      EOPNOTSUPP).  MODE: require (default: EOPNOTSUPP
                      stops the daemon), try (EOPNOTSUPP: warn, go on with
                      direct I/O), off (`buffered 0`: direct I/O even if
                      the module parameter buffered_io is set)
  --recovery SECONDS  cachefiles_rs: on start, `attach` to the orphaned cache
                      of TAG if a daemon died without a keeper; else bind with
                      `recovery SECONDS` (1-3600): the cache then survives
                      this daemon's death that long, waiting for the next
                      daemon to attach
  --devnode PATH      control device (default /dev/cachefiles)
  --fd N              the devnode is already open as fd N (inherited):
                      send `restore` instead of dir/tag/bind
  --fd-from SOCKET    receive the devnode fd (SCM_RIGHTS) from a supervisor
                      listening on SOCKET, then send `restore`
  --blobs DIR         directory holding the blobs
  --stats FILE        rewrite request counters to FILE after each batch
  --log-level LEVEL   error, warn, info (default) or debug
  --workers N         serve READs with N threads (1-1024; default: the
                      number of online CPUs); OPEN and CLOSE stay with the
                      thread reading the devnode, in order.  1: that
                      thread serves everything itself
  --prefetch          after each OPEN, fill the object's whole blob into
                      the cache in the background (1 MiB steps; READs go
                      first)
  --read-delay MS     testing: sleep MS before serving each READ (a slow
                      backend; makes failover tests hit in-flight READs)
  --fault KIND:BLOB   testing: misbehave on the READs of blob BLOB:
                      read-stall (never answer them) or read-close (close
                      the object's anon fd at the first one, unanswered)
  -h, --help          this text

Under systemd (NOTIFY_SOCKET set) a freshly bound devnode fd is handed to
the service manager (FDSTORE=1, FDNAME=cachefiles); on restart an fd named
`cachefiles` passed in LISTEN_FDS is used with `restore` instead of binding.

supervise: opens and binds the devnode itself (dir/tag/`bind ondemand`),
keeps it open, sends it to every connection on --socket, and runs
`<this program> serve --fd-from SOCKET <args after -->`, restarting it when
it dies (after --restart-delay MS, default 100, doubled after each quick
death up to --restart-delay-max MS, default 5000).  --child-pidfile FILE
holds the running daemon's pid (removed while none runs).  SIGTERM/SIGINT stop the
daemon and exit 0, closing the devnode (which ends the cache).
";

/// How to get hold of the devnode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Startup {
    /// Open the devnode and bind a new cache.
    Bind {
        /// Devnode path.
        devnode: PathBuf,
        /// Cache directory.
        cache_dir: PathBuf,
        /// Optional tag.
        tag: Option<String>,
        /// `--buffered[=MODE]`.
        buffered: Option<Buffered>,
        /// `--recovery SECONDS`: attach to an orphan, or bind recoverable.
        recovery: Option<u32>,
    },
    /// Adopt an inherited devnode fd and `restore`.
    Restore {
        /// Inherited fd number.
        fd: i32,
    },
    /// Receive the devnode fd from a supervisor socket and `restore`.
    FromSocket {
        /// Socket path.
        path: PathBuf,
    },
}

/// Options of `supervise`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuperviseOptions {
    /// Socket to listen on.
    pub socket: PathBuf,
    /// Devnode path.
    pub devnode: PathBuf,
    /// Cache directory.
    pub cache_dir: PathBuf,
    /// Optional tag.
    pub tag: Option<String>,
    /// `--buffered[=MODE]`.
    pub buffered: Option<Buffered>,
    /// First restart delay (ms).
    pub restart_delay_ms: u64,
    /// Maximum restart delay (ms).
    pub restart_delay_max_ms: u64,
    /// Log level.
    pub log_level: Level,
    /// File holding the running daemon's pid (absent while none runs).
    pub child_pidfile: Option<PathBuf>,
    /// Arguments for `serve` (after `--`).
    pub daemon_args: Vec<String>,
}

/// Parsed options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Devnode handling.
    pub startup: Startup,
    /// Blob directory.
    pub blobs: PathBuf,
    /// Stats file.
    pub stats: Option<PathBuf>,
    /// Log level.
    pub log_level: Level,
    /// Testing: sleep this long before serving each READ.
    pub read_delay_ms: u64,
    /// Testing: a misbehaviour to inject.
    pub fault: Option<Fault>,
    /// `--workers N` (None: the number of online CPUs).
    pub workers: Option<usize>,
    /// `--prefetch`.
    pub prefetch: bool,
}

/// Most `--workers` accepted.
pub const MAX_WORKERS: usize = 1024;

/// The default number of workers: the online CPUs (at least 1).
pub fn default_workers() -> usize {
    // SAFETY: sysconf only reads system information.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).unwrap_or(1).clamp(1, MAX_WORKERS)
}

/// Result of parsing: run, or print help.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Run with these options.
    Run(Options),
    /// `--help` was given.
    Help,
    /// `supervise`.
    Supervise(SuperviseOptions),
}

fn check_tag(tag: &Option<String>) -> Result<(), String> {
    if let Some(t) = tag {
        if t.is_empty() || t.contains(char::is_whitespace) {
            return Err("--tag must be non-empty without spaces".into());
        }
    }
    Ok(())
}

/// Parses the arguments of `supervise` (after the word itself).
fn parse_supervise(args: Vec<String>) -> Result<Parsed, String> {
    let (own, daemon_args) = match args.iter().position(|a| a == "--") {
        Some(i) => (args[..i].to_vec(), args[i + 1..].to_vec()),
        None => return Err("supervise: daemon arguments must follow `--`".into()),
    };
    let mut it = own.into_iter();
    let mut socket = None;
    let mut cache_dir = None;
    let mut tag = None;
    let mut devnode = None;
    let mut child_pidfile = None;
    let mut buffered = None;
    let mut delay = 100;
    let mut delay_max = 5000;
    let mut level = Level::Info;
    while let Some(arg) = it.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(Parsed::Help);
        }
        let (name, inline) = split_option(&arg);
        let mut value = || -> Result<String, String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it.next().ok_or_else(|| format!("{name} needs a value")),
            }
        };
        let ms = |v: String| -> Result<u64, String> {
            v.parse()
                .map_err(|_| format!("{name}: '{v}' is not a number of milliseconds"))
        };
        match name.as_str() {
            "--socket" => socket = Some(PathBuf::from(value()?)),
            "--cache-dir" => cache_dir = Some(PathBuf::from(value()?)),
            "--tag" => tag = Some(value()?),
            "--devnode" => devnode = Some(PathBuf::from(value()?)),
            "--child-pidfile" => child_pidfile = Some(PathBuf::from(value()?)),
            "--buffered" => buffered = Some(Buffered::parse(inline.as_deref())?),
            "--restart-delay" => delay = ms(value()?)?,
            "--restart-delay-max" => delay_max = ms(value()?)?,
            "--log-level" => {
                let v = value()?;
                level =
                    Level::parse(&v).ok_or_else(|| format!("--log-level: unknown level '{v}'"))?;
            }
            _ => return Err(format!("supervise: unknown argument '{arg}'")),
        }
    }
    check_tag(&tag)?;
    let socket = socket.ok_or("supervise: --socket is required")?;
    // The daemon arguments must make a valid `serve --fd-from` command.
    let mut probe = vec!["--fd-from".to_string(), socket.display().to_string()];
    probe.extend(daemon_args.iter().cloned());
    match parse(probe) {
        Ok(Parsed::Run(_)) => {}
        Ok(_) => return Err("supervise: bad daemon arguments".into()),
        Err(e) => return Err(format!("supervise: daemon arguments: {e}")),
    }
    Ok(Parsed::Supervise(SuperviseOptions {
        socket,
        devnode: devnode.unwrap_or_else(|| PathBuf::from("/dev/cachefiles")),
        cache_dir: cache_dir.ok_or("supervise: --cache-dir is required")?,
        tag,
        buffered,
        restart_delay_ms: delay,
        restart_delay_max_ms: delay_max.max(delay),
        log_level: level,
        child_pidfile,
        daemon_args,
    }))
}

/// Parses the arguments (without the program name).  Accepts `--opt VALUE`
/// and `--opt=VALUE`.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Parsed, String> {
    let mut args: Vec<String> = args.into_iter().collect();
    match args.first().map(String::as_str) {
        Some("supervise") => return parse_supervise(args.split_off(1)),
        Some("serve") => {
            args.remove(0);
        }
        _ => {}
    }
    let mut it = args.into_iter();
    let mut fd_from = None;
    let mut read_delay_ms = 0;
    let mut fault = None;
    let mut cache_dir = None;
    let mut blobs = None;
    let mut tag = None;
    let mut devnode = None;
    let mut fd = None;
    let mut stats = None;
    let mut buffered = None;
    let mut recovery = None;
    let mut workers = None;
    let mut prefetch = false;
    let mut level = Level::Info;
    while let Some(arg) = it.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(Parsed::Help);
        }
        let (name, inline) = split_option(&arg);
        let mut value = || -> Result<String, String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it.next().ok_or_else(|| format!("{name} needs a value")),
            }
        };
        match name.as_str() {
            "--workers" => {
                let v = value()?;
                match v.parse::<usize>() {
                    Ok(n) if (1..=MAX_WORKERS).contains(&n) => workers = Some(n),
                    _ => {
                        return Err(format!(
                            "--workers: '{v}' is not a number from 1 to {MAX_WORKERS}"
                        ))
                    }
                }
            }
            "--prefetch" if inline.is_none() => prefetch = true,
            "--cache-dir" => cache_dir = Some(PathBuf::from(value()?)),
            "--blobs" => blobs = Some(PathBuf::from(value()?)),
            "--tag" => tag = Some(value()?),
            "--devnode" => devnode = Some(PathBuf::from(value()?)),
            "--stats" => stats = Some(PathBuf::from(value()?)),
            "--fd-from" => fd_from = Some(PathBuf::from(value()?)),
            "--buffered" => buffered = Some(Buffered::parse(inline.as_deref())?),
            "--recovery" => recovery = Some(crate::recovery::parse_secs(&value()?)?),
            "--read-delay" => {
                let v = value()?;
                read_delay_ms = v
                    .parse()
                    .map_err(|_| format!("--read-delay: '{v}' is not a number of milliseconds"))?;
            }
            "--fault" => fault = Some(Fault::parse(&value()?)?),
            "--fd" => {
                let v = value()?;
                let n: i32 = v
                    .parse()
                    .map_err(|_| format!("--fd: '{v}' is not a number"))?;
                if n < 0 {
                    return Err(format!("--fd: '{v}' is negative"));
                }
                fd = Some(n);
            }
            "--log-level" => {
                let v = value()?;
                level =
                    Level::parse(&v).ok_or_else(|| format!("--log-level: unknown level '{v}'"))?;
            }
            _ => return Err(format!("unknown argument '{arg}'")),
        }
    }
    let blobs = blobs.ok_or("--blobs is required")?;
    let startup = match (fd, fd_from) {
        (Some(_), Some(_)) => return Err("--fd and --fd-from exclude each other".into()),
        (Some(_), None) | (None, Some(_))
            if cache_dir.is_some()
                || tag.is_some()
                || devnode.is_some()
                || buffered.is_some()
                || recovery.is_some() =>
        {
            return Err(
                "--fd/--fd-from cannot be combined with --cache-dir, --tag, --devnode, \
                 --buffered or --recovery (the cache is already bound)"
                    .into(),
            );
        }
        (Some(fd), None) => Startup::Restore { fd },
        (None, Some(path)) => Startup::FromSocket { path },
        (None, None) => {
            let cache_dir = cache_dir.ok_or("--cache-dir is required (or --fd/--fd-from)")?;
            check_tag(&tag)?;
            Startup::Bind {
                devnode: devnode.unwrap_or_else(|| PathBuf::from("/dev/cachefiles")),
                cache_dir,
                tag,
                buffered,
                recovery,
            }
        }
    };
    Ok(Parsed::Run(Options {
        startup,
        blobs,
        stats,
        log_level: level,
        read_delay_ms,
        fault,
        workers,
        prefetch,
    }))
}

/// Splits `--name=value` into the name and the inline value; any other
/// argument is returned whole, with no value.
fn split_option(arg: &str) -> (String, Option<String>) {
    match arg.split_once('=') {
        Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
        _ => (arg.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Parsed, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    /// `supervise --socket /s --cache-dir /c` followed by `tail`.
    fn sup(tail: &[&str]) -> Result<Parsed, String> {
        let mut v = vec!["supervise", "--socket", "/s", "--cache-dir", "/c"];
        v.extend_from_slice(tail);
        p(&v)
    }

    #[test]
    fn bind_mode() {
        let r = p(&[
            "--cache-dir",
            "/c",
            "--blobs=/b",
            "--tag",
            "t1",
            "--log-level",
            "debug",
            "--stats",
            "/s",
        ]);
        assert_eq!(
            r,
            Ok(Parsed::Run(Options {
                startup: Startup::Bind {
                    devnode: "/dev/cachefiles".into(),
                    cache_dir: "/c".into(),
                    tag: Some("t1".into()),
                    buffered: None,
                    recovery: None,
                },
                blobs: "/b".into(),
                stats: Some("/s".into()),
                log_level: Level::Debug,
                read_delay_ms: 0,
                fault: None,
                workers: None,
                prefetch: false,
            }))
        );
    }

    #[test]
    fn workers_and_prefetch() {
        let run = |args: &[&str]| match p(args) {
            Ok(Parsed::Run(o)) => Ok((o.workers, o.prefetch)),
            Ok(other) => Err(format!("{other:?}")),
            Err(e) => Err(e),
        };
        let base = ["--fd", "3", "--blobs", "/b"];
        let with = |extra: &[&str]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            run(&v)
        };
        assert_eq!(run(&base), Ok((None, false)));
        assert_eq!(with(&["--workers", "1"]), Ok((Some(1), false)));
        assert_eq!(with(&["--workers=8", "--prefetch"]), Ok((Some(8), true)));
        assert_eq!(with(&["--workers", "1024"]), Ok((Some(1024), false)));
        for bad in ["0", "1025", "-1", "x", ""] {
            assert!(with(&["--workers", bad]).is_err(), "{bad}");
        }
        assert!(with(&["--workers"]).is_err());
        assert!(with(&["--prefetch=yes"]).is_err());
        // The supervisor passes them on to its daemon.
        match sup(&["--", "--blobs", "/b", "--workers", "3", "--prefetch"]) {
            Ok(Parsed::Supervise(o)) => assert_eq!(
                o.daemon_args,
                ["--blobs", "/b", "--workers", "3", "--prefetch"]
            ),
            other => panic!("{other:?}"),
        }
        let d = default_workers();
        assert!((1..=MAX_WORKERS).contains(&d));
    }

    #[test]
    fn restore_mode() {
        match p(&["--fd", "3", "--blobs", "/b"]) {
            Ok(Parsed::Run(o)) => assert_eq!(o.startup, Startup::Restore { fd: 3 }),
            other => panic!("{other:?}"),
        }
        assert!(p(&["--fd", "3", "--blobs", "/b", "--cache-dir", "/c"]).is_err());
        assert!(p(&["--fd", "-1", "--blobs", "/b"]).is_err());
        assert!(p(&["--fd", "x", "--blobs", "/b"]).is_err());
        match p(&["serve", "--fd-from", "/s", "--blobs", "/b"]) {
            Ok(Parsed::Run(o)) => assert_eq!(o.startup, Startup::FromSocket { path: "/s".into() }),
            other => panic!("{other:?}"),
        }
        assert!(p(&["--fd-from", "/s", "--fd", "3", "--blobs", "/b"]).is_err());
        assert!(p(&["--fd-from", "/s", "--tag", "t", "--blobs", "/b"]).is_err());
        match p(&["--fd", "3", "--blobs", "/b", "--read-delay", "40"]) {
            Ok(Parsed::Run(o)) => assert_eq!(o.read_delay_ms, 40),
            other => panic!("{other:?}"),
        }
        assert!(p(&["--fd", "3", "--blobs", "/b", "--read-delay", "-1"]).is_err());
        match p(&["--fd", "3", "--blobs", "/b", "--fault", "read-stall:x"]) {
            Ok(Parsed::Run(o)) => assert_eq!(o.fault, Some(Fault::parse("read-stall:x").unwrap())),
            other => panic!("{other:?}"),
        }
        assert!(p(&["--fd", "3", "--blobs", "/b", "--fault", "read-stall"]).is_err());
    }

    #[test]
    fn supervise_mode() {
        let r = p(&[
            "supervise",
            "--socket",
            "/run/s",
            "--cache-dir=/c",
            "--tag",
            "t",
            "--restart-delay",
            "20",
            "--",
            "--blobs",
            "/b",
            "--log-level",
            "debug",
        ]);
        assert_eq!(
            r,
            Ok(Parsed::Supervise(SuperviseOptions {
                socket: "/run/s".into(),
                devnode: "/dev/cachefiles".into(),
                cache_dir: "/c".into(),
                tag: Some("t".into()),
                buffered: None,
                restart_delay_ms: 20,
                restart_delay_max_ms: 5000,
                log_level: Level::Info,
                child_pidfile: None,
                daemon_args: vec![
                    "--blobs".into(),
                    "/b".into(),
                    "--log-level".into(),
                    "debug".into()
                ],
            }))
        );
        // No `--`, missing socket/cache dir, daemon args that cannot work.
        assert!(p(&["supervise", "--socket", "/s", "--cache-dir", "/c"]).is_err());
        assert!(p(&["supervise", "--cache-dir", "/c", "--", "--blobs", "/b"]).is_err());
        assert!(p(&["supervise", "--socket", "/s", "--", "--blobs", "/b"]).is_err());
        assert!(p(&["supervise", "--socket", "/s", "--cache-dir", "/c", "--"]).is_err());
        assert!(p(&[
            "supervise",
            "--socket",
            "/s",
            "--cache-dir",
            "/c",
            "--",
            "--blobs",
            "/b",
            "--cache-dir",
            "/c"
        ])
        .is_err());
        assert!(p(&[
            "supervise",
            "--socket",
            "/s",
            "--cache-dir",
            "/c",
            "--restart-delay",
            "x",
            "--",
            "--blobs",
            "/b"
        ])
        .is_err());
    }

    #[test]
    fn buffered_option() {
        let mode = |args: &[&str]| match p(args) {
            Ok(Parsed::Run(Options {
                startup: Startup::Bind { buffered, .. },
                ..
            })) => Ok(buffered),
            Ok(other) => Err(format!("{other:?}")),
            Err(e) => Err(e),
        };
        let base = ["--cache-dir", "/c", "--blobs", "/b"];
        let with = |extra: &str| {
            let mut v = base.to_vec();
            v.push(extra);
            mode(&v)
        };
        assert_eq!(mode(&base), Ok(None));
        // A flag: it does not take the next argument as its value.
        assert_eq!(
            mode(&["--buffered", "--cache-dir", "/c", "--blobs", "/b"]),
            Ok(Some(Buffered::Require))
        );
        assert_eq!(with("--buffered=require"), Ok(Some(Buffered::Require)));
        assert_eq!(with("--buffered=try"), Ok(Some(Buffered::Try)));
        assert_eq!(with("--buffered=off"), Ok(Some(Buffered::Off)));
        assert!(with("--buffered=yes").is_err());
        // Only a fresh bind can choose the mode.
        assert!(p(&["--fd", "3", "--blobs", "/b", "--buffered"]).is_err());
        assert!(p(&["--fd-from", "/s", "--blobs", "/b", "--buffered=try"]).is_err());
        match sup(&["--buffered=try", "--", "--blobs", "/b"]) {
            Ok(Parsed::Supervise(o)) => assert_eq!(o.buffered, Some(Buffered::Try)),
            other => panic!("{other:?}"),
        }
        // Not in the child's arguments: the supervisor binds.
        assert!(sup(&["--", "--blobs", "/b", "--buffered"]).is_err());
    }

    #[test]
    fn recovery_option() {
        match p(&["--cache-dir", "/c", "--blobs", "/b", "--recovery", "60"]) {
            Ok(Parsed::Run(o)) => assert_eq!(
                o.startup,
                Startup::Bind {
                    devnode: "/dev/cachefiles".into(),
                    cache_dir: "/c".into(),
                    tag: None,
                    buffered: None,
                    recovery: Some(60),
                }
            ),
            other => panic!("{other:?}"),
        }
        for bad in ["0", "3601", "x", "-5"] {
            assert!(p(&["--cache-dir", "/c", "--blobs", "/b", "--recovery", bad]).is_err());
        }
        // Recovery is chosen when binding: not with an inherited fd.
        assert!(p(&["--fd", "3", "--blobs", "/b", "--recovery", "60"]).is_err());
        assert!(p(&["--fd-from", "/s", "--blobs", "/b", "--recovery", "60"]).is_err());
        // Nor through the supervisor, which binds.
        assert!(sup(&["--", "--blobs", "/b", "--recovery", "5"]).is_err());
    }

    #[test]
    fn errors_and_help() {
        assert_eq!(p(&["--help"]), Ok(Parsed::Help));
        assert!(p(&["--cache-dir", "/c"]).is_err());
        assert!(p(&["--blobs", "/b"]).is_err());
        assert!(p(&["--blobs"]).is_err());
        assert!(p(&["--blobs", "/b", "--cache-dir", "/c", "--bogus"]).is_err());
        assert!(p(&["--blobs", "/b", "--cache-dir", "/c", "--log-level", "loud"]).is_err());
        assert!(p(&["--blobs", "/b", "--cache-dir", "/c", "--tag", "a b"]).is_err());
    }
}
