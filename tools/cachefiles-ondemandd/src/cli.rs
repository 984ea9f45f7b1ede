//! Command-line parsing (no external crates).

use std::path::PathBuf;

use crate::log::Level;

/// Usage text.
pub const USAGE: &str = "\
usage: cachefiles-ondemandd --cache-dir DIR --blobs DIR [options]
       cachefiles-ondemandd --fd N --blobs DIR [options]

Serves cachefiles on-demand requests (EROFS over fscache) from the files of
--blobs DIR: a cookie key (EROFS blob name / fsid) is a file name there.

  --cache-dir DIR     cache directory (`dir DIR`, then `bind ondemand`)
  --tag TAG           cache tag (`tag TAG`)
  --devnode PATH      control device (default /dev/cachefiles)
  --fd N              the devnode is already open as fd N (inherited):
                      send `restore` instead of dir/tag/bind
  --blobs DIR         directory holding the blobs
  --stats FILE        rewrite request counters to FILE after each batch
  --log-level LEVEL   error, warn, info (default) or debug
  -h, --help          this text
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
    },
    /// Adopt an inherited devnode fd and `restore`.
    Restore {
        /// Inherited fd number.
        fd: i32,
    },
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
}

/// Result of parsing: run, or print help.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Run with these options.
    Run(Options),
    /// `--help` was given.
    Help,
}

/// Parses the arguments (without the program name).  Accepts `--opt VALUE`
/// and `--opt=VALUE`.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Parsed, String> {
    let mut it = args.into_iter();
    let mut cache_dir = None;
    let mut blobs = None;
    let mut tag = None;
    let mut devnode = None;
    let mut fd = None;
    let mut stats = None;
    let mut level = Level::Info;
    while let Some(arg) = it.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(Parsed::Help);
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || -> Result<String, String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it.next().ok_or_else(|| format!("{name} needs a value")),
            }
        };
        match name.as_str() {
            "--cache-dir" => cache_dir = Some(PathBuf::from(value()?)),
            "--blobs" => blobs = Some(PathBuf::from(value()?)),
            "--tag" => tag = Some(value()?),
            "--devnode" => devnode = Some(PathBuf::from(value()?)),
            "--stats" => stats = Some(PathBuf::from(value()?)),
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
    let startup = match fd {
        Some(fd) => {
            if cache_dir.is_some() || tag.is_some() || devnode.is_some() {
                return Err("--fd cannot be combined with --cache-dir, --tag or --devnode".into());
            }
            Startup::Restore { fd }
        }
        None => {
            let cache_dir = cache_dir.ok_or("--cache-dir is required (or --fd)")?;
            if let Some(t) = &tag {
                if t.is_empty() || t.contains(char::is_whitespace) {
                    return Err("--tag must be non-empty without spaces".into());
                }
            }
            Startup::Bind {
                devnode: devnode.unwrap_or_else(|| PathBuf::from("/dev/cachefiles")),
                cache_dir,
                tag,
            }
        }
    };
    Ok(Parsed::Run(Options {
        startup,
        blobs,
        stats,
        log_level: level,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Parsed, String> {
        parse(args.iter().map(|s| s.to_string()))
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
                    tag: Some("t1".into())
                },
                blobs: "/b".into(),
                stats: Some("/s".into()),
                log_level: Level::Debug,
            }))
        );
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
