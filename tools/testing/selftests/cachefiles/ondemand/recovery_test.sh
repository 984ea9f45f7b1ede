#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Recovery without a keeper (cachefiles_rs only; Documentation/recovery.rst),
# TAP.  Runs as root inside the test VM with a cachefiles backend loaded:
#
#   scripts/vm-run --kernel debug --module rs -- \
#       tools/testing/selftests/cachefiles/ondemand/recovery_test.sh
#
# The daemon, tools/cachefiles-ondemandd with --recovery, runs alone: no
# supervisor, no fd store.  On cachefiles_rs a SIGKILLed daemon leaves its
# cache orphaned; readers block; the next daemon started with the same tag
# attaches and serves what was pending.  On C cachefiles.ko (CFRS_MODULE=c)
# `recovery`/`attach` are EOPNOTSUPP (the daemon binds without recovery)
# and the cache dies with its daemon: every case has the same name on both
# modules and asserts that module's behaviour (C: the reader fails with
# EIO/ENOBUFS, without hanging), so scripts/check can compare them.
#
#   1. nokeeper: a reader blocked on an uncached range when the daemon is
#      SIGKILLed; a new daemon attaches; the reader gets the right bytes.
#   2. proto: step-by-step cases of `ondemand_proto recovery` (errno values
#      of the new commands, death during OPEN / with a READ in flight /
#      with a READ queued, wrong tag, two racing attaches, expiry -> EIO,
#      two orphans with different tags).
#   3. torture: the daemon SIGKILLed CFRS_RECOVERY_KILLS times (default 20)
#      10-200 ms after each start while a reader checksums every file of
#      fresh images, the test restarting it each time (as an init system
#      without fd store would); 0 read errors, every sha256 right, one
#      attach per kill.  On C: one kill, the reader fails.
#   4. rmmod: with an orphan the module cannot be unloaded; after the grace
#      period it can (then it is loaded again).
#
# Env: CFRS_RECOVERY_KILLS (default 20); CFRS_RECOVERY_KIB (default 2048)
# random data per round; CFRS_RECOVERY_BIG_MIB (default 0) adds a file of
# that many MiB to every round's image (the long run, `make
# check-recovery`, uses 64); CFRS_RECOVERY_MAX_ROUNDS (default 40);
# CFRS_RECOVERY_READ_DELAY (default 100) ms the daemon sleeps before each
# READ (so that kills land while READs are in flight); CFRS_RECOVERY_KEEP=DIR
# copies the daemon logs there (a guest path).  Kept small by default: cold
# reads run at ~1-2 MB/s on the TCG debug kernel.

. "$(dirname "$0")/lib.sh"
kills_target=${CFRS_RECOVERY_KILLS:-20}
kib=${CFRS_RECOVERY_KIB:-2048}
big_mib=${CFRS_RECOVERY_BIG_MIB:-0}
read_delay=${CFRS_RECOVERY_READ_DELAY:-100}
max_rounds=${CFRS_RECOVERY_MAX_ROUNDS:-40}
# Grace period of the caches the daemon binds: long enough for any restart.
grace=60
od_init recovery
mod=${CFRS_MODULE:-rs}
[ "$mod" = c ] && rs=0 || rs=1
blobs=$work/blobs
tags=()

keep_logs() {
	if [ -n "$CFRS_RECOVERY_KEEP" ]; then
		mkdir -p "$CFRS_RECOVERY_KEEP" && cp "$work"/*.log "$CFRS_RECOVERY_KEEP"/
	fi
}
od_cleanup_hook keep_logs

# Ends the orphan of TAG at once: attach with a grace of 1 s and let go.
# (Harmless on C and without an orphan.)
end_orphan() {
	{ exec 3<> /dev/cachefiles; } 2> /dev/null || return 0
	{ printf 'tag %s' "$1" >&3 && printf 'recovery 1' >&3 && printf 'attach' >&3; } 2> /dev/null
	exec 3>&-
}
# Whether the cache TAG is active (state A in /proc/fs/fscache/caches).
active() { awk -v t="$1" '$6 == "A" && $7 == t { f = 1 } END { exit !f }' /proc/fs/fscache/caches; }
wait_inactive() { # wait_inactive TAG SECONDS
	local i
	for i in $(seq 1 $(($2 * 10))); do active "$1" || return 0; sleep 0.1; done
	! active "$1"
}
# At exit, after the daemons stopped (which orphans their caches): end the
# orphans, so that the module can be unloaded by vm-run.
end_all() {
	local t
	for t in "${tags[@]}"; do end_orphan "$t"; done
	for t in "${tags[@]}"; do wait_inactive "$t" 10; done
}
od_cleanup_late end_all

# start_daemon TAG CACHE LOG [ARGS]: the daemon with --recovery, stderr
# appended to LOG; waits (10 s) for its stats file; sets DPID.  Retries
# while the devnode is busy (C frees it only once the dead cache is gone).
start_daemon() {
	local tag=$1 c=$2 log=$3
	shift 3
	for _ in 1 2 3 4 5; do
		rm -f "$work/$tag.stats"
		"$daemon" --stats "$work/$tag.stats" --cache-dir "$c" --blobs "$blobs" --tag "$tag" \
			--recovery "$grace" --log-level debug "$@" 2>> "$log" &
		DPID=$!
		od_track_daemon "$DPID"
		wait_ready "$DPID" 10 test -e "$work/$tag.stats" && return 0
		wait "$DPID" 2>/dev/null
		grep -q "EBUSY" "$log" || return 1
		sleep 0.5
	done
	return 1
}

# For kill_rounds: SIGKILL the daemon, start the next one (as an init
# system without fd store would).
kill_daemon() {
	local t1
	kill -KILL "$DPID" || return 1
	wait "$DPID" 2>/dev/null
	t1=$(date +%s%N)
	if ! start_daemon "$tag" "$tcache" "$tlog" --read-delay "$read_delay"; then
		no_restart=$((no_restart + 1))
		echo "# the daemon did not start again: $(tail -3 "$tlog")"
		return 2
	fi
	restart_ms="$restart_ms $((($(date +%s%N) - t1) / 1000000))"
}

od_require root daemon mkfs devnode proto python3
echo "# backend ${CFRS_MODULE_NAME:-?} (expecting $([ $rs = 1 ] && echo cachefiles_rs || echo C)), target $kills_target kills, $kib KiB + $big_mib MiB per round, READ delay $read_delay ms"
mkdir -p "$blobs"

# --- 1. no keeper: SIGKILL while a reader waits, a new daemon attaches ----------------
tag=cfrs-recovery
tags+=("$tag")
cache=${CFRS_SCRATCH:-$work}/recovery-cache
mkdir -p "$cache"
log=$work/nokeeper.log
src=$work/src-nk mnt=$work/mnt-nk
make_round_tree "$src" 1024
mkfs.erofs --quiet "$blobs/img-nk" "$src" > /dev/null
# The daemon sleeps 2 s on each READ before serving it: the kill below
# must land in that window even on a loaded machine (with 300 ms, C's
# reader once got its data before the kill, on a host running two VMs).
if start_daemon "$tag" "$cache" "$log" --read-delay 2000 && mount_erofs "$mnt" fsid=img-nk &&
	cmp -s "$src/a/f1.txt" "$mnt/a/f1.txt"; then
	tap ok nokeeper.start_mount_first_read
else
	tap fail nokeeper.start_mount_first_read "$(cat "$work/mount.err" "$log" | head -10)"
fi
if [ $rs = 1 ]; then
	check_eq nokeeper.daemon_probe 1 "$(grep -c "no orphaned cache '$tag' to attach to" "$log")"
else
	check_eq nokeeper.daemon_probe 1 "$(grep -c "'attach': EOPNOTSUPP" "$log")"
fi
n0=$(grep -c "received; delaying" "$log")
(cmp "$src/r1.bin" "$mnt/r1.bin" > /dev/null 2> "$work/nk.err"; echo $? > "$work/nk.rc") &
reader=$!
od_track "$reader"
# Kill once the daemon has taken one of the reader's READs (it then
# sleeps 2 s on it): the READ is in flight.
for _ in $(seq 1 200); do
	[ "$(grep -c "received; delaying" "$log")" -gt "$n0" ] && break
	bsleep 0.05
done
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null
sleep 1
st=$(proc_state "$reader")
is_active=0
active "$tag" && is_active=1
echo "# 1 s after SIGKILL: reader $st, cache active $is_active"
if [ $rs = 1 ]; then
	check nokeeper.after_kill test "$st" != gone -a "$is_active" = 1
else
	# C: the cache is dead; the reader fails without hanging.
	wait_gone "$reader" 60
	check nokeeper.after_kill test "$is_active" = 0 -a "$(cat "$work/nk.rc" 2>/dev/null)" != 0
fi
start_daemon "$tag" "$cache" "$log"
if [ $rs = 1 ]; then
	check_eq nokeeper.new_daemon_attaches 1 "$(grep -c "attached to the orphaned cache '$tag'" "$log")"
else
	check_eq nokeeper.new_daemon_attaches 0 "$(grep -c "attached to the orphaned cache" "$log")"
fi
wait_gone "$reader" 120
wait "$reader" 2>/dev/null
rc=$(cat "$work/nk.rc" 2>/dev/null)
echo "# reader: status $rc $(cat "$work/nk.err")"
if [ $rs = 1 ]; then
	check nokeeper.reader_outcome test "$rc" = 0 -a ! -s "$work/nk.err"
else
	check nokeeper.reader_outcome test "$rc" != 0 -a -n "$rc"
fi
# A read of another uncached file: served on rs; C's dead mount refuses it.
errno=$(read_errno "$mnt/r2.bin")
echo "# read(2) of another uncached file after the restart: $errno"
if [ $rs = 1 ]; then check_eq nokeeper.later_read 0 "$errno"
else case $errno in EIO | ENOBUFS) tap ok nokeeper.later_read ;; *) tap fail nokeeper.later_read "got $errno" ;; esac; fi
timeout 120 umount "$mnt"
check nokeeper.umount test $? = 0
daemon_stop "$DPID"
rm -rf "$src" "$blobs/img-nk"

# --- 2. step by step (ondemand_proto recovery) -----------------------------------------
# Leave no orphan behind for the helper: its mounts must land on its cache.
end_orphan "$tag"
wait_inactive "$tag" 10
src=$work/src-proto
(big_mib=0 && make_round_tree "$src" 256)
mkfs.erofs --quiet "$blobs/rproto-b" "$src" > /dev/null
for x in c d e; do ln "$blobs/rproto-b" "$blobs/rproto-$x"; done
pcache=${CFRS_SCRATCH:-$work}/recovery-proto
mkdir -p "$pcache" "$work/mnt-proto"
for x in b c d e; do od_track_mount "$work/mnt-proto/$x"; done
tags+=(cfrs-recovery-proto cfrs-recovery-a cfrs-recovery-b)
CFRS_MODULE=$mod timeout 900 "$proto" recovery "$pcache" "$blobs" "$work/mnt-proto" rproto "$src" \
	> "$work/proto.out" 2>&1
rc=$?
import_results proto < "$work/proto.out"
check_eq proto.recovery_helper_exit_0 0 "$rc"
for x in b c d e; do mountpoint -q "$work/mnt-proto/$x" && umount "$work/mnt-proto/$x"; done
rm -rf "$src"

# --- 3. torture: the daemon alone, SIGKILLed again and again ---------------------------
tag=cfrs-recovery-torture
tags+=("$tag")
tcache=${CFRS_SCRATCH:-$work}/recovery-torture
mkdir -p "$tcache"
tlog=$work/torture.log
: > "$tlog"
start_daemon "$tag" "$tcache" "$tlog" --read-delay "$read_delay" || tap fail torture.daemon_starts "$(tail -5 "$tlog")"
[ $rs = 1 ] || { kills_target=1 max_rounds=1; }
no_restart=0 restart_ms=""
start=$(date +%s)
kill_rounds timg "$kib" kill_daemon
attaches=$(grep -c "attached to the orphaned cache '$tag'" "$tlog")
echo "# $kills kills in $rounds rounds ($(($(date +%s) - start)) s), $attaches attaches, $bad_reads rounds with read errors, $bad_sums with wrong sha256"
echo "# ms from each SIGKILL to the new daemon:$restart_ms"
reads=$(grep -c "DEBUG READ msg .* -> wrote" "$tlog")
opens=$(grep -c "DEBUG OPEN msg" "$tlog")
echo "# READs served $reads, OPENs $opens for $rounds mounts (re-opens $((opens - rounds)))"
if [ $rs = 1 ]; then
	check torture.kills_done test "$kills" -ge "$kills_target"
	check torture.reads_and_sha256 test "$bad_reads" = 0 -a "$bad_sums" = 0 -a "$mount_fail" = 0
	check torture.new_daemon_attaches_after_each_kill test "$no_restart" = 0 -a "$attaches" = "$kills"
else
	# C: the first kill kills the cache; the round's reader fails.
	check torture.kills_done test "$kills" = 1
	check torture.reads_and_sha256 test "$bad_reads" = 1
	check torture.new_daemon_attaches_after_each_kill test "$no_restart" = 0 -a "$attaches" = 0
fi
# A fresh image read through the last daemon (on C: the fresh cache it bound).
fresh_image_read torture.final_mount_and_read timg
mountpoint -q "$mnt" && umount "$mnt"
daemon_stop "$DPID"
grep " ERROR " "$tlog" | head -10 | sed 's/^/# /'

# --- 4. rmmod with an orphan --------------------------------------------------------------
# A daemon binds with a grace of 15 s and is SIGKILLed: on rs the orphan
# pins the module until it expires; C's cache is gone at once.  (With 3 s,
# a loaded host once let the orphan expire before rmmod ran: 3.4 s from
# the orphaning to rmmod in the guest.)
for t in "${tags[@]}"; do end_orphan "$t"; done
for t in "${tags[@]}"; do wait_inactive "$t" 10; done
tag=cfrs-recovery-rmmod
tags+=("$tag")
rcache=${CFRS_SCRATCH:-$work}/recovery-rmmod
mkdir -p "$rcache"
started=1
grace=15 start_daemon "$tag" "$rcache" "$work/rmmod.log" || started=0
if [ $started = 0 ]; then
	echo "# the daemon did not start: $(kill -0 "$DPID" 2>/dev/null && echo alive || echo exited)"
	tail -n 15 "$work/rmmod.log" | sed 's/^/#   /'
fi
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null
name=${CFRS_MODULE_NAME:-cachefiles_rs}
loaded() { grep -q "^$name " /proc/modules; }
rmmod "$name" 2> "$work/rmmod.err"
rc=$?
echo "# rmmod right after the daemon's death: status $rc $(cat "$work/rmmod.err")"
if [ $rs = 1 ]; then
	# The orphan's module reference: refused, the module stays.
	if [ $started = 1 ] && [ "$rc" != 0 ] && loaded; then tap ok rmmod.while_orphaned; else tap fail rmmod.while_orphaned; fi
else
	# C: nothing outlives the daemon, the module unloads at once.
	if [ "$rc" = 0 ] && ! loaded; then tap ok rmmod.while_orphaned; else tap fail rmmod.while_orphaned; fi
	loaded || insmod "$CFRS_MODULE_KO"
fi
wait_inactive "$tag" 40
# The expiry work drops the module reference right after withdrawing the
# cache: allow it a moment.
for _ in $(seq 1 50); do
	rmmod "$name" 2> "$work/rmmod.err"
	rc=$?
	[ "$rc" = 0 ] && break
	sleep 0.1
done
echo "# rmmod after the grace period: status $rc $(cat "$work/rmmod.err")"
if [ "$rc" = 0 ] && ! loaded && insmod "$CFRS_MODULE_KO" && [ -c /dev/cachefiles ]; then
	tap ok rmmod.after_grace_period
else
	tap fail rmmod.after_grace_period "$(cat "$work/rmmod.err")"
	loaded || insmod "$CFRS_MODULE_KO"
fi

tap_done
