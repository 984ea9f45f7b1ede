#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# ninep_faults.sh: the backing device of a normal-mode cache fails under a
# network filesystem (9p, cache=fscache) that uses it; C cachefiles.ko or
# cachefiles_rs.ko (run under scripts/vm-run):
#
#   scripts/netfs-9p debug      # once, on the host: builds 9pfsc.ko
#   scripts/vm-run --kernel debug --module c|rs -- \
#       tools/testing/selftests/cachefiles/normal/ninep_faults.sh
#
# The cache is on ext4 (errors=continue) on a device-mapper linear device
# over a loop file, bound by a shell binder (lib-9p.sh); the 9p export is
# on the scratch filesystem, served by diod.  Files are read once (cached)
# and again from the cache; then the device's table is switched to the
# `error` target with the 9p mount in use.  As C 6.12 (io.c, namei.c):
#
#   * a failed read of a backing file is only traced: netfs gets the error
#     (netfs 6.12 does not fall back to the server: the reader gets EIO)
#     and the cache stays up;
#   * a file never read needs a new object, whose lookup in the cache's
#     directories fails: "CacheFiles: I/O Error: Lookup failed [o=...]",
#     "Cache '<tag>' stopped due to I/O error", the cache's state E; the
#     file is read right from the server; devnode commands fail with EIO;
#   * the netfs goes on without its cache: files of the mount in use and of
#     a new mount read right from the server, nothing is read from or
#     written to the cache; umount withdraws the objects without hanging;
#   * unbind, the table back to linear, rmmod and insmod work, and a fresh
#     cache on another directory caches and serves again.
#
# Kernel messages expected here (EXT4-fs error, Buffer I/O error, JBD2,
# CacheFiles I/O Error) do not match vm-run's splat patterns; the last case
# checks that no splat appeared meanwhile.
. "$(dirname "$0")/../ondemand/lib.sh"
. "$(dirname "$0")/lib-9p.sh"

od_require root devnode diod sha256sum python3 dmsetup losetup blockdev mkfs.ext4
ninep_ko_or_skip
ko=$ninep_ko

od_init ninep-faults
# No udev in the guest: libdevmapper makes its nodes itself.
export DM_DISABLE_UDEV=1
export_dir=${CFRS_SCRATCH:-$work}/ninep-export
mnt=$work/mnt
port=5641
bind_tag=ninep-io
mkdir -p "$export_dir" "$mnt"

od_cleanup_hook ninep_faults_cleanup
ninep_faults_cleanup() {
	umount_9p
	unbind_cache
	ninep_cleanup_common
}
# read_checked NAME FILE: reads FILE through 9p whole; sets res to the
# result ("0 BYTES" or "ERRNO OFFSET" or TIMEOUT), prints it with the
# counters' deltas.
read_checked() {
	local s
	s=$(snap)
	res=$(read_result "$mnt/$2" 120)
	read -r r w _ _ _ l <<< "$(delta "$s" "$(snap)")"
	echo "# figures $1: read of $2: $res; IO rd=$r wr=$w; loopback rx $l bytes"
}

section "module $CFRS_MODULE, 9pfsc $ko"
kmark ninep-faults
check insmod_9pfsc insmod "$ko"
for f in cached1 cached2 fresh1 fresh2; do
	head -c $((1 << 20)) /dev/urandom > "$export_dir/$f"
done
head -c 5000 /dev/urandom > "$export_dir/small"
imnt=$work/io-fs
ok=0
dm_ext4_start "cfrs-ninep-$$" "$work/dm.img" 64 "$imnt" && ok=1
check ext4_on_dm_linear test $ok = 1
cache_dir=$imnt/fscache
mkdir -p "$cache_dir"
check diod diod_start
check bind bind_cache
check_eq cache_active A "$(cache_state "$bind_tag")"
check mount mount_9p

section "the cache works on the healthy device"
for f in cached1 cached2 small; do
	check_file "first_read_$f" "$f"
done
sync
s=$(snap)
dropc
for f in cached1 cached2 small; do
	check_file "second_read_$f" "$f"
done
read -r r w _ _ _ l <<< "$(delta "$s" "$(snap)")"
echo "# figures second read: IO rd=$r wr=$w; loopback rx $l bytes"
check second_read_from_cache [ "$r" -gt 0 ]
check second_read_few_server_bytes [ "$l" -lt $((256 << 10)) ]
sync -f "$imnt"

section "the device fails"
kmark ninep-switched
if dm_table error; then tap ok switch_to_error_target; else tap fail switch_to_error_target; fi
echo "# $(dmsetup table "$dm_name")"
dropc
# Data in the cache, on a device that fails: the cache read fails with EIO,
# netfs hands it to the reader; the cache stays up.
read_checked cached_read cached1
check cached_read_no_hang test "$res" != TIMEOUT
check_eq cached_read_errno EIO "${res%% *}"
echo "# cache state after the failed cache read: $(cache_state "$bind_tag"); $(klog_since ninep-switched | grep -c "I/O Error") I/O Error messages"
check_eq read_error_leaves_cache_active A "$(cache_state "$bind_tag")"
# A file never read: its object's lookup fails and kills the cache; the
# file is downloaded from the server, read right.
kmark ninep-lookup
read_checked uncached_read fresh1
check_eq uncached_read_whole "0 $((1 << 20))" "$res"
check_file uncached_read_sha256 fresh1
klog_wait ninep-lookup "stopped due to I/O error"
klog_summary ninep-switched "CacheFiles|cachefiles|FS-Cache|netfs|9p|EXT4|JBD2|Buffer I/O|I/O error"
ioe=$(klog_since ninep-lookup | grep "I/O Error" | sed 's/^\[[^]]*\] //')
echo "$ioe" | head -3 | sed 's/^/# /'
check_eq dmesg_one_io_error 1 "$(grep -c . <<< "$ioe")"
check dmesg_io_error_lookup grep -q "I/O Error: Lookup failed \[o=[0-9a-f]\{8\}\]" <<< "$ioe"
check dmesg_cache_stopped grep -q "Cache '$bind_tag' stopped due to I/O error" <<< "$(klog_since ninep-lookup)"
check_eq cache_state_after_lookup_error E "$(cache_state "$bind_tag")"
check_eq devnode_command_on_dead_cache "Input/output error" "$(bind_cmd "brun 50%")"
probes=$(ext4_give_up "$imnt")
echo "# ext4 refused a new file after $probes probe(s); $(grep " $imnt " /proc/mounts)"
check ext4_gave_up test "$probes" -lt 30
dropc
# A file cached before, with the cache dead: from the server, right.
s=$(snap)
check_file dead_cache_cached_file_sha256 cached2
read -r r w _ _ _ l <<< "$(delta "$s" "$(snap)")"
echo "# figures cached file, cache dead: IO rd=$r wr=$w; loopback rx $l bytes"
check_eq dead_cache_cached_file_from_server "0 0" "$r $w"

section "withdrawal"
timeout 60 umount "$mnt"
check umount test $? = 0
check_eq cache_state_after_umount E "$(cache_state "$bind_tag")"

section "the netfs without its cache"
check mount_on_dead_cache mount_9p
s=$(snap)
for f in cached1 fresh1 fresh2 small; do
	check_file "dead_cache_read_$f" "$f"
done
sync
read -r r w _ _ _ l <<< "$(delta "$s" "$(snap)")"
echo "# figures reads with the cache dead: IO rd=$r wr=$w; loopback rx $l bytes"
check_eq dead_cache_not_used "0 0" "$r $w"
check dead_cache_reads_from_server [ "$l" -ge $((3 << 20)) ]
umount "$mnt"

section "recovery"
check unbind unbind_cache
wait_cache_gone "$bind_tag"
check_eq cache_gone_after_unbind none "$(cache_state "$bind_tag")"
if dm_table linear; then tap ok switch_back_to_linear; else tap fail switch_back_to_linear; fi
timeout 60 umount "$imnt"
check umount_backing_fs test $? = 0
dm_cleanup
check_reload rmmod_insmod
cache_dir=${CFRS_SCRATCH:-$work}/ninep-fresh-cache
bind_tag=ninep-fresh
mkdir -p "$cache_dir"
check bind_fresh_cache bind_cache
check mount_fresh mount_9p
s=$(snap)
check_file fresh_cache_first_read fresh2
sync
dropc
check_file fresh_cache_second_read fresh2
read -r r w _ _ _ l <<< "$(delta "$s" "$(snap)")"
echo "# figures fresh cache: IO rd=$r wr=$w"
check fresh_cache_used test "$r" -gt 0 -a "$w" -gt 0
umount "$mnt"
check unbind_fresh unbind_cache
check_no_splat no_kernel_splat ninep-faults
section "done"
tap_done
