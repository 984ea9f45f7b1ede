//! Filling a range of a cache file without a copy through user space
//! where the kernel allows it, else `pread` + `pwrite` through a
//! page-aligned buffer ([`devnode::copy_range`]):
//!
//! 1. `copy_file_range(2)` from the blob to the anon fd;
//! 2. if the kernel refuses it, `splice(2)` from the blob into a pipe
//!    (page references, no copy) and from the pipe into the anon fd at the
//!    fill's offset;
//! 3. if the kernel refuses that too, the buffer copy.
//!
//! The anon fd of 6.12 (C `cachefiles_ondemand_fd_fops`) has neither
//! `copy_file_range` nor `splice_write`, and it is not a regular file: the
//! kernel refuses both (EINVAL, or EXDEV across filesystems).
//! cachefiles_rs accepts `splice` into an anon fd of a cache bound with
//! buffered backing I/O (its opt-in, see ondemand.rst), and refuses it as
//! C otherwise.  The first refusal of a method moves the whole daemon to
//! the next one for good (logged once); other errors are returned as
//! `pwrite`'s would be.  `sendfile(2)` is not tried: it writes at the
//! output's file position, and the anon fd's `llseek` moves the backing
//! file's position, not its own.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU8, Ordering};

use crate::align::{self, AlignedBuf, WritePlan};
use crate::devnode::{self, describe};
use crate::info;

/// How ranges are filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Not tried yet: the next fill tries `copy_file_range`.
    Untried,
    /// `copy_file_range` worked.
    CopyFileRange,
    /// The kernel refused `copy_file_range`: `splice` is being tried.
    SpliceTrying,
    /// `splice` through a pipe worked.
    Splice,
    /// The kernel refused the kernel copies: `pread` + `pwrite`.
    Pwrite,
}

/// The daemon-wide fill method (see the module comment).
pub struct Filler {
    method: AtomicU8,
}

impl Default for Filler {
    fn default() -> Self {
        Filler::new()
    }
}

/// Errors meaning "this pair of files cannot be copied in the kernel".
pub fn is_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL | libc::EXDEV | libc::EOPNOTSUPP | libc::ENOSYS)
    )
}

/// One `copy_file_range` call with explicit offsets for both files.
fn copy_file_range(
    blob: &std::fs::File,
    anon: &OwnedFd,
    pos: u64,
    len: usize,
) -> io::Result<usize> {
    let mut off_in =
        libc::loff_t::try_from(pos).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    let mut off_out = off_in;
    // SAFETY: both descriptors are open for the duration of the call;
    // the offsets are valid loff_t variables owned by this frame.
    retry(|| unsafe {
        libc::copy_file_range(
            blob.as_raw_fd(),
            &mut off_in,
            anon.as_raw_fd(),
            &mut off_out,
            len,
            0,
        ) as isize
    })
}

/// Pipe capacity asked for the splice copy (the kernel may give less).
const PIPE_BYTES: libc::c_int = 1 << 20;

thread_local! {
    /// This thread's pipe for [`splice_copy`]: (read end, write end, size).
    static PIPE: std::cell::RefCell<Option<(OwnedFd, OwnedFd, usize)>> =
        const { std::cell::RefCell::new(None) };
}

/// Retries `f` while it fails with EINTR.
fn retry(mut f: impl FnMut() -> isize) -> io::Result<usize> {
    loop {
        let r = f();
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// A new pipe of (up to) [`PIPE_BYTES`].
fn new_pipe() -> io::Result<(OwnedFd, OwnedFd, usize)> {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 returned two new descriptors we now own.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // A bigger pipe means fewer splices; the default (64 KiB) still works.
    // SAFETY: fcntl on a descriptor we own.
    unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_BYTES) };
    // SAFETY: As above.
    let size = unsafe { libc::fcntl(w.as_raw_fd(), libc::F_GETPIPE_SZ) };
    Ok((r, w, usize::try_from(size).unwrap_or(0).max(4096)))
}

/// Copies up to `len` bytes at `pos` from `blob` into `anon` at the same
/// offset through this thread's pipe; returns the bytes copied.  On an
/// error the pipe (maybe holding data) is dropped.
fn splice_copy(blob: &std::fs::File, anon: &OwnedFd, pos: u64, len: usize) -> io::Result<usize> {
    let off = libc::loff_t::try_from(pos).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    PIPE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let (r, w, size) = match slot.take() {
            Some(p) => p,
            None => new_pipe()?,
        };
        let chunk = len.min(size);
        let mut off_in = off;
        // SAFETY: Open descriptors; `off_in` is a valid loff_t.
        let n = retry(|| unsafe {
            libc::splice(
                blob.as_raw_fd(),
                &mut off_in,
                w.as_raw_fd(),
                std::ptr::null_mut(),
                chunk,
                libc::SPLICE_F_MOVE,
            )
        })?;
        let mut off_out = off;
        let mut left = n;
        while left > 0 {
            // SAFETY: Open descriptors; `off_out` is a valid loff_t.
            let m = retry(|| unsafe {
                libc::splice(
                    r.as_raw_fd(),
                    std::ptr::null_mut(),
                    anon.as_raw_fd(),
                    &mut off_out,
                    left,
                    libc::SPLICE_F_MOVE,
                )
            })?;
            if m == 0 {
                return Err(io::Error::from_raw_os_error(libc::EIO));
            }
            left -= m.min(left);
        }
        // Emptied: kept for the next copy (an error above drops it).
        *slot = Some((r, w, size));
        Ok(n)
    })
}

impl Filler {
    /// A filler that will try `copy_file_range` first.
    pub fn new() -> Filler {
        Filler {
            method: AtomicU8::new(Method::Untried as u8),
        }
    }

    /// The method in force.
    pub fn method(&self) -> Method {
        match self.method.load(Ordering::Relaxed) {
            x if x == Method::CopyFileRange as u8 => Method::CopyFileRange,
            x if x == Method::SpliceTrying as u8 => Method::SpliceTrying,
            x if x == Method::Splice as u8 => Method::Splice,
            x if x == Method::Pwrite as u8 => Method::Pwrite,
            _ => Method::Untried,
        }
    }

    /// Copies `plan` from `blob` into `anon` (see [`devnode::copy_range`]
    /// for what is written); returns the number of blob bytes copied.
    pub fn copy_range(
        &self,
        blob: &std::fs::File,
        anon: &OwnedFd,
        plan: &WritePlan,
        buf: &mut AlignedBuf,
    ) -> io::Result<u64> {
        self.copy_range_with(blob, anon, plan, buf, |b, a, pos, len| {
            self.kernel_copy(b, a, pos, len)
        })
    }

    /// One kernel copy with the method in force: `copy_file_range`, or
    /// `splice` once `copy_file_range` was refused.
    fn kernel_copy(
        &self,
        blob: &std::fs::File,
        anon: &OwnedFd,
        pos: u64,
        len: usize,
    ) -> io::Result<usize> {
        if !matches!(self.method(), Method::SpliceTrying | Method::Splice) {
            match copy_file_range(blob, anon, pos, len) {
                Err(e) if is_unsupported(&e) && self.method() == Method::Untried => {
                    info!(
                        "copy_file_range into the anon fd: {}; trying splice",
                        describe(&e)
                    );
                    self.method
                        .store(Method::SpliceTrying as u8, Ordering::Relaxed);
                }
                r => return r,
            }
        }
        splice_copy(blob, anon, pos, len)
    }

    /// [`Filler::copy_range`] with the kernel copy `zc` (tests fake it).
    pub fn copy_range_with(
        &self,
        blob: &std::fs::File,
        anon: &OwnedFd,
        plan: &WritePlan,
        buf: &mut AlignedBuf,
        zc: impl Fn(&std::fs::File, &OwnedFd, u64, usize) -> io::Result<usize>,
    ) -> io::Result<u64> {
        // Whole pages of blob data may go through the kernel copy; the
        // last, partial page needs zero padding and goes through `buf`.
        let zc_end = align::round_down(plan.data_end);
        let mut pos = plan.start;
        let mut copied = 0;
        if self.method() != Method::Pwrite {
            while pos < zc_end {
                let len = usize::try_from(zc_end - pos).unwrap_or(usize::MAX);
                match zc(blob, anon, pos, len) {
                    // The blob shrank: the buffer copy pads with zeros.
                    Ok(0) => break,
                    Ok(n) => {
                        let (from, to, name) = match self.method() {
                            Method::SpliceTrying => {
                                (Method::SpliceTrying, Method::Splice, "splice")
                            }
                            _ => (Method::Untried, Method::CopyFileRange, "copy_file_range"),
                        };
                        if self
                            .method
                            .compare_exchange(
                                from as u8,
                                to as u8,
                                Ordering::Relaxed,
                                Ordering::Relaxed,
                            )
                            .is_ok()
                        {
                            info!("filling cache files with {name} (no user-space copy)");
                        }
                        // A write must start on a page: go on from the
                        // page it stopped in (rewriting the same bytes).
                        let step = align::round_down(n as u64);
                        if step == 0 {
                            break;
                        }
                        pos += step;
                        copied += step;
                    }
                    Err(e) if is_unsupported(&e) => {
                        if self.method.swap(Method::Pwrite as u8, Ordering::Relaxed)
                            != Method::Pwrite as u8
                        {
                            info!(
                                "kernel copies into the anon fd: {}; filling with pread + pwrite from now on",
                                describe(&e)
                            );
                        }
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        if pos < plan.end {
            let rest = WritePlan {
                start: pos,
                data_end: plan.data_end.max(pos),
                end: plan.end,
            };
            copied += devnode::copy_range(blob, anon, &rest, buf)?;
        }
        Ok(copied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::tmpfile;
    use std::io::{Read, Seek, Write};

    fn blob_and_dst(tag: &str) -> (std::fs::File, Vec<u8>, std::fs::File, OwnedFd) {
        let mut blob = tmpfile(&format!("{tag}-b"));
        let data: Vec<u8> = (0..20000u32).map(|i| (i % 253) as u8 + 1).collect();
        blob.write_all(&data).unwrap();
        let dst = tmpfile(&format!("{tag}-d"));
        let fd: OwnedFd = dst.try_clone().unwrap().into();
        (blob, data, dst, fd)
    }

    fn contents(mut f: &std::fs::File) -> Vec<u8> {
        let mut out = Vec::new();
        f.rewind().unwrap();
        f.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn kernel_copy_between_regular_files() {
        // Two files of one filesystem: copy_file_range works, and the tail
        // page is padded through the buffer.
        let (blob, data, dst, fd) = blob_and_dst("cfr");
        let filler = Filler::new();
        let plan = align::plan_write(4096, 100_000, 20000).unwrap();
        let mut buf = AlignedBuf::new(4096);
        let n = filler.copy_range(&blob, &fd, &plan, &mut buf).unwrap();
        assert_eq!(n, 20000 - 4096);
        assert_eq!(filler.method(), Method::CopyFileRange);
        let out = contents(&dst);
        assert_eq!(out.len(), 20480);
        assert!(out[..4096].iter().all(|&b| b == 0));
        assert_eq!(&out[4096..20000], &data[4096..]);
        assert!(out[20000..].iter().all(|&b| b == 0));
    }

    #[test]
    fn refusal_falls_back_once_and_for_good() {
        let (blob, data, dst, fd) = blob_and_dst("fb");
        let filler = Filler::new();
        let calls = std::cell::Cell::new(0);
        let refuse = |_: &std::fs::File, _: &OwnedFd, _: u64, _: usize| {
            calls.set(calls.get() + 1);
            Err(io::Error::from_raw_os_error(libc::EINVAL))
        };
        let plan = align::plan_write(0, 20000, 20000).unwrap();
        let mut buf = AlignedBuf::new(8192);
        let n = filler
            .copy_range_with(&blob, &fd, &plan, &mut buf, refuse)
            .unwrap();
        assert_eq!(n, 20000);
        assert_eq!(filler.method(), Method::Pwrite);
        assert_eq!(&contents(&dst)[..20000], &data[..]);
        // Not tried again.
        filler
            .copy_range_with(&blob, &fd, &plan, &mut buf, refuse)
            .unwrap();
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn short_unaligned_copy_resumes_on_a_page() {
        // A kernel copy that stops inside a page: the rest is written from
        // that page's start.
        let (blob, data, dst, fd) = blob_and_dst("short");
        let filler = Filler::new();
        let short = |b: &std::fs::File, a: &OwnedFd, pos: u64, len: usize| {
            copy_file_range(b, a, pos, len.min(5000))
        };
        let plan = align::plan_write(0, 20000, 20000).unwrap();
        let mut buf = AlignedBuf::new(4096);
        let n = filler
            .copy_range_with(&blob, &fd, &plan, &mut buf, short)
            .unwrap();
        assert_eq!(n, 20000);
        assert_eq!(&contents(&dst)[..20000], &data[..]);
    }

    #[test]
    fn splice_copies_through_a_pipe_at_the_offset() {
        // More than one pipe's worth is copied by repeated calls, each at
        // its offset in both files.
        let (blob, data, dst, fd) = blob_and_dst("splice");
        let mut pos = 4096u64;
        while pos < 16384 {
            let n = splice_copy(&blob, &fd, pos, (16384 - pos) as usize).unwrap();
            assert!(n > 0);
            pos += n as u64;
        }
        assert_eq!(pos, 16384);
        let out = contents(&dst);
        assert_eq!(out.len(), 16384);
        assert!(out[..4096].iter().all(|&b| b == 0));
        assert_eq!(&out[4096..16384], &data[4096..16384]);
        // Past the blob's end: nothing to copy.
        assert_eq!(splice_copy(&blob, &fd, 40960, 4096).unwrap(), 0);
    }

    #[test]
    fn other_errors_are_returned() {
        let (blob, _, _dst, fd) = blob_and_dst("err");
        let filler = Filler::new();
        let eio = |_: &std::fs::File, _: &OwnedFd, _: u64, _: usize| {
            Err(io::Error::from_raw_os_error(libc::EIO))
        };
        let plan = align::plan_write(0, 8192, 20000).unwrap();
        let mut buf = AlignedBuf::new(4096);
        let e = filler
            .copy_range_with(&blob, &fd, &plan, &mut buf, eio)
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EIO));
        assert_eq!(filler.method(), Method::Untried);
    }
}
