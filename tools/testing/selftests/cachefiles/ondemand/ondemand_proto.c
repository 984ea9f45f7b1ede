// SPDX-License-Identifier: GPL-2.0
/*
 * ondemand_proto: speaks the cachefiles on-demand protocol on
 * /dev/cachefiles directly, to check what the kernel does with requests a
 * well-behaved daemon never makes.  Used by ondemand_test.sh inside the
 * test VM (root, a cachefiles backend loaded, EROFS with fscache).
 *
 *   ondemand_proto mount MOUNTPOINT OPTIONS
 *       mount(2) of EROFS ("none", OPTIONS); prints the errno name (or 0).
 *   ondemand_proto umount MOUNTPOINT [-l]
 *       umount2(2), MNT_DETACH with -l; prints the errno name (or 0).
 *   ondemand_proto misuse CACHEDIR BLOBDIR MNTDIR PREFIX SRCDIR FILE
 *       malformed and replayed copen, READ_COMPLETE on wrong ids, unknown
 *       ioctls, anon fd closed before copen, copen of size 0.  Blobs
 *       PREFIX-a .. PREFIX-h in BLOBDIR must be copies of one image of
 *       SRCDIR, which holds FILE (compared through a served mount).
 *   ondemand_proto devclose CACHEDIR BLOBDIR MNTDIR BLOB SRCDIR CACHED UNCACHED TAG
 *       the devnode closed while an anon fd stays open: reads, umount,
 *       then the anon fd closed (cache withdrawn, devnode free again).
 *   ondemand_proto cmds DEVNODE CMD...
 *       writes each CMD to a fresh open of DEVNODE; prints the errno name
 *       (or 0) of each, one a line.
 *   ondemand_proto seek FILE OFFSET data|hole
 *       lseek(SEEK_DATA|SEEK_HOLE) of FILE from OFFSET; prints the result.
 *   ondemand_proto failover CACHEDIR BLOBDIR MNTDIR PREFIX SRCDIR
 *       daemon crashes replayed step by step (anon fds lost, devnode kept,
 *       `restore`): with nothing pending, twice, a READ in flight, a READ
 *       queued, during OPEN, an OPEN re-read while its fd lives, a
 *       READ_COMPLETE guessed for a READ never read.  Blobs
 *       PREFIX-a .. PREFIX-c: one image of SRCDIR holding r1.bin .. r4.bin.
 *   ondemand_proto recovery CACHEDIR BLOBDIR MNTDIR PREFIX SRCDIR
 *       recovery without a keeper (cachefiles_rs; CFRS_MODULE=c expects C):
 *       the new commands' errno values, a cache orphaned by the death of
 *       its daemon during OPEN, with a READ in flight, with a READ queued,
 *       adopted by `attach`; a wrong tag, two racing attaches, expiry (the
 *       blocked reader then fails with EIO), two orphans.  Blobs PREFIX-b ..
 *       PREFIX-e: one image of SRCDIR holding r1.bin .. r4.bin.
 *
 * Output: "ok NAME", "not ok NAME # why" and "# comment" lines, which the
 * calling script numbers into TAP.  Exit status 0 iff every check passed.
 * The errno values expected are those C cachefiles.ko (6.12) returns.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/cachefiles.h>

#include "od_common.h"

#define PAGE 4096UL
#define MAX_OBJS 32
/* A child's exit code when two files differ (errno values are below). */
#define CODE_DIFFER 200
#define CODE_TIMEOUT (-1)

static int dev = -1;
/* The msg_id of the last message next_msg() returned. */
static uint32_t last_msg_id;
static const char *blobdir;

struct obj {
	int used;
	uint32_t id;		/* object_id */
	int fd;			/* anon fd */
	int blob;		/* blob file */
	uint64_t size;
	char name[256];
};
static struct obj objs[MAX_OBJS];

/* Counters of what serve() handled. */
static struct {
	int open, read, close;
} served;

/* --- reporting ---------------------------------------------------------- */

static const char *ename(int e)
{
	if (e == CODE_TIMEOUT)
		return "TIMEOUT";
	if (e == CODE_DIFFER)
		return "DIFFERENT";
	return errno_name(e);
}

/* expect NAME: an operation returned errno GOT (0 = success), C gives WANT. */
static void expect(const char *name, int want, int got)
{
	result(name, got == want, "got %s, want %s", ename(got), ename(want));
}

/* --- the devnode and the anon fds ----------------------------------------- */

/* Writes one command; returns 0 or the errno. */
static int cmd(const char *fmt, ...)
{
	va_list ap;
	int e;

	va_start(ap, fmt);
	e = vcmd_on(dev, fmt, ap);
	va_end(ap);
	return e;
}

static int bind_cache(const char *cachedir, const char *tag)
{
	int e;

	dev = open("/dev/cachefiles", O_RDWR);
	if (dev < 0) {
		comment("open /dev/cachefiles: %s", ename(errno));
		return -1;
	}
	e = cmd("dir %s", cachedir);
	if (!e)
		e = cmd("tag %s", tag);
	if (!e)
		e = cmd("bind ondemand");
	if (e) {
		comment("binding %s: %s", cachedir, ename(e));
		return -1;
	}
	return 0;
}

/*
 * Waits up to TIMEOUT_MS for a message and reads it into BUF (at least
 * CACHEFILES_MSG_MAX_SIZE bytes).  Returns its length, 0 on timeout or
 * -errno.  read() never blocks and returns 0 when nothing is selectable.
 */
static int next_msg(void *buf, int timeout_ms)
{
	long long end = now_ms() + timeout_ms;
	struct pollfd p = { .fd = dev, .events = POLLIN };
	ssize_t n;

	for (;;) {
		long long left = end - now_ms();

		if (left <= 0)
			return 0;
		if (poll(&p, 1, left > 100 ? 100 : left) < 0 && errno != EINTR)
			return -errno;
		n = read(dev, buf, CACHEFILES_MSG_MAX_SIZE);
		if (n < 0)
			return -errno;
		if (n > 0) {
			last_msg_id = ((struct cachefiles_msg *)buf)->msg_id;
			return n;
		}
	}
}

static struct obj *obj_by_id(uint32_t id)
{
	for (int i = 0; i < MAX_OBJS; i++)
		if (objs[i].used && objs[i].id == id)
			return &objs[i];
	return NULL;
}

static void obj_forget(struct obj *o)
{
	if (o->fd >= 0)
		close(o->fd);
	if (o->blob >= 0)
		close(o->blob);
	memset(o, 0, sizeof(*o));
}

static void close_all_objs(void)
{
	for (int i = 0; i < MAX_OBJS; i++)
		if (objs[i].used)
			obj_forget(&objs[i]);
}

/*
 * Takes in an OPEN message: records the object (anon fd, blob) without
 * answering.  Returns the object, or NULL (anon fd closed) if the message
 * is not a sane OPEN or the blob cannot be opened.
 */
static struct obj *take_open(struct cachefiles_msg *m, int len)
{
	struct cachefiles_open *o = (void *)m->data;
	struct obj *ob = NULL;
	char path[PATH_MAX];
	struct stat st;
	size_t klen;

	if (m->opcode != CACHEFILES_OP_OPEN || len < (int)(sizeof(*m) + sizeof(*o)))
		return NULL;
	klen = o->cookie_key_size;
	for (int i = 0; i < MAX_OBJS && !ob; i++)
		if (!objs[i].used)
			ob = &objs[i];
	if (!ob || klen == 0 || klen >= sizeof(ob->name) ||
	    sizeof(*m) + sizeof(*o) + o->volume_key_size + klen > (size_t)len) {
		close(o->fd);
		return NULL;
	}
	memset(ob, 0, sizeof(*ob));
	memcpy(ob->name, o->data + o->volume_key_size, klen);
	ob->id = m->object_id;
	ob->fd = o->fd;
	snprintf(path, sizeof(path), "%s/%s", blobdir, ob->name);
	ob->blob = open(path, O_RDONLY | O_CLOEXEC);
	if (ob->blob < 0 || fstat(ob->blob, &st) < 0) {
		comment("blob %s: %s", path, ename(errno));
		if (ob->blob >= 0)
			close(ob->blob);
		close(ob->fd);
		memset(ob, 0, sizeof(*ob));
		return NULL;
	}
	ob->size = st.st_size;
	ob->used = 1;
	return ob;
}

/* Copies the blob range of a READ, whole pages, into the anon fd. */
static int write_range(struct obj *ob, uint64_t off, uint64_t len)
{
	return copy_pages(ob->blob, ob->fd, off, len, ob->size, 1 << 20);
}

/* Answers one message the way a correct daemon does. */
static void serve(struct cachefiles_msg *m, int len)
{
	struct cachefiles_read *rd = (void *)m->data;
	struct obj *ob;
	int e;

	switch (m->opcode) {
	case CACHEFILES_OP_OPEN:
		served.open++;
		ob = take_open(m, len);
		if (ob)
			e = cmd("copen %u,%llu", m->msg_id, (unsigned long long)ob->size);
		else
			e = cmd("copen %u,-%d", m->msg_id, ENOENT);
		if (e)
			comment("copen %u: %s", m->msg_id, ename(e));
		break;
	case CACHEFILES_OP_READ:
		served.read++;
		ob = obj_by_id(m->object_id);
		if (!ob) {
			comment("READ %u for unknown object %u", m->msg_id, m->object_id);
			break;
		}
		e = write_range(ob, rd->off, rd->len);
		if (e)
			comment("READ %u: write: %s", m->msg_id, ename(e));
		e = cread(ob->fd, m->msg_id);
		if (e)
			comment("READ %u: READ_COMPLETE: %s", m->msg_id, ename(e));
		break;
	case CACHEFILES_OP_CLOSE:
		served.close++;
		ob = obj_by_id(m->object_id);
		if (ob)
			obj_forget(ob);
		break;
	default:
		comment("unknown opcode %u", m->opcode);
	}
}

/* --- child processes --------------------------------------------------------- */

/*
 * In a forked child: closes every inherited fd but stdin/out/err, so that
 * the devnode and the anon fds have no holders but this process (a
 * "crash" that closes an anon fd must release it).
 */
static void child_fds(void)
{
	close_range(3, ~0U, 0);
}

static pid_t spawn_mount(const char *mnt, const char *opts)
{
	pid_t pid;

	mkdir(mnt, 0755);
	pid = fork();
	if (pid == 0) {
		child_fds();
		_exit(mount("none", mnt, "erofs", 0, opts) ? errno : 0);
	}
	return pid;
}

static pid_t spawn_umount(const char *mnt)
{
	pid_t pid = fork();

	if (pid == 0) {
		child_fds();
		_exit(umount(mnt) ? errno : 0);
	}
	return pid;
}

/* Reads A and B fully: exit 0 if equal, CODE_DIFFER if not, else errno. */
static pid_t spawn_cmp(const char *a, const char *b)
{
	pid_t pid = fork();

	if (pid == 0) {
		static char ba[65536], bb[65536];
		int fa, fb;

		child_fds();
		fa = open(a, O_RDONLY);
		fb = open(b, O_RDONLY);
		if (fa < 0 || fb < 0)
			_exit(errno);
		for (;;) {
			ssize_t na = read(fa, ba, sizeof(ba));
			ssize_t nb = 0, r;

			if (na < 0)
				_exit(errno);
			while (nb < na) {
				r = read(fb, bb + nb, na - nb);
				if (r < 0)
					_exit(errno);
				if (r == 0)
					break;
				nb += r;
			}
			if (na != nb || memcmp(ba, bb, na))
				_exit(CODE_DIFFER);
			if (na == 0)
				_exit(read(fb, bb, 1) == 0 ? 0 : CODE_DIFFER);
		}
	}
	return pid;
}

/*
 * Serves requests (if SERVING) until child PID exits or TIMEOUT_MS passes
 * (then it is killed).  Returns its exit code, or CODE_TIMEOUT.
 */
static int run_child(pid_t pid, int serving, int timeout_ms)
{
	long long end = now_ms() + timeout_ms;
	char buf[CACHEFILES_MSG_MAX_SIZE];
	int status, len;

	for (;;) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		if (now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return CODE_TIMEOUT;
		}
		if (serving && dev >= 0) {
			len = next_msg(buf, 50);
			if (len > 0)
				serve((void *)buf, len);
		} else {
			usleep(50000);
		}
	}
}

static void drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	sync();
	if (fd >= 0) {
		if (write(fd, "3", 1) < 0)
			comment("drop_caches: %s", ename(errno));
		close(fd);
	}
}

/* Whether /proc/fs/fscache/caches lists a cache named TAG. */
static int cache_listed(const char *tag)
{
	char line[256], name[128];
	FILE *f = fopen("/proc/fs/fscache/caches", "r");
	int found = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		/* CACHE    REF   VOLS  OBJS  ACCES S NAME */
		if (sscanf(line, "%*s %*s %*s %*s %*s %*s %127s", name) == 1 &&
		    strcmp(name, tag) == 0)
			found = 1;
	}
	fclose(f);
	return found;
}

/* Whether /proc/fs/fscache/caches lists a cache named TAG in state A
 * (active): a withdrawn cache stays listed while volumes refer to it. */
static int cache_active(const char *tag)
{
	char line[256], name[128], state;
	FILE *f = fopen("/proc/fs/fscache/caches", "r");
	int found = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*s %*s %*s %*s %*s %c %127s", &state, name) == 2 &&
		    state == 'A' && strcmp(name, tag) == 0)
			found = 1;
	}
	fclose(f);
	return found;
}

/* --- misuse ---------------------------------------------------------------------------- */

/*
 * Mounts blob PREFIX-X at MNTDIR/X and waits for its OPEN (read, not
 * answered).  Returns the mount child's pid; BUF and LEN get the message.
 */
static pid_t mount_and_take_open(const char *mntdir, const char *prefix, char x,
				 char *buf, int *len)
{
	char mnt[PATH_MAX], opts[300];
	pid_t pid;

	snprintf(mnt, sizeof(mnt), "%s/%c", mntdir, x);
	snprintf(opts, sizeof(opts), "fsid=%s-%c", prefix, x);
	pid = spawn_mount(mnt, opts);
	*len = next_msg(buf, 20000);
	return pid;
}

/*
 * Waits (up to 5 s) until the mount child PID sleeps uninterruptibly, i.e.
 * its superblock read waits on the cookie's lookup; returns its wchan.
 * fscache decides the mount's errno by when that read starts: while the
 * lookup runs it waits and the failed OPEN gives EIO; after the lookup
 * failed, the read is refused with ENOBUFS.  Answering the OPEN only once
 * the read waits makes the outcome the same on every run (and module).
 */
static const char *wait_mount_blocked(pid_t pid)
{
	static char wchan[64];
	char path[64], buf[512], *p;
	int fd, n;

	strcpy(wchan, "?");
	for (int i = 0; i < 500; i++) {
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		fd = open(path, O_RDONLY);
		n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
		if (fd >= 0)
			close(fd);
		if (n <= 0)
			break;
		buf[n] = 0;
		p = strrchr(buf, ')');
		if (p && p[1] == ' ' && p[2] == 'D') {
			snprintf(path, sizeof(path), "/proc/%d/wchan", pid);
			fd = open(path, O_RDONLY);
			n = fd < 0 ? -1 : read(fd, wchan, sizeof(wchan) - 1);
			if (fd >= 0)
				close(fd);
			wchan[n > 0 ? n : 0] = 0;
			return wchan;
		}
		usleep(10000);
	}
	return "(not blocked)";
}

/* One mount whose OPEN gets a consuming bad answer: checks the write's
 * errno, that the mount fails, and that a later good copen is refused. */
static void bad_copen(const char *mntdir, const char *prefix, char x,
		      const char *label, const char *answer, int want_write,
		      int close_fd_first)
{
	char buf[CACHEFILES_MSG_MAX_SIZE], name[128];
	struct cachefiles_msg *m = (void *)buf;
	struct cachefiles_open *o = (void *)m->data;
	int len, e, code;
	pid_t pid;

	pid = mount_and_take_open(mntdir, prefix, x, buf, &len);
	snprintf(name, sizeof(name), "%s.open_received", label);
	result(name, len > 0 && m->opcode == CACHEFILES_OP_OPEN, "read: %d", len);
	if (len <= 0 || m->opcode != CACHEFILES_OP_OPEN) {
		run_child(pid, 1, 30000);
		return;
	}
	comment("%s: mount waits in %s", label, wait_mount_blocked(pid));
	if (close_fd_first)
		close(o->fd);
	e = cmd("copen %u%s", m->msg_id, answer);
	snprintf(name, sizeof(name), "%s.copen_write", label);
	expect(name, want_write, e);
	code = run_child(pid, 1, 30000);
	comment("%s: mount(2) -> %s", label, ename(code));
	snprintf(name, sizeof(name), "%s.mount_fails_eio", label);
	expect(name, EIO, code);
	snprintf(name, sizeof(name), "%s.request_consumed", label);
	expect(name, EINVAL, cmd("copen %u,4096", m->msg_id));
	if (!close_fd_first)
		close(o->fd);
}

static int misuse(int argc, char **argv)
{
	const char *cachedir, *mntdir, *prefix, *srcdir, *file;
	char buf[CACHEFILES_MSG_MAX_SIZE], buf2[CACHEFILES_MSG_MAX_SIZE];
	char path[PATH_MAX], path2[PATH_MAX], want_vol[300];
	struct cachefiles_msg *m = (void *)buf, *m2 = (void *)buf2;
	struct cachefiles_open *op = (void *)m->data;
	struct cachefiles_read *rd;
	struct obj *a, *b;
	uint32_t id_open_a, id_read_a, id_read_b, obj_a, obj_b;
	int len, len2, e, code_a, code_b, code, fl;
	pid_t pa, pb, pc;

	if (argc != 6) {
		fprintf(stderr, "usage: ondemand_proto misuse CACHEDIR BLOBDIR MNTDIR PREFIX SRCDIR FILE\n");
		return 2;
	}
	cachedir = argv[0];
	blobdir = argv[1];
	mntdir = argv[2];
	prefix = argv[3];
	srcdir = argv[4];
	file = argv[5];
	if (bind_cache(cachedir, "cfrs-proto") < 0) {
		result("misuse.bind", 0, "cannot bind");
		return 1;
	}
	result("misuse.bind", 1, NULL);

	/* No request exists yet. */
	expect("copen.no_request_einval", EINVAL, cmd("copen 0,4096"));
	expect("copen.empty_args_einval", EINVAL, cmd("copen"));
	expect("copen.no_comma_einval", EINVAL, cmd("copen 0"));
	expect("copen.bad_id_einval", EINVAL, cmd("copen x1,4096"));
	expect("copen.negative_id_einval", EINVAL, cmd("copen -1,4096"));
	expect("copen.id_out_of_range_erange", ERANGE,
	       cmd("copen 99999999999999999999999,4096"));
	len = read(dev, buf, sizeof(buf));
	expect("devnode.read_with_no_request_returns_0", 0, len < 0 ? errno : len);

	/* Mount A: its OPEN waits, not yet read. */
	snprintf(path, sizeof(path), "%s/a", mntdir);
	snprintf(want_vol, sizeof(want_vol), "fsid=%s-a", prefix);
	pa = spawn_mount(path, want_vol);
	{
		struct pollfd p = { .fd = dev, .events = POLLIN };

		e = poll(&p, 1, 20000);
		result("devnode.pollin_on_open", e == 1 && (p.revents & POLLIN),
		       "poll %d revents %#x", e, p.revents);
	}
	/* An OPEN that exists but was never read: the first id is 0. */
	expect("copen.unread_open_einval", EINVAL, cmd("copen 0,4096"));
	len = next_msg(buf, 20000);
	result("open.received", len > 0 && m->opcode == CACHEFILES_OP_OPEN,
	       "read %d opcode %u", len, len > 0 ? m->opcode : 0);
	if (len <= 0 || m->opcode != CACHEFILES_OP_OPEN) {
		kill(pa, SIGKILL);
		return 1;
	}
	id_open_a = m->msg_id;
	expect("open.first_msg_id_is_0", 0, m->msg_id);
	snprintf(want_vol, sizeof(want_vol), "erofs,%s-a", prefix);
	result("open.len_and_keys",
	       m->len == (uint32_t)len &&
	       len == (int)(sizeof(*m) + sizeof(*op) + op->volume_key_size + op->cookie_key_size) &&
	       op->volume_key_size == strlen(want_vol) + 1 &&
	       !memcmp(op->data, want_vol, op->volume_key_size) &&
	       op->cookie_key_size == strlen(want_vol) - 6 &&
	       !memcmp(op->data + op->volume_key_size, want_vol + 6, op->cookie_key_size) &&
	       op->flags == 0 && m->object_id > 0,
	       "len %u/%d vks %u cks %u flags %u object %u", m->len, len,
	       op->volume_key_size, op->cookie_key_size, op->flags, m->object_id);
	fl = fcntl(op->fd, F_GETFD);
	result("open.anon_fd_valid_without_cloexec", fl >= 0 && !(fl & FD_CLOEXEC),
	       "F_GETFD %d", fl);
	fl = fcntl(op->fd, F_GETFL);
	result("open.anon_fd_write_only", fl >= 0 && (fl & O_ACCMODE) == O_WRONLY,
	       "F_GETFL %#x", fl);

	/* Bad requests that must not consume the OPEN. */
	expect("copen.no_comma_pending_einval", EINVAL, cmd("copen %u", id_open_a));
	expect("cread.open_id_einval", EINVAL, cread(op->fd, id_open_a));
	expect("cread.unknown_id_einval", EINVAL, cread(op->fd, 123456));
	expect("anon.unknown_ioctl_einval", EINVAL,
	       ioctl(op->fd, _IOW(0x98, 2, int), id_open_a) < 0 ? errno : 0);
	expect("anon.ioctl_cmd_0_einval", EINVAL, ioctl(op->fd, 0, 0) < 0 ? errno : 0);
	expect("devnode.ioctl_enotty", ENOTTY,
	       ioctl(dev, CACHEFILES_IOC_READ_COMPLETE, id_open_a) < 0 ? errno : 0);
	expect("anon.read_ebadf", EBADF, read(op->fd, buf2, 16) < 0 ? errno : 0);
	{
		static char page[PAGE] __attribute__((aligned(PAGE)));

		expect("anon.pwrite_before_copen_enobufs", ENOBUFS,
		       pwrite(op->fd, page, PAGE, 0) < 0 ? errno : 0);
	}
	a = take_open(m, len);
	result("open.blob_opened", a != NULL, "blob %s-a", prefix);
	if (!a) {
		kill(pa, SIGKILL);
		return 1;
	}
	obj_a = a->id;
	expect("copen.accept", 0, cmd("copen %u,%llu", id_open_a, (unsigned long long)a->size));
	expect("copen.replayed_einval", EINVAL,
	       cmd("copen %u,%llu", id_open_a, (unsigned long long)a->size));
	expect("cread.answered_open_id_einval", EINVAL, cread(a->fd, id_open_a));

	/* The mount reads its superblock: a READ for A. */
	len = next_msg(buf, 20000);
	rd = (void *)m->data;
	result("read.received", len == (int)(sizeof(*m) + sizeof(*rd)) &&
	       m->opcode == CACHEFILES_OP_READ && m->object_id == a->id && m->len == (uint32_t)len,
	       "read %d opcode %u object %u (A is %u)", len, len > 0 ? m->opcode : 0,
	       len > 0 ? m->object_id : 0, a->id);
	if (len <= 0 || m->opcode != CACHEFILES_OP_READ) {
		kill(pa, SIGKILL);
		return 1;
	}
	id_read_a = m->msg_id;
	comment("READ msg %u for A: [%#llx + %#llx]", id_read_a,
		(unsigned long long)rd->off, (unsigned long long)rd->len);
	{
		static char page[PAGE] __attribute__((aligned(PAGE)));

		expect("anon.pwrite_unaligned_enobufs", ENOBUFS,
		       pwrite(a->fd, page, PAGE, 1) < 0 ? errno : 0);
	}
	e = write_range(a, rd->off, rd->len);
	expect("read.data_written", 0, e);

	/* Mount B, so that there is a second object with its own READ. */
	pb = mount_and_take_open(mntdir, prefix, 'b', buf2, &len2);
	b = len2 > 0 ? take_open(m2, len2) : NULL;
	result("open_b.received", b != NULL, "read %d", len2);
	if (!b) {
		kill(pa, SIGKILL);
		kill(pb, SIGKILL);
		return 1;
	}
	obj_b = b->id;
	expect("copen_b.accept", 0, cmd("copen %u,%llu", m2->msg_id, (unsigned long long)b->size));
	len2 = next_msg(buf2, 20000);
	result("read_b.received", len2 > 0 && m2->opcode == CACHEFILES_OP_READ && m2->object_id == b->id,
	       "read %d", len2);
	id_read_b = m2->msg_id;
	if (len2 > 0 && m2->opcode == CACHEFILES_OP_READ) {
		expect("cread.other_objects_read_einval", EINVAL, cread(b->fd, id_read_a));
		expect("cread.other_objects_read_einval_2", EINVAL, cread(a->fd, id_read_b));
		serve(m2, len2);
	}
	expect("cread.ok", 0, cread(a->fd, id_read_a));
	expect("cread.replayed_einval", EINVAL, cread(a->fd, id_read_a));

	/* Everything else served normally: both mounts complete. */
	code_a = run_child(pa, 1, 60000);
	code_b = run_child(pb, 1, 60000);
	expect("mount_a.succeeds", 0, code_a);
	expect("mount_b.succeeds", 0, code_b);
	snprintf(path, sizeof(path), "%s/%s", srcdir, file);
	snprintf(path2, sizeof(path2), "%s/a/%s", mntdir, file);
	drop_caches();
	expect("mount_a.file_matches_source", 0, run_child(spawn_cmp(path, path2), 1, 60000));

	/* Answers that consume the OPEN and fail the mount. */
	bad_copen(mntdir, prefix, 'c', "copen_bad_size", ",abc", EINVAL, 0);
	bad_copen(mntdir, prefix, 'd', "copen_space_before_size", ", 4096", EINVAL, 0);
	bad_copen(mntdir, prefix, 'e', "copen_size_below_max_errno", ",-99999", EINVAL, 0);
	bad_copen(mntdir, prefix, 'f', "copen_errno_eio", ",-5", 0, 0);
	/* The anon fd closed before copen: the write succeeds, the OPEN
	 * fails with EBADFD (and the mount with it). */
	{
		char sz[32];

		snprintf(sz, sizeof(sz), ",%llu", (unsigned long long)a->size);
		bad_copen(mntdir, prefix, 'g', "anon_closed_before_copen", sz, 0, 1);
	}

	/*
	 * copen with size 0: C sets FSCACHE_COOKIE_NO_DATA_TO_READ, yet EROFS
	 * (NETFS_SREQ_ONDEMAND) still sends a READ for its superblock, and
	 * data the daemon writes past the declared size is used: the mount
	 * succeeds.
	 */
	pc = mount_and_take_open(mntdir, prefix, 'h', buf, &len);
	if (len > 0 && m->opcode == CACHEFILES_OP_OPEN && take_open(m, len)) {
		int reads = served.read;

		expect("copen_size_0.accept", 0, cmd("copen %u,0", m->msg_id));
		code = run_child(pc, 1, 30000);
		comment("copen size 0: mount(2) -> %s, %d READs", ename(code), served.read - reads);
		expect("copen_size_0.mount_succeeds", 0, code);
		result("copen_size_0.read_still_sent", served.read - reads >= 1,
		       "%d READs", served.read - reads);
		if (code == 0) {
			snprintf(path, sizeof(path), "%s/h", mntdir);
			expect("copen_size_0.umount", 0, run_child(spawn_umount(path), 1, 30000));
		}
	} else {
		result("copen_size_0.open_received", 0, "read %d", len);
		run_child(pc, 1, 30000);
	}

	/* umount of A and B: each sends a CLOSE for its object (no reply
	 * needed; serve() forgets the object).  The CLOSE may come after
	 * umount(2) returned. */
	snprintf(path, sizeof(path), "%s/a", mntdir);
	expect("umount_a", 0, run_child(spawn_umount(path), 1, 30000));
	snprintf(path, sizeof(path), "%s/b", mntdir);
	expect("umount_b", 0, run_child(spawn_umount(path), 1, 30000));
	for (int i = 0; i < 50 && (obj_by_id(obj_a) || obj_by_id(obj_b)); i++) {
		len = next_msg(buf, 100);
		if (len > 0)
			serve(m, len);
	}
	result("umount.close_for_each_object", !obj_by_id(obj_a) && !obj_by_id(obj_b),
	       "object %u %s, object %u %s", obj_a, obj_by_id(obj_a) ? "open" : "closed",
	       obj_b, obj_by_id(obj_b) ? "open" : "closed");
	close_all_objs();
	close(dev);
	dev = -1;
	return failures ? 1 : 0;
}

/* --- devnode closed before the anon fds ------------------------------------------ */

static int devclose(int argc, char **argv)
{
	const char *cachedir, *mnt, *blob, *srcdir, *cached, *uncached, *tag;
	char opts[300], a[PATH_MAX], b[PATH_MAX];
	int code, fd, listed;

	if (argc != 8) {
		fprintf(stderr, "usage: ondemand_proto devclose CACHEDIR BLOBDIR MNTDIR BLOB SRCDIR CACHED UNCACHED TAG\n");
		return 2;
	}
	cachedir = argv[0];
	blobdir = argv[1];
	mnt = argv[2];
	blob = argv[3];
	srcdir = argv[4];
	cached = argv[5];
	uncached = argv[6];
	tag = argv[7];
	if (bind_cache(cachedir, tag) < 0) {
		result("devclose.bind", 0, "cannot bind");
		return 1;
	}
	snprintf(opts, sizeof(opts), "fsid=%s", blob);
	expect("devclose.mount", 0, run_child(spawn_mount(mnt, opts), 1, 60000));
	snprintf(a, sizeof(a), "%s/%s", srcdir, cached);
	snprintf(b, sizeof(b), "%s/%s", mnt, cached);
	expect("devclose.first_read_matches", 0, run_child(spawn_cmp(a, b), 1, 60000));

	/* Close the devnode; the anon fd of the mount's object stays open. */
	close(dev);
	dev = -1;
	listed = cache_listed(tag);
	comment("devnode closed, anon fd open: cache %s listed in /proc/fs/fscache/caches",
		listed ? "still" : "not");
	result("devclose.cache_still_bound_while_anon_fd_open", listed, "not listed");
	fd = open("/dev/cachefiles", O_RDWR);
	expect("devclose.reopen_devnode_ebusy", EBUSY, fd < 0 ? errno : 0);
	if (fd >= 0)
		close(fd);

	snprintf(a, sizeof(a), "%s/%s", srcdir, uncached);
	snprintf(b, sizeof(b), "%s/%s", mnt, uncached);
	code = run_child(spawn_cmp(a, b), 0, 20000);
	comment("uncached read with the devnode closed: %s", ename(code));
	expect("devclose.uncached_read_eio", EIO, code);
	drop_caches();
	snprintf(a, sizeof(a), "%s/%s", srcdir, cached);
	snprintf(b, sizeof(b), "%s/%s", mnt, cached);
	code = run_child(spawn_cmp(a, b), 0, 20000);
	comment("cached read with the devnode closed: %s", ename(code));
	expect("devclose.cached_read_still_served", 0, code);

	/* umount with the anon fd still open must not hang. */
	expect("devclose.umount", 0, run_child(spawn_umount(mnt), 0, 20000));
	listed = cache_listed(tag);
	comment("after umount: cache %s listed", listed ? "still" : "not");
	close_all_objs();
	for (int i = 0; i < 50 && cache_listed(tag); i++)
		usleep(100000);
	result("devclose.cache_withdrawn_after_last_anon_fd", !cache_listed(tag), "still listed");
	fd = open("/dev/cachefiles", O_RDWR);
	expect("devclose.devnode_free_again", 0, fd < 0 ? errno : 0);
	if (fd >= 0)
		close(fd);
	return failures ? 1 : 0;
}

/* --- failover, spoken directly ----------------------------------------------------- */

/*
 * Here the "daemon" is this process and its "crash" is the loss of its
 * anon fds (obj_forget), while the devnode stays open, as a fd keeper
 * (supervisor, systemd's fd store) would hold it; the "restarted daemon"
 * then writes `restore` and reads on.  Each step is deterministic, unlike
 * the random SIGKILLs of failover_test.sh.
 */

/* Polls the devnode for TIMEOUT_MS: 1 if readable, 0 if not, -errno. */
static int pollin(int timeout_ms)
{
	struct pollfd p = { .fd = dev, .events = POLLIN };
	int n = poll(&p, 1, timeout_ms);

	if (n < 0)
		return -errno;
	return n > 0 && (p.revents & POLLIN);
}

/* 1 while child PID runs; once it has exited, 0 and *CODE its exit code. */
static int running(pid_t pid, int *code)
{
	int status;

	if (waitpid(pid, &status, WNOHANG) != pid)
		return 1;
	*code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return 0;
}

/* Starts a reader comparing SRCDIR/NAME with MNT/NAME (see spawn_cmp). */
static pid_t spawn_reader(const char *srcdir, const char *mnt, const char *name)
{
	char a[PATH_MAX], b[PATH_MAX];

	snprintf(a, sizeof(a), "%s/%s", srcdir, name);
	snprintf(b, sizeof(b), "%s/%s", mnt, name);
	return spawn_cmp(a, b);
}

/* Waits for the reader's first READ; returns its length (see next_msg). */
static int wait_read(const char *label, void *buf)
{
	struct cachefiles_msg *m = buf;
	char name[128];
	int len = next_msg(buf, 20000);

	snprintf(name, sizeof(name), "%s.read_received", label);
	result(name, len > 0 && m->opcode == CACHEFILES_OP_READ, "read %d opcode %u",
	       len, len > 0 ? m->opcode : 0);
	return len > 0 && m->opcode == CACHEFILES_OP_READ ? len : 0;
}

/* Finishes a reader, serving requests; checks it read the right bytes. */
static void reader_done(const char *label, pid_t pid)
{
	char name[128];
	int code = run_child(pid, 1, 60000);

	snprintf(name, sizeof(name), "%s.reader_gets_right_bytes", label);
	expect(name, 0, code);
}

/*
 * The restarted daemon's side of a crash with object OLD's anon fd gone:
 * after `restore` the next message must be an OPEN for the same cookie
 * (object re-opened, new object id), then the pending READ READ_ID again,
 * now for the new object id.  NOPOLL_BEFORE_COPEN: also checks that
 * nothing is readable between that OPEN and its copen (the READ of a
 * re-opening object does not raise EPOLLIN).  Returns the new object.
 */
static struct obj *reopen_after_crash(const char *label, const char *cookie,
				      uint32_t old_id, uint32_t read_id, int nopoll_before_copen)
{
	char buf[CACHEFILES_MSG_MAX_SIZE], name[128];
	struct cachefiles_msg *m = (void *)buf;
	struct obj *ob;
	int len, e;

	len = next_msg(buf, 20000);
	snprintf(name, sizeof(name), "%s.reopen_sends_open", label);
	result(name, len > 0 && m->opcode == CACHEFILES_OP_OPEN, "read %d opcode %u",
	       len, len > 0 ? m->opcode : 0);
	if (len <= 0 || m->opcode != CACHEFILES_OP_OPEN)
		return NULL;
	ob = take_open(m, len);
	snprintf(name, sizeof(name), "%s.reopen_same_cookie_new_object_id", label);
	result(name, ob && !strcmp(ob->name, cookie) && ob->id != old_id,
	       "cookie %s (was %s), object %u (was %u)", ob ? ob->name : "?", cookie,
	       m->object_id, old_id);
	if (!ob)
		return NULL;
	if (nopoll_before_copen) {
		e = pollin(300);
		snprintf(name, sizeof(name), "%s.no_pollin_for_reopening_read", label);
		expect(name, 0, e);
	}
	snprintf(name, sizeof(name), "%s.reopen_copen", label);
	expect(name, 0, cmd("copen %u,%llu", m->msg_id, (unsigned long long)ob->size));
	len = next_msg(buf, 20000);
	snprintf(name, sizeof(name), "%s.read_resent_same_msg_id_new_object", label);
	result(name, len > 0 && m->opcode == CACHEFILES_OP_READ && m->msg_id == read_id &&
	       m->object_id == ob->id, "read %d opcode %u msg %u (want %u) object %u (want %u)",
	       len, len > 0 ? m->opcode : 0, len > 0 ? m->msg_id : 0, read_id,
	       len > 0 ? m->object_id : 0, ob->id);
	if (len > 0)
		serve(m, len);
	return ob;
}

/*
 * The arguments CACHEDIR BLOBDIR MNTDIR PREFIX SRCDIR of the subcommand
 * WHAT (failover, recovery): 0, or 2 after a usage message.  Sets blobdir.
 */
static int dirs_args(int argc, char **argv, const char *what, const char **cachedir,
		     const char **mntdir, const char **prefix, const char **srcdir)
{
	if (argc != 5) {
		fprintf(stderr, "usage: ondemand_proto %s CACHEDIR BLOBDIR MNTDIR PREFIX SRCDIR\n",
			what);
		return 2;
	}
	*cachedir = argv[0];
	blobdir = argv[1];
	*mntdir = argv[2];
	*prefix = argv[3];
	*srcdir = argv[4];
	return 0;
}

static int failover(int argc, char **argv)
{
	const char *cachedir, *mntdir, *prefix, *srcdir;
	char buf[CACHEFILES_MSG_MAX_SIZE], buf2[CACHEFILES_MSG_MAX_SIZE];
	char mnt_a[PATH_MAX], path[PATH_MAX], cookie[256];
	struct cachefiles_msg *m = (void *)buf, *m2 = (void *)buf2;
	struct cachefiles_open *op = (void *)m->data;
	struct cachefiles_read rd0;
	struct obj *a = NULL;
	uint32_t id, old, msg;
	int len, code = 0, fl;
	pid_t pa, pb, pc, r;

	if (dirs_args(argc, argv, "failover", &cachedir, &mntdir, &prefix, &srcdir))
		return 2;
	if (bind_cache(cachedir, "cfrs-failover-proto") < 0) {
		result("failover.bind", 0, "cannot bind");
		return 1;
	}

	/* restore with nothing pending, twice in a row: accepted, no effect. */
	expect("restore.nothing_pending", 0, cmd("restore"));
	expect("restore.twice_in_a_row", 0, cmd("restore"));
	len = read(dev, buf, sizeof(buf));
	expect("restore.nothing_to_read_after", 0, len < 0 ? errno : len);
	expect("restore.no_pollin_after", 0, pollin(100));

	/* Mount A, served normally. */
	snprintf(mnt_a, sizeof(mnt_a), "%s/a", mntdir);
	snprintf(path, sizeof(path), "fsid=%s-a", prefix);
	pa = spawn_mount(mnt_a, path);
	expect("mount_a", 0, run_child(pa, 1, 60000));
	snprintf(cookie, sizeof(cookie), "%s-a", prefix);
	for (int i = 0; i < MAX_OBJS; i++)
		if (objs[i].used && !strcmp(objs[i].name, cookie))
			a = &objs[i];
	if (!a) {
		result("mount_a.object_known", 0, "no object for %s", cookie);
		return 1;
	}

	/*
	 * 1. restore while the daemon lives, with a READ read but not yet
	 * answered: it is delivered again, same msg id and object; without
	 * restore it is not.
	 */
	r = spawn_reader(srcdir, mnt_a, "r1.bin");
	len = wait_read("live", buf);
	if (len) {
		msg = m->msg_id;
		id = m->object_id;
		memcpy(&rd0, m->data, sizeof(rd0));
		len = next_msg(buf2, 300);
		expect("live.not_redelivered_without_restore", 0, len);
		expect("live.restore", 0, cmd("restore"));
		len = next_msg(buf2, 20000);
		result("live.read_redelivered_same_msg_id",
		       len > 0 && m2->opcode == CACHEFILES_OP_READ && m2->msg_id == msg &&
		       m2->object_id == id && !memcmp(m2->data, &rd0, sizeof(rd0)),
		       "read %d opcode %u msg %u (want %u) object %u (want %u)", len,
		       len > 0 ? m2->opcode : 0, len > 0 ? m2->msg_id : 0, msg,
		       len > 0 ? m2->object_id : 0, id);
		if (len > 0)
			serve(m2, len);
	}
	reader_done("live", r);

	/*
	 * 2. Crash with a READ in flight (read, unanswered): A's anon fd goes.
	 * The reader waits, nothing is readable until restore; then the
	 * object is re-opened and the same READ is sent again.
	 */
	r = spawn_reader(srcdir, mnt_a, "r2.bin");
	len = wait_read("inflight", buf);
	if (len) {
		msg = m->msg_id;
		old = a->id;
		obj_forget(a);
		expect("inflight.no_pollin_before_restore", 0, pollin(300));
		result("inflight.reader_waits", running(r, &code), "reader exited: %s", ename(code));
		expect("inflight.restore", 0, cmd("restore"));
		expect("inflight.pollin_after_restore", 1, pollin(5000));
		a = reopen_after_crash("inflight", cookie, old, msg, 1);
	}
	reader_done("inflight", r);
	if (!a)
		return 1;

	/*
	 * 3. Crash with a READ queued but never read, anon fd open: after
	 * restore the READ re-opens the object and is then delivered.
	 */
	r = spawn_reader(srcdir, mnt_a, "r3.bin");
	expect("queued.pollin_for_new_read", 1, pollin(20000));
	old = a->id;
	obj_forget(a);
	result("queued.reader_waits", running(r, &code), "reader exited: %s", ename(code));
	expect("queued.restore", 0, cmd("restore"));
	/* The READ's msg id is unknown here (never read): accept any. */
	len = next_msg(buf, 20000);
	result("queued.reopen_sends_open", len > 0 && m->opcode == CACHEFILES_OP_OPEN,
	       "read %d opcode %u", len, len > 0 ? m->opcode : 0);
	if (len > 0 && m->opcode == CACHEFILES_OP_OPEN) {
		a = take_open(m, len);
		result("queued.reopen_new_object_id", a && a->id != old, "object %u (was %u)",
		       m->object_id, old);
		if (a)
			expect("queued.reopen_copen", 0,
			       cmd("copen %u,%llu", m->msg_id, (unsigned long long)a->size));
	}
	reader_done("queued", r);

	/*
	 * 4. Crash during OPEN: mount B's OPEN read, its anon fd closed before
	 * copen.  After restore the same OPEN comes again with a working fd.
	 */
	pb = mount_and_take_open(mntdir, prefix, 'b', buf, &len);
	result("open_crash.open_received", len > 0 && m->opcode == CACHEFILES_OP_OPEN,
	       "read %d", len);
	if (len > 0 && m->opcode == CACHEFILES_OP_OPEN) {
		msg = m->msg_id;
		close(op->fd);
		expect("open_crash.no_pollin_before_restore", 0, pollin(300));
		expect("open_crash.restore", 0, cmd("restore"));
		len = next_msg(buf, 20000);
		fl = len > 0 && m->opcode == CACHEFILES_OP_OPEN ? fcntl(op->fd, F_GETFL) : -1;
		result("open_crash.open_redelivered_with_new_fd",
		       len > 0 && m->opcode == CACHEFILES_OP_OPEN && m->msg_id == msg &&
		       fl >= 0 && (fl & O_ACCMODE) == O_WRONLY,
		       "read %d opcode %u msg %u (want %u) F_GETFL %d", len,
		       len > 0 ? m->opcode : 0, len > 0 ? m->msg_id : 0, msg, fl);
		if (len > 0)
			serve(m, len);
	}
	expect("open_crash.mount_succeeds", 0, run_child(pb, 1, 60000));

	/*
	 * 5. restore with the OPEN of mount C read and its anon fd still open:
	 * the object already has a live fd, so the OPEN delivered again fails
	 * with EEXIST (read(2) returns it; the mount fails) instead of a
	 * second fd for one object (2024 fix).
	 */
	pc = mount_and_take_open(mntdir, prefix, 'c', buf, &len);
	result("open_live.open_received", len > 0 && m->opcode == CACHEFILES_OP_OPEN,
	       "read %d", len);
	if (len > 0 && m->opcode == CACHEFILES_OP_OPEN) {
		int fd = op->fd;

		expect("open_live.restore", 0, cmd("restore"));
		len = next_msg(buf2, 20000);
		expect("open_live.redelivery_eexist", -EEXIST, len);
		code = run_child(pc, 1, 60000);
		comment("OPEN re-read with its fd live: mount(2) -> %s", ename(code));
		result("open_live.mount_fails", code != 0 && code != CODE_TIMEOUT, "mount(2) %s",
		       ename(code));
		close(fd);
	} else {
		run_child(pc, 1, 30000);
	}

	/*
	 * 6. A daemon completing a READ it was never given, found by trying
	 * the ids after the last one it saw: C accepts it (a READ of this
	 * object), every other id is EINVAL.  The completion brings no data
	 * and is not trusted: the range is still a hole, so the reader's
	 * page is requested again (a new READ) and it gets the right bytes.
	 */
	if (a) {
		int hits = 0, misses = 0, reads;

		r = spawn_reader(srcdir, mnt_a, "r4.bin");
		expect("unread_cread.pollin_for_new_read", 1, pollin(20000));
		for (int t = 0; t < 50 && !hits; t++) {
			misses = 0;
			for (uint32_t i = 1; i <= 16; i++) {
				if (cread(a->fd, last_msg_id + i) == 0)
					hits++;
				else
					misses++;
			}
			if (!hits)
				usleep(100000);
		}
		result("unread_cread.one_id_accepted_others_einval", hits == 1 && misses == 15,
		       "%d accepted, %d refused", hits, misses);
		reads = served.read;
		code = run_child(r, 1, 60000);
		comment("reader after a READ completed without data: %s, %d READs more",
			ename(code), served.read - reads);
		expect("unread_cread.reader_gets_right_bytes", 0, code);
		result("unread_cread.range_requested_again", served.read > reads, "no READ");
	}

	/* Both mounts still work, then go; each object sends its CLOSE. */
	r = spawn_reader(srcdir, mnt_a, "r4.bin");
	reader_done("after", r);
	snprintf(path, sizeof(path), "%s/b", mntdir);
	expect("umount_b", 0, run_child(spawn_umount(path), 1, 30000));
	expect("umount_a", 0, run_child(spawn_umount(mnt_a), 1, 30000));
	close_all_objs();
	close(dev);
	dev = -1;
	return failures ? 1 : 0;
}

/*
 * cmds DEVNODE CMD...: opens DEVNODE, writes each CMD with one write() and
 * prints the outcome of each ("0" or the errno name), one a line; closes
 * the devnode at the end (which unbinds a cache bound meanwhile).
 * Exit status 0 unless the devnode cannot be opened.
 */
static int cmds(int argc, char **argv)
{
	int fd, i;

	if (argc < 1) {
		fprintf(stderr, "usage: ondemand_proto cmds DEVNODE CMD...\n");
		return 2;
	}
	fd = open(argv[0], O_RDWR);
	if (fd < 0) {
		printf("open %s\n", ename(errno));
		return 1;
	}
	for (i = 1; i < argc; i++) {
		ssize_t n = write(fd, argv[i], strlen(argv[i]));

		printf("%s\n", ename(n < 0 ? errno : 0));
	}
	close(fd);
	return 0;
}

/*
 * seek FILE OFFSET data|hole: prints lseek(SEEK_DATA or SEEK_HOLE) of FILE
 * from OFFSET (a number, or the errno name).
 */
static int seek(int argc, char **argv)
{
	int fd, whence;
	off_t r;

	if (argc != 3 || (strcmp(argv[2], "data") && strcmp(argv[2], "hole"))) {
		fprintf(stderr, "usage: ondemand_proto seek FILE OFFSET data|hole\n");
		return 2;
	}
	whence = strcmp(argv[2], "data") ? SEEK_HOLE : SEEK_DATA;
	fd = open(argv[0], O_RDONLY);
	if (fd < 0) {
		printf("open %s\n", ename(errno));
		return 1;
	}
	r = lseek(fd, strtoll(argv[1], NULL, 0), whence);
	if (r < 0)
		printf("%s\n", ename(errno));
	else
		printf("%lld\n", (long long)r);
	close(fd);
	return 0;
}

/* --- recovery without a keeper (cachefiles_rs only) ---------------------------------- */

/*
 * The "daemon" is this process and its "crash" is the loss of all its
 * fds, the devnode included: nobody keeps the cache (no supervisor, no fd
 * store).  On cachefiles_rs a cache bound after `recovery <s>` is then
 * orphaned and a new opener adopts it with `tag` + `attach`; on C (the
 * oracle, CFRS_MODULE=c) `recovery` and `attach` are unknown commands
 * (EOPNOTSUPP) and the cache dies with its devnode as always.  Every case
 * has the same name on both modules and asserts each module's behaviour.
 */
static int is_rs = 1;

/* result() with a condition per module. */
static void want(const char *name, int ok_rs, int ok_c, const char *fmt, ...)
{
	char why[512] = "";
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
	}
	result(name, is_rs ? ok_rs : ok_c, "%s", why);
}

/* expect() with a wanted errno per module. */
static void expect2(const char *name, int want_rs, int want_c, int got)
{
	expect(name, is_rs ? want_rs : want_c, got);
}

/* Opens the devnode as `dev`, retrying for up to 10 s while it is busy
 * (C frees it only once the dead cache is unbound).  0 or the errno. */
static int dev_open_wait(void)
{
	for (int i = 0; i < 1000; i++) {
		dev = open("/dev/cachefiles", O_RDWR);
		if (dev >= 0)
			return 0;
		if (errno != EBUSY)
			return errno;
		usleep(10000);
	}
	return EBUSY;
}

/* The daemon dies: its anon fds and its devnode fd are closed. */
static void crash(void)
{
	close_all_objs();
	if (dev >= 0)
		close(dev);
	dev = -1;
}

/* Binds a cache at CACHEDIR tagged TAG, recoverable for GRACE s on rs
 * (on C, `recovery` is refused and the cache binds as usual). */
static int rbind(const char *label, const char *cachedir, const char *tag, int grace)
{
	char name[128];
	int e;

	e = dev_open_wait();
	if (!e)
		e = cmd("dir %s", cachedir);
	if (!e)
		e = cmd("tag %s", tag);
	if (e) {
		snprintf(name, sizeof(name), "%s.bind", label);
		result(name, 0, "open/dir/tag: %s", ename(e));
		return -1;
	}
	e = cmd("recovery %d", grace);
	if (e != (is_rs ? 0 : EOPNOTSUPP))
		comment("%s: 'recovery %d': %s", label, grace, ename(e));
	e = cmd("bind ondemand");
	if (e) {
		snprintf(name, sizeof(name), "%s.bind", label);
		result(name, 0, "bind ondemand: %s", ename(e));
		return -1;
	}
	return 0;
}

/* A new daemon: opens the devnode, writes `tag TAG` (and `recovery GRACE`
 * if GRACE > 0), then `attach`; returns attach's errno.  On failure the
 * devnode stays open (the caller closes it). */
static int reattach(const char *tag, int grace)
{
	int e = dev_open_wait();

	if (e)
		return e;
	if (tag) {
		e = cmd("tag %s", tag);
		if (e)
			return e;
	}
	if (grace > 0)
		cmd("recovery %d", grace);
	return cmd("attach");
}

/* Waits up to MS for the cache TAG to be no longer active; 1 if so. */
static int gone_within(const char *tag, int ms)
{
	for (int i = 0; i < ms / 50; i++) {
		if (!cache_active(tag))
			return 1;
		usleep(50000);
	}
	return !cache_active(tag);
}

/* Mounts PREFIX-X at MNTDIR/X, serving it; returns mount's errno. */
static int mount_served(const char *mntdir, const char *prefix, char x)
{
	char mnt[PATH_MAX], opts[300];

	snprintf(mnt, sizeof(mnt), "%s/%c", mntdir, x);
	snprintf(opts, sizeof(opts), "fsid=%s-%c", prefix, x);
	return run_child(spawn_mount(mnt, opts), 1, 60000);
}

/* Waits (up to MS) for child PID, not serving; its exit code or TIMEOUT. */
static int child_code(pid_t pid, int ms)
{
	return run_child(pid, 0, ms);
}

static int failed_eio_or_enobufs(int code)
{
	return code == EIO || code == ENOBUFS;
}

/*
 * Crash with reader R (on MNTDIR/X) waiting for a READ, then a new daemon.
 * rs: the cache stays listed, R waits; attach; the object (its fd gone)
 * is re-opened, the READ comes again (same msg id READ_ID if the crashed
 * daemon had read it, else any), R gets the right bytes.  C: R fails with
 * EIO/ENOBUFS, attach is EOPNOTSUPP.
 */
static void crash_with_reader(const char *label, const char *tag, pid_t r, uint32_t read_id)
{
	char buf[CACHEFILES_MSG_MAX_SIZE], name[128];
	struct cachefiles_msg *m = (void *)buf;
	struct obj *ob;
	int code = 0, len, e, listed, waits, ok;

	crash();
	usleep(300000);
	listed = cache_active(tag);
	waits = running(r, &code);
	if (!is_rs && waits)
		code = child_code(r, 60000);
	snprintf(name, sizeof(name), "%s.after_daemon_death", label);
	want(name, listed && waits, !listed && failed_eio_or_enobufs(code),
	     "cache %s active, reader %s (%s)", listed ? "still" : "not",
	     waits ? "waited" : "exited", ename(code));
	e = reattach(tag, 0);
	snprintf(name, sizeof(name), "%s.attach", label);
	expect2(name, 0, EOPNOTSUPP, e);
	if (!is_rs || e) {
		if (is_rs) {
			kill(r, SIGKILL);
			waitpid(r, NULL, 0);
		}
		crash();
		snprintf(name, sizeof(name), "%s.reopen_then_read_resent", label);
		result(name, !is_rs, "attach: %s", ename(e));
		snprintf(name, sizeof(name), "%s.reader_gets_right_bytes", label);
		result(name, !is_rs, "attach: %s", ename(e));
		return;
	}
	/* The new daemon: OPEN of the re-opened object, then the READ. */
	len = next_msg(buf, 20000);
	ok = len > 0 && m->opcode == CACHEFILES_OP_OPEN;
	ob = ok ? take_open(m, len) : NULL;
	ok = ob && !cmd("copen %u,%llu", m->msg_id, (unsigned long long)ob->size);
	len = ok ? next_msg(buf, 20000) : 0;
	ok = ok && len > 0 && m->opcode == CACHEFILES_OP_READ &&
	     (read_id == UINT32_MAX || m->msg_id == read_id) && m->object_id == ob->id;
	snprintf(name, sizeof(name), "%s.reopen_then_read_resent", label);
	result(name, ok, "read %d opcode %u msg %u (want %d) object %u", len,
	       len > 0 ? m->opcode : 0, len > 0 ? m->msg_id : 0, (int)read_id,
	       len > 0 ? m->object_id : 0);
	if (len > 0 && m->opcode == CACHEFILES_OP_READ)
		serve(m, len);
	code = run_child(r, 1, 60000);
	snprintf(name, sizeof(name), "%s.reader_gets_right_bytes", label);
	expect(name, 0, code);
}

static int recovery(int argc, char **argv)
{
	const char *cachedir, *mntdir, *prefix, *srcdir, *tag = "cfrs-recovery-proto";
	char buf[CACHEFILES_MSG_MAX_SIZE], path[PATH_MAX];
	struct cachefiles_msg *m = (void *)buf;
	struct cachefiles_open *op = (void *)m->data;
	const char *mod = getenv("CFRS_MODULE");
	int e, e1, e2, len, code, listed, st1, st2;
	long long t0;
	uint32_t msg;
	pid_t pid, r, k1, k2;
	int go[2];

	if (dirs_args(argc, argv, "recovery", &cachedir, &mntdir, &prefix, &srcdir))
		return 2;
	is_rs = !(mod && !strcmp(mod, "c"));
	comment("expecting the behaviour of %s", is_rs ? "cachefiles_rs" : "C cachefiles");

	/* 1. The new commands on an unbound devnode: C knows neither. */
	if (dev_open_wait()) {
		result("probe.open", 0, "open: %s", ename(errno));
		return 1;
	}
	expect2("probe.recovery_accepted", 0, EOPNOTSUPP, cmd("recovery 5"));
	expect2("probe.recovery_twice_eexist", EEXIST, EOPNOTSUPP, cmd("recovery 6"));
	expect2("probe.attach_without_orphan_enoent", ENOENT, EOPNOTSUPP, cmd("attach"));
	expect2("probe.attach_with_argument_einval", EINVAL, EOPNOTSUPP, cmd("attach x"));
	crash();
	dev_open_wait();
	e1 = cmd("recovery 0");
	e2 = cmd("recovery 3601");
	e = cmd("recovery 1x");
	want("probe.recovery_out_of_range_einval", e1 == EINVAL && e2 == EINVAL && e == EINVAL,
	     e1 == EOPNOTSUPP && e2 == EOPNOTSUPP && e == EOPNOTSUPP, "0: %s, 3601: %s, 1x: %s",
	     ename(e1), ename(e2), ename(e));
	crash();

	/* 2. Normal mode: a cache bound without `ondemand` cannot recover. */
	dev_open_wait();
	cmd("dir %s", cachedir);
	cmd("recovery 5");
	e = cmd("bind");
	expect2("normal.bind_with_recovery_eopnotsupp", EOPNOTSUPP, 0, e);
	crash();
	dev_open_wait();
	cmd("dir %s", cachedir);
	e = cmd("bind");
	expect("normal.bind", 0, e);
	expect("normal.attach_eopnotsupp", EOPNOTSUPP, cmd("attach"));
	expect("normal.recovery_eopnotsupp", EOPNOTSUPP, cmd("recovery 5"));
	crash();

	/* An on-demand cache bound without `recovery` cannot recover either;
	 * opting in after bind is too late. */
	dev_open_wait();
	cmd("dir %s", cachedir);
	cmd("tag cfrs-recovery-plain");
	expect("plain.bind", 0, cmd("bind ondemand"));
	expect("plain.attach_eopnotsupp", EOPNOTSUPP, cmd("attach"));
	expect2("plain.recovery_after_bind_ebusy", EBUSY, EOPNOTSUPP, cmd("recovery 5"));
	crash();

	/* 3. A recoverable cache, bound: both commands are refused. */
	if (rbind("bound", cachedir, tag, 30) < 0)
		return 1;
	expect2("bound.recovery_after_bind_ebusy", EBUSY, EOPNOTSUPP, cmd("recovery 5"));
	expect2("bound.attach_after_bind_ebusy", EBUSY, EOPNOTSUPP, cmd("attach"));
	listed = cache_active(tag);
	result("bound.cache_active", listed, "not active");

	/*
	 * 4. Death during OPEN: mount B's OPEN read, unanswered.  rs: the
	 * mount waits; a new daemon attaches and gets the same OPEN again with
	 * a new fd.  C: the mount fails.
	 */
	pid = mount_and_take_open(mntdir, prefix, 'b', buf, &len);
	result("open_crash.open_received", len > 0 && m->opcode == CACHEFILES_OP_OPEN,
	       "read %d", len);
	msg = len > 0 ? m->msg_id : 0;
	if (len > 0 && m->opcode == CACHEFILES_OP_OPEN)
		close(op->fd);
	crash();
	usleep(300000);
	listed = cache_active(tag);
	code = 0;
	st1 = running(pid, &code);
	if (!is_rs && st1)
		code = child_code(pid, 60000);
	want("open_crash.after_daemon_death", listed && st1,
	     !listed && code != 0 && code != CODE_TIMEOUT, "cache %s active, mount %s (%s)",
	     listed ? "still" : "not", st1 ? "waited" : "done", ename(code));
	t0 = now_ms();
	e = dev_open_wait();
	comment("devnode opened again after %lld ms: %s", now_ms() - t0, ename(e));
	want("open_crash.devnode_free_at_once", !e && now_ms() - t0 < 1000, !e, "%s", ename(e));
	e = e ? e : cmd("tag %s", tag);
	e = e ? e : cmd("attach");
	expect2("open_crash.attach", 0, EOPNOTSUPP, e);
	if (is_rs && !e) {
		len = next_msg(buf, 20000);
		int fl = len > 0 && m->opcode == CACHEFILES_OP_OPEN ? fcntl(op->fd, F_GETFL) : -1;

		result("open_crash.open_redelivered_with_new_fd",
		       len > 0 && m->opcode == CACHEFILES_OP_OPEN && m->msg_id == msg && fl >= 0,
		       "read %d opcode %u msg %u (want %u) F_GETFL %d", len,
		       len > 0 ? m->opcode : 0, len > 0 ? m->msg_id : 0, msg, fl);
		if (len > 0)
			serve(m, len);
		expect("open_crash.mount_result", 0, run_child(pid, 1, 60000));
	} else {
		if (is_rs) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		result("open_crash.open_redelivered_with_new_fd", !is_rs, "attach failed");
		result("open_crash.mount_result", !is_rs && code != 0 && code != CODE_TIMEOUT,
		       "mount(2) %s", ename(code));
		crash();
	}

	/* 5. Death with a READ in flight (read, unanswered). */
	if (!is_rs && rbind("inflight", cachedir, tag, 30) < 0)
		return 1;
	expect("inflight.mount", 0, mount_served(mntdir, prefix, 'c'));
	snprintf(path, sizeof(path), "%s/c", mntdir);
	r = spawn_reader(srcdir, path, "r1.bin");
	len = wait_read("inflight", buf);
	crash_with_reader("inflight", tag, r, len ? m->msg_id : UINT32_MAX);

	/* 6. Death with a READ queued, never read. */
	if (!is_rs && rbind("queued", cachedir, tag, 30) < 0)
		return 1;
	expect("queued.mount", 0, mount_served(mntdir, prefix, 'd'));
	snprintf(path, sizeof(path), "%s/d", mntdir);
	r = spawn_reader(srcdir, path, "r2.bin");
	expect("queued.pollin_for_new_read", 1, pollin(20000));
	crash_with_reader("queued", tag, r, UINT32_MAX);

	/* 7. A wrong tag finds no orphan; the right one does. */
	if (!is_rs && rbind("wrongtag", cachedir, tag, 30) < 0)
		return 1;
	crash();
	e = reattach("cfrs-no-such-tag", 0);
	expect2("wrongtag.attach_enoent", ENOENT, EOPNOTSUPP, e);
	crash();
	e = reattach(tag, 0);
	expect2("wrongtag.right_tag_attaches", 0, EOPNOTSUPP, e);

	/*
	 * 8. Two attaches race on one devnode file (a forked daemon): exactly
	 * one wins, the other gets EBUSY.
	 */
	if (!is_rs) {
		crash();
		if (rbind("race", cachedir, tag, 30) < 0)
			return 1;
	}
	crash();
	e = dev_open_wait();
	e = e ? e : cmd("tag %s", tag);
	if (e || pipe(go)) {
		result("race.two_attaches_one_wins", 0, "setup: %s", ename(e ? e : errno));
		return 1;
	}
	k1 = fork();
	if (k1 == 0) {
		char c;

		close(go[1]);
		_exit(read(go[0], &c, 1) < 0 ? 255 : cmd("attach"));
	}
	k2 = fork();
	if (k2 == 0) {
		char c;

		close(go[1]);
		_exit(read(go[0], &c, 1) < 0 ? 255 : cmd("attach"));
	}
	close(go[0]);
	close(go[1]);
	waitpid(k1, &st1, 0);
	waitpid(k2, &st2, 0);
	e1 = WIFEXITED(st1) ? WEXITSTATUS(st1) : 254;
	e2 = WIFEXITED(st2) ? WEXITSTATUS(st2) : 254;
	comment("racing attaches: %s, %s", ename(e1), ename(e2));
	want("race.two_attaches_one_wins", (e1 == 0 && e2 == EBUSY) || (e1 == EBUSY && e2 == 0),
	     e1 == EOPNOTSUPP && e2 == EOPNOTSUPP, "%s, %s", ename(e1), ename(e2));
	/* The file serves the cache: mount C (case 5) reads (on C its cache
	 * died with its daemon). */
	snprintf(path, sizeof(path), "%s/c", mntdir);
	code = run_child(spawn_reader(srcdir, path, "r3.bin"), 1, 60000);
	want("race.winner_serves", code == 0, failed_eio_or_enobufs(code), "reader: %s",
	     ename(code));

	/* The mounts go (their CLOSEs served), then the cache: attached again
	 * with a grace of 1 s, it expires right after the last close. */
	e = 0;
	for (char x = is_rs ? 'b' : 'c'; x <= 'd'; x++) {
		snprintf(path, sizeof(path), "%s/%c", mntdir, x);
		code = run_child(spawn_umount(path), 1, 30000);
		if (code) {
			comment("umount %s: %s", path, ename(code));
			e = code;
		}
	}
	expect("end.umounts", 0, e);
	crash();
	e = reattach(tag, 1);
	expect2("end.attach_with_short_grace", 0, EOPNOTSUPP, e);
	crash();
	t0 = now_ms();
	e = gone_within(tag, 10000);
	comment("cache gone %lld ms after the last close", now_ms() - t0);
	result("end.cache_gone_after_grace", e, "still listed after 10 s");

	/*
	 * 9. Expiry: no daemon attaches within the grace period (3 s): the
	 * reader blocked meanwhile then fails with EIO, as on C without a
	 * keeper at once; the cache is withdrawn and attach finds nothing.
	 */
	if (rbind("expiry", cachedir, tag, 3) < 0)
		return 1;
	expect("expiry.mount", 0, mount_served(mntdir, prefix, 'e'));
	snprintf(path, sizeof(path), "%s/e", mntdir);
	r = spawn_reader(srcdir, path, "r4.bin");
	wait_read("expiry", buf);
	crash();
	t0 = now_ms();
	usleep(1000000);
	st1 = running(r, &code);
	if (st1)
		code = child_code(r, 60000);
	comment("reader ended %lld ms after the daemon's death: %s", now_ms() - t0, ename(code));
	want("expiry.reader_fails_eio", !st1 ? 0 : failed_eio_or_enobufs(code) && now_ms() - t0 >= 2500,
	     failed_eio_or_enobufs(code), "reader %s, %s after %lld ms",
	     st1 ? "waited" : "did not wait", ename(code), now_ms() - t0);
	result("expiry.cache_withdrawn", gone_within(tag, 10000), "still listed");
	e = reattach(tag, 0);
	expect2("expiry.attach_after_expiry_enoent", ENOENT, EOPNOTSUPP, e);
	crash();
	expect("expiry.umount", 0, run_child(spawn_umount(path), 0, 30000));

	/* 10. Two orphans with different tags, each attached by its own tag. */
	if (rbind("two", cachedir, "cfrs-recovery-a", 3) < 0)
		return 1;
	crash();
	snprintf(path, sizeof(path), "%s-b", cachedir);
	mkdir(path, 0700);
	/* A second recoverable cache may not take the orphan's tag (on C the
	 * tag is free: its cache died). */
	e = dev_open_wait();
	e = e ? e : cmd("dir %s", path);
	e = e ? e : cmd("tag cfrs-recovery-a");
	if (!e)
		cmd("recovery 3");
	e = e ? e : cmd("bind ondemand");
	expect2("two.same_tag_bind_ebusy", EBUSY, 0, e);
	crash();
	if (rbind("two", path, "cfrs-recovery-b", 3) < 0)
		return 1;
	crash();
	e1 = cache_active("cfrs-recovery-a");
	e2 = cache_active("cfrs-recovery-b");
	want("two.both_active", e1 && e2, !e1 && !e2, "a %d, b %d", e1, e2);
	e = reattach("cfrs-recovery-b", 0);
	expect2("two.attach_b", 0, EOPNOTSUPP, e);
	crash();
	e = reattach("cfrs-recovery-a", 0);
	expect2("two.attach_a", 0, EOPNOTSUPP, e);
	crash();
	result("two.both_expire", gone_within("cfrs-recovery-a", 10000) &&
	       gone_within("cfrs-recovery-b", 10000), "still listed");
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && !strcmp(argv[1], "mount") && argc == 4) {
		int rc = mount("none", argv[2], "erofs", 0, argv[3]);

		printf("%s\n", ename(rc ? errno : 0));
		return rc ? 1 : 0;
	}
	if (argc >= 3 && !strcmp(argv[1], "umount") && argc <= 4) {
		int lazy = argc == 4 && !strcmp(argv[3], "-l");
		int rc = umount2(argv[2], lazy ? MNT_DETACH : 0);

		printf("%s\n", ename(rc ? errno : 0));
		return rc ? 1 : 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "misuse"))
		return misuse(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "devclose"))
		return devclose(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "failover"))
		return failover(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "cmds"))
		return cmds(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "seek"))
		return seek(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "recovery"))
		return recovery(argc - 2, argv + 2);
	fprintf(stderr, "usage: ondemand_proto mount|umount|misuse|devclose|failover|cmds|seek|recovery ... (see the source)\n");
	return 2;
}
