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
#   snap / delta BEFORE AFTER
#                         the counters "rd wr dl cwr crd lo" (fscache IO rd/wr,
#                         netfs DownOps DL, CaWrOps WR, CaRdOps RD, loopback
#                         bytes) now, and their differences between two snaps
#   check_file NAME FILE  one case: sha256 of $mnt/FILE = $export_dir/FILE
#   bind_cache / unbind_cache
#                         a normal-mode cache on $cache_dir (tag
#                         ${bind_tag:-ninep}) bound by a background shell
#                         that keeps /dev/cachefiles open until unbind_cache
#   bind_cmd CMD          a command written on that fd: 0 or the error
# Needs $work, $export_dir, $mnt, $port (and $cache_dir for bind_cache).

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
snap() { echo "$(fsstat IO rd) $(fsstat IO wr) $(nfstat DownOps DL) $(nfstat CaWrOps WR) $(nfstat CaRdOps RD) $(lo_bytes)"; }
delta() {
	local -a a b
	read -r -a a <<< "$1"
	read -r -a b <<< "$2"
	echo "$((b[0] - a[0])) $((b[1] - a[1])) $((b[2] - a[2])) $((b[3] - a[3])) $((b[4] - a[4])) $((b[5] - a[5]))"
}
file_sum() { sha256sum < "$1" | cut -d' ' -f1; }
check_file() { check_eq "$1" "$(file_sum "$export_dir/$2")" "$(file_sum "$mnt/$2")"; }

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

binder_pid=""
bind_cache() { # bind_cache: dir $cache_dir, tag ${bind_tag:-ninep}, bind on a devnode fd kept open by a background shell
	rm -f "$work/ctl" "$work/bound"
	mkfifo "$work/ctl"
	(
		exec 3<> /dev/cachefiles || exit 1
		printf 'dir %s' "$cache_dir" >&3 || exit 2
		printf 'tag %s' "${bind_tag:-ninep}" >&3 || exit 3
		printf 'bind' >&3 || exit 4
		echo bound > "$work/bound"
		# One command per line on the fifo (bind_cmd), an empty line unbinds.
		while read -r line < "$work/ctl" && [ -n "$line" ]; do
			if printf '%s' "$line" >&3 2> "$work/cmd.err"; then
				echo 0
			else
				sed 's/.*write error: //' "$work/cmd.err"
			fi > "$work/cmd.out"
		done
		exec 3>&-
	) &
	binder_pid=$!
	local i
	for i in $(seq 1 100); do
		[ -e "$work/bound" ] && return 0
		kill -0 "$binder_pid" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}
bind_cmd() { # bind_cmd CMD: written to the bound fd; prints 0 or the error ("Input/output error")
	rm -f "$work/cmd.out"
	echo "$1" > "$work/ctl"
	local i
	for i in $(seq 1 100); do
		[ -s "$work/cmd.out" ] && break
		sleep 0.1
	done
	cat "$work/cmd.out" 2> /dev/null || echo "no answer"
}
unbind_cache() {
	[ -n "$binder_pid" ] || return 0
	echo > "$work/ctl"
	wait "$binder_pid"
	binder_pid=""
	devnode_free 10
}
