// SPDX-License-Identifier: GPL-2.0
/*
 * ondemand_race: an on-demand daemon whose requests are served by several
 * threads reading the same /dev/cachefiles at once, while another thread
 * writes `restore` every few milliseconds, so that a request already
 * handed to one thread is handed again to another one (the pattern behind
 * CVE-2024-40899 and its siblings: two readers of the devnode after
 * `restore` racing on the same OPEN and its anon fd).  Every answer is
 * right: copen with the blob's size, READs filled from the blob; an
 * answer that loses the race (the request was completed by the other
 * thread) gets EINVAL, which is counted, not fatal.  Used by
 * stress_test.sh inside the test VM (root, a cachefiles backend loaded).
 *
 *   ondemand_race [--threads T] [--restore-ms MS] CACHEDIR BLOBDIR READYFILE
 *
 * It binds an on-demand cache on CACHEDIR (tag cfrs-race), creates
 * READYFILE and serves until SIGTERM; the script mounts and reads EROFS
 * images of BLOBDIR meanwhile.  At SIGTERM it prints "ok NAME" /
 * "not ok NAME # why" lines and a figures line "# race: ...", closes the
 * devnode and exits (status 1 iff a check failed):
 *   - every thread served requests, and some requests were served twice
 *     (otherwise the race was not exercised);
 *   - the devnode's read() failed only with EAGAIN/EINTR, or with EEXIST:
 *     an OPEN handed out again while its object already has an anon fd
 *     (C 6.12 fails that request, so the mount waiting for it fails; the
 *     count is printed as "eexist N" for the script to compare);
 *   - copen and READ_COMPLETE failed only with EINVAL (a request the other
 *     thread completed first); failed anon fd writes (an object closed
 *     meanwhile) are counted.
 * The data is checked by the script: what the mounts read must equal the
 * images' source trees.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/cachefiles.h>

#include "od_common.h"

#define MAX_THREADS 8
#define MAX_OBJS 1024
#define MSG_BUF 8192

/* An object the cache opened: its anon fd and the blob behind it. */
struct obj {
	unsigned int id;
	int used, fd, blob;
	uint64_t size;
};

/* objs and the counters below are protected by lock. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct obj objs[MAX_OBJS];
static const char *blobdir;
static int devfd;
static volatile sig_atomic_t stop;

static long served[MAX_THREADS];
static long n_msgs, n_open, n_read, n_close, n_restore;
static long lost_copen, lost_cread, write_err, open_fail;
static long bad_read, bad_copen, bad_cread, eexist;
static int first_bad_read, first_bad_copen, first_bad_cread;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

/* Writes one devnode command; 0 or the errno. */
static int cmd(const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vcmd_on(devfd, fmt, ap);
	va_end(ap);
	return r;
}

/* The object of ID (lock held), or NULL. */
static struct obj *obj_of(unsigned int id)
{
	for (int i = 0; i < MAX_OBJS; i++)
		if (objs[i].used && objs[i].id == id)
			return &objs[i];
	return NULL;
}

static void obj_drop(struct obj *o)
{
	close(o->fd);
	close(o->blob);
	o->used = 0;
}

/* OPEN: record the anon fd (a re-sent OPEN replaces the older one), copen. */
static void do_open(struct cachefiles_msg *m, ssize_t len)
{
	struct cachefiles_open *op = (void *)m->data;
	char path[PATH_MAX], name[256];
	struct obj *o;
	struct stat st;
	int blob, r;

	if (len < (ssize_t)(sizeof(*m) + sizeof(*op)))
		return;
	if (op->cookie_key_size == 0 || op->cookie_key_size >= sizeof(name) ||
	    sizeof(*m) + sizeof(*op) + op->volume_key_size + op->cookie_key_size > (size_t)len) {
		close(op->fd);
		return;
	}
	memcpy(name, op->data + op->volume_key_size, op->cookie_key_size);
	name[op->cookie_key_size] = 0;
	snprintf(path, sizeof(path), "%s/%s", blobdir, name);
	blob = open(path, O_RDONLY | O_CLOEXEC);
	if (blob < 0 || fstat(blob, &st) < 0) {
		pthread_mutex_lock(&lock);
		open_fail++;
		pthread_mutex_unlock(&lock);
		if (blob >= 0)
			close(blob);
		cmd("copen %u,%d", m->msg_id, -ENOENT);
		close(op->fd);
		return;
	}
	pthread_mutex_lock(&lock);
	o = obj_of(m->object_id);
	if (o) {
		obj_drop(o);
	} else {
		for (int i = 0; i < MAX_OBJS && !o; i++)
			if (!objs[i].used)
				o = &objs[i];
	}
	if (!o) {
		pthread_mutex_unlock(&lock);
		close(blob);
		close(op->fd);
		return;
	}
	*o = (struct obj){ .id = m->object_id, .used = 1, .fd = op->fd, .blob = blob,
			   .size = st.st_size };
	pthread_mutex_unlock(&lock);
	r = cmd("copen %u,%llu", m->msg_id, (unsigned long long)st.st_size);
	pthread_mutex_lock(&lock);
	if (r == EINVAL) {
		lost_copen++;
	} else if (r) {
		if (!bad_copen++)
			first_bad_copen = r;
	}
	pthread_mutex_unlock(&lock);
}

/* READ: fill the range from the blob through a dup of the anon fd, complete. */
static void do_read(struct cachefiles_msg *m, ssize_t len)
{
	struct cachefiles_read *rd = (void *)m->data;
	struct obj *o;
	int fd = -1, blob = -1, r;
	uint64_t size = 0;

	if (len < (ssize_t)(sizeof(*m) + sizeof(*rd)))
		return;
	pthread_mutex_lock(&lock);
	o = obj_of(m->object_id);
	if (o) {
		fd = dup(o->fd);
		blob = dup(o->blob);
		size = o->size;
	}
	pthread_mutex_unlock(&lock);
	if (fd < 0 || blob < 0) {
		/* Its CLOSE came first: the request died with the object. */
		if (fd >= 0)
			close(fd);
		if (blob >= 0)
			close(blob);
		return;
	}
	r = copy_pages(blob, fd, rd->off, rd->len, size, 256 << 10);
	pthread_mutex_lock(&lock);
	if (r)
		write_err++;
	pthread_mutex_unlock(&lock);
	r = cread(fd, m->msg_id);
	pthread_mutex_lock(&lock);
	if (r == EINVAL) {
		lost_cread++;
	} else if (r) {
		if (!bad_cread++)
			first_bad_cread = r;
	}
	pthread_mutex_unlock(&lock);
	close(fd);
	close(blob);
}

static void do_close(struct cachefiles_msg *m)
{
	struct obj *o;

	pthread_mutex_lock(&lock);
	o = obj_of(m->object_id);
	if (o)
		obj_drop(o);
	pthread_mutex_unlock(&lock);
}

/* Serves whatever the devnode hands out until stop. */
static void *server(void *arg)
{
	long me = (long)arg;
	static __thread char buf[MSG_BUF] __attribute__((aligned(8)));
	struct cachefiles_msg *m = (void *)buf;
	struct pollfd p = { .fd = devfd, .events = POLLIN };

	while (!stop) {
		ssize_t len;

		if (poll(&p, 1, 100) <= 0)
			continue;
		len = read(devfd, buf, sizeof(buf));
		if (len < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			pthread_mutex_lock(&lock);
			if (errno == EEXIST) {
				eexist++;
				pthread_mutex_unlock(&lock);
				continue;
			}
			if (!bad_read++)
				first_bad_read = errno;
			pthread_mutex_unlock(&lock);
			usleep(10000);
			continue;
		}
		if (len < (ssize_t)sizeof(*m))
			continue;
		pthread_mutex_lock(&lock);
		n_msgs++;
		served[me]++;
		if (m->opcode == CACHEFILES_OP_OPEN)
			n_open++;
		else if (m->opcode == CACHEFILES_OP_READ)
			n_read++;
		else if (m->opcode == CACHEFILES_OP_CLOSE)
			n_close++;
		pthread_mutex_unlock(&lock);
		if (m->opcode == CACHEFILES_OP_OPEN)
			do_open(m, len);
		else if (m->opcode == CACHEFILES_OP_READ)
			do_read(m, len);
		else if (m->opcode == CACHEFILES_OP_CLOSE)
			do_close(m);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = 2, restore_ms = 5, a = 1, r, fails;
	pthread_t tid[MAX_THREADS];
	struct sigaction sa = { .sa_handler = on_term };
	long long t0;
	FILE *f;

	while (a + 1 < argc && !strncmp(argv[a], "--", 2)) {
		if (!strcmp(argv[a], "--threads"))
			threads = atoi(argv[a + 1]);
		else if (!strcmp(argv[a], "--restore-ms"))
			restore_ms = atoi(argv[a + 1]);
		else
			break;
		a += 2;
	}
	if (argc - a != 3 || threads < 1 || threads > MAX_THREADS || restore_ms < 1) {
		fprintf(stderr, "usage: ondemand_race [--threads 1-%d] [--restore-ms MS] CACHEDIR BLOBDIR READYFILE\n",
			MAX_THREADS);
		return 2;
	}
	blobdir = argv[a + 1];
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	devfd = open("/dev/cachefiles", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (devfd < 0) {
		result("devnode", 0, "open: %s", errno_name(errno));
		return 1;
	}
	r = cmd("dir %s", argv[a]);
	if (!r)
		r = cmd("tag cfrs-race");
	if (!r)
		r = cmd("bind ondemand");
	result("bind", !r, "%s", errno_name(r));
	if (r)
		return 1;
	f = fopen(argv[a + 2], "w");
	if (f)
		fclose(f);
	t0 = now_ms();
	for (long i = 0; i < threads; i++)
		pthread_create(&tid[i], NULL, server, (void *)i);
	/* The restore storm: every restore_ms, until SIGTERM. */
	while (!stop) {
		usleep(restore_ms * 1000);
		if (stop)
			break;
		r = cmd("restore");
		pthread_mutex_lock(&lock);
		n_restore++;
		pthread_mutex_unlock(&lock);
		if (r)
			comment("restore: %s", errno_name(r));
	}
	for (int i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	comment("race: threads %d restore_ms %d time_ms %lld msgs %ld open %ld read %ld close %ld restores %ld lost_copen %ld lost_cread %ld write_err %ld open_fail %ld eexist %ld",
		threads, restore_ms, now_ms() - t0, n_msgs, n_open, n_read, n_close, n_restore,
		lost_copen, lost_cread, write_err, open_fail, eexist);
	{
		int all = 1;

		for (int i = 0; i < threads; i++) {
			comment("race: thread %d served %ld messages", i, served[i]);
			all &= served[i] > 0;
		}
		result("every_thread_served", all, NULL);
	}
	result("requests_served_twice", lost_copen + lost_cread > 0,
	       "no copen or READ_COMPLETE lost the race: restore never re-sent a request in service");
	result("devnode_read_errors", !bad_read, "%ld, the first %s", bad_read,
	       errno_name(first_bad_read));
	result("copen_errors_only_einval", !bad_copen, "%ld, the first %s", bad_copen,
	       errno_name(first_bad_copen));
	result("cread_errors_only_einval", !bad_cread, "%ld, the first %s", bad_cread,
	       errno_name(first_bad_cread));
	fails = failures;
	for (int i = 0; i < MAX_OBJS; i++)
		if (objs[i].used)
			obj_drop(&objs[i]);
	close(devfd);
	return fails ? 1 : 0;
}
