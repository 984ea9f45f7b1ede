/* SPDX-License-Identifier: GPL-2.0 */
/* The module parameters declared in param.c. */
#ifndef CFRS_PARAM_H
#define CFRS_PARAM_H

/* The "debug" module parameter. */
extern unsigned int cfrs_debug;

#endif /* CFRS_PARAM_H */
