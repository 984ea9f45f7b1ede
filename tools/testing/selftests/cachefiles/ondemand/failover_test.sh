#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Failover test of cachefiles on-demand mode (contract §1.12-1.13) with the
# user-space daemon tools/cachefiles-ondemandd in `supervise` mode (TAP).
# Runs as root inside the test VM with a cachefiles backend loaded:
#
#   scripts/vm-run --kernel debug --module c -- \
#       tools/testing/selftests/cachefiles/ondemand/failover_test.sh
#
# The supervisor binds the cache and keeps /dev/cachefiles open; its child
# daemon gets the fd over a Unix socket and sends `restore`.  Rounds: a
# fresh EROFS image (never cached, so every read goes to the daemon) is
# mounted and a reader computes the sha256 of every file while the daemon
# child is SIGKILLed 10-200 ms (random) after the previous child started
# (each time we wait for the supervisor to start a new one).  Requires: no read error, correct
# checksums, one restart per kill, the mount usable at the end, SIGTERM to
# the supervisor exits 0.  The log must show re-OPENs (READs on objects
# whose anon fd died with a killed daemon) and READs re-sent with the same
# msg id after `restore` (in flight when the daemon was killed).  Then the
# systemd fd store, emulated by fake_systemd.py: FDSTORE=1/FDNAME=cachefiles
# after bind, SIGKILL while a reader runs, restart with LISTEN_FDS, the
# daemon sends `restore`, the read completes with correct checksums.  The
# supervisor itself SIGKILLed: its child serves on; when the child dies
# too, reads fail and the devnode is free again.  Crashes replayed step by
# step by ondemand_proto (failover), with the errno values of C 6.12.  Then
# the negative case: a plain daemon (nobody else keeps the devnode) is
# SIGKILLed; an uncached read must fail (C 6.12: ENOBUFS), not hang.
#
# Env: CFRS_FAILOVER_KILLS (default 20) kills to reach;
# CFRS_FAILOVER_KIB (default 2048) random data per round;
# CFRS_FAILOVER_BIG_MIB (default 0) adds a file of that many MiB of random
# bytes to every round's image (make check-torture uses 32);
# CFRS_FAILOVER_MAX_ROUNDS (default 40); CFRS_FAILOVER_KEEP=DIR copies
# the daemon logs there at the end (a guest path: the VM's /tmp is not the
# host's); CFRS_FAILOVER_READ_DELAY (default 100; 400 with a READ window,
# CFRS_READ_WINDOW_KIB > 0) ms the daemon sleeps
# before serving each READ (--read-delay: a slow backend, so that kills
# land while READs are in flight; without it the reads of a round were all
# served before the first kill).
# Kept small: cold reads run at ~1-2 MB/s on the TCG debug kernel.

. "$(dirname "$0")/lib.sh"
here=$OD_DIR
kills_target=${CFRS_FAILOVER_KILLS:-20}
kib=${CFRS_FAILOVER_KIB:-2048}
big_mib=${CFRS_FAILOVER_BIG_MIB:-0}
# With READ windows (fast mode) a round takes a few wide READs instead of
# tens: a longer delay keeps kills landing on READs in flight.
read_delay=${CFRS_FAILOVER_READ_DELAY:-$([ "${CFRS_READ_WINDOW_KIB:-0}" -gt 0 ] && echo 400 || echo 100)}
max_rounds=${CFRS_FAILOVER_MAX_ROUNDS:-40}
od_init failover
cache=${CFRS_SCRATCH:-$work}/failover-cache
blobs=$work/blobs
sock=$work/supervisor.sock
pidfile=$work/child.pid
slog=$work/supervisor.log
sup=
reader=

keep_logs() {
	if [ -n "$CFRS_FAILOVER_KEEP" ]; then
		mkdir -p "$CFRS_FAILOVER_KEEP" && cp "$work"/*.log "$CFRS_FAILOVER_KEEP"/
	fi
}
od_cleanup_hook keep_logs

# For kill_rounds: SIGKILL the supervisor's child, wait for the next one.
kill_child() {
	local t1 killed=0
	child_of
	child=$CHILD
	[ -n "$child" ] || return 1
	kill -KILL "$child" && killed=1
	t1=$(date +%s%N)
	if ! wait_new_child "$child"; then
		no_new_child=$((no_new_child + 1))
		echo "# no new child after killing $child"
		return 2
	fi
	restart_ms="$restart_ms $((($(date +%s%N) - t1) / 1000000))"
	[ $killed = 1 ]
}

od_require root daemon mkfs pgrep devnode
echo "# backend ${CFRS_MODULE_NAME:-?}, daemon $daemon, target $kills_target kills, $kib KiB + $big_mib MiB per round, READ delay $read_delay ms"

mkdir -p "$cache" "$blobs"

# --- supervisor start ----------------------------------------------------------
"$daemon" supervise --socket "$sock" --cache-dir "$cache" --tag cfrs-failover \
	--restart-delay 20 --restart-delay-max 200 --child-pidfile "$pidfile" -- \
	--blobs "$blobs" --log-level debug --read-delay "$read_delay" 2> "$slog" &
sup=$!
od_track_daemon "$sup"
wait_new_child ""
child=$CHILD
if [ -n "$child" ] && kill -0 "$sup" 2>/dev/null; then
	tap ok supervisor.starts_daemon
else
	tap fail supervisor.starts_daemon "$(head -20 "$slog")"
	tap_done
fi
for _ in $(seq 1 50); do grep -q "sent 'restore'" "$slog" && break; sleep 0.1; done
check supervisor.binds_cache grep -q cfrs-failover /proc/fs/fscache/caches
check supervisor.child_gets_fd_and_restores grep -q "received the devnode fd from .* and sent 'restore'" "$slog"

# --- rounds: read fresh images while killing the child -----------------------------
restart_ms="" no_new_child=0
start=$(date +%s)
kill_rounds img "$kib" kill_child
echo "# $kills kills in $rounds rounds ($(($(date +%s) - start)) s); kills per round:$round_kills"
echo "# ms from each SIGKILL to the new child:$restart_ms"
check failover.kill_target_reached test "$kills" -ge "$kills_target"
check failover.all_mounts_ok test "$mount_fail" = 0
check failover.no_read_errors test "$bad_reads" = 0
check failover.sha256_all_rounds_match test "$bad_sums" = 0
check failover.new_child_after_each_kill test "$no_new_child" = 0
wait_new_child ""
child=$CHILD
started=$(grep -c "supervisor: started daemon pid" "$slog")
died=$(grep -c "supervisor: daemon pid .* died" "$slog")
echo "# supervisor log: $started daemon starts, $died deaths logged"
check failover.supervisor_logged_each_restart test "$started" = $((kills + 1)) -a "$died" = "$kills"
reads=$(grep -c "DEBUG READ msg .* -> wrote" "$slog")
opens=$(grep -c "DEBUG OPEN msg" "$slog")
restores=$(grep -c "and sent 'restore'" "$slog")
# Every mount opens its blob once; further OPENs are re-opens of objects
# whose anon fd died with a killed daemon (a READ on a CLOSE object).
# A READ received by a daemon that was killed before completing it is
# re-sent (same msg id) to the next daemon after `restore`.
resent=$(sed -n 's/.*DEBUG READ msg \([0-9]*\) .*received; delaying.*/\1/p' "$slog" | sort | uniq -d | wc -l)
echo "# READs served $reads, OPENs $opens for $rounds mounts (re-opens $((opens - rounds))), restores $restores, in-flight READs re-sent after restore $resent"
check failover.reads_went_to_daemon test "$reads" -gt 0
check failover.reopens_seen test "$opens" -gt "$rounds"
check failover.inflight_reads_resent test "$resent" -gt 0
if [ "$opens" -le "$rounds" ] || [ "$resent" = 0 ]; then
	grep -E "supervisor:|DEBUG OPEN|restore|received; delaying" "$slog" | head -40 | sed 's/^/# /'
fi
grep " ERROR " "$slog" | head -10 | sed 's/^/# /'

# --- the mount still works at the end ------------------------------------------------
fresh_image_read failover.final_mount_and_read img
mountpoint -q "$mnt" && umount "$mnt"
check failover.final_umount test $? = 0

# --- supervisor stop ------------------------------------------------------------------
kill -TERM "$sup"
wait "$sup"
rc=$?
sup=
check supervisor.sigterm_exit_0 test "$rc" = 0
check supervisor.child_stopped_with_it test -z "$(pgrep -f -- "--fd-from $sock")"
check supervisor.socket_removed test ! -e "$sock"
grep "supervisor: stopped" "$slog" | sed 's/^/# /'
if grep -q cfrs-failover /proc/fs/fscache/caches; then
	echo "# /proc/fs/fscache/caches still lists the cache:"
	sed 's/^/#   /' /proc/fs/fscache/caches
fi

# --- the supervisor itself SIGKILLed ----------------------------------------------------
# Its child holds a copy of the devnode fd and serves on: reads still work.
# Nobody restarts the child any more; when it dies too, no keeper is left:
# uncached reads fail (no hang), umount works, and once the last fd is
# gone the cache is withdrawn and the devnode can be opened again.
cache5=${CFRS_SCRATCH:-$work}/failover-cache5
mkdir -p "$cache5"
rm -f "$pidfile"
"$daemon" supervise --socket "$work/supkill.sock" --cache-dir "$cache5" --tag cfrs-supkill \
	--child-pidfile "$pidfile" -- --blobs "$blobs" --log-level debug 2> "$work/supkill.log" &
sup=$!
od_track_daemon "$sup"
wait_new_child ""
child=$CHILD
[ -z "$child" ] || od_track "$child"
for _ in $(seq 1 50); do grep -q "sent 'restore'" "$work/supkill.log" && break; sleep 0.1; done
src=$work/src-supkill mnt=$work/mnt-supkill
make_round_tree "$src" 256
mkfs.erofs --quiet "$blobs/img-supkill" "$src" > /dev/null
if [ -n "$child" ] && mount_erofs "$mnt" fsid=img-supkill && cmp -s "$src/r1.bin" "$mnt/r1.bin"; then
	tap ok supkill.mount_and_first_read
else
	tap fail supkill.mount_and_first_read "$(cat "$work/mount.err" "$work/supkill.log" | head -10)"
fi
kill -KILL "$sup"
wait "$sup" 2>/dev/null
sup=
check supkill.child_survives_supervisor kill -0 "$child"
check supkill.uncached_read_after_supervisor_death cmp -s "$src/r2.bin" "$mnt/r2.bin"
kill -KILL "$child"
wait_gone "$child" 10
echo "# supervisor and child dead:"
check_read_fails supkill.no_keeper_left_read_fails_without_hang "$mnt/r3.bin"
timeout 120 umount "$mnt"
check supkill.umount test $? = 0
check supkill.devnode_free_again devnode_free 10
rm -rf "$src" "$blobs/img-supkill"

# --- systemd fd store (emulated by fake_systemd.py) --------------------------------------
# The daemon, started with NOTIFY_SOCKET, stores its freshly bound devnode fd
# (FDSTORE=1, FDNAME=cachefiles); after a SIGKILL the "service manager"
# starts it again with that fd in LISTEN_FDS: it sends `restore` and the
# reader that was blocked meanwhile completes.
if command -v python3 > /dev/null; then
	cache3=${CFRS_SCRATCH:-$work}/failover-cache3
	mkdir -p "$cache3"
	src=$work/src-sd mnt=$work/mnt-sd
	make_round_tree "$src" 2048
	mkfs.erofs --quiet "$blobs/img-sd" "$src" > /dev/null
	coproc FS { python3 "$here/fake_systemd.py" -- "$daemon" --cache-dir "$cache3" \
		--blobs "$blobs" --tag cfrs-fdstore --log-level debug --read-delay "$read_delay" \
		2> "$work/fdstore.log"; }
	line=
	read -t 60 -r line <&"${FS[0]}"
	if [ "$line" = stored ]; then
		tap ok fdstore.daemon_stores_fd_and_notifies_ready
	else
		tap fail fdstore.daemon_stores_fd_and_notifies_ready "$line $(head -10 "$work/fdstore.log")"
	fi
	if mount_erofs "$mnt" fsid=img-sd; then
		(manifest "$mnt" > "$work/got-sd" 2> "$work/err-sd"; echo $? > "$work/rc-sd") &
		reader=$!
		od_track "$reader"
		sleep 0.2
		kill -0 "$reader" 2>/dev/null && echo "# reader still running when the daemon is killed"
		echo kill >&"${FS[1]}"
		line=
		read -t 60 -r line <&"${FS[0]}"
		echo "# fake systemd: $line"
		case $line in
		"restarted "*" stored-again") tap fail fdstore.restart_with_listen_fds "stored the fd again" ;;
		"restarted "*) tap ok fdstore.restart_with_listen_fds ;;
		*) tap fail fdstore.restart_with_listen_fds "$line" ;;
		esac
		check fdstore.daemon_restored grep -q "from systemd (LISTEN_FDS) and sent 'restore'" "$work/fdstore.log"
		for _ in $(seq 1 1200); do kill -0 "$reader" 2>/dev/null || break; sleep 0.1; done
		wait "$reader" 2>/dev/null
		reader=
		if [ "$(cat "$work/rc-sd")" = 0 ] && [ ! -s "$work/err-sd" ] &&
			diff <(manifest "$src") "$work/got-sd" > "$work/diff"; then
			tap ok fdstore.read_across_restart_sha256_match
		else
			tap fail fdstore.read_across_restart_sha256_match "$(cat "$work/err-sd" "$work/diff" | head -10)"
		fi
		umount "$mnt"
	else
		tap fail fdstore.mount "$(cat "$work/mount.err")"
	fi
	echo stop >&"${FS[1]}"
	line=
	read -t 60 -r line <&"${FS[0]}"
	check fdstore.sigterm_exit_0 test "$line" = "stopped 0"
	wait "$FS_PID" 2>/dev/null
fi

# --- crashes replayed step by step (ondemand_proto failover) ------------------------------
# The helper is the daemon: its "crash" closes its anon fds while it keeps
# the devnode (as a keeper would), then it writes `restore`: nothing
# pending, twice, a READ read but unanswered (same msg id again), a READ
# in flight and one queued (object re-opened, no EPOLLIN for the READ of a
# re-opening object), a crash during OPEN, an OPEN re-read while its fd
# lives (EEXIST), a READ_COMPLETE guessed for a READ never read (no data
# trusted: asked again).  The errno values asserted are those of C 6.12.
if [ -x "$proto" ]; then
	src=$work/src-proto
	(big_mib=0 && make_round_tree "$src" 256)
	mkfs.erofs --quiet "$blobs/fproto-a" "$src" > /dev/null
	for x in b c; do ln "$blobs/fproto-a" "$blobs/fproto-$x"; done
	cache4=${CFRS_SCRATCH:-$work}/failover-cache4
	mkdir -p "$cache4" "$work/mnt-proto"
	for x in a b c; do od_track_mount "$work/mnt-proto/$x"; done
	# Exact READ ranges: without cachefiles_rs's READ window (fast mode).
	od_no_window timeout 600 "$proto" failover "$cache4" "$blobs" "$work/mnt-proto" fproto \
		"$src" > "$work/proto.out" 2>&1
	rc=$?
	import_results proto < "$work/proto.out"
	check_eq proto.failover_helper_exit_0 0 "$rc"
	for x in a b c; do mountpoint -q "$work/mnt-proto/$x" && umount "$work/mnt-proto/$x"; done
else
	tap fail proto.helper_built "no $proto (make selftests)"
fi

# --- negative case: no keeper ------------------------------------------------------------
# A plain daemon holds the only devnode fd: SIGKILL makes the cache DEAD,
# and a read of data never fetched fails (no failover).
cache2=${CFRS_SCRATCH:-$work}/failover-cache2
mkdir -p "$cache2"
src=$work/src-neg mnt=$work/mnt-neg
make_round_tree "$src" 256
mkfs.erofs --quiet "$blobs/img-neg" "$src" > /dev/null
daemon_start "$work/neg.stats" "$work/neg.log" --cache-dir "$cache2" --blobs "$blobs"
pid=$DAEMON_PID
if mount_erofs "$mnt" fsid=img-neg && cmp -s "$src/a/f1.txt" "$mnt/a/f1.txt"; then
	tap ok nokeeper.mount_and_first_read
else
	tap fail nokeeper.mount_and_first_read "$(cat "$work/mount.err" "$work/neg.log" | head -10)"
fi
kill -KILL "$pid"
wait "$pid" 2>/dev/null
echo "# daemon dead, no keeper:"
check_read_fails nokeeper.uncached_read_fails_without_hang "$mnt/r2.bin"
if command -v python3 > /dev/null; then
	errno=$(read_errno "$mnt/r3.bin")
	echo "# read(2) of another uncached file: $errno"
	case $errno in
	EIO | ENOBUFS) tap ok nokeeper.errno_eio_or_enobufs ;;
	*) tap fail nokeeper.errno_eio_or_enobufs "got $errno" ;;
	esac
fi
timeout 120 umount "$mnt"
check nokeeper.umount test $? = 0

tap_done
