//! systemd integration without libsystemd: `sd_notify` (READY=1, and
//! `FDSTORE=1` with the devnode fd so that systemd keeps the cache alive
//! across daemon restarts) and `sd_listen_fds_with_names` (to get the
//! stored fd back after a restart).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::fdpass;

/// Name under which the devnode fd is stored.
pub const FD_NAME: &str = "cachefiles";

/// First fd passed by systemd (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: RawFd = 3;

/// The notify message that stores the devnode fd.
pub fn fdstore_message(name: &str) -> String {
    format!("FDSTORE=1\nFDNAME={name}\n")
}

/// The notify message sent once the daemon serves requests.
pub fn ready_message(status: &str) -> String {
    format!("READY=1\nSTATUS={status}\n")
}

/// Parses `$NOTIFY_SOCKET` into socket address bytes: a path, or an
/// abstract name (leading `@` becomes a NUL byte).  Only `AF_UNIX`
/// addresses are supported (not `vsock:`).
pub fn notify_address(value: &str) -> Option<Vec<u8>> {
    if value.is_empty() {
        return None;
    }
    if let Some(rest) = value.strip_prefix('@') {
        let mut v = vec![0u8];
        v.extend_from_slice(rest.as_bytes());
        return Some(v);
    }
    if value.starts_with('/') {
        return Some(value.as_bytes().to_vec());
    }
    None
}

/// Parses `$LISTEN_PID`, `$LISTEN_FDS` and `$LISTEN_FDNAMES` as
/// `sd_listen_fds_with_names` does: the fds are ours only if `LISTEN_PID`
/// is `my_pid`.  Returns (fd, name) pairs; missing names are "unknown".
pub fn parse_listen_fds(
    pid: Option<&str>,
    fds: Option<&str>,
    names: Option<&str>,
    my_pid: u32,
) -> Vec<(RawFd, String)> {
    let (Some(pid), Some(fds)) = (pid, fds) else {
        return Vec::new();
    };
    if pid.trim().parse::<u32>().ok() != Some(my_pid) {
        return Vec::new();
    }
    let Ok(n) = fds.trim().parse::<u32>() else {
        return Vec::new();
    };
    if n > 1024 {
        return Vec::new();
    }
    let names: Vec<&str> = names.map(|s| s.split(':').collect()).unwrap_or_default();
    (0..n)
        .map(|i| {
            let name = names
                .get(i as usize)
                .filter(|s| !s.is_empty())
                .unwrap_or(&"unknown");
            (LISTEN_FDS_START + i as RawFd, name.to_string())
        })
        .collect()
}

/// Takes the fd named [`FD_NAME`] handed over by systemd, if any, and
/// removes the `LISTEN_*` variables (so children do not see them).  Other
/// passed fds are left alone.
pub fn take_stored_fd() -> Option<OwnedFd> {
    let get = |k: &str| std::env::var(k).ok();
    let list = parse_listen_fds(
        get("LISTEN_PID").as_deref(),
        get("LISTEN_FDS").as_deref(),
        get("LISTEN_FDNAMES").as_deref(),
        std::process::id(),
    );
    if list.is_empty() {
        return None;
    }
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_FDNAMES");
    let (fd, _) = list
        .into_iter()
        .find(|(fd, name)| name == FD_NAME && crate::devnode::fd_is_open(*fd))?;
    // SAFETY: systemd passed this descriptor to us (LISTEN_PID matched);
    // it is open and owned by nothing else in this process.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // Do not leak it into children.
    // SAFETY: plain fcntl on our descriptor.
    unsafe { libc::fcntl(owned.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    Some(owned)
}

/// Sends `msg` to `$NOTIFY_SOCKET`, with `fd` attached if given.  Returns
/// Ok(false) when `NOTIFY_SOCKET` is not set (not run by systemd).
pub fn notify(msg: &str, fd: Option<RawFd>) -> io::Result<bool> {
    let Ok(value) = std::env::var("NOTIFY_SOCKET") else {
        return Ok(false);
    };
    let addr = notify_address(&value)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "unsupported NOTIFY_SOCKET"))?;
    notify_to(&addr, msg, fd)?;
    Ok(true)
}

/// Sends `msg` (and `fd`) as one datagram to the Unix socket `addr`.
pub fn notify_to(addr: &[u8], msg: &str, fd: Option<RawFd>) -> io::Result<()> {
    let dest = fdpass::sockaddr_un(addr)?;
    // SAFETY: plain syscall.
    let s = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if s < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `s` was just created and is owned here.
    let sock = unsafe { OwnedFd::from_raw_fd(s) };
    fdpass::send_with_fd(sock.as_raw_fd(), Some(&dest), msg.as_bytes(), fd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn messages() {
        assert_eq!(fdstore_message(FD_NAME), "FDSTORE=1\nFDNAME=cachefiles\n");
        assert_eq!(ready_message("serving"), "READY=1\nSTATUS=serving\n");
    }

    #[test]
    fn notify_addresses() {
        assert_eq!(
            notify_address("/run/systemd/notify").unwrap(),
            b"/run/systemd/notify"
        );
        assert_eq!(notify_address("@abs").unwrap(), b"\0abs");
        assert_eq!(notify_address(""), None);
        assert_eq!(notify_address("vsock:2:1234"), None);
    }

    #[test]
    fn listen_fds() {
        let l = parse_listen_fds(Some("42"), Some("2"), Some("foo:cachefiles"), 42);
        assert_eq!(
            l,
            vec![(3, "foo".to_string()), (4, "cachefiles".to_string())]
        );
        // Not for us.
        assert!(parse_listen_fds(Some("41"), Some("2"), None, 42).is_empty());
        assert!(parse_listen_fds(None, Some("1"), None, 42).is_empty());
        assert!(parse_listen_fds(Some("42"), Some("x"), None, 42).is_empty());
        // Names missing or short.
        let l = parse_listen_fds(Some("42"), Some("2"), Some("cachefiles"), 42);
        assert_eq!(
            l,
            vec![(3, "cachefiles".to_string()), (4, "unknown".to_string())]
        );
        let l = parse_listen_fds(Some("42"), Some("1"), None, 42);
        assert_eq!(l, vec![(3, "unknown".to_string())]);
        assert!(parse_listen_fds(Some("42"), Some("0"), None, 42).is_empty());
    }

    #[test]
    fn notify_datagram_carries_fd() {
        let dir = std::env::temp_dir().join(format!("cfod-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let rx = UnixDatagram::bind(&path).unwrap();
        let f = std::fs::File::open("/dev/null").unwrap();
        let msg = fdstore_message(FD_NAME);
        notify_to(path.to_str().unwrap().as_bytes(), &msg, Some(f.as_raw_fd())).unwrap();
        let mut buf = [0u8; 128];
        let (n, fd) = fdpass::recv_with_fd(rx.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], msg.as_bytes());
        assert!(fd.is_some());
        notify_to(path.to_str().unwrap().as_bytes(), "READY=1\n", None).unwrap();
        let (n, fd) = fdpass::recv_with_fd(rx.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\n");
        assert!(fd.is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
