/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the on-demand selftest programs (ondemand_proto.c, ondemand_fuzz.c)
 * share: TAP-like output, errno names, the monotonic clock, devnode
 * commands, the READ_COMPLETE ioctl and copying blob pages into an anon fd.  Included once per program, after the system
 * headers and <linux/cachefiles.h>; everything is static inline, so a
 * program may leave any of it unused.
 */
#ifndef OD_COMMON_H
#define OD_COMMON_H

/* Failed results so far: the program's exit status depends on it. */
static int failures;

/* "0", the errno's name (EINVAL...) or "E<number>"; not reentrant. */
static inline const char *errno_name(int e)
{
	static char buf[32];
	const char *s;

	if (e == 0)
		return "0";
	s = strerrorname_np(e);
	if (s)
		return s;
	snprintf(buf, sizeof(buf), "E%d", e);
	return buf;
}

/* One TAP line "ok NAME" or "not ok NAME # details" (counted). */
static inline void result(const char *name, int ok, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("ok %s\n", name);
	} else {
		failures++;
		printf("not ok %s", name);
		if (fmt) {
			printf(" # ");
			va_start(ap, fmt);
			vprintf(fmt, ap);
			va_end(ap);
		}
		printf("\n");
	}
	fflush(stdout);
}

/* A TAP comment line "# ...". */
static inline void comment(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* Milliseconds of CLOCK_MONOTONIC. */
static inline long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/*
 * Writes one devnode command, formatted from FMT and AP, to FD (cut at
 * 511 bytes); returns 0 or the errno.
 */
static inline int vcmd_on(int fd, const char *fmt, va_list ap)
{
	char buf[512];
	int len = vsnprintf(buf, sizeof(buf), fmt, ap);

	if (len < 0)
		return EINVAL;
	if (len >= (int)sizeof(buf))
		len = sizeof(buf) - 1;
	return write(fd, buf, len) < 0 ? errno : 0;
}

/* CACHEFILES_IOC_READ_COMPLETE of request ID on anon fd FD: 0 or errno. */
static inline int cread(int fd, unsigned long id)
{
	return ioctl(fd, CACHEFILES_IOC_READ_COMPLETE, id) < 0 ? errno : 0;
}

/*
 * Copies bytes OFF..OFF+LEN of the blob FROM, widened to whole 4 KiB pages
 * and cut at SIZE rounded up to a page (the blob's tail is zero-filled),
 * into the anon fd TO, CHUNK bytes (at most 1 MiB) per write, from a
 * page-aligned buffer of the calling thread's (the anon fd takes direct
 * I/O).  0 or an errno.
 */
static inline int copy_pages(int from, int to, uint64_t off, uint64_t len, uint64_t size,
			     size_t chunk)
{
	const uint64_t page = 4096;
	uint64_t start = off & ~(page - 1);
	uint64_t end = (off + len + page - 1) & ~(page - 1);
	uint64_t limit = (size + page - 1) & ~(page - 1);
	/* One buffer per thread: ondemand_race serves with several. */
	static __thread void *buf;

	if (chunk > (1 << 20))
		chunk = 1 << 20;
	if (!buf && posix_memalign(&buf, page, 1 << 20))
		return ENOMEM;
	if (end > limit)
		end = limit;
	while (start < end) {
		size_t n = end - start > chunk ? chunk : end - start;
		ssize_t r;

		memset(buf, 0, n);
		r = pread(from, buf, n, start);
		if (r < 0)
			return errno;
		if (pwrite(to, buf, n, start) != (ssize_t)n)
			return errno ? errno : EIO;
		start += n;
	}
	return 0;
}

#endif
