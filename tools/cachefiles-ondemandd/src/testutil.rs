//! Helpers shared by the unit tests.

/// An unlinked read-write temporary file, distinct per process, thread and
/// `tag`.
pub(crate) fn tmpfile(tag: &str) -> std::fs::File {
    let path = std::env::temp_dir().join(format!(
        "cfod-test-{}-{tag}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    f
}
