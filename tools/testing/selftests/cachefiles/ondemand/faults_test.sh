#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Faults of the backing filesystem under an on-demand cache (TAP; issue 13
# item 2).  Runs as root inside the test VM with one cachefiles backend
# loaded:
#
#   scripts/vm-run --kernel debug --module c -- \
#       tools/testing/selftests/cachefiles/ondemand/faults_test.sh
#
# C cachefiles.ko is the oracle: every case has the same name on both
# modules and asserts what C 6.12 does (fs/cachefiles/), so a difference
# on cachefiles_rs is a failure.  The daemon is tools/cachefiles-ondemandd.
# Cases, from the least to the most destructive:
#
#   1. xattr: a clean run writes nine images' cache files; with the daemon
#      stopped, their coherency xattr (user.CacheFiles.cache) is shortened,
#      lengthened, given a wrong type or object size, removed, the file
#      replaced by a directory or a symlink, or the volume directory's xattr
#      damaged; after a re-bind: a stale xattr (ESTALE) or a non-file is
#      replaced (buried) and refetched (READs again), an xattr that cannot
#      be read (ERANGE, ENODATA) fails the lookup and so the mount (EIO or
#      ENOBUFS, see check_mount_failed); a third mount shows what the
#      replacement left.
#   2. enospc: the cache on a small ext4 filled up while an image is
#      mounted: the daemon's anon-fd writes are refused (C's
#      cachefiles_has_space: ENOBUFS below bstop), the reader gets EIO, not a
#      hang, the cache stays up; space freed, the same mount reads the file.
#   3. rdonly: `mount -o remount,ro` of the backing fs while an object is
#      open is refused (EBUSY: backing files are open for writing); once
#      idle the remount works and mounts fail (the backing file cannot be
#      opened for writing, a new volume directory cannot be made) without
#      killing the cache (vfs_mkdir, vfs_tmpfile and opens for writing
#      refuse on a read-only fs before ext4 is asked: no ext4 warning);
#      after `remount,rw` service resumes.
#   4. ioerr: the cache on ext4 (errors=continue) on a device-mapper linear
#      device over a loop file, switched to the `error` target while an
#      image is mounted: uncached reads fail with EIO without hanging, data
#      I/O errors alone leave the cache up (C only traces them); once ext4
#      has given up (journal aborted), the withdrawal at umount cannot set
#      the object's xattr: "I/O Error: Failed to set xattr" in dmesg and
#      the cache's state is E (fscache_io_error); umount, daemon stop,
#      the table back to linear, rmmod and insmod work; a fresh cache then
#      serves the image.
#
# Kernel messages expected here (EXT4-fs error, Buffer I/O error, JBD2,
# erofs, CacheFiles I/O Error) do not match vm-run's splat patterns;
# each case checks that no splat appeared meanwhile.  Small data: cold
# reads run at ~1-2 MB/s on the TCG debug kernel.  CFRS_FAULTS_KEEP=DIR
# copies the daemon logs there (a guest path); CFRS_FAULTS_VERBOSE=1
# prints their warnings and errors and the kernel log at the end.
# CFRS_FAULTS_SECTIONS picks sections (see want_section).

. "$(dirname "$0")/lib.sh"
od_init faults
od_require root daemon mkfs devnode python3 dmsetup losetup blockdev mkfs.ext4 fallocate
mod=${CFRS_MODULE:-rs}
echo "# backend ${CFRS_MODULE_NAME:-?} (CFRS_MODULE=$mod), daemon $daemon"
scratch=${CFRS_SCRATCH:-$work}
blobs=$work/blobs
mkdir -p "$blobs"
# No udev in the guest: libdevmapper makes its nodes itself.
export DM_DISABLE_UDEV=1
splat=${CFRS_SPLAT:-BUG:|WARNING:|Oops|KASAN|UBSAN|general protection|Kernel panic|blocked for more than|refcount_t:}

# CFRS_FAULTS_SECTIONS="xattr enospc rdonly ioerr" (the default: all) runs
# only the sections named (each stands alone; the images are always made).
want_section() { [[ " ${CFRS_FAULTS_SECTIONS:-xattr enospc rdonly ioerr} " == *" $1 "* ]]; }

keep_logs() {
	local l
	if [ -n "${CFRS_FAULTS_KEEP:-}" ]; then
		mkdir -p "$CFRS_FAULTS_KEEP" && cp "$work"/*.log "$CFRS_FAULTS_KEEP"/ 2>/dev/null
	fi
	if [ "${CFRS_FAULTS_VERBOSE:-0}" = 1 ]; then
		for l in "$work"/*.log; do
			echo "# --- $(basename "$l"): warnings and errors"
			grep -E " (WARN|ERROR) " "$l" | head -40 | sed 's/^/# /'
		done
		echo "# --- kernel log since the first case"
		klog_since xattr | grep -vE "^\[[^]]*\] cfrs_mark:" | head -300 | sed 's/^/# /'
	fi
}
od_cleanup_hook keep_logs

# --- helpers --------------------------------------------------------------------------
# mount_errno MNT OPTIONS: mount(2) of EROFS with OPTIONS: prints the
# errno name, 0 if it mounted, TIMEOUT after 120 s.  (Run in $(...): the
# caller tracks MNT with od_track_mount.)
mount_errno() {
	local out
	mkdir -p "$1"
	out=$(timeout 120 python3 -c '
import ctypes, errno, sys
libc = ctypes.CDLL(None, use_errno=True)
rc = libc.mount(b"none", sys.argv[1].encode(), b"erofs", 0, sys.argv[2].encode())
e = ctypes.get_errno()
print(0 if rc == 0 else errno.errorcode.get(e, e))' "$1" "$2" 2>&1)
	echo "${out:-TIMEOUT}"
}
# check_mount_failed NAME ERRNO: ok iff a mount failed as C's do when the
# cookie's lookup fails.  The errno depends on when EROFS's first read
# meets the cookie (fscache_begin_operation): still being created
# (cachefiles_open_file called fscache_cookie_lookup_negative before
# failing) -> the read finds no file -> "prepare_ondemand_read failed
# (source 2)", EIO; already given up -> ENOBUFS.
check_mount_failed() {
	case $2 in
	EIO | ENOBUFS) tap ok "$1" ;;
	*) tap fail "$1" "mount: $2" ;;
	esac
}
# reads_of LOG BLOB [FROM_LINE]: READ requests for BLOB in a daemon log
# (served or failed), from line FROM_LINE on.
reads_of() {
	tail -n +"${3:-1}" "$1" | grep -cE "READ msg [0-9]+ object [0-9]+ blob '$2' \["
}
opens_of() { tail -n +"${3:-1}" "$1" | grep -cE "OPEN msg [0-9]+ object [0-9]+ .*blob '$2'"; }
lines_of() { wc -l < "$1"; }
# A small tree for an image: text files and KIB KiB of random data.
small_tree() { # small_tree DIR SEED KIB
	mkdir -p "$1/d"
	echo "image $2" > "$1/name.txt"
	seq 1 500 | sed "s/^/$2 /" > "$1/d/seq.txt"
	head -c $(($3 * 1024)) /dev/urandom > "$1/d/random.bin"
	head -c 4097 /dev/urandom > "$1/page-plus-one"
}
# mkimg NAME SRC: an image NAME in $blobs from SRC, its manifest in $work/NAME.want
mkimg() {
	mkfs.erofs --quiet "$blobs/$1" "$2" > /dev/null && manifest "$2" > "$work/$1.want"
}
# tree_ok NAME MNT: the manifest of MNT is image NAME's (sha256 of every file)
tree_ok() { diff -q "$work/$1.want" <(manifest "$2") > /dev/null 2>&1; }
# A loop-mounted ext4 of its own (cases 2 and 3): loopfs_mount IMG MIB MNT MKFS_OPTS...
loopfs=()
loopfs_mount() {
	local img=$1 mib=$2 mnt=$3
	shift 3
	truncate -s "${mib}M" "$img" && mkfs.ext4 -q -F "$@" "$img" > /dev/null &&
		mkdir -p "$mnt" && mount -o loop "$img" "$mnt" && loopfs+=("$mnt")
}
loopfs_cleanup() {
	local m
	for m in "${loopfs[@]}"; do
		if mountpoint -q "$m"; then
			mount -o remount,rw "$m" 2>/dev/null
			timeout 60 umount "$m"
		fi
	done
}
od_cleanup_late loopfs_cleanup

section images
# --- images ------------------------------------------------------------------------------
ximgs=(clean short long type size none dir link vol)
ok=1
for v in "${ximgs[@]}"; do
	od_track_mount "$work/mnt-x-$v"
	small_tree "$work/src-x-$v" "x-$v" 64
	mkimg "x-$v" "$work/src-x-$v" || ok=0
done
small_tree "$work/src-nospc" nospc 64
head -c $((8 << 20)) /dev/urandom > "$work/src-nospc/big.bin"
mkimg nospc "$work/src-nospc" || ok=0
for v in ro1 ro2; do
	small_tree "$work/src-$v" "$v" 512
	mkimg "$v" "$work/src-$v" || ok=0
done
make_round_tree "$work/src-io" 2048
mkimg io "$work/src-io" || ok=0
check setup.mkfs_erofs test $ok = 1

# =======================================================================================
section xattr
if want_section xattr; then
# --- 1. corrupted coherency data ------------------------------------------------------------
# What C 6.12 does at lookup (namei.c cachefiles_look_up_object,
# cachefiles_open_file; xattr.c cachefiles_check_auxdata; volume.c):
#   not a regular file      "<name> is not a file", buried (a directory
#                            moved to the graveyard, anything else
#                            unlinked), new file: refetch
#   xattr of another length  vfs_getxattr into an 18-byte buffer: shorter ->
#                            ESTALE -> new file (refetch); longer -> ERANGE
#                            -> the lookup fails (not ESTALE): no cache file
#   wrong type / size        ESTALE -> new file (refetch)
#   no xattr                 ENODATA -> the lookup fails
#   volume xattr changed     ESTALE -> volume directory buried, remade
# EROFS's cookies have no auxiliary data: a good object xattr is 18 bytes
# (object_size be64, zero_point be64, type 1, content).
kmark xattr
xcache=$scratch/faults-xattr
rm -rf "$xcache"
mkdir -p "$xcache"
xtag=cfrs-faults-xattr
# x_pass LABEL LOG: mounts every image, checks its files and unmounts it;
# sets x_mnt_<v> (mount errno, 0 if mounted) and x_sum_<v> (1 if every sha256 matched).
x_pass() {
	local v e m
	for v in "${ximgs[@]}"; do
		m=$work/mnt-x-$v
		e=$(mount_errno "$m" "fsid=x-$v")
		printf -v "x_mnt_$v" %s "$e"
		printf -v "x_sum_$v" 0
		if [ "$e" = 0 ]; then
			tree_ok "x-$v" "$m" && printf -v "x_sum_$v" 1
			umount "$m"
		fi
	done
}
xlog1=$work/xattr-1.log
if daemon_start "$work/xattr-1.stats" "$xlog1" --cache-dir "$xcache" --blobs "$blobs" \
	--tag "$xtag" --log-level debug; then
	tap ok xattr.clean_run_daemon_binds
else
	tap fail xattr.clean_run_daemon_binds "$(head -10 "$xlog1")"
fi
x_pass 1
bad=
for v in "${ximgs[@]}"; do
	mv=x_mnt_$v sv=x_sum_$v
	if [ "${!mv}" != 0 ] || [ "${!sv}" != 1 ] || [ "$(reads_of "$xlog1" "x-$v")" = 0 ]; then
		bad="$bad $v(${!mv})"
	fi
done
check_eq xattr.clean_run_reads_and_sha256 "" "$bad"
daemon_stop "$DAEMON_PID"
check_eq xattr.clean_run_daemon_exit_0 0 $?
devnode_free 10

# Damage the cache.  obj V: the path of image x-V's cache file.
obj() { find "$xcache/cache/Ierofs,x-$1" -name "Dx-$1" 2>/dev/null | head -1; }
xattr_py() { # xattr_py ACTION PATH: get (hex) | short | long | type | size | none | vol
	python3 -c '
import os, struct, sys
act, p = sys.argv[1], sys.argv[2]
n = "user.CacheFiles.cache"
if act == "get":
    print(os.getxattr(p, n).hex())
    sys.exit(0)
v = os.getxattr(p, n)
if act == "short":
    os.setxattr(p, n, v[:10])
elif act == "long":
    os.setxattr(p, n, v + os.urandom(14))
elif act == "type":
    os.setxattr(p, n, v[:16] + b"\xff" + v[17:])
elif act == "size":
    os.setxattr(p, n, struct.pack(">Q", struct.unpack(">Q", v[:8])[0] + 4096) + v[8:])
elif act == "none":
    os.removexattr(p, n)
elif act == "vol":
    os.setxattr(p, n, b"\x00\x00\x00\x01" + v[4:])
' "$1" "$2"
}
ok=1 why=
for v in "${ximgs[@]}"; do
	f=$(obj "$v")
	if [ -z "$f" ] || [ ! -f "$f" ]; then
		ok=0 why="$why no cache file for x-$v;"
		continue
	fi
	[ "$v" = clean ] && echo "# the xattr of a clean object ($f): $(xattr_py get "$f")"
	[ "$v" = vol ] && echo "# the xattr of its volume directory: $(xattr_py get "$xcache/cache/Ierofs,x-vol")"
	case $v in
	clean) ;;
	dir) rm -f "$f" && mkdir "$f" || ok=0 ;;
	link) rm -f "$f" && ln -s nowhere "$f" || ok=0 ;;
	vol) xattr_py vol "$xcache/cache/Ierofs,x-vol" || ok=0 ;;
	*) xattr_py "$v" "$f" || ok=0 ;;
	esac
done
check xattr.damage_done test $ok = 1 -a -z "$why"
[ -z "$why" ] || echo "# $why"
grave0=$(find "$xcache/graveyard" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)

# Re-bind and mount every image again.
xlog2=$work/xattr-2.log
daemon_start "$work/xattr-2.stats" "$xlog2" --cache-dir "$xcache" --blobs "$blobs" \
	--tag "$xtag" --log-level debug
check xattr.rebind_daemon_binds kill -0 "$DAEMON_PID"
x_pass 2
for v in "${ximgs[@]}"; do
	mv=x_mnt_$v sv=x_sum_$v
	printf -v "p2_mnt_$v" %s "${!mv}"
	echo "# x-$v: mount ${!mv}, sha256 ok ${!sv}, READs $(reads_of "$xlog2" "x-$v"), OPENs $(opens_of "$xlog2" "x-$v")"
	case $v in
	clean)
		check_eq "xattr.$v.served_without_reads" "0 1 0" "${!mv} ${!sv} $(reads_of "$xlog2" "x-$v")" ;;
	short | type | size | dir | link | vol)
		# Replaced: a new cache file, every byte fetched again.
		check "xattr.$v.replaced_and_refetched" test "${!mv}" = 0 -a "${!sv}" = 1 -a \
			"$(reads_of "$xlog2" "x-$v")" -gt 0 ;;
	long | none)
		# The xattr cannot be read (ERANGE, ENODATA): the cookie's lookup
		# fails, EROFS cannot read its superblock.
		check_mount_failed "xattr.$v.mount_fails" "${!mv}" ;;
	esac
done
msgs=$(klog_since xattr | grep -E "is not a file|Dirty object|I/O Error" | sed 's/^\[[^]]*\] //')
echo "$msgs" | sed 's/^/# dmesg: /'
check xattr.dmesg_dir_is_not_a_file grep -q "Dx-dir is not a file" <<< "$msgs"
check xattr.dmesg_link_is_not_a_file grep -q "Dx-link is not a file" <<< "$msgs"
check xattr.no_io_error_message test -z "$(grep "I/O Error" <<< "$msgs")"
grave1=$(find "$xcache/graveyard" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
echo "# graveyard entries: $grave0 before, $grave1 after the re-bind"
# Buried: directories move to the graveyard (the one in the object's
# place, the volume directory), other non-files are unlinked (namei.c
# cachefiles_bury_object).
check_eq xattr.two_dirs_in_graveyard 2 $((grave1 - grave0))

# A third mount on the same binding (the replacements were committed at
# umount; allow the withdrawals a moment): nothing is fetched again where
# the cache file was replaced; what failed fails the same way.
sleep 2
l0=$(($(lines_of "$xlog2") + 1))
x_pass 3
for v in "${ximgs[@]}"; do
	mv=x_mnt_$v sv=x_sum_$v pv=p2_mnt_$v
	r=$(reads_of "$xlog2" "x-$v" "$l0")
	echo "# third mount of x-$v: mount ${!mv}, sha256 ok ${!sv}, READs $r"
	case $v in
	long | none)
		echo "# x-$v: errno ${!pv} at the second mount, ${!mv} at the third"
		check_mount_failed "xattr.$v.third_mount_fails_too" "${!mv}" ;;
	*) check_eq "xattr.$v.third_mount_served_without_reads" "0 1 0" "${!mv} ${!sv} $r" ;;
	esac
done
daemon_stop "$DAEMON_PID"
check_eq xattr.daemon_exit_0 0 $?
# What the replacements left: regular files with a good xattr (18 bytes,
# type 1); the undamaged-but-unreadable ones as they were.
bad=
for v in short type size dir link vol; do
	f=$(obj "$v")
	x=$( [ -f "$f" ] && [ ! -L "$f" ] && xattr_py get "$f" 2>/dev/null)
	[ "${#x}" = 36 ] && [ "${x:32:2}" = 01 ] || bad="$bad $v:${x:-none}"
done
check_eq xattr.replaced_files_have_good_xattr "" "$bad"
wait_cache_gone "$xtag"
check_eq xattr.cache_gone_after_unbind none "$(cache_state "$xtag")"
check_no_splat xattr.no_kernel_splat xattr
devnode_free 10

# =======================================================================================
fi
section enospc
if want_section enospc; then
# --- 2. the cache's filesystem full --------------------------------------------------------------
# C: an anon-fd write first asks cachefiles_has_space (io.c
# __cachefiles_prepare_write, cache.c): below bstop (1% of the blocks by
# default) it fails with ENOBUFS and starts culling (on-demand daemons
# are told with EPOLLOUT); the READ completes with the range still a
# hole, EROFS gets source != READ_FROM_CACHE and fails the read with EIO.
# Nothing marks the cache dead.  Freeing space lets the next READs land.
kmark enospc
nmnt=$work/nospc-fs
ntag=cfrs-faults-nospc
# No journal, no reserved blocks: the free space is what df says.
if loopfs_mount "$work/nospc.img" 32 "$nmnt" -b 4096 -m 0 -O ^has_journal; then
	tap ok enospc.small_ext4
else
	tap fail enospc.small_ext4
fi
nlog=$work/enospc.log
mkdir -p "$nmnt/cache"
daemon_start "$work/enospc.stats" "$nlog" --cache-dir "$nmnt/cache" --blobs "$blobs" \
	--tag "$ntag" --log-level debug
check enospc.daemon_binds kill -0 "$DAEMON_PID"
npid=$DAEMON_PID
m=$work/mnt-nospc
if mount_erofs "$m" fsid=nospc && cmp -s "$work/src-nospc/d/random.bin" "$m/d/random.bin" &&
	cmp -s "$work/src-nospc/d/seq.txt" "$m/d/seq.txt"; then
	tap ok enospc.mount_and_first_read
else
	tap fail enospc.mount_and_first_read "$(cat "$work/mount.err")"
fi
# Fill the filesystem, leaving 2 MiB for an 8 MiB file.
avail=$(df -B4096 --output=avail "$nmnt" | tail -1 | tr -d ' ')
fallocate -l $(((avail - 512) * 4096)) "$nmnt/filler"
echo "# free 4 KiB blocks: $avail before the filler, $(df -B4096 --output=avail "$nmnt" | tail -1 | tr -d ' ') after"
r0=$(stat_of read "$work/enospc.stats")
res=$(read_result "$m/big.bin" 120)
echo "# read of the 8 MiB file with 2 MiB free: $res"
check enospc.read_fails_no_hang test "$res" != TIMEOUT -a "${res%% *}" != 0
check_eq enospc.read_errno EIO "${res%% *}"
# What the daemon saw: its writes into the anon fd refused.
werr=$(grep -E "READ msg .* blob 'nospc' .*: E[A-Z]+ " "$nlog" | head -1)
echo "# daemon: $(grep -c " ERROR " "$nlog") ERROR lines; first write error: ${werr:-none}"
werrno=$(grep -oE "blob 'nospc' \[[^]]*\]: E[A-Z]+" <<< "$werr" | grep -oE "E[A-Z]+$")
check_eq enospc.daemon_write_errno ENOBUFS "$werrno"
check_eq enospc.cache_stays_active A "$(cache_state "$ntag")"
check enospc.daemon_still_running kill -0 "$npid"
# Free the space: the same mount reads the file whole.
rm -f "$nmnt/filler"
res=$(read_result "$m/big.bin" 120)
echo "# after freeing the space: $res; READs $r0 -> $(stat_of read "$work/enospc.stats")"
check_eq enospc.read_after_freeing_space "0 $((8 << 20))" "$res"
check enospc.data_right cmp -s "$work/src-nospc/big.bin" "$m/big.bin"
timeout 60 umount "$m"
check enospc.umount test $? = 0
msgs=$(klog_since enospc | grep -E "CacheFiles|cachefiles|FS-Cache|erofs|EXT4" | sed 's/^\[[^]]*\] //' | sort | uniq -c | head -10)
[ -z "$msgs" ] || echo "$msgs" | sed 's/^/# dmesg: /'
check enospc.no_io_error_message test -z "$(klog_since enospc | grep "I/O Error")"
daemon_stop "$npid"
check_eq enospc.daemon_exit_0 0 $?
check_no_splat enospc.no_kernel_splat enospc
devnode_free 10

# =======================================================================================
fi
section rdonly
if want_section rdonly; then
# --- 3. the backing filesystem remounted read-only ------------------------------------------------
# C: an object's backing file is open O_RDWR (namei.c cachefiles_open_file,
# cachefiles_create_tmpfile), so `remount,ro` is refused while an image is
# mounted (EBUSY).  Idle, the remount works; the cache stays bound; an
# image whose cache file exists cannot open it for writing (EROFS, only
# traced: the lookup fails before OPEN), a new image cannot make its
# volume directory ("mkdir ... failed with error -30"): both mounts fail;
# no I/O error, the cache stays active; after `remount,rw` both work.
kmark rdonly
rmnt=$work/ro-fs
rtag=cfrs-faults-ro
if loopfs_mount "$work/ro.img" 48 "$rmnt" -b 4096; then tap ok rdonly.ext4; else tap fail rdonly.ext4; fi
rlog=$work/rdonly.log
rstats=$work/rdonly.stats
mkdir -p "$rmnt/cache"
daemon_start "$rstats" "$rlog" --cache-dir "$rmnt/cache" --blobs "$blobs" --tag "$rtag" --log-level debug
check rdonly.daemon_binds kill -0 "$DAEMON_PID"
rpid=$DAEMON_PID
m1=$work/mnt-ro1 m2=$work/mnt-ro2
od_track_mount "$m1" "$m2"
if mount_erofs "$m1" fsid=ro1 && cmp -s "$work/src-ro1/name.txt" "$m1/name.txt" &&
	cmp -s "$work/src-ro1/d/seq.txt" "$m1/d/seq.txt"; then
	tap ok rdonly.mount_and_first_read
else
	tap fail rdonly.mount_and_first_read "$(cat "$work/mount.err")"
fi
mount -o remount,ro "$rmnt" 2> "$work/remount.err"
rc=$?
echo "# remount,ro with an image mounted: status $rc: $(cat "$work/remount.err")"
check rdonly.remount_ro_refused_while_served test "$rc" != 0
check_eq rdonly.backing_still_rw rw "$(findmnt -no OPTIONS "$rmnt" | cut -d, -f1)"
res=$(read_result "$m1/d/random.bin")
check_eq rdonly.uncached_read_served "0 $((512 * 1024))" "$res"
timeout 60 umount "$m1"
check rdonly.umount test $? = 0
# The withdrawal of the cookie (which closes the backing file) follows
# the umount asynchronously.
for _ in $(seq 1 50); do
	mount -o remount,ro "$rmnt" 2> "$work/remount.err" && break
	sleep 0.2
done
echo "# remount,ro when idle: $(findmnt -no OPTIONS "$rmnt") $(cat "$work/remount.err")"
check_eq rdonly.remount_ro_when_idle ro "$(findmnt -no OPTIONS "$rmnt" | cut -d, -f1)"
o0=$(stat_of open "$rstats")
l0=$(($(lines_of "$rlog") + 1))
e1=$(mount_errno "$m1" fsid=ro1)
mountpoint -q "$m1" && umount "$m1"
e2=$(mount_errno "$m2" fsid=ro2)
mountpoint -q "$m2" && umount "$m2"
echo "# read-only backing fs: mount of the cached image: $e1, of a new image: $e2; OPENs $o0 -> $(stat_of open "$rstats")"
check_mount_failed rdonly.cached_image_mount_fails "$e1"
check_mount_failed rdonly.new_image_mount_fails "$e2"
check_eq rdonly.no_open_sent "$o0" "$(stat_of open "$rstats")"
msgs=$(klog_since rdonly | grep -E "CacheFiles|cachefiles|FS-Cache|erofs" | sed 's/^\[[^]]*\] //')
echo "$msgs" | sed 's/^/# dmesg: /'
check rdonly.dmesg_mkdir_erofs grep -q "mkdir Ierofs,ro2 failed with error -30" <<< "$msgs"
check rdonly.no_io_error_message test -z "$(grep "I/O Error" <<< "$msgs")"
check_eq rdonly.cache_stays_active A "$(cache_state "$rtag")"
mount -o remount,rw "$rmnt"
check_eq rdonly.remount_rw rw "$(findmnt -no OPTIONS "$rmnt" | cut -d, -f1)"
if mount_erofs "$m1" fsid=ro1 && tree_ok ro1 "$m1"; then tap ok rdonly.cached_image_served_again
else tap fail rdonly.cached_image_served_again "$(cat "$work/mount.err")"; fi
if mount_erofs "$m2" fsid=ro2 && tree_ok ro2 "$m2"; then tap ok rdonly.new_image_served
else tap fail rdonly.new_image_served "$(cat "$work/mount.err")"; fi
umount "$m1"
umount "$m2"
echo "# rdonly daemon: $(tr '\n' ' ' < "$rstats")"
daemon_stop "$rpid"
check_eq rdonly.daemon_exit_0 0 $?
check_no_splat rdonly.no_kernel_splat rdonly
devnode_free 10
timeout 60 umount "$rmnt"

# =======================================================================================
fi
section ioerr
if want_section ioerr; then
# --- 4. the backing device fails --------------------------------------------------------------
# ext4 (errors=continue) on dm-linear over a loop file; the table is
# switched to `error` with an image mounted.  C (io.c): failed reads and
# writes of backing files are only traced; the daemon's pwrite into the
# anon fd fails, it completes the READ, cachefiles finds a hole and EROFS
# fails the read with EIO.  cachefiles_io_error comes from the
# metadata operations: at umount the withdrawal sets the object's xattr
# (xattr.c cachefiles_set_object_xattr), which fails once ext4 has shut
# itself down (journal aborted after a failed commit); that prints
# "CacheFiles: I/O Error: Failed to set xattr with error -5 [o=...]",
# marks the cache dead (fscache state E) and flushes its requests.
kmark ioerr
itag=cfrs-faults-io
imnt=$work/io-fs
ok=0
dm_ext4_start "cfrs-faults-$$" "$work/dm.img" 64 "$imnt" && ok=1
check ioerr.ext4_on_dm_linear test $ok = 1
echo "# $dm_dev: $(dmsetup table "$dm_name")"
ilog=$work/ioerr.log
istats=$work/ioerr.stats
mkdir -p "$imnt/cache"
daemon_start "$istats" "$ilog" --cache-dir "$imnt/cache" --blobs "$blobs" --tag "$itag" --log-level debug
check ioerr.daemon_binds kill -0 "$DAEMON_PID"
ipid=$DAEMON_PID
m=$work/mnt-io
# Cache the metadata (every inode and directory) and two files' data.
if mount_erofs "$m" fsid=io && find "$m" -exec stat {} + > /dev/null &&
	cmp -s "$work/src-io/r1.bin" "$m/r1.bin" && cmp -s "$work/src-io/a/f1.txt" "$m/a/f1.txt"; then
	tap ok ioerr.mount_and_first_read
else
	tap fail ioerr.mount_and_first_read "$(cat "$work/mount.err")"
fi
sync -f "$imnt"
kmark ioerr-switched
if dm_table error; then tap ok ioerr.switch_to_error_target; else tap fail ioerr.switch_to_error_target; fi
echo "# $(dmsetup table "$dm_name")"
r0=$(stat_of read "$istats")
res=$(read_result "$m/r2.bin")
echo "# read of uncached data on the failing device: $res (READs $r0 -> $(stat_of read "$istats"))"
check ioerr.uncached_read_fails_no_hang test "$res" != TIMEOUT -a "${res%% *}" != 0
check_eq ioerr.uncached_read_errno EIO "${res%% *}"
st=$(cache_state "$itag")
echo "# cache state after the data I/O errors: $st; $(klog_since ioerr-switched | grep -c "I/O Error") I/O Error messages"
check_eq ioerr.data_errors_leave_cache_active A "$st"
grep -E " ERROR " "$ilog" | head -3 | sed 's/^/# daemon: /'
werrno=$(grep -oE "blob 'io' \[[^]]*\]: E[A-Z]+" "$ilog" | head -1 | grep -oE "E[A-Z]+$")
check_eq ioerr.daemon_write_errno EIO "$werrno"
probes=$(ext4_give_up "$imnt")
echo "# ext4 refused a new file after $probes probe(s); $(grep " $imnt " /proc/mounts)"
check ioerr.ext4_gave_up test "$probes" -lt 30
res=$(read_result "$m/r3.bin")
echo "# uncached read after ext4 gave up: $res"
check_eq ioerr.uncached_read_after_shutdown_errno EIO "${res%% *}"
echo 1 > /proc/sys/vm/drop_caches
res=$(read_result "$m/r1.bin")
echo "# read of cached data (page cache dropped): $res"
check ioerr.cached_read_fails_no_hang test "$res" != TIMEOUT -a "${res%% *}" != 0
st=$(cache_state "$itag")
echo "# cache state before umount: $st"
timeout 60 umount "$m"
check ioerr.umount test $? = 0
# The withdrawal runs after umount returns.
klog_wait ioerr "I/O Error"
klog_summary ioerr "CacheFiles|cachefiles|FS-Cache|erofs|EXT4|JBD2|Buffer I/O|I/O error"
ioe=$(klog_since ioerr | grep "I/O Error" | sed 's/^\[[^]]*\] //')
echo "$ioe" | head -3 | sed 's/^/# /'
check ioerr.dmesg_io_error_set_xattr grep -q "I/O Error: Failed to set xattr with error -5" <<< "$ioe"
check ioerr.dmesg_cache_stopped grep -q "Cache '$itag' stopped due to I/O error" <<< "$(klog_since ioerr)"
check_eq ioerr.cache_state_after_withdrawal E "$(cache_state "$itag")"
# A dead cache serves no new cookie: the mount fails, without hanging.
e=$(mount_errno "$m" fsid=io)
mountpoint -q "$m" && umount "$m"
echo "# mount of the image with the cache dead: $e"
check_mount_failed ioerr.mount_on_dead_cache_fails "$e"
# The daemon is not told: it runs on, with nothing to read.
check ioerr.daemon_still_running kill -0 "$ipid"
echo "# daemon: $(tr '\n' ' ' < "$istats")"
daemon_stop "$ipid"
check_eq ioerr.daemon_exit_0 0 $?
check ioerr.devnode_free_after_unbind devnode_free 10
wait_cache_gone "$itag"
check_eq ioerr.cache_gone_after_unbind none "$(cache_state "$itag")"
if dm_table linear; then tap ok ioerr.switch_back_to_linear; else tap fail ioerr.switch_back_to_linear; fi
timeout 60 umount "$imnt"
check ioerr.umount_backing_fs test $? = 0
dm_cleanup
echo "# after unbind: $(klog_since ioerr | grep -E "I/O Error|unregistering" | sed 's/^\[[^]]*\] //' | tr '\n' ';')"
check_no_splat ioerr.no_kernel_splat ioerr
# The module unloads and loads again; a fresh cache serves the image.
check_reload ioerr.rmmod_insmod
acache=$scratch/faults-after
rm -rf "$acache"
mkdir -p "$acache"
daemon_start "$work/after.stats" "$work/after.log" --cache-dir "$acache" --blobs "$blobs" \
	--tag cfrs-faults-after --log-level debug
apid=$DAEMON_PID
if mount_erofs "$m" fsid=io && tree_ok io "$m"; then tap ok ioerr.fresh_cache_serves
else tap fail ioerr.fresh_cache_serves "$(cat "$work/mount.err")"; fi
umount "$m"
daemon_stop "$apid"
check_eq ioerr.fresh_daemon_exit_0 0 $?

fi
section end
tap_done
