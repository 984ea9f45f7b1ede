#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Large-file test of cachefiles on-demand mode (TAP): an EROFS image
# holding one file of random bytes (64 MiB by default) plus a few small
# files, served by tools/cachefiles-ondemandd.  Meant for the release
# kernel (cold on-demand reads run at ~1-2 MB/s on the TCG debug kernel,
# ~50 MB/s on the release one); not part of ondemand_test.sh:
#
#   scripts/vm-run --kernel release --module c -- \
#       tools/testing/selftests/cachefiles/ondemand/big_test.sh
#
# Checks: sha256 of every file equals the source (cold, through READs);
# the bytes served cover the whole file; re-read after drop_caches and
# after a remount with zero new READ requests and the same sha256; the
# cache file holds the data (its allocated size covers the file).
# Env: CFRS_BIG_MIB (default 64) size of the big file.

. "$(dirname "$0")/lib.sh"
od_init big
od_require root daemon mkfs devnode
mib=${CFRS_BIG_MIB:-64}
echo "# backend ${CFRS_MODULE_NAME:-?}, daemon $daemon, $mib MiB file"

scratch=${CFRS_SCRATCH:-$work}
cache=$scratch/big-cache
blobs=$work/blobs
stats=$work/stats
src=$work/src
mnt=$work/mnt
mkdir -p "$cache" "$blobs" "$src/small"

head -c $((mib * 1024 * 1024)) /dev/urandom > "$src/big.bin"
for i in 1 2 3; do echo "small $i" > "$src/small/f$i"; done
head -c 5000 /dev/urandom > "$src/small/odd-size"
mkfs.erofs --quiet "$blobs/big" "$src" > /dev/null
check setup.mkfs_erofs test "$(stat -c %s "$blobs/big")" -ge $((mib * 1024 * 1024))

if daemon_start "$stats" "$work/daemon.log" --cache-dir "$cache" --blobs "$blobs" --tag cfrs-big; then
	tap ok daemon.binds_cache
else
	tap fail daemon.binds_cache "$(cat "$work/daemon.log")"
	tap_done
fi
pid=$DAEMON_PID

if mount_erofs "$mnt" fsid=big; then tap ok big.mount; else tap fail big.mount "$(cat "$work/mount.err")"; fi
echo 3 > /proc/sys/vm/drop_caches
t0=$(date +%s%N)
sum=$(sha256sum < "$mnt/big.bin")
ms=$((($(date +%s%N) - t0) / 1000000))
echo "# cold read of $mib MiB: $ms ms ($((mib * 1000 / (ms + 1))) MiB/s), $(stat_of read) READs"
check_eq big.cold_sha256_matches "$(sha256sum < "$src/big.bin")" "$sum"
same_tree big.sha256_all_files_match "$src" "$mnt"
check big.reads_served test "$(stat_of read)" -gt 0
check big.bytes_served_cover_the_file test "$(stat_of bytes)" -ge $((mib * 1024 * 1024))

reads=$(stat_of read)
echo 3 > /proc/sys/vm/drop_caches
t0=$(date +%s%N)
sum=$(sha256sum < "$mnt/big.bin")
ms=$((($(date +%s%N) - t0) / 1000000))
echo "# warm read (from the cache file): $ms ms ($((mib * 1000 / (ms + 1))) MiB/s)"
check_eq big.reread_sha256_matches "$(sha256sum < "$src/big.bin")" "$sum"
check_eq big.reread_no_new_read "$reads" "$(stat_of read)"

umount "$mnt"
check big.umount test $? = 0
cfile=$(find "$cache/cache/Ierofs,big" -name Dbig 2>/dev/null | head -n1)
alloc=$([ -n "$cfile" ] && du -B1 "$cfile" | cut -f1)
echo "# cache file $cfile: $(stat -c %s "$cfile" 2>/dev/null) bytes, $alloc allocated"
check big.cache_file_holds_the_data test "${alloc:-0}" -ge $((mib * 1024 * 1024))

if mount_erofs "$mnt" fsid=big; then tap ok big.remount; else tap fail big.remount "$(cat "$work/mount.err")"; fi
echo 3 > /proc/sys/vm/drop_caches
same_tree big.remount_sha256_all_files_match "$src" "$mnt"
check_eq big.remount_no_new_read "$reads" "$(stat_of read)"
umount "$mnt"

daemon_stop "$pid"
check_eq daemon.sigterm_exit_0 0 $?
check_eq daemon.no_errors 0 "$(stat_of errors)"
echo "# $(tr '\n' ' ' < "$stats")"
tap_done
