//! Request handling: what the daemon does for OPEN, CLOSE and READ.

use std::io;
use std::os::fd::RawFd;

use crate::align::{self, AlignedBuf};
use crate::blobs::BlobDir;
use crate::devnode::{self, describe, errno_name};
use crate::fault::{Fault, FaultKind};
use crate::objects::{Object, ObjectTable};
use crate::protocol::{self, display_key, Header, Message, OpenRequest, ReadRequest, Request};
use crate::stats::Stats;
use crate::{debug, error, warn};

/// Size of the bounce buffer between a blob and an anon fd.
pub const COPY_CHUNK: usize = 1 << 20;

/// Where `copen` replies go (the devnode; a fake in tests).
pub trait Control {
    /// Writes one command.
    fn command(&self, cmd: &str) -> io::Result<()>;
    /// Descriptors the daemon owns that a message must never name.
    fn reserved_fds(&self) -> Vec<RawFd>;
}

impl Control for devnode::Devnode {
    fn command(&self, cmd: &str) -> io::Result<()> {
        devnode::Devnode::command(self, cmd)
    }
    fn reserved_fds(&self) -> Vec<RawFd> {
        vec![self.raw()]
    }
}

/// The daemon's state apart from the event loop.
pub struct Server {
    blobs: BlobDir,
    objects: ObjectTable,
    /// Counters.
    pub stats: Stats,
    buf: AlignedBuf,
    /// Extra descriptors to protect (epoll, signalfd).
    extra_reserved: Vec<RawFd>,
    /// Testing: delay before serving each READ.
    read_delay: std::time::Duration,
    /// Testing: misbehaviour to inject, and whether a one-shot one fired.
    fault: Option<Fault>,
    fault_fired: bool,
}

impl Server {
    /// A server for the blobs in `blobs`.
    pub fn new(blobs: BlobDir) -> Server {
        Server {
            blobs,
            objects: ObjectTable::new(),
            stats: Stats::default(),
            buf: AlignedBuf::new(COPY_CHUNK),
            extra_reserved: Vec::new(),
            read_delay: std::time::Duration::ZERO,
            fault: None,
            fault_fired: false,
        }
    }

    /// Injects `fault` (testing: see [`FaultKind`]).
    pub fn set_fault(&mut self, fault: Fault) {
        self.fault = Some(fault);
    }

    /// Sleeps `delay` before serving each READ (testing: a slow backend).
    pub fn set_read_delay(&mut self, delay: std::time::Duration) {
        self.read_delay = delay;
    }

    /// Marks `fd` as owned by the daemon (never adopted from a message).
    pub fn reserve_fd(&mut self, fd: RawFd) {
        self.extra_reserved.push(fd);
    }

    /// Number of open objects.
    pub fn open_objects(&self) -> usize {
        self.objects.len()
    }

    /// Closes every anon fd; returns how many were open.
    pub fn close_all(&mut self) -> usize {
        if !self.objects.is_empty() {
            debug!("closing the anon fds of {} objects", self.objects.len());
        }
        self.objects.clear()
    }

    /// Handles one raw message as read from the devnode.
    pub fn handle_raw(&mut self, ctl: &dyn Control, raw: &[u8]) {
        match protocol::parse_message(raw) {
            Ok(msg) => self.handle(ctl, msg),
            Err(e) => self.handle_malformed(ctl, raw, &e),
        }
    }

    fn handle(&mut self, ctl: &dyn Control, msg: Message) {
        let h = msg.header;
        match msg.request {
            Request::Open(open) => self.handle_open(ctl, h, open),
            Request::Close => self.handle_close(h),
            Request::Read(read) => self.handle_read(h, read),
        }
    }

    /// A message we cannot parse.  If it is an OPEN whose fd field is
    /// readable, release the anon fd and fail the OPEN with EINVAL so the
    /// mount does not hang; anything else is logged and skipped.
    fn handle_malformed(&mut self, ctl: &dyn Control, raw: &[u8], e: &protocol::ParseError) {
        self.stats.errors += 1;
        let header = protocol::parse_header(raw).ok();
        error!(
            "malformed message ({} bytes, msg_id {}, opcode {}): {e}; skipped",
            raw.len(),
            header.map_or("?".into(), |h| h.msg_id.to_string()),
            header.map_or("?".into(), |h| h.opcode.to_string()),
        );
        if let (Some(h), Some(fd)) = (header, protocol::open_fd_hint(raw)) {
            self.stats.open += 1;
            self.stats.open_failed += 1;
            drop(devnode::adopt_anon_fd(fd, &self.reserved(ctl)));
            self.reply_open(ctl, h.msg_id, -i64::from(libc::EINVAL));
        }
    }

    fn reserved(&self, ctl: &dyn Control) -> Vec<RawFd> {
        let mut r = ctl.reserved_fds();
        r.extend_from_slice(&self.extra_reserved);
        r.extend(self.objects.anon_fds());
        r
    }

    fn reply_open(&mut self, ctl: &dyn Control, msg_id: u32, size_or_errno: i64) {
        let cmd = protocol::copen_command(msg_id, size_or_errno);
        if let Err(e) = ctl.command(&cmd) {
            self.stats.errors += 1;
            error!("'{cmd}' failed: {}", describe(&e));
        }
    }

    fn handle_open(&mut self, ctl: &dyn Control, h: Header, open: OpenRequest) {
        self.stats.open += 1;
        let name = display_key(&open.cookie_key);
        let volume =
            display_key(protocol::erofs_domain(&open.volume_key).unwrap_or(&open.volume_key));
        let anon = devnode::adopt_anon_fd(open.fd, &self.reserved(ctl));
        let Some(anon_fd) = anon else {
            // Without the fd we cannot serve reads; refuse the object.
            self.stats.errors += 1;
            self.stats.open_failed += 1;
            error!(
                "OPEN msg {} object {} blob '{name}': fd {} is not a usable descriptor; failing with EBADF",
                h.msg_id, h.object_id, open.fd
            );
            self.reply_open(ctl, h.msg_id, -i64::from(libc::EBADF));
            return;
        };
        match self.blobs.open(&open.cookie_key) {
            Ok((blob, size)) => {
                let Ok(size_i64) = i64::try_from(size) else {
                    self.stats.open_failed += 1;
                    error!(
                        "OPEN msg {}: blob '{name}' too large ({size} bytes)",
                        h.msg_id
                    );
                    drop(anon_fd);
                    self.reply_open(ctl, h.msg_id, -i64::from(libc::EFBIG));
                    return;
                };
                debug!(
                    "OPEN msg {} object {} volume '{volume}' blob '{name}' fd {} -> size {size}",
                    h.msg_id, h.object_id, open.fd
                );
                let obj = Object {
                    anon_fd,
                    blob,
                    size,
                    name: name.clone(),
                };
                if let Some(old) = self.objects.insert(h.object_id, obj) {
                    warn!(
                        "OPEN msg {}: object {} was still known (blob '{}'); dropped the old entry",
                        h.msg_id, h.object_id, old.name
                    );
                }
                self.stats.open_ok += 1;
                let cmd = protocol::copen_command(h.msg_id, size_i64);
                if let Err(e) = ctl.command(&cmd) {
                    self.stats.errors += 1;
                    error!("'{cmd}' failed: {}", describe(&e));
                    // The kernel will not use this object: forget it.
                    self.objects.remove(h.object_id);
                }
            }
            Err(e) => {
                let errno = e.raw_os_error().unwrap_or(libc::ENOENT);
                self.stats.open_failed += 1;
                if errno == libc::ENOENT {
                    warn!(
                        "OPEN msg {} object {} volume '{volume}': no blob '{name}'; failing with ENOENT",
                        h.msg_id, h.object_id
                    );
                } else {
                    error!(
                        "OPEN msg {} object {} blob '{name}': {}; failing with {}",
                        h.msg_id,
                        h.object_id,
                        describe(&e),
                        errno_name(errno)
                    );
                }
                drop(anon_fd);
                self.reply_open(ctl, h.msg_id, -i64::from(errno));
            }
        }
    }

    fn handle_close(&mut self, h: Header) {
        self.stats.close += 1;
        match self.objects.remove(h.object_id) {
            Some(obj) => debug!(
                "CLOSE msg {} object {} blob '{}'",
                h.msg_id, h.object_id, obj.name
            ),
            None => {
                self.stats.errors += 1;
                warn!(
                    "CLOSE msg {}: unknown object {}; ignored",
                    h.msg_id, h.object_id
                );
            }
        }
    }

    /// Testing: misbehaves on this READ if a fault applies to its blob;
    /// returns true if the READ must be left unanswered.
    fn inject_read_fault(&mut self, h: Header, read: &ReadRequest) -> bool {
        let Some(fault) = &self.fault else {
            return false;
        };
        let Some(obj) = self.objects.get(h.object_id) else {
            return false;
        };
        if obj.name != fault.blob {
            return false;
        }
        match fault.kind {
            FaultKind::ReadStall => {
                warn!(
                    "testing: READ msg {} object {} blob '{}' [{:#x}+{:#x}] left unanswered (read-stall)",
                    h.msg_id, h.object_id, obj.name, read.off, read.len
                );
            }
            FaultKind::ReadClose => {
                if self.fault_fired {
                    return false;
                }
                self.fault_fired = true;
                warn!(
                    "testing: READ msg {} object {} blob '{}' [{:#x}+{:#x}]: closed the anon fd, left unanswered (read-close)",
                    h.msg_id, h.object_id, obj.name, read.off, read.len
                );
                self.objects.remove(h.object_id);
            }
        }
        self.stats.faults += 1;
        true
    }

    fn handle_read(&mut self, h: Header, read: ReadRequest) {
        self.stats.read += 1;
        if !self.read_delay.is_zero() {
            debug!(
                "READ msg {} object {} [{:#x}+{:#x}] received; delaying {} ms",
                h.msg_id,
                h.object_id,
                read.off,
                read.len,
                self.read_delay.as_millis()
            );
            std::thread::sleep(self.read_delay);
        }
        if self.inject_read_fault(h, &read) {
            return;
        }
        let Some(obj) = self.objects.get(h.object_id) else {
            self.stats.errors += 1;
            // Without the object's anon fd there is no way to complete it;
            // the reader stays blocked until it is killed or the cache dies.
            error!(
                "READ msg {} [{:#x}+{:#x}]: unknown object {}; cannot complete it",
                h.msg_id, read.off, read.len, h.object_id
            );
            return;
        };
        match align::plan_write(read.off, read.len, obj.size) {
            Some(plan) => {
                match devnode::copy_range(&obj.blob, &obj.anon_fd, &plan, &mut self.buf) {
                    Ok(n) => {
                        self.stats.bytes += n;
                        debug!(
                        "READ msg {} object {} blob '{}' [{:#x}+{:#x}] -> wrote {:#x}+{:#x} ({n} data bytes)",
                        h.msg_id,
                        h.object_id,
                        obj.name,
                        read.off,
                        read.len,
                        plan.start,
                        plan.write_len()
                    );
                    }
                    Err(e) => {
                        self.stats.errors += 1;
                        error!(
                            "READ msg {} object {} blob '{}' [{:#x}+{:#x}]: {}",
                            h.msg_id,
                            h.object_id,
                            obj.name,
                            read.off,
                            read.len,
                            describe(&e)
                        );
                    }
                }
            }
            None => warn!(
                "READ msg {} object {} blob '{}' [{:#x}+{:#x}] lies outside the blob ({} bytes)",
                h.msg_id, h.object_id, obj.name, read.off, read.len, obj.size
            ),
        }
        // Always complete: the kernel re-checks the cache file and fails
        // the read itself if the range is still missing.
        match devnode::read_complete(&obj.anon_fd, h.msg_id) {
            Ok(()) => {}
            // The request is gone: its reader was killed (or the object
            // withdrawn) after we read it.  Normal kernel behaviour.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => warn!(
                "READ msg {} object {}: request withdrawn before READ_COMPLETE",
                h.msg_id, h.object_id
            ),
            Err(e) => {
                self.stats.errors += 1;
                error!(
                    "READ msg {} object {}: READ_COMPLETE failed: {}",
                    h.msg_id,
                    h.object_id,
                    describe(&e)
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::tests::{build, open_payload};
    use crate::protocol::{OP_CLOSE, OP_OPEN, OP_READ};
    use std::cell::RefCell;

    #[derive(Default)]
    struct FakeCtl {
        sent: RefCell<Vec<String>>,
    }

    impl Control for FakeCtl {
        fn command(&self, cmd: &str) -> io::Result<()> {
            self.sent.borrow_mut().push(cmd.to_string());
            Ok(())
        }
        fn reserved_fds(&self) -> Vec<RawFd> {
            Vec::new()
        }
    }

    fn setup(tag: &str) -> (Server, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("cfod-srv-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("blob"), vec![5u8; 6000]).unwrap();
        (Server::new(BlobDir::new(&dir).unwrap()), dir)
    }

    /// A descriptor standing in for an anon fd: the write end of a pipe,
    /// returned with the non-blocking read end, which tells whether the
    /// write end was closed (EOF) without depending on fd numbers (tests
    /// run in parallel threads and reuse them).
    fn fake_anon_fd() -> (u32, std::fs::File) {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors.
        assert_eq!(
            unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) },
            0
        );
        // SAFETY: fds[0] was just created and is owned here.
        let rd = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fds[0]) };
        (fds[1] as u32, rd)
    }

    fn is_closed(read_end: &mut std::fs::File) -> bool {
        let mut b = [0u8; 1];
        matches!(std::io::Read::read(read_end, &mut b), Ok(0))
    }

    #[test]
    fn open_known_and_unknown_blob_then_close() {
        let (mut s, dir) = setup("open");
        let ctl = FakeCtl::default();
        let (fd, mut rd) = fake_anon_fd();
        s.handle_raw(
            &ctl,
            &build(4, OP_OPEN, 1, &open_payload(b"erofs,blob", b"blob", fd)),
        );
        assert_eq!(ctl.sent.borrow().as_slice(), ["copen 4,6000"]);
        assert_eq!(s.open_objects(), 1);

        let (fd2, mut rd2) = fake_anon_fd();
        s.handle_raw(
            &ctl,
            &build(5, OP_OPEN, 2, &open_payload(b"erofs,x", b"missing", fd2)),
        );
        assert_eq!(ctl.sent.borrow()[1], "copen 5,-2");
        assert!(is_closed(&mut rd2), "anon fd of a refused OPEN is closed");

        assert!(!is_closed(&mut rd));
        s.handle_raw(&ctl, &build(6, OP_CLOSE, 1, &[]));
        assert_eq!(s.open_objects(), 0);
        assert!(is_closed(&mut rd), "CLOSE closes the anon fd");
        s.handle_raw(&ctl, &build(7, OP_CLOSE, 9, &[])); // unknown: no crash
        assert_eq!(s.stats.open, 2);
        assert_eq!(s.stats.close, 2);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn read_copies_blob_range_into_anon_fd() {
        use std::os::fd::IntoRawFd;
        let (mut s, dir) = setup("copy");
        let ctl = FakeCtl::default();
        // A regular file stands in for the anon fd; its READ_COMPLETE ioctl
        // fails (ENOTTY) and is counted as an error, without a crash.
        let cache = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.join("cache"))
            .unwrap();
        let fd = cache.try_clone().unwrap().into_raw_fd() as u32;
        s.handle_raw(
            &ctl,
            &build(1, OP_OPEN, 3, &open_payload(b"erofs,blob", b"blob", fd)),
        );
        let mut p = 4100u64.to_ne_bytes().to_vec();
        p.extend_from_slice(&10u64.to_ne_bytes());
        s.handle_raw(&ctl, &build(2, OP_READ, 3, &p));
        assert_eq!(s.stats.read, 1);
        // The whole page is blob data up to the blob's end, not just the
        // 10 bytes asked for.
        assert_eq!(s.stats.bytes, 6000 - 4096);
        assert_eq!(s.stats.errors, 1, "only the ioctl failed");
        let data = std::fs::read(dir.join("cache")).unwrap();
        assert_eq!(data.len(), 8192);
        assert!(data[4096..6000].iter().all(|&b| b == 5));
        assert!(data[6000..].iter().all(|&b| b == 0));
        // A READ past the end writes nothing.
        let mut p = 8192u64.to_ne_bytes().to_vec();
        p.extend_from_slice(&4096u64.to_ne_bytes());
        s.handle_raw(&ctl, &build(3, OP_READ, 3, &p));
        assert_eq!(s.stats.bytes, 6000 - 4096);
        s.close_all();
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn read_unknown_object_and_garbage_do_not_crash() {
        let (mut s, dir) = setup("read");
        let ctl = FakeCtl::default();
        let mut p = 0u64.to_ne_bytes().to_vec();
        p.extend_from_slice(&4096u64.to_ne_bytes());
        s.handle_raw(&ctl, &build(1, OP_READ, 42, &p));
        assert_eq!(s.stats.read, 1);
        assert_eq!(s.stats.errors, 1);
        s.handle_raw(&ctl, &[1, 2, 3]);
        s.handle_raw(&ctl, &build(2, 77, 1, &[]));
        assert!(ctl.sent.borrow().is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn read_faults_leave_reads_unanswered() {
        let (mut s, dir) = setup("fault");
        let ctl = FakeCtl::default();
        let (fd, mut rd) = fake_anon_fd();
        s.set_fault(Fault::parse("read-stall:blob").unwrap());
        s.handle_raw(
            &ctl,
            &build(1, OP_OPEN, 1, &open_payload(b"erofs,blob", b"blob", fd)),
        );
        let mut p = 0u64.to_ne_bytes().to_vec();
        p.extend_from_slice(&4096u64.to_ne_bytes());
        s.handle_raw(&ctl, &build(2, OP_READ, 1, &p));
        s.handle_raw(&ctl, &build(3, OP_READ, 1, &p));
        // Nothing written (a write to the pipe would show), no ioctl tried.
        assert_eq!((s.stats.read, s.stats.faults, s.stats.errors), (2, 2, 0));
        assert_eq!(s.stats.bytes, 0);
        assert!(!is_closed(&mut rd) && s.open_objects() == 1);

        // read-close: the first READ closes the anon fd, once.
        s.set_fault(Fault::parse("read-close:blob").unwrap());
        s.handle_raw(&ctl, &build(4, OP_READ, 1, &p));
        assert!(is_closed(&mut rd), "anon fd closed");
        assert_eq!((s.open_objects(), s.stats.faults), (0, 3));
        let (fd2, mut rd2) = fake_anon_fd();
        s.handle_raw(
            &ctl,
            &build(5, OP_OPEN, 2, &open_payload(b"erofs,blob", b"blob", fd2)),
        );
        s.handle_raw(&ctl, &build(6, OP_READ, 2, &p));
        assert_eq!(s.stats.faults, 3, "read-close fires once");
        // Served: the copy into the pipe (no pwrite there) and the ioctl fail.
        assert!(s.stats.errors > 0, "the next READ is served");
        assert!(!is_closed(&mut rd2));
        s.close_all();
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn malformed_open_is_failed_with_einval() {
        let (mut s, dir) = setup("bad");
        let ctl = FakeCtl::default();
        let (fd, mut rd) = fake_anon_fd();
        let mut p = open_payload(b"erofs,blob", b"blob", fd);
        p[4..8].copy_from_slice(&999u32.to_ne_bytes());
        s.handle_raw(&ctl, &build(3, OP_OPEN, 1, &p));
        assert_eq!(ctl.sent.borrow().as_slice(), ["copen 3,-22"]);
        assert!(is_closed(&mut rd));
        assert_eq!(s.open_objects(), 0);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn open_naming_a_reserved_fd_is_refused() {
        let (mut s, dir) = setup("resv");
        let ctl = FakeCtl::default();
        let f = std::fs::File::open("/dev/null").unwrap();
        let raw = std::os::fd::AsRawFd::as_raw_fd(&f);
        s.reserve_fd(raw);
        s.handle_raw(
            &ctl,
            &build(
                8,
                OP_OPEN,
                1,
                &open_payload(b"erofs,blob", b"blob", raw as u32),
            ),
        );
        assert_eq!(ctl.sent.borrow().as_slice(), ["copen 8,-9"]);
        assert!(devnode::fd_is_open(raw), "reserved fd left alone");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
