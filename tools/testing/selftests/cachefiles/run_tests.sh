#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs every cachefiles selftest program inside the test VM (see
# scripts/vm-run, which sets CFRS_SCRATCH and CFRS_MODULE_*); TAP output.
# Exits non-zero if any program fails.
dir=$(cd "$(dirname "$0")" && pwd)
rc=0
for t in devnode_test volume_test module_test.sh; do
	echo "# running $t against ${CFRS_MODULE_NAME:-?}"
	"$dir/$t" || rc=1
done
exit $rc
