//! Request handling: what the daemon does for OPEN, CLOSE and READ.
//!
//! The dispatcher (the event loop's thread) handles every message in the
//! order it reads them: OPEN and CLOSE here, and each READ is bound here to
//! its object, then served here (`--workers 1`) or by a worker thread
//! ([`crate::pool`]).

use std::io;
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[cfg(test)]
use crate::align;
use crate::align::AlignedBuf;
use crate::blobs::BlobDir;
use crate::devnode::{self, describe, errno_name};
use crate::fault::{Fault, FaultKind};
use crate::objects::{Object, ObjectTable};
use crate::pool::Pool;
use crate::protocol::{self, display_key, Header, Message, OpenRequest, ReadRequest, Request};
use crate::read::{self, ReadJob, Shared};
use crate::stats::Stats;
use crate::{debug, error, info, warn};

/// Size of the bounce buffer between a blob and an anon fd.
pub const COPY_CHUNK: usize = 1 << 20;

/// How long a `read-close` fault waits for the workers to let go of the
/// object before its anon fd is closed.
const FAULT_CLOSE_WAIT: Duration = Duration::from_secs(10);

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

/// How the server serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// READs served by this many threads; 1: by the dispatcher itself.
    pub workers: usize,
    /// Fill each opened object's whole blob in the background.
    pub prefetch: bool,
    /// Testing: delay before serving each READ.
    pub read_delay: Duration,
    /// `--stats FILE`.
    pub stats_path: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: 1,
            prefetch: false,
            read_delay: Duration::ZERO,
            stats_path: None,
        }
    }
}

/// The daemon's state apart from the event loop.
pub struct Server {
    blobs: BlobDir,
    /// Dispatcher only.
    objects: ObjectTable,
    /// Counters and settings shared with the workers.
    shared: Arc<Shared>,
    /// Bounce buffer of the READs served by the dispatcher.
    buf: AlignedBuf,
    /// Extra descriptors to protect (epoll, signalfd).
    extra_reserved: Vec<RawFd>,
    /// Testing: misbehaviour to inject, and whether a one-shot one fired.
    fault: Option<Fault>,
    fault_fired: bool,
    /// Workers: READs (with more than one) and background fills.
    pool: Option<Pool>,
    /// READs go to the pool (else the dispatcher serves them).
    parallel_reads: bool,
    prefetch: bool,
}

impl Server {
    /// A server for the blobs in `blobs`, serving READs itself.
    #[cfg(test)]
    pub fn new(blobs: BlobDir) -> Server {
        Server::with_shared(blobs, Arc::new(Shared::new(None, Duration::ZERO)))
    }

    fn with_shared(blobs: BlobDir, shared: Arc<Shared>) -> Server {
        Server {
            blobs,
            objects: ObjectTable::new(),
            shared,
            buf: AlignedBuf::new(COPY_CHUNK),
            extra_reserved: Vec::new(),
            fault: None,
            fault_fired: false,
            pool: None,
            parallel_reads: false,
            prefetch: false,
        }
    }

    /// A server configured by `cfg` (starts its worker threads).
    pub fn with_config(blobs: BlobDir, cfg: &Config) -> io::Result<Server> {
        let shared = Arc::new(Shared::new(cfg.stats_path.clone(), cfg.read_delay));
        let mut s = Server::with_shared(blobs, shared);
        let workers = cfg.workers.max(1);
        s.parallel_reads = workers > 1;
        s.prefetch = cfg.prefetch;
        if s.parallel_reads || s.prefetch {
            // With one worker READs stay with the dispatcher and the
            // thread only fills; else one worker always stays for READs.
            let max_fill = if workers > 1 { workers - 1 } else { 1 };
            s.pool = Some(Pool::start(Arc::clone(&s.shared), workers, max_fill)?);
        }
        Ok(s)
    }

    /// Injects `fault` (testing: see [`FaultKind`]).
    pub fn set_fault(&mut self, fault: Fault) {
        self.fault = Some(fault);
    }

    /// Marks `fd` as owned by the daemon (never adopted from a message).
    pub fn reserve_fd(&mut self, fd: RawFd) {
        self.extra_reserved.push(fd);
    }

    /// Number of worker threads (0: the dispatcher serves everything).
    pub fn worker_threads(&self) -> usize {
        self.pool.as_ref().map_or(0, Pool::threads)
    }

    /// A copy of the counters.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Updates the counters.
    pub fn count(&self, f: impl FnOnce(&mut Stats)) {
        self.shared.count(f);
    }

    /// Rewrites the stats file, if configured.
    pub fn write_stats(&self) {
        self.shared.write_stats();
    }

    /// Number of open objects.
    pub fn open_objects(&self) -> usize {
        self.objects.len()
    }

    /// Serves the READs handed to the workers and stops them (background
    /// fills are abandoned).
    pub fn stop_workers(&mut self) {
        if let Some(mut p) = self.pool.take() {
            p.stop();
        }
    }

    /// Closes every anon fd; returns how many were open.
    pub fn close_all(&mut self) -> usize {
        self.stop_workers();
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
        self.count(|s| s.errors += 1);
        let header = protocol::parse_header(raw).ok();
        error!(
            "malformed message ({} bytes, msg_id {}, opcode {}): {e}; skipped",
            raw.len(),
            header.map_or("?".into(), |h| h.msg_id.to_string()),
            header.map_or("?".into(), |h| h.opcode.to_string()),
        );
        if let (Some(h), Some(fd)) = (header, protocol::open_fd_hint(raw)) {
            self.count(|s| {
                s.open += 1;
                s.open_failed += 1;
            });
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
            self.count(|s| s.errors += 1);
            error!("'{cmd}' failed: {}", describe(&e));
        }
    }

    fn handle_open(&mut self, ctl: &dyn Control, h: Header, open: OpenRequest) {
        self.count(|s| s.open += 1);
        let name = display_key(&open.cookie_key);
        let volume =
            display_key(protocol::erofs_domain(&open.volume_key).unwrap_or(&open.volume_key));
        let anon = devnode::adopt_anon_fd(open.fd, &self.reserved(ctl));
        let Some(anon_fd) = anon else {
            // Without the fd we cannot serve reads; refuse the object.
            self.count(|s| {
                s.errors += 1;
                s.open_failed += 1;
            });
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
                    self.count(|s| s.open_failed += 1);
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
                let (obj, old) = self
                    .objects
                    .insert(h.object_id, Object::new(anon_fd, blob, size, name));
                if let Some(old) = old {
                    warn!(
                        "OPEN msg {}: object {} was still known (blob '{}'); dropped the old entry",
                        h.msg_id, h.object_id, old.name
                    );
                }
                self.count(|s| s.open_ok += 1);
                let cmd = protocol::copen_command(h.msg_id, size_i64);
                if let Err(e) = ctl.command(&cmd) {
                    self.count(|s| s.errors += 1);
                    error!("'{cmd}' failed: {}", describe(&e));
                    // The kernel will not use this object: forget it.
                    self.objects.remove(h.object_id);
                    return;
                }
                if self.prefetch && size > 0 {
                    if let Some(p) = &self.pool {
                        debug!("prefetch of blob '{}' ({size} bytes) queued", obj.name);
                        p.submit_fill(obj);
                    }
                }
            }
            Err(e) => {
                let errno = e.raw_os_error().unwrap_or(libc::ENOENT);
                self.count(|s| s.open_failed += 1);
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
        self.count(|s| s.close += 1);
        match self.objects.remove(h.object_id) {
            Some(obj) => debug!(
                "CLOSE msg {} object {} blob '{}'",
                h.msg_id, h.object_id, obj.name
            ),
            None => {
                self.count(|s| s.errors += 1);
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
                if let Some(obj) = self.objects.remove(h.object_id) {
                    close_now(obj);
                }
            }
        }
        self.count(|s| s.faults += 1);
        true
    }

    fn handle_read(&mut self, h: Header, read: ReadRequest) {
        self.count(|s| s.read += 1);
        if !self.parallel_reads {
            read::delay(&self.shared, h, &read);
        }
        if self.inject_read_fault(h, &read) {
            return;
        }
        let Some(obj) = self.objects.get(h.object_id) else {
            self.count(|s| s.errors += 1);
            // Without the object's anon fd there is no way to complete it;
            // the reader stays blocked until it is killed or the cache dies.
            error!(
                "READ msg {} [{:#x}+{:#x}]: unknown object {}; cannot complete it",
                h.msg_id, read.off, read.len, h.object_id
            );
            return;
        };
        let job = ReadJob {
            h,
            read,
            obj: Arc::clone(obj),
        };
        match (&self.pool, self.parallel_reads) {
            (Some(p), true) => p.submit_read(job),
            _ => read::serve(&self.shared, &job, &mut self.buf),
        }
    }
}

/// Drops `obj` once the workers have let go of it (they drop the READs of
/// a closed object at once; one copying waits for its copy), so that its
/// anon fd closes now, as with `--workers 1`.  Testing only (`read-close`).
fn close_now(obj: Arc<Object>) {
    let t0 = Instant::now();
    while Arc::strong_count(&obj) > 1 && t0.elapsed() < FAULT_CLOSE_WAIT {
        std::thread::sleep(Duration::from_millis(1));
    }
    if Arc::strong_count(&obj) > 1 {
        info!(
            "testing: blob '{}': a worker still holds the object; its anon fd closes later",
            obj.name
        );
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
        assert_eq!(s.stats().open, 2);
        assert_eq!(s.stats().close, 2);
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
        assert_eq!(s.stats().read, 1);
        // The whole page is blob data up to the blob's end, not just the
        // 10 bytes asked for.
        assert_eq!(s.stats().bytes, 6000 - 4096);
        assert_eq!(s.stats().errors, 1, "only the ioctl failed");
        let data = std::fs::read(dir.join("cache")).unwrap();
        assert_eq!(data.len(), 8192);
        assert!(data[4096..6000].iter().all(|&b| b == 5));
        assert!(data[6000..].iter().all(|&b| b == 0));
        // A READ past the end writes nothing.
        let mut p = 8192u64.to_ne_bytes().to_vec();
        p.extend_from_slice(&4096u64.to_ne_bytes());
        s.handle_raw(&ctl, &build(3, OP_READ, 3, &p));
        assert_eq!(s.stats().bytes, 6000 - 4096);
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
        assert_eq!(s.stats().read, 1);
        assert_eq!(s.stats().errors, 1);
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
        assert_eq!(
            (s.stats().read, s.stats().faults, s.stats().errors),
            (2, 2, 0)
        );
        assert_eq!(s.stats().bytes, 0);
        assert!(!is_closed(&mut rd) && s.open_objects() == 1);

        // read-close: the first READ closes the anon fd, once.
        s.set_fault(Fault::parse("read-close:blob").unwrap());
        s.handle_raw(&ctl, &build(4, OP_READ, 1, &p));
        assert!(is_closed(&mut rd), "anon fd closed");
        assert_eq!((s.open_objects(), s.stats().faults), (0, 3));
        let (fd2, mut rd2) = fake_anon_fd();
        s.handle_raw(
            &ctl,
            &build(5, OP_OPEN, 2, &open_payload(b"erofs,blob", b"blob", fd2)),
        );
        s.handle_raw(&ctl, &build(6, OP_READ, 2, &p));
        assert_eq!(s.stats().faults, 3, "read-close fires once");
        // Served: the copy into the pipe (no pwrite there) and the ioctl fail.
        assert!(s.stats().errors > 0, "the next READ is served");
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

    /// An OPEN of `blob` as object `id` whose anon fd is a regular file
    /// (`cache` in the test's directory); returns that file.
    fn open_with_file(
        s: &mut Server,
        ctl: &FakeCtl,
        dir: &std::path::Path,
        id: u32,
        msg: u32,
    ) -> std::fs::File {
        use std::os::fd::IntoRawFd;
        let cache = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.join(format!("cache{id}")))
            .unwrap();
        let fd = cache.try_clone().unwrap().into_raw_fd() as u32;
        s.handle_raw(
            ctl,
            &build(msg, OP_OPEN, id, &open_payload(b"erofs,blob", b"blob", fd)),
        );
        cache
    }

    fn read_msg(msg: u32, id: u32, off: u64, len: u64) -> Vec<u8> {
        let mut p = off.to_ne_bytes().to_vec();
        p.extend_from_slice(&len.to_ne_bytes());
        build(msg, OP_READ, id, &p)
    }

    fn setup_big(tag: &str, len: usize) -> (std::path::PathBuf, Vec<u8>) {
        let dir = std::env::temp_dir().join(format!("cfod-srv-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let data: Vec<u8> = (0..len).map(|i| (i % 241) as u8 + 1).collect();
        std::fs::write(dir.join("blob"), &data).unwrap();
        (dir, data)
    }

    #[test]
    fn workers_serve_reads_and_finish_them_at_stop() {
        let (dir, data) = setup_big("workers", 300_000);
        let cfg = Config {
            workers: 3,
            ..Config::default()
        };
        let mut s = Server::with_config(BlobDir::new(&dir).unwrap(), &cfg).unwrap();
        assert_eq!(s.worker_threads(), 3);
        let ctl = FakeCtl::default();
        let cache = open_with_file(&mut s, &ctl, &dir, 1, 1);
        assert_eq!(ctl.sent.borrow().as_slice(), ["copen 1,300000"]);
        // 74 READs of one page each, then the tail: all served, in any
        // order, before stop_workers returns.
        for (i, off) in (0..300_000u64).step_by(4096).enumerate() {
            s.handle_raw(&ctl, &read_msg(10 + i as u32, 1, off, 4096));
        }
        s.stop_workers();
        let st = s.stats();
        assert_eq!(st.read, 74);
        assert_eq!(st.bytes, 300_000);
        // Each READ_COMPLETE on the regular file failed (ENOTTY).
        assert_eq!(st.errors, 74);
        let got = std::fs::read(dir.join("cache1")).unwrap();
        assert_eq!(&got[..300_000], &data[..]);
        drop(cache);
        s.close_all();
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn reads_of_a_closed_object_are_dropped() {
        let (dir, _) = setup_big("closed", 8192);
        let cfg = Config {
            workers: 2,
            // Keeps the READs queued long enough for the CLOSE to pass them.
            read_delay: Duration::from_millis(200),
            ..Config::default()
        };
        let mut s = Server::with_config(BlobDir::new(&dir).unwrap(), &cfg).unwrap();
        let ctl = FakeCtl::default();
        let _cache = open_with_file(&mut s, &ctl, &dir, 1, 1);
        for m in 0..4 {
            s.handle_raw(&ctl, &read_msg(2 + m, 1, 0, 4096));
        }
        s.handle_raw(&ctl, &build(9, OP_CLOSE, 1, &[]));
        assert_eq!(s.open_objects(), 0);
        s.stop_workers();
        let st = s.stats();
        assert_eq!((st.read, st.close, st.bytes, st.errors), (4, 1, 0, 0));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn prefetch_fills_the_whole_blob_and_reads_inside_need_no_copy() {
        let size = 3 * read::FILL_STEP as usize + 5000;
        let (dir, data) = setup_big("prefetch", size);
        for workers in [1, 2] {
            let cfg = Config {
                workers,
                prefetch: true,
                ..Config::default()
            };
            let mut s = Server::with_config(BlobDir::new(&dir).unwrap(), &cfg).unwrap();
            assert_eq!(s.worker_threads(), workers);
            let ctl = FakeCtl::default();
            let _cache = open_with_file(&mut s, &ctl, &dir, 1, 1);
            let t0 = Instant::now();
            while s.stats().prefetched < size as u64 && t0.elapsed() < Duration::from_secs(20) {
                std::thread::sleep(Duration::from_millis(5));
            }
            assert_eq!(s.stats().prefetched, size as u64);
            let got = std::fs::read(dir.join("cache1")).unwrap();
            assert_eq!(got.len(), align::round_up(size as u64) as usize);
            assert_eq!(&got[..size], &data[..]);
            // A READ now copies nothing (only its READ_COMPLETE fails).
            s.handle_raw(&ctl, &read_msg(5, 1, 4096, 8192));
            s.stop_workers();
            let st = s.stats();
            assert_eq!((st.read, st.bytes, st.errors), (1, size as u64, 1));
            s.close_all();
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
