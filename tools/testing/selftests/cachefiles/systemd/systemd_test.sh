#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The daemon's systemd units under a real systemd (TAP).  Runs as root in
# the systemd VM, with a cachefiles backend loaded:
#
#   scripts/vm-systemd --kernel debug --module rs -- \
#       tools/testing/selftests/cachefiles/systemd/systemd_test.sh
#
# Installs cachefiles-ondemandd as a package would (/usr/sbin, units in
# /usr/lib/systemd/system) with a drop-in that only adds test options
# (--log-level debug, --read-delay), then:
#   unit       systemd-analyze verify; `systemctl start` binds the cache
#              (Type=notify) and the devnode fd is in the fd store
#   kill       EROFS images (never cached) are read with sha256sum while
#              `systemctl kill -s KILL` hits the daemon again and again;
#              systemd restarts it with the stored fd (LISTEN_FDS), it
#              sends `restore`: no read error, every checksum right
#   restart    `systemctl restart` during a read keeps the cache
#   stop       `systemctl stop` releases it: the devnode is free, the cache
#              is no longer active, uncached reads fail without hanging;
#              `start` binds again and a new mount reads right
#   limit      with a start limit of 3 (drop-in), the third kill fails the
#              unit (start-limit-hit): the fd store is closed, the cache
#              ends, uncached reads fail without hanging
#   supervise  cachefiles-ondemandd-supervise.service: its child killed
#              during reads (no error), `stop` releases the cache
#
# Env: CFRS_SYSTEMD_KILLS (default 12) `systemctl kill`s to reach;
# CFRS_SYSTEMD_SUP_KILLS (default 5) kills of the supervisor's child;
# CFRS_SYSTEMD_KIB (default 1024) random data per image;
# CFRS_SYSTEMD_READ_DELAY (default 100) ms the daemon waits before each
# READ (a slow backend: kills land while READs are in flight);
# CFRS_SYSTEMD_MAX_ROUNDS (default 20).

. "$(dirname "$0")/../ondemand/lib.sh"
kills_target=${CFRS_SYSTEMD_KILLS:-12}
sup_kills_target=${CFRS_SYSTEMD_SUP_KILLS:-5}
kib=${CFRS_SYSTEMD_KIB:-1024}
read_delay=${CFRS_SYSTEMD_READ_DELAY:-100}
max_rounds=${CFRS_SYSTEMD_MAX_ROUNDS:-20}
contrib=$OD_ROOT/tools/cachefiles-ondemandd/contrib
unit=cachefiles-ondemandd.service
sunit=cachefiles-ondemandd-supervise.service
# The paths the shipped units use.
blobs=/srv/erofs-blobs
cache=/var/cache/fscache-ondemand
tag=ondemand
units=/usr/lib/systemd/system
pidfile=/run/cachefiles-ondemandd/child.pid

od_init systemd
od_require root daemon mkfs devnode systemctl journalctl
if [ "$(cat /proc/1/comm)" != systemd ]; then
	echo "1..0 # SKIP PID 1 is not systemd (scripts/vm-systemd)"
	exit 0
fi
echo "# backend ${CFRS_MODULE_NAME:-?}, $(systemctl --version | head -n1), target $kills_target kills, $kib KiB per image, READ delay $read_delay ms"

# At exit (after the umounts): stop the units; after a failure, what
# systemd and the daemons logged.
# shellcheck disable=SC2317
stop_units() {
	systemctl stop "$unit" "$sunit" 2>/dev/null
	[ "$failed" = 0 ] && return
	journalctl --sync 2>/dev/null
	journalctl -b -u "$unit" -u "$sunit" -o short-monotonic 2>/dev/null |
		grep -v "DEBUG READ" | tail -n 80 | sed 's/^/# journal: /'
}
od_cleanup_late stop_units

# sleep as a builtin (every exec costs 100+ ms on the TCG debug kernel).
exec {sleep_fd}<> <(:)
bsleep() { read -r -t "$1" -u "$sleep_fd"; }
rand_sleep() { bsleep "0.$(printf %03d $((10 + RANDOM % 191)))"; }

prop() { systemctl show -P "$2" "$1"; } # prop UNIT PROPERTY
# The unit's log (daemon's stderr) since it was installed.
journal() { journalctl --sync 2>/dev/null; journalctl -u "$1" -o cat 2>/dev/null; }
# The cache's state letter in /proc/fs/fscache/caches (A: active), or "-".
cache_state() {
	awk -v t="$tag" '$7 == t { s = $6 } END { print s ? s : "-" }' /proc/fs/fscache/caches
}

make_image() { # make_image NAME KIB: random files + small ones in $blobs/NAME, tree in $work/src-NAME
	local d=$work/src-$1 i
	mkdir -p "$d/a/b"
	for i in 1 2 3 4; do head -c $(($2 * 256)) /dev/urandom > "$d/r$i.bin"; done
	for i in $(seq 1 10); do echo "small file $i $RANDOM" > "$d/a/f$i.txt"; done
	head -c 4097 /dev/urandom > "$d/a/b/page-plus-one"
	mkfs.erofs --quiet "$blobs/$1" "$d" > /dev/null
}
start_reader() { # start_reader NAME: sha256 of every file of $work/mnt-NAME in the background; sets reader
	(manifest "$work/mnt-$1" > "$work/got-$1" 2> "$work/err-$1"; echo $? > "$work/rc-$1") &
	reader=$!
	od_track "$reader"
}
wait_reader() { # wait_reader SECONDS: the reader must end on its own
	local i
	for i in $(seq 1 $(($1 * 10))); do kill -0 "$reader" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$reader" 2>/dev/null && { echo "# reader still running after $1 s"; kill "$reader"; }
	wait "$reader" 2>/dev/null
}
read_ok() { # read_ok NAME: the reader exited 0, printed nothing on stderr, sums right
	[ "$(cat "$work/rc-$1" 2>/dev/null)" = 0 ] && [ ! -s "$work/err-$1" ] &&
		diff <(manifest "$work/src-$1") "$work/got-$1" > "$work/diff-$1"
}
read_diag() { cat "$work/err-$1" "$work/diff-$1" 2>/dev/null | head -n 10; }
# wait_main UNIT OLD SECONDS: until UNIT is active with a main pid other than OLD; sets MAIN
wait_main() {
	local i line state pid
	for i in $(seq 1 $(($3 * 5))); do
		state='' pid=''
		while IFS= read -r line; do
			case $line in
			ActiveState=*) state=${line#*=} ;;
			MainPID=*) pid=${line#*=} ;;
			esac
		done < <(systemctl show -p ActiveState -p MainPID "$1")
		if [ "$state" = active ] && [ "$pid" != 0 ] && [ "$pid" != "$2" ]; then MAIN=$pid; return 0; fi
		bsleep 0.2
	done
	MAIN=
	return 1
}

# --- install ------------------------------------------------------------------------
section install
install -D -m 755 "$daemon" /usr/sbin/cachefiles-ondemandd
install -D -m 644 "$contrib/$unit" "$units/$unit"
install -D -m 644 "$contrib/$sunit" "$units/$sunit"
mkdir -p "$blobs" /etc/systemd/system/$unit.d /etc/systemd/system/$sunit.d
cat > /etc/systemd/system/$unit.d/test.conf <<EOF
[Service]
ExecStart=
ExecStart=/usr/sbin/cachefiles-ondemandd --cache-dir $cache --blobs $blobs --tag $tag --log-level debug --read-delay $read_delay
EOF
cat > /etc/systemd/system/$sunit.d/test.conf <<EOF
[Service]
ExecStart=
ExecStart=/usr/sbin/cachefiles-ondemandd supervise --socket /run/cachefiles-ondemandd/supervisor.sock --child-pidfile $pidfile --cache-dir $cache --tag $tag --restart-delay 20 --restart-delay-max 200 -- --blobs $blobs --log-level debug --read-delay $read_delay
EOF
systemctl daemon-reload
for u in "$unit" "$sunit"; do
	if systemd-analyze verify --man=no "$units/$u" > "$work/verify" 2>&1; then
		tap ok "unit.verify.$u"
	else
		tap fail "unit.verify.$u" "$(cat "$work/verify")"
	fi
	[ ! -s "$work/verify" ] || sed 's/^/# verify: /' "$work/verify"
done

start_unit() { # start_unit NAME UNIT [last]: one TAP line; the test ends if UNIT does not start and last is given
	if systemctl start "$2" 2> "$work/start.err"; then
		tap ok "$1"
	else
		tap fail "$1" "$(cat "$work/start.err"; systemctl status --no-pager "$2" 2>&1 | tail -n 20)"
		[ -z "${3:-}" ] || tap_done
	fi
}

# --- start ----------------------------------------------------------------------------
section start
start_unit unit.start "$unit" last
main=$(prop "$unit" MainPID)
check_eq unit.active active "$(prop "$unit" ActiveState)"
check_eq unit.cache_bound_active A "$(cache_state)" "$(cat /proc/fs/fscache/caches)"
check_eq unit.fd_in_store 1 "$(prop "$unit" NFileDescriptorStore)"
check unit.daemon_stored_fd grep -q "devnode fd stored in the systemd fd store" <(journal "$unit")
check unit.devnode_busy_while_bound test "$(devnode_free 0 && echo free)" != free
# systemd enforces DevicePolicy=/DeviceAllow= with BPF (cgroup v2).
if [ -e /proc/sys/kernel/unprivileged_bpf_disabled ]; then bpf=yes; else bpf="no: not enforced here"; fi
echo "# DevicePolicy=$(prop "$unit" DevicePolicy), BPF in the kernel: $bpf"

# --- systemctl kill -s KILL during reads ------------------------------------------------------
section "kill rounds"
kills=0 rounds=0 bad_reads=0 no_restart=0 mount_fail=0 restart_ms='' round_kills=''
while [ $kills -lt "$kills_target" ] && [ $rounds -lt "$max_rounds" ]; do
	rounds=$((rounds + 1))
	name=kill$rounds
	make_image "$name" "$kib"
	if ! mount_erofs "$work/mnt-$name" "fsid=$name"; then
		mount_fail=$((mount_fail + 1))
		echo "# round $rounds: mount failed: $(cat "$work/mount.err")"
		continue
	fi
	start_reader "$name"
	k=0
	while kill -0 "$reader" 2>/dev/null && [ $kills -lt "$kills_target" ]; do
		rand_sleep
		kill -0 "$reader" 2>/dev/null || break
		t1=$(date +%s%N)
		systemctl kill -s KILL "$unit" || { echo "# systemctl kill failed"; break; }
		kills=$((kills + 1)) k=$((k + 1))
		if ! wait_main "$unit" "$main" 30; then
			no_restart=$((no_restart + 1))
			echo "# no restart after kill $kills: $(systemctl show -p ActiveState -p SubState -p Result "$unit" | tr '\n' ' ')"
			break 2
		fi
		main=$MAIN
		restart_ms="$restart_ms $((($(date +%s%N) - t1) / 1000000))"
	done
	wait_reader 180
	echo "# round $rounds: $k kills while reading"
	read_ok "$name" || { bad_reads=$((bad_reads + 1)); read_diag "$name" | sed 's/^/# /'; }
	round_kills="$round_kills $k"
	umount "$work/mnt-$name" || echo "# round $rounds: umount failed"
	rm -rf "$work/src-$name" "${blobs:?}/$name"
done
echo "# $kills kills in $rounds rounds; kills per round:$round_kills"
echo "# ms from each systemctl kill to the restarted daemon's READY:$restart_ms"
log=$(journal "$unit")
adopted=$(grep -c "adopted the devnode fd 'cachefiles' from systemd (LISTEN_FDS) and sent 'restore'" <<< "$log")
opens=$(grep -c "DEBUG OPEN msg" <<< "$log")
resent=$(sed -n 's/.*DEBUG READ msg \([0-9]*\) .*received; delaying.*/\1/p' <<< "$log" | sort | uniq -d | wc -l)
echo "# journal: $adopted restores from the fd store, $opens OPENs for $rounds mounts, $resent in-flight READs re-sent after restore"
check kill.target_reached test "$kills" -ge "$kills_target"
check kill.restarted_after_each_kill test "$no_restart" = 0
check kill.all_mounts_ok test "$mount_fail" = 0
check kill.no_read_errors_sha256_right test "$bad_reads" = 0
check_eq kill.nrestarts "$kills" "$(prop "$unit" NRestarts)"
check_eq kill.each_restart_restored_from_fd_store "$kills" "$adopted"
check kill.reopens_seen test "$opens" -gt "$rounds"
check_eq kill.fd_still_in_store 1 "$(prop "$unit" NFileDescriptorStore)"
check_eq kill.cache_still_active A "$(cache_state)"
grep " ERROR " <<< "$log" | head -n 5 | sed 's/^/# /'

# --- systemctl restart keeps the cache ------------------------------------------------------------
section restart
make_image restart "$kib"
if mount_erofs "$work/mnt-restart" fsid=restart; then
	start_reader restart
	rand_sleep
	old=$main
	if systemctl restart "$unit" 2> "$work/restart.err"; then
		tap ok restart.systemctl_restart
	else
		tap fail restart.systemctl_restart "$(cat "$work/restart.err")"
	fi
	main=$(prop "$unit" MainPID)
	check restart.new_daemon test "$main" != "$old" -a "$main" != 0
	wait_reader 180
	if read_ok restart; then tap ok restart.read_across_restart_sha256_right
	else tap fail restart.read_across_restart_sha256_right "$(read_diag restart)"; fi
	check_eq restart.restored_from_fd_store $((adopted + 1)) \
		"$(journal "$unit" | grep -c "from systemd (LISTEN_FDS) and sent 'restore'")"
	check_eq restart.fd_still_in_store 1 "$(prop "$unit" NFileDescriptorStore)"
	check_eq restart.cache_still_active A "$(cache_state)"
	# Already fetched: read again from the cache after dropping the page cache.
	if diff <(manifest "$work/src-restart") <(read_all "$work/mnt-restart"; manifest "$work/mnt-restart") > "$work/diff" 2>&1; then
		tap ok restart.reread_sha256_right
	else
		tap fail restart.reread_sha256_right "$(head -n 5 "$work/diff")"
	fi
else
	tap fail restart.mount "$(cat "$work/mount.err")"
fi

# --- systemctl stop releases the cache ------------------------------------------------------------
# The restart image stays mounted; r4.bin of a new image is never read
# before the stop.
section stop
make_image stop "$kib"
mount_erofs "$work/mnt-stop" fsid=stop || echo "# mount failed: $(cat "$work/mount.err")"
cmp -s "$work/src-stop/r1.bin" "$work/mnt-stop/r1.bin"
check stop.first_read_before_stop test $? = 0
if systemctl stop "$unit" 2> "$work/stop.err"; then tap ok stop.systemctl_stop
else tap fail stop.systemctl_stop "$(cat "$work/stop.err")"; fi
check_eq stop.inactive inactive "$(prop "$unit" ActiveState)"
check_eq stop.daemon_exit_status_0 0 "$(prop "$unit" ExecMainStatus)"
check_eq stop.fd_store_emptied 0 "$(prop "$unit" NFileDescriptorStore)"
check stop.devnode_free devnode_free 5
echo "# /proc/fs/fscache/caches after stop:"
sed 's/^/#   /' /proc/fs/fscache/caches
check stop.cache_not_active test "$(cache_state)" != A
check_read_fails stop.uncached_read_fails_without_hang "$work/mnt-stop/r4.bin"
for m in stop restart; do
	mountpoint -q "$work/mnt-$m" || continue
	timeout 120 umount "$work/mnt-$m"
	check "stop.umount_$m" test $? = 0
done
echo "# /proc/fs/fscache/caches after umount:"
sed 's/^/#   /' /proc/fs/fscache/caches
check stop.cache_gone_after_umount test "$(cache_state)" = -

# start again: a fresh bind (no stored fd), the images read right.
section "start again"
start_unit again.start "$unit"
check_eq again.cache_active A "$(cache_state)"
# The unit's second bind in the journal (the first was the first start).
check_eq again.fresh_bind 2 "$(journal "$unit" | grep -c "sent 'bind ondemand'")"
for m in stop restart; do
	if mount_erofs "$work/mnt-$m" "fsid=$m" && diff <(manifest "$work/src-$m") <(manifest "$work/mnt-$m") > "$work/diff" 2>&1; then
		tap ok "again.mount_read_$m"
	else
		tap fail "again.mount_read_$m" "$(cat "$work/mount.err" "$work/diff" | head -n 5)"
	fi
	umount "$work/mnt-$m"
done
systemctl stop "$unit"
check_eq again.stopped inactive "$(prop "$unit" ActiveState)"

# --- the start limit: when systemd gives up, the cache ends --------------------------------
# A drop-in lowers the unit's limit to 3 starts: the first start and two
# restarts are served; the third kill makes systemd refuse the restart,
# fail the unit and close the stored fd.
section "start limit"
cat > /etc/systemd/system/$unit.d/zz-limit.conf <<EOF
[Unit]
StartLimitIntervalSec=600
StartLimitBurst=3
EOF
systemctl daemon-reload
# Also restarts the count of starts (the unit may be unloaded: nothing to reset).
systemctl reset-failed "$unit" 2> /dev/null
start_unit limit.start "$unit"
main=$(prop "$unit" MainPID)
make_image limit "$kib"
mount_erofs "$work/mnt-limit" fsid=limit || echo "# mount failed: $(cat "$work/mount.err")"
check limit.first_read cmp -s "$work/src-limit/r1.bin" "$work/mnt-limit/r1.bin"
for i in 1 2; do
	systemctl kill -s KILL "$unit"
	check "limit.restart_$i" wait_main "$unit" "$main" 30
	main=${MAIN:-$main}
done
check limit.read_after_restarts cmp -s "$work/src-limit/r2.bin" "$work/mnt-limit/r2.bin"
systemctl kill -s KILL "$unit"
for _ in $(seq 1 150); do [ "$(prop "$unit" ActiveState)" = failed ] && break; bsleep 0.2; done
# (systemd 252 keeps Result=signal, the first failure; the journal says why.)
check_eq limit.unit_failed failed "$(prop "$unit" ActiveState)"
check limit.start_limit_hit grep -q "Start request repeated too quickly" <(journal "$unit")
check_eq limit.fd_store_closed 0 "$(prop "$unit" NFileDescriptorStore)"
check limit.devnode_free devnode_free 5
check_read_fails limit.uncached_read_fails_without_hang "$work/mnt-limit/r4.bin"
timeout 120 umount "$work/mnt-limit"
check limit.umount test $? = 0
rm /etc/systemd/system/$unit.d/zz-limit.conf
systemctl daemon-reload
systemctl reset-failed "$unit" 2> /dev/null

# --- supervisor unit ----------------------------------------------------------------------------
section supervise
start_unit supervise.start "$sunit" last
smain=$(prop "$sunit" MainPID)
check_eq supervise.cache_active A "$(cache_state)"
child_of() { CHILD=; { read -r CHILD < "$pidfile"; } 2> /dev/null; [ -n "$CHILD" ] && kill -0 "$CHILD" 2> /dev/null; }
wait_child() { # wait_child OLD: a running child other than OLD; sets CHILD
	for _ in $(seq 1 500); do child_of && [ "$CHILD" != "$1" ] && return 0; bsleep 0.04; done
	return 1
}
wait_child ""
check supervise.child_running test -n "$CHILD"
make_image sup "$kib"
skills=0 nochild=0
if mount_erofs "$work/mnt-sup" fsid=sup; then
	start_reader sup
	while kill -0 "$reader" 2>/dev/null && [ $skills -lt "$sup_kills_target" ]; do
		rand_sleep
		child_of || continue
		old=$CHILD
		kill -KILL "$old" && skills=$((skills + 1))
		wait_child "$old" || { nochild=1; break; }
	done
	wait_reader 180
	echo "# $skills kills of the supervisor's child while reading"
	check supervise.child_killed test "$skills" -gt 0
	check supervise.new_child_after_each_kill test "$nochild" = 0
	if read_ok sup; then tap ok supervise.no_read_errors_sha256_right
	else tap fail supervise.no_read_errors_sha256_right "$(read_diag sup)"; fi
	check_eq supervise.same_supervisor "$smain" "$(prop "$sunit" MainPID)"
	check_eq supervise.unit_active active "$(prop "$sunit" ActiveState)"
	umount "$work/mnt-sup"
else
	tap fail supervise.mount "$(cat "$work/mount.err")"
fi
systemctl stop "$sunit"
check_eq supervise.stopped inactive "$(prop "$sunit" ActiveState)"
check_eq supervise.exit_status_0 0 "$(prop "$sunit" ExecMainStatus)"
check supervise.devnode_free_after_stop devnode_free 5
check supervise.no_process_left test -z "$(pgrep -f "cachefiles-ondemandd")"

tap_done
