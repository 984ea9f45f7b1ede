# shellcheck shell=bash disable=SC2034,SC2154
# (The variables named below are set here for, or by, the sourcing script.)
# What scripts/vm-run (virtme-ng guest) and scripts/vm-systemd (systemd as
# PID 1) share; sourced after scripts/lib.sh, never run.
#
#   cfrs_vm_args "$@"        --kernel/--module/--no-leak-check; sets kernel,
#                            module, leakcheck and cmd (the words after --)
#   cfrs_vm_module           kdir, ko, modname for $module (builds
#                            cachefiles_rs.ko for rs)
#   cfrs_vm_lock NAME        one VM at a time on this machine
#   cfrs_vm_guest_body       the guest script's part that runs CMD
#   cfrs_vm_boots NAME       up to three boots (calls boot) until one is clean
#   cfrs_vm_verdict NAME     prints CMD's output, judges the run and exits
#
# The result directory $rw holds, written by the guest: attempt (by the
# host), dmesg.boot, out, rc.cmd, kmemleak, unload-failed, dmesg, rc.

# Kernel reports that fail a run (checked in dmesg).
CFRS_SPLAT='BUG:|WARNING:|Oops|KASAN|UBSAN|ODEBUG|general protection|Kernel panic|possible recursive locking|circular locking|inconsistent lock state|suspicious RCU|DEBUG_LOCKS_WARN_ON|blocked for more than|soft lockup|list_add corruption|list_del corruption|refcount_t:|unreferenced object|kmemleak: .*suspected'

cfrs_vm_args() {
	kernel=debug module=rs leakcheck=1
	while [ $# -gt 0 ]; do
		case $1 in
		--kernel) kernel=$2; shift 2 ;;
		--module) module=$2; shift 2 ;;
		--no-leak-check) leakcheck=0; shift ;;
		--) shift; break ;;
		*) break ;;
		esac
	done
	cmd=("$@")
}

cfrs_vm_module() {
	kdir=$("$CFRS_ROOT/scripts/kernel-build" "$kernel")
	case $module in
	c) ko=$kdir/fs/cachefiles/cachefiles.ko; modname=cachefiles ;;
	rs)
		ko=$CFRS_ROOT/cachefiles_rs.ko; modname=cachefiles_rs
		make -s -C "$CFRS_ROOT" KDIR="$kdir" modules >&2
		;;
	none) ko=""; modname="" ;;
	*) cfrs_die "unknown module '$module' (c|rs|none)" ;;
	esac
}

# One VM at a time on this machine (two TCG guests on two cores time out):
# a second one, from another checkout too, waits for the first (fd 9).
cfrs_vm_lock() {
	exec 9>"${CFRS_VM_LOCK:-/tmp/cfrs-vm.lock}"
	if ! flock -n 9; then
		echo "$1: another VM is running; waiting for it" >&2
		flock 9
	fi
}

# cfrs_vm_guest_body GUEST_RW: prints the guest-side script that runs CMD
# ($rw/cmd) with the module loaded, GUEST_RW being where the guest sees $rw.
# Uses $module, $modname, $ko, $kdir, $leakcheck; CMD runs in $PWD.
cfrs_vm_guest_body() {
	cat <<GUEST
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export CFRS_MODULE=$module CFRS_MODULE_NAME=$modname CFRS_MODULE_KO=$ko
export CFRS_C_KO=$kdir/fs/cachefiles/cachefiles.ko CFRS_RS_KO=$CFRS_ROOT/cachefiles_rs.ko
export CFRS_SCRATCH=/tmp/cfrs-scratch/mnt
export CFRS_SPLAT='$CFRS_SPLAT'
rw=$1
mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
# What the kernel said while booting: judged separately (see below).
dmesg > \$rw/dmesg.boot
# A boot that already reported (early-boot TCG flakes) is retried by the
# host: do not spend a whole CMD on it, except on the last attempt.
if [ "\$(cat \$rw/attempt)" != 3 ] && grep -E -q '$CFRS_SPLAT' \$rw/dmesg.boot; then
	exit 0
fi
echo 1 > /proc/sys/kernel/hung_task_panic 2>/dev/null || true
echo 30 > /proc/sys/kernel/hung_task_timeout_secs 2>/dev/null || true
mkdir -p /tmp/cfrs-scratch/mnt
truncate -s 512M /tmp/cfrs-scratch/ext4.img
mkfs.ext4 -q -F /tmp/cfrs-scratch/ext4.img
mount -o loop /tmp/cfrs-scratch/ext4.img \$CFRS_SCRATCH
if [ -n "\$CFRS_MODULE_KO" ]; then
	insmod "\$CFRS_MODULE_KO" || { echo "vm: insmod \$CFRS_MODULE_KO failed"; echo 125 > \$rw/rc; exit 0; }
fi
cd "$PWD"
bash -c "\$(cat \$rw/cmd)" > \$rw/out 2>&1 < /dev/null
echo \$? > \$rw/rc.cmd
cd /
umount \$CFRS_SCRATCH 2>/dev/null
if [ -n "\$CFRS_MODULE_NAME" ] && grep -q "^\$CFRS_MODULE_NAME " /proc/modules; then
	rmmod "\$CFRS_MODULE_NAME" || echo "vm: rmmod \$CFRS_MODULE_NAME failed" > \$rw/unload-failed
fi
if [ $leakcheck = 1 ] && [ -e /sys/kernel/debug/kmemleak ]; then
	# Objects younger than 5 s are never reported; one scan of the whole
	# memory is slow under TCG (tens of seconds), so only one.
	sleep 6
	echo scan > /sys/kernel/debug/kmemleak
	cat /sys/kernel/debug/kmemleak > \$rw/kmemleak
fi
dmesg > \$rw/dmesg
echo done > \$rw/rc
GUEST
}

# A boot that did not reach CMD, or that splatted before CMD started (seen
# now and then under multi-threaded TCG, e.g. a KASAN report in early CPU
# setup), is a failed boot, not a test result: retry it.  The guest then
# skips CMD (but on the third attempt), so a retry costs one boot.  A VM
# that started CMD but did not finish (panic, hung task, timeout) is a test
# failure.
cfrs_vm_boot_failed() {
	[ ! -e "$rw/dmesg.boot" ] || grep -E -q "$CFRS_SPLAT" "$rw/dmesg.boot"
}
# cfrs_vm_boots NAME: boot (defined by the caller) up to three times, each
# from an empty result directory, until a boot is clean (early-boot crashes
# get likelier when several TCG VMs share the CPUs).
cfrs_vm_boots() {
	local attempt
	for attempt in 1 2 3; do
		rm -f "$rw"/dmesg.boot "$rw"/dmesg "$rw"/out "$rw"/rc "$rw"/rc.cmd "$rw"/kmemleak "$rw"/unload-failed
		echo "$attempt" > "$rw/attempt"
		boot
		cfrs_vm_boot_failed || break
		echo "$1: the VM did not boot cleanly (attempt $attempt)" >&2
		# No dmesg.boot (the guest never ran) must not end the script (set -e).
		{ grep -E -m3 "$CFRS_SPLAT" "$rw/dmesg.boot" 2>/dev/null || true; } | sed "s/^/$1:   /" >&2
	done
	if cfrs_vm_boot_failed; then
		if [ ! -e "$rw/rc" ]; then
			tail -n 40 "$rw/console" >&2
			cfrs_die "the VM failed to boot cleanly three times; no result"
		fi
		# CMD ran to the end all the same.  The report predates CMD and the
		# insmod of the module under test (dmesg.boot is taken before both),
		# so it cannot come from them: keep the result, judged on what the
		# kernel logged from CMD on, and say so.
		echo "$1: warning: early-boot kernel report on all three boots (before any module was loaded); CMD's result kept" >&2
	fi
}

# cfrs_vm_verdict NAME: CMD's output, then exit with CMD's status, or 97
# (CMD did not finish), 99 (kernel splat), 98 (module not unloaded).
cfrs_vm_verdict() {
	local status
	if [ ! -e "$rw/rc" ]; then
		cat "$rw/out" 2>/dev/null
		echo "$1: CMD did not finish (kernel panic, hung task or timeout); console:" >&2
		tail -n 60 "$rw/console" >&2
		exit 97
	fi
	cat "$rw/out" 2>/dev/null
	status=$(cat "$rw/rc.cmd" 2>/dev/null || echo 125)
	# Judge only what the kernel logged from the start of CMD on.
	tail -n +"$(($(wc -l < "$rw/dmesg.boot") + 1))" "$rw/dmesg" > "$rw/dmesg.run"
	# (dmesg.late: what a guest printed after dmesg was saved, if kept.)
	if grep -E -q "$CFRS_SPLAT" "$rw/dmesg.run" "$rw/kmemleak" "$rw/dmesg.late" 2>/dev/null; then
		echo "$1: kernel splat detected:" >&2
		head -n 60 "$rw/kmemleak" 2>/dev/null >&2
		grep -E -A 30 "$CFRS_SPLAT" "$rw/dmesg.run" "$rw/dmesg.late" 2>/dev/null | head -n 120 >&2
		[ "$status" != 0 ] || status=99
	fi
	if [ -e "$rw/unload-failed" ]; then
		cat "$rw/unload-failed" >&2
		[ "$status" != 0 ] || status=98
	fi
	if [ -n "${CFRS_KEEP_DMESG:-}" ]; then cp "$rw/dmesg" "$CFRS_KEEP_DMESG"; fi
	exit "$status"
}
