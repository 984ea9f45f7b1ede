// SPDX-License-Identifier: GPL-2.0
/*
 * Instantiates the tracepoints declared in events.h and the functions
 * through which Rust fires them (trace.h).  Kbuild adds this directory to
 * the include path of this object only, for define_trace.h to find
 * events.h (TRACE_INCLUDE_PATH is ".").
 */

#define CREATE_TRACE_POINTS
#include "events.h"

#include "trace.h"

void cfrs_trace_lookup(unsigned int obj, unsigned long dir_ino,
		       unsigned long ino, int error)
{
	trace_cachefiles_lookup(obj, dir_ino, ino, error);
}

void cfrs_trace_mkdir(unsigned long dir_ino, unsigned long subdir_ino)
{
	trace_cachefiles_mkdir(dir_ino, subdir_ino);
}

void cfrs_trace_tmpfile(unsigned int obj, unsigned long ino)
{
	trace_cachefiles_tmpfile(obj, ino);
}

void cfrs_trace_link(unsigned int obj, unsigned long ino)
{
	trace_cachefiles_link(obj, ino);
}

void cfrs_trace_unlink(unsigned int obj, unsigned long ino, unsigned int why)
{
	trace_cachefiles_unlink(obj, ino, why);
}

void cfrs_trace_rename(unsigned int obj, unsigned long ino, unsigned int why)
{
	trace_cachefiles_rename(obj, ino, why);
}

void cfrs_trace_coherency(unsigned int obj, unsigned long ino,
			  unsigned int content, unsigned int why)
{
	trace_cachefiles_coherency(obj, ino, content, why);
}

void cfrs_trace_vol_coherency(unsigned int vol, unsigned long ino,
			      unsigned int why)
{
	trace_cachefiles_vol_coherency(vol, ino, why);
}

void cfrs_trace_read(unsigned int obj, unsigned long ino, long long start,
		     size_t len)
{
	trace_cachefiles_read(obj, ino, start, len);
}

void cfrs_trace_write(unsigned int obj, unsigned long ino, long long start,
		      size_t len)
{
	trace_cachefiles_write(obj, ino, start, len);
}

void cfrs_trace_trunc(unsigned int obj, unsigned long ino, long long from,
		      long long to, unsigned int why)
{
	trace_cachefiles_trunc(obj, ino, from, to, why);
}

void cfrs_trace_mark_active(unsigned int obj, unsigned long ino)
{
	trace_cachefiles_mark_active(obj, ino);
}

void cfrs_trace_mark_failed(unsigned int obj, unsigned long ino)
{
	trace_cachefiles_mark_failed(obj, ino);
}

void cfrs_trace_mark_inactive(unsigned int obj, unsigned long ino)
{
	trace_cachefiles_mark_inactive(obj, ino);
}

void cfrs_trace_vfs_error(unsigned int obj, unsigned long ino, int error,
			  unsigned int where)
{
	trace_cachefiles_vfs_error(obj, ino, error, where);
}

void cfrs_trace_io_error(unsigned int obj, unsigned long ino, int error,
			 unsigned int where)
{
	trace_cachefiles_io_error(obj, ino, error, where);
}

void cfrs_trace_ondemand_open(unsigned int obj, unsigned int msg_id,
			      unsigned int object_id, unsigned int fd,
			      unsigned int flags)
{
	trace_cachefiles_ondemand_open(obj, msg_id, object_id, fd, flags);
}

void cfrs_trace_ondemand_copen(unsigned int obj, unsigned int msg_id,
			       long len)
{
	trace_cachefiles_ondemand_copen(obj, msg_id, len);
}

void cfrs_trace_ondemand_close(unsigned int obj, unsigned int msg_id,
			       unsigned int object_id)
{
	trace_cachefiles_ondemand_close(obj, msg_id, object_id);
}

void cfrs_trace_ondemand_read(unsigned int obj, unsigned int msg_id,
			      unsigned int object_id, long long start,
			      size_t len)
{
	trace_cachefiles_ondemand_read(obj, msg_id, object_id, start, len);
}

void cfrs_trace_ondemand_cread(unsigned int obj, unsigned int msg_id)
{
	trace_cachefiles_ondemand_cread(obj, msg_id);
}

void cfrs_trace_ondemand_fd_write(unsigned int obj, unsigned long ino,
				  long long start, size_t len)
{
	trace_cachefiles_ondemand_fd_write(obj, ino, start, len);
}

void cfrs_trace_ondemand_fd_release(unsigned int obj, int object_id)
{
	trace_cachefiles_ondemand_fd_release(obj, object_id);
}
