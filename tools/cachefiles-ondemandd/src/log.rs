//! Minimal leveled logging to standard error.
//!
//! Lines look like `cachefiles-ondemandd: [  12.345] INFO  message`, where
//! the bracket is seconds since the daemon started.  Errors are always
//! printed; `info` by default; `debug` adds one line per request.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// Log verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Always shown.
    Error = 0,
    /// Recoverable anomalies.
    Warn = 1,
    /// Start-up, shutdown and summary.
    Info = 2,
    /// One line per request.
    Debug = 3,
}

impl Level {
    /// Parses `error`, `warn`, `info` or `debug`.
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "error" => Some(Level::Error),
            "warn" => Some(Level::Warn),
            "info" => Some(Level::Info),
            "debug" => Some(Level::Debug),
            _ => None,
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN ",
            Level::Info => "INFO ",
            Level::Debug => "DEBUG",
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
static START: OnceLock<Instant> = OnceLock::new();

/// Sets the most verbose level printed.
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
    START.get_or_init(Instant::now);
}

/// Whether messages of `level` are printed.
pub fn enabled(level: Level) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// Prints one line (used by the macros).
pub fn emit(level: Level, args: std::fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let t = START.get_or_init(Instant::now).elapsed();
    let line = format!(
        "cachefiles-ondemandd: [{:5}.{:03}] {} {}\n",
        t.as_secs(),
        t.subsec_millis(),
        level.tag(),
        args
    );
    // A failing stderr must not take the daemon down.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Logs at error level.
#[macro_export]
macro_rules! error {
    ($($a:tt)*) => { $crate::log::emit($crate::log::Level::Error, format_args!($($a)*)) };
}
/// Logs at warn level.
#[macro_export]
macro_rules! warn {
    ($($a:tt)*) => { $crate::log::emit($crate::log::Level::Warn, format_args!($($a)*)) };
}
/// Logs at info level.
#[macro_export]
macro_rules! info {
    ($($a:tt)*) => { $crate::log::emit($crate::log::Level::Info, format_args!($($a)*)) };
}
/// Logs at debug level.
#[macro_export]
macro_rules! debug {
    ($($a:tt)*) => { $crate::log::emit($crate::log::Level::Debug, format_args!($($a)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_levels() {
        assert_eq!(Level::parse("debug"), Some(Level::Debug));
        assert_eq!(Level::parse("info"), Some(Level::Info));
        assert_eq!(Level::parse("loud"), None);
        assert!(Level::Error < Level::Debug);
    }
}
