// SPDX-License-Identifier: GPL-2.0
/*
 * Cost of the on-demand daemon's dispatch: poll() and read() of
 * /dev/cachefiles while N READ requests are pending, for comparing
 * backends (scripts/bench runs it with each module, N = 1, 100, 10000).
 *
 *   dispatch_bench CACHE_DIR BLOB_DIR BLOB MNT FILE N SECONDS
 *
 * Binds an on-demand cache on CACHE_DIR, mounts EROFS (fsid=BLOB) on MNT
 * and opens MNT/FILE, answering OPEN and READ from BLOB_DIR/BLOB as a
 * daemon does.  Then N threads each read one byte of their own page of
 * FILE (pages 1..N, readahead off), so N READs wait; the daemon reads
 * them all and answers none.  Cases, each for SECONDS:
 *
 *   dispatch_idle_N       poll() + read() pairs per second with N READs
 *                         pending and none new (read() returns 0): what
 *                         a daemon's event loop pays per wake-up
 *   dispatch_restore_N    READs per second that read() hands out after
 *                         `restore` marked the N pending ones new again
 *                         (each read() picks the next new request)
 *
 * Then it closes the devnode (the READs fail with EIO; the readers end),
 * unmounts and exits.  FILE must have more than N pages and the blob must
 * not be cached yet (a new CACHE_DIR).  Prints "<case> <rate>" lines on
 * stdout, the rest on stderr; exit status 0 iff the N READs were pending.
 *
 * N threads must fit under kernel.threads-max, which the kernel bounds by
 * memory (RAM / (8 * THREAD_SIZE): about 11900 in scripts/bench's VM
 * with 1536 MiB and a release kernel's 16 KiB stacks).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/cachefiles.h>

#define PAGE 4096UL

static int dev = -1;
static int blob = -1;
static uint64_t blob_size;
/* The object's anonymous fd and id (one object: the blob). */
static int anon_fd = -1;
static uint32_t object_id;
static char msg[CACHEFILES_MSG_MAX_SIZE];

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "dispatch_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void cmd(const char *fmt, ...)
{
	char buf[PATH_MAX + 16];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (write(dev, buf, len) != len)
		die(buf);
}

/* Copies the blob's pages under [off, off + len) into the anon fd. */
static void write_range(uint64_t off, uint64_t len)
{
	uint64_t start = off & ~(PAGE - 1);
	uint64_t end = (off + len + PAGE - 1) & ~(PAGE - 1);
	uint64_t limit = (blob_size + PAGE - 1) & ~(PAGE - 1);
	const size_t chunk = 1 << 20;
	static void *buf;

	if (!buf && posix_memalign(&buf, PAGE, chunk))
		die("posix_memalign");
	if (end > limit)
		end = limit;
	while (start < end) {
		size_t n = end - start > chunk ? chunk : end - start;

		memset(buf, 0, n);
		if (pread(blob, buf, n, start) < 0)
			die("pread blob");
		if (pwrite(anon_fd, buf, n, start) != (ssize_t)n)
			die("pwrite anon fd");
		start += n;
	}
}

/* Answers one message as a daemon does. */
static void serve(struct cachefiles_msg *m)
{
	struct cachefiles_open *o = (void *)m->data;
	struct cachefiles_read *rd = (void *)m->data;

	switch (m->opcode) {
	case CACHEFILES_OP_OPEN:
		if (anon_fd >= 0) {
			fprintf(stderr, "dispatch_bench: a second OPEN\n");
			exit(1);
		}
		anon_fd = o->fd;
		object_id = m->object_id;
		cmd("copen %u,%llu", m->msg_id, (unsigned long long)blob_size);
		break;
	case CACHEFILES_OP_READ:
		if (m->object_id != object_id) {
			fprintf(stderr, "dispatch_bench: READ of object %u\n", m->object_id);
			exit(1);
		}
		write_range(rd->off, rd->len);
		if (ioctl(anon_fd, CACHEFILES_IOC_READ_COMPLETE, (unsigned long)m->msg_id) < 0)
			die("READ_COMPLETE");
		break;
	default:
		break;
	}
}

/* One message, waiting up to TIMEOUT_MS; 0 if none came. */
static ssize_t next_msg(int timeout_ms)
{
	struct pollfd p = { .fd = dev, .events = POLLIN };
	double end = now() + timeout_ms / 1e3;
	ssize_t n;

	for (;;) {
		n = read(dev, msg, sizeof(msg));
		if (n < 0)
			die("read devnode");
		if (n > 0 || now() > end)
			return n;
		if (poll(&p, 1, 100) < 0 && errno != EINTR)
			die("poll");
	}
}

static const char *mnt, *file, *fsid;
static int file_fd = -1;
static volatile int mounted;

/* Mounts and opens FILE while the main thread serves. */
static void *mounter(void *unused)
{
	char opts[PATH_MAX], path[PATH_MAX];

	(void)unused;
	snprintf(opts, sizeof(opts), "fsid=%s", fsid);
	if (mount("none", mnt, "erofs", 0, opts) < 0)
		die("mount");
	snprintf(path, sizeof(path), "%s/%s", mnt, file);
	file_fd = open(path, O_RDONLY);
	if (file_fd < 0)
		die(path);
	/* One READ per page read: no readahead. */
	errno = posix_fadvise(file_fd, 0, 0, POSIX_FADV_RANDOM);
	if (errno)
		die("posix_fadvise");
	__atomic_store_n(&mounted, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* A reader: one byte of page 1 + its index; fails with EIO at the end. */
static void *reader(void *arg)
{
	char c;

	(void)!pread(file_fd, &c, 1, (off_t)((uintptr_t)arg + 1) * PAGE);
	return NULL;
}

int main(int argc, char **argv)
{
	char path[PATH_MAX];
	double secs, start, t;
	pthread_t *readers, mt;
	pthread_attr_t attr;
	long n, pending = 0, ops;

	if (argc != 8) {
		fprintf(stderr, "usage: %s CACHE_DIR BLOB_DIR BLOB MNT FILE N SECONDS\n", argv[0]);
		return 2;
	}
	mnt = argv[4];
	file = argv[5];
	n = atol(argv[6]);
	secs = atof(argv[7]);
	fsid = argv[3];
	if (n < 1)
		return 2;
	snprintf(path, sizeof(path), "%s/%s", argv[2], argv[3]);
	blob = open(path, O_RDONLY);
	if (blob < 0)
		die(path);
	blob_size = lseek(blob, 0, SEEK_END);
	mkdir(mnt, 0755);

	dev = open("/dev/cachefiles", O_RDWR);
	if (dev < 0)
		die("open /dev/cachefiles");
	cmd("dir %s", argv[1]);
	cmd("tag dispatch");
	cmd("bind ondemand");

	/* Mount and open, serving what it takes. */
	if (pthread_create(&mt, NULL, mounter, NULL))
		die("pthread_create");
	start = now();
	while (!__atomic_load_n(&mounted, __ATOMIC_ACQUIRE)) {
		if (next_msg(100) > 0)
			serve((struct cachefiles_msg *)msg);
		if (now() - start > 120) {
			fprintf(stderr, "dispatch_bench: mount takes too long\n");
			return 1;
		}
	}
	pthread_join(mt, NULL);

	/* N readers, each waiting for its READ. */
	readers = calloc(n, sizeof(*readers));
	if (!readers || pthread_attr_init(&attr) || pthread_attr_setstacksize(&attr, 64 << 10))
		die("readers");
	for (long i = 0; i < n; i++) {
		errno = pthread_create(&readers[i], &attr, reader, (void *)(uintptr_t)i);
		if (errno)
			die("pthread_create reader");
	}
	/* The daemon reads every READ and answers none. */
	start = now();
	while (pending < n && now() - start < 120) {
		struct cachefiles_msg *m = (void *)msg;

		if (next_msg(1000) <= 0)
			continue;
		if (m->opcode == CACHEFILES_OP_READ)
			pending++;
		else
			serve(m);
	}
	fprintf(stderr, "dispatch_bench: %ld READs pending\n", pending);

	if (pending == n) {
		struct pollfd p = { .fd = dev, .events = POLLIN };

		ops = 0;
		start = now();
		do {
			for (int i = 0; i < 64; i++) {
				if (poll(&p, 1, 0) < 0)
					die("poll");
				if (read(dev, msg, sizeof(msg)) != 0) {
					fprintf(stderr, "dispatch_bench: a new request\n");
					return 1;
				}
			}
			ops += 64;
			t = now() - start;
		} while (t < secs);
		printf("dispatch_idle_%ld %.0f\n", n, ops / t);
		fflush(stdout);

		ops = 0;
		start = now();
		do {
			cmd("restore");
			for (long i = 0; i < n; i++) {
				if (read(dev, msg, sizeof(msg)) <= 0) {
					fprintf(stderr, "dispatch_bench: %ld of %ld re-read\n", i, n);
					return 1;
				}
			}
			if (read(dev, msg, sizeof(msg)) != 0) {
				fprintf(stderr, "dispatch_bench: more than %ld re-read\n", n);
				return 1;
			}
			ops += n;
			t = now() - start;
		} while (t < secs);
		printf("dispatch_restore_%ld %.0f\n", n, ops / t);
		fflush(stdout);
	}

	/* The cache dies: every READ fails with EIO and the readers end. */
	close(dev);
	for (long i = 0; i < n; i++)
		pthread_join(readers[i], NULL);
	close(file_fd);
	if (umount(mnt) < 0)
		die("umount");
	close(anon_fd);
	close(blob);
	return pending == n ? 0 : 1;
}
