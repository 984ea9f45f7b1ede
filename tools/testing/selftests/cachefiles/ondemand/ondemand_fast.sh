#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The whole on-demand suite (ondemand_test.sh) in cachefiles_rs's opt-in
# fast mode of issue 11: buffered backing I/O (parameter buffered_io=1,
# daemons with --buffered=try) and wider READs (read_window_kib, default
# here 512).  `make check` runs it once in cachefiles_rs's VM; on C it
# runs in C's own mode (C has neither: the daemons warn and use direct
# I/O).  Same case names as the plain run.
#
#   scripts/vm-run --kernel debug --module rs -- \
#       tools/testing/selftests/cachefiles/ondemand/ondemand_fast.sh
exec env CFRS_BUFFERED=1 CFRS_READ_WINDOW_KIB="${CFRS_READ_WINDOW_KIB:-512}" \
	"$(dirname "$0")/ondemand_test.sh" "$@"
