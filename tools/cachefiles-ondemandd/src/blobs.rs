//! The blob directory: cookie key → file `<blobs>/<cookie key>`.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Why a cookie key cannot name a blob.
#[derive(Debug, PartialEq, Eq)]
pub enum NameError {
    /// Empty key.
    Empty,
    /// `.` or `..`.
    Dots,
    /// Contains `/` or NUL, so it is not a single file name.
    BadByte,
    /// Longer than NAME_MAX.
    TooLong,
}

/// Checks that `key` is a plain file name inside the blob directory
/// (no path traversal).
pub fn validate_name(key: &[u8]) -> Result<&OsStr, NameError> {
    if key.is_empty() {
        return Err(NameError::Empty);
    }
    if key == b"." || key == b".." {
        return Err(NameError::Dots);
    }
    if key.iter().any(|&b| b == b'/' || b == 0) {
        return Err(NameError::BadByte);
    }
    if key.len() > 255 {
        return Err(NameError::TooLong);
    }
    Ok(OsStr::from_bytes(key))
}

/// The directory blobs are served from.
pub struct BlobDir {
    dir: PathBuf,
}

impl BlobDir {
    /// Uses `dir` (checked to be a directory).
    pub fn new(dir: &Path) -> io::Result<BlobDir> {
        if !std::fs::metadata(dir)?.is_dir() {
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        Ok(BlobDir {
            dir: dir.to_path_buf(),
        })
    }

    /// Opens the blob named by `key` and returns it with its size.  Errors
    /// carry the errno to report to the kernel (ENOENT for a missing blob or
    /// an invalid name).
    pub fn open(&self, key: &[u8]) -> io::Result<(File, u64)> {
        let name = validate_name(key).map_err(|_| io::Error::from_raw_os_error(libc::ENOENT))?;
        let file = File::open(self.dir.join(name))?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::from_raw_os_error(libc::ENOENT));
        }
        Ok((file, meta.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name(b"blob.img").is_ok());
        assert_eq!(validate_name(b""), Err(NameError::Empty));
        assert_eq!(validate_name(b".."), Err(NameError::Dots));
        assert_eq!(validate_name(b"../etc/passwd"), Err(NameError::BadByte));
        assert_eq!(validate_name(b"a\0b"), Err(NameError::BadByte));
        assert_eq!(validate_name(&[b'a'; 256]), Err(NameError::TooLong));
    }

    #[test]
    fn opens_and_sizes() {
        let dir = std::env::temp_dir().join(format!("cfod-blobs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("b1"), vec![7u8; 12345]).unwrap();
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let blobs = BlobDir::new(&dir).unwrap();
        assert_eq!(blobs.open(b"b1").unwrap().1, 12345);
        assert_eq!(
            blobs.open(b"nope").unwrap_err().raw_os_error(),
            Some(libc::ENOENT)
        );
        assert_eq!(
            blobs.open(b"sub").unwrap_err().raw_os_error(),
            Some(libc::ENOENT)
        );
        assert_eq!(
            blobs.open(b"../b1").unwrap_err().raw_os_error(),
            Some(libc::ENOENT)
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(BlobDir::new(&dir.join("x")).is_err());
    }
}
