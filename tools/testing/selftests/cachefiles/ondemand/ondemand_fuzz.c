// SPDX-License-Identifier: GPL-2.0
/*
 * ondemand_fuzz: a malicious on-demand daemon.  It binds a cache on
 * /dev/cachefiles while readers mount EROFS images (fscache mode) and read
 * them, and answers the OPEN and READ requests right or wrong at random:
 * wrong sizes, negative errnos, ids never issued or already used, twice,
 * on another object's anon fd, garbage / unaligned / out-of-range writes
 * to the anon fds, anon fds closed early, no answer at all.  Between the
 * answers it sends `restore` bursts, unknown commands, `cull` and `inuse`,
 * reads the devnode with short buffers (EMSGSIZE), dups the devnode, forks
 * children that use it, closes the devnode and binds again.  Used by
 * fuzz_test.sh inside the test VM (root, a cachefiles backend loaded).
 *
 *   ondemand_fuzz [--seed S] [--ops N] [--slots K] [--kill-limit-ms MS]
 *                 CACHEDIR BLOBDIR MNTDIR SRCDIR NIMAGES
 *
 * BLOBDIR holds the images img0 .. img<NIMAGES-1> of the trees
 * SRCDIR/0 .. SRCDIR/<NIMAGES-1>; the fuzzer mounts hard links of them
 * under fresh names (fresh cache objects), K mounts at a time under MNTDIR.
 *
 * The PRNG (xorshift64*) is seeded with S (default: from the clock; the
 * seed is printed): the same seed gives the same sequence of choices,
 * though the kernel's timing (which request comes when) differs from run
 * to run.
 *
 * What is checked ("ok NAME" / "not ok NAME # why" lines, numbered into
 * TAP by the script; "# ..." comments):
 *   - every reader dies within --kill-limit-ms (default 10000) of SIGKILL;
 *   - no mount(2) or umount(2) stays blocked: an OPEN is an uninterruptible
 *     wait (fscache waits for the cookie's lookup in D state), so the
 *     fuzzer never leaves one unanswered for long; when a mount or umount
 *     has waited for 8 s it "rescues" it (restore, then right answers),
 *     and one still blocked after 40 s is a failure;
 *   - the errno contract a daemon can rely on whatever it did before:
 *     copen and READ_COMPLETE with an id never issued give EINVAL, unknown
 *     commands EOPNOTSUPP, a devnode read never returns more than the
 *     buffer and fails only with EMSGSIZE (short buffer) or the errnos of
 *     a failed OPEN delivery;
 *   - at the end: every reader killed, every mount unmounted, the devnode
 *     closed and bound again, a fresh image mounted and read through a
 *     correct daemon matches its source tree byte for byte.
 * A figures line ("# fuzz: ops ... seed ...") sums it up.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/cachefiles.h>

#include "od_common.h"

#define PAGE 4096UL
#define MAX_OBJS 64
#define MAX_PENDING 128
#define MAX_SLOTS 8
#define MAX_DUPS 4
#define MAX_KIDS 8
#define RING 64
/*
 * Blob names the mounts cycle through (see spawn_mount).  Each name is a
 * volume of its own: a directory and 256 fan-out directories that stay in
 * the cache.  The VM's 512 MiB scratch ext4 has about 32 768 inodes; once
 * fewer than fstop's 1 % are free, both modules refuse every new volume
 * and object (ENOBUFS), so 512 names stopped all mounts after about 126
 * of them (a C run of 1 000 000 operations: 28 mounts read, 46 446
 * failed).  64 names take about 16 500 inodes.
 */
#define NAMES 64
#define TAG "cfrs-fuzz"
/* An id no cache issues in a run (ids are allocated cyclically from 0). */
#define FAR_ID 0x40000000U

/* Rescue a mount / umount child after this long; fail it after that. */
#define RESCUE_MS 8000
#define STUCK_MS 40000
/* Answer a pending OPEN after this long at the latest (D-state waits). */
#define OPEN_DEADLINE_MS 2000

static const char *cachedir, *blobdir, *mntdir, *srcdir;
static int nimages;
static int kill_limit_ms = 10000;

/* --- PRNG ------------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rnd64(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [0, n). */
static uint32_t rnd(uint32_t n)
{
	return n ? (uint32_t)((rnd64() >> 32) % n) : 0;
}

/* True with probability PCT percent. */
static int chance(unsigned int pct)
{
	return rnd(100) < pct;
}

/* --- reporting ------------------------------------------------------------- */

static const char *ename(int e)
{
	return errno_name(e);
}

/* --- figures ----------------------------------------------------------------- */

static struct {
	unsigned long ops, msgs, opens, reads, closes, right, wrong, deferred, dropped;
	unsigned long restores, junk, culls, emsgsize, short_reads, dups, forks;
	unsigned long devcloses, binds, bind_fail, anon_writes, anon_closes;
	unsigned long mounts, mount_fail, umounts, kills, rescues, contract;
	unsigned long read_errors;
	long long max_kill_ms, cull_ms;
} fig;

/* Counters the readers (children) update, in shared memory. */
struct shared {
	unsigned long reads, errors, bytes;
};
static struct shared *sh;

/* A broken errno contract: counted, the first few printed. */
static void contract(const char *what, int got, int want)
{
	fig.contract++;
	if (fig.contract <= 10)
		comment("contract: %s: got %s, want %s", what, ename(got), ename(want));
}

/* --- the devnode --------------------------------------------------------------- */

static int dev = -1;
static int dups[MAX_DUPS] = { -1, -1, -1, -1 };

/* A devnode fd to write a command with: the devnode or one of its dups. */
static int cmd_fd(void)
{
	int i = rnd(MAX_DUPS + 2);

	if (i < MAX_DUPS && dups[i] >= 0)
		return dups[i];
	return dev;
}

static int cmd_on(int fd, const char *fmt, ...)
{
	va_list ap;
	int e;

	va_start(ap, fmt);
	e = vcmd_on(fd, fmt, ap);
	va_end(ap);
	return e;
}
#define cmd(...) cmd_on(cmd_fd(), __VA_ARGS__)

static int bind_cache(void)
{
	int e;

	dev = open("/dev/cachefiles", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return errno;
	e = cmd_on(dev, "dir %s", cachedir);
	if (!e)
		e = cmd_on(dev, "tag %s", TAG);
	if (!e)
		e = cmd_on(dev, "bind ondemand");
	if (e) {
		close(dev);
		dev = -1;
		return e;
	}
	fig.binds++;
	return 0;
}

/* --- objects (anon fds) and pending requests ---------------------------------- */

struct obj {
	int used;
	uint32_t id;	/* object_id */
	int fd;		/* anon fd, -1 once closed */
	int blob;
	uint64_t size;
};
static struct obj objs[MAX_OBJS];

struct pend {
	int used;
	uint32_t msg_id, opcode, object_id;
	uint64_t off, len;
	long long t;	/* when it was read */
};
static struct pend pending[MAX_PENDING];

/* Message ids answered already (for replays). */
static uint32_t answered[RING];
static int nanswered;

static void remember_answered(uint32_t id)
{
	answered[nanswered++ % RING] = id;
}

static uint32_t some_answered_id(void)
{
	return nanswered ? answered[rnd(nanswered < RING ? nanswered : RING)] : 0;
}

static struct obj *obj_by_id(uint32_t id)
{
	for (int i = 0; i < MAX_OBJS; i++)
		if (objs[i].used && objs[i].id == id)
			return &objs[i];
	return NULL;
}

static struct obj *some_obj_with_fd(void)
{
	int start = rnd(MAX_OBJS);

	for (int i = 0; i < MAX_OBJS; i++) {
		struct obj *o = &objs[(start + i) % MAX_OBJS];

		if (o->used && o->fd >= 0)
			return o;
	}
	return NULL;
}

static void obj_close_fd(struct obj *o)
{
	if (o->fd >= 0) {
		close(o->fd);
		o->fd = -1;
		fig.anon_closes++;
	}
}

static void obj_forget(struct obj *o)
{
	obj_close_fd(o);
	if (o->blob >= 0)
		close(o->blob);
	memset(o, 0, sizeof(*o));
	o->fd = o->blob = -1;
}

static void close_all_objs(void)
{
	for (int i = 0; i < MAX_OBJS; i++)
		if (objs[i].used)
			obj_forget(&objs[i]);
}

static struct pend *pend_add(void)
{
	for (int i = 0; i < MAX_PENDING; i++)
		if (!pending[i].used) {
			memset(&pending[i], 0, sizeof(pending[i]));
			pending[i].used = 1;
			pending[i].t = now_ms();
			return &pending[i];
		}
	return NULL;
}

static struct pend *some_pending(void)
{
	int start = rnd(MAX_PENDING);

	for (int i = 0; i < MAX_PENDING; i++) {
		struct pend *p = &pending[(start + i) % MAX_PENDING];

		if (p->used)
			return p;
	}
	return NULL;
}

/*
 * Records the object of an OPEN message (anon fd, blob).  Returns NULL
 * (and closes the anon fd) when the blob cannot be opened.
 */
static struct obj *take_open(struct cachefiles_msg *m, int len)
{
	struct cachefiles_open *o = (void *)m->data;
	struct obj *ob = NULL;
	char path[PATH_MAX], name[256];
	struct stat st;
	size_t klen;

	if (len < (int)(sizeof(*m) + sizeof(*o)))
		return NULL;
	klen = o->cookie_key_size;
	if (klen == 0 || klen >= sizeof(name) ||
	    sizeof(*m) + sizeof(*o) + o->volume_key_size + klen > (size_t)len) {
		close(o->fd);
		return NULL;
	}
	memcpy(name, o->data + o->volume_key_size, klen);
	name[klen] = 0;
	/* A stale entry with the same object id (its CLOSE lost). */
	ob = obj_by_id(m->object_id);
	if (ob)
		obj_forget(ob);
	for (int i = 0; i < MAX_OBJS && !ob; i++)
		if (!objs[i].used)
			ob = &objs[i];
	if (!ob) {
		/* Full (CLOSEs lost to short reads and children): evict one. */
		ob = &objs[rnd(MAX_OBJS)];
		obj_forget(ob);
	}
	snprintf(path, sizeof(path), "%s/%s", blobdir, name);
	ob->blob = open(path, O_RDONLY | O_CLOEXEC);
	if (ob->blob < 0 || fstat(ob->blob, &st) < 0) {
		if (ob->blob >= 0)
			close(ob->blob);
		close(o->fd);
		ob->blob = -1;
		return NULL;
	}
	ob->used = 1;
	ob->id = m->object_id;
	ob->fd = o->fd;
	ob->size = st.st_size;
	return ob;
}

/* Copies the blob range [OFF, OFF + LEN), whole pages, into the anon fd. */
static int write_range(struct obj *ob, uint64_t off, uint64_t len)
{
	if (ob->fd < 0)
		return EBADF;
	return copy_pages(ob->blob, ob->fd, off, len, ob->size, 256 << 10);
}

/* --- answers ------------------------------------------------------------------- */

static void answer_open_right(uint32_t msg_id, struct obj *ob)
{
	if (ob)
		cmd("copen %u,%llu", msg_id, (unsigned long long)ob->size);
	else
		cmd("copen %u,-%d", msg_id, ENOENT);
	remember_answered(msg_id);
	fig.right++;
}

/* A wrong answer to an OPEN; returns 1 if the OPEN may still be pending. */
static int answer_open_wrong(uint32_t msg_id, struct obj *ob)
{
	static const long long sizes[] = { 0, 1, 4095, 4096, 1LL << 40, LLONG_MAX };
	unsigned long long size = ob ? ob->size : 4096;
	int e;

	fig.wrong++;
	remember_answered(msg_id);
	switch (rnd(10)) {
	case 0:		/* negative errno, in range or not */
		cmd("copen %u,-%u", msg_id, chance(80) ? 1 + rnd(4095) : 4096 + rnd(100000));
		return 0;
	case 1:		/* a wrong size */
		cmd("copen %u,%lld", msg_id, chance(50) ? sizes[rnd(6)] :
		    (long long)(size / (1 + rnd(4)) + rnd(3) * (size + rnd(65536))));
		return 0;
	case 2:		/* garbage size */
		cmd("copen %u,%s", msg_id, (const char *[]){ "abc", " 4096", "4096 ", "", "0x", "-", "--1",
			"99999999999999999999999" }[rnd(8)]);
		return 0;
	case 3:		/* no comma: refused, the OPEN stays pending */
		e = cmd("copen %u", msg_id);
		if (e != EINVAL && dev >= 0)
			contract("copen without size", e, EINVAL);
		return 1;
	case 4:		/* twice */
		cmd("copen %u,%llu", msg_id, size);
		cmd("copen %u,%llu", msg_id, size);
		return 0;
	case 5:		/* the anon fd closed first */
		if (ob)
			obj_close_fd(ob);
		cmd("copen %u,%llu", msg_id, size);
		return 0;
	case 6:		/* a wrong id first, then the right answer */
		cmd("copen %u,%llu", msg_id + 1 + rnd(3), size);
		cmd("copen %u,%llu", msg_id, size);
		return 0;
	case 7:		/* a replayed id (maybe still pending) */
		cmd("copen %u,%llu", some_answered_id(), size);
		return 1;
	case 8:		/* an errno and then a size */
		cmd("copen %u,-%d", msg_id, EIO);
		cmd("copen %u,%llu", msg_id, size);
		return 0;
	default:	/* a size after a garbage write to the fd */
		if (ob && ob->fd >= 0) {
			char junk[512];

			memset(junk, 0x5a, sizeof(junk));
			if (pwrite(ob->fd, junk, sizeof(junk), rnd(8) * PAGE) < 0)
				fig.anon_writes++;
		}
		cmd("copen %u,%llu", msg_id, size);
		return 0;
	}
}

static void answer_read_right(struct pend *p, struct obj *ob)
{
	write_range(ob, p->off, p->len);
	cread(ob->fd, p->msg_id);
	remember_answered(p->msg_id);
	fig.right++;
}

/* A wrong answer to a READ; returns 1 if the READ may still be pending. */
static int answer_read_wrong(struct pend *p, struct obj *ob)
{
	struct obj *other;
	static char junk[65536] __attribute__((aligned(4096)));
	uint64_t half;

	fig.wrong++;
	remember_answered(p->msg_id);
	switch (rnd(9)) {
	case 0:		/* READ_COMPLETE without data */
		cread(ob->fd, p->msg_id);
		return 0;
	case 1:		/* half the data */
		half = (p->len / 2) & ~(PAGE - 1);
		if (half)
			write_range(ob, p->off, half);
		cread(ob->fd, p->msg_id);
		return 0;
	case 2:		/* garbage data in the range */
		memset(junk, rnd(256), sizeof(junk));
		if (pwrite(ob->fd, junk, p->len < sizeof(junk) ? (p->len + PAGE - 1) & ~(PAGE - 1) :
			   sizeof(junk), p->off & ~(PAGE - 1)) >= 0)
			fig.anon_writes++;
		cread(ob->fd, p->msg_id);
		return 0;
	case 3:		/* on another object's anon fd: refused */
		other = some_obj_with_fd();
		if (other && other != ob && other->id != ob->id) {
			int e = cread(other->fd, p->msg_id);

			if (e != EINVAL)
				contract("READ_COMPLETE on another object's fd", e, EINVAL);
		}
		return 1;
	case 4:		/* twice */
		answer_read_right(p, ob);
		cread(ob->fd, p->msg_id);
		return 0;
	case 5:		/* a wrong id on the right fd, then nothing */
		cread(ob->fd, p->msg_id + 1 + rnd(5));
		return 1;
	case 6:		/* the data of another range */
		write_range(ob, p->off + p->len, p->len);
		cread(ob->fd, p->msg_id);
		return 0;
	case 7:		/* the anon fd closed instead of an answer */
		obj_close_fd(ob);
		return 0;
	default:	/* READ_COMPLETE first, data afterwards */
		cread(ob->fd, p->msg_id);
		write_range(ob, p->off, p->len);
		return 0;
	}
}

/* Answers pending request P right (RIGHT) or wrong; frees its slot unless
 * the wrong answer left it pending. */
static void answer_pending(struct pend *p, int right)
{
	struct obj *ob = obj_by_id(p->object_id);
	int keep = 0;

	if (p->opcode == CACHEFILES_OP_OPEN) {
		if (right)
			answer_open_right(p->msg_id, ob);
		else
			keep = answer_open_wrong(p->msg_id, ob);
	} else if (p->opcode == CACHEFILES_OP_READ) {
		if (!ob || ob->fd < 0) {
			/* No fd to complete it with: only restore brings it back. */
			fig.dropped++;
		} else if (right) {
			answer_read_right(p, ob);
		} else {
			keep = answer_read_wrong(p, ob);
		}
	}
	p->used = keep;
	/* A kept OPEN gets a right answer at its deadline at the latest. */
	if (keep && p->opcode == CACHEFILES_OP_OPEN && now_ms() - p->t > OPEN_DEADLINE_MS) {
		answer_open_right(p->msg_id, ob);
		p->used = 0;
	}
}

/* --- reading the devnode ------------------------------------------------------- */

/* Whether a devnode read failing with E is within the contract: EMSGSIZE
 * (short buffer), or an OPEN whose delivery failed (no fd, EEXIST for an
 * object whose fd is open, ENOMEM...). */
static int read_errno_ok(int e)
{
	return e == EMSGSIZE || e == EEXIST || e == ENOMEM || e == EMFILE ||
	       e == ENFILE || e == EIO || e == EBADFD || e == EINVAL;
}

/*
 * Reads one message and answers it (RIGHT: only right answers, now).
 * Returns 1 if there was one.
 */
static int handle_msg_len(int right, size_t buflen)
{
	char buf[CACHEFILES_MSG_MAX_SIZE];
	struct cachefiles_msg *m = (void *)buf;
	struct cachefiles_read *rd = (void *)m->data;
	struct obj *ob;
	struct pend *p;
	ssize_t n;
	int d;

	if (dev < 0)
		return 0;
	n = read(dev, buf, buflen);
	if (n < 0) {
		if (errno == EMSGSIZE && buflen < sizeof(buf))
			fig.emsgsize++;
		else if (!read_errno_ok(errno))
			contract("devnode read", errno, EMSGSIZE);
		return 0;
	}
	if (n == 0)
		return 0;
	if (n > (ssize_t)buflen || n < (ssize_t)sizeof(*m) || m->len != n) {
		contract("devnode read length", (int)n, (int)sizeof(*m));
		return 0;
	}
	fig.msgs++;
	/* 0-59: right now, 60-79: wrong now, 80-96: later, 97-99: never. */
	d = right ? 0 : rnd(100);
	switch (m->opcode) {
	case CACHEFILES_OP_OPEN:
		fig.opens++;
		ob = take_open(m, n);
		if (d < 60) {
			answer_open_right(m->msg_id, ob);
		} else if (d < 80) {
			if (answer_open_wrong(m->msg_id, ob) && (p = pend_add())) {
				p->msg_id = m->msg_id;
				p->opcode = m->opcode;
				p->object_id = m->object_id;
			}
		} else if (d < 97 && (p = pend_add())) {
			fig.deferred++;
			p->msg_id = m->msg_id;
			p->opcode = m->opcode;
			p->object_id = m->object_id;
		} else {
			/* Lost: only a restore (or the rescue) brings it back. */
			fig.dropped++;
		}
		break;
	case CACHEFILES_OP_READ:
		fig.reads++;
		ob = obj_by_id(m->object_id);
		if (!ob || ob->fd < 0) {
			fig.dropped++;
			break;
		}
		if (d < 60) {
			struct pend tmp = { .msg_id = m->msg_id, .off = rd->off, .len = rd->len };

			answer_read_right(&tmp, ob);
		} else if (d < 97 && (p = pend_add())) {
			p->msg_id = m->msg_id;
			p->opcode = m->opcode;
			p->object_id = m->object_id;
			p->off = rd->off;
			p->len = rd->len;
			if (d < 80)
				answer_pending(p, 0);
			else
				fig.deferred++;
		} else {
			fig.dropped++;
		}
		break;
	case CACHEFILES_OP_CLOSE:
		fig.closes++;
		ob = obj_by_id(m->object_id);
		if (ob && (right || chance(90)))
			obj_forget(ob);
		break;
	default:
		contract("unknown opcode", m->opcode, 0);
	}
	return 1;
}

static int handle_msg(int right)
{
	return handle_msg_len(right, CACHEFILES_MSG_MAX_SIZE);
}

/* Answers every pending request right, oldest deadline first. */
static void answer_all_pending(void)
{
	for (int i = 0; i < MAX_PENDING; i++)
		if (pending[i].used)
			answer_pending(&pending[i], 1);
}

/* OPENs pending past their deadline get an answer (mostly right). */
static void open_deadlines(void)
{
	long long t = now_ms();

	for (int i = 0; i < MAX_PENDING; i++) {
		struct pend *p = &pending[i];

		if (p->used && p->opcode == CACHEFILES_OP_OPEN && t - p->t > OPEN_DEADLINE_MS)
			answer_pending(p, chance(70));
		else if (p->used && p->opcode == CACHEFILES_OP_READ && t - p->t > 5000 && chance(50))
			answer_pending(p, 1);
	}
}

static void forget_pending(void)
{
	memset(pending, 0, sizeof(pending));
}

/* --- children: mounts, umounts, readers ----------------------------------------- */

/* In a child: no devnode, no anon fd (they must die with the fuzzer's). */
static void child_fds(void)
{
	close_range(3, ~0U, 0);
}

enum slot_state { EMPTY, MOUNTING, MOUNTED, UMOUNTING };

struct slot {
	enum slot_state st;
	pid_t pid;		/* mount / umount child */
	long long t0;
	pid_t reader;
	long long reader_until;	/* when to kill it */
	long long killed_at;	/* 0, or when SIGKILL was sent */
	char mnt[PATH_MAX];
	unsigned long umount_tries, umount_busy;	/* this mount's */
};
static struct slot slots[MAX_SLOTS];
static int nslots = 4;
static unsigned long name_gen;

/* The other children: devnode users (fork op). */
static pid_t kids[MAX_KIDS];

static pid_t spawn_mount(struct slot *s)
{
	char opts[300], name[64], from[PATH_MAX], to[PATH_MAX];
	pid_t pid;

	/*
	 * A pool of names, each always for the same image: a name comes back
	 * (its cache file, maybe with garbage in it, looked up again) only
	 * NAMES mounts later, long after its volume was relinquished (a new
	 * volume colliding with one still held waits uninterruptibly).
	 */
	snprintf(name, sizeof(name), "fz%lu", name_gen % NAMES);
	snprintf(from, sizeof(from), "%s/img%lu", blobdir, name_gen % NAMES % nimages);
	snprintf(to, sizeof(to), "%s/%s", blobdir, name);
	name_gen++;
	if (link(from, to) < 0 && errno != EEXIST)
		return -1;
	snprintf(opts, sizeof(opts), "fsid=%s", name);
	pid = fork();
	if (pid == 0) {
		child_fds();
		_exit(mount("none", s->mnt, "erofs", 0, opts) ? errno : 0);
	}
	return pid;
}

static pid_t spawn_umount(struct slot *s)
{
	pid_t pid = fork();

	if (pid == 0) {
		child_fds();
		_exit(umount(s->mnt) ? errno : 0);
	}
	return pid;
}

/* The reader's file list, built once in the child. */
static char **files;
static int nfiles;

static int add_file(const char *path, const struct stat *st, int type, struct FTW *f)
{
	(void)st;
	(void)f;
	if (type == FTW_F) {
		char **n = realloc(files, (nfiles + 1) * sizeof(*files));

		if (!n)
			return 1;
		files = n;
		files[nfiles++] = strdup(path);
	}
	return 0;
}

/* A reader: reads the mount's files, whole or at random places, forever. */
static pid_t spawn_reader(struct slot *s)
{
	uint64_t seed = rnd64() | 1;
	pid_t pid = fork();

	if (pid == 0) {
		static char buf[65536];

		child_fds();
		rng_state = seed;
		if (nftw(s->mnt, add_file, 16, FTW_PHYS) || !nfiles) {
			__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
			pause();
		}
		for (;;) {
			int fd = open(files[rnd(nfiles)], O_RDONLY);
			ssize_t r = 0;

			if (fd < 0) {
				__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
				usleep(10000);
				continue;
			}
			if (chance(50)) {
				while ((r = read(fd, buf, sizeof(buf))) > 0)
					__atomic_add_fetch(&sh->bytes, r, __ATOMIC_RELAXED);
			} else {
				r = pread(fd, buf, 1 + rnd(sizeof(buf)), rnd(1 << 18));
				if (r > 0)
					__atomic_add_fetch(&sh->bytes, r, __ATOMIC_RELAXED);
			}
			__atomic_add_fetch(r < 0 ? &sh->errors : &sh->reads, 1, __ATOMIC_RELAXED);
			/* Now and then through the cache again; never a busy loop
			 * on the page cache (two vCPUs for everything). */
			if (chance(30))
				posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
			close(fd);
			usleep(r < 0 ? 20000 : 5000);
		}
	}
	return pid;
}

static int stuck_fail;

/* Exit code of PID if it is done (-1 if it still runs). */
static int reaped(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, WNOHANG) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* One step of slot S's life: mount, read, kill the reader, umount. */
static void slot_step(struct slot *s, int may_start)
{
	long long t = now_ms();
	int code;

	switch (s->st) {
	case EMPTY:
		if (!may_start)
			break;
		s->pid = spawn_mount(s);
		if (s->pid > 0) {
			s->umount_tries = s->umount_busy = 0;
			s->st = MOUNTING;
			s->t0 = t;
		}
		break;
	case MOUNTING:
		code = reaped(s->pid);
		if (code < 0)
			break;
		if (code == 0) {
			fig.mounts++;
			s->st = MOUNTED;
			s->reader = spawn_reader(s);
			if (s->reader < 0)
				s->reader = 0;
			s->reader_until = t + 200 + rnd(3000);
			s->killed_at = 0;
		} else {
			fig.mount_fail++;
			s->st = EMPTY;
		}
		break;
	case MOUNTED:
		if (s->reader > 0 && !s->killed_at && t >= s->reader_until) {
			kill(s->reader, SIGKILL);
			s->killed_at = t;
			fig.kills++;
		}
		if (s->reader > 0 && s->killed_at) {
			if (reaped(s->reader) >= 0) {
				long long ms = t - s->killed_at;

				if (ms > fig.max_kill_ms)
					fig.max_kill_ms = ms;
				s->reader = 0;
			} else if (t - s->killed_at > kill_limit_ms) {
				comment("a reader (pid %d) still alive %lld ms after SIGKILL", s->reader,
					t - s->killed_at);
				fig.max_kill_ms = t - s->killed_at;
				stuck_fail++;
				s->killed_at = t;	/* report again later */
			}
		}
		if (s->reader == 0) {
			s->pid = spawn_umount(s);
			if (s->pid > 0) {
				s->umount_tries++;
				s->st = UMOUNTING;
				s->t0 = t;
			}
		}
		break;
	case UMOUNTING:
		code = reaped(s->pid);
		if (code < 0)
			break;
		if (code == 0) {
			fig.umounts++;
			s->st = EMPTY;
		} else if (code == EINVAL) {
			/* Not mounted (any more). */
			s->st = EMPTY;
		} else {
			/* Busy (or worse): try again. */
			s->umount_busy++;
			s->st = MOUNTED;
		}
		break;
	}
}

/* The longest a mount or umount child has been waiting (ms). */
static long long oldest_child(void)
{
	long long t = now_ms(), max = 0;

	for (int i = 0; i < nslots; i++)
		if ((slots[i].st == MOUNTING || slots[i].st == UMOUNTING) && t - slots[i].t0 > max)
			max = t - slots[i].t0;
	return max;
}

static void reap_kids(void)
{
	for (int i = 0; i < MAX_KIDS; i++)
		if (kids[i] > 0 && reaped(kids[i]) >= 0)
			kids[i] = 0;
}

/* --- the devnode's other uses -------------------------------------------------- */

static void devnode_close(void)
{
	if (dev < 0)
		return;
	fig.devcloses++;
	close(dev);
	dev = -1;
	for (int i = 0; i < MAX_DUPS; i++)
		if (dups[i] >= 0) {
			close(dups[i]);
			dups[i] = -1;
		}
	forget_pending();
	/* Some anon fds outlive the devnode for a while. */
	for (int i = 0; i < MAX_OBJS; i++)
		if (objs[i].used && chance(70))
			obj_forget(&objs[i]);
}

/* Bind again; the devnode stays busy while anon fds are open (EBUSY). */
static void rebind(void)
{
	int e;

	reap_kids();
	e = bind_cache();
	if (e == EBUSY)
		close_all_objs();
	else if (e)
		fig.bind_fail++;
}

/* A forked child that uses the devnode a little, then exits. */
static void fork_user(void)
{
	uint64_t seed = rnd64();
	int slot = -1;
	pid_t pid;

	for (int i = 0; i < MAX_KIDS && slot < 0; i++)
		if (kids[i] <= 0)
			slot = i;
	if (slot < 0 || dev < 0)
		return;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		char buf[CACHEFILES_MSG_MAX_SIZE];

		rng_state = seed;
		for (int i = 0; i < 1 + (int)rnd(4); i++) {
			switch (rnd(4)) {
			case 0:	/* takes a request (an OPEN's fd dies with us) */
				if (read(dev, buf, sizeof(buf)) < 0)
					(void)0;
				break;
			case 1:
				cmd_on(dev, "restore");
				break;
			case 2:
				cmd_on(dev, "copen %u,4096", some_answered_id());
				break;
			default:
				if (read(dev, buf, 8) < 0)
					(void)0;
			}
		}
		_exit(0);
	}
	if (pid > 0) {
		kids[slot] = pid;
		fig.forks++;
	}
}

/* A random name in a random directory of the cache, for cull/inuse: cwd
 * in DIR, the name in NAME.  Returns 0 if found. */
static int pick_cache_entry(char *dir, size_t dlen, char *name, size_t nlen)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int depth = chance(80) ? 2 : 1, n;

	snprintf(path, sizeof(path), "%s/cache", cachedir);
	for (int level = 0; level < depth; level++) {
		char pick[256] = "";

		d = opendir(path);
		if (!d)
			return -1;
		n = 0;
		while ((de = readdir(d)))
			if (de->d_name[0] != '.' && de->d_type == DT_DIR && rnd(++n) == 0)
				snprintf(pick, sizeof(pick), "%s", de->d_name);
		closedir(d);
		if (!pick[0])
			return -1;
		strncat(path, "/", sizeof(path) - strlen(path) - 1);
		strncat(path, pick, sizeof(path) - strlen(path) - 1);
	}
	d = opendir(path);
	if (!d)
		return -1;
	n = 0;
	name[0] = 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && rnd(++n) == 0)
			snprintf(name, nlen, "%s", de->d_name);
	closedir(d);
	if (!name[0])
		snprintf(name, nlen, "Dnothing%u", rnd(100));
	snprintf(dir, dlen, "%s", path);
	return 0;
}

static void cull_or_inuse(void)
{
	char dir[PATH_MAX], name[256];
	long long t;

	if (pick_cache_entry(dir, sizeof(dir), name, sizeof(name)) || chdir(dir) < 0)
		return;
	fig.culls++;
	t = now_ms();
	cmd("%s %s", chance(50) ? "inuse" : "cull", name);
	fig.cull_ms += now_ms() - t;
	if (chdir("/") < 0)
		comment("chdir /: %s", ename(errno));
}

/* Unknown, malformed or untimely commands. */
static void junk_cmd(void)
{
	static const char *const unknown[] = { "frobnicate", "copen2 1,1", "READ", "bind2", "x" };
	static const char *const untimely[] = {
		"bind ondemand", "dir /", "tag other", "secctx x", "brun 5%", "bcull 3%",
		"bstop 1%", "frun 7%", "fcull 5%", "fstop 1%", "debug 7", "cull ../x", "inuse a/b",
		"cull", "inuse", "restore x", "copen", "copen ,", "copen 1,2,3", "brun 200%",
		"debug x", "dir", "tag",
	};
	char buf[300];
	int e, fd = cmd_fd(), len;

	if (fd < 0)
		return;
	fig.junk++;
	switch (rnd(4)) {
	case 0:
		e = cmd_on(fd, "%s", unknown[rnd(5)]);
		if (e != EOPNOTSUPP)
			contract("unknown command", e, EOPNOTSUPP);
		break;
	case 1:
		cmd_on(fd, "%s", untimely[rnd(sizeof(untimely) / sizeof(*untimely))]);
		break;
	case 2:		/* random bytes, random length (also 0 and > PAGE) */
		len = rnd(sizeof(buf));
		for (int i = 0; i < len; i++)
			buf[i] = rnd(256);
		if (write(fd, buf, len) < 0)
			(void)0;
		break;
	default: {
		static char big[PAGE + 16];

		memset(big, 'a', sizeof(big));
		if (write(fd, big, chance(50) ? PAGE : sizeof(big)) < 0)
			(void)0;
	}
	}
}

/* Garbage writes and other calls on an anon fd. */
static void anon_abuse(void)
{
	static char junk[65536 + PAGE] __attribute__((aligned(4096)));
	static const long long offs[] = { 0, 1, 511, 4095, 4097, -4096, 1LL << 40, (1LL << 62),
					  LLONG_MAX & ~4095LL };
	struct obj *ob = some_obj_with_fd();
	long long off;
	size_t len;

	if (!ob)
		return;
	fig.anon_writes++;
	switch (rnd(6)) {
	case 0: case 1: case 2:		/* pwrite somewhere odd */
		off = chance(50) ? offs[rnd(9)] : (long long)(rnd(1 << 20) * (chance(50) ? PAGE : 1));
		len = chance(30) ? rnd(17) : (chance(50) ? PAGE * (1 + rnd(16)) : rnd(65536));
		memset(junk, rnd(256), len);
		if (pwrite(ob->fd, junk + (chance(20) ? 1 : 0), len, off) < 0)
			(void)0;
		break;
	case 3:		/* write() at the fd's position, lseek first */
		if (lseek(ob->fd, chance(50) ? rnd(1 << 20) : 0, (int[]){ SEEK_SET, SEEK_DATA, SEEK_HOLE,
			  SEEK_END, SEEK_CUR }[rnd(5)]) < 0)
			(void)0;
		if (write(ob->fd, junk, PAGE) < 0)
			(void)0;
		break;
	case 4:		/* read (write-only fd), unknown ioctls */
		if (read(ob->fd, junk, 16) >= 0)
			contract("read of an anon fd", 0, EBADF);
		if (ioctl(ob->fd, _IOW(0x98, 1 + rnd(3), int), rnd(100)) < 0)
			(void)0;
		if (ioctl(ob->fd, rnd(0x10000), 0) < 0)
			(void)0;
		break;
	default: {	/* READ_COMPLETE with an id never issued */
		int e = cread(ob->fd, FAR_ID + rnd(1000));

		if (e != EINVAL)
			contract("READ_COMPLETE, id never issued", e, EINVAL);
	}
	}
}

static void bogus_copen(void)
{
	int e;

	switch (rnd(3)) {
	case 0:
		e = cmd("copen %u,%u", FAR_ID + rnd(1000), rnd(1 << 20));
		if (e != EINVAL && dev >= 0)
			contract("copen, id never issued", e, EINVAL);
		break;
	case 1:
		cmd("copen %u,%u", some_answered_id(), rnd(1 << 20));
		break;
	default:
		cmd("copen %u,-%u", some_answered_id(), rnd(200));
	}
}

static void bogus_cread(void)
{
	struct obj *ob = some_obj_with_fd();

	if (ob)
		cread(ob->fd, chance(50) ? some_answered_id() : rnd(1000));
}

/* A devnode read with a short buffer (0 .. 63 bytes: EMSGSIZE, unless the
 * message fits, as a CLOSE or an OPEN with short keys do). */
static void short_read(void)
{
	fig.short_reads++;
	handle_msg_len(0, rnd(64));
}

static void dup_op(void)
{
	int i = rnd(MAX_DUPS);

	if (dups[i] >= 0) {
		close(dups[i]);
		dups[i] = -1;
	} else if (dev >= 0) {
		dups[i] = fcntl(dev, F_DUPFD_CLOEXEC, 3);
		fig.dups++;
	}
}

/* --- the final check: a fresh mount through a correct daemon ------------------------ */

static int cmp_tree(const char *a, const char *b);

static int cmp_file(const char *a, const char *b)
{
	static char ba[65536], bb[65536];
	int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY), ret = 0;
	ssize_t na, nb;

	if (fa < 0 || fb < 0) {
		ret = errno;
		goto out;
	}
	do {
		na = read(fa, ba, sizeof(ba));
		nb = read(fb, bb, sizeof(bb));
		if (na < 0 || nb < 0) {
			ret = errno;
			break;
		}
		if (na != nb || memcmp(ba, bb, na)) {
			ret = EILSEQ;
			break;
		}
	} while (na > 0);
out:
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	return ret;
}

static int cmp_tree(const char *a, const char *b)
{
	char pa[PATH_MAX], pb[PATH_MAX];
	struct dirent *de;
	struct stat st;
	int ret = 0, entries = 0;
	DIR *d = opendir(a);

	if (!d)
		return errno;
	while (!ret && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		entries++;
		snprintf(pa, sizeof(pa), "%s/%s", a, de->d_name);
		snprintf(pb, sizeof(pb), "%s/%s", b, de->d_name);
		if (lstat(pa, &st) < 0)
			ret = errno;
		else if (S_ISDIR(st.st_mode))
			ret = cmp_tree(pa, pb);
		else if (S_ISREG(st.st_mode))
			ret = cmp_file(pa, pb);
	}
	closedir(d);
	/* The same number of entries on both sides. */
	d = opendir(b);
	if (!d)
		return ret ? ret : errno;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			entries--;
	closedir(d);
	return ret ? ret : (entries ? EILSEQ : 0);
}

/* Runs child PID while answering every request right; its exit code, or
 * -1 if it did not finish within MS. */
static int serve_child(pid_t pid, int ms)
{
	long long end = now_ms() + ms;
	int code;

	while ((code = reaped(pid)) < 0) {
		if (now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return -1;
		}
		if (!handle_msg(1))
			usleep(2000);
	}
	return code;
}

static void final_check(void)
{
	struct slot s = { 0 };
	char from[PATH_MAX], to[PATH_MAX], src[PATH_MAX], opts[300];
	int e = EBUSY, code;
	pid_t pid;

	/* The devnode frees once the last anon fd and holder are gone. */
	for (int i = 0; i < 100 && e; i++) {
		reap_kids();
		e = bind_cache();
		if (e)
			usleep(100000);
	}
	result("final.rebind", e == 0, "bind: %s", ename(e));
	if (e)
		return;
	snprintf(from, sizeof(from), "%s/img0", blobdir);
	snprintf(to, sizeof(to), "%s/final", blobdir);
	if (link(from, to) < 0)
		comment("link %s: %s", to, ename(errno));
	snprintf(s.mnt, sizeof(s.mnt), "%s/final", mntdir);
	mkdir(s.mnt, 0755);
	snprintf(opts, sizeof(opts), "fsid=final");
	pid = fork();
	if (pid == 0) {
		child_fds();
		_exit(mount("none", s.mnt, "erofs", 0, opts) ? errno : 0);
	}
	code = serve_child(pid, 60000);
	result("final.mount", code == 0, "mount: %s", code < 0 ? "timeout" : ename(code));
	if (code)
		return;
	snprintf(src, sizeof(src), "%s/0", srcdir);
	pid = fork();
	if (pid == 0) {
		child_fds();
		_exit(cmp_tree(src, s.mnt));
	}
	code = serve_child(pid, 120000);
	result("final.fresh_image_reads_right", code == 0, "compare: %s",
	       code < 0 ? "timeout" : ename(code));
	code = serve_child(spawn_umount(&s), 60000);
	result("final.umount", code == 0, "umount: %s", code < 0 ? "timeout" : ename(code));
	/* Its CLOSE. */
	for (int i = 0; i < 20; i++)
		if (!handle_msg(1))
			usleep(10000);
}

/* --- main loop -------------------------------------------------------------------- */

static void rescue(void)
{
	static long long last_restore;
	long long t = now_ms();

	if (dev < 0) {
		rebind();
		return;
	}
	if (t - last_restore > 300) {
		cmd_on(dev, "restore");
		fig.restores++;
		last_restore = t;
	}
	answer_all_pending();
	while (handle_msg(1))
		;
}

/* Where the time goes, per kind of operation. */
enum cat { C_MSG, C_PENDING, C_COPEN, C_CREAD, C_ANON, C_CLOSE, C_RESTORE, C_JUNK, C_CULL,
	   C_SHORT, C_DUP, C_FORK, C_DEVCLOSE, C_SLOT, C_POLL, C_REBIND, C_RESCUE, NCAT };
static const char *const cat_name[NCAT] = {
	"msg", "pending", "copen", "cread", "anon", "close", "restore", "junk", "cull",
	"short", "dup", "fork", "devclose", "slot", "poll", "rebind", "rescue",
};
static long long cat_us[NCAT];
static unsigned long cat_n[NCAT];

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* One operation chosen by W (0 .. 9999); returns its kind. */
static enum cat one_op(int w)
{
	/*
	 * No devnode: mostly try to bind again.  The old cache's teardown
	 * (EBUSY until its last anon fd is gone and the cache withdrawn)
	 * takes wall time, not operations: wait a little after each EBUSY
	 * instead of spending thousands of no-op operations on it, which
	 * left few for mounts and reads (a run of C cachefiles once had
	 * none that read).  Slots go on (readers die, umounts finish); a few
	 * new mounts still meet no cache, most wait for the next bind.
	 */
	if (dev < 0) {
		if (w < 1000) {
			slot_step(&slots[rnd(nslots)], w < 100);
			return C_SLOT;
		}
		rebind();
		if (dev < 0)
			usleep(2000);
		return C_REBIND;
	}
	if (w < 3000) {
		if (!handle_msg(0))
			slot_step(&slots[rnd(nslots)], 1);
		return C_MSG;
	}
	if (w < 4500) {
		struct pend *p = some_pending();

		if (p)
			answer_pending(p, chance(60));
		return C_PENDING;
	}
	if (w < 5200) {
		bogus_copen();
		return C_COPEN;
	}
	if (w < 5800) {
		bogus_cread();
		return C_CREAD;
	}
	if (w < 6700) {
		anon_abuse();
		return C_ANON;
	}
	if (w < 6900) {
		struct obj *ob = some_obj_with_fd();

		if (ob)
			obj_close_fd(ob);
		return C_CLOSE;
	}
	if (w < 7200) {
		for (int i = 0, n = 1 + rnd(5); i < n; i++) {
			cmd("restore");
			fig.restores++;
		}
		return C_RESTORE;
	}
	if (w < 7800) {
		junk_cmd();
		return C_JUNK;
	}
	if (w < 7810) {
		cull_or_inuse();
		return C_CULL;
	}
	if (w < 8340) {
		short_read();
		return C_SHORT;
	}
	if (w < 8440) {
		dup_op();
		return C_DUP;
	}
	if (w < 8470) {
		fork_user();
		return C_FORK;
	}
	if (w < 8472) {
		devnode_close();
		return C_DEVCLOSE;
	}
	if (w < 9300) {
		slot_step(&slots[rnd(nslots)], 1);
		return C_SLOT;
	}
	{
		struct pollfd p = { .fd = dev, .events = POLLIN };

		if (poll(&p, 1, 0) < 0)
			contract("poll", errno, 0);
	}
	return C_POLL;
}

static void fuzz(unsigned long ops)
{
	unsigned long rescues_started = 0;
	int rescuing = 0;

	for (fig.ops = 0; fig.ops < ops; fig.ops++) {
		int w = rnd(10000);
		long long t = now_us();
		enum cat c;

		if ((fig.ops & 15) == 0) {
			long long old = oldest_child();

			reap_kids();
			open_deadlines();
			if (old > STUCK_MS) {
				for (int i = 0; i < nslots; i++)
					if ((slots[i].st == MOUNTING || slots[i].st == UMOUNTING) &&
					    now_ms() - slots[i].t0 > STUCK_MS) {
						comment("slot %d: %s child %d blocked for %lld ms", i,
							slots[i].st == MOUNTING ? "mount" : "umount",
							slots[i].pid, now_ms() - slots[i].t0);
						stuck_fail++;
						slots[i].t0 = now_ms();
					}
			}
			if (old > RESCUE_MS && !rescuing) {
				rescuing = 1;
				rescues_started++;
				/* The child may wait for a volume our anon fds pin
				 * (see cleanup()). */
				close_all_objs();
			} else if (old <= RESCUE_MS) {
				rescuing = 0;
			}
		}
		if (rescuing) {
			rescue();
			slot_step(&slots[rnd(nslots)], 0);
			if (!(fig.ops & 7))
				usleep(1000);
			c = C_RESCUE;
		} else {
			c = one_op(w);
		}
		cat_n[c]++;
		cat_us[c] += now_us() - t;
	}
	fig.rescues = rescues_started;
}

/* The kinds of operation that took the most time, in a comment. */
static void time_report(void)
{
	char line[1024];
	int len = 0;

	for (int k = 0; k < 6; k++) {
		int best = -1;

		for (int c = 0; c < NCAT; c++)
			if (cat_n[c] && (best < 0 || cat_us[c] > cat_us[best]))
				best = c;
		if (best < 0)
			break;
		len += snprintf(line + len, sizeof(line) - len, " %s %lu ops %lld ms (%lld us/op);",
				cat_name[best], cat_n[best], cat_us[best] / 1000,
				cat_us[best] / (long long)cat_n[best]);
		cat_n[best] = 0;
	}
	comment("time by kind:%s", line);
}

/* What a child PID waits for: its wchan and kernel stack, in comments. */
static void dump_task(pid_t pid)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/wchan", pid);
	f = fopen(path, "r");
	if (f) {
		if (fgets(line, sizeof(line), f))
			comment("  pid %d wchan %s", pid, line);
		fclose(f);
	}
	snprintf(path, sizeof(path), "/proc/%d/stack", pid);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		comment("  pid %d %s", pid, line);
	}
	fclose(f);
}

/* Every slot not yet empty, with its children, in comments. */
static void dump_slots(void)
{
	static const char *const names[] = { "empty", "mounting", "mounted", "umounting" };
	long long t = now_ms();

	for (int i = 0; i < nslots; i++) {
		struct slot *s = &slots[i];

		if (s->st == EMPTY)
			continue;
		comment("slot %d %s: child %d for %lld ms, reader %d (killed %lld ms ago), "
			"umounts %lu busy %lu", i, names[s->st], s->pid, t - s->t0, s->reader,
			s->killed_at ? t - s->killed_at : -1LL, s->umount_tries, s->umount_busy);
		if (s->st == MOUNTING || s->st == UMOUNTING)
			dump_task(s->pid);
		if (s->reader > 0)
			dump_task(s->reader);
	}
}

/*
 * Kills every reader (timing it), unmounts everything while answering right.
 * The anon fds the fuzzer still holds are closed first and then every 10 s:
 * an anon fd holds its object, the object its cookie and the cookie its
 * volume, so a mount that reuses the name of an unmounted volume waits
 * (uninterruptibly, fscache_hash_volume) until the fuzzer closes that fd;
 * the main loop closes fds at random, this loop must do it itself.
 */
static void cleanup(void)
{
	long long end = now_ms() + 120000, unpin = 0;
	int busy;

	for (int i = 0; i < nslots; i++)
		if (slots[i].st == MOUNTED && slots[i].reader > 0 && !slots[i].killed_at)
			slots[i].reader_until = 0;
	do {
		busy = 0;
		if (now_ms() >= unpin) {
			close_all_objs();
			unpin = now_ms() + 10000;
		}
		if (dev < 0)
			rebind();
		rescue();
		for (int i = 0; i < nslots; i++) {
			slot_step(&slots[i], 0);
			busy |= slots[i].st != EMPTY;
		}
		reap_kids();
		if (busy)
			usleep(5000);
	} while (busy && now_ms() < end);
	result("cleanup.all_unmounted", !busy, "a slot is still busy after 120 s");
	if (busy)
		dump_slots();
	for (int i = 0; i < MAX_KIDS; i++)
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
		}
	/* Late CLOSEs. */
	for (int i = 0; i < 50; i++)
		if (!handle_msg(1))
			usleep(10000);
	close_all_objs();
	devnode_close();
}

int main(int argc, char **argv)
{
	unsigned long ops = 10000;
	uint64_t seed = 0;
	int have_seed = 0, e;
	long long t0;

	while (argc > 1 && !strncmp(argv[1], "--", 2)) {
		if (argc > 2 && !strcmp(argv[1], "--seed")) {
			seed = strtoull(argv[2], NULL, 0);
			have_seed = 1;
		} else if (argc > 2 && !strcmp(argv[1], "--ops")) {
			ops = strtoul(argv[2], NULL, 0);
		} else if (argc > 2 && !strcmp(argv[1], "--slots")) {
			nslots = atoi(argv[2]);
		} else if (argc > 2 && !strcmp(argv[1], "--kill-limit-ms")) {
			kill_limit_ms = atoi(argv[2]);
		} else {
			break;
		}
		argc -= 2;
		argv += 2;
	}
	if (argc != 6 || nslots < 1 || nslots > MAX_SLOTS) {
		fprintf(stderr, "usage: ondemand_fuzz [--seed S] [--ops N] [--slots K] [--kill-limit-ms MS] "
			"CACHEDIR BLOBDIR MNTDIR SRCDIR NIMAGES\n");
		return 2;
	}
	cachedir = argv[1];
	blobdir = argv[2];
	mntdir = argv[3];
	srcdir = argv[4];
	nimages = atoi(argv[5]);
	if (nimages < 1)
		return 2;
	if (!have_seed)
		seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	rng_state = seed ? seed : 1;
	comment("seed %llu, %lu ops, %d mount slots (rerun: --seed %llu --ops %lu)",
		(unsigned long long)seed, ops, nslots, (unsigned long long)seed, ops);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < MAX_OBJS; i++)
		objs[i].fd = objs[i].blob = -1;
	for (int i = 0; i < nslots; i++) {
		snprintf(slots[i].mnt, sizeof(slots[i].mnt), "%s/s%d", mntdir, i);
		mkdir(slots[i].mnt, 0755);
	}
	e = bind_cache();
	result("bind", e == 0, "bind: %s", ename(e));
	if (e)
		return 1;
	t0 = now_ms();
	fuzz(ops);
	t0 = now_ms() - t0;
	comment("fuzzing took %lld ms: %llu ops/s", t0, t0 ? (unsigned long long)fig.ops * 1000 / t0 : 0);
	time_report();
	cleanup();
	fig.read_errors = sh->errors;
	result("ops_done", fig.ops == ops, "%lu of %lu", fig.ops, ops);
	result("readers_killable", stuck_fail == 0 && fig.max_kill_ms <= kill_limit_ms,
	       "slowest reader death %lld ms after SIGKILL, %d blocked children", fig.max_kill_ms,
	       stuck_fail);
	result("errno_contract", fig.contract == 0, "%lu broken", fig.contract);
	result("something_was_read", sh->reads > 0 && fig.mounts > 0, "%lu reads, %lu mounts",
	       sh->reads, fig.mounts);
	final_check();
	comment("messages %lu (OPEN %lu READ %lu CLOSE %lu), answers right %lu wrong %lu, "
		"deferred %lu, dropped %lu", fig.msgs, fig.opens, fig.reads, fig.closes, fig.right,
		fig.wrong, fig.deferred, fig.dropped);
	comment("restores %lu, junk commands %lu, cull/inuse %lu (%lld ms in the kernel), short reads %lu (EMSGSIZE %lu), "
		"anon fd abuses %lu, anon fds closed %lu", fig.restores, fig.junk, fig.culls,
		fig.cull_ms, fig.short_reads, fig.emsgsize, fig.anon_writes, fig.anon_closes);
	comment("dups %lu, forks %lu, devnode closes %lu, binds %lu (failed %lu), rescues %lu",
		fig.dups, fig.forks, fig.devcloses, fig.binds, fig.bind_fail, fig.rescues);
	comment("mounts %lu (failed %lu), umounts %lu, reader kills %lu (slowest %lld ms), "
		"reader reads %lu (%lu KiB), reader errors %lu", fig.mounts, fig.mount_fail,
		fig.umounts, fig.kills, fig.max_kill_ms, sh->reads, sh->bytes >> 10, sh->errors);
	printf("# fuzz: ops %lu seed %llu time_ms %lld ops_per_s %llu restores %lu wrong_answers %lu "
	       "reader_errors %lu mounts %lu kills %lu contract %lu\n", fig.ops,
	       (unsigned long long)seed, t0, t0 ? (unsigned long long)fig.ops * 1000 / t0 : 0,
	       fig.restores, fig.wrong, fig.read_errors, fig.mounts, fig.kills, fig.contract);
	return failures ? 1 : 0;
}
