//! Testing only: misbehaviours the daemon can be told to inject
//! (`--fault KIND:BLOB`), so that the selftests can check what the kernel
//! does when a daemon misbehaves.

/// What to do wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Read every READ request for the blob but never answer it: no data
    /// written, no `CACHEFILES_IOC_READ_COMPLETE`.  The reader blocks until
    /// it is killed or the cache dies.
    ReadStall,
    /// At the first READ request for the blob, close the object's anon fd
    /// (and forget the object) instead of answering; later requests are
    /// served normally (the kernel re-opens the object first).
    ReadClose,
}

/// A fault injected for the requests of one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The misbehaviour.
    pub kind: FaultKind,
    /// Blob name (cookie key) it applies to.
    pub blob: String,
}

impl Fault {
    /// Parses `KIND:BLOB` (`read-stall:img` or `read-close:img`).
    pub fn parse(s: &str) -> Result<Fault, String> {
        let (kind, blob) = s
            .split_once(':')
            .ok_or_else(|| format!("--fault: '{s}' is not KIND:BLOB"))?;
        let kind = match kind {
            "read-stall" => FaultKind::ReadStall,
            "read-close" => FaultKind::ReadClose,
            _ => {
                return Err(format!(
                    "--fault: unknown kind '{kind}' (read-stall, read-close)"
                ))
            }
        };
        if blob.is_empty() {
            return Err("--fault: empty blob name".into());
        }
        Ok(Fault {
            kind,
            blob: blob.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(
            Fault::parse("read-stall:img5-data"),
            Ok(Fault {
                kind: FaultKind::ReadStall,
                blob: "img5-data".into()
            })
        );
        assert_eq!(Fault::parse("read-close:a:b").unwrap().blob, "a:b");
        assert!(Fault::parse("read-stall").is_err());
        assert!(Fault::parse("read-stall:").is_err());
        assert!(Fault::parse("write-stall:x").is_err());
    }
}
