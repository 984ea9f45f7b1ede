// SPDX-License-Identifier: GPL-2.0
/*
 * The module's parameters.  The 6.12 `module!` macro cannot declare any, so
 * they are declared here and reached from Rust through param.rs.
 *
 * "debug" has the name, type and mode of C cachefiles' parameter.
 * "buffered_io" is cachefiles_rs's own: the backing I/O mode of the
 * on-demand caches bound while it is set (0, C's direct I/O, by default).
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
