//! Passing file descriptors over Unix sockets (SCM_RIGHTS), with libc only.
//!
//! Used by the supervisor (sends the devnode fd to each connecting daemon),
//! by `serve --fd-from` (receives it) and by the systemd notification
//! (`FDSTORE=1` carries the fd on the notify datagram).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A `sockaddr_un` for `path` (a file system path, or an abstract name
/// given with a leading NUL byte).  Returns the address and its length.
pub fn sockaddr_un(path: &[u8]) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: sockaddr_un is plain data; all-zero is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    // Keep room for a terminating NUL for path names.
    if path.is_empty() || path.len() >= addr.sun_path.len() {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    for (dst, src) in addr.sun_path.iter_mut().zip(path) {
        *dst = *src as libc::c_char;
    }
    let base = std::mem::size_of::<libc::sa_family_t>();
    let len = if path[0] == 0 {
        // Abstract: the length covers exactly the name.
        base + path.len()
    } else {
        base + path.len() + 1
    };
    Ok((addr, len as libc::socklen_t))
}

fn socket(kind: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall.
    let fd = cvt(unsafe { libc::socket(libc::AF_UNIX, kind | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Creates a listening stream socket at `path` (an old socket file there is
/// removed first), mode 0600.
pub fn listen(path: &Path) -> io::Result<OwnedFd> {
    let sock = socket(libc::SOCK_STREAM)?;
    let (addr, len) = sockaddr_un(path.as_os_str().as_bytes())?;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if meta.file_type().is_socket() {
            std::fs::remove_file(path)?;
        }
    }
    // SAFETY: `addr`/`len` describe a valid sockaddr_un.
    cvt(unsafe {
        libc::bind(
            sock.as_raw_fd(),
            (&addr as *const libc::sockaddr_un).cast(),
            len,
        )
    })?;
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `c` is a valid NUL-terminated path.
    cvt(unsafe { libc::chmod(c.as_ptr(), 0o600) })?;
    // SAFETY: plain syscall on our socket.
    cvt(unsafe { libc::listen(sock.as_raw_fd(), 16) })?;
    Ok(sock)
}

/// Accepts one connection (close-on-exec).
pub fn accept(listener: &OwnedFd) -> io::Result<OwnedFd> {
    loop {
        // SAFETY: no address is requested.
        let r = unsafe {
            libc::accept4(
                listener.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            )
        };
        match cvt(r) {
            // SAFETY: `fd` was just returned by accept4.
            Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The uid of the process at the other end of a connected Unix socket.
pub fn peer_uid(sock: &OwnedFd) -> io::Result<u32> {
    // SAFETY: ucred is plain data; getsockopt fills at most `len` bytes.
    unsafe {
        let mut cred: libc::ucred = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
        cvt(libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        ))?;
        Ok(cred.uid)
    }
}

/// Connects a stream socket to `path`.
pub fn connect(path: &Path) -> io::Result<OwnedFd> {
    let sock = socket(libc::SOCK_STREAM)?;
    let (addr, len) = sockaddr_un(path.as_os_str().as_bytes())?;
    // SAFETY: `addr`/`len` describe a valid sockaddr_un.
    cvt(unsafe {
        libc::connect(
            sock.as_raw_fd(),
            (&addr as *const libc::sockaddr_un).cast(),
            len,
        )
    })?;
    Ok(sock)
}

/// Space for one control message carrying one fd.
const CMSG_BUF: usize = 64;

#[repr(C, align(8))]
struct CmsgBuf([u8; CMSG_BUF]);

/// Sends `payload` (non-empty) on `sock`, to `dest` if given (datagram
/// sockets), with `fd` attached as SCM_RIGHTS when given.
pub fn send_with_fd(
    sock: RawFd,
    dest: Option<&(libc::sockaddr_un, libc::socklen_t)>,
    payload: &[u8],
    fd: Option<RawFd>,
) -> io::Result<()> {
    let mut cbuf = CmsgBuf([0; CMSG_BUF]);
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut libc::c_void,
        iov_len: payload.len(),
    };
    // SAFETY: msghdr is plain data; every pointer set below stays valid
    // for the sendmsg call (iov, cbuf, dest outlive it), and the CMSG_*
    // macros stay within `cbuf`, which is large enough for one int.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        if let Some((addr, len)) = dest {
            msg.msg_name = (addr as *const libc::sockaddr_un) as *mut libc::c_void;
            msg.msg_namelen = *len;
        }
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if let Some(fd) = fd {
            let space = libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as usize;
            msg.msg_control = cbuf.0.as_mut_ptr().cast();
            msg.msg_controllen = space as _;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
        }
        loop {
            let r = libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL);
            if r >= 0 {
                if r as usize != payload.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        format!("short send ({r} of {} bytes)", payload.len()),
                    ));
                }
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e);
            }
        }
    }
}

/// Receives one message from `sock`; returns the payload and the first fd
/// passed with it (close-on-exec).  Any further passed fds are closed.
pub fn recv_with_fd(sock: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<OwnedFd>)> {
    let mut cbuf = CmsgBuf([0; CMSG_BUF]);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: as in send_with_fd; the kernel fills at most msg_controllen
    // bytes of `cbuf` and the CMSG_* walk stays within what it reported.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.0.as_mut_ptr().cast();
        msg.msg_controllen = CMSG_BUF as _;
        let n = loop {
            let r = libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC);
            if r >= 0 {
                break r as usize;
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e);
            }
        };
        let mut first = None;
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg);
                let bytes = (*cmsg).cmsg_len as usize - (data as usize - cmsg as usize);
                let count = bytes / std::mem::size_of::<RawFd>();
                for i in 0..count {
                    let fd = std::ptr::read_unaligned(data.cast::<RawFd>().add(i));
                    let owned = OwnedFd::from_raw_fd(fd);
                    if first.is_none() {
                        first = Some(owned);
                    }
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
        if msg.msg_flags & libc::MSG_CTRUNC != 0 && first.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "control data truncated",
            ));
        }
        Ok((n, first))
    }
}

/// Connects to the supervisor socket at `path` and receives the devnode fd.
/// Retries for up to `wait` while the socket is not there yet.
pub fn fetch_fd(path: &Path, wait: std::time::Duration) -> io::Result<OwnedFd> {
    let deadline = std::time::Instant::now() + wait;
    let sock = loop {
        match connect(path) {
            Ok(s) => break s,
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOENT | libc::ECONNREFUSED | libc::EAGAIN)
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    };
    let mut buf = [0u8; 64];
    let (_, fd) = recv_with_fd(sock.as_raw_fd(), &mut buf)?;
    fd.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no fd received"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};

    #[test]
    fn abstract_and_path_addresses() {
        let (_, len) = sockaddr_un(b"/run/x.sock").unwrap();
        assert_eq!(len as usize, 2 + 11 + 1);
        let (a, len) = sockaddr_un(b"\0abc").unwrap();
        assert_eq!(len as usize, 2 + 4);
        assert_eq!(a.sun_path[0], 0);
        assert_eq!(a.sun_path[1], b'a' as libc::c_char);
        assert!(sockaddr_un(b"").is_err());
        assert!(sockaddr_un(&[b'a'; 200]).is_err());
    }

    #[test]
    fn fd_round_trip_over_listener() {
        let dir = std::env::temp_dir().join(format!("cfod-fdpass-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sock");
        let listener = listen(&path).unwrap();
        let mut file = tempfile(&dir);
        file.write_all(b"hello").unwrap();
        let raw = file.as_raw_fd();
        let server = std::thread::spawn(move || {
            let conn = accept(&listener).unwrap();
            assert_eq!(peer_uid(&conn).unwrap(), unsafe { libc::geteuid() });
            send_with_fd(conn.as_raw_fd(), None, b"fd", Some(raw)).unwrap();
        });
        let got = fetch_fd(&path, std::time::Duration::from_secs(5)).unwrap();
        server.join().unwrap();
        assert_ne!(got.as_raw_fd(), raw);
        let mut f2 = std::fs::File::from(got);
        f2.rewind().unwrap();
        let mut s = String::new();
        f2.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile(dir: &Path) -> std::fs::File {
        let p = dir.join("data");
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&p)
            .unwrap();
        std::fs::remove_file(&p).unwrap();
        f
    }
}
