/* SPDX-License-Identifier: GPL-2.0 */
/* The module parameters declared in param.c. */
#ifndef CFRS_PARAM_H
#define CFRS_PARAM_H

#include <linux/types.h>

/* The "debug" module parameter. */
extern unsigned int cfrs_debug;

/* The "buffered_io" module parameter. */
extern bool cfrs_buffered_io;

/* The "read_window_kib" module parameter. */
extern unsigned int cfrs_read_window_kib;

/* The "read_ahead" module parameter. */
extern bool cfrs_read_ahead;

#endif /* CFRS_PARAM_H */
