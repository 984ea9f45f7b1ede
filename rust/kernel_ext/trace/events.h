/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The tracepoints of cachefiles_rs.  They carry the system name, event
 * names, record fields (names, types, order) and output formats of the
 * tracepoints of C cachefiles in Linux 6.12, so that perf, trace-cmd and
 * bpftrace scripts written for C work unchanged.  Unlike C, the probes take
 * plain integers (debug ids, inode numbers, offsets, errors, reason codes):
 * the Rust callers (rust/kernel_ext/trace.rs) have no C structures to pass.
 *
 * Only trace.c includes this file (with CREATE_TRACE_POINTS); Rust reaches
 * the probes through the cfrs_trace_*() functions of trace.h.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM cachefiles

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE events

#if !defined(CFRS_TRACE_EVENTS_H) || defined(TRACE_HEADER_MULTI_READ)
#define CFRS_TRACE_EVENTS_H

#include <linux/tracepoint.h>

/*
 * Reason codes.  The enum names are part of the records' format (field
 * types, and the symbol tables before the kernel resolves them), so they
 * are those of C; the values are those of C too, and trace.rs passes them
 * as unsigned ints.  Declared once although this file is read several
 * times.
 */
#ifndef CFRS_TRACE_ENUMS_DECLARED
#define CFRS_TRACE_ENUMS_DECLARED

/* Why a backing file was unlinked or moved to the graveyard. */
enum fscache_why_object_killed {
	FSCACHE_OBJECT_IS_STALE,
	FSCACHE_OBJECT_IS_WEIRD,
	FSCACHE_OBJECT_INVALIDATED,
	FSCACHE_OBJECT_NO_SPACE,
	FSCACHE_OBJECT_WAS_RETIRED,
	FSCACHE_OBJECT_WAS_CULLED,
	FSCACHE_VOLUME_IS_WEIRD,
};

/* The content state kept in an object's xattr. */
enum cachefiles_content {
	CACHEFILES_CONTENT_NO_DATA = 0,
	CACHEFILES_CONTENT_SINGLE = 1,
	CACHEFILES_CONTENT_ALL = 2,
	CACHEFILES_CONTENT_BACKFS_MAP = 3,
	CACHEFILES_CONTENT_DIRTY = 4,
};

/* Outcome of an xattr coherency check or update. */
enum cachefiles_coherency_trace {
	cachefiles_coherency_check_aux,
	cachefiles_coherency_check_content,
	cachefiles_coherency_check_dirty,
	cachefiles_coherency_check_len,
	cachefiles_coherency_check_objsize,
	cachefiles_coherency_check_ok,
	cachefiles_coherency_check_type,
	cachefiles_coherency_check_xattr,
	cachefiles_coherency_set_fail,
	cachefiles_coherency_set_ok,
	cachefiles_coherency_vol_check_cmp,
	cachefiles_coherency_vol_check_ok,
	cachefiles_coherency_vol_check_resv,
	cachefiles_coherency_vol_check_xattr,
	cachefiles_coherency_vol_set_fail,
	cachefiles_coherency_vol_set_ok,
};

/* Why a backing file's size was changed. */
enum cachefiles_trunc_trace {
	cachefiles_trunc_dio_adjust,
	cachefiles_trunc_expand_tmpfile,
	cachefiles_trunc_shrink,
};

/* Which VFS operation on the backing filesystem failed. */
enum cachefiles_error_trace {
	cachefiles_trace_fallocate_error,
	cachefiles_trace_getxattr_error,
	cachefiles_trace_link_error,
	cachefiles_trace_lookup_error,
	cachefiles_trace_mkdir_error,
	cachefiles_trace_notify_change_error,
	cachefiles_trace_open_error,
	cachefiles_trace_read_error,
	cachefiles_trace_remxattr_error,
	cachefiles_trace_rename_error,
	cachefiles_trace_seek_error,
	cachefiles_trace_setxattr_error,
	cachefiles_trace_statfs_error,
	cachefiles_trace_tmpfile_error,
	cachefiles_trace_trunc_error,
	cachefiles_trace_unlink_error,
	cachefiles_trace_write_error,
};

#endif /* CFRS_TRACE_ENUMS_DECLARED */

/*
 * Symbol tables: CFRS_SYM(value, text) for every entry but the last,
 * CFRS_SYM_LAST(value, text) for the last one.  They are expanded twice:
 * first to export the enum values to user space, then as the
 * { value, text } pairs of __print_symbolic().
 */
#define cfrs_kill_syms							\
	CFRS_SYM(FSCACHE_OBJECT_IS_STALE, "stale")			\
	CFRS_SYM(FSCACHE_OBJECT_IS_WEIRD, "weird")			\
	CFRS_SYM(FSCACHE_OBJECT_INVALIDATED, "inval")			\
	CFRS_SYM(FSCACHE_OBJECT_NO_SPACE, "no_space")			\
	CFRS_SYM(FSCACHE_OBJECT_WAS_RETIRED, "was_retired")		\
	CFRS_SYM(FSCACHE_OBJECT_WAS_CULLED, "was_culled")		\
	CFRS_SYM_LAST(FSCACHE_VOLUME_IS_WEIRD, "volume_weird")

/* Fixed-width texts: the padding is part of the output format. */
#define cfrs_coherency_syms						\
	CFRS_SYM(cachefiles_coherency_check_aux, "BAD aux ")		\
	CFRS_SYM(cachefiles_coherency_check_content, "BAD cont")	\
	CFRS_SYM(cachefiles_coherency_check_dirty, "BAD dirt")		\
	CFRS_SYM(cachefiles_coherency_check_len, "BAD len ")		\
	CFRS_SYM(cachefiles_coherency_check_objsize, "BAD osiz")	\
	CFRS_SYM(cachefiles_coherency_check_ok, "OK      ")		\
	CFRS_SYM(cachefiles_coherency_check_type, "BAD type")		\
	CFRS_SYM(cachefiles_coherency_check_xattr, "BAD xatt")		\
	CFRS_SYM(cachefiles_coherency_set_fail, "SET fail")		\
	CFRS_SYM(cachefiles_coherency_set_ok, "SET ok  ")		\
	CFRS_SYM(cachefiles_coherency_vol_check_cmp, "VOL BAD cmp ")	\
	CFRS_SYM(cachefiles_coherency_vol_check_ok, "VOL OK      ")	\
	CFRS_SYM(cachefiles_coherency_vol_check_resv, "VOL BAD resv")	\
	CFRS_SYM(cachefiles_coherency_vol_check_xattr, "VOL BAD xatt")	\
	CFRS_SYM(cachefiles_coherency_vol_set_fail, "VOL SET fail")	\
	CFRS_SYM_LAST(cachefiles_coherency_vol_set_ok, "VOL SET ok  ")

#define cfrs_trunc_syms							\
	CFRS_SYM(cachefiles_trunc_dio_adjust, "DIOADJ")			\
	CFRS_SYM(cachefiles_trunc_expand_tmpfile, "EXPTMP")		\
	CFRS_SYM_LAST(cachefiles_trunc_shrink, "SHRINK")

#define cfrs_error_syms							\
	CFRS_SYM(cachefiles_trace_fallocate_error, "fallocate")		\
	CFRS_SYM(cachefiles_trace_getxattr_error, "getxattr")		\
	CFRS_SYM(cachefiles_trace_link_error, "link")			\
	CFRS_SYM(cachefiles_trace_lookup_error, "lookup")		\
	CFRS_SYM(cachefiles_trace_mkdir_error, "mkdir")			\
	CFRS_SYM(cachefiles_trace_notify_change_error, "notify_change")	\
	CFRS_SYM(cachefiles_trace_open_error, "open")			\
	CFRS_SYM(cachefiles_trace_read_error, "read")			\
	CFRS_SYM(cachefiles_trace_remxattr_error, "remxattr")		\
	CFRS_SYM(cachefiles_trace_rename_error, "rename")		\
	CFRS_SYM(cachefiles_trace_seek_error, "seek")			\
	CFRS_SYM(cachefiles_trace_setxattr_error, "setxattr")		\
	CFRS_SYM(cachefiles_trace_statfs_error, "statfs")		\
	CFRS_SYM(cachefiles_trace_tmpfile_error, "tmpfile")		\
	CFRS_SYM(cachefiles_trace_trunc_error, "trunc")			\
	CFRS_SYM(cachefiles_trace_unlink_error, "unlink")		\
	CFRS_SYM_LAST(cachefiles_trace_write_error, "write")

/* First expansion: the values, for user-space decoders. */
#undef CFRS_SYM
#undef CFRS_SYM_LAST
#define CFRS_SYM(v, s) TRACE_DEFINE_ENUM(v);
#define CFRS_SYM_LAST(v, s) TRACE_DEFINE_ENUM(v);
cfrs_kill_syms;
cfrs_coherency_syms;
cfrs_trunc_syms;
cfrs_error_syms;

/* Second expansion, inside __print_symbolic(). */
#undef CFRS_SYM
#undef CFRS_SYM_LAST
#define CFRS_SYM(v, s) { v, s },
#define CFRS_SYM_LAST(v, s) { v, s }

/* --- Backing-file lookups and directory operations ------------------------ */

/* A lookup in a backing directory; obj is 0 for the cache's own directories. */
TRACE_EVENT(cachefiles_lookup,
	TP_PROTO(unsigned int obj, unsigned long dir_ino, unsigned long ino,
		 int error),
	TP_ARGS(obj, dir_ino, ino, error),
	TP_STRUCT__entry(
		__field(unsigned int, obj)
		__field(short, error)
		__field(unsigned long, dino)
		__field(unsigned long, ino)
	),
	TP_fast_assign(
		__entry->obj = obj;
		__entry->error = error;
		__entry->dino = dir_ino;
		__entry->ino = ino;
	),
	TP_printk("o=%08x dB=%lx B=%lx e=%d",
		  __entry->obj, __entry->dino, __entry->ino, __entry->error)
);

/* A directory created in a backing directory. */
TRACE_EVENT(cachefiles_mkdir,
	TP_PROTO(unsigned long dir_ino, unsigned long subdir_ino),
	TP_ARGS(dir_ino, subdir_ino),
	TP_STRUCT__entry(
		__field(unsigned int, dir)
		__field(unsigned int, subdir)
	),
	TP_fast_assign(
		__entry->dir = dir_ino;
		__entry->subdir = subdir_ino;
	),
	TP_printk("dB=%x sB=%x", __entry->dir, __entry->subdir)
);

/*
 * Events of the same shape are stamped out of one template each, so that
 * every event is a TRACE_EVENT of its own, as in C (its record type, e.g.
 * struct trace_event_raw_cachefiles_link, has the event's name).
 */

/* An object and the inode of its backing file. */
#define CFRS_OBJ_BACKER_EVENT(name)						\
TRACE_EVENT(name,								\
	TP_PROTO(unsigned int obj, unsigned long ino),				\
	TP_ARGS(obj, ino),							\
	TP_STRUCT__entry(							\
		__field(unsigned int, obj)					\
		__field(unsigned int, backer)					\
	),									\
	TP_fast_assign(								\
		__entry->obj = obj;						\
		__entry->backer = ino;						\
	),									\
	TP_printk("o=%08x B=%x", __entry->obj, __entry->backer)			\
)
/* An O_TMPFILE backing file was created... */
CFRS_OBJ_BACKER_EVENT(cachefiles_tmpfile);
/* ...and linked into its fan-out directory. */
CFRS_OBJ_BACKER_EVENT(cachefiles_link);

/* A backing file removed; obj is UINT_MAX when no object is involved. */
#define CFRS_OBJ_KILL_EVENT(name)						\
TRACE_EVENT(name,								\
	TP_PROTO(unsigned int obj, unsigned long ino, unsigned int why),	\
	TP_ARGS(obj, ino, why),							\
	TP_STRUCT__entry(							\
		__field(unsigned int, obj)					\
		__field(unsigned int, ino)					\
		__field(enum fscache_why_object_killed, why)			\
	),									\
	TP_fast_assign(								\
		__entry->obj = obj;						\
		__entry->ino = ino;						\
		__entry->why = why;						\
	),									\
	TP_printk("o=%08x B=%x w=%s", __entry->obj, __entry->ino,		\
		  __print_symbolic(__entry->why, cfrs_kill_syms))		\
)
CFRS_OBJ_KILL_EVENT(cachefiles_unlink);
/* (moved to the graveyard) */
CFRS_OBJ_KILL_EVENT(cachefiles_rename);

/* --- Coherency data (xattrs) --------------------------------------------- */

TRACE_EVENT(cachefiles_coherency,
	TP_PROTO(unsigned int obj, unsigned long ino, unsigned int content,
		 unsigned int why),
	TP_ARGS(obj, ino, content, why),
	TP_STRUCT__entry(
		__field(unsigned int, obj)
		__field(enum cachefiles_coherency_trace, why)
		__field(enum cachefiles_content, content)
		__field(u64, ino)
	),
	TP_fast_assign(
		__entry->obj = obj;
		__entry->why = why;
		__entry->content = content;
		__entry->ino = ino;
	),
	TP_printk("o=%08x %s B=%llx c=%u", __entry->obj,
		  __print_symbolic(__entry->why, cfrs_coherency_syms),
		  __entry->ino, __entry->content)
);

/* vol is the debug id of the volume's fscache cookie. */
TRACE_EVENT(cachefiles_vol_coherency,
	TP_PROTO(unsigned int vol, unsigned long ino, unsigned int why),
	TP_ARGS(vol, ino, why),
	TP_STRUCT__entry(
		__field(unsigned int, vol)
		__field(enum cachefiles_coherency_trace, why)
		__field(u64, ino)
	),
	TP_fast_assign(
		__entry->vol = vol;
		__entry->why = why;
		__entry->ino = ino;
	),
	TP_printk("V=%08x %s B=%llx", __entry->vol,
		  __print_symbolic(__entry->why, cfrs_coherency_syms),
		  __entry->ino)
);

/* --- I/O on backing files ------------------------------------------------ */

/* A read or write issued to a backing file. */
#define CFRS_OBJ_IO_EVENT(name)							\
TRACE_EVENT(name,								\
	TP_PROTO(unsigned int obj, unsigned long ino, long long start,		\
		 size_t len),							\
	TP_ARGS(obj, ino, start, len),						\
	TP_STRUCT__entry(							\
		__field(unsigned int, obj)					\
		__field(unsigned int, backer)					\
		__field(size_t, len)						\
		__field(loff_t, start)						\
	),									\
	TP_fast_assign(								\
		__entry->obj = obj;						\
		__entry->backer = ino;						\
		__entry->len = len;						\
		__entry->start = start;						\
	),									\
	TP_printk("o=%08x B=%x s=%llx l=%zx", __entry->obj, __entry->backer,	\
		  __entry->start, __entry->len)					\
)
CFRS_OBJ_IO_EVENT(cachefiles_read);
CFRS_OBJ_IO_EVENT(cachefiles_write);

/* A backing file's size changed from `from` to `to`. */
TRACE_EVENT(cachefiles_trunc,
	TP_PROTO(unsigned int obj, unsigned long ino, long long from,
		 long long to, unsigned int why),
	TP_ARGS(obj, ino, from, to, why),
	TP_STRUCT__entry(
		__field(unsigned int, obj)
		__field(unsigned int, backer)
		__field(enum cachefiles_trunc_trace, why)
		__field(loff_t, from)
		__field(loff_t, to)
	),
	TP_fast_assign(
		__entry->obj = obj;
		__entry->backer = ino;
		__entry->why = why;
		__entry->from = from;
		__entry->to = to;
	),
	TP_printk("o=%08x B=%x %s l=%llx->%llx", __entry->obj,
		  __entry->backer,
		  __print_symbolic(__entry->why, cfrs_trunc_syms),
		  __entry->from, __entry->to)
);

/* --- In-use marks (S_KERNEL_FILE) ---------------------------------------- */

/* obj is 0 for the cache's own directories. */
#define CFRS_OBJ_MARK_EVENT(name)				\
TRACE_EVENT(name,						\
	TP_PROTO(unsigned int obj, unsigned long ino),		\
	TP_ARGS(obj, ino),					\
	TP_STRUCT__entry(					\
		__field(unsigned int, obj)			\
		__field(ino_t, inode)				\
	),							\
	TP_fast_assign(						\
		__entry->obj = obj;				\
		__entry->inode = ino;				\
	),							\
	TP_printk("o=%08x B=%lx", __entry->obj, __entry->inode)	\
)
CFRS_OBJ_MARK_EVENT(cachefiles_mark_active);
/* (the inode was already marked: in use by someone else) */
CFRS_OBJ_MARK_EVENT(cachefiles_mark_failed);
CFRS_OBJ_MARK_EVENT(cachefiles_mark_inactive);

/* --- Errors -------------------------------------------------------------- */

/*
 * A failed operation on the backing filesystem, at `where`: vfs_error for
 * lookups and directory/xattr operations, io_error for file I/O (which
 * also marks the cache as having had an I/O error).  obj may be 0.
 */
#define CFRS_OBJ_ERROR_EVENT(name)					\
TRACE_EVENT(name,							\
	TP_PROTO(unsigned int obj, unsigned long ino, int error,	\
		 unsigned int where),					\
	TP_ARGS(obj, ino, error, where),				\
	TP_STRUCT__entry(						\
		__field(unsigned int, obj)				\
		__field(unsigned int, backer)				\
		__field(enum cachefiles_error_trace, where)		\
		__field(short, error)					\
	),								\
	TP_fast_assign(							\
		__entry->obj = obj;					\
		__entry->backer = ino;					\
		__entry->where = where;					\
		__entry->error = error;					\
	),								\
	TP_printk("o=%08x B=%x %s e=%d", __entry->obj, __entry->backer,	\
		  __print_symbolic(__entry->where, cfrs_error_syms),	\
		  __entry->error)					\
)
CFRS_OBJ_ERROR_EVENT(cachefiles_vfs_error);
CFRS_OBJ_ERROR_EVENT(cachefiles_io_error);

/* --- On-demand protocol -------------------------------------------------- */

/* An OPEN request enqueued: its message id, object id and anonymous fd. */
TRACE_EVENT(cachefiles_ondemand_open,
	TP_PROTO(unsigned int obj, unsigned int msg_id, unsigned int object_id,
		 unsigned int fd, unsigned int flags),
	TP_ARGS(obj, msg_id, object_id, fd, flags),
	TP_STRUCT__entry(
		__field(unsigned int, obj)
		__field(unsigned int, msg_id)
		__field(unsigned int, object_id)
		__field(unsigned int, fd)
		__field(unsigned int, flags)
	),
	TP_fast_assign(
		__entry->obj = obj;
		__entry->msg_id = msg_id;
		__entry->object_id = object_id;
		__entry->fd = fd;
		__entry->flags = flags;
	),
	TP_printk("o=%08x mid=%x oid=%x fd=%d f=%x", __entry->obj,
		  __entry->msg_id, __entry->object_id, __entry->fd,
		  __entry->flags)
);

/* The daemon's copen answer to OPEN msg_id (len: size, or -errno). */
TRACE_EVENT(cachefiles_ondemand_copen,
	TP_PROTO(unsigned int obj, unsigned int msg_id, long len),
	TP_ARGS(obj, msg_id, len),
	TP_STRUCT__entry(
		__field(unsigned int, obj)
		__field(unsigned int, msg_id)
		__field(long, len)
	),
	TP_fast_assign(
		__entry->obj = obj;
		__entry->msg_id = msg_id;
		__entry->len = len;
	),
	TP_printk("o=%08x mid=%x l=%lx", __entry->obj, __entry->msg_id,
		  __entry->len)
);

/* A CLOSE request enqueued. */
TRACE_EVENT(cachefiles_ondemand_close,
	TP_PROTO(unsigned int obj, unsigned int msg_id, unsigned int object_id),
	TP_ARGS(obj, msg_id, object_id),
	TP_STRUCT__entry(
		__field(unsigned int, obj)
		__field(unsigned int, msg_id)
		__field(unsigned int, object_id)
	),
	TP_fast_assign(
		__entry->obj = obj;
		__entry->msg_id = msg_id;
		__entry->object_id = object_id;
	),
	TP_printk("o=%08x mid=%x oid=%x", __entry->obj, __entry->msg_id,
		  __entry->object_id)
);

/* A READ request enqueued, for len bytes at start. */
TRACE_EVENT(cachefiles_ondemand_read,
	TP_PROTO(unsigned int obj, unsigned int msg_id, unsigned int object_id,
		 long long start, size_t len),
	TP_ARGS(obj, msg_id, object_id, start, len),
	TP_STRUCT__entry(
		__field(unsigned int, obj)
		__field(unsigned int, msg_id)
		__field(unsigned int, object_id)
		__field(loff_t, start)
		__field(size_t, len)
	),
	TP_fast_assign(
		__entry->obj = obj;
		__entry->msg_id = msg_id;
		__entry->object_id = object_id;
		__entry->start = start;
		__entry->len = len;
	),
	TP_printk("o=%08x mid=%x oid=%x s=%llx l=%zx", __entry->obj,
		  __entry->msg_id, __entry->object_id, __entry->start,
		  __entry->len)
);

/* CACHEFILES_IOC_READ_COMPLETE for READ msg_id. */
TRACE_EVENT(cachefiles_ondemand_cread,
	TP_PROTO(unsigned int obj, unsigned int msg_id),
	TP_ARGS(obj, msg_id),
	TP_STRUCT__entry(
		__field(unsigned int, obj)
		__field(unsigned int, msg_id)
	),
	TP_fast_assign(
		__entry->obj = obj;
		__entry->msg_id = msg_id;
	),
	TP_printk("o=%08x mid=%x", __entry->obj, __entry->msg_id)
);

/* The daemon wrote data through an anonymous fd. */
TRACE_EVENT(cachefiles_ondemand_fd_write,
	TP_PROTO(unsigned int obj, unsigned long ino, long long start,
		 size_t len),
	TP_ARGS(obj, ino, start, len),
	TP_STRUCT__entry(
		__field(unsigned int, obj)
		__field(unsigned int, backer)
		__field(loff_t, start)
		__field(size_t, len)
	),
	TP_fast_assign(
		__entry->obj = obj;
		__entry->backer = ino;
		__entry->start = start;
		__entry->len = len;
	),
	TP_printk("o=%08x iB=%x s=%llx l=%zx", __entry->obj, __entry->backer,
		  __entry->start, __entry->len)
);

/* An anonymous fd was released. */
TRACE_EVENT(cachefiles_ondemand_fd_release,
	TP_PROTO(unsigned int obj, int object_id),
	TP_ARGS(obj, object_id),
	TP_STRUCT__entry(
		__field(unsigned int, obj)
		__field(unsigned int, object_id)
	),
	TP_fast_assign(
		__entry->obj = obj;
		__entry->object_id = object_id;
	),
	TP_printk("o=%08x oid=%x", __entry->obj, __entry->object_id)
);

#endif /* CFRS_TRACE_EVENTS_H */

/* Outside the guard: define_trace.h reads this file again. */
#include <trace/define_trace.h>
