// SPDX-License-Identifier: GPL-2.0
//! `nydus-fscache-peer`: Nydus's fscache request handler, as a process.
//!
//! The only nydusd published on crates.io (nydus-rs 2.2.0) has no fscache
//! failover: its `save`/`restore` are `Unsupported` and it always opens and
//! binds a fresh cache.  The handler of later Nydus releases (the
//! `nydus-service` 0.4.0 library: `FsCacheHandler` with a `restore_file`)
//! adopts a kept devnode fd and writes `restore`; no nydusd binary with it
//! is on the registry.  This program is a thin main around that library
//! code, so that the peer tests run Nydus's own OPEN/READ/CLOSE handling
//! through a failover:
//!
//! ```text
//! nydus-fscache-peer --cache-dir DIR [--tag TAG] [--threads N] --blobs FILE.json
//! ```
//!
//! `FILE.json` is a `{"blobs": [...]}` list of bootstrap entries, the body
//! nydus-snapshotter sends to `PUT /api/v2/blobs`, one per entry.  Under a
//! service manager (`NOTIFY_SOCKET` set) the freshly bound devnode fd is
//! stored with `FDSTORE=1`/`FDNAME=cachefiles`; when started with it
//! (`LISTEN_FDS=1`, fd 3) the handler adopts it and writes `restore`.

use std::fs::File;
use std::io::{Error, ErrorKind, Result};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::sync::Arc;

use nydus_api::BlobCacheList;
use nydus_service::blob_cache::BlobCacheMgr;
use nydus_service::FsCacheHandler;

struct Options {
    cache_dir: String,
    tag: Option<String>,
    threads: usize,
    blobs: String,
}

fn usage() -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        "usage: nydus-fscache-peer --cache-dir DIR [--tag TAG] [--threads N] --blobs FILE.json",
    )
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options> {
    let (mut cache_dir, mut tag, mut threads, mut blobs) = (None, None, 4, None);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(usage);
        match a.as_str() {
            "--cache-dir" => cache_dir = Some(value()?),
            "--tag" => tag = Some(value()?),
            "--threads" => {
                threads = value()?
                    .parse()
                    .ok()
                    .filter(|n| (1..=64).contains(n))
                    .ok_or_else(usage)?
            }
            "--blobs" => blobs = Some(value()?),
            _ => return Err(usage()),
        }
    }
    Ok(Options {
        cache_dir: cache_dir.ok_or_else(usage)?,
        tag,
        threads,
        blobs: blobs.ok_or_else(usage)?,
    })
}

/// The devnode fd systemd passed (`LISTEN_PID` is us, one fd named
/// `cachefiles`), if any.
fn listen_fd() -> Option<File> {
    let pid: u32 = std::env::var("LISTEN_PID").ok()?.parse().ok()?;
    let n: u32 = std::env::var("LISTEN_FDS").ok()?.parse().ok()?;
    let names = std::env::var("LISTEN_FDNAMES").unwrap_or_default();
    if pid != std::process::id() || n != 1 || names.split(':').next() != Some("cachefiles") {
        return None;
    }
    // SAFETY: fd 3 was handed to this process by the service manager
    // (LISTEN_PID matches) and nothing else in it owns fd 3.
    Some(unsafe { File::from_raw_fd(3) })
}

/// Sends `msg` (and `fd`, if any) to the service manager's notify socket.
fn sd_notify(msg: &str, fd: Option<RawFd>) -> Result<()> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(());
    };
    let sock = std::os::unix::net::UnixDatagram::unbound()?;
    sock.connect(&path)?;
    let mut iov = libc::iovec {
        iov_base: msg.as_ptr() as *mut libc::c_void,
        iov_len: msg.len(),
    };
    // Room for one SCM_RIGHTS message with one fd, suitably aligned.
    let mut cbuf = [0u64; 4];
    // SAFETY: msghdr is plain data; all-zeroes is a valid empty header.
    let mut mh: libc::msghdr = unsafe { std::mem::zeroed() };
    mh.msg_iov = &mut iov;
    mh.msg_iovlen = 1;
    if let Some(fd) = fd {
        // SAFETY: CMSG_SPACE only computes a size.
        let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
        mh.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
        mh.msg_controllen = space;
        // SAFETY: msg_control points at `cbuf`, which is larger than
        // `space`, so the first header and its data lie inside it.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&mh);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut RawFd, fd);
        }
    }
    // SAFETY: `mh` describes valid buffers that outlive the call.
    let r = unsafe { libc::sendmsg(sock.as_raw_fd(), &mh, 0) };
    if r < 0 {
        return Err(Error::last_os_error());
    }
    Ok(())
}

fn run() -> Result<()> {
    let opts = parse(std::env::args().skip(1))?;
    let list: BlobCacheList = serde_json::from_slice(&std::fs::read(&opts.blobs)?)
        .map_err(|e| Error::new(ErrorKind::InvalidData, format!("{}: {e}", opts.blobs)))?;
    let mgr = Arc::new(BlobCacheMgr::new());
    for entry in list.blobs {
        let mut entry = entry;
        if !entry.prepare_configuration_info() {
            return Err(Error::new(
                ErrorKind::InvalidData,
                format!("bad blob entry {}", entry.blob_id),
            ));
        }
        mgr.add_blob_entry(&entry)?;
    }
    let kept = listen_fd();
    let handler = Arc::new(FsCacheHandler::new(
        "/dev/cachefiles",
        &opts.cache_dir,
        opts.tag.as_deref(),
        mgr,
        opts.threads,
        kept.as_ref(),
    )?);
    if kept.is_some() {
        log::info!("adopted the kept devnode fd and sent 'restore'");
    } else {
        sd_notify("FDSTORE=1\nFDNAME=cachefiles\n", Some(handler.as_raw_fd()))?;
    }
    let workers: Vec<_> = (0..handler.working_threads())
        .map(|_| {
            let h = handler.clone();
            std::thread::spawn(move || h.run_loop())
        })
        .collect();
    sd_notify("READY=1\n", None)?;
    log::info!("serving with {} threads", workers.len());
    for w in workers {
        match w.join() {
            Ok(r) => r?,
            Err(_) => return Err(Error::new(ErrorKind::Other, "a worker panicked")),
        }
    }
    Ok(())
}

fn main() {
    env_logger::Builder::new()
        .parse_filters(&std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
        .init();
    if let Err(e) = run() {
        eprintln!("nydus-fscache-peer: {e}");
        std::process::exit(1);
    }
}
