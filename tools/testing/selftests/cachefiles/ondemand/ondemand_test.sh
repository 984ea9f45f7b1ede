#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# End-to-end test of cachefiles on-demand mode with EROFS over fscache and
# the user-space daemon tools/cachefiles-ondemandd (TAP output).  Runs as
# root inside the test VM (scripts/vm-run) with a cachefiles backend loaded:
#
#   scripts/vm-run --kernel debug --module c -- \
#       tools/testing/selftests/cachefiles/ondemand/ondemand_test.sh
#
# The daemon binary is $CFRS_ONDEMANDD, else the crate's release build.
# The cache directory goes to $CFRS_SCRATCH (a fresh ext4 mount in the VM),
# everything else to a temporary directory under /tmp.
#
# Cases: (1) single-blob image: sha256 of every file, READ requests counted
# from the daemon's --stats file, re-read after drop_caches and remount
# served from the cache (READ count unchanged), CLOSE on umount, cache file
# linked in the cache directory; (2) unknown blob: OPEN refused with ENOENT,
# mount fails (EIO, as C does); (3) chunked image with an extra blob device
# (--blobdev/--chunksize, -o device=); (4) two mounts sharing a domain_id;
# a second daemon gets EBUSY; SIGTERM exits 0 with a summary; (5) --fd:
# the devnode opened and bound by a holder, the daemon sends `restore`;
# (6) daemon SIGKILLed while mounted: an uncached read fails, no hang.
# Kept to a few MiB: cold reads run at ~1-2 MB/s on the TCG debug kernel.

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../../.." && pwd)
daemon=${CFRS_ONDEMANDD:-$root/tools/cachefiles-ondemandd/target/release/cachefiles-ondemandd}
work=$(mktemp -d /tmp/cfrs-ondemand.XXXXXX)
cache=${CFRS_SCRATCH:-$work}/ondemand-cache
blobs=$work/blobs
stats=$work/stats
dlog=$work/daemon.log
pid=

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

mounts=()
cleanup() {
	local m
	for m in "${mounts[@]}"; do mountpoint -q "$m" && umount "$m"; done
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		wait "$pid"
	fi
	rm -rf "$work"
}
trap cleanup EXIT

stat_of() { # stat_of KEY: value of KEY in the daemon's stats file
	sed -n "s/^$1=//p" "$stats" 2>/dev/null | tail -n1
}

# sha256 of every file under DIR, with relative paths, plus the list of
# directories and symlinks, so that tree shape differences show too.
manifest() {
	(cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum &&
		find . -type d | sort && find . -type l -printf '%p -> %l\n' | sort)
}

# Reads every file of DIR (after dropping the page cache, so the data
# comes through cachefiles again).
read_all() {
	echo 3 > /proc/sys/vm/drop_caches
	find "$1" -type f -print0 | xargs -0 -r cat > /dev/null
}

make_tree() { # make_tree DIR SEED RANDOM_KIB
	local d=$1
	mkdir -p "$d/a/b/c" "$d/empty-dir" "$d/docs"
	for i in $(seq 1 20); do echo "small file $i of tree $2" > "$d/a/f$i.txt"; done
	for i in $(seq 1 5); do seq 1 $((i * 300)) > "$d/a/b/seq$i"; done
	printf 'x' > "$d/a/b/c/one-byte"
	: > "$d/docs/empty"
	head -c 4097 /dev/urandom > "$d/docs/page-plus-one"
	head -c $(($3 * 1024)) /dev/urandom > "$d/random.bin"
	ln -s a/f1.txt "$d/link"
}

wait_started() { # wait_started PID: until the daemon wrote its stats or died (10 s)
	for _ in $(seq 1 100); do
		[ -e "$stats" ] && return
		kill -0 "$1" 2>/dev/null || return
		sleep 0.1
	done
}

mount_erofs() { # mount_erofs MOUNTPOINT OPTIONS -> mount's status; stderr in $work/mount.err
	mkdir -p "$1"
	mounts+=("$1")
	mount -t erofs none -o "$2" "$1" 2> "$work/mount.err"
}

echo "TAP version 13"
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root"; exit 0; fi
if [ ! -x "$daemon" ]; then echo "1..0 # SKIP no daemon at $daemon (cargo build --release)"; exit 0; fi
if ! command -v mkfs.erofs > /dev/null; then echo "1..0 # SKIP mkfs.erofs missing"; exit 0; fi
if [ ! -c /dev/cachefiles ]; then echo "1..0 # SKIP no /dev/cachefiles (backend not loaded)"; exit 0; fi
echo "# backend ${CFRS_MODULE_NAME:-?}, daemon $daemon"

mkdir -p "$cache" "$blobs"

# --- images ------------------------------------------------------------------
make_tree "$work/src1" one 2048
make_tree "$work/src2" two 512
make_tree "$work/src3a" three-a 256
make_tree "$work/src3b" three-b 256
mkfs.erofs --quiet "$blobs/img1" "$work/src1" > /dev/null &&
	mkfs.erofs --quiet --chunksize=4096 --blobdev="$blobs/img2-data" "$blobs/img2" "$work/src2" > /dev/null &&
	mkfs.erofs --quiet "$blobs/img3a" "$work/src3a" > /dev/null &&
	mkfs.erofs --quiet "$blobs/img3b" "$work/src3b" > /dev/null
check setup.mkfs_erofs test -s "$blobs/img1" -a -s "$blobs/img2" -a -s "$blobs/img2-data" -a -s "$blobs/img3b"

# --- daemon start --------------------------------------------------------------
"$daemon" --cache-dir "$cache" --blobs "$blobs" --tag cfrs-ondemand-test \
	--stats "$stats" --log-level debug 2> "$dlog" &
pid=$!
wait_started "$pid"
if [ -e "$stats" ] && kill -0 "$pid" 2>/dev/null; then
	tap ok daemon.binds_cache
else
	tap fail daemon.binds_cache "$(cat "$dlog")"
	echo "1..$n"
	exit 1
fi
check daemon.cache_registered grep -q cfrs-ondemand-test /proc/fs/fscache/caches

# --- case 1: single-blob image --------------------------------------------------
m1=$work/mnt1
if mount_erofs "$m1" fsid=img1; then tap ok plain.mount; else tap fail plain.mount "$(cat "$work/mount.err")"; fi
if diff <(manifest "$work/src1") <(manifest "$m1") > "$work/diff"; then
	tap ok plain.sha256_all_files_match
else
	tap fail plain.sha256_all_files_match "$(head -20 "$work/diff")"
fi
reads1=$(stat_of read)
check plain.read_requests_served test "${reads1:-0}" -gt 0
check plain.bytes_served test "$(stat_of bytes)" -ge $((2048 * 1024))
check plain.open_accepted test "$(stat_of open_ok)" -ge 1
read_all "$m1"
reads2=$(stat_of read)
check plain.reread_hits_cache_no_new_read test "$reads2" = "$reads1"
if diff <(manifest "$work/src1") <(manifest "$m1") > "$work/diff"; then
	tap ok plain.sha256_match_from_cache
else
	tap fail plain.sha256_match_from_cache "$(head -20 "$work/diff")"
fi
closes=$(stat_of close)
umount "$m1"
check plain.umount test $? = 0
sleep 1
check plain.umount_sends_close test "$(stat_of close)" -gt "$closes"
# A new cache file is an O_TMPFILE linked in when the cookie is withdrawn:
# <cache>/cache/I<volume key>/@<hash>/D<cookie key>.
check plain.cache_file_linked_after_umount test -n "$(find "$cache/cache/Ierofs,img1" -name Dimg1 2>/dev/null)"

# Mount again: data is already in the cache file (found with SEEK_DATA), so
# the whole tree reads without a single READ request.
reads3=$(stat_of read)
if mount_erofs "$m1" fsid=img1; then tap ok plain.remount; else tap fail plain.remount "$(cat "$work/mount.err")"; fi
if diff <(manifest "$work/src1") <(manifest "$m1") > "$work/diff"; then
	tap ok plain.remount_sha256_match
else
	tap fail plain.remount_sha256_match "$(head -20 "$work/diff")"
fi
check plain.remount_served_from_cache test "$(stat_of read)" = "$reads3"
umount "$m1"

# --- case 2: unknown blob --------------------------------------------------------
# The daemon fails the OPEN with ENOENT (copen <id>,-2).  In 6.12 that only
# fails the cookie lookup; EROFS then cannot read its superblock and the
# mount fails with EIO ("prepare_ondemand_read failed (source 2)",
# fs/erofs/fscache.c), not with the daemon's errno.
failed_opens=$(stat_of open_failed)
m0=$work/mnt0
mkdir -p "$m0"
mounts+=("$m0")
if command -v python3 > /dev/null; then
	# mount(2) directly, to see the errno itself.
	errno=$(python3 -c '
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
rc = libc.mount(b"none", sys.argv[1].encode(), b"erofs", 0, b"fsid=no-such-blob")
print(0 if rc == 0 else ctypes.get_errno())' "$m0")
	echo "# mount(2) errno: $errno"
	check unknown.mount_fails test "$errno" != 0
	check unknown.mount_errno_is_eio_like_c test "$errno" = 5
else
	if mount -t erofs none -o fsid=no-such-blob "$m0" 2> "$work/mount.err"; then
		tap fail unknown.mount_fails "mount succeeded"
	else
		tap ok unknown.mount_fails
	fi
	check unknown.mount_errno_is_eio_like_c grep -q "can't read superblock" "$work/mount.err"
fi
mountpoint -q "$m0" && umount "$m0"
check unknown.daemon_refused_open test "$(stat_of open_failed)" -gt "${failed_opens:-0}"
check unknown.daemon_logged_enoent grep -q "no blob 'no-such-blob'; failing with ENOENT" "$dlog"

# --- case 3: chunked image with an extra blob device -----------------------------
m2=$work/mnt2
opens=$(stat_of open_ok)
if mount_erofs "$m2" fsid=img2,device=img2-data; then tap ok chunked.mount; else tap fail chunked.mount "$(cat "$work/mount.err")"; fi
if diff <(manifest "$work/src2") <(manifest "$m2") > "$work/diff"; then
	tap ok chunked.sha256_all_files_match
else
	tap fail chunked.sha256_all_files_match "$(head -20 "$work/diff")"
fi
check chunked.both_blobs_opened test "$(stat_of open_ok)" -ge $((opens + 2))
umount "$m2"

# --- case 4: two mounts sharing a domain -------------------------------------------
m3a=$work/mnt3a m3b=$work/mnt3b
ok=1
mount_erofs "$m3a" fsid=img3a,domain_id=cfrsdom || ok=0
mount_erofs "$m3b" fsid=img3b,domain_id=cfrsdom || ok=0
if [ $ok = 1 ]; then tap ok domain.two_mounts; else tap fail domain.two_mounts "$(cat "$work/mount.err")"; fi
if diff <(manifest "$work/src3a") <(manifest "$m3a") > "$work/diff" &&
	diff <(manifest "$work/src3b") <(manifest "$m3b") >> "$work/diff"; then
	tap ok domain.sha256_all_files_match
else
	tap fail domain.sha256_all_files_match "$(head -20 "$work/diff")"
fi
check domain.shared_volume_key grep -q "volume 'cfrsdom' blob 'img3b'" "$dlog"
umount "$m3a"
umount "$m3b"

# --- a second daemon cannot bind while the first holds the devnode ------------
if "$daemon" --cache-dir "$cache" --blobs "$blobs" 2> "$work/second.log"; then
	tap fail daemon.second_instance_fails "it started"
else
	check daemon.second_instance_fails_ebusy grep -q "EBUSY" "$work/second.log"
fi

# --- daemon stop ------------------------------------------------------------------
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
check daemon.sigterm_exit_0 test "$rc" = 0
check daemon.logs_summary grep -q "summary: OPEN" "$dlog"
check daemon.no_errors_logged test "$(grep -c ' ERROR ' "$dlog")" = 0
grep "summary:" "$dlog" | sed 's/^/# /'
grep " ERROR " "$dlog" | head -20 | sed 's/^/# /'
echo "# $(tr '\n' ' ' < "$stats")"

# --- case 5: --fd: the devnode is opened and bound by someone else ---------------
# A holder (this shell, fd 3) binds the cache; the daemon inherits fd 3 and
# sends `restore` instead of dir/tag/bind.
rm -f "$stats"
cache5=${CFRS_SCRATCH:-$work}/ondemand-cache5
mkdir -p "$cache5"
if exec 3<> /dev/cachefiles && printf 'dir %s' "$cache5" >&3 && printf 'bind ondemand' >&3; then
	tap ok inherited.holder_binds
else
	tap fail inherited.holder_binds
fi
"$daemon" --fd 3 --blobs "$blobs" --stats "$stats" --log-level debug 2> "$work/daemon5.log" &
pid=$!
wait_started "$pid"
check inherited.daemon_sends_restore grep -q "sent 'restore'" "$work/daemon5.log"
m5=$work/mnt5
if mount_erofs "$m5" fsid=img3a && diff <(manifest "$work/src3a") <(manifest "$m5") > "$work/diff"; then
	tap ok inherited.mount_and_sha256_match
else
	tap fail inherited.mount_and_sha256_match "$(cat "$work/mount.err" "$work/diff" "$work/daemon5.log" | head -20)"
fi
mountpoint -q "$m5" && umount "$m5"
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
check inherited.sigterm_exit_0 test "$rc" = 0
exec 3>&-

# --- case 6: the daemon dies (SIGKILL) while a filesystem is mounted -------------
# Its devnode and anon fds close: the cache goes DEAD and is withdrawn, so
# a read of data never fetched must fail (EIO), not hang, and umount works.
rm -f "$stats"
cache6=${CFRS_SCRATCH:-$work}/ondemand-cache6
mkdir -p "$cache6"
"$daemon" --cache-dir "$cache6" --blobs "$blobs" --stats "$stats" 2> "$work/daemon6.log" &
pid=$!
wait_started "$pid"
m6=$work/mnt6
if mount_erofs "$m6" fsid=img3b && cmp -s "$work/src3b/a/f1.txt" "$m6/a/f1.txt"; then
	tap ok killed.mount_and_first_read
else
	tap fail killed.mount_and_first_read "$(cat "$work/mount.err" "$work/daemon6.log" | head -20)"
fi
kill -KILL "$pid"
wait "$pid" 2>/dev/null
pid=
timeout 120 cat "$m6/random.bin" > /dev/null 2> "$work/cat.err"
rc=$?
echo "# read after daemon death: status $rc, $(cat "$work/cat.err")"
check killed.uncached_read_fails_without_hang test "$rc" != 0 -a "$rc" != 124
timeout 120 umount "$m6"
check killed.umount test $? = 0

echo "1..$n"
exit $failed
