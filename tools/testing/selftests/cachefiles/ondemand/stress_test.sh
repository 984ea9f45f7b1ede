#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Concurrency stress of cachefiles on-demand mode (TAP), issue 13 item 3.
# Runs as root inside the test VM with a cachefiles backend loaded:
#
#   scripts/vm-run --kernel debug --module c -- \
#       tools/testing/selftests/cachefiles/ondemand/stress_test.sh
#
# 1. crowd: tools/cachefiles-ondemandd in `supervise` mode serves
#    $images EROFS images, each mounted twice (a plain mount and one in a
#    shared domain, `domain_id=cfrs-stress`).  For $seconds s, at once:
#    $readers readers go round the mounts computing the sha256 of every
#    file; a churn loop mounts a fresh name of an image (cold: every read
#    is a READ), reads it and unmounts it; `drop_caches` every second;
#    the daemon child is SIGKILLed every 1-3 s (the supervisor restarts
#    it, the new child sends `restore`); `rmmod` of the backend is tried
#    every 2 s, racing the re-opens (it must be refused: the devnode is
#    open).  Then: every pass of every reader read the right bytes, no
#    read error, every churn cycle right, every rmmod refused, every
#    mount unmounts, the supervisor exits 0 at SIGTERM, no task in D
#    state, the devnode is free.
# 2. race: ondemand_race serves a cache with two threads reading the same
#    devnode while a third writes `restore` every 5 ms, so requests in
#    service are handed out again to the other thread (CVE-2024-40899's
#    pattern); rounds of fresh images are mounted and read by parallel
#    readers meanwhile.  Every mounted image must read right, the helper's
#    errno checks pass (copen/READ_COMPLETE fail only with EINVAL when the
#    other thread won), and some requests must have been served twice.
#    An OPEN handed out again while its object already has an anon fd
#    fails the devnode read with EEXIST and the request with it (C 6.12's
#    fix for CVE-2024-40899): that mount fails, so failed mounts may not
#    outnumber the EEXIST reads.
# A kernel report (KASAN, lockdep, hung task, WARN) fails the VM run.
#
# Env: CFRS_STRESS_READERS (16), CFRS_STRESS_IMAGES (8),
# CFRS_STRESS_SECONDS (120) for the crowd, CFRS_STRESS_KIB (256) random
# data per image, CFRS_STRESS_RACE_ROUNDS (6) rounds of the race.

. "$(dirname "$0")/lib.sh"
readers=${CFRS_STRESS_READERS:-16}
images=${CFRS_STRESS_IMAGES:-8}
seconds=${CFRS_STRESS_SECONDS:-120}
kib=${CFRS_STRESS_KIB:-256}
race_rounds=${CFRS_STRESS_RACE_ROUNDS:-6}
race=$OD_DIR/ondemand_race
od_init stress
cache=${CFRS_SCRATCH:-$work}/stress-cache
blobs=$work/blobs
sock=$work/supervisor.sock
pidfile=$work/child.pid
slog=$work/supervisor.log
stop=$work/stop

od_require root daemon mkfs pgrep devnode
echo "# backend ${CFRS_MODULE_NAME:-?}, $readers readers, $images images x 2 mounts, $seconds s, $kib KiB per image"
mkdir -p "$cache" "$blobs"
# Background loops stop when $stop exists; at exit too, whatever happened.
stop_loops() { : > "$stop"; }
od_cleanup_hook stop_loops

# --- images -----------------------------------------------------------------------
for i in $(seq 0 $((images - 1))); do
	make_round_tree "$work/src$i" "$kib"
	mkfs.erofs --quiet "$blobs/s$i" "$work/src$i" > /dev/null
	ln "$blobs/s$i" "$blobs/d$i"
	manifest "$work/src$i" > "$work/want$i"
done

# --- 1. crowd ---------------------------------------------------------------------------
section crowd
"$daemon" supervise --socket "$sock" --cache-dir "$cache" --tag cfrs-stress \
	--restart-delay 20 --restart-delay-max 200 --child-pidfile "$pidfile" -- \
	--blobs "$blobs" 2> "$slog" &
sup=$!
od_track_daemon "$sup"
wait_new_child ""
for _ in $(seq 1 50); do grep -q "sent 'restore'" "$slog" && break; sleep 0.1; done
check crowd.supervisor_bound grep -q cfrs-stress /proc/fs/fscache/caches

mnts=() wants=() ok=1
for i in $(seq 0 $((images - 1))); do
	mount_erofs "$work/m/s$i" "fsid=s$i" || ok=0
	mount_erofs "$work/m/d$i" "fsid=d$i,domain_id=cfrs-stress" || ok=0
	mnts+=("$work/m/s$i" "$work/m/d$i") wants+=("$i" "$i")
done
if [ $ok = 1 ]; then tap ok crowd.all_mounts; else tap fail crowd.all_mounts "$(cat "$work/mount.err")"; fi

reader() { # reader R: passes over the mounts, one line per pass in $work/r$R
	local r=$1 it=0 k
	while [ ! -e "$stop" ]; do
		k=$(((r + it) % ${#mnts[@]}))
		if manifest "${mnts[$k]}" > "$work/got.r$r" 2> "$work/err.r$r" && [ ! -s "$work/err.r$r" ]; then
			if cmp -s "$work/got.r$r" "$work/want${wants[$k]}"; then
				echo ok
			else
				echo "bad ${mnts[$k]}"
			fi
		else
			echo "err ${mnts[$k]} $(head -c 300 "$work/err.r$r" | tr '\n' ' ')"
		fi
		it=$((it + 1))
	done > "$work/r$r"
}
churn() { # fresh names of the images mounted, read and unmounted in turn
	local it=0 i name
	mkdir -p "$work/churn"
	while [ ! -e "$stop" ]; do
		i=$((it % images)) name=c$i-$it
		ln "$blobs/s$i" "$blobs/$name"
		if mount -t erofs none -o "fsid=$name" "$work/churn" 2> "$work/churn.err"; then
			if diff -q <(manifest "$work/churn" 2>&1) "$work/want$i" > /dev/null; then
				echo ok
			else
				echo "bad $name"
			fi
			umount "$work/churn" || echo "umount-failed $name"
		else
			echo "mount-failed $name $(cat "$work/churn.err")"
		fi
		rm -f "$blobs/$name"
		it=$((it + 1))
	done > "$work/churn.log"
}
dropper() {
	local d=0
	while [ ! -e "$stop" ]; do
		echo 3 > /proc/sys/vm/drop_caches
		d=$((d + 1))
		bsleep 1
	done
	echo "$d" > "$work/drops"
}
killer() { # SIGKILL the daemon child every 1-3 s; one line per kill
	local child
	while [ ! -e "$stop" ]; do
		bsleep "$((1 + RANDOM % 3))"
		[ -e "$stop" ] && break
		child_of
		child=$CHILD
		[ -n "$child" ] || continue
		kill -KILL "$child" 2> /dev/null || continue
		if wait_new_child "$child"; then echo killed; else echo "no-new-child $child"; fi
	done > "$work/kills"
}
rmmoder() { # rmmod of the backend every 2 s: must be refused
	local name=${CFRS_MODULE_NAME:-}
	[ -n "$name" ] || return 0
	while [ ! -e "$stop" ]; do
		bsleep 2
		[ -e "$stop" ] && break
		if rmmod "$name" 2> "$work/rmmod.err"; then
			echo "unloaded"
		else
			echo "refused $(cat "$work/rmmod.err")"
		fi
	done > "$work/rmmods"
}

rm -f "$stop"
start=$(date +%s)
pids=()
for r in $(seq 1 "$readers"); do
	reader "$r" &
	pids+=($!)
done
churn &
pids+=($!)
dropper &
pids+=($!)
killer &
pids+=($!)
rmmoder &
pids+=($!)
od_track "${pids[@]}"
bsleep "$seconds"
: > "$stop"
# Every loop ends after its current step; a step that hangs is a failure.
hung=0
for p in "${pids[@]}"; do
	if ! wait_gone "$p" 300; then
		hung=$((hung + 1))
		echo "# loop $p still running 300 s after the stop: $(cat "/proc/$p/wchan" 2>/dev/null)"
	fi
done
wait "${pids[@]}" 2> /dev/null
elapsed=$(($(date +%s) - start))

passes=$(cat "$work"/r[0-9]* | grep -c '^ok$')
bad=$(cat "$work"/r[0-9]* | grep -c '^bad ')
errs=$(cat "$work"/r[0-9]* | grep -c '^err ')
idle=0
for r in $(seq 1 "$readers"); do grep -q '^ok$' "$work/r$r" || idle=$((idle + 1)); done
cycles=$(grep -c '^ok$' "$work/churn.log")
churn_bad=$(grep -vc '^ok$' "$work/churn.log")
kills=$(grep -c '^killed$' "$work/kills")
nonew=$(grep -c '^no-new-child' "$work/kills")
rmmods=$(grep -c . "$work/rmmods" 2> /dev/null)
unloaded=$(grep -c '^unloaded' "$work/rmmods" 2> /dev/null)
rmmods=${rmmods:-0} unloaded=${unloaded:-0}
echo "# stress: module ${CFRS_MODULE_NAME:-?} readers $readers images $images mounts ${#mnts[@]} seconds $elapsed passes $passes bad $bad errors $errs churn $cycles churn_bad $churn_bad kills $kills rmmod $rmmods unloaded $unloaded drop_caches $(cat "$work/drops" 2>/dev/null)"
cat "$work"/r[0-9]* "$work/churn.log" | grep -v '^ok$' | head -10 | sed 's/^/# /'
check crowd.loops_stop test "$hung" = 0
check crowd.every_reader_passed test "$idle" = 0
check crowd.no_read_errors test "$errs" = 0
check crowd.sha256_every_pass test "$bad" = 0
check crowd.churn_cycles test "$cycles" -gt 0 -a "$churn_bad" = 0
check crowd.kills test "$kills" -gt 0 -a "$nonew" = 0
if [ -n "${CFRS_MODULE_NAME:-}" ]; then
	check crowd.rmmod_refused test "$rmmods" -gt 0 -a "$unloaded" = 0
	grep -m1 refused "$work/rmmods" | sed 's/^/# /'
fi
restores=$(grep -c "sent 'restore'" "$slog")
echo "# supervisor log: $restores restores"
ok=1
for m in "${mnts[@]}"; do timeout 120 umount "$m" || ok=0; done
check crowd.umount_all test $ok = 1
kill -TERM "$sup"
wait "$sup"
check_eq crowd.supervisor_sigterm_exit 0 $?
check crowd.devnode_free devnode_free 10
dstate=$(ps -eo stat=,pid=,comm= | awk '$1 ~ /^D/' | head -5)
check crowd.no_task_in_d_state test -z "$dstate"
[ -z "$dstate" ] || echo "# D: $dstate"

# --- 2. race ------------------------------------------------------------------------------
section race
if [ ! -x "$race" ]; then
	tap fail race.helper_built "no $race (make selftests)"
	tap_done
fi
rcache=${CFRS_SCRATCH:-$work}/race-cache
mkdir -p "$rcache"
"$race" --threads 2 --restore-ms 5 "$rcache" "$blobs" "$work/race.ready" > "$work/race.out" 2>&1 &
rpid=$!
od_track_daemon "$rpid"
wait_ready "$rpid" 10 test -e "$work/race.ready"
check race.helper_bound test -e "$work/race.ready"
rbad=0 rerr=0 rmnt=0 rok=0
for round in $(seq 1 "$race_rounds"); do
	rp=() names=()
	for i in $(seq 0 $((images - 1))); do
		name=x$i-$round
		ln "$blobs/s$i" "$blobs/$name"
		if mount_erofs "$work/rm/$name" "fsid=$name"; then
			(manifest "$work/rm/$name" > "$work/got.$name" 2> "$work/err.$name") &
			rp+=($!) names+=("$i:$name")
		else
			rmnt=$((rmnt + 1))
			echo "# race: mount $name failed: $(head -1 "$work/mount.err")"
		fi
	done
	od_track "${rp[@]}"
	for p in "${rp[@]}"; do
		wait_gone "$p" 300 || echo "# race: reader $p still running after 300 s"
	done
	wait "${rp[@]}" 2> /dev/null
	for x in "${names[@]}"; do
		i=${x%%:*} name=${x#*:}
		rok=$((rok + 1))
		if [ -s "$work/err.$name" ]; then
			rerr=$((rerr + 1))
			head -3 "$work/err.$name" | sed "s/^/# $name: /"
		fi
		if ! cmp -s "$work/got.$name" "$work/want$i"; then
			rbad=$((rbad + 1))
			diff "$work/want$i" "$work/got.$name" | head -5 | sed "s/^/# $name: /"
		fi
		umount "$work/rm/$name"
	done
	for i in $(seq 0 $((images - 1))); do rm -f "$blobs/x$i-$round"; done
	echo 3 > /proc/sys/vm/drop_caches
done
echo "# race: $race_rounds rounds of $images fresh images: $rok mounted ($rbad wrong, $rerr with read errors), $rmnt mounts failed"
check race.mounted_some test "$rok" -gt 0
check race.no_read_errors test "$rerr" = 0
check race.sha256_every_mounted_image test "$rbad" = 0
kill -TERM "$rpid"
wait "$rpid"
rc=$?
import_results race < "$work/race.out"
check_eq race.helper_exit 0 "$rc"
eexist=$(sed -n 's/^# race: threads .* eexist \([0-9]*\).*/\1/p' "$work/race.out")
check race.failed_mounts_within_eexist test "$rmnt" -le "${eexist:-0}"
check race.devnode_free devnode_free 10

tap_done
