#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The cachefiles tracepoints (TAP output): system "cachefiles", the event
# names, record fields and output formats of C cachefiles in 6.12, so that
# perf/trace-cmd/bpftrace scripts written for C work with either module.
# Runs as root inside the test VM with a cachefiles backend loaded:
#
#   scripts/vm-run --kernel debug --module c -- \
#       tools/testing/selftests/cachefiles/ondemand/trace_test.sh
#
# (1) formats: every event's directory under events/cachefiles/ and its
# format file: C's field names and types, in C's order, and C's print
# format.  (2) records, with every cachefiles event enabled through tracefs
# while an EROFS image is mounted through tools/cachefiles-ondemandd and
# read four times: cold (new cache file), warm (from the cache file), stale
# (the blob changed size: the old file is replaced) and weird (a directory
# where the cache file should be: moved to the graveyard).  Each expected
# event shows up, and the records agree with each other, with the daemon's
# log (message ids, object ids, fds, sizes, offsets) and with the cache
# directory (inode numbers of the cache file and its fan-out directory).

. "$(dirname "$0")/lib.sh"
od_init trace
od_require root daemon mkfs devnode
echo "# backend ${CFRS_MODULE_NAME:-?}, daemon $daemon"

scratch=${CFRS_SCRATCH:-$work}
cache=$scratch/trace-cache
blobs=$work/blobs
stats=$work/stats
dlog=$work/daemon.log
mkdir -p "$cache" "$blobs"

# --- tracefs -------------------------------------------------------------------
T=/sys/kernel/tracing
if [ ! -d "$T/events" ]; then
	mount -t tracefs nodev "$T" 2> /dev/null ||
		{ [ -d /sys/kernel/debug/tracing/events ] && T=/sys/kernel/debug/tracing; }
fi
if [ ! -d "$T/events" ]; then
	echo "1..0 # SKIP no tracefs"
	exit 0
fi
E=$T/events/cachefiles
# No comm recording: enabling an event with it on registers probes on the
# scheduler's tracepoints (live code patching of sched_wakeup, which has
# oopsed under TCG on disable); the records need no task names.
record_cmd=$(cat "$T/options/record-cmd" 2> /dev/null)
echo 0 > "$T/options/record-cmd" 2> /dev/null
trace_off() {
	[ -e "$E/enable" ] && echo 0 > "$E/enable"
	echo 1 > "$T/tracing_on"
	[ -z "$record_cmd" ] || echo "$record_cmd" > "$T/options/record-cmd"
}
od_cleanup_late trace_off

section formats
# --- (1) formats ----------------------------------------------------------------
# EVENT|fields (type name, in record order, after the common_ fields)|format
formats=(
	"cachefiles_lookup|unsigned int obj;short error;unsigned long dino;unsigned long ino|o=%08x dB=%lx B=%lx e=%d"
	"cachefiles_mkdir|unsigned int dir;unsigned int subdir|dB=%x sB=%x"
	"cachefiles_tmpfile|unsigned int obj;unsigned int backer|o=%08x B=%x"
	"cachefiles_link|unsigned int obj;unsigned int backer|o=%08x B=%x"
	"cachefiles_unlink|unsigned int obj;unsigned int ino;enum fscache_why_object_killed why|o=%08x B=%x w=%s"
	"cachefiles_rename|unsigned int obj;unsigned int ino;enum fscache_why_object_killed why|o=%08x B=%x w=%s"
	"cachefiles_coherency|unsigned int obj;enum cachefiles_coherency_trace why;enum cachefiles_content content;u64 ino|o=%08x %s B=%llx c=%u"
	"cachefiles_mark_active|unsigned int obj;ino_t inode|o=%08x B=%lx"
	"cachefiles_mark_failed|unsigned int obj;ino_t inode|o=%08x B=%lx"
	"cachefiles_mark_inactive|unsigned int obj;ino_t inode|o=%08x B=%lx"
	"cachefiles_vol_coherency|unsigned int vol;enum cachefiles_coherency_trace why;u64 ino|V=%08x %s B=%llx"
	"cachefiles_read|unsigned int obj;unsigned int backer;size_t len;loff_t start|o=%08x B=%x s=%llx l=%zx"
	"cachefiles_write|unsigned int obj;unsigned int backer;size_t len;loff_t start|o=%08x B=%x s=%llx l=%zx"
	"cachefiles_trunc|unsigned int obj;unsigned int backer;enum cachefiles_trunc_trace why;loff_t from;loff_t to|o=%08x B=%x %s l=%llx->%llx"
	"cachefiles_vfs_error|unsigned int obj;unsigned int backer;enum cachefiles_error_trace where;short error|o=%08x B=%x %s e=%d"
	"cachefiles_io_error|unsigned int obj;unsigned int backer;enum cachefiles_error_trace where;short error|o=%08x B=%x %s e=%d"
	"cachefiles_ondemand_open|unsigned int obj;unsigned int msg_id;unsigned int object_id;unsigned int fd;unsigned int flags|o=%08x mid=%x oid=%x fd=%d f=%x"
	"cachefiles_ondemand_copen|unsigned int obj;unsigned int msg_id;long len|o=%08x mid=%x l=%lx"
	"cachefiles_ondemand_close|unsigned int obj;unsigned int msg_id;unsigned int object_id|o=%08x mid=%x oid=%x"
	"cachefiles_ondemand_read|unsigned int obj;unsigned int msg_id;unsigned int object_id;loff_t start;size_t len|o=%08x mid=%x oid=%x s=%llx l=%zx"
	"cachefiles_ondemand_cread|unsigned int obj;unsigned int msg_id|o=%08x mid=%x"
	"cachefiles_ondemand_fd_write|unsigned int obj;unsigned int backer;loff_t start;size_t len|o=%08x iB=%x s=%llx l=%zx"
	"cachefiles_ondemand_fd_release|unsigned int obj;unsigned int object_id|o=%08x oid=%x"
)
check format.system_dir test -d "$E"
for f in "${formats[@]}"; do
	IFS='|' read -r ev want_fields want_fmt <<< "$f"
	ff=$E/$ev/format
	if [ ! -r "$ff" ]; then
		tap fail "format.$ev" "no $ff"
		continue
	fi
	got_fields=$(sed -n 's/^[[:space:]]*field:\([^;]*\);.*/\1/p' "$ff" | grep -v ' common_' | paste -sd';')
	got_fmt=$(sed -n 's/^print fmt: "\([^"]*\)".*/\1/p' "$ff")
	if [ "$got_fields" = "$want_fields" ] && [ "$got_fmt" = "$want_fmt" ]; then
		tap ok "format.$ev"
	else
		tap fail "format.$ev" "fields: want '$want_fields'
        got '$got_fields'
format: want '$want_fmt', got '$got_fmt'"
	fi
done
# A digest of each whole format file but its ID line, to compare modules.
for f in "${formats[@]}"; do
	ev=${f%%|*}
	[ -r "$E/$ev/format" ] && echo "# format digest $ev $(grep -v '^ID:' "$E/$ev/format" | md5sum | cut -c1-12)"
done
# Reason codes print as C's names, with C's values.
symbols() { # symbols EVENT: the { value, "name" } pairs of its print fmt
	grep -o '{ [0-9A-Za-z_]*, "[^"]*" }' "$E/$1/format" 2> /dev/null | paste -sd' '
}
check_eq format.unlink_reasons '{ 0, "stale" } { 1, "weird" } { 2, "inval" } { 3, "no_space" } { 4, "was_retired" } { 5, "was_culled" } { 6, "volume_weird" }' "$(symbols cachefiles_unlink)"
check_eq format.trunc_reasons '{ 0, "DIOADJ" } { 1, "EXPTMP" } { 2, "SHRINK" }' "$(symbols cachefiles_trunc)"
errs=$(symbols cachefiles_vfs_error)
check_eq format.error_sites_count 17 "$(grep -o '{' <<< "$errs" | wc -l)" "$errs"
check format.error_sites_names grep -q '{ 3, "lookup" } .*{ 8, "remxattr" } .*{ 16, "write" }' <<< "$errs"
check_eq format.coherency_padding '{ 5, "OK      " }' "$(symbols cachefiles_coherency | grep -o '{ 5, "[^"]*" }')"

section images
# --- images and daemon ------------------------------------------------------------
make_tree "$work/src1" one 192
make_tree "$work/src2" two 320
mkfs.erofs --quiet "$blobs/img1" "$work/src1" > /dev/null &&
	mkfs.erofs --quiet "$work/img1-v2" "$work/src2" > /dev/null
check setup.mkfs_erofs test -s "$blobs/img1" -a -s "$work/img1-v2"
if daemon_start "$stats" "$dlog" --cache-dir "$cache" --blobs "$blobs" \
	--tag cfrs-trace-test --log-level debug; then
	tap ok daemon.binds_cache
else
	tap fail daemon.binds_cache "$(cat "$dlog")"
	tap_done
fi
pid=$DAEMON_PID

# --- (2) records ---------------------------------------------------------------------
echo 0 > "$T/tracing_on"
echo 8192 > "$T/buffer_size_kb"
echo > "$T/trace"
echo 1 > "$E/enable"
echo 1 > "$T/tracing_on"
check trace.enabled grep -q 1 "$E/enable"

m=$work/mnt
mount_cycle() { # mount_cycle NAME SRC: mount img1, compare with SRC, umount
	if mount_erofs "$m" fsid=img1; then
		tap ok "$1.mount"
	else
		tap fail "$1.mount" "$(cat "$work/mount.err")"
	fi
	same_tree "$1.sha256_all_files_match" "$2" "$m"
	umount "$m"
	check "$1.umount" test $? = 0
	sleep 1 # the daemon handles CLOSE and closes the anon fd
}
cachefile() { find "$cache/cache/Ierofs,img1" -name Dimg1 2> /dev/null | head -n1; }
ino() { stat -c %i "$1" 2> /dev/null; }
hex() { [ -n "$1" ] && printf '%x' "$1"; }

section cold
mount_cycle cold "$work/src1"
f=$(cachefile)
check cold.cache_file_linked test -f "$f"
ino1=$(ino "$f") fan=$(ino "$(dirname "$f")") vol=$(ino "$(dirname "$(dirname "$f")")")
section warm
mount_cycle warm "$work/src1"
check_eq warm.same_cache_file "$ino1" "$(ino "$(cachefile)")"
section stale
mv "$work/img1-v2" "$blobs/img1"
mount_cycle stale "$work/src2"
f=$(cachefile)
ino3=$(ino "$f")
check stale.cache_file_replaced test -n "$ino3" -a "$ino3" != "$ino1"
section weird
rm -f "$f"
mkdir "$f"
dino4=$(ino "$f")
mount_cycle weird "$work/src2"
check weird.cache_file_back test -f "$(cachefile)"

daemon_stop "$pid"
check daemon.exit_0 test $? = 0
echo 0 > "$E/enable"
cp "$T/trace" "$work/trace.txt"
# One line per record: "EVENT PAYLOAD".
sed -n 's/.* \(cachefiles_[a-z_]*\): \(.*\)$/\1 \2/p' "$work/trace.txt" > "$work/recs"
echo "# $(wc -l < "$work/recs") records; per event:"
cut -d' ' -f1 "$work/recs" | sort | uniq -c | sed 's/^/#  /'
check trace.no_lost_events bash -c "! grep -q 'LOST' '$work/trace.txt'"

recs() { sed -n "s/^$1 //p" "$work/recs"; }   # payloads of event $1
val() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p"; } # KEY's value in payloads on stdin
has() { recs "$1" | grep -q -e "$2"; }          # a record of $1 matching regex $2
count() { recs "$1" | wc -l; }

section events
for ev in lookup mkdir tmpfile link unlink rename coherency vol_coherency mark_active mark_inactive read write trunc \
	ondemand_open ondemand_copen ondemand_close ondemand_read ondemand_cread ondemand_fd_write \
	ondemand_fd_release; do
	check "event.cachefiles_$ev" test "$(count "cachefiles_$ev")" -gt 0
done

section records
# The backing files: new (negative lookup: ENOENT, no inode), then found.
h1=$(hex "$ino1") hfan=$(hex "$fan") h3=$(hex "$ino3") h4=$(hex "$dino4")
check lookup.negative_in_fanout has cachefiles_lookup "dB=$hfan B=0 e=-2\$"
check lookup.names_the_cache_file has cachefiles_lookup "dB=$hfan B=$h1 e=0\$"
check lookup.finds_the_directory has cachefiles_lookup "dB=$hfan B=$h4 e=0\$"
# The cold object: one debug id from lookup to tmpfile, OPEN, link.
o1=$(recs cachefiles_tmpfile | grep " B=$h1\$" | val o | head -n1)
check tmpfile.is_the_cache_file test -n "$o1"
check lookup.same_object has cachefiles_lookup "^o=$o1 dB=$hfan B=0 e=-2\$"
check link.same_object_and_inode has cachefiles_link "^o=$o1 B=$h1\$"
check trunc.expand_tmpfile has cachefiles_trunc "^o=$o1 B=$h1 EXPTMP l=0->"
check mark_active.cache_file has cachefiles_mark_active "^o=$o1 B=$h1\$"
check mark_inactive.cache_file has cachefiles_mark_inactive "^o=$o1 B=$h1\$"
check mark_active.directories has cachefiles_mark_active "^o=00000000 B=$hfan\$"
check mkdir.fanout_created has cachefiles_mkdir " sB=$hfan\$"
# (cache/ and graveyard/ were made at bind, before tracing started.)
check mkdir.volume_dir_created has cachefiles_mkdir "^dB=$(hex "$(ino "$cache/cache")") sB=$(hex "$vol")\$"
check write.cache_file has cachefiles_write "^o=$o1 B=$h1 s="
check read.warm_from_cache_file has cachefiles_read " B=$h1 s="
check coherency.warm_ok has cachefiles_coherency " OK       B=$h1 c=0\$"
check coherency.stale_objsize has cachefiles_coherency " BAD osiz B=$h1 c=0\$"
# The volume directory's xattr: written when made, checked when reused.
check vol_coherency.set has cachefiles_vol_coherency " VOL SET ok   B=$(hex "$vol")\$"
check vol_coherency.checked_ok has cachefiles_vol_coherency " VOL OK       B=$(hex "$vol")\$"
check unlink.stale_file has cachefiles_unlink " B=$h1 w=stale\$"
check link.replacement has cachefiles_link " B=$h3\$"
check rename.directory_to_graveyard has cachefiles_rename " B=$h4 w=weird\$"

# The on-demand protocol against the daemon's log: OPEN msg M object O fd F
# -> size S; READ msg M object O blob B [off+len]; CLOSE msg M object O.
opens=$(sed -n 's/.*OPEN msg \([0-9]*\) object \([0-9]*\) .* fd \([0-9]*\) -> size \([0-9]*\).*/\1 \2 \3 \4/p' "$dlog")
reads=$(sed -n 's/.*READ msg \([0-9]*\) object \([0-9]*\) blob [^[]*\[\(0x[0-9a-f]*\)+\(0x[0-9a-f]*\)\] -> wrote.*/\1 \2 \3 \4/p' "$dlog")
closes=$(sed -n 's/.*CLOSE msg \([0-9]*\) object \([0-9]*\) .*/\1 \2/p' "$dlog")
echo "# daemon: $(grep -c . <<< "$opens") OPEN, $(grep -c . <<< "$reads") READ, $(grep -c . <<< "$closes") CLOSE"
check_eq ondemand_open.one_per_daemon_open "$(grep -c . <<< "$opens")" "$(count cachefiles_ondemand_open)"
check_eq ondemand_copen.one_per_daemon_open "$(grep -c . <<< "$opens")" "$(count cachefiles_ondemand_copen)"
check_eq ondemand_read.one_per_daemon_read "$(grep -c . <<< "$reads")" "$(count cachefiles_ondemand_read)"
check_eq ondemand_cread.one_per_daemon_read "$(grep -c . <<< "$reads")" "$(count cachefiles_ondemand_cread)"
check_eq ondemand_close.one_per_daemon_close "$(grep -c . <<< "$closes")" "$(count cachefiles_ondemand_close)"
check_eq ondemand_fd_release.one_per_open "$(count cachefiles_ondemand_open)" "$(count cachefiles_ondemand_fd_release)"
# In delivery order (one daemon thread): the fds OPEN carried, then the
# daemon's copen answers (message id, size) for the same objects.
check_eq ondemand_open.fds_as_daemon "$(awk '{print $3}' <<< "$opens" | paste -sd' ')" \
	"$(recs cachefiles_ondemand_open | val fd | paste -sd' ')"
check_eq ondemand_copen.ids_sizes_as_daemon \
	"$(while read -r mid _ _ size; do [ -z "$mid" ] || echo "mid=$(hex "$mid") l=$(hex "$size")"; done <<< "$opens" | paste -sd' ')" \
	"$(recs cachefiles_ondemand_copen | sed 's/^o=[^ ]* //' | paste -sd' ')"
check_eq ondemand_copen.objects_as_open "$(recs cachefiles_ondemand_open | val o | paste -sd' ')" \
	"$(recs cachefiles_ondemand_copen | val o | paste -sd' ')"
# READ_COMPLETE for each READ the daemon served, in order.
check_eq ondemand_cread.ids_as_daemon \
	"$(while read -r mid _; do [ -z "$mid" ] || hex "$mid"; echo; done <<< "$reads" | grep . | paste -sd' ')" \
	"$(recs cachefiles_ondemand_cread | val mid | paste -sd' ')"
# The READ requests' ranges (any order).  They are traced when made,
# before they have an id: msg_id and object_id are 0, as in C.
check_eq ondemand_read.ranges_as_daemon \
	"$(while read -r mid _ off len; do [ -z "$mid" ] || printf 's=%x l=%x\n' "$off" "$len"; done <<< "$reads" | sort | paste -sd' ')" \
	"$(recs cachefiles_ondemand_read | sed 's/^o=[^ ]* //' | sed -n 's/^mid=0 oid=0 //p' | sort | paste -sd' ')"
# Object ids: those OPEN gave, CLOSE named, and the fds released.
sorted_ids() { awk '{print $2}' | grep . | while read -r i; do hex "$i"; echo; done | sort | paste -sd' '; }
check_eq ondemand_fd_release.ids_as_daemon_open "$(sorted_ids <<< "$opens")" \
	"$(recs cachefiles_ondemand_fd_release | val oid | sort | paste -sd' ')"
check_eq ondemand_fd_release.ids_as_daemon_close "$(sorted_ids <<< "$closes")" \
	"$(recs cachefiles_ondemand_fd_release | val oid | sort | paste -sd' ')"
# CLOSE is traced for an object that had an OPEN, like every cread.
bad=
for o in $(recs cachefiles_ondemand_close | val o) $(recs cachefiles_ondemand_cread | val o); do
	has cachefiles_ondemand_open "^o=$o " || bad+="$o "
done
check_eq ondemand.objects_were_opened "" "$bad"
# Data written through the anon fd goes to the cache file.
bad=
while read -r o b s l; do
	has cachefiles_write "^$o B=${b#iB=} $s $l\$" || bad+="$o $b $s $l; "
done < <(recs cachefiles_ondemand_fd_write | head -n 20)
check_eq ondemand_fd_write.then_write "" "$bad"

tap_done
