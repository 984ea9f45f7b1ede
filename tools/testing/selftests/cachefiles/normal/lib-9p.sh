# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
# Shared by the normal-mode selftests (ninep_smoke.sh, cachefilesd_cull.sh):
# a 9p mount with cache=fscache served by diod on loopback TCP in the guest.
# Sourced after ../ondemand/lib.sh (od_init done), not run.
#
#   ninep_ko_or_skip      sets $ninep_ko (9pfsc.ko of the running kernel's
#                         variant, or $NINEP_KO); "1..0 # SKIP" without it
#   diod_start            diod exporting $export_dir on 127.0.0.1:$port
#   mount_9p / umount_9p  $export_dir on $mnt through 9pfsc, cache=fscache
#   ninep_cleanup_common  umount, stop diod, rmmod 9pfsc (for an exit hook)
#   fsstat LINE KEY / nfstat LINE KEY
#                         a counter of /proc/fs/fscache/stats, /proc/fs/netfs/stats
#   lo_bytes              bytes received on the loopback (the 9p traffic)
#   used_kib DIR          KiB used on DIR's filesystem (counts tmpfiles, which
#                         du cannot see)
#   dropc / sums_of DIR / read_all_9p
# Needs $work, $export_dir, $mnt, $port.

ninep_ko_or_skip() {
	local variant=release
	[ -e /sys/kernel/debug/kmemleak ] && variant=debug
	ninep_ko=${NINEP_KO:-${CFRS_CACHE:-$HOME/.cache/cachefiles-rs}/9pfsc/$variant/9pfsc.ko}
	[ -f "$ninep_ko" ] || { echo "1..0 # SKIP no $ninep_ko (run scripts/netfs-9p $variant)"; exit 0; }
}

fsstat() { # fsstat LINE KEY: a counter of /proc/fs/fscache/stats ("IO rd" -> rd=)
	sed -n "s/^$1 *:.*[ ]$2=\([0-9]*\).*/\1/p" /proc/fs/fscache/stats
}
nfstat() { # nfstat LINE KEY: a counter of /proc/fs/netfs/stats
	sed -n "s/^$1 *:.*[ ]$2=\([0-9]*\).*/\1/p" /proc/fs/netfs/stats
}
lo_bytes() { cat /sys/class/net/lo/statistics/rx_bytes; }
used_kib() { sync; df -k --output=used "$1" | tail -n 1 | tr -d ' '; }
dropc() { sync; echo 3 > /proc/sys/vm/drop_caches; }
sums_of() { (cd "$1" && find . -type f | sort | xargs sha256sum); }
read_all_9p() { (cd "$mnt" && find . -type f | sort | xargs cat) > /dev/null; }

diod_pid=""
diod_start() {
	ip link set lo up 2>/dev/null || ifconfig lo up 2>/dev/null
	diod -f -n -c /dev/null -l "127.0.0.1:$port" -e "$export_dir" -L "$work/diod.log" &
	diod_pid=$!
	local i
	for i in $(seq 1 50); do
		(exec 5<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		sleep 0.2
	done
	return 1
}
mount_9p() {
	# ignoreqv: diod's qids have version 0, with which 9p reads and
	# writes uncached (P9L_DIRECT) unless told to ignore it.
	mount -t 9pfsc -o "trans=tcp,port=$port,version=9p2000.L,aname=$export_dir,cache=fscache,ignoreqv,access=any,uname=root" \
		127.0.0.1 "$mnt"
}
umount_9p() { ! mountpoint -q "$mnt" || umount "$mnt"; }
ninep_cleanup_common() {
	umount_9p
	[ -z "$diod_pid" ] || { kill "$diod_pid" 2>/dev/null; wait "$diod_pid" 2>/dev/null; }
	diod_pid=""
	grep -q '^9pfsc ' /proc/modules && rmmod 9pfsc
}
