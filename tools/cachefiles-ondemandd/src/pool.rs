//! Worker threads (`--workers N`, `--prefetch`).
//!
//! The dispatcher (the thread reading the devnode) handles OPEN and CLOSE
//! itself, in order, and hands each READ, bound to its object, to this
//! pool; it also queues background fills.  A worker takes READs first, in
//! the order they came; it takes a fill step only when no READ waits, and
//! at most `max_fill` workers fill at a time, so with two or more workers
//! one is always free for READs.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use crate::align::AlignedBuf;
use crate::objects::Object;
use crate::read::{self, lock, ReadJob, Shared};
use crate::server::COPY_CHUNK;

/// The queues, under `Inner::q`.
#[derive(Default)]
struct Queue {
    /// READs not yet taken, oldest first.
    reads: VecDeque<ReadJob>,
    /// Objects whose background fill goes on, round robin.
    fills: VecDeque<Arc<Object>>,
    /// Workers doing a fill step now.
    filling: usize,
    /// Set by [`Pool::stop`]: serve the READs left, drop the fills, exit.
    stop: bool,
}

struct Inner {
    /// Protects the queues; `cv` signals a change.
    q: Mutex<Queue>,
    cv: Condvar,
    shared: Arc<Shared>,
    max_fill: usize,
}

/// The worker threads.
pub struct Pool {
    inner: Arc<Inner>,
    threads: Vec<JoinHandle<()>>,
}

enum Job {
    Read(ReadJob),
    Fill(Arc<Object>),
}

fn next_job(inner: &Inner) -> Option<Job> {
    let mut q = lock(&inner.q);
    loop {
        if let Some(r) = q.reads.pop_front() {
            return Some(Job::Read(r));
        }
        if q.stop {
            return None;
        }
        if q.filling < inner.max_fill {
            if let Some(o) = q.fills.pop_front() {
                q.filling += 1;
                return Some(Job::Fill(o));
            }
        }
        q = inner
            .cv
            .wait(q)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
    }
}

fn worker(inner: &Inner) {
    let mut buf = AlignedBuf::new(COPY_CHUNK);
    while let Some(job) = next_job(inner) {
        match job {
            Job::Read(r) => {
                read::delay(&inner.shared, r.h, &r.read);
                read::serve(&inner.shared, &r, &mut buf);
                drop(r);
                inner.shared.write_stats();
            }
            Job::Fill(o) => {
                let more = read::fill_step(&inner.shared, &o, &mut buf);
                if !more {
                    // The blob is filled: `prefetched=` in the stats file
                    // says so (nothing else may rewrite it soon).
                    inner.shared.write_stats();
                }
                let mut q = lock(&inner.q);
                q.filling -= 1;
                if more && !q.stop {
                    q.fills.push_back(o);
                }
                drop(q);
                // A fill slot is free (and maybe a fill queued).
                inner.cv.notify_one();
            }
        }
    }
}

impl Pool {
    /// Starts `threads` workers, at most `max_fill` (>= 1) of them filling
    /// at a time.
    pub fn start(shared: Arc<Shared>, threads: usize, max_fill: usize) -> io::Result<Pool> {
        let inner = Arc::new(Inner {
            q: Mutex::new(Queue::default()),
            cv: Condvar::new(),
            shared,
            max_fill: max_fill.max(1),
        });
        let mut pool = Pool {
            inner,
            threads: Vec::new(),
        };
        for i in 0..threads.max(1) {
            let inner = Arc::clone(&pool.inner);
            let t = std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || worker(&inner));
            match t {
                Ok(t) => pool.threads.push(t),
                Err(e) => {
                    pool.stop();
                    return Err(e);
                }
            }
        }
        Ok(pool)
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.threads.len()
    }

    /// Queues a READ.
    pub fn submit_read(&self, job: ReadJob) {
        lock(&self.inner.q).reads.push_back(job);
        self.inner.cv.notify_one();
    }

    /// Queues the background fill of `obj`.
    pub fn submit_fill(&self, obj: Arc<Object>) {
        lock(&self.inner.q).fills.push_back(obj);
        self.inner.cv.notify_one();
    }

    /// Serves the READs still queued, abandons the fills, and joins the
    /// workers.
    pub fn stop(&mut self) {
        lock(&self.inner.q).stop = true;
        self.inner.cv.notify_all();
        for t in self.threads.drain(..) {
            // A worker that panicked has nothing left to give back.
            let _ = t.join();
        }
        lock(&self.inner.q).fills.clear();
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.stop();
    }
}
