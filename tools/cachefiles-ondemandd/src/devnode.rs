//! System-call wrappers: the `/dev/cachefiles` devnode and the anonymous
//! "[cachefiles]" fds the kernel hands out with OPEN requests.
//!
//! All `unsafe` of the daemon that touches file descriptors lives here.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::align::{self, AlignedBuf, WritePlan};
use crate::protocol::{IOC_READ_COMPLETE, MSG_MAX_SIZE};

/// Symbolic name of common errno values, for operator-readable logs.
pub fn errno_name(errno: i32) -> &'static str {
    match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENOTDIR => "ENOTDIR",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ENOSPC => "ENOSPC",
        libc::EROFS => "EROFS",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ENOBUFS => "ENOBUFS",
        libc::EBADFD => "EBADFD",
        libc::ENODEV => "ENODEV",
        libc::ENXIO => "ENXIO",
        _ => "?",
    }
}

/// Formats an `io::Error` as `ENAME (message)` when it carries an errno.
pub fn describe(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(e) => format!("{} ({})", errno_name(e), err),
        None => err.to_string(),
    }
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn cvt_size(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        // Non-negative ssize_t always fits in usize.
        Ok(ret as usize)
    }
}

/// Whether `fd` is an open file descriptor of this process.
pub fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only inspects the descriptor table.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// The cachefiles control device.
pub struct Devnode {
    fd: OwnedFd,
}

impl Devnode {
    /// Opens the devnode read-write.
    pub fn open(path: &Path) -> io::Result<Devnode> {
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: `c` is a valid NUL-terminated path.
        let fd = cvt(unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) })?;
        // SAFETY: `fd` was just returned by open() and is owned by nobody else.
        Ok(Devnode {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Takes ownership of an inherited, already open devnode fd.
    pub fn from_inherited(fd: RawFd) -> io::Result<Devnode> {
        if fd < 0 || !fd_is_open(fd) {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        // SAFETY: the caller hands us this descriptor (inherited across
        // exec); it is open and nothing else in this process owns it.
        Ok(Devnode {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Wraps a devnode fd received from elsewhere (supervisor, systemd).
    pub fn from_owned(fd: OwnedFd) -> Devnode {
        Devnode { fd }
    }

    /// Sends one command (e.g. `bind ondemand`) with a single `write()`.
    pub fn command(&self, cmd: &str) -> io::Result<()> {
        loop {
            // SAFETY: the pointer/length pair describes `cmd`'s bytes.
            let r = unsafe { libc::write(self.fd.as_raw_fd(), cmd.as_ptr().cast(), cmd.len()) };
            match cvt_size(r) {
                Ok(n) if n == cmd.len() => return Ok(()),
                Ok(n) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        format!("short write ({n} of {} bytes)", cmd.len()),
                    ))
                }
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads one message into `buf`.  Returns 0 when no request is pending
    /// (the devnode never blocks in on-demand mode).  Retries on EINTR.
    pub fn read_msg(&self, buf: &mut [u8; MSG_MAX_SIZE]) -> io::Result<usize> {
        loop {
            // SAFETY: `buf` is a valid writable buffer of MSG_MAX_SIZE bytes.
            let r = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            match cvt_size(r) {
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                other => return other,
            }
        }
    }

    /// The raw descriptor (for epoll).
    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Takes ownership of the anonymous fd number found in an OPEN message.
///
/// Returns `None` for numbers that cannot be a descriptor, that are not
/// open, or that are in `reserved` (descriptors this daemon owns for other
/// purposes: a corrupt message must never make us close those).
pub fn adopt_anon_fd(fd: u32, reserved: &[RawFd]) -> Option<OwnedFd> {
    let fd = RawFd::try_from(fd).ok()?;
    if reserved.contains(&fd) || !fd_is_open(fd) {
        return None;
    }
    // SAFETY: the kernel installed this descriptor for us with the OPEN
    // request; it is open and not owned by any other object here.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `ioctl(anon_fd, CACHEFILES_IOC_READ_COMPLETE, msg_id)`: tells the kernel
/// the READ `msg_id` has been served.  The id is passed by value.
pub fn read_complete(anon_fd: &OwnedFd, msg_id: u32) -> io::Result<()> {
    loop {
        // SAFETY: this ioctl takes its argument by value; no memory is
        // passed to the kernel.
        let r = unsafe {
            libc::ioctl(
                anon_fd.as_raw_fd(),
                IOC_READ_COMPLETE as _,
                libc::c_ulong::from(msg_id),
            )
        };
        match cvt(r) {
            Ok(_) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `pread` that loops on short reads and EINTR; returns the number of bytes
/// read (less than `buf.len()` only at end of file).
pub fn pread_full(file: &std::fs::File, buf: &mut [u8], off: u64) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut done = 0;
    while done < buf.len() {
        let pos = off + done as u64;
        match file.read_at(&mut buf[done..], pos) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// `pwrite` of whole pages from an aligned buffer into an anon fd at a
/// page-aligned position, looping on short writes.  A short write that
/// ends inside a page is retried from that page's start so that every
/// write keeps a page-aligned position.
fn pwrite_pages(anon_fd: &OwnedFd, data: &[u8], pos: u64) -> io::Result<()> {
    let mut done: usize = 0;
    let mut stalls = 0;
    while done < data.len() {
        let at = pos + done as u64;
        let off =
            libc::off_t::try_from(at).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
        let rest = &data[done..];
        // SAFETY: `rest` is a valid readable buffer of `rest.len()` bytes.
        let r = unsafe { libc::pwrite(anon_fd.as_raw_fd(), rest.as_ptr().cast(), rest.len(), off) };
        match cvt_size(r) {
            Ok(n) => {
                let step = align::round_down(n as u64) as usize;
                if step == 0 {
                    stalls += 1;
                    if stalls > 3 {
                        return Err(io::Error::new(
                            io::ErrorKind::WriteZero,
                            format!("anon fd accepted only {n} bytes at {at}"),
                        ));
                    }
                } else {
                    done += step;
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Copies `plan` from `blob` into the cache file behind `anon_fd`, through
/// `buf` (page aligned, whole pages), zero-padding the tail.
/// Returns the number of blob bytes copied.
pub fn copy_range(
    blob: &std::fs::File,
    anon_fd: &OwnedFd,
    plan: &WritePlan,
    buf: &mut AlignedBuf,
) -> io::Result<u64> {
    let chunk = buf.len() as u64;
    let mut pos = plan.start;
    let mut copied = 0;
    while pos < plan.end {
        let n = (plan.end - pos).min(chunk);
        // Whole pages: plan.end is aligned and chunk is a page multiple.
        let n_usize = n as usize;
        let want = plan.data_end.saturating_sub(pos).min(n) as usize;
        let slice = &mut buf.as_mut_slice()[..n_usize];
        let got = pread_full(blob, &mut slice[..want], pos)?;
        // Zero padding past the data (and past a blob that shrank).
        slice[got..].fill(0);
        pwrite_pages(anon_fd, slice, pos)?;
        copied += got as u64;
        pos += n;
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::tmpfile;
    use std::io::{Read, Seek, Write};

    #[test]
    fn copy_range_pads_and_chunks() {
        // A regular file stands in for the anon fd.
        let mut blob = tmpfile("blob");
        let data: Vec<u8> = (0..10000u32).map(|i| (i % 251) as u8 + 1).collect();
        blob.write_all(&data).unwrap();
        let mut dst = tmpfile("dst");
        let dst_fd: OwnedFd = dst.try_clone().unwrap().into();
        let plan = align::plan_write(5000, 100_000, 10000).unwrap();
        let mut buf = AlignedBuf::new(4096); // forces two chunks
        let copied = copy_range(&blob, &dst_fd, &plan, &mut buf).unwrap();
        assert_eq!(copied, 10000 - 4096);
        let mut out = Vec::new();
        dst.rewind().unwrap();
        dst.read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), 12288);
        assert!(out[..4096].iter().all(|&b| b == 0)); // never written (hole)
        assert_eq!(&out[4096..10000], &data[4096..]);
        assert!(out[10000..].iter().all(|&b| b == 0));
    }

    #[test]
    fn adopt_refuses_reserved_and_closed() {
        let f = tmpfile("f");
        let raw = f.as_raw_fd();
        assert!(adopt_anon_fd(raw as u32, &[raw]).is_none());
        assert!(adopt_anon_fd(u32::MAX, &[]).is_none());
        assert!(adopt_anon_fd(1_000_000, &[]).is_none());
    }

    #[test]
    fn errno_names() {
        assert_eq!(errno_name(libc::ENOENT), "ENOENT");
        assert!(describe(&io::Error::from_raw_os_error(libc::EBUSY)).starts_with("EBUSY"));
    }
}
