# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
# Shared helpers of the on-demand selftests (ondemand_test.sh,
# failover_test.sh, big_test.sh, interchange_test.sh, trace_test.sh).  Sourced,
# not run.
#
#   . "$(dirname "$0")/lib.sh"
#   od_init NAME          work dir /tmp/cfrs-NAME.XXXXXX, EXIT trap, TAP header,
#                         cachefiles_rs's opt-in modes from the environment
#                         (od_modes: CFRS_BUFFERED=1, CFRS_READ_WINDOW_KIB=N,
#                         CFRS_READ_AHEAD=1)
#   od_require ...        "1..0 # SKIP" and exit unless the prerequisites hold
#   tap / check / check_eq / section / tap_done / import_results
#   od_track PID          killed (SIGKILL) and reaped at exit, before the umounts
#   od_track_daemon PID   SIGTERM and reaped at exit, after the umounts
#   od_cleanup_hook FN    FN runs first at exit (before umounts and kills)
#   od_cleanup_late FN    FN runs last at exit (after daemons stopped)
#   mount_erofs / manifest / make_tree / read_all / stat_of
#   check_read_fails NAME FILE  ok iff reading FILE fails, and without hanging
#   devnode_free [SECONDS]      /dev/cachefiles can be opened (nobody holds it)
#   daemon_start / daemon_stop / wait_gone / wait_ready
#   child_of / wait_new_child   the child of a supervisor (--child-pidfile $pidfile)
#   bsleep / rand_sleep / make_round_tree / kill_rounds / fresh_image_read
#                         (daemon-kill rounds)
#   read_errno FILE       errno name of one read(2) of FILE, or 0
#   read_result FILE      "0 BYTES", "ERRNO OFFSET" or TIMEOUT of reading FILE whole
#   kmark / klog_since / klog_wait / klog_summary / check_no_splat
#                         kernel-log markers, what came after one, a splat check
#   cache_state TAG / wait_cache_gone TAG  /proc/fs/fscache/caches state letter
#   check_reload NAME     one case: rmmod and insmod of the module under test
#   dm_ext4_start / dm_table linear|error / dm_cleanup / ext4_give_up
#                         ext4 on a device that can be made to fail
#
# Everything runs as root inside the test VM (scripts/vm-run); cold
# on-demand reads run at ~1-2 MB/s on the TCG debug kernel, so keep data
# small unless a test is meant for the release kernel.

OD_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OD_ROOT=$(cd "$OD_DIR/../../../../.." && pwd)
daemon=${CFRS_ONDEMANDD:-$OD_ROOT/tools/cachefiles-ondemandd/target/release/cachefiles-ondemandd}
# C protocol helper (ondemand_proto.c, built by `make selftests`).
proto=${CFRS_ONDEMAND_PROTO:-$OD_DIR/ondemand_proto}

# --- TAP ---------------------------------------------------------------------
n=0 failed=0
tap() { # tap ok|fail NAME [diagnostic]
	n=$((n + 1))
	if [ "$1" = ok ]; then
		echo "ok $n $2"
	else
		echo "not ok $n $2"
		[ -z "$3" ] || echo "$3" | sed 's/^/# /'
		failed=1
	fi
}
check() { # check NAME CMD... : ok iff CMD succeeds
	local name=$1
	shift
	if "$@"; then tap ok "$name"; else tap fail "$name"; fi
}
check_eq() { # check_eq NAME WANT GOT [diagnostic]: ok iff GOT = WANT
	if [ "$3" = "$2" ]; then
		tap ok "$1"
	else
		tap fail "$1" "want '$2', got '$3'${4:+
$4}"
	fi
}
# ondemand_proto prints "ok NAME" / "not ok NAME # why" and "# ..." lines;
# each result becomes a TAP line named PREFIX.NAME.
import_results() { # import_results PREFIX < helper output
	local line name rest
	while IFS= read -r line; do
		case $line in
		"ok "*) tap ok "$1.${line#ok }" ;;
		"not ok "*)
			rest=${line#not ok }
			name=${rest%% # *}
			tap fail "$1.$name" "${rest#"$name"}"
			;;
		*) echo "$line" ;;
		esac
	done
}
od_t0=$(date +%s)
section() { # section NAME: a comment with the seconds since the start
	echo "# [$(($(date +%s) - od_t0)) s] $1"
}
tap_done() { # plan line and exit status
	echo "1..$n"
	exit $failed
}

# --- work directory and cleanup -------------------------------------------------
mounts=()
od_pids=()
od_daemons=()
od_hooks=()
od_late_hooks=()
od_track() { od_pids+=("$@"); }
od_track_daemon() { od_daemons+=("$@"); }
od_cleanup_hook() { od_hooks+=("$@"); }
od_cleanup_late() { od_late_hooks+=("$@"); }

od_cleanup() {
	local h m p
	for h in "${od_hooks[@]}"; do "$h"; done
	# Readers first (a blocked one keeps its mount busy), then the mounts,
	# then the daemons, which must outlive the umounts that send them CLOSE.
	for p in "${od_pids[@]}"; do
		kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	for m in "${mounts[@]}"; do mountpoint -q "$m" && timeout 60 umount "$m"; done
	for p in "${od_daemons[@]}"; do
		kill -0 "$p" 2>/dev/null || continue
		kill -TERM "$p" 2>/dev/null
		wait_gone "$p" 10 || kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	for h in "${od_late_hooks[@]}"; do "$h"; done
	[ -z "$work" ] || rm -rf "$work"
}

od_init() { # od_init NAME: work dir, EXIT trap, TAP header, od_modes
	work=$(mktemp -d "/tmp/cfrs-$1.XXXXXX")
	trap od_cleanup EXIT
	echo "TAP version 13"
	od_modes
}

# od_modes: cachefiles_rs's opt-in modes for a whole suite, from the
# environment (nothing happens on C, which has no such parameters; the
# case names stay the same):
#   CFRS_BUFFERED=1         parameter buffered_io=1: every cache bound
#                           meanwhile uses buffered backing I/O
#   CFRS_READ_WINDOW_KIB=N  parameter read_window_kib=N (wider READs)
#   CFRS_READ_AHEAD=1       parameter read_ahead=1 (with a window: the
#                           next window asked for ahead)
# Each parameter gets its old value back at exit.
od_param_dir=/sys/module/cachefiles_rs/parameters
od_param_saved=()
od_restore_params() {
	local p
	for p in "${od_param_saved[@]}"; do echo "${p#*=}" > "$od_param_dir/${p%%=*}"; done
}
od_set_param() { # od_set_param NAME VALUE
	[ -w "$od_param_dir/$1" ] || return 0
	od_param_saved+=("$1=$(cat "$od_param_dir/$1")")
	echo "$2" > "$od_param_dir/$1"
	echo "# $1=$(cat "$od_param_dir/$1")"
}
# od_no_window CMD ARGS...: runs CMD with cachefiles_rs's read_window_kib
# at 0 (C's READ ranges) and puts the old value back; CMD's status.  For
# the cases that replay the protocol READ by READ on small images, which a
# window would fetch whole with their first READ.  Just CMD on C.
od_no_window() {
	local w= rc
	[ -w "$od_param_dir/read_window_kib" ] && w=$(cat "$od_param_dir/read_window_kib") &&
		echo 0 > "$od_param_dir/read_window_kib"
	"$@"
	rc=$?
	[ -z "$w" ] || echo "$w" > "$od_param_dir/read_window_kib"
	return $rc
}
od_modes() {
	[ "${CFRS_BUFFERED:-0}" = 1 ] && od_set_param buffered_io 1
	[ -n "${CFRS_READ_WINDOW_KIB:-}" ] && od_set_param read_window_kib "$CFRS_READ_WINDOW_KIB"
	[ "${CFRS_READ_AHEAD:-0}" = 1 ] && od_set_param read_ahead 1
	od_cleanup_late od_restore_params
}

# od_require root|daemon|mkfs|devnode|proto|pgrep|python3 ...: skip the whole
# test unless each prerequisite holds.
od_require() {
	local r why
	for r in "$@"; do
		why=
		case $r in
		root) [ "$(id -u)" = 0 ] || why="needs root" ;;
		daemon) [ -x "$daemon" ] || why="no daemon at $daemon (cargo build --release)" ;;
		mkfs) command -v mkfs.erofs > /dev/null || why="mkfs.erofs missing" ;;
		devnode) [ -c /dev/cachefiles ] || why="no /dev/cachefiles (backend not loaded)" ;;
		proto) [ -x "$proto" ] || why="no $proto (make selftests)" ;;
		*) command -v "$r" > /dev/null || why="$r missing" ;;
		esac
		if [ -n "$why" ]; then
			echo "1..0 # SKIP $why"
			exit 0
		fi
	done
}

# --- processes ---------------------------------------------------------------------
wait_gone() { # wait_gone PID SECONDS: until PID no longer runs (zombies count as gone)
	local i st
	for i in $(seq 1 $(($2 * 10))); do
		{ read -r _ _ st _ < "/proc/$1/stat"; } 2> /dev/null || return 0
		[ "$st" = Z ] && return 0
		sleep 0.1
	done
	return 1
}
proc_state() { # proc_state PID: one-letter state (R, S, D, Z...) or "gone"
	local st
	{ read -r _ _ st _ < "/proc/$1/stat"; } 2> /dev/null || st=gone
	echo "$st"
}

# daemon_start STATS LOG ARGS...: starts the daemon with --stats STATS (and
# ARGS), stderr to LOG; waits (10 s) until it wrote its stats file or died.
# Sets DAEMON_PID; returns 0 iff it is running with its stats file written.
daemon_start() {
	local st=$1 log=$2
	shift 2
	rm -f "$st"
	"$daemon" --stats "$st" "$@" 2> "$log" &
	DAEMON_PID=$!
	od_track_daemon "$DAEMON_PID"
	wait_ready "$DAEMON_PID" 10 test -e "$st"
}
# wait_ready PID SECONDS TEST...: polls TEST (a command) every 0.1 s until
# it succeeds, PID dies or SECONDS pass; returns 0 iff TEST succeeded and
# PID is still running.
wait_ready() {
	local pid=$1 i
	local tries=$(($2 * 10))
	shift 2
	for i in $(seq 1 "$tries"); do
		"$@" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	"$@" && kill -0 "$pid" 2>/dev/null
}
daemon_stop() { # daemon_stop PID: SIGTERM, wait; returns its exit status
	kill -TERM "$1" 2>/dev/null
	wait "$1"
}

stat_of() { # stat_of KEY [FILE]: value of KEY in a daemon stats file (default $stats)
	sed -n "s/^$1=//p" "${2:-$stats}" 2>/dev/null | tail -n1
}

# check_read_fails NAME FILE: one TAP line, ok iff reading FILE fails
# within 120 s (an error, not a hang); the error is in $work/cat.err and
# in a comment.
check_read_fails() {
	local rc
	timeout 120 cat "$2" > /dev/null 2> "$work/cat.err"
	rc=$?
	echo "# read of $2: status $rc: $(cat "$work/cat.err")"
	check "$1" test "$rc" != 0 -a "$rc" != 124
}
# devnode_free [SECONDS]: 0 iff /dev/cachefiles can be opened, now or
# within SECONDS (default 0): no process holds it any more.
devnode_free() {
	local i
	for i in $(seq 0 $((${1:-0} * 10))); do
		[ "$i" = 0 ] || sleep 0.1
		(exec 3<> /dev/cachefiles) 2> /dev/null && return 0
	done
	return 1
}

# kmark NAME: a marker in the kernel log; klog_since NAME: what came after it.
kmark() { echo "cfrs_mark: $1" > /dev/kmsg; }
klog_since() { dmesg | awk -v m="cfrs_mark: $1" 'f { print } index($0, m) { f = 1 }'; }
# klog_wait MARK PATTERN: until the kernel log after MARK has PATTERN (a
# basic regular expression), 10 s at most.
klog_wait() {
	local i
	for i in $(seq 1 100); do
		klog_since "$1" | grep -q "$2" && return 0
		sleep 0.1
	done
	return 1
}
# klog_summary MARK PATTERN: the kernel log's lines after MARK that match
# PATTERN (grep -E), numbers written N, counted, the most frequent first
# (20 at most), as "# dmesg:" comments.
klog_summary() {
	klog_since "$1" | grep -E "$2" | sed 's/^\[[^]]*\] //' | sed 's/[0-9][0-9]*/N/g' |
		sort | uniq -c | sort -rn | head -20 | sed 's/^/# dmesg: /'
}
# check_no_splat NAME CASE: one TAP line, ok iff the kernel logged no splat
# since the marker CASE.
check_no_splat() {
	local s
	s=$(klog_since "$2" | grep -E "${splat:-${CFRS_SPLAT:-BUG:|WARNING:|Oops|KASAN|UBSAN|general protection|Kernel panic|blocked for more than|refcount_t:}}" | head -5)
	if [ -z "$s" ]; then tap ok "$1"; else tap fail "$1" "$s"; fi
}
# wait_cache_gone TAG: until TAG is no longer listed (10 s at most).
wait_cache_gone() {
	local i
	for i in $(seq 1 100); do
		[ "$(cache_state "$1")" = none ] && return 0
		sleep 0.1
	done
	return 1
}
# The state letter of the cache TAG in /proc/fs/fscache/caches (A active,
# E I/O error, W withdrawn...), "none" if it is not listed.
cache_state() {
	awk -v t="$1" '$7 == t { s = $6 } END { print s ? s : "none" }' /proc/fs/fscache/caches
}
# read_result FILE [SECONDS]: reads FILE whole with read(2): "0 BYTES", or
# "ERRNO OFFSET" at the first error, or "TIMEOUT" (default 60 s).
read_result() {
	local out
	out=$(timeout "${2:-60}" python3 -c '
import errno, os, sys
n = 0
try:
    fd = os.open(sys.argv[1], os.O_RDONLY)
    while True:
        b = os.read(fd, 1 << 18)
        if not b:
            break
        n += len(b)
    print("0", n)
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno), n)' "$1" 2>&1)
	[ $? = 124 ] && out=TIMEOUT
	echo "$out"
}
# check_reload NAME: one case, ok iff the module under test unloads, loads
# again and /dev/cachefiles is back; the module is loaded afterwards
# either way.
check_reload() {
	local name=${CFRS_MODULE_NAME:-cachefiles_rs}
	if rmmod "$name" 2> "$work/rmmod.err" && insmod "${CFRS_MODULE_KO:?}" 2>> "$work/rmmod.err" &&
		[ -c /dev/cachefiles ]; then
		tap ok "$1"
	else
		tap fail "$1" "$(cat "$work/rmmod.err")"
		grep -q "^$name " /proc/modules || insmod "$CFRS_MODULE_KO"
	fi
}
# A failing backing device: ext4 (errors=continue, 4 KiB blocks) on a
# device-mapper linear device over a loop file, whose table can be switched
# to the `error` target (set DM_DISABLE_UDEV=1: no udev in the guest).
# dm_ext4_start NAME FILE MIB MNT: creates and mounts it on MNT; sets
# dm_name, dm_loop, dm_dev, dm_sectors, dm_mnt; dm_cleanup (registered with
# od_cleanup_late) undoes it.
dm_name='' dm_loop='' dm_dev='' dm_sectors=0 dm_mnt=''
dm_ext4_start() {
	dm_name=$1 dm_mnt=$4
	od_cleanup_late dm_cleanup
	truncate -s "$3M" "$2" || return 1
	dm_loop=$(losetup -f --show "$2") && dm_sectors=$(blockdev --getsz "$dm_loop") &&
		dmsetup create "$dm_name" --table "0 $dm_sectors linear $dm_loop 0" || return 1
	dm_dev=/dev/$(dmsetup info -c --noheadings -o blkdevname "$dm_name" | tr -d ' ')
	[ -b "$dm_dev" ] || dm_dev=/dev/mapper/$dm_name
	mkdir -p "$dm_mnt"
	mkfs.ext4 -q -F -b 4096 "$dm_dev" > /dev/null && mount -o errors=continue "$dm_dev" "$dm_mnt"
}
dm_table() { # dm_table linear|error
	local t="0 $dm_sectors linear $dm_loop 0"
	[ "$1" = error ] && t="0 $dm_sectors error"
	dmsetup suspend --nolockfs "$dm_name" && dmsetup load "$dm_name" --table "$t" &&
		dmsetup resume "$dm_name"
}
dm_cleanup() {
	if [ -n "$dm_dev" ]; then
		dmsetup table "$dm_name" 2>/dev/null | grep -q error && dm_table linear
		mountpoint -q "$dm_mnt" && timeout 60 umount "$dm_mnt"
		dmsetup remove "$dm_name"
		dm_dev=
	fi
	[ -z "$dm_loop" ] || losetup -d "$dm_loop"
	dm_loop=
}
# ext4_give_up MNT: lets ext4 on a failed device find out (a commit of its
# journal fails, the journal is aborted and the filesystem shuts down: its
# operations fail from then on); prints the number of probes it took, 30
# if it did not give up.
ext4_give_up() {
	local i
	for i in $(seq 1 30); do
		sync -f "$1" 2>/dev/null
		touch "$1/probe-$i" 2>/dev/null || break
		sleep 1
	done
	echo "$i"
}

# The running daemon child of a supervisor started with --child-pidfile
# $pidfile, if any; only shell builtins (every exec costs 100+ ms on the
# TCG debug kernel, which would stretch a kill cadence).
child_of() { # sets CHILD
	local c st rest
	CHILD=
	{ read -r c < "$pidfile"; } 2> /dev/null || return 0
	{ read -r _ _ st rest < "/proc/$c/stat"; } 2> /dev/null || return 0
	[ "$st" = Z ] || CHILD=$c
}
# Waits (up to 20 s) for a running daemon child other than OLD_PID; sets CHILD.
wait_new_child() { # wait_new_child OLD_PID
	for _ in $(seq 1 1000); do
		child_of
		[ -n "$CHILD" ] && [ "$CHILD" != "$1" ] && return 0
		bsleep 0.02
	done
	return 1
}

# --- filesystems ---------------------------------------------------------------------
mount_erofs() { # mount_erofs MOUNTPOINT OPTIONS -> mount's status; stderr in $work/mount.err
	mkdir -p "$1"
	mounts+=("$1")
	mount -t erofs none -o "$2" "$1" 2> "$work/mount.err"
}
od_track_mount() { mounts+=("$@"); }

# sha256 of every file under DIR, with relative paths, plus the list of
# directories and symlinks, so that tree shape differences show too.
manifest() {
	(cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum &&
		find . -type d | sort && find . -type l -printf '%p -> %l\n' | sort)
}
# same_tree NAME SRC MNT: one TAP line, ok iff the manifests are equal
same_tree() {
	if diff <(manifest "$2") <(manifest "$3") > "$work/diff" 2>&1; then
		tap ok "$1"
	else
		tap fail "$1" "$(head -20 "$work/diff")"
	fi
}

# read_errno FILE: the errno name of one read(2) of FILE ("0" if it worked).
read_errno() {
	python3 -c '
import os, sys, errno
try:
    fd = os.open(sys.argv[1], os.O_RDONLY)
    os.read(fd, 65536)
    print("0")
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))' "$1" 2>&1
}

# Reads every file of DIR after dropping the page cache, so that the data
# comes through cachefiles again.
read_all() {
	echo 3 > /proc/sys/vm/drop_caches
	find "$1" -type f -print0 | xargs -0 -r cat > /dev/null
}

make_tree() { # make_tree DIR SEED RANDOM_KIB: a mixed tree (small files, symlink, random data)
	local d=$1 i
	mkdir -p "$d/a/b/c" "$d/empty-dir" "$d/docs"
	for i in $(seq 1 20); do echo "small file $i of tree $2" > "$d/a/f$i.txt"; done
	for i in $(seq 1 5); do seq 1 $((i * 300)) > "$d/a/b/seq$i"; done
	printf 'x' > "$d/a/b/c/one-byte"
	: > "$d/docs/empty"
	head -c 4097 /dev/urandom > "$d/docs/page-plus-one"
	head -c $(($3 * 1024)) /dev/urandom > "$d/random.bin"
	ln -s a/f1.txt "$d/link"
}

# make_layout_tree DIR: files sized around the 4 KiB block (inline tails,
# exact blocks, one byte over), compressible text, long names, deep
# directories, a big directory, hard links: every EROFS layout choice
# (inline or not, compressed or not) meets a boundary somewhere here.
make_layout_tree() {
	local d=$1 s i
	mkdir -p "$d/sizes" "$d/text" "$d/deep/1/2/3/4/5/6/7/8" "$d/bigdir"
	for s in 0 1 2 63 64 100 511 512 1000 2047 2048 3000 4095 4096 4097 \
		6000 8191 8192 8193 12287 12288 12289 16385 65535 65536 65537; do
		head -c "$s" /dev/urandom > "$d/sizes/r$s"
	done
	for i in 1 2 3 4 5 6; do
		# Compressible: repeated words with a little noise.
		for _ in $(seq 1 $((i * 40))); do echo "line $i $RANDOM of some rather repetitive text"; done > "$d/text/t$i.txt"
	done
	head -c 65537 /dev/zero > "$d/text/zeros"
	echo deep > "$d/deep/1/2/3/4/5/6/7/8/leaf"
	# A directory of several blocks (80 names of ~60 bytes); empty files,
	# so they cost no data reads.
	for i in $(seq 1 80); do : > "$d/bigdir/an-empty-file-with-a-long-name-to-fill-directory-blocks-$i"; done
	printf 'n%.0s' $(seq 1 200) > "$d/$(printf 'L%.0s' $(seq 1 200))"
	ln "$d/sizes/r4097" "$d/hardlink-r4097"
	ln -s deep/1/2/3/4/5/6/7/8/leaf "$d/leaf-link"
}

# --- rounds of fresh images read while the daemon is killed -------------------------
# (failover_test.sh, recovery_test.sh)

# sleep as a builtin: read with a timeout from a pipe nobody writes to
# (every exec costs 100+ ms on the TCG debug kernel, which would stretch
# the kill cadence).
bsleep() {
	[ -n "${sleep_fd:-}" ] || exec {sleep_fd}<> <(:)
	read -r -t "$1" -u "$sleep_fd"
}
rand_sleep() { # sleep a random 10-200 ms
	bsleep "0.$(printf %03d $((10 + RANDOM % 191)))"
}

make_round_tree() { # make_round_tree DIR RANDOM_KIB: 4 random files + small ones (+ $big_mib MiB)
	local d=$1 i
	mkdir -p "$d/a/b"
	for i in 1 2 3 4; do head -c $(($2 * 256)) /dev/urandom > "$d/r$i.bin"; done
	[ "${big_mib:-0}" = 0 ] || head -c $((big_mib << 20)) /dev/urandom > "$d/big.bin"
	for i in $(seq 1 10); do echo "small file $i $RANDOM" > "$d/a/f$i.txt"; done
	head -c 4097 /dev/urandom > "$d/a/b/page-plus-one"
}

# kill_rounds PREFIX KIB KILL: rounds of a fresh image (blob $blobs/PREFIX<n>,
# make_round_tree with KIB) mounted and read (sha256 of every file) while,
# every 10-200 ms, the function KILL kills the daemon and waits for the next
# one; it returns 0 (killed, next daemon running), 1 (nothing killed now) or
# 2 (killed, no next daemon: the round stops killing).  Until $kills_target
# kills or $max_rounds rounds.  Sets kills, rounds, bad_reads, bad_sums,
# mount_fail and round_kills (kills per round).
kill_rounds() {
	local prefix=$1 kib=$2 kill_fn=$3 src mnt reader t0 k rc
	kills=0 rounds=0 bad_reads=0 bad_sums=0 mount_fail=0 round_kills=
	while [ $kills -lt "$kills_target" ] && [ $rounds -lt "$max_rounds" ]; do
		rounds=$((rounds + 1))
		src=$work/src$rounds mnt=$work/mnt$rounds
		make_round_tree "$src" "$kib"
		mkfs.erofs --quiet "$blobs/$prefix$rounds" "$src" > /dev/null || { tap fail "round$rounds.mkfs"; break; }
		manifest "$src" > "$work/want$rounds"
		if ! mount_erofs "$mnt" "fsid=$prefix$rounds"; then
			mount_fail=$((mount_fail + 1))
			echo "# round $rounds: mount failed: $(cat "$work/mount.err")"
			continue
		fi
		(manifest "$mnt" > "$work/got$rounds" 2> "$work/err$rounds"; echo $? > "$work/rc$rounds") &
		reader=$!
		od_track "$reader"
		t0=$(date +%s%N)
		k=0
		while kill -0 "$reader" 2>/dev/null && [ $kills -lt "$kills_target" ]; do
			rand_sleep
			kill -0 "$reader" 2>/dev/null || break
			"$kill_fn"
			rc=$?
			[ $rc = 1 ] && continue
			kills=$((kills + 1)) k=$((k + 1))
			[ $rc = 0 ] || break
		done
		# The reader must finish on its own (nothing may hang).
		for _ in $(seq 1 1200); do kill -0 "$reader" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$reader" 2>/dev/null; then
			echo "# round $rounds: reader still running after 120 s"
			kill "$reader"
		fi
		wait "$reader" 2>/dev/null
		echo "# round $rounds: $k kills while reading, reader took $((($(date +%s%N) - t0) / 1000000)) ms"
		if [ "$(cat "$work/rc$rounds" 2>/dev/null)" != 0 ] || [ -s "$work/err$rounds" ]; then
			bad_reads=$((bad_reads + 1))
			echo "# round $rounds: read errors: $(head -5 "$work/err$rounds")"
		fi
		if ! diff -q "$work/want$rounds" "$work/got$rounds" > /dev/null; then
			bad_sums=$((bad_sums + 1))
			diff "$work/want$rounds" "$work/got$rounds" | head -5 | sed 's/^/# /'
		fi
		round_kills="$round_kills $k"
		umount "$mnt" || echo "# round $rounds: umount failed"
		# The VM's /tmp lives in memory: drop what this round no longer needs.
		rm -rf "$src" "${blobs:?}/$prefix$rounds"
	done
}

# fresh_image_read NAME PREFIX: one more round's image (no big file),
# mounted and compared whole with its source: one TAP line NAME.  Leaves
# it mounted at $mnt (round $rounds).
fresh_image_read() {
	rounds=$((rounds + 1))
	src=$work/src$rounds mnt=$work/mnt$rounds
	big_mib=0
	make_round_tree "$src" 64
	mkfs.erofs --quiet "$blobs/$2$rounds" "$src" > /dev/null
	if mount_erofs "$mnt" "fsid=$2$rounds" && diff <(manifest "$src") <(manifest "$mnt") > "$work/diff"; then
		tap ok "$1"
	else
		tap fail "$1" "$(cat "$work/mount.err" "$work/diff" | head -10)"
	fi
}
