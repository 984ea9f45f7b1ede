#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The guest side of scripts/bench: runs inside the VM (release kernel,
# started with --module none), loads each configuration's module in turn
# and prints one line per figure:
#
#   R ROUND CONFIG CASE VALUE          (a figure; "ERR" if the case failed)
#   S ROUND CONFIG randread_samples_us V V ...   (every random-read latency)
#   # ...                              (comments: settings, failures)
#
# Configurations (CFRS_BENCH_CONFIGS, in this order on odd rounds and
# reversed on even rounds):
#   native        EROFS on a loop device over the blob (no cachefiles)
#   c             C cachefiles.ko, the daemon with N workers
#   c-w1          C cachefiles.ko, the daemon with --workers 1
#   rs-direct     cachefiles_rs.ko with its defaults (C's direct I/O), N workers
#   rs-buffered   cachefiles_rs.ko buffered_io=1, N workers
#   rs-bufwin     cachefiles_rs.ko buffered_io=1 read_window_kib=W, N workers
#   rs-ahead      the same with read_ahead=1
#   rs-bufwin-w1  the same with --workers 1
# N = CFRS_BENCH_WORKERS (default: the guest's CPUs, the daemon's default),
# W = CFRS_BENCH_WINDOW_KIB (default 1024).  Every configuration uses the
# same daemon binary (this tree's release build).
#
# Cases (each configuration and round, a fresh cache directory, so every
# on-demand read is cold): seq_cold_MiBps (cat of a CFRS_BENCH_SEQ_MIB MiB
# file, default 64), seq_warm_MiBps (the same after umount, sync,
# drop_caches and a new mount: served from the cache file),
# randread_p50_us / randread_p99_us / randread_mean_us (tools/bench/randread:
# CFRS_BENCH_RAND_N distinct random 4 KiB pages, default 500, of a
# CFRS_BENCH_RAND_MIB MiB file, default 64, POSIX_FADV_RANDOM),
# small_files_per_s (cat of CFRS_BENCH_SMALL_FILES small files, default
# 1000).  In configurations c and rs-direct also: the dispatch cost
# (tools/bench/dispatch_bench, with CFRS_BENCH_DISPATCH_N pending, default
# "1 100 10000", CFRS_BENCH_DISPATCH_SECS seconds each, default 2) and,
# unless CFRS_BENCH_DEVNODE=0, the devnode operations (devnode_bench).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
bench=$root/tools/bench
daemon=${CFRS_ONDEMANDD:-$root/tools/cachefiles-ondemandd/target/release/cachefiles-ondemandd}
rounds=${CFRS_BENCH_ROUNDS:-3}
seq_mib=${CFRS_BENCH_SEQ_MIB:-64}
rand_mib=${CFRS_BENCH_RAND_MIB:-64}
rand_n=${CFRS_BENCH_RAND_N:-500}
small_n=${CFRS_BENCH_SMALL_FILES:-1000}
window=${CFRS_BENCH_WINDOW_KIB:-1024}
workers=${CFRS_BENCH_WORKERS:-$(nproc)}
dsecs=${CFRS_BENCH_DISPATCH_SECS:-2}
dns=${CFRS_BENCH_DISPATCH_N:-1 100 10000}
devnode=${CFRS_BENCH_DEVNODE:-1}
configs=${CFRS_BENCH_CONFIGS:-native c c-w1 rs-direct rs-buffered rs-bufwin rs-ahead rs-bufwin-w1}
scratch=${CFRS_SCRATCH:-/tmp/bench-scratch}
img=/tmp/bench-img mnt=/tmp/bench-mnt
mkdir -p "$scratch" "$mnt"

echo "# rounds $rounds, seq $seq_mib MiB, random $rand_n x 4 KiB of $rand_mib MiB, $small_n small files, window $window KiB, workers $workers (guest CPUs $(nproc)), dispatch N: $dns"
echo "# kernel $(uname -r), configs: $configs"

ns() { date +%s%N; }
# rate UNITS NS: UNITS per second, 1 decimal.
rate() { awk -v u="$1" -v t="$2" 'BEGIN { printf "%.1f", u * 1e9 / (t > 0 ? t : 1) }'; }
out() { echo "R $round $cfg $1 $2"; }

# --- images (in the guest's own /tmp, in memory) ------------------------------------
mkdir -p "$img/seq" "$img/rand" "$img/small" "$img/dispatch" "$img/blobs"
head -c $((seq_mib << 20)) /dev/urandom > "$img/seq/seq.bin"
head -c $((rand_mib << 20)) /dev/urandom > "$img/rand/rand.bin"
for i in $(seq "$small_n"); do head -c $((1000 + i * 7)) /dev/urandom > "$img/small/f$i"; done
head -c $((10240 * 4096)) /dev/urandom > "$img/dispatch/d.bin"
for x in seq rand small dispatch; do
	mkfs.erofs --quiet "$img/blobs/bench-$x" "$img/$x" || echo "# mkfs.erofs $x failed"
done
rm -rf "$img/rand" "$img/small" "$img/dispatch"
seq_sum=$(sha256sum < "$img/seq/seq.bin")
rm -rf "$img/seq"

# --- configurations ------------------------------------------------------------------
# cfg_setup CONFIG: sets module, params, nworkers.
cfg_setup() {
	params= nworkers=$workers
	case $1 in
	native) module=none ;;
	c) module=c ;;
	c-w1) module=c nworkers=1 ;;
	rs-direct) module=rs ;;
	rs-buffered) module=rs params="buffered_io=1" ;;
	rs-bufwin) module=rs params="buffered_io=1 read_window_kib=$window" ;;
	rs-ahead) module=rs params="buffered_io=1 read_window_kib=$window read_ahead=1" ;;
	rs-bufwin-w1) module=rs params="buffered_io=1 read_window_kib=$window" nworkers=1 ;;
	*) echo "# unknown configuration $1"; return 1 ;;
	esac
}
load() {
	case $module in
	c) insmod "$CFRS_C_KO" && modname=cachefiles ;;
	# shellcheck disable=SC2086 # params are separate words
	rs) insmod "$CFRS_RS_KO" $params && modname=cachefiles_rs ;;
	none) modname= ;;
	esac
}
unload() { [ -z "$modname" ] || rmmod "$modname"; }

# mount_blob BLOB: the blob through the cache (or on a loop device: native).
mount_blob() {
	if [ "$module" = none ]; then
		mount -t erofs -o loop,ro "$img/blobs/$1" "$mnt"
	else
		mount -t erofs none -o "fsid=$1" "$mnt"
	fi
}
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }

# timed_cat UNITS CASE FILES...: UNITS per second of reading FILES.
timed_cat() {
	local units=$1 case=$2 t0 t1
	shift 2
	t0=$(ns)
	if cat "$@" > /dev/null; then
		t1=$(ns)
		out "$case" "$(rate "$units" $((t1 - t0)))"
	else
		out "$case" ERR
	fi
}

reads() { # the cases that read EROFS images
	drop
	if mount_blob bench-seq; then
		timed_cat "$seq_mib" seq_cold_MiBps "$mnt/seq.bin"
		umount "$mnt"
		drop
		mount_blob bench-seq
		timed_cat "$seq_mib" seq_warm_MiBps "$mnt/seq.bin"
		[ "$round" != 1 ] || [ "$(sha256sum < "$mnt/seq.bin")" = "$seq_sum" ] ||
			echo "# $cfg: seq.bin read back wrong"
		umount "$mnt"
	else
		out seq_cold_MiBps ERR
		out seq_warm_MiBps ERR
	fi
	drop
	if mount_blob bench-rand && "$bench/randread" "$mnt/rand.bin" "$rand_n" 42 > /tmp/bench-rr; then
		while read -r k v; do
			case $k in
			randread_samples_us) echo "S $round $cfg $k $v" ;;
			randread_max_us) ;;
			*) out "$k" "$v" ;;
			esac
		done < /tmp/bench-rr
	else
		out randread_p50_us ERR
	fi
	mountpoint -q "$mnt" && umount "$mnt"
	drop
	if mount_blob bench-small; then
		timed_cat "$small_n" small_files_per_s "$mnt"/f*
		umount "$mnt"
	else
		out small_files_per_s ERR
	fi
}

dispatch() { # the module's dispatch cost with N READs pending
	local n cache
	for n in $dns; do
		cache=$scratch/dispatch-$cfg-$round-$n
		mkdir -p "$cache"
		timeout 300 "$bench/dispatch_bench" "$cache" "$img/blobs" bench-dispatch "$mnt" d.bin "$n" "$dsecs" \
			2> /tmp/bench-dispatch.err | while read -r k v; do out "$k" "$v"; done
		grep -q . /tmp/bench-dispatch.err && ! grep -q "READs pending" /tmp/bench-dispatch.err &&
			sed "s/^/# $cfg dispatch $n: /" /tmp/bench-dispatch.err
		mountpoint -q "$mnt" && umount "$mnt"
	done
}

run_config() {
	local cache pid dlog st
	cfg_setup "$cfg" || return
	if ! load; then
		echo "# $cfg: insmod failed"
		return
	fi
	if [ "$module" = none ]; then
		reads
	else
		cache=$scratch/od-$cfg-$round dlog=/tmp/bench-daemon-$cfg-$round.log st=/tmp/bench-stats
		mkdir -p "$cache"
		rm -f "$st"
		"$daemon" --cache-dir "$cache" --blobs "$img/blobs" --workers "$nworkers" \
			--stats "$st" --log-level info 2> "$dlog" &
		pid=$!
		for _ in $(seq 100); do [ -e "$st" ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
		if [ -e "$st" ]; then
			reads
			echo "# $cfg round $round daemon: $(tr '\n' ' ' < "$st")"
		else
			echo "# $cfg: the daemon did not start: $(head -5 "$dlog")"
		fi
		kill -TERM $pid 2>/dev/null
		wait $pid
		grep -E " (ERROR|WARN) |serving blobs|copy_file_range" "$dlog" | head -6 | sed "s/^/# $cfg daemon: /"
		if [ "$cfg" = c ] || [ "$cfg" = rs-direct ]; then
			dispatch
			if [ "$devnode" = 1 ]; then
				mkdir -p "$scratch/devnode-$cfg-$round"
				"$bench/devnode_bench" "$scratch/devnode-$cfg-$round" "$dsecs" |
					while read -r k v; do out "devnode_$k" "$v"; done
			fi
		fi
	fi
	unload || echo "# $cfg: rmmod failed"
	# Each configuration starts on an empty scratch: the cache files of a
	# run (70-140 MiB) left behind filled the 512 MiB scratch within a
	# round, and the last configuration's writes failed with ENOBUFS
	# (below bstop) in the first full run.
	echo "# $cfg round $round: scratch $(df -k --output=avail "$scratch" | tail -n 1) KiB free"
	rm -rf "${scratch:?}"/od-* "$scratch"/dispatch-* "$scratch"/devnode-*
}

for round in $(seq "$rounds"); do
	order=$configs
	[ $((round % 2)) = 0 ] && order=$(echo "$configs" | tr ' ' '\n' | tac | tr '\n' ' ')
	echo "# round $round: $order"
	for cfg in $order; do
		run_config
	done
done
