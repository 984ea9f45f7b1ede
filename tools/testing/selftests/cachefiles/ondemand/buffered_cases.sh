# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
# Case 12 of ondemand_test.sh (sourced from it, not run alone): buffered
# backing I/O, which only cachefiles_rs has (`buffered [0|1]`, parameter
# buffered_io; see Documentation/ondemand.rst, "Buffered backing I/O").
# Every case name passes on both modules: where they differ, the case
# asserts each module's own behaviour (C: EOPNOTSUPP, direct I/O).
# Uses ondemand_test.sh's variables: work, scratch, blobs, stats, proto,
# daemon, is_rs, bparam.  No daemon may hold the devnode when it starts.

section buffered
dirty_kib() { sed -n 's/^Dirty: *\([0-9]*\) kB$/\1/p' /proc/meminfo; }

# --- the command: errnos before and after bind ---------------------------------
cacheB=$scratch/ondemand-cacheB
mkdir -p "$cacheB"
if [ -x "$proto" ]; then
	got=$("$proto" cmds /dev/cachefiles "dir $cacheB" "buffered 2" buffered "buffered 0" \
		"buffered 1" "bind ondemand" buffered | tr '\n' ' ')
	if [ $is_rs = 1 ]; then
		want="0 EINVAL 0 0 0 0 EBUSY "
	else
		want="0 EOPNOTSUPP EOPNOTSUPP EOPNOTSUPP EOPNOTSUPP 0 EOPNOTSUPP "
	fi
	check_eq buffered.command_errnos_rs_only "$want" "$got"
else
	tap fail buffered.command_errnos_rs_only "no $proto (make selftests)"
fi

# --- the module parameter: readable and settable at run time ------------------
if [ $is_rs = 1 ]; then
	was=$(cat "$bparam")
	echo 1 > "$bparam" && v1=$(cat "$bparam")
	echo 0 > "$bparam" && v0=$(cat "$bparam")
	echo "$was" > "$bparam"
	check_eq buffered.module_parameter_rs_only "Y N" "$v1 $v0"
else
	check_eq buffered.module_parameter_rs_only absent \
		"$([ -e /sys/module/cachefiles/parameters/buffered_io ] && echo present || echo absent)"
fi

# --- the daemon's --buffered (= require) ----------------------------------------
# rs: binds in buffered mode; C: the daemon says why and exits 1 unbound.
blog=$work/daemon-require.log
if daemon_start "$stats" "$blog" --cache-dir "$cacheB" --blobs "$blobs" --buffered; then
	started=yes
	daemon_stop "$DAEMON_PID"
else
	started=no
	wait "$DAEMON_PID" 2>/dev/null
	echo "# daemon --buffered exited $?: $(grep ERROR "$blog" | head -n1)"
fi
if [ $is_rs = 1 ]; then
	check_eq buffered.daemon_require_binds_on_rs_only yes "$started"
	check buffered.daemon_require_logs_outcome grep -q "sent 'buffered 1'" "$blog"
else
	check_eq buffered.daemon_require_binds_on_rs_only no "$started"
	check buffered.daemon_require_logs_outcome grep -q "EOPNOTSUPP.*C cachefiles.ko" "$blog"
fi

# --- a fill read back before writeback, then a clean unbind and a re-bind ------
# Periodic writeback is held off meanwhile, so on rs the filled data stays
# dirty in the backing page cache: the reads that follow each READ find it
# with SEEK_DATA (else they would fail with EIO), and a re-read after
# drop_caches (which drops only clean pages: EROFS's, not the dirty backing
# ones) is served from it without a READ.  On C (direct I/O) the same reads
# work and nothing stays dirty.
make_tree "$work/srcB" bee 1024
mkfs.erofs --quiet "$blobs/imgB" "$work/srcB" > /dev/null
vm=/proc/sys/vm
expire=$(cat $vm/dirty_expire_centisecs) wbint=$(cat $vm/dirty_writeback_centisecs)
restore_writeback() {
	echo "$expire" > $vm/dirty_expire_centisecs
	echo "$wbint" > $vm/dirty_writeback_centisecs
}
od_cleanup_hook restore_writeback
sync
echo 0 > $vm/dirty_writeback_centisecs
echo 360000 > $vm/dirty_expire_centisecs
cacheF=$scratch/ondemand-cacheF
mkdir -p "$cacheF"
mB=$work/mntB
daemon_start "$stats" "$work/daemonB.log" --cache-dir "$cacheF" --blobs "$blobs" --buffered=try
pid=$DAEMON_PID
if mount_erofs "$mB" fsid=imgB; then tap ok buffered.mount; else tap fail buffered.mount "$(cat "$work/mount.err")"; fi
# The mount made the volume's 257 directories and the cache file: write
# that metadata back now, so that only the fill counts below.
sync
d0=$(dirty_kib)
same_tree buffered.fill_read_back_sha256_match "$work/srcB" "$mB"
r1=$(stat_of read)
check buffered.fill_went_through_reads test "${r1:-0}" -gt 0
# rs (buffered) takes splice(2) into the anon fd; C refuses it (EINVAL).
if [ $is_rs = 1 ]; then
	check buffered.daemon_fills_by_splice_on_rs_only grep -q "filling cache files with splice" "$work/daemonB.log"
else
	check buffered.daemon_fills_by_splice_on_rs_only grep -q "filling with pread + pwrite" "$work/daemonB.log"
fi
d1=$(dirty_kib)
echo 3 > /proc/sys/vm/drop_caches
same_tree buffered.reread_after_drop_caches_sha256_match "$work/srcB" "$mB"
check_eq buffered.reread_after_drop_caches_no_new_read "$r1" "$(stat_of read)"
d2=$(dirty_kib)
echo "# Dirty: $d0 kB before the fill, $d1 kB after it, $d2 kB after the re-read"
# rs (buffered): at least half of the 1 MiB file still dirty after the
# re-read; C (direct): less than that dirtied at all.
if [ $is_rs = 1 ]; then
	check buffered.filled_data_dirty_until_writeback_on_rs_only test $((d2 - d0)) -ge 512
else
	check buffered.filled_data_dirty_until_writeback_on_rs_only test $((d1 - d0)) -lt 512
fi

# The backing filesystem itself: SEEK_DATA/SEEK_HOLE see a dirty page
# (written, not written back).  ext4 here, xfs when mkfs.xfs exists.
seek_probe() { # seek_probe DIR: "DATA HOLE" of a 1 MiB sparse file with one dirty page at 64 KiB
	local f=$1/seek-probe
	rm -f "$f"
	truncate -s 1M "$f"
	dd if=/dev/urandom of="$f" bs=4096 seek=16 count=1 conv=notrunc status=none
	echo "$("$proto" seek "$f" 0 data) $("$proto" seek "$f" 65536 hole)"
	rm -f "$f"
}
check_eq buffered.ext4_seek_data_sees_dirty_page "65536 69632" "$(seek_probe "$scratch")"
if command -v mkfs.xfs > /dev/null; then
	truncate -s 320M "$work/xfs.img"
	mkdir -p "$work/xfs"
	if mkfs.xfs -q "$work/xfs.img" && mount -o loop "$work/xfs.img" "$work/xfs"; then
		check_eq buffered.xfs_seek_data_sees_dirty_page "65536 69632" "$(seek_probe "$work/xfs")"
		umount "$work/xfs"
	else
		tap fail buffered.xfs_seek_data_sees_dirty_page "cannot make or mount xfs"
	fi
	rm -f "$work/xfs.img"
else
	echo "ok $((n += 1)) buffered.xfs_seek_data_sees_dirty_page # SKIP no mkfs.xfs"
fi

# umount withdraws the objects (rs buffered: fdatasync, then xattr and
# link); stopping the daemon unbinds.  The files must hold the data.
umount "$mB"
check buffered.umount test $? = 0
daemon_stop "$pid"
check_eq buffered.daemon_sigterm_exit_0 0 $?
restore_writeback
f=$(find "$cacheF/cache" -name DimgB 2> /dev/null | head -n1)
check buffered.cache_file_linked test -n "$f"
check_eq buffered.cache_file_starts_with_data 0 "$("$proto" seek "$f" 0 data)"
daemon_start "$stats" "$work/daemonB2.log" --cache-dir "$cacheF" --blobs "$blobs" --buffered=try
pid=$DAEMON_PID
echo 3 > /proc/sys/vm/drop_caches
if mount_erofs "$mB" fsid=imgB; then tap ok buffered.remount; else tap fail buffered.remount "$(cat "$work/mount.err")"; fi
same_tree buffered.rebind_sha256_match "$work/srcB" "$mB"
check_eq buffered.rebind_served_with_zero_reads 0 "$(stat_of read)"
umount "$mB"
daemon_stop "$pid"
check_eq buffered.rebind_daemon_sigterm_exit_0 0 $?
