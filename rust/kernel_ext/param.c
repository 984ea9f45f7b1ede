// SPDX-License-Identifier: GPL-2.0
/*
 * The module's parameters.  The 6.12 `module!` macro cannot declare any, so
 * they are declared here and reached from Rust through param.rs.
 *
 * "debug" has the name, type and mode of C cachefiles' parameter.
 * "buffered_io" is cachefiles_rs's own: the backing I/O mode of the
 * on-demand caches bound while it is set (0, C's direct I/O, by default).
 * "read_window_kib" too: the window of the READ requests of caches bound
 * while it is set (0, C's requests, by default), and "read_ahead": with a
 * window, a sequential reader's next window is asked for without waiting
 * (N, C's behaviour, by default).
 */

#include <linux/module.h>
#include <linux/moduleparam.h>

#include "param.h"

unsigned int cfrs_debug;
module_param_named(debug, cfrs_debug, uint, 0644);
MODULE_PARM_DESC(debug, "CacheFiles debugging mask");

bool cfrs_buffered_io;
module_param_named(buffered_io, cfrs_buffered_io, bool, 0644);
MODULE_PARM_DESC(buffered_io,
		 "Buffered (page cache) backing I/O for on-demand caches bound from now on, unless their daemon sends 'buffered 0|1' (default: N, direct I/O as C cachefiles)");

unsigned int cfrs_read_window_kib;
module_param_named(read_window_kib, cfrs_read_window_kib, uint, 0644);
MODULE_PARM_DESC(read_window_kib,
		 "On-demand misses of caches bound from now on ask the daemon for this many KiB around the missing range, clamped to the hole and the object (whole pages, at most 16384; default: 0, the missing range only, as C cachefiles)");

bool cfrs_read_ahead;
module_param_named(read_ahead, cfrs_read_ahead, bool, 0644);
MODULE_PARM_DESC(read_ahead,
		 "With read_window_kib, caches bound from now on also ask the daemon for the window after a sequential reader's, without waiting for it (default: N, as C cachefiles)");
