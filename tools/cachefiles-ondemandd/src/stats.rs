//! Request counters, logged at exit and optionally written to a file.

use std::io;
use std::path::Path;

/// Counters of what the daemon served.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    /// OPEN requests received.
    pub open: u64,
    /// OPENs answered with a size (blob found).
    pub open_ok: u64,
    /// OPENs answered with an error.
    pub open_failed: u64,
    /// CLOSE requests received.
    pub close: u64,
    /// READ requests received.
    pub read: u64,
    /// Blob bytes written into cache files.
    pub bytes: u64,
    /// Malformed messages, unknown objects, failed writes/ioctls.
    pub errors: u64,
    /// Testing: faults injected (`--fault`).
    pub faults: u64,
    /// Blob bytes written by the background fill (`--prefetch`; also
    /// counted in `bytes`).
    pub prefetched: u64,
}

impl Stats {
    /// `key=value` lines, stable for scripts.
    pub fn render(&self) -> String {
        format!(
            "open={}\nopen_ok={}\nopen_failed={}\nclose={}\nread={}\nbytes={}\nerrors={}\nfaults={}\nprefetched={}\n",
            self.open,
            self.open_ok,
            self.open_failed,
            self.close,
            self.read,
            self.bytes,
            self.errors,
            self.faults,
            self.prefetched
        )
    }

    /// One-line summary for the log.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "OPEN {} ({} ok, {} failed), CLOSE {}, READ {}, {} bytes served, {} errors",
            self.open,
            self.open_ok,
            self.open_failed,
            self.close,
            self.read,
            self.bytes,
            self.errors
        );
        if self.prefetched > 0 {
            s.push_str(&format!(" ({} by prefetch)", self.prefetched));
        }
        if self.faults > 0 {
            s.push_str(&format!(", {} faults injected", self.faults));
        }
        s
    }

    /// Replaces `path` atomically (write a temporary file, then rename).
    pub fn write_file(&self, path: &Path) -> io::Result<()> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        std::fs::write(&tmp, self.render())?;
        std::fs::rename(&tmp, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_writes() {
        let s = Stats {
            open: 2,
            open_ok: 1,
            open_failed: 1,
            close: 1,
            read: 5,
            bytes: 4096,
            errors: 0,
            faults: 0,
            prefetched: 0,
        };
        assert!(s.render().contains("\nread=5\n"));
        assert!(s.summary().contains("READ 5"));
        let p = std::env::temp_dir().join(format!("cfod-stats-{}", std::process::id()));
        s.write_file(&p).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), s.render());
        std::fs::remove_file(&p).unwrap();
    }
}
