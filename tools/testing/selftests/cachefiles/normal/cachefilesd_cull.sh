#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# cachefilesd_cull.sh: Debian's cachefilesd (the package's /sbin/cachefilesd,
# unchanged) binds a normal-mode cache of the loaded module (C cachefiles.ko
# or cachefiles_rs.ko) on a small ext4 and culls it while a 9p mount
# (cache=fscache, as in ninep_smoke.sh) fills it (run under scripts/vm-run):
#
#   scripts/netfs-9p debug      # once, on the host: builds 9pfsc.ko
#   scripts/vm-run --kernel debug --module c|rs -- \
#       tools/testing/selftests/cachefiles/normal/cachefilesd_cull.sh
#
# The cache directory is on a CULL_CACHE_MIB (64) MiB ext4 (a loop file on
# the guest's scratch); cachefilesd runs with `-n -s -ddd -f CONF` (under
# `setarch -R`: see cfd_start) and the limits brun 60%, bcull 45%, bstop 25%
# (frun/fcull/fstop 10/7/3%).  Every
# file read through 9p is new (CULL_FILE_KIB, 2048 KiB of random data) and
# its sha256 must equal the export's.  What cachefilesd read from the devnode
# ("KERNEL: cull=C ... brun=X bcull=X bstop=X ..." in its debug output) is
# the kernel's culling state.
#
#  1. Read files (dropping the caches after every 4, so that their objects
#     are withdrawn and their files linked into the cache) until the kernel
#     says cull=1 (free space below bcull; no more reads from then on);
#     cachefilesd then culls until it says cull=0.  Checks: free space is back above brun, files have
#     disappeared from the cache directory, and fscache's "NoSpace cull=" grew
#     by the number of files that disappeared.
#  2. Read files and keep them open (objects in use: nothing to cull) until
#     the kernel refuses space ("NoSpace nwr=/ncr=" grow: past bstop); two
#     more new files read right but are not cached (no space used; after
#     drop_caches they come from the server again) and the state says cull=1.
#  3. Close them: cachefilesd culls again down to brun (cull=0), and new
#     files are cached again (written to the cache, read back from it).
#  4. cachefilesd exits 0 at SIGTERM, the devnode is free, all unmounted.
#
# Environment: NINEP_KO, CULL_CACHE_MIB, CULL_FILE_KIB.
. "$(dirname "$0")/../ondemand/lib.sh"
. "$(dirname "$0")/lib-9p.sh"

od_require root devnode diod sha256sum cachefilesd setarch mkfs.ext4 losetup
ninep_ko_or_skip
od_init cull

scratch=${CFRS_SCRATCH:-$work}
export_dir=$scratch/cull-export
img=$scratch/cull-cache.img
cachefs=$work/cachefs
cache_dir=$cachefs/fscache
mnt=$work/mnt
port=5641
conf=$work/cachefilesd.conf
dlog=$work/cachefilesd.log
fsize=$((${CULL_FILE_KIB:-2048} << 10))
rm -rf "$export_dir"
mkdir -p "$export_dir" "$cachefs" "$mnt"

# --- helpers ---------------------------------------------------------------------
cfd_pid=""
# cachefilesd 0.10.10 runs without address-space randomization (setarch -R,
# which execs it: $! stays its pid).  Its decant_cull_table() ends with a
# poison check meant for 32-bit pointers: it calls abort() when bits 28-31 of
# any pointer in the cull table are 6 ((ptr & 0xf0000000) == 0x60000000).
# On x86-64 that holds for a valid heap pointer whenever the randomized heap
# lands in such a window: about 1 start in 16, with either module, SIGABRT
# right after its first "Decant".  Without randomization the heap sits at
# 0x5555555xxxxx (bits 28-31 = 5), so the check cannot fire.
cfd_start() { # cfd_start: cachefilesd in the foreground (in the background of this shell)
	setarch "$(uname -m)" -R cachefilesd -ddd -s -n -f "$conf" -p "$work/cachefilesd.pid" >> "$dlog" 2>&1 &
	cfd_pid=$!
	# Bound when the kernel made the cache's directories; then give it
	# a few seconds to read the state.
	wait_ready "$cfd_pid" 10 test -d "$cache_dir/graveyard" || return 1
	wait_ready "$cfd_pid" 5 have_state
	kill -0 "$cfd_pid" 2>/dev/null
}
cfd_stop() { # cfd_stop: SIGTERM; returns cachefilesd's exit status
	local rc
	kill -TERM "$cfd_pid" 2>/dev/null
	wait_gone "$cfd_pid" 20 || kill -KILL "$cfd_pid" 2>/dev/null
	wait "$cfd_pid"
	rc=$?
	cfd_pid=""
	return "$rc"
}
kstate() { grep -a -o 'KERNEL: cull=.*' "$dlog" 2>/dev/null | tail -n 1; }
kfield() { # kfield NAME: a field of the last state read (hex -> decimal)
	local v
	v=$(kstate | sed -n "s/.*[ ]$1=\([0-9a-f]*\).*/\1/p")
	echo $((16#${v:-0}))
}
have_state() { [ -n "$(kstate)" ]; }
kcull() { kstate | sed -n 's/^KERNEL: cull=\(.\).*/\1/p'; }
wait_cull() { # wait_cull 0|1 SECONDS: until the last state read says cull=$1
	local i
	for i in $(seq 1 $(($2 * 5))); do
		[ "$(kcull)" = "$1" ] && return 0
		sleep 0.2
	done
	return 1
}
avail() { sync; stat -f -c %a "$cachefs"; } # free blocks (the kernel's f_bavail)
used_mib() { echo $(($(used_kib "$cachefs") / 1024)); }
nfiles() { find "$cache_dir/cache" -type f | wc -l; }
nospace() { echo $(($(fsstat NoSpace nwr) + $(fsstat NoSpace ncr))); }

n_read=0 bytes_read=0 bad=0
new_file() { # new_file: one more file on the export, read through 9p; sets $f
	n_read=$((n_read + 1))
	f=f$n_read
	head -c "$fsize" /dev/urandom > "$export_dir/$f"
	sha256sum < "$export_dir/$f" > "$work/sum.$f"
	reread "$f"
}
reread() { # reread F: F through 9p, checked against the export's sha256
	local got
	got=$(sha256sum < "$mnt/$1")
	bytes_read=$((bytes_read + fsize))
	[ "$got" = "$(cat "$work/sum.$1")" ] && return 0
	bad=$((bad + 1))
	echo "# $1 read through 9p differs from the export"
}
held=()
hold() { local fd; exec {fd}< "$mnt/$1"; held+=("$fd"); }
release_all() {
	local fd
	for fd in "${held[@]}"; do exec {fd}<&-; done
	held=()
}

od_cleanup_hook cull_cleanup
cull_cleanup() {
	release_all
	umount_9p
	[ -z "$cfd_pid" ] || cfd_stop
	! mountpoint -q "$cachefs" || umount "$cachefs"
	ninep_cleanup_common
	rm -rf "$img" "$export_dir"
}

# --- setup -------------------------------------------------------------------------
section "module $CFRS_MODULE, 9pfsc $ninep_ko, $(cachefilesd -v 2>&1 | head -n 1)"
check insmod_9pfsc insmod "$ninep_ko"
check cache_fs_mkfs eval 'truncate -s "${CULL_CACHE_MIB:-64}M" "$img" && mkfs.ext4 -q -F -m 0 -b 4096 "$img"'
check cache_fs_mount mount -o loop "$img" "$cachefs"
mkdir -p "$cache_dir"
cat > "$conf" << EOF
# cachefilesd_cull.sh
dir $cache_dir
tag cull
brun 60%
bcull 45%
bstop 25%
frun 10%
fcull 7%
fstop 3%
EOF
check diod diod_start
check cachefilesd_binds cfd_start
echo "# state read by cachefilesd: $(kstate)"
total=$(stat -f -c %b "$cachefs")
brun=$(kfield brun) bcull=$(kfield bcull) bstop=$(kfield bstop)
echo "# cache filesystem: $total blocks of 4 KiB, $(avail) free; brun=$brun bcull=$bcull bstop=$bstop blocks"
check_eq limits_brun $((total / 100 * 60)) "$brun"
check_eq limits_bstop $((total / 100 * 25)) "$bstop"
check_eq state_not_culling 0 "$(kcull)"
check mount mount_9p

# --- 1. fill past bcull: cachefilesd culls ------------------------------------------
section "1. fill past bcull"
s_wr=$(fsstat IO wr) s_cull=$(fsstat NoSpace cull) s_nospace=$(nospace)
peak=0
# Stop reading at the first file during which the kernel asked for culling:
# a cache write after cachefilesd's last cull may take the free space below
# brun again without going below bcull, which leaves culling off (as it
# should); the checks below want the filesystem as culling left it.
for k in $(seq 1 48); do
	new_file
	u=$(used_mib) # (syncs: netfs writes the cache at writeback)
	[ "$u" -le "$peak" ] || peak=$u
	grep -a -q 'KERNEL: cull=1' "$dlog" && break
	[ $((k % 4)) != 0 ] || dropc
done
n1=$n_read
check p1_cull_started grep -a -q 'KERNEL: cull=1' "$dlog"
check p1_cull_ended wait_cull 0 180
dropc
sleep 2
present=$(nfiles)
culled=$((n1 - present))
d_cull=$(($(fsstat NoSpace cull) - s_cull))
after=$(used_mib)
echo "# figures 1: $n1 files read ($((n1 * fsize)) bytes), cache usage peak $peak MiB -> $after MiB;" \
	"files in the cache: $present, culled $culled; NoSpace cull=+$d_cull; free $(avail) blocks (brun $brun)"
check_eq p1_reads_match 0 "$bad"
check p1_cache_written [ $(($(fsstat IO wr) - s_wr)) -gt 0 ]
check_eq p1_no_space_refused 0 $(($(nospace) - s_nospace))
check p1_files_culled [ "$culled" -gt 0 ]
check_eq p1_stats_culled "$culled" "$d_cull"
check p1_above_brun [ "$(avail)" -ge "$brun" ]
check p1_usage_dropped [ "$after" -lt "$peak" ]

# --- 2. past bstop with everything in use: caching stops -------------------------------
section "2. fill past bstop, files kept open"
s_nospace=$(nospace)
for k in $(seq 1 40); do
	new_file
	hold "$f"
	sync
	[ "$(nospace)" = "$s_nospace" ] || break
done
n2=$((n_read - n1))
check p2_stop_reached [ "$(nospace)" -gt "$s_nospace" ]
echo "# figures 2: $n2 files read and kept open; used $(used_mib) MiB, free $(avail) blocks (bstop $bstop); state: $(kstate)"
# Two more files: read right, not cached.
s_nospace=$(nospace) u0=$(used_kib "$cachefs") s_wr=$(fsstat IO wr)
new_file
hold "$f"
new_file
hold "$f"
sync
d_used=$(($(used_kib "$cachefs") - u0))
d_nospace=$(($(nospace) - s_nospace))
echo "# figures 2: 2 files past bstop: cache filesystem +$d_used KiB, IO wr +$(($(fsstat IO wr) - s_wr)), NoSpace nwr+ncr +$d_nospace"
check_eq p2_reads_match 0 "$bad"
check p2_not_cached_space [ "$d_used" -lt 512 ]
check p2_refused_counted [ "$d_nospace" -gt 0 ]
check_eq p2_state_culling 1 "$(kcull)"
check p2_below_bcull [ "$(avail)" -lt "$bcull" ]
dropc
lo0=$(lo_bytes)
reread "f$((n_read - 1))"
reread "f$n_read"
d_lo=$(($(lo_bytes) - lo0))
echo "# figures 2: re-read of the 2 files after drop_caches: $d_lo bytes on the loopback"
check p2_uncached_from_server [ "$d_lo" -ge $((2 * fsize)) ]

# --- 3. release: cachefilesd culls again, caching resumes ------------------------------
section "3. files closed: culling, caching resumes"
s_cull=$(fsstat NoSpace cull)
release_all
dropc
check p3_cull_ended wait_cull 0 180
echo "# figures 3: used $(used_mib) MiB, free $(avail) blocks (brun $brun); NoSpace cull=+$(($(fsstat NoSpace cull) - s_cull)); state: $(kstate)"
check p3_above_brun [ "$(avail)" -ge "$brun" ]
check p3_culled_counted [ $(($(fsstat NoSpace cull) - s_cull)) -gt 0 ]
s_nospace=$(nospace) u0=$(used_kib "$cachefs") s_wr=$(fsstat IO wr)
new_file
new_file
sync
d_used=$(($(used_kib "$cachefs") - u0))
echo "# figures 3: 2 new files: cache filesystem +$d_used KiB, IO wr +$(($(fsstat IO wr) - s_wr))"
check p3_cached_again [ "$d_used" -ge $((2 * fsize / 1024)) ]
check_eq p3_no_space_refused 0 $(($(nospace) - s_nospace))
dropc
lo0=$(lo_bytes) s_rd=$(fsstat IO rd)
reread "f$((n_read - 1))"
reread "f$n_read"
d_lo=$(($(lo_bytes) - lo0))
echo "# figures 3: re-read after drop_caches: IO rd +$(($(fsstat IO rd) - s_rd)), $d_lo bytes on the loopback"
check p3_read_from_cache [ "$d_lo" -lt $((fsize / 2)) ]
check_eq p3_reads_match 0 "$bad"

# --- 4. the end ----------------------------------------------------------------------
section "4. SIGTERM"
check umount umount_9p
check cachefilesd_sigterm_exit_0 cfd_stop
check devnode_released devnode_free 10
check cache_fs_umount umount "$cachefs"
check_eq nothing_mounted "" "$(grep -F -e "$cachefs" -e "$mnt" /proc/mounts)"
states=$(grep -a -o 'KERNEL: cull=.' "$dlog" | sed 's/KERNEL: cull=//' | uniq | tr -d '\n')
echo "# figures: $n_read files read through 9p ($bytes_read bytes with the re-reads), all checked;" \
	"cull states read by cachefilesd (changes): $states"
if [ "$failed" != 0 ] || [ "${CULL_VERBOSE:-0}" = 1 ]; then
	echo "# cachefilesd's log (states, culls, last lines):"
	grep -a -E 'KERNEL:|CULL|cull |Scanning|Daemon|rror' "$dlog" | uniq -c | tail -n 60 | sed 's/^/#   /'
	tail -n 20 "$dlog" | sed 's/^/#   /'
fi
section "done"
tap_done
