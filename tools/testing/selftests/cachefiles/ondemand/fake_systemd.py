#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Plays the systemd side of the fd store for cachefiles-ondemandd.

  fake_systemd.py -- DAEMON ARGS...

Starts DAEMON ARGS with NOTIFY_SOCKET set, expects `FDSTORE=1` +
`FDNAME=cachefiles` with an fd and `READY=1`.  Protocol on stdin/stdout with the calling test, line based:
  -> "stored"            fd received and daemon ready
  <- "kill"              SIGKILL the daemon and start a new one with the
                         stored fd as fd 3, LISTEN_PID/LISTEN_FDS=1/
                         LISTEN_FDNAMES=cachefiles (what systemd does)
  -> "restarted PID"     the new daemon said READY=1
  <- "stop"              SIGTERM the daemon, close the stored fd, exit
Errors: "error MESSAGE" and exit 1.
"""

import os
import signal
import socket
import sys
import tempfile


def fail(msg):
    print("error " + msg, flush=True)
    sys.exit(1)


def receive(sock, want, timeout=30):
    """Reads notify datagrams until one contains `want`; returns its fds."""
    sock.settimeout(timeout)
    fds_all = []
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(sock, 4096, 8)
        except socket.timeout:
            fail("timeout waiting for " + want)
        fds_all.extend(fds)
        sys.stderr.write("fake_systemd: got %r fds %r\n" % (data, fds))
        if want.encode() in data:
            return data, fds_all


def spawn(argv, env, stored=None):
    pid = os.fork()
    if pid == 0:
        try:
            if stored is not None:
                os.dup2(stored, 3)  # dup2 clears close-on-exec
                env = dict(env, LISTEN_PID=str(os.getpid()), LISTEN_FDS="1",
                           LISTEN_FDNAMES="cachefiles")
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    return pid


def main():
    sep = sys.argv.index("--")
    argv = sys.argv[sep + 1:]
    d = tempfile.mkdtemp(prefix="fake-systemd.")
    path = os.path.join(d, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    env = dict(os.environ, NOTIFY_SOCKET=path)
    pid = spawn(argv, env)
    data, fds = receive(sock, "FDSTORE=1")
    if b"FDNAME=cachefiles" not in data or len(fds) != 1:
        fail("bad FDSTORE message %r fds %r" % (data, fds))
    stored = fds[0]
    if b"READY=1" not in data:
        receive(sock, "READY=1")
    print("stored", flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "kill":
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pid = spawn(argv, env, stored)
            data, fds = receive(sock, "READY=1")
            for fd in fds:  # a restored daemon must not store again
                os.close(fd)
            print("restarted %d%s" % (pid, " stored-again" if fds else ""),
                  flush=True)
        elif cmd == "stop":
            os.kill(pid, signal.SIGTERM)
            _, status = os.waitpid(pid, 0)
            os.close(stored)
            print("stopped %d" % os.waitstatus_to_exitcode(status), flush=True)
            break
    os.unlink(path)
    os.rmdir(d)


if __name__ == "__main__":
    main()
