#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# ninep_smoke.sh: a network filesystem (9p) cached through a normal-mode
# (non-on-demand) cache of the loaded module, C cachefiles.ko or
# cachefiles_rs.ko (run under scripts/vm-run).
#
#   scripts/netfs-9p debug      # once, on the host: builds 9pfsc.ko
#   scripts/vm-run --kernel debug --module c|rs -- \
#       tools/testing/selftests/cachefiles/normal/ninep_smoke.sh
#
# The 9p client is the kernel's own (fs/9p) built with CONFIG_9P_FSCACHE as
# filesystem "9pfsc" (scripts/netfs-9p; the test kernel's built-in 9p has no
# fscache); the server is diod on loopback TCP in the guest.  A shell binder
# keeps /dev/cachefiles open with `dir`, `tag`, `bind` (normal mode).
#
# Checks: the first read of every file equals the source (sha256) and
# populates the cache (fscache "IO wr", netfs "CaWrOps WR", the backing
# files' occupancy) with writes that complete asynchronously (a kprobe on
# netfs_write_subrequest_terminated sees was_async=1, as with C's
# cachefiles_write_complete: direct I/O into the backing file's holes is
# completed by the filesystem's end_io, not by the submitter); after drop_caches the second read is served from the
# cache (cache reads > 0, ~no bytes on the loopback: 9p metadata only).
# (netfs's DownOps are not used: the guest's root filesystem is 9p too.)
# an overwrite and a truncate through 9p are reflected; cached data survives
# an unbind/rebind; with NINEP_SECOND_MODULE=c|rs the same cache directory
# is then bound by that module and still serves the data from the cache.
#
# Environment: NINEP_KO (default: the 9pfsc.ko of the running kernel's
# variant in ~/.cache/cachefiles-rs/9pfsc/), NINEP_SECOND_MODULE (c|rs).
. "$(dirname "$0")/../ondemand/lib.sh"
. "$(dirname "$0")/lib-9p.sh"

od_require root devnode diod sha256sum
ninep_ko_or_skip
ko=$ninep_ko

od_init ninep
# The export on the guest's ext4 scratch: diod cannot serve the guest's /tmp
# (itself a 9p overlay of the host's): opens fail with ENOTDIR.
export_dir=${CFRS_SCRATCH:-$work}/ninep-export
cache_dir=${CFRS_SCRATCH:-$work}/ninep-cache
mnt=$work/mnt
mkdir -p "$export_dir" "$cache_dir" "$mnt"
port=5640

# --- helpers ---------------------------------------------------------------------
cache_kib() { du -sk "$cache_dir/cache" 2>/dev/null | cut -f1; }

# Write terminations seen by netfs, with their was_async (the third
# argument of netfs_write_subrequest_terminated): 9p's own uploads end
# with 0, a cache write ended by its kiocb completion with 1.
T=/sys/kernel/tracing
[ -e "$T/kprobe_events" ] || T=/sys/kernel/debug/tracing
kp=cfrs_ninep/wst
kprobe_start() {
	[ -w "$T/kprobe_events" ] || return 1
	echo "p:$kp netfs_write_subrequest_terminated was_async=\$arg3:u8" >> "$T/kprobe_events" || return 1
	echo > "$T/trace"
	echo 1 > "$T/events/$kp/enable" && echo 1 > "$T/tracing_on"
}
kprobe_stop() {
	[ -e "$T/events/$kp/enable" ] || return 0
	echo 0 > "$T/events/$kp/enable"
	echo "-:$kp" >> "$T/kprobe_events"
}
kprobe_count() { grep -c "was_async=$1\$" "$T/trace"; } # kprobe_count 0|1

od_cleanup_hook ninep_cleanup
ninep_cleanup() {
	kprobe_stop
	umount_9p
	unbind_cache
	ninep_cleanup_common
	if [ -n "$second" ] && [ "$second" != "$CFRS_MODULE" ]; then
		grep -q "^$second_name " /proc/modules && rmmod "$second_name"
		grep -q "^$CFRS_MODULE_NAME " /proc/modules || insmod "$CFRS_MODULE_KO"
	fi
}
check_sums() { # check_sums NAME: sha256 of every file through 9p = the export's
	local want got
	want=$(sums_of "$export_dir")
	got=$(sums_of "$mnt")
	check_eq "$1" "$want" "$got"
}

# --- setup -------------------------------------------------------------------------
second=${NINEP_SECOND_MODULE:-}
case $second in
"") ;;
c) second_name=cachefiles second_ko=$CFRS_C_KO ;;
rs) second_name=cachefiles_rs second_ko=$CFRS_RS_KO ;;
*) echo "1..0 # SKIP NINEP_SECOND_MODULE=$second (c|rs)"; exit 0 ;;
esac
section "module $CFRS_MODULE, 9pfsc $ko"
check insmod_9pfsc insmod "$ko"
head -c $((8 << 20)) /dev/urandom > "$export_dir/big"
head -c 1 /dev/urandom > "$export_dir/one"
head -c 5000 /dev/urandom > "$export_dir/small"
head -c $((300 << 10)) /dev/urandom > "$export_dir/medium"
: > "$export_dir/empty"
diod_start
check bind bind_cache
check mount mount_9p

# --- first read populates the cache --------------------------------------------------
section "first read"
u0=$(used_kib "$cache_dir")
kprobe=0
kprobe_start && kprobe=1
s0=$(snap)
check_sums first_read_sha256
# netfs copies what it read to the cache at writeback (the folios are
# marked for the cache only).
sync
read -r rd wr dl cwr crd lo <<< "$(delta "$s0" "$(snap)")"
used=$(($(used_kib "$cache_dir") - u0))
echo "# figures first read: IO rd=$rd wr=$wr; netfs CaWr=$cwr CaRd=$crd; loopback rx $lo bytes; cache filesystem +$used KiB"
if [ "${NINEP_VERBOSE:-0}" = 1 ]; then
	sed 's/^/# /' /proc/fs/netfs/stats # (includes fscache's)
fi
check first_read_wrote_cache [ "$wr" -gt 0 ]
check first_read_from_server [ "$lo" -gt $((8 << 20)) ]
check cache_occupancy_8mib [ "$used" -ge 8192 ]
if [ "$kprobe" = 1 ]; then
	async=$(kprobe_count 1) sync=$(kprobe_count 0)
	kprobe_stop
	echo "# figures write terminations: was_async=1 $async, was_async=0 $sync"
	check first_read_cache_writes_async [ "$async" -gt 0 ]
else
	tap ok "first_read_cache_writes_async # SKIP no kprobe events"
fi
echo "# backing files: $(find "$cache_dir/cache" -type f | wc -l) (tmpfiles are linked at withdrawal)"

# --- second read from the cache --------------------------------------------------
second_read() { # second_read NAME: read after drop_caches, served from the cache
	dropc
	local s r w d c cr l
	s=$(snap)
	check_sums "$1_sha256"
	read -r r w d c cr l <<< "$(delta "$s" "$(snap)")"
	echo "# figures $1: IO rd=$r wr=$w; netfs CaWr=$c CaRd=$cr; loopback rx $l bytes"
	check "$1_cache_reads" [ "$r" -gt 0 ]
	# 9p metadata (walk, getattr, open) only: far below the 8 MiB file.
	check "$1_few_server_bytes" [ "$l" -lt $((512 << 10)) ]
}
section "second read after drop_caches"
second_read second_read

# --- overwrite and truncate through 9p --------------------------------------------------
section "overwrite"
check overwrite dd if=/dev/urandom of="$mnt/big" bs=64k seek=16 count=16 conv=notrunc status=none
dropc
check_sums overwrite_sha256
dropc
check_sums overwrite_reread_sha256
section "truncate"
check truncate truncate -s $(((5 << 20) + 1000)) "$mnt/big"
check_eq truncate_size $(((5 << 20) + 1000)) "$(stat -c %s "$export_dir/big")"
dropc
check_sums truncate_sha256
dropc
check_sums truncate_reread_sha256
check append dd if=/dev/urandom of="$mnt/medium" bs=4k count=3 oflag=append conv=notrunc status=none
dropc
check_sums append_sha256
# Warm the cache again for what follows.
dropc
read_all_9p

# --- unbind / rebind ---------------------------------------------------------------------
section "unbind and rebind"
umount "$mnt"
check unbind unbind_cache
check rebind bind_cache
check remount mount_9p
read_all_9p   # fills what the first pass after the changes did not
umount "$mnt"
mount_9p
second_read rebind_read

# --- invalidation: a direct-I/O write through 9p ----------------------------------------
# 9p sends an O_DIRECT write to netfs_unbuffered_write_iter, which calls
# fscache_invalidate(FSCACHE_INVAL_DIO_WRITE): the cookie has no data to
# read any more (and is disabled until the writer lets go of it), and the
# cache's invalidate_cookie gives the object a new, empty tmpfile; the old
# backing file (linked since the re-bind) is unlinked at once (C:
# cachefiles_bury_object of a file).  The next read downloads the file
# and netfs copies it into the new tmpfile at writeback; the tmpfile is
# linked in when the cookie is withdrawn, and a new mount reads the file
# from the cache.
section "invalidation (O_DIRECT write)"
bfiles() { find "$cache_dir/cache" -type f -printf '%i\n' | sort; }
b0=$(bfiles)
nb0=$(grep -c . <<< "$b0")
inv0=$(fsstat Invals n)
check dio_write dd if=/dev/urandom of="$mnt/medium" bs=4k count=4 seek=2 oflag=direct conv=notrunc status=none
inv=$(($(fsstat Invals n) - inv0))
b1=$(bfiles)
gone=$(comm -23 <(echo "$b0") <(echo "$b1") | grep -c .)
echo "# figures invalidation: Invals n=+$inv; backing files $nb0 -> $(grep -c . <<< "$b1") ($gone gone)"
check invalidate_counted [ "$inv" -ge 1 ]
check_eq invalidate_old_file_unlinked 1 "$gone"
check_eq invalidate_graveyard_empty 0 "$(find "$cache_dir/graveyard" -mindepth 1 | wc -l)"
dropc
s=$(snap)
check_file dio_write_read_sha256 medium
sync
read -r r w d c cr l <<< "$(delta "$s" "$(snap)")"
echo "# figures read after the O_DIRECT write: IO rd=$r wr=$w; loopback rx $l bytes"
check_eq dio_write_read_not_from_cache 0 "$r"
check dio_write_read_from_server [ "$l" -ge "$(stat -c %s "$export_dir/medium")" ]
check dio_write_read_cached_again [ "$w" -gt 0 ]
check_sums dio_write_all_sha256
umount "$mnt"
# The withdrawal (after umount returns) links the new file in.
for _ in $(seq 1 100); do
	[ "$(bfiles | grep -c .)" = "$nb0" ] && break
	sleep 0.1
done
b2=$(bfiles)
echo "# figures after umount: backing files $(grep -c . <<< "$b2"), new $(comm -13 <(echo "$b0") <(echo "$b2") | grep -c .)"
check_eq invalidate_new_file_linked "$nb0 1" "$(grep -c . <<< "$b2") $(comm -13 <(echo "$b0") <(echo "$b2") | grep -c .)"
check remount_after_invalidate mount_9p
s=$(snap)
check_file invalidated_file_new_mount_sha256 medium
read -r r w d c cr l <<< "$(delta "$s" "$(snap)")"
echo "# figures invalidated file, new mount: IO rd=$r wr=$w; loopback rx $l bytes"
check invalidated_file_read_from_cache [ "$r" -gt 0 ]
check invalidated_file_few_server_bytes [ "$l" -lt $((64 << 10)) ]

# --- interchange ---------------------------------------------------------------------------
if [ -n "$second" ]; then
	section "interchange: the cache directory bound by $second"
	umount "$mnt"
	check unbind_first unbind_cache
	rmmod "$CFRS_MODULE_NAME"
	check insmod_second_module insmod "$second_ko"
	check bind_second bind_cache
	check mount_second mount_9p
	second_read "second_module_read"
	umount "$mnt"
	check unbind_second unbind_cache
	rmmod "$second_name"
	insmod "$CFRS_MODULE_KO"
fi
section "done"
tap_done
