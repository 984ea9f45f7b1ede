#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Malicious-daemon fuzzer of cachefiles on-demand mode (TAP); issue 13
# item 1, Documentation/reliability.rst.  Runs as root inside the test VM
# with a cachefiles backend loaded:
#
#   scripts/vm-run --kernel debug --module rs -- env CFRS_FUZZ_OPS=100000 \
#       tools/testing/selftests/cachefiles/ondemand/fuzz_test.sh
#
# ondemand_fuzz (built by `make selftests`) binds a cache and, while its
# readers mount and read EROFS images, answers OPEN and READ right or wrong
# at random, with restore bursts, unknown commands, cull/inuse, short
# devnode reads, dup/fork of the devnode, devnode close and re-bind (see
# the head of ondemand_fuzz.c).  This script builds the images, runs it
# and then checks what a hostile daemon must never achieve:
#   - fuzz.*: the fuzzer's own checks (readers die within seconds of
#     SIGKILL, no mount/umount blocked, the errno contract, everything
#     unmounted, devnode re-bound, a fresh image read right afterwards);
#   - no_task_in_d_state: no task sleeps uninterruptibly (D) in two looks
#     2 s apart once everything stopped;
#   - no_kernel_splat: the kernel log of the run, captured as it is written
#     (the fuzzer's pr_err noise can wrap the ring buffer before vm-run
#     reads it), has no BUG/WARNING/KASAN/lockdep/hung-task report;
#   - rmmod_and_insmod: the module unloads and loads again.
# Figures: a "# fuzz: ops ... seed ..." line.
#
# Env: CFRS_FUZZ_OPS (default 100000) operations; CFRS_FUZZ_SEED (default:
# from the clock, printed) to replay a run's choices; CFRS_FUZZ_SLOTS
# (default 4) mounts at a time; CFRS_FUZZ_TIMEOUT (default 3000) seconds
# before the fuzzer is killed.

. "$(dirname "$0")/lib.sh"
od_init fuzz
fuzz=${CFRS_ONDEMAND_FUZZ:-$OD_DIR/ondemand_fuzz}
ops=${CFRS_FUZZ_OPS:-100000}
seed=${CFRS_FUZZ_SEED:-$(($(date +%s%N) % 4294967296))}
slots=${CFRS_FUZZ_SLOTS:-4}
od_require root mkfs devnode
[ -x "$fuzz" ] || { echo "1..0 # SKIP no $fuzz (make selftests)"; exit 0; }
echo "# backend ${CFRS_MODULE_NAME:-?}, $ops ops, seed $seed, $slots mounts at a time"

scratch=${CFRS_SCRATCH:-$work}
cache=$scratch/fuzz-cache
blobs=$work/blobs
src=$work/src
mkdir -p "$cache" "$blobs" "$src" "$work/mnt"

# The kernel log from now on, as it is written.
dmesg --follow-new > "$work/kmsg" 2>&1 &
kmsg_pid=$!
od_track "$kmsg_pid"

# Three small images: two mixed trees (inline tails) and the layout tree
# without inline data (more blocks, more READs).
make_tree "$src/0" 0 96
make_tree "$src/1" 1 160
make_layout_tree "$src/2"
mkfs.erofs --quiet "$blobs/img0" "$src/0" > /dev/null &&
	mkfs.erofs --quiet "$blobs/img1" "$src/1" > /dev/null &&
	mkfs.erofs --quiet -Enoinline_data "$blobs/img2" "$src/2" > /dev/null
check setup.images test -s "$blobs/img2"

# Mounts left behind are the test's to clean (od_cleanup umounts them).
for i in $(seq 0 $((slots - 1))); do od_track_mount "$work/mnt/s$i"; done
od_track_mount "$work/mnt/final"

# The fuzzer in a session of its own: a watchdog kills it with all its
# children (readers, mount children) after CFRS_FUZZ_TIMEOUT s.
t0=$(date +%s)
setsid "$fuzz" --seed "$seed" --ops "$ops" --slots "$slots" \
	"$cache" "$blobs" "$work/mnt" "$src" 3 > "$work/fuzz.out" 2>&1 &
fpid=$!
limit=${CFRS_FUZZ_TIMEOUT:-3000}
(timeout "$limit" tail --pid="$fpid" -f /dev/null ||
	{ echo "# fuzzer killed after $limit s"; pkill -KILL -s "$fpid"; }) &
watchdog=$!
wait "$fpid"
rc=$?
wait "$watchdog"
# Children a killed fuzzer left behind.
pkill -KILL -s "$fpid" && sleep 1
secs=$(($(date +%s) - t0))
import_results fuzz < "$work/fuzz.out"
# fscache's view at the end (a cache or volume left behind shows here: new
# volumes go to the first cache listed) and the module's last messages.
df -i "$scratch" | sed 's/^/# inodes: /'
grep NoSpace /proc/fs/fscache/stats | sed 's/^/# fscache: /'
sed 's/^/# caches: /' /proc/fs/fscache/caches
sed 's/^/# volumes: /' /proc/fs/fscache/volumes | head -20
grep -i 'cachefiles' "$work/kmsg" | tail -n 15 | sed 's/^/# kmsg: /'
check_eq fuzz.exit_0 0 "$rc"

# Nothing may stay mounted; then no task may sleep in D state.
left=$(grep -c " $work/mnt/" /proc/mounts)
check_eq nothing_left_mounted 0 "$left" "$(grep " $work/mnt/" /proc/mounts)"
dstate() { # pid:comm:wchan of every task in D state
	local f st comm
	for f in /proc/[0-9]*/task/[0-9]*/stat; do
		{ read -r st < "$f"; } 2> /dev/null || continue
		comm=${st#*(}
		comm=${comm%)*}
		st=${st##*) }
		[ "${st%% *}" = D ] || continue
		f=${f%/stat}
		echo "${f##*/}:$comm:$(cat "$f/wchan" 2> /dev/null)"
	done | sort
}
d1=$(dstate)
sleep 2
d2=$(dstate)
both=$(comm -12 <(echo "$d1") <(echo "$d2") | grep -v '^$')
check_eq no_task_in_d_state "" "$both"

kill "$kmsg_pid" 2> /dev/null
wait "$kmsg_pid" 2> /dev/null
splat='BUG:|WARNING:|Oops|KASAN|UBSAN|ODEBUG|general protection|Kernel panic|possible recursive locking|circular locking|inconsistent lock state|suspicious RCU|DEBUG_LOCKS_WARN_ON|blocked for more than|soft lockup|list_add corruption|list_del corruption|refcount_t:|unreferenced object'
splats=$(grep -E -c "$splat" "$work/kmsg")
lines=$(wc -l < "$work/kmsg")
echo "# kernel log of the run: $lines lines, $(grep -c 'cachefiles' "$work/kmsg") about cachefiles"
grep -E -A20 "$splat" "$work/kmsg" | head -60 | sed 's/^/# /'
check_eq no_kernel_splat 0 "$splats"

# The module unloads (no reference leaked) and loads again.
name=${CFRS_MODULE_NAME:-}
if [ -n "$name" ] && [ -n "${CFRS_MODULE_KO:-}" ]; then
	rmmod "$name" 2> "$work/rmmod.err"
	r1=$?
	insmod "$CFRS_MODULE_KO" 2>> "$work/rmmod.err"
	r2=$?
	check_eq rmmod_and_insmod "0 0" "$r1 $r2" "$(cat "$work/rmmod.err")"
fi

figs=$(sed -n 's/^# fuzz: //p' "$work/fuzz.out")
hung=$(echo "$both" | grep -c .)
echo "# fuzz: module ${CFRS_MODULE_NAME:-?} ${figs:-ops 0 seed $seed} splats $splats d_state $hung wall_s $secs"
tap_done
