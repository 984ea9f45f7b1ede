//! The object table: what the daemon knows about each open cache object.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

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
}

/// object_id → object.
#[derive(Default)]
pub struct ObjectTable {
    objects: HashMap<u32, Object>,
}

impl ObjectTable {
    /// An empty table.
    pub fn new() -> ObjectTable {
        ObjectTable::default()
    }

    /// Records `obj` under `id`.  Returns the object previously stored under
    /// that id, if any (the kernel never reuses a live id; a previous entry
    /// means our state is stale and it should be dropped).
    pub fn insert(&mut self, id: u32, obj: Object) -> Option<Object> {
        self.objects.insert(id, obj)
    }

    /// Looks an object up.
    pub fn get(&self, id: u32) -> Option<&Object> {
        self.objects.get(&id)
    }

    /// Forgets an object, returning it (dropping it closes its fds).
    pub fn remove(&mut self, id: u32) -> Option<Object> {
        self.objects.remove(&id)
    }

    /// Number of open objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Every anon fd held, so a corrupt message never makes us adopt one of
    /// them twice.
    pub fn anon_fds(&self) -> Vec<RawFd> {
        self.objects
            .values()
            .map(|o| o.anon_fd.as_raw_fd())
            .collect()
    }

    /// Drops every object (closing all anon fds); returns how many.
    pub fn clear(&mut self) -> usize {
        let n = self.objects.len();
        self.objects.clear();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(name: &str) -> Object {
        let f = File::open("/dev/null").unwrap();
        Object {
            anon_fd: f.try_clone().unwrap().into(),
            blob: f,
            size: 1,
            name: name.into(),
        }
    }

    #[test]
    fn insert_get_remove() {
        let mut t = ObjectTable::new();
        assert!(t.insert(1, obj("a")).is_none());
        assert!(t.insert(2, obj("b")).is_none());
        assert_eq!(t.get(1).map(|o| o.name.as_str()), Some("a"));
        assert_eq!(t.anon_fds().len(), 2);
        assert_eq!(t.insert(1, obj("c")).map(|o| o.name), Some("a".to_string()));
        assert_eq!(t.remove(2).map(|o| o.name), Some("b".to_string()));
        assert!(t.remove(2).is_none());
        assert!(t.get(7).is_none());
        assert_eq!(t.clear(), 1);
        assert!(t.is_empty());
    }
}
