//! Serving one READ request, and one step of a background fill: what a
//! worker thread (or the dispatcher itself, with `--workers 1`) does.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::align::{self, AlignedBuf};
use crate::devnode::{self, describe};
use crate::fill::Filler;
use crate::objects::Object;
use crate::protocol::{Header, ReadRequest};
use crate::stats::Stats;
use crate::{debug, error, warn};

/// Size of one step of a background fill (`--prefetch`): a worker busy
/// with it answers a READ at most one step later.
pub const FILL_STEP: u64 = 1 << 20;

/// What the dispatcher and the workers share.
pub struct Shared {
    /// Counters (lock held only to update or copy them).
    stats: Mutex<Stats>,
    /// `--stats FILE`.
    stats_path: Option<PathBuf>,
    /// Serialises rewrites of the stats file (and orders them: each takes
    /// its snapshot under this lock, so a later file never shows smaller
    /// counters).
    stats_writer: Mutex<()>,
    /// Testing: delay before serving each READ.
    pub read_delay: Duration,
    /// How ranges are copied into the anon fds.
    pub filler: Filler,
}

/// Locks `m`, also when a thread panicked while holding it (the data are
/// counters: still usable).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    /// Shared state with these settings.
    pub fn new(stats_path: Option<PathBuf>, read_delay: Duration) -> Shared {
        Shared {
            stats: Mutex::new(Stats::default()),
            stats_path,
            stats_writer: Mutex::new(()),
            read_delay,
            filler: Filler::new(),
        }
    }

    /// Updates the counters.
    pub fn count(&self, f: impl FnOnce(&mut Stats)) {
        f(&mut lock(&self.stats));
    }

    /// A copy of the counters.
    pub fn stats(&self) -> Stats {
        lock(&self.stats).clone()
    }

    /// Rewrites the stats file, if configured.
    pub fn write_stats(&self) {
        let Some(p) = &self.stats_path else {
            return;
        };
        let _w = lock(&self.stats_writer);
        if let Err(e) = self.stats().write_file(p) {
            error!("cannot write stats file {}: {}", p.display(), describe(&e));
        }
    }
}

/// A READ request bound to its object (looked up by the dispatcher, in
/// the order of the requests).
pub struct ReadJob {
    /// Message header.
    pub h: Header,
    /// The range asked for.
    pub read: ReadRequest,
    /// The object (its anon fd stays open while the job holds it).
    pub obj: Arc<Object>,
}

/// Testing: sleeps `--read-delay` before a READ is served.
pub fn delay(shared: &Shared, h: Header, read: &ReadRequest) {
    if shared.read_delay.is_zero() {
        return;
    }
    debug!(
        "READ msg {} object {} [{:#x}+{:#x}] received; delaying {} ms",
        h.msg_id,
        h.object_id,
        read.off,
        read.len,
        shared.read_delay.as_millis()
    );
    std::thread::sleep(shared.read_delay);
}

/// Copies the range of a READ into the cache file and completes it.
pub fn serve(shared: &Shared, job: &ReadJob, buf: &mut AlignedBuf) {
    let (h, read, obj) = (job.h, &job.read, &job.obj);
    if obj.is_closed() {
        // CLOSE (or a newer OPEN of the id) came after this READ: the
        // kernel has failed and dropped it already.
        debug!(
            "READ msg {} object {} blob '{}' [{:#x}+{:#x}]: object closed meanwhile; dropped",
            h.msg_id, h.object_id, obj.name, read.off, read.len
        );
        return;
    }
    match align::plan_write(read.off, read.len, obj.size) {
        Some(plan) if plan.end <= obj.prefetched() => debug!(
            "READ msg {} object {} blob '{}' [{:#x}+{:#x}] -> filled already (prefetch)",
            h.msg_id, h.object_id, obj.name, read.off, read.len
        ),
        Some(plan) => match shared
            .filler
            .copy_range(&obj.blob, &obj.anon_fd, &plan, buf)
        {
            Ok(n) => {
                shared.count(|s| s.bytes += n);
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
                shared.count(|s| s.errors += 1);
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
        },
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
            shared.count(|s| s.errors += 1);
            error!(
                "READ msg {} object {}: READ_COMPLETE failed: {}",
                h.msg_id,
                h.object_id,
                describe(&e)
            );
        }
    }
}

/// One step of the background fill of `obj`: writes the next
/// [`FILL_STEP`] bytes after what is filled.  Returns whether more remains
/// (false once the blob is filled, the object closed, or a write failed).
pub fn fill_step(shared: &Shared, obj: &Object, buf: &mut AlignedBuf) -> bool {
    if obj.is_closed() {
        return false;
    }
    let from = obj.prefetched();
    let Some(plan) = align::plan_write(from, FILL_STEP, obj.size) else {
        return false;
    };
    match shared
        .filler
        .copy_range(&obj.blob, &obj.anon_fd, &plan, buf)
    {
        Ok(n) => {
            obj.set_prefetched(plan.end);
            shared.count(|s| {
                s.bytes += n;
                s.prefetched += n;
            });
            if plan.end >= obj.size {
                debug!("prefetch of blob '{}' done ({} bytes)", obj.name, obj.size);
                return false;
            }
            true
        }
        Err(e) => {
            // Closed meanwhile (the kernel refuses writes then): quiet.
            if !obj.is_closed() {
                warn!(
                    "prefetch of blob '{}' stopped at {:#x}: {}",
                    obj.name,
                    from,
                    describe(&e)
                );
            }
            false
        }
    }
}
