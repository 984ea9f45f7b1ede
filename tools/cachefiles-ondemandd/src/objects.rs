//! The object table: what the daemon knows about each open cache object.
//!
//! The table belongs to the dispatcher (the thread reading the devnode),
//! which handles OPEN and CLOSE in the order the kernel sent them.  Each
//! object is shared (`Arc`) with the READ jobs and the background fill
//! (`--prefetch`) that use it; its anon fd closes when the last user
//! drops it.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

/// One object the kernel opened and we accepted with `copen`.
pub struct Object {
    /// The anonymous "[cachefiles]" fd (closed when dropped).
    pub anon_fd: OwnedFd,
    /// The blob backing the object.
    pub blob: File,
    /// Blob size reported to the kernel in `copen`.
    pub size: u64,
    /// Blob name (cookie key), for logs.
    pub name: String,
    /// Set when the object left the table (CLOSE, a newer OPEN of its id,
    /// a `read-close` fault): the kernel has dropped its requests, so the
    /// READs still queued for it and its background fill are abandoned.
    closed: AtomicBool,
    /// The background fill (`--prefetch`) has written `[0, prefetched)`
    /// (page aligned); a READ inside it needs no copy.  Stored after the
    /// write returned (Release), loaded with Acquire.
    prefetched: AtomicU64,
}

impl Object {
    /// A new, open object.
    pub fn new(anon_fd: OwnedFd, blob: File, size: u64, name: String) -> Object {
        Object {
            anon_fd,
            blob,
            size,
            name,
            closed: AtomicBool::new(false),
            prefetched: AtomicU64::new(0),
        }
    }

    /// Whether the object left the table (see the field).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn mark_closed(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// End of the range the background fill has written.
    pub fn prefetched(&self) -> u64 {
        self.prefetched.load(Ordering::Acquire)
    }

    /// Records that the background fill has written `[0, end)`.
    pub fn set_prefetched(&self, end: u64) {
        self.prefetched.store(end, Ordering::Release);
    }
}

/// object_id → object, plus the objects that left the table but are still
/// used by a READ job or a fill (their anon fds are still open).
#[derive(Default)]
pub struct ObjectTable {
    objects: HashMap<u32, Arc<Object>>,
    retiring: Vec<Weak<Object>>,
}

impl ObjectTable {
    /// An empty table.
    pub fn new() -> ObjectTable {
        ObjectTable::default()
    }

    fn retire(&mut self, obj: &Arc<Object>) {
        obj.mark_closed();
        // Forget the entries whose last user has gone.
        self.retiring.retain(|w| w.strong_count() > 0);
        self.retiring.push(Arc::downgrade(obj));
    }

    /// Records `obj` under `id`.  Returns the object previously stored under
    /// that id, if any (the kernel never reuses a live id; a previous entry
    /// means our state is stale and it should be dropped).
    pub fn insert(&mut self, id: u32, obj: Object) -> (Arc<Object>, Option<Arc<Object>>) {
        let obj = Arc::new(obj);
        let old = self.objects.insert(id, Arc::clone(&obj));
        if let Some(o) = &old {
            self.retire(o);
        }
        (obj, old)
    }

    /// Looks an object up.
    pub fn get(&self, id: u32) -> Option<&Arc<Object>> {
        self.objects.get(&id)
    }

    /// Forgets an object, returning it (dropping the last reference closes
    /// its fds); it is marked closed.
    pub fn remove(&mut self, id: u32) -> Option<Arc<Object>> {
        let obj = self.objects.remove(&id)?;
        self.retire(&obj);
        Some(obj)
    }

    /// Number of open objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Every anon fd held, including those of objects that left the table
    /// but are still in use, so a corrupt message never makes us adopt one
    /// of them twice.  (An object whose last user is dropping it no longer
    /// upgrades; its fd is then closed or about to be, and the kernel can
    /// only hand the number out again once it is closed.)
    pub fn anon_fds(&self) -> Vec<RawFd> {
        let mut fds: Vec<RawFd> = self
            .objects
            .values()
            .map(|o| o.anon_fd.as_raw_fd())
            .collect();
        fds.extend(
            self.retiring
                .iter()
                .filter_map(Weak::upgrade)
                .map(|o| o.anon_fd.as_raw_fd()),
        );
        fds
    }

    /// Drops every object (closing the anon fds no job still uses);
    /// returns how many.
    pub fn clear(&mut self) -> usize {
        let n = self.objects.len();
        for o in self.objects.values() {
            o.mark_closed();
        }
        self.objects.clear();
        self.retiring.clear();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(name: &str) -> Object {
        let f = File::open("/dev/null").unwrap();
        Object::new(f.try_clone().unwrap().into(), f, 1, name.into())
    }

    #[test]
    fn insert_get_remove() {
        let mut t = ObjectTable::new();
        assert!(t.insert(1, obj("a")).1.is_none());
        assert!(t.insert(2, obj("b")).1.is_none());
        assert_eq!(t.get(1).map(|o| o.name.as_str()), Some("a"));
        assert_eq!(t.anon_fds().len(), 2);
        let (c, old) = t.insert(1, obj("c"));
        let old = old.unwrap();
        assert_eq!(old.name, "a");
        assert!(old.is_closed() && !c.is_closed());
        // "a" is still used here: its fd stays reserved until dropped.
        assert_eq!(t.anon_fds().len(), 3);
        drop(old);
        assert_eq!(t.anon_fds().len(), 2);
        assert_eq!(t.remove(2).map(|o| o.name.clone()), Some("b".to_string()));
        assert!(t.remove(2).is_none());
        assert!(t.get(7).is_none());
        assert_eq!(t.clear(), 1);
        assert!(t.is_empty());
        assert!(c.is_closed());
    }

    #[test]
    fn prefetch_watermark() {
        let o = obj("p");
        assert_eq!(o.prefetched(), 0);
        o.set_prefetched(8192);
        assert_eq!(o.prefetched(), 8192);
    }
}
