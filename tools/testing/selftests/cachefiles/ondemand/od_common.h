/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the on-demand selftest programs (ondemand_proto.c, ondemand_fuzz.c)
 * share: TAP-like output, errno names, the monotonic clock and the
 * READ_COMPLETE ioctl.  Included once per program, after the system
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

/* CACHEFILES_IOC_READ_COMPLETE of request ID on anon fd FD: 0 or errno. */
static inline int cread(int fd, unsigned long id)
{
	return ioctl(fd, CACHEFILES_IOC_READ_COMPLETE, id) < 0 ? errno : 0;
}

#endif
