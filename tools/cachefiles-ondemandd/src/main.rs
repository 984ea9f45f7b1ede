//! `cachefiles-ondemandd`: a user-space daemon for the on-demand read mode
//! of cachefiles (Linux 6.12), as used by EROFS in fscache mode.
//!
//! It binds a cache in on-demand mode (or adopts an inherited devnode fd
//! and sends `restore`), then answers the kernel's requests from a
//! directory of blobs: OPEN → `copen <id>,<blob size>` (or `-ENOENT`),
//! READ → copy the range into the anonymous fd and READ_COMPLETE,
//! CLOSE → close the anonymous fd.

mod align;
mod bind;
mod blobs;
mod cli;
mod devnode;
mod eventloop;
mod fault;
mod fdpass;
mod fill;
mod log;
mod objects;
mod pool;
mod protocol;
mod read;
mod recovery;
mod sdnotify;
mod server;
mod stats;
mod supervise;
#[cfg(test)]
mod testutil;

use std::process::ExitCode;

use cli::{Parsed, Startup};
use devnode::{describe, Devnode};

/// How long `--fd-from` waits for the supervisor socket to appear.
const FD_FROM_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether the devnode was freshly bound (true) or adopted (false).
fn startup(startup: &Startup) -> Result<(Devnode, bool), String> {
    if let Startup::Bind {
        buffered, recovery, ..
    } = startup
    {
        // Restarted by systemd with the devnode in its fd store?
        if let Some(fd) = sdnotify::take_stored_fd() {
            if buffered.is_some() {
                info!("--buffered ignored: the stored devnode is bound already");
            }
            if recovery.is_some() {
                info!("--recovery ignored: the stored devnode is bound already (its cache keeps the setting it was bound with)");
            }
            let dev = Devnode::from_owned(fd);
            dev.command("restore")
                .map_err(|e| format!("'restore' failed: {}", describe(&e)))?;
            info!(
                "adopted the devnode fd '{}' from systemd (LISTEN_FDS) and sent 'restore'",
                sdnotify::FD_NAME
            );
            return Ok((dev, false));
        }
    }
    match startup {
        Startup::Bind {
            devnode,
            cache_dir,
            tag,
            recovery,
            buffered,
        } => {
            let dev = Devnode::open(devnode)
                .map_err(|e| format!("cannot open {}: {}", devnode.display(), describe(&e)))?;
            let dir = cache_dir.to_str().ok_or_else(|| {
                format!("cache directory {} is not valid UTF-8", cache_dir.display())
            })?;
            match recovery::start(&dev, dir, tag.as_deref(), *recovery, *buffered)? {
                recovery::Started::Attached => {}
                recovery::Started::Bound { recoverable: true } => info!(
                    "the cache survives this daemon for up to {} s (recovery)",
                    recovery.unwrap_or(0)
                ),
                recovery::Started::Bound { recoverable: false } => {}
            }
            // An attached devnode is a new fd too: systemd may store it.
            Ok((dev, true))
        }
        Startup::Restore { fd } => {
            let dev =
                Devnode::from_inherited(*fd).map_err(|e| format!("--fd {fd}: {}", describe(&e)))?;
            dev.command("restore")
                .map_err(|e| format!("'restore' failed: {}", describe(&e)))?;
            info!("adopted devnode fd {fd} and sent 'restore'");
            Ok((dev, false))
        }
        Startup::FromSocket { path } => {
            let fd = fdpass::fetch_fd(path, FD_FROM_WAIT).map_err(|e| {
                format!(
                    "cannot get the devnode fd from {}: {}",
                    path.display(),
                    describe(&e)
                )
            })?;
            let dev = Devnode::from_owned(fd);
            dev.command("restore")
                .map_err(|e| format!("'restore' failed: {}", describe(&e)))?;
            info!(
                "received the devnode fd from {} and sent 'restore'",
                path.display()
            );
            Ok((dev, false))
        }
    }
}

/// Under systemd: store a freshly bound devnode fd in the service's fd
/// store (so a restarted daemon can `restore`), then report readiness.
fn notify_systemd(dev: &Devnode, fresh: bool) {
    if fresh {
        let msg = sdnotify::fdstore_message(sdnotify::FD_NAME);
        match sdnotify::notify(&msg, Some(dev.raw())) {
            Ok(true) => info!("devnode fd stored in the systemd fd store"),
            Ok(false) => {}
            Err(e) => error!("sd_notify FDSTORE failed: {}", describe(&e)),
        }
    }
    if let Err(e) = sdnotify::notify(&sdnotify::ready_message("serving"), None) {
        error!("sd_notify READY failed: {}", describe(&e));
    }
}

fn main() -> ExitCode {
    let opts = match cli::parse(std::env::args().skip(1)) {
        Ok(Parsed::Run(o)) => o,
        Ok(Parsed::Help) => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Supervise(o)) => {
            log::set_level(o.log_level);
            return supervise::run(&o);
        }
        Err(e) => {
            eprintln!("cachefiles-ondemandd: {e}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    log::set_level(opts.log_level);

    let blobs = match blobs::BlobDir::new(&opts.blobs) {
        Ok(b) => b,
        Err(e) => {
            error!("blob directory {}: {}", opts.blobs.display(), describe(&e));
            return ExitCode::FAILURE;
        }
    };
    // Block SIGTERM/SIGINT before binding, so that a signal arriving
    // during start-up still ends in a clean shutdown.
    let sfd = match eventloop::termination_signalfd() {
        Ok(s) => s,
        Err(e) => {
            error!("cannot set up signal handling: {}", describe(&e));
            return ExitCode::FAILURE;
        }
    };
    let dev = match startup(&opts.startup) {
        Ok((d, fresh)) => {
            notify_systemd(&d, fresh);
            d
        }
        Err(e) => {
            error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let cfg = server::Config {
        workers: opts.workers.unwrap_or_else(cli::default_workers),
        prefetch: opts.prefetch,
        read_delay: std::time::Duration::from_millis(opts.read_delay_ms),
        stats_path: opts.stats.clone(),
    };
    let mut server = match server::Server::with_config(blobs, &cfg) {
        Ok(s) => s,
        Err(e) => {
            error!("cannot start the worker threads: {}", describe(&e));
            return ExitCode::FAILURE;
        }
    };
    if opts.read_delay_ms > 0 {
        info!("testing: delaying every READ by {} ms", opts.read_delay_ms);
    }
    if let Some(f) = &opts.fault {
        info!(
            "testing: injecting fault {:?} on the READs of blob '{}'",
            f.kind, f.blob
        );
        server.set_fault(f.clone());
    }
    info!(
        "serving blobs from {} ({}{})",
        opts.blobs.display(),
        if cfg.workers > 1 {
            format!("READs by {} worker threads", server.worker_threads())
        } else {
            "READs by the dispatcher".to_string()
        },
        if cfg.prefetch { ", prefetch" } else { "" }
    );
    let result = eventloop::run(&dev, &sfd, &mut server);
    info!("shutting down with {} open objects", server.open_objects());
    // The READs handed to the workers are served before the anon fds close.
    let closed = server.close_all();
    drop(dev);
    server.write_stats();
    eventloop::log_summary(&server);
    match result {
        Ok(sig) => {
            info!("stopped by signal {sig}; closed {closed} anon fds and the devnode");
            ExitCode::SUCCESS
        }
        Err(e) => {
            error!("event loop failed: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}
