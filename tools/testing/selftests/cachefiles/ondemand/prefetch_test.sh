#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The daemon's --prefetch and --workers (issue 11 item 4), with EROFS over
# either backend (TAP).  Not part of ondemand_test.sh:
#
#   scripts/vm-run --kernel debug --module c|rs -- \
#       tools/testing/selftests/cachefiles/ondemand/prefetch_test.sh
#
# For --workers 1 and --workers 2, each with --prefetch: a fresh image is
# mounted; the daemon fills the whole blob in the background (its stats
# line prefetched= reaches the blob size); then every file reads back with
# the right sha256 and without a single READ request more (the kernel
# finds the data the fill wrote); the fill went through pread + pwrite
# after copy_file_range was refused (logged once); the daemon exits 0
# with no errors.  Then, without --prefetch, N workers: many files read
# by parallel readers, right bytes, no errors.
# Kept small: cold reads run at ~1-2 MB/s on the TCG debug kernel.

. "$(dirname "$0")/lib.sh"
od_init prefetch
od_require root daemon mkfs devnode
echo "# backend ${CFRS_MODULE_NAME:-?}, daemon $daemon"
scratch=${CFRS_SCRATCH:-$work}
blobs=$work/blobs
mkdir -p "$blobs"

for w in 1 2; do
	src=$work/src$w mnt=$work/mnt$w cache=$scratch/prefetch-cache$w
	stats=$work/stats$w log=$work/daemon$w.log
	mkdir -p "$cache"
	make_tree "$src" "prefetch$w" 1024
	mkfs.erofs --quiet "$blobs/pf$w" "$src" > /dev/null
	size=$(stat -c %s "$blobs/pf$w")
	daemon_start "$stats" "$log" --cache-dir "$cache" --blobs "$blobs" \
		--workers "$w" --prefetch --log-level debug
	pid=$DAEMON_PID
	check "w$w.daemon_starts" grep -q "serving blobs" "$log"
	if mount_erofs "$mnt" "fsid=pf$w"; then tap ok "w$w.mount"; else tap fail "w$w.mount" "$(cat "$work/mount.err")"; fi
	for _ in $(seq 1 600); do [ "$(stat_of prefetched)" = "$size" ] && break; sleep 0.1; done
	check_eq "w$w.prefetch_fills_whole_blob" "$size" "$(stat_of prefetched)" "$(grep -E 'prefetch|ERROR' "$log" | head)"
	r0=$(stat_of read)
	same_tree "w$w.sha256_all_files_match" "$src" "$mnt"
	check_eq "w$w.no_read_after_prefetch" "$r0" "$(stat_of read)"
	check "w$w.fill_method_logged" grep -q "copy_file_range" "$log"
	grep "copy_file_range" "$log" | sed 's/^/# /'
	umount "$mnt"
	daemon_stop "$pid"
	check_eq "w$w.sigterm_exit_0" 0 $?
	check_eq "w$w.no_errors" 0 "$(stat_of errors)"
	echo "# $(tr '\n' ' ' < "$stats")"
done

# Parallel readers, N workers, no prefetch: every READ answered right.
src=$work/srcp mnt=$work/mntp cache=$scratch/prefetch-cachep stats=$work/statsp log=$work/daemonp.log
mkdir -p "$cache" "$src"
for i in $(seq 1 8); do head -c $((96 * 1024 + i * 4097)) /dev/urandom > "$src/f$i"; done
mkfs.erofs --quiet "$blobs/par" "$src" > /dev/null
daemon_start "$stats" "$log" --cache-dir "$cache" --blobs "$blobs" --workers 4 --log-level debug
pid=$DAEMON_PID
check par.four_workers grep -q "READs by 4 worker threads" "$log"
mount_erofs "$mnt" fsid=par || tap fail par.mount "$(cat "$work/mount.err")"
readers=()
for i in $(seq 1 8); do
	(cmp -s "$src/f$i" "$mnt/f$i"; echo $? > "$work/cmp$i") &
	readers+=($!)
done
# The readers only: a bare `wait` would wait for the daemon too.
wait "${readers[@]}"
bad=0
for i in $(seq 1 8); do [ "$(cat "$work/cmp$i")" = 0 ] || bad=$((bad + 1)); done
check_eq par.eight_parallel_readers_right_bytes 0 "$bad"
check par.reads_served test "$(stat_of read)" -gt 8
umount "$mnt"
daemon_stop "$pid"
check_eq par.sigterm_exit_0 0 $?
check_eq par.no_errors 0 "$(stat_of errors)"
echo "# $(tr '\n' ' ' < "$stats")"
tap_done
