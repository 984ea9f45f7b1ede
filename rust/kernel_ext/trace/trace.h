/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The probes of cachefiles_rs's tracepoints (events.h), one function per
 * event, for Rust (rust/kernel_ext/trace.rs).  Each only forwards its
 * arguments to the tracepoint of the same name, which records nothing
 * unless the event is enabled.  The reason codes (`why`, `where`,
 * `content`) are the values of the enums in events.h.
 */
#ifndef CFRS_TRACE_H
#define CFRS_TRACE_H

#include <linux/types.h>

void cfrs_trace_lookup(unsigned int obj, unsigned long dir_ino,
		       unsigned long ino, int error);
void cfrs_trace_mkdir(unsigned long dir_ino, unsigned long subdir_ino);
void cfrs_trace_tmpfile(unsigned int obj, unsigned long ino);
void cfrs_trace_link(unsigned int obj, unsigned long ino);
void cfrs_trace_unlink(unsigned int obj, unsigned long ino, unsigned int why);
void cfrs_trace_rename(unsigned int obj, unsigned long ino, unsigned int why);
void cfrs_trace_coherency(unsigned int obj, unsigned long ino,
			  unsigned int content, unsigned int why);
void cfrs_trace_vol_coherency(unsigned int vol, unsigned long ino,
			      unsigned int why);
void cfrs_trace_read(unsigned int obj, unsigned long ino, long long start,
		     size_t len);
void cfrs_trace_write(unsigned int obj, unsigned long ino, long long start,
		      size_t len);
void cfrs_trace_trunc(unsigned int obj, unsigned long ino, long long from,
		      long long to, unsigned int why);
void cfrs_trace_mark_active(unsigned int obj, unsigned long ino);
void cfrs_trace_mark_failed(unsigned int obj, unsigned long ino);
void cfrs_trace_mark_inactive(unsigned int obj, unsigned long ino);
void cfrs_trace_vfs_error(unsigned int obj, unsigned long ino, int error,
			  unsigned int where);
void cfrs_trace_io_error(unsigned int obj, unsigned long ino, int error,
			 unsigned int where);
void cfrs_trace_ondemand_open(unsigned int obj, unsigned int msg_id,
			      unsigned int object_id, unsigned int fd,
			      unsigned int flags);
void cfrs_trace_ondemand_copen(unsigned int obj, unsigned int msg_id,
			       long len);
void cfrs_trace_ondemand_close(unsigned int obj, unsigned int msg_id,
			       unsigned int object_id);
void cfrs_trace_ondemand_read(unsigned int obj, unsigned int msg_id,
			      unsigned int object_id, long long start,
			      size_t len);
void cfrs_trace_ondemand_cread(unsigned int obj, unsigned int msg_id);
void cfrs_trace_ondemand_fd_write(unsigned int obj, unsigned long ino,
				  long long start, size_t len);
void cfrs_trace_ondemand_fd_release(unsigned int obj, int object_id);

#endif /* CFRS_TRACE_H */
