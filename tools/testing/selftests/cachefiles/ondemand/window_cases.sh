# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
# Case 13 of ondemand_test.sh (sourced from it, not run alone): wider READ
# requests, which only cachefiles_rs has (parameter read_window_kib; see
# Documentation/ondemand.rst, "Wider READ requests").  The same image is
# read cold twice, each time into a fresh cache directory: without a
# window and with 512 KiB windows.  cachefiles_rs must send fewer READs
# with the window (some of them 512 KiB long) and serve the same bytes; C
# has no parameter and serves both.  A third pass turns on read_ahead
# (cachefiles_rs only; "Read-ahead" in ondemand.rst) with READs delayed
# 200 ms.  Each pass first reads only the head of random.bin (the probe):
# with read-ahead the window after the one the reader is in must be asked
# for although nobody reads it yet (more READs after the probe than with
# the window alone), and over the whole pass no byte may be asked for
# twice.
# Uses ondemand_test.sh's variables:
# work, scratch, blobs, stats, daemon, dmode, is_rs.

section window
wparam=/sys/module/cachefiles_rs/parameters/read_window_kib
make_tree "$work/srcW" dub 1024
mkfs.erofs --quiet "$blobs/imgW" "$work/srcW" > /dev/null
wsaved=$(cat "$wparam" 2> /dev/null)
# The first two passes without read-ahead (a suite may run with it on).
aparam=/sys/module/cachefiles_rs/parameters/read_ahead
asaved=$(cat "$aparam" 2> /dev/null)
[ -w "$aparam" ] && echo 0 > "$aparam"

window_pass() { # window_pass LABEL KIB: a fresh cache, imgW read cold; sets wreads
	local label=$1 c=$scratch/ondemand-cacheW-$1 m=$work/mntW pid
	mkdir -p "$c"
	[ -w "$wparam" ] && echo "$2" > "$wparam"
	daemon_start "$stats" "$work/daemonW-$label.log" --cache-dir "$c" --blobs "$blobs" \
		--log-level debug "${dmode[@]}"
	pid=$DAEMON_PID
	if mount_erofs "$m" fsid=imgW; then tap ok "window.$label.mount"; else tap fail "window.$label.mount" "$(cat "$work/mount.err")"; fi
	head -c 4096 "$m/random.bin" > /dev/null
	sleep 2
	wprobe=$(stat_of read)
	same_tree "window.$label.sha256_all_files_match" "$work/srcW" "$m"
	wreads=$(stat_of read)
	read_all "$m"
	check_eq "window.$label.reread_no_new_read" "$wreads" "$(stat_of read)"
	umount "$m"
	daemon_stop "$pid"
	check_eq "window.$label.daemon_sigterm_exit_0" 0 $?
}
window_pass off 0
reads_off=$wreads
# How the daemon filled: splice(2) into the anon fd works only on
# cachefiles_rs with buffered backing I/O; direct I/O (rs) and C refuse it
# (EINVAL) as copy_file_range, and the daemon falls back to pread + pwrite.
wfill="filling with pread + pwrite"
[ "${CFRS_BUFFERED:-0}" = 1 ] && [ "$is_rs" = 1 ] && wfill="filling cache files with splice"
check window.off.fill_method_as_the_io_mode_allows grep -q "$wfill" "$work/daemonW-off.log"
window_pass 512k 512
reads_on=$wreads probe_on=$wprobe
[ -w "$wparam" ] && echo "$wsaved" > "$wparam"
echo "# READs without a window: $reads_off, with 512 KiB windows: $reads_on"
if [ "$is_rs" = 1 ]; then
	check window.fewer_reads_with_window_on_rs_only test "${reads_on:-0}" -gt 0 -a "${reads_on:-0}" -lt "${reads_off:-0}"
	check window.window_sized_reads_on_rs_only grep -q '+0x80000\]' "$work/daemonW-512k.log"
else
	check window.fewer_reads_with_window_on_rs_only test "${reads_on:-0}" -gt 0 -a "${reads_off:-0}" -gt 0
	check_eq window.window_sized_reads_on_rs_only absent \
		"$([ -e /sys/module/cachefiles/parameters/read_window_kib ] && echo present || echo absent)"
fi

[ -w "$aparam" ] && echo 1 > "$aparam"
dmode_saved=("${dmode[@]}")
dmode+=(--read-delay 200)
window_pass ahead 512
dmode=("${dmode_saved[@]}")
[ -w "$aparam" ] && echo "$asaved" > "$aparam"
[ -w "$wparam" ] && echo "$wsaved" > "$wparam"
# READs of the ahead pass that overlap an earlier READ of the same object.
overlaps=$(python3 - "$work/daemonW-ahead.log" << 'PY'
import re, sys
got = re.compile(r"READ msg \d+ object (\d+) \[0x([0-9a-f]+)\+0x([0-9a-f]+)\] received")
seen, overlaps = [], 0
for line in open(sys.argv[1], errors="replace"):
    m = got.search(line)
    if m:
        obj, off, n = m[1], int(m[2], 16), int(m[3], 16)
        overlaps += sum(1 for o, a, b in seen if o == obj and a < off + n and off < b)
        seen.append((obj, off, off + n))
print(overlaps)
PY
)
echo "# READs after reading the head of random.bin: $probe_on with 512 KiB windows, $wprobe with read-ahead too; read-ahead pass: READs $wreads, overlapping $overlaps"
if [ "$is_rs" = 1 ]; then
	check window.ahead.next_window_asked_before_the_reader_on_rs_only test "${wprobe:-0}" -gt "${probe_on:-0}"
else
	check_eq window.ahead.next_window_asked_before_the_reader_on_rs_only absent \
		"$([ -e /sys/module/cachefiles/parameters/read_ahead ] && echo present || echo absent)"
fi
check_eq window.ahead.no_byte_asked_twice 0 "${overlaps:-x}"
