#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs several suites one after the other in one test VM (see scripts/vm-run,
# which loads the module under test and sets CFRS_*), so that `make check`
# boots one VM per module instead of one per suite:
#
#   run_suites.sh TAG COMMAND [TAG COMMAND]...
#
# COMMAND is a shell command line (a suite and its arguments).  Before each
# one, the module under test is loaded again if a suite left it unloaded,
# and $CFRS_SCRATCH is emptied: every suite starts on an empty scratch
# filesystem, as in a VM of its own.
# The output of each suite is framed for the host (scripts/lib-check.sh,
# vm_suites), which splits it into one TAP file per suite:
#
#   #@@ begin TAG
#   ...what COMMAND printed (stdout and stderr)...
#   #@@ splat TAG          (only if the kernel reported CFRS_SPLAT meanwhile)
#   #@@ end TAG rc=N secs=S     (S: how long the suite took)
#
# Exits 1 if a suite failed or made the kernel report, else 0.
[ $(($# % 2)) = 0 ] && [ $# -gt 0 ] || {
	echo "usage: run_suites.sh TAG COMMAND [TAG COMMAND]..." >&2
	exit 2
}
splat=${CFRS_SPLAT:-BUG:|WARNING:|Oops|KASAN|UBSAN|general protection|Kernel panic}
status=0
while [ $# -gt 0 ]; do
	tag=$1 command=$2
	shift 2
	if [ -n "${CFRS_MODULE_NAME:-}" ] && ! grep -q "^$CFRS_MODULE_NAME " /proc/modules; then
		insmod "$CFRS_MODULE_KO" || echo "# run_suites: insmod $CFRS_MODULE_KO failed"
	fi
	if [ -n "${CFRS_SCRATCH:-}" ] && mountpoint -q "$CFRS_SCRATCH"; then
		find "$CFRS_SCRATCH" -mindepth 1 -delete 2>/dev/null ||
			echo "# run_suites: could not empty $CFRS_SCRATCH"
	fi
	before=$(dmesg | wc -l)
	t0=$SECONDS
	echo "#@@ begin $tag"
	bash -c "$command" 2>&1 < /dev/null
	rc=$?
	if dmesg | tail -n +"$((before + 1))" | grep -E -q "$splat"; then
		echo "#@@ splat $tag"
		[ "$rc" != 0 ] || rc=99
	fi
	echo "#@@ end $tag rc=$rc secs=$((SECONDS - t0))"
	[ "$rc" = 0 ] || status=1
done
exit $status
