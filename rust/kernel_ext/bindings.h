/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Input of the module's own bindgen run (see Kbuild): the kernel headers
 * whose declarations `kernel::bindings` does not already provide, plus typed
 * copies of macros bindgen cannot evaluate.
 */
#ifndef CFRS_BINDINGS_H
#define CFRS_BINDINGS_H

#include <linux/anon_inodes.h>
#include <linux/capability.h>
#include <linux/completion.h>
#include <linux/fcntl.h>
#include <linux/falloc.h>
#include <linux/bio.h>
#include <linux/cred.h>
#include <linux/fs_struct.h>
#include <linux/fscache-cache.h>
#include <linux/miscdevice.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/netfs.h>
#include <linux/poll.h>
#include <linux/security.h>
#include <linux/statfs.h>
#include <linux/xattr.h>
#include <uapi/linux/cachefiles.h>

#include "helpers.h"
#include "param.h"
#include "fscache/helpers.h"
#include "vfs/helpers.h"
#include "trace/trace.h"

/* Macros that expand to casts or expressions bindgen skips. */
const __poll_t CFRS_EPOLLIN = EPOLLIN;
const __poll_t CFRS_EPOLLOUT = EPOLLOUT;
const gfp_t CFRS_XA_FLAGS_ALLOC = XA_FLAGS_ALLOC;
const gfp_t CFRS_XA_FLAGS_ALLOC1 = XA_FLAGS_ALLOC1;
const unsigned int CFRS_LOOKUP_DIRECTORY = LOOKUP_DIRECTORY;
const unsigned int CFRS_S_KERNEL_FILE = S_KERNEL_FILE;
const unsigned int CFRS_IOP_XATTR = IOP_XATTR;
const unsigned long CFRS_PAGE_SIZE = PAGE_SIZE;
const int CFRS_MISC_DYNAMIC_MINOR = MISC_DYNAMIC_MINOR;
const int CFRS_CAP_SYS_ADMIN = CAP_SYS_ADMIN;
const unsigned int CFRS_IOC_READ_COMPLETE = CACHEFILES_IOC_READ_COMPLETE;
const unsigned int CFRS_O_WRONLY = O_WRONLY;
const unsigned int CFRS_O_BACKING = O_RDWR | O_LARGEFILE | O_DIRECT;
const unsigned int CFRS_FMODE_PWRITE_LSEEK = (__force unsigned int)(FMODE_PWRITE | FMODE_LSEEK);
const int CFRS_SEEK_DATA = SEEK_DATA;
const int CFRS_SEEK_HOLE = SEEK_HOLE;
const unsigned int CFRS_S_IFREG_0600 = S_IFREG | 0600;
const int CFRS_FALLOC_PUNCH_HOLE = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
const int CFRS_FALLOC_ZERO_RANGE = FALLOC_FL_ZERO_RANGE;
const unsigned int CFRS_MAX_RW_COUNT = MAX_RW_COUNT;
const unsigned int CFRS_BIO_MAX_VECS = BIO_MAX_VECS;

#endif /* CFRS_BINDINGS_H */
