#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Module-level behaviour shared by both backends (TAP output): with one
# backend loaded, the other cannot load (the devnode name is taken), the
# failure is clean, and the loaded one keeps working.
# Needs CFRS_MODULE_NAME, CFRS_C_KO and CFRS_RS_KO (set by scripts/vm-run).

n=0 failed=0
tap() { # tap ok|fail NAME
	n=$((n + 1))
	if [ "$1" = ok ]; then echo "ok $n $2"; else echo "not ok $n $2"; failed=1; fi
}

case $CFRS_MODULE_NAME in
cachefiles) other=$CFRS_RS_KO other_name=cachefiles_rs ;;
cachefiles_rs) other=$CFRS_C_KO other_name=cachefiles ;;
*) echo "1..0 # SKIP no backend loaded"; exit 0 ;;
esac
echo "TAP version 13"
echo "1..3"

if insmod "$other" 2>/dev/null; then
	tap fail module.other_backend_cannot_load
	rmmod "$other_name"
else
	grep -q "^$other_name " /proc/modules && tap fail module.other_backend_cannot_load ||
		tap ok module.other_backend_cannot_load
fi

minor=$(awk '$2 == "cachefiles" { print $1 }' /proc/misc)
[ "$(echo "$minor" | wc -w)" = 1 ] && tap ok module.one_misc_device_named_cachefiles ||
	tap fail module.one_misc_device_named_cachefiles

if exec 3<>/dev/cachefiles; then
	exec 3>&-
	tap ok module.loaded_backend_still_serves_devnode
else
	tap fail module.loaded_backend_still_serves_devnode
fi
exit $failed
