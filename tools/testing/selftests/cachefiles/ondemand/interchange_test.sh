#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Cache-directory interchange between two cachefiles backends (TAP): what
# module A wrote must be served by module B without a single READ.
#
#   interchange_test.sh [A B]        A, B: c (cachefiles.ko) or rs
#                                    (cachefiles_rs.ko); default "c c",
#                                    or $CFRS_INTERCHANGE ("c rs")
#
#   scripts/vm-run --kernel debug --module none -- \
#       tools/testing/selftests/cachefiles/ondemand/interchange_test.sh c rs
#
# In one VM: any cachefiles module already loaded is removed; A is loaded
# (insmod $CFRS_C_KO or $CFRS_RS_KO), tools/cachefiles-ondemandd binds
# ondemand on a cache directory on $CFRS_SCRATCH, two EROFS images (a plain
# one of mixed layouts and a chunked one with an extra blob device) are
# mounted and read whole (READs > 0, sha256 of every file), unmounted, the
# daemon stops and A is unloaded (rmmod).  Then B is loaded, a new daemon
# binds the same directory, the same images are mounted and read again:
# sha256 of every file right and ZERO READ requests (served from the cache
# files A wrote, which B must neither cull nor recreate).  B is unloaded at
# the end.  With --module c|rs, vm-run's module is unloaded first; for rs
# the module must have been built for the kernel booted (`make modules`,
# or any vm-run with --module rs, which builds it).
#
# CFRS_INTERCHANGE_BUFFERED=1: every cachefiles_rs pass binds with
# buffered backing I/O (daemon --buffered; see Documentation/ondemand.rst),
# so `rs c` checks that a cache directory written through the page cache
# is, after a clean unbind, served by C with zero READs.
# CFRS_READ_WINDOW_KIB=N: cachefiles_rs passes load the module with
# read_window_kib=N (wider READs while writing the cache).

. "$(dirname "$0")/lib.sh"
od_init interchange
mod_a=${1:-} mod_b=${2:-}
[ -n "$mod_a" ] || read -r mod_a mod_b <<< "${CFRS_INTERCHANGE:-c c}"
mod_b=${mod_b:-$mod_a}
od_require root daemon mkfs
buffered=${CFRS_INTERCHANGE_BUFFERED:-0}
echo "# interchange: cache directory written by '$mod_a', read by '$mod_b'$([ "$buffered" = 1 ] && echo ", cachefiles_rs buffered")"

ko_of() { # ko_of c|rs
	case $1 in
	c) echo "${CFRS_C_KO:?CFRS_C_KO unset (run under scripts/vm-run)}" ;;
	rs) echo "${CFRS_RS_KO:?CFRS_RS_KO unset (run under scripts/vm-run)}" ;;
	*) return 1 ;;
	esac
}
name_of() { # name_of c|rs: module name in /proc/modules
	case $1 in c) echo cachefiles ;; rs) echo cachefiles_rs ;; *) return 1 ;; esac
}
loaded() { grep -q "^$1 " /proc/modules; }
for m in "$mod_a" "$mod_b"; do
	ko=$(ko_of "$m") || { echo "1..0 # SKIP unknown module '$m' (c|rs)"; exit 0; }
	[ -e "$ko" ] || { echo "1..0 # SKIP no $ko (build it: make modules)"; exit 0; }
done

# If the test stops half-way, leave no module behind (after the cleanup's
# umounts and daemon stops).
unload_all() {
	local m
	for m in cachefiles cachefiles_rs; do loaded "$m" && rmmod "$m" 2>/dev/null; done
}
od_cleanup_late unload_all

scratch=${CFRS_SCRATCH:-$work}
cache=$scratch/interchange-cache
blobs=$work/blobs
stats=$work/stats
# A previous run in the same VM (make check runs both directions in one)
# left its cache here: A must start from an empty one.
rm -rf "$cache"
mkdir -p "$cache" "$blobs"

# --- images ----------------------------------------------------------------------
make_layout_tree "$work/src1"
make_tree "$work/src2" two 256
mkfs.erofs --quiet "$blobs/xa" "$work/src1" > /dev/null &&
	mkfs.erofs --quiet --chunksize=4096 --blobdev="$blobs/xb-data" "$blobs/xb" "$work/src2" > /dev/null
check setup.mkfs_erofs test -s "$blobs/xa" -a -s "$blobs/xb-data"

# --- start from no module loaded ---------------------------------------------------
for m in cachefiles cachefiles_rs; do
	if loaded "$m"; then
		rmmod "$m"
		echo "# unloaded $m (loaded by vm-run)"
	fi
done
check setup.no_backend_loaded test ! -e /dev/cachefiles

# one_pass LABEL MODULE: load MODULE, bind, mount and read both images, stop,
# unload.  Leaves the READ count of the pass in $pass_reads.
one_pass() {
	local label=$1 mod=$2 ko name m1=$work/mnt-$1-1 m2=$work/mnt-$1-2 extra=()
	ko=$(ko_of "$mod") name=$(name_of "$mod")
	[ "$buffered" = 1 ] && [ "$mod" = rs ] && extra=(--buffered)
	section "$label: $name"
	local params=()
	[ "$mod" = rs ] && [ -n "${CFRS_READ_WINDOW_KIB:-}" ] && params=("read_window_kib=$CFRS_READ_WINDOW_KIB")
	if insmod "$ko" "${params[@]}" 2> "$work/insmod.err"; then tap ok "$label.insmod_$name"; else tap fail "$label.insmod_$name" "$(cat "$work/insmod.err")"; fi
	check "$label.devnode_present" test -c /dev/cachefiles
	if daemon_start "$stats" "$work/daemon-$label.log" --cache-dir "$cache" --blobs "$blobs" \
		--tag cfrs-xchg --log-level debug "${extra[@]}"; then
		tap ok "$label.daemon_binds"
		pid=$DAEMON_PID
		if [ ${#extra[@]} -gt 0 ]; then
			check "$label.bound_buffered" grep -q "sent 'buffered 1'" "$work/daemon-$label.log"
		fi
	else
		tap fail "$label.daemon_binds" "$(head -20 "$work/daemon-$label.log")"
		pass_reads=-1
		rmmod "$name"
		return
	fi
	if mount_erofs "$m1" fsid=xa && mount_erofs "$m2" fsid=xb,device=xb-data; then
		tap ok "$label.mount"
	else
		tap fail "$label.mount" "$(cat "$work/mount.err")"
	fi
	echo 3 > /proc/sys/vm/drop_caches
	same_tree "$label.sha256_all_files_match_plain" "$work/src1" "$m1"
	same_tree "$label.sha256_all_files_match_chunked" "$work/src2" "$m2"
	pass_reads=$(stat_of read)
	echo "# $label: $(tr '\n' ' ' < "$stats")"
	umount "$m1" && umount "$m2"
	check "$label.umount" test $? = 0
	daemon_stop "$pid"
	check_eq "$label.daemon_sigterm_exit_0" 0 $?
	check_eq "$label.daemon_no_errors" 0 "$(stat_of errors)"
	if rmmod "$name" 2> "$work/rmmod.err"; then tap ok "$label.rmmod_$name"; else tap fail "$label.rmmod_$name" "$(cat "$work/rmmod.err")"; fi
	check "$label.devnode_gone" test ! -e /dev/cachefiles
}

# --- A writes the cache -------------------------------------------------------------
one_pass a "$mod_a"
check a.reads_went_to_daemon test "$pass_reads" -gt 0
( cd "$cache" && find . -type f | sort ) > "$work/files-a"
check a.cache_files_written grep -q '/Dxb-data$' "$work/files-a"
echo "# cache files after A: $(wc -l < "$work/files-a")"

# --- B reads it ---------------------------------------------------------------------
one_pass b "$mod_b"
check_eq b.zero_reads_served_from_a_cache 0 "$pass_reads"
( cd "$cache" && find . -type f | sort ) > "$work/files-b"
if diff "$work/files-a" "$work/files-b" > "$work/diff"; then
	tap ok b.same_cache_files
else
	tap fail b.same_cache_files "$(head -10 "$work/diff")"
fi
check b.graveyard_empty test -z "$(ls -A "$cache/graveyard" 2>/dev/null)"

section end
tap_done
