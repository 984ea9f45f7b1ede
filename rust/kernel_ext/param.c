// SPDX-License-Identifier: GPL-2.0
/*
 * The module's parameters.  The 6.12 `module!` macro cannot declare any, so
 * they are declared here and reached from Rust through param.rs.
 *
 * "debug" has the name, type and mode of C cachefiles' parameter.
 */

#include <linux/module.h>
#include <linux/moduleparam.h>

#include "param.h"

unsigned int cfrs_debug;
module_param_named(debug, cfrs_debug, uint, 0644);
MODULE_PARM_DESC(debug, "CacheFiles debugging mask");
