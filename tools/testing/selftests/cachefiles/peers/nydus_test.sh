#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The production client: nydusd (Nydus) in fscache mode over a cachefiles
# backend, unchanged, as nydus-snapshotter drives it (TAP output).  Runs as
# root inside the test VM with a backend loaded:
#
#   scripts/vm-run --kernel debug --module c|rs -- \
#       env CFRS_NYDUS_BIN="$(scripts/peers)" \
#       tools/testing/selftests/cachefiles/peers/nydus_test.sh
#
# (`make check-peers` runs it on both modules.)  nydusd and nydus-image come
# from $CFRS_NYDUS_BIN (scripts/peers installs them).
#
# Cases: (1) RAFS v6 images built by `nydus-image create --fs-version 6`
# from generated trees: small files, every EROFS layout boundary and a
# deep tree, one big random file ($CFRS_NYDUS_BIG_MIB MiB, default 64), and
# a layer built on the first (--parent-bootstrap: it shares the first's
# data blob); (2) `nydusd singleton --fscache` binds the cache, the images
# are added through its HTTP API (PUT /api/v2/blobs, as nydus-snapshotter
# does) and mounted as EROFS with fsid= and a shared domain_id=; all are
# read at once by concurrent readers (nydusd's 4 worker threads share the
# devnode) and every file's sha256 matches the source; (3) a re-read after
# drop_caches and a remount sends no READ (counted with the
# cachefiles_ondemand_read tracepoint); (4) nydusd SIGKILLed during a cold
# read: nydusd 2.2.0 has no fscache failover (its save/restore are
# Unsupported), so the reader fails instead of hanging, as on C, and umount
# works; (5) a new nydusd over the same cache directory: the images mount
# again and what was read before is served from the cache files (no READ),
# the rest is fetched, checksums hold; (6) nydusd's cache GC
# (DELETE /api/v2/blobs?blob_id=, i.e. `inuse` then `cull` on the devnode):
# a blob used by a mount is refused (EBUSY) and stays, an unused one goes,
# and a culled blob is fetched again on the next mount.
# Cold reads run at ~1-2 MB/s on the TCG debug kernel.

. "$(dirname "$0")/../ondemand/lib.sh"
od_init nydus
od_require root devnode curl
nbin=${CFRS_NYDUS_BIN:-${CFRS_CACHE:-$HOME/.cache/cachefiles-rs}/peers/nydus-rs-2.2.0/bin}
nydusd=$nbin/nydusd
nimage=$nbin/nydus-image
if [ ! -x "$nydusd" ] || [ ! -x "$nimage" ]; then
	echo "1..0 # SKIP no nydusd/nydus-image in $nbin (scripts/peers)"
	exit 0
fi
echo "# backend ${CFRS_MODULE_NAME:-?}, $("$nydusd" --version 2>&1 | head -n1 | tr -s '\t ' ' ')"

scratch=${CFRS_SCRATCH:-$work}
cache=$scratch/nydus-cache
blobs=$work/blobs
sock=$work/api.sock
domain=cfrs-domain
big_mib=${CFRS_NYDUS_BIG_MIB:-64}
mkdir -p "$cache" "$blobs"

T=/sys/kernel/tracing
[ -d "$T/events" ] || mount -t tracefs nodev "$T" 2> /dev/null
[ -d "$T/events/cachefiles" ] || T=/sys/kernel/debug/tracing
trace_off() { echo 0 > "$T/events/cachefiles/cachefiles_ondemand_read/enable" 2> /dev/null; }
od_cleanup_late trace_off

# --- helpers -----------------------------------------------------------------
# nydus_build NAME SRC [ARGS...]: bootstrap $blobs/NAME.boot, data blobs in
# $blobs; the ids of the blobs it references go to $work/NAME.ids.
nydus_build() {
	local name=$1 src=$2
	shift 2
	"$nimage" create --fs-version 6 -t dir-rafs "$@" -B "$blobs/$name.boot" -D "$blobs" \
		"$src" > "$work/build.$name" 2>&1 || return 1
	sed -n 's/^data blobs: \[\(.*\)\]$/\1/p' "$work/build.$name" | tr -d '" ' | tr , '\n' > "$work/$name.ids"
	[ -s "$work/$name.ids" ]
}
# api METHOD PATH [BODY-FILE]: prints the HTTP status; the body goes to $work/api.out.
api() {
	curl -sS -o "$work/api.out" -w '%{http_code}' --unix-socket "$sock" -X "$1" \
		${3:+-H 'Content-Type: application/json' --data-binary "@$3"} "http://localhost$2"
}
# entry_json NAME WORK_DIR: the bootstrap entry of image NAME, the body
# nydus-snapshotter sends to PUT /api/v2/blobs.
entry_json() {
	cat << EOF
{"type": "bootstrap", "id": "$1", "domain_id": "$domain",
 "config": {"id": "factory-$1", "backend_type": "localfs",
  "backend_config": {"dir": "$blobs"}, "cache_type": "fscache",
  "cache_config": {"work_dir": "$2"}, "metadata_path": "$blobs/$1.boot"}}
EOF
}
# add_image NAME: PUT the bootstrap entry of NAME (as nydus-snapshotter does).
add_image() {
	entry_json "$1" "$cache" > "$work/entry.$1.json"
	api PUT /api/v2/blobs "$work/entry.$1.json"
}
nydusd_start() { # nydusd_start LOG: singleton with the fscache service; sets NYDUSD_PID
	rm -f "$sock"
	"$nydusd" singleton --fscache "$cache" --fscache-tag cfrs-nydus --fscache-threads 4 \
		--apisock "$sock" --log-level info --log-file "$1" &
	NYDUSD_PID=$!
	od_track_daemon "$NYDUSD_PID"
	wait_ready "$NYDUSD_PID" 30 test -S "$sock"
}
mnt_of() { echo "$work/mnt-$1"; }
mount_image() { mount_erofs "$(mnt_of "$1")" "fsid=$1,domain_id=$domain"; }
# reads RUN...: the number of READ requests the cache sent while RUN ran.
reads() {
	local e=$T/events/cachefiles/cachefiles_ondemand_read
	echo > "$T/trace"
	echo 1 > "$e/enable"
	"$@" > /dev/null 2>&1
	echo 0 > "$e/enable"
	grep -c 'cachefiles_ondemand_read:' "$T/trace"
}
# A blob's cache file: cache/I<volume>/@<hash>/D<blob id> (the hash
# directory is the cookie's; any of them will do).
cache_file_of() { find "$cache/cache" -name "D$1" -type f 2> /dev/null | head -n1; }
umount_image() { timeout 120 umount "$(mnt_of "$1")"; }
# wait_all PID...: waits for each (children of this shell, so not in a
# command substitution); WAIT_RC is 0 if all exited 0, else 1.
wait_all() {
	local p
	WAIT_RC=0
	for p in "$@"; do wait "$p" || WAIT_RC=1; done
}
# same_manifest NAME SRC MANIFEST: ok iff MANIFEST (taken by a reader) is SRC's.
same_manifest() {
	if diff <(manifest "$2") "$3" > "$work/diff" 2>&1; then
		tap ok "$1"
	else
		tap fail "$1" "$(head -n 20 "$work/diff")"
	fi
}

# --- (1) images -------------------------------------------------------------
section images
make_tree "$work/src-small" small 256
make_layout_tree "$work/src-layout"
mkdir -p "$work/src-layout/deeper"
d=$work/src-layout/deeper
for i in $(seq 1 24); do d=$d/level$i; done
mkdir -p "$d" && echo bottom > "$d/leaf.txt"
mkdir -p "$work/src-big"
head -c $((big_mib << 20)) /dev/urandom > "$work/src-big/big.bin"
echo "a note next to the big file" > "$work/src-big/note.txt"
# The layer on top of small: new files and a changed one.
mkdir -p "$work/src-upper/upper"
for i in $(seq 1 10); do seq 1 $((i * 100)) > "$work/src-upper/upper/s$i"; done
echo "replaced by the upper layer" > "$work/src-upper/link-target.txt"
mkdir -p "$work/src-kill"
head -c $((24 << 20)) /dev/urandom > "$work/src-kill/cold.bin"
ok=1
for img in small layout big kill; do
	nydus_build "$img" "$work/src-$img" || { ok=0; cat "$work/build.$img"; }
done
nydus_build child "$work/src-upper" --parent-bootstrap "$blobs/small.boot" || { ok=0; cat "$work/build.child"; }
check_eq images.built_with_nydus_image 1 $ok
# What the layered image must show: small, then the upper layer over it.
cp -a "$work/src-small" "$work/src-child" && cp -a "$work/src-upper/." "$work/src-child/"
check_eq images.child_shares_parent_blob "$(head -n1 "$work/small.ids")" "$(head -n1 "$work/child.ids")"
check_eq images.child_has_two_blobs 2 "$(wc -l < "$work/child.ids")"
images=(small layout big child)
nfiles=0
for img in "${images[@]}"; do nfiles=$((nfiles + $(find "$work/src-$img" -type f | wc -l))); done
echo "# ${#images[@]} images, $nfiles files, $(du -sb "$work/blobs" | cut -f1) bytes of blobs"

# Cases 2-6 run nydusd itself; CFRS_NYDUS_ONLY=failover skips them.
nydusd_cases() {
# --- (2) nydusd, mounts, concurrent cold reads --------------------------------
section "nydusd and mounts"
if nydusd_start "$work/nydusd.1.log"; then
	tap ok nydusd.starts_and_binds
else
	tap fail nydusd.starts_and_binds "$(tail -n 20 "$work/nydusd.1.log")"
	tap_done
fi
check_eq nydusd.api_answers 200 "$(api GET /api/v1/daemon)"
for img in "${images[@]}" kill; do
	check_eq "api.put_blob_entry_$img" 204 "$(add_image "$img")" "$(cat "$work/api.out")"
done
for img in "${images[@]}" kill; do
	if mount_image "$img"; then tap ok "mount.$img"; else tap fail "mount.$img" "$(cat "$work/mount.err"; dmesg | tail -n 5)"; fi
done

section "concurrent cold reads"
echo 3 > /proc/sys/vm/drop_caches
pids=()
for img in "${images[@]}"; do
	manifest "$(mnt_of "$img")" > "$work/manifest.$img" 2> "$work/manifest.$img.err" &
	pids+=($!)
	# A second reader on the same files, in another order.
	(cd "$(mnt_of "$img")" && find . -type f | sort -r | xargs -r cat > /dev/null) 2> "$work/rev.$img.err" &
	pids+=($!)
done
od_track "${pids[@]}"
wait_all "${pids[@]}"
check_eq read.concurrent_readers_succeed 0 $WAIT_RC "$(cat "$work"/*.err | head -n 5)"
for img in "${images[@]}"; do
	same_manifest "read.sha256_every_file_$img" "$work/src-$img" "$work/manifest.$img"
done

# --- (3) re-reads from the cache ---------------------------------------------
section "re-reads"
read_every() { for img in "${images[@]}"; do read_all "$(mnt_of "$img")"; done; }
check_eq reread.after_drop_caches_no_read 0 "$(reads read_every)"
for img in "${images[@]}"; do umount_image "$img"; done
remount_ok=1
for img in "${images[@]}"; do mount_image "$img" || remount_ok=0; done
check_eq reread.remount 1 $remount_ok "$(cat "$work/mount.err")"
check_eq reread.after_remount_no_read 0 "$(reads read_every)"
for img in "${images[@]}"; do same_tree "reread.sha256_after_remount_$img" "$work/src-$img" "$(mnt_of "$img")"; done

# --- (4) nydusd killed during a cold read --------------------------------------
section "kill"
echo 3 > /proc/sys/vm/drop_caches
cat "$(mnt_of kill)/cold.bin" > /dev/null 2> "$work/kill.err" &
reader=$!
od_track "$reader"
sleep 3
kill -KILL "$NYDUSD_PID"
wait "$NYDUSD_PID" 2> /dev/null
timeout 120 tail --pid="$reader" -f /dev/null
check_eq kill.reader_does_not_hang gone "$(kill -0 "$reader" 2> /dev/null && echo running || echo gone)"
wait "$reader"
rc=$?
check kill.reader_gets_an_error test "$rc" != 0
umount_rc=0
for img in "${images[@]}" kill; do umount_image "$img" || umount_rc=1; done
check_eq kill.umount_after_kill 0 $umount_rc

# --- (5) a new nydusd over the same cache ----------------------------------------
section restart
if nydusd_start "$work/nydusd.2.log"; then
	tap ok restart.nydusd_binds_again
else
	tap fail restart.nydusd_binds_again "$(tail -n 20 "$work/nydusd.2.log")"
	tap_done
fi
ok=1
for img in "${images[@]}" kill; do
	[ "$(add_image "$img")" = 204 ] || ok=0
	mount_image "$img" || ok=0
done
check_eq restart.images_mount_again 1 $ok "$(cat "$work/api.out" "$work/mount.err")"
check_eq restart.read_before_served_from_cache 0 "$(reads read_every)"
for img in "${images[@]}"; do same_tree "restart.sha256_$img" "$work/src-$img" "$(mnt_of "$img")"; done
n_kill=$(reads read_all "$(mnt_of kill)")
check restart.rest_of_killed_image_fetched test "$n_kill" -gt 0
same_tree restart.sha256_kill "$work/src-kill" "$(mnt_of kill)"

# --- (6) nydusd's cache GC: inuse, then cull -----------------------------------
section gc
lblob=$(head -n1 "$work/layout.ids")
sblob=$(head -n1 "$work/small.ids")
check gc.layout_blob_cached test -n "$(cache_file_of "$lblob")"
check gc.small_blob_cached test -n "$(cache_file_of "$sblob")"
# small's blob is mounted twice (small and child): inuse says EBUSY.
code=$(api DELETE "/api/v2/blobs?blob_id=$sblob")
check gc.busy_blob_refused test "$code" != 204
check gc.busy_blob_stays test -n "$(cache_file_of "$sblob")"
grep -q "in use, skip" "$work/nydusd.2.log"
check_eq gc.nydusd_saw_ebusy 0 $?
umount_image layout
check_eq gc.unused_blob_culled 204 "$(api DELETE "/api/v2/blobs?blob_id=$lblob")" "$(cat "$work/api.out")"
check_eq gc.culled_blob_gone "" "$(cache_file_of "$lblob")"
mount_image layout
n_layout=$(reads read_all "$(mnt_of layout)")
check gc.culled_blob_fetched_again test "$n_layout" -gt 0
same_tree gc.sha256_after_cull "$work/src-layout" "$(mnt_of layout)"

section "nydusd stops"
for img in "${images[@]}" kill; do umount_image "$img"; done
kill -TERM "$NYDUSD_PID"
wait_gone "$NYDUSD_PID" 20
check_eq end.nydusd_exits_on_sigterm gone "$(proc_state "$NYDUSD_PID" | sed 's/^Z$/gone/')"
# nydusd's own errors, for the record (the kill of case 4 makes some).
grep -h -A2 -E 'panic|ERROR' "$work/nydusd.1.log" "$work/nydusd.2.log" | head -n 12 | sed 's/^/# nydusd: /'

}
if [ "${CFRS_NYDUS_ONLY:-}" = failover ]; then
	echo "# CFRS_NYDUS_ONLY=failover: cases 2-6 (nydusd) skipped"
else
	nydusd_cases
fi

# --- (7) failover: Nydus's handler with its devnode fd in the fd store ---------------
# nydus-fscache-peer runs nydus-service 0.4.0's FsCacheHandler (see
# Documentation/peers.rst); fake_systemd.py keeps the fd and restarts it
# with LISTEN_FDS after each SIGKILL; the handler writes `restore`.
section failover
peer=$nbin/nydus-fscache-peer
kills=${CFRS_NYDUS_KILLS:-10}
done_kills=0
if [ ! -x "$peer" ]; then
	tap fail failover.peer_installed "no $peer (scripts/peers)"
else
	cache2=$scratch/nydus-cache-fo
	mkdir -p "$cache2"
	fo_images=(small big child)
	{
		echo '{"blobs": ['
		sep=
		for img in "${fo_images[@]}"; do
			printf '%s' "$sep"
			entry_json "$img" "$cache2"
			sep=,
		done
		echo ']}'
	} > "$work/blobs.json"
	coproc FS { python3 "$OD_DIR/fake_systemd.py" -- "$peer" --cache-dir "$cache2" \
		--tag cfrs-nydus-fo --threads 4 --blobs "$work/blobs.json" 2> "$work/peer.log"; }
	fs_pid=$FS_PID
	od_track "$fs_pid"
	line=
	read -r -t 120 line <&"${FS[0]}"
	check_eq failover.fd_stored stored "$line" "$(tail -n 20 "$work/peer.log")"
	ok=1
	for img in "${fo_images[@]}"; do mount_image "$img" || ok=0; done
	check_eq failover.mounts 1 $ok "$(cat "$work/mount.err")"
	echo 3 > /proc/sys/vm/drop_caches
	pids=()
	for img in "${fo_images[@]}"; do
		manifest "$(mnt_of "$img")" > "$work/fo.$img" 2> "$work/fo.$img.err" &
		pids+=($!)
	done
	od_track "${pids[@]}"
	restarted=1
	for k in $(seq 1 "$kills"); do
		sleep 2
		running=0
		for p in "${pids[@]}"; do kill -0 "$p" 2> /dev/null && running=1; done
		[ $running = 1 ] || break
		echo kill >&"${FS[1]}"
		line=
		read -r -t 120 line <&"${FS[0]}"
		case $line in
		"restarted "*" stored-again") restarted=0 ;;
		"restarted "*) done_kills=$((done_kills + 1)) ;;
		*) restarted=0; break ;;
		esac
	done
	check_eq failover.restarts_with_kept_fd 1 $restarted "$(tail -n 20 "$work/peer.log")"
	check failover.killed_during_reads test "$done_kills" -ge 1
	wait_all "${pids[@]}"
	check_eq failover.readers_see_no_error 0 $WAIT_RC "$(cat "$work"/fo.*.err | head -n 5)"
	for img in "${fo_images[@]}"; do
		same_manifest "failover.sha256_every_file_$img" "$work/src-$img" "$work/fo.$img"
	done
	check failover.handler_sent_restore grep -q "sent 'restore'" "$work/peer.log"
	for img in "${fo_images[@]}"; do umount_image "$img"; done
	echo stop >&"${FS[1]}"
	read -r -t 60 line <&"${FS[0]}"
	echo "# failover: $done_kills SIGKILLs of Nydus's fscache handler during reads"
fi

echo "# totals: $((${#images[@]} + 1)) images, $nfiles files, $(du -sb "$blobs" | cut -f1) bytes of blobs, 1 nydusd kill, $done_kills handler kills survived"
tap_done
