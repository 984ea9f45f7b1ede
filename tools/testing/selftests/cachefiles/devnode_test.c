// SPDX-License-Identifier: GPL-2.0
/*
 * Tests of the /dev/cachefiles command interface (open/release, the write()
 * command parser and every command, read() in normal and on-demand mode,
 * poll(), module unload/load).
 *
 * The expectations are those of the Linux 6.12 C implementation in
 * fs/cachefiles/ (daemon.c, cache.c, namei.c, security.c, ondemand.c) and
 * fs/netfs/fscache_cache.c; the same binary is run against the C module and
 * against cachefiles_rs.
 *
 * Environment (set by scripts/vm-run):
 *   CFRS_SCRATCH      writable directory on a fresh ext4 filesystem
 *   CFRS_MODULE_NAME  name of the loaded module (cachefiles | cachefiles_rs)
 *   CFRS_MODULE_KO    path of the .ko, used to reload the module
 *
 * Tests must run as root, one at a time (the devnode is exclusive).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <linux/cachefiles.h>
#include <linux/capability.h>
#include <linux/loop.h>

/*
 * The harness macros (TEST(), the timeout handler) have parameters that are
 * unused in some expansions; -Wextra would flag every test.
 */
#pragma GCC diagnostic ignored "-Wunused-parameter"
/* ... and its TEST_F() wrapper keeps a local across setjmp()/longjmp() */
#pragma GCC diagnostic ignored "-Wclobbered"
#include "kselftest_harness.h"

#define DEVNODE		"/dev/cachefiles"
#define PROC_CACHES	"/proc/fs/fscache/caches"
#define MISC_MAJOR_NR	10

/* ------------------------------------------------------------------------
 * Small helpers (no harness macros here: some run in forked children)
 */

static int cf_open(void)
{
	int fd = open(DEVNODE, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* write() raw bytes; returns the write() result or -errno */
static ssize_t cmd_raw(int fd, const void *buf, size_t len)
{
	ssize_t n = write(fd, buf, len);

	return n < 0 ? -errno : n;
}

/*
 * Send a command string.  0 if the whole string was accepted (write()
 * returned exactly strlen), -errno on failure, -100000 on a short/odd count.
 */
static int cmd(int fd, const char *s)
{
	size_t len = strlen(s);
	ssize_t n = write(fd, s, len);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -100000;
}

static int __attribute__((format(printf, 2, 3))) cmdf(int fd, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(buf))
		return -100001;
	return cmd(fd, buf);
}

/* read() that returns the count or -errno; NUL-terminates on success */
static ssize_t cf_read(int fd, char *buf, size_t len)
{
	ssize_t n = read(fd, buf, len);

	if (n < 0)
		return -errno;
	if ((size_t)n < len)
		buf[n] = '\0';
	return n;
}

/* poll() with a zero timeout; returns revents or -errno */
static int poll_now(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };
	int r = poll(&p, 1, 0);

	if (r < 0)
		return -errno;
	return p.revents;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP || flag == FTW_D)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static void rm_rf(const char *path)
{
	nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static int touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return -errno;
	if (write(fd, "data", 4) != 4) {
		close(fd);
		return -EIO;
	}
	close(fd);
	return 0;
}

static int count_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* the single entry of a directory (fails unless exactly one) */
static int only_entry(const char *path, char *name, size_t len)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n++ == 0)
			snprintf(name, len, "%s", de->d_name);
	}
	closedir(d);
	return n == 1 ? 0 : -ENOENT;
}

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t off = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	while (off + 1 < len && (n = read(fd, buf + off, len - 1 - off)) > 0)
		off += n;
	buf[off] = '\0';
	close(fd);
	return (int)off;
}

/* One line of /proc/fs/fscache/caches (fscache_caches_seq_show()) */
struct cache_line {
	unsigned int debug_id;
	int ref, vols, objs, acc;
	char state;
	char name[512];
};

/* 1 if a cache named @tag is listed, 0 if not, -errno on failure */
static int proc_cache(const char *tag, struct cache_line *out)
{
	static char buf[65536];
	char *line, *save = NULL;
	int nline = 0;
	int r = read_file(PROC_CACHES, buf, sizeof(buf));

	if (r < 0)
		return r;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct cache_line c;
		int n = 0;

		if (nline++ < 2)	/* the two header lines */
			continue;
		if (sscanf(line, "%x %d %d %d %d %c%n", &c.debug_id, &c.ref, &c.vols,
			   &c.objs, &c.acc, &c.state, &n) != 6 || line[n] != ' ')
			return -EBADMSG;
		snprintf(c.name, sizeof(c.name), "%s", line + n + 1);
		if (!strcmp(c.name, tag)) {
			if (out)
				*out = c;
			return 1;
		}
	}
	return 0;
}

/*
 * The string cachefiles_do_daemon_read() produces for a cache bound at @dir
 * with the given percentages (cache.c computes f_files/100*pct and
 * f_blocks/100*pct at bind time).
 */
static int expected_status(char *out, size_t len, const char *dir, char cull,
			   unsigned int frun, unsigned int fcull, unsigned int fstop,
			   unsigned int brun, unsigned int bcull, unsigned int bstop)
{
	struct statfs st;
	unsigned long long f, b;

	if (statfs(dir, &st) < 0)
		return -errno;
	f = (unsigned long long)st.f_files / 100;
	b = (unsigned long long)st.f_blocks / 100;
	return snprintf(out, len,
			"cull=%c frun=%llx fcull=%llx fstop=%llx brun=%llx bcull=%llx bstop=%llx freleased=%x breleased=%llx",
			cull, f * frun, f * fcull, f * fstop, b * brun, b * bcull, b * bstop,
			0u, 0ULL);
}

/* Wait (up to @ms) for the devnode to appear (@present) or disappear */
static bool wait_devnode(bool present, int ms)
{
	for (int i = 0; i <= ms / 10; i++) {
		if (exists(DEVNODE) == present)
			return true;
		usleep(10000);
	}
	return false;
}

static const char *mod_name(void)
{
	return getenv("CFRS_MODULE_NAME");
}

static const char *mod_ko(void)
{
	return getenv("CFRS_MODULE_KO");
}

/* "Live" / "Loading" / "Unloading" state of module @name, or NULL */
static const char *mod_state(const char *name, char *buf, size_t len)
{
	char line[512];
	FILE *f = fopen("/proc/modules", "re");
	const char *ret = NULL;

	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		char n[128], st[32];
		unsigned long size;
		int refs;

		/* name size refcount deps state address */
		if (sscanf(line, "%127s %lu %d %*s %31s", n, &size, &refs, st) != 4)
			continue;
		if (!strcmp(n, name)) {
			snprintf(buf, len, "%s", st);
			ret = buf;
			break;
		}
	}
	fclose(f);
	return ret;
}

static bool mod_loaded(const char *name)
{
	char st[32];

	return mod_state(name, st, sizeof(st)) != NULL;
}

static int mod_unload(const char *name)
{
	return syscall(SYS_delete_module, name, O_NONBLOCK) ? -errno : 0;
}

static int mod_load(const char *ko)
{
	int fd = open(ko, O_RDONLY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return -errno;
	r = syscall(SYS_finit_module, fd, "", 0) ? -errno : 0;
	close(fd);
	return r;
}

/* Make sure the module under test is loaded (used by setups/teardowns) */
static void ensure_module(void)
{
	const char *name = mod_name(), *ko = mod_ko();

	if (!name || !ko || !*name || !*ko)
		return;
	if (!mod_loaded(name))
		mod_load(ko);
	wait_devnode(true, 2000);
}

static int mod_refcnt(const char *name)
{
	char path[256], buf[64];

	snprintf(path, sizeof(path), "/sys/module/%s/refcnt", name);
	if (read_file(path, buf, sizeof(buf)) <= 0)
		return -1;
	return atoi(buf);
}

static int mod_debug_param(const char *name, unsigned int *val)
{
	char path[256], buf[64];
	int r;

	snprintf(path, sizeof(path), "/sys/module/%s/parameters/debug", name);
	r = read_file(path, buf, sizeof(buf));
	if (r < 0)
		return r;
	*val = strtoul(buf, NULL, 10);
	return 0;
}

/* Run @fn in a child and return its exit status (or 255 + signal) */
static int in_child(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(fn(arg));
	if (waitpid(pid, &status, 0) != pid)
		return -errno;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 255 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* Child bodies: return errno of open(), 0 if the open succeeded */
static int child_open_errno(void *arg)
{
	int fd;

	(void)arg;
	fd = open(DEVNODE, O_RDWR);
	return fd < 0 ? errno : 0;
}

static int drop_caps(const unsigned int *caps_to_drop, int n, bool all)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -1;
	if (all) {
		memset(d, 0, sizeof(d));
	} else {
		for (int i = 0; i < n; i++) {
			d[caps_to_drop[i] / 32].effective &= ~(1u << (caps_to_drop[i] % 32));
			d[caps_to_drop[i] / 32].permitted &= ~(1u << (caps_to_drop[i] % 32));
			d[caps_to_drop[i] / 32].inheritable &= ~(1u << (caps_to_drop[i] % 32));
		}
	}
	return syscall(SYS_capset, &h, d) ? -1 : 0;
}

static int child_open_without_sys_admin(void *arg)
{
	const unsigned int cap = CAP_SYS_ADMIN;

	(void)arg;
	if (prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN, 0, 0, 0))
		return 200;
	if (drop_caps(&cap, 1, false))
		return 201;
	return child_open_errno(NULL);
}

static int child_open_no_caps(void *arg)
{
	(void)arg;
	if (drop_caps(NULL, 0, true))
		return 201;
	if (getuid() != 0)
		return 202;
	return child_open_errno(NULL);
}

static int child_open_as_nobody(void *arg)
{
	(void)arg;
	if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
	    setresuid(65534, 65534, 65534))
		return 201;
	return child_open_errno(NULL);
}

/* Create an ext4 image at @img and mount it read-only on @mnt */
static int mount_ro_ext4(const char *img, const char *mnt)
{
	struct loop_config cfg;
	char loopdev[64];
	int ctl, loop, imgfd, nr, status;
	pid_t pid;

	imgfd = open(img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (imgfd < 0)
		return -errno;
	if (ftruncate(imgfd, 16 << 20)) {
		close(imgfd);
		return -errno;
	}
	close(imgfd);

	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		dup2(null, 2);
		execlp("mkfs.ext4", "mkfs.ext4", "-q", "-F", img, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return -ENOEXEC;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return -errno;
	nr = ioctl(ctl, LOOP_CTL_GET_FREE);
	close(ctl);
	if (nr < 0)
		return -errno;
	snprintf(loopdev, sizeof(loopdev), "/dev/loop%d", nr);
	loop = open(loopdev, O_RDWR | O_CLOEXEC);
	if (loop < 0)
		return -errno;
	imgfd = open(img, O_RDONLY | O_CLOEXEC);
	if (imgfd < 0) {
		close(loop);
		return -errno;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = imgfd;
	cfg.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
	if (ioctl(loop, LOOP_CONFIGURE, &cfg)) {
		int e = errno;

		close(imgfd);
		close(loop);
		return -e;
	}
	close(imgfd);
	if (mount(loopdev, mnt, "ext4", MS_RDONLY, NULL)) {
		int e = errno;

		ioctl(loop, LOOP_CLR_FD, 0);
		close(loop);
		return -e;
	}
	close(loop);	/* autoclear on umount */
	return 0;
}

/* ------------------------------------------------------------------------
 * Fixture: a fresh directory on the scratch ext4 and an open devnode
 */

#define MAX_MOUNTS 4

FIXTURE(cf) {
	int fd;
	int nmounts;
	char dir[PATH_MAX];
	char tag[64];
	char mounts[MAX_MOUNTS][PATH_MAX];
};

FIXTURE_SETUP(cf)
{
	const char *scratch = getenv("CFRS_SCRATCH");

	self->fd = -1;
	self->nmounts = 0;
	if (!scratch || !*scratch)
		SKIP(return, "CFRS_SCRATCH is not set");
	ensure_module();
	snprintf(self->dir, sizeof(self->dir), "%s/cfrs-XXXXXX", scratch);
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->tag, sizeof(self->tag), "cfrs-tag-%d", getpid());
	self->fd = cf_open();
	ASSERT_LE(0, self->fd) {
		TH_LOG("open(%s): %s", DEVNODE, strerror(-self->fd));
	}
}

FIXTURE_TEARDOWN(cf)
{
	if (self->fd >= 0)
		close(self->fd);
	if (chdir("/")) {
		/* nothing to do: best effort */
	}
	for (int i = self->nmounts - 1; i >= 0; i--)
		umount2(self->mounts[i], MNT_DETACH);
	if (self->dir[0])
		rm_rf(self->dir);
	ensure_module();
}

/* path inside the fixture directory (static rotating buffers) */
static const char *P(FIXTURE_DATA(cf) *self, const char *fmt, ...)
{
	static char bufs[8][2 * PATH_MAX];
	static int next;
	char *b = bufs[next++ % 8];
	char rel[PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(b, 2 * PATH_MAX, "%s/%s", self->dir, rel);
	return b;
}

static int add_mount(FIXTURE_DATA(cf) *self, const char *path)
{
	if (self->nmounts >= MAX_MOUNTS)
		return -1;
	snprintf(self->mounts[self->nmounts++], PATH_MAX, "%s", path);
	return 0;
}

/* "dir <self->dir>" + "tag <self->tag>" + "bind [args]" */
static int bind_here(FIXTURE_DATA(cf) *self, const char *bindargs)
{
	int r = cmdf(self->fd, "dir %s", self->dir);

	if (r)
		return r;
	r = cmdf(self->fd, "tag %s", self->tag);
	if (r)
		return r;
	return bindargs ? cmdf(self->fd, "bind %s", bindargs) : cmd(self->fd, "bind");
}

/* ========================================================================
 * The device node, open() and exclusivity
 */

TEST(devnode_is_misc_char_device_0600)
{
	char buf[8192], *p;
	struct stat st;
	unsigned int minor_seen = ~0u;

	ensure_module();
	ASSERT_EQ(0, stat(DEVNODE, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ((unsigned int)MISC_MAJOR_NR, major(st.st_rdev));
	EXPECT_EQ(0600u, st.st_mode & 07777);
	EXPECT_EQ(0u, st.st_uid);
	EXPECT_EQ(0u, st.st_gid);
	/* /proc/misc lists "<minor> cachefiles" */
	ASSERT_LT(0, read_file("/proc/misc", buf, sizeof(buf)));
	for (p = strtok(buf, "\n"); p; p = strtok(NULL, "\n")) {
		unsigned int m;
		char name[64];

		if (sscanf(p, "%u %63s", &m, name) == 2 && !strcmp(name, "cachefiles"))
			minor_seen = m;
	}
	EXPECT_EQ(minor(st.st_rdev), minor_seen);
}

TEST(open_without_cap_sys_admin_is_eperm)
{
	ensure_module();
	ASSERT_EQ(EPERM, in_child(child_open_without_sys_admin, NULL));
	/* a refused opener must not leave the device marked as open */
	ASSERT_EQ(0, in_child(child_open_errno, NULL));
}

TEST(open_uid0_without_any_capability_is_eperm)
{
	ensure_module();
	ASSERT_EQ(EPERM, in_child(child_open_no_caps, NULL));
}

TEST(open_as_nobody_is_eacces_from_node_mode)
{
	ensure_module();
	/* the node is root:root 0600, so the VFS refuses before ->open() */
	ASSERT_EQ(EACCES, in_child(child_open_as_nobody, NULL));
}

TEST(second_open_same_process_is_ebusy)
{
	int fd, fd2;

	ensure_module();
	fd = cf_open();
	ASSERT_LE(0, fd);
	fd2 = cf_open();
	EXPECT_EQ(-EBUSY, fd2);
	if (fd2 >= 0)
		close(fd2);
	/* the first opener is unaffected */
	EXPECT_EQ(0, cmd(fd, "tag stillmine"));
	close(fd);
}

TEST(second_open_other_process_is_ebusy)
{
	int fd;

	ensure_module();
	fd = cf_open();
	ASSERT_LE(0, fd);
	EXPECT_EQ(EBUSY, in_child(child_open_errno, NULL));
	close(fd);
	/* after close the device is free again, for anyone */
	EXPECT_EQ(0, in_child(child_open_errno, NULL));
}

TEST(eperm_is_checked_before_ebusy)
{
	int fd;

	ensure_module();
	fd = cf_open();
	ASSERT_LE(0, fd);
	EXPECT_EQ(EPERM, in_child(child_open_without_sys_admin, NULL));
	close(fd);
}

TEST(reopen_after_close_works_repeatedly)
{
	ensure_module();
	for (int i = 0; i < 10; i++) {
		int fd = cf_open();

		ASSERT_LE(0, fd);
		ASSERT_EQ(-EBUSY, cf_open());
		ASSERT_EQ(0, close(fd));
	}
}

TEST(dup_keeps_device_busy_until_last_close)
{
	int fd, fd2;

	ensure_module();
	fd = cf_open();
	ASSERT_LE(0, fd);
	fd2 = dup(fd);
	ASSERT_LE(0, fd2);
	close(fd);
	EXPECT_EQ(-EBUSY, cf_open());
	/* same open file: state is shared */
	EXPECT_EQ(0, cmd(fd2, "tag viadup"));
	EXPECT_EQ(-EEXIST, cmd(fd2, "tag again"));
	close(fd2);
	fd = cf_open();
	EXPECT_LE(0, fd);
	if (fd >= 0)
		close(fd);
}

static int child_sleep_with_fd(void *arg)
{
	int pipefd = *(int *)arg;
	char c;

	/* keep the inherited devnode fd until the parent says go */
	return read(pipefd, &c, 1) == 1 ? 0 : 1;
}

TEST(forked_fd_keeps_device_busy)
{
	int fd, p[2], status;
	pid_t pid;

	ensure_module();
	ASSERT_EQ(0, pipe(p));
	fd = open(DEVNODE, O_RDWR);	/* no O_CLOEXEC: shared with the child */
	ASSERT_LE(0, fd);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(p[1]);
		_exit(child_sleep_with_fd(&p[0]));
	}
	close(p[0]);
	close(fd);
	EXPECT_EQ(-EBUSY, cf_open());
	ASSERT_EQ(1, write(p[1], "x", 1));
	close(p[1]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	fd = cf_open();
	EXPECT_LE(0, fd);
	if (fd >= 0)
		close(fd);
}

TEST_F(cf, open_allows_rdonly_and_wronly_modes)
{
	int fd;

	close(self->fd);
	self->fd = -1;
	fd = open(DEVNODE, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	/* no write permission on this file: the VFS refuses */
	EXPECT_EQ(-EBADF, cmd(fd, "tag x"));
	close(fd);
	fd = open(DEVNODE, O_WRONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, cmd(fd, "tag x"));
	close(fd);
}

/* ========================================================================
 * Other file operations
 */

TEST_F(cf, llseek_is_noop)
{
	EXPECT_EQ(0, lseek(self->fd, 100, SEEK_SET));
	EXPECT_EQ(0, lseek(self->fd, 0, SEEK_END));
	EXPECT_EQ(0, lseek(self->fd, 5, SEEK_CUR));
}

TEST_F(cf, ioctl_is_enotty)
{
	EXPECT_EQ(-1, ioctl(self->fd, CACHEFILES_IOC_READ_COMPLETE, 0));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(-1, ioctl(self->fd, FIONREAD, &(int){0}));
	EXPECT_EQ(ENOTTY, errno);
}

TEST_F(cf, mmap_is_enodev)
{
	void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, self->fd, 0);

	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(ENODEV, errno);
}

/* ========================================================================
 * write(): the command parser, in the order of cachefiles_daemon_write()
 */

TEST_F(cf, write_longer_than_page_minus_one_is_eopnotsupp)
{
	long page = sysconf(_SC_PAGESIZE);
	char *buf = malloc(page + 16);

	ASSERT_NE(NULL, buf);
	/* a perfectly valid "tag xxx..." command of exactly PAGE_SIZE bytes */
	memcpy(buf, "tag ", 4);
	memset(buf + 4, 'x', page + 12);
	EXPECT_EQ(-EOPNOTSUPP, cmd_raw(self->fd, buf, page));
	EXPECT_EQ(-EOPNOTSUPP, cmd_raw(self->fd, buf, page + 16));
	/* the length check comes before the NUL check */
	buf[10] = '\0';
	EXPECT_EQ(-EOPNOTSUPP, cmd_raw(self->fd, buf, page));
	/* ... and before the leading newline check */
	buf[0] = '\n';
	EXPECT_EQ(-EOPNOTSUPP, cmd_raw(self->fd, buf, page));
	/* nothing was applied */
	EXPECT_EQ(0, cmd(self->fd, "tag fresh"));
	free(buf);
}

TEST_F(cf, write_of_page_minus_one_bytes_is_accepted)
{
	long page = sysconf(_SC_PAGESIZE);
	char *buf = malloc(page);

	ASSERT_NE(NULL, buf);
	memcpy(buf, "tag ", 4);
	memset(buf + 4, 'y', page - 4);
	EXPECT_EQ(page - 1, cmd_raw(self->fd, buf, page - 1));
	EXPECT_EQ(-EEXIST, cmd(self->fd, "tag other"));
	free(buf);
}

TEST_F(cf, write_with_embedded_nul_is_einval)
{
	EXPECT_EQ(-EINVAL, cmd_raw(self->fd, "tag a\0b", 7));
	EXPECT_EQ(-EINVAL, cmd_raw(self->fd, "tag ab\0", 7));
	/* the NUL check covers the bytes after the first newline too */
	EXPECT_EQ(-EINVAL, cmd_raw(self->fd, "tag ab\n\0", 8));
	/* NUL check precedes the whitespace check (which would be EOPNOTSUPP) */
	EXPECT_EQ(-EINVAL, cmd_raw(self->fd, " tag\0", 5));
	EXPECT_EQ(-EINVAL, cmd_raw(self->fd, "\0", 1));
	/* nothing was applied */
	EXPECT_EQ(0, cmd(self->fd, "tag fresh"));
}

TEST_F(cf, write_with_leading_newline_is_einval)
{
	EXPECT_EQ(-EINVAL, cmd_raw(self->fd, "\n", 1));
	EXPECT_EQ(-EINVAL, cmd_raw(self->fd, "\ntag a", 6));
	EXPECT_EQ(-EINVAL, cmd_raw(self->fd, "\n\n", 2));
}

TEST_F(cf, write_with_leading_whitespace_is_eopnotsupp)
{
	EXPECT_EQ(-EOPNOTSUPP, cmd(self->fd, " tag a"));
	EXPECT_EQ(-EOPNOTSUPP, cmd(self->fd, "\ttag a"));
	EXPECT_EQ(-EOPNOTSUPP, cmd(self->fd, " "));
	EXPECT_EQ(-EOPNOTSUPP, cmd(self->fd, " \n"));
	EXPECT_EQ(0, cmd(self->fd, "tag fresh"));
}

TEST_F(cf, write_unknown_command_is_eopnotsupp)
{
	EXPECT_EQ(-EOPNOTSUPP, cmd(self->fd, "foo"));
	EXPECT_EQ(-EOPNOTSUPP, cmd(self->fd, "foo bar"));
	EXPECT_EQ(-EOPNOTSUPP, cmd(self->fd, "BIND"));
	EXPECT_EQ(-EOPNOTSUPP, cmd(self->fd, "bin"));
	EXPECT_EQ(-EOPNOTSUPP, cmd(self->fd, "bindx"));
	EXPECT_EQ(-EOPNOTSUPP, cmd(self->fd, "tagx a"));
	EXPECT_EQ(-EOPNOTSUPP, cmd(self->fd, "Tag a"));
	EXPECT_EQ(-EOPNOTSUPP, cmd(self->fd, "tag,a"));
}

TEST_F(cf, write_of_zero_bytes_is_eopnotsupp)
{
	/* vfs_write() has no zero-length shortcut: "" is an unknown command */
	EXPECT_EQ(-EOPNOTSUPP, cmd_raw(self->fd, "", 0));
}

TEST_F(cf, write_success_returns_full_length)
{
	char line[PATH_MAX + 16];
	int len = snprintf(line, sizeof(line), "dir %s\n", self->dir);

	EXPECT_EQ(len, cmd_raw(self->fd, line, len));
	EXPECT_EQ((ssize_t)strlen("tag t\n\n\n"), cmd_raw(self->fd, "tag t\n\n\n", 8));
	EXPECT_EQ((ssize_t)strlen("debug 0"), cmd_raw(self->fd, "debug 0", 7));
}

TEST_F(cf, write_ignores_text_after_first_newline)
{
	struct cache_line c;
	char buf[256];
	int len;

	len = snprintf(buf, sizeof(buf), "tag %s\ntag ignored\nbogus line", self->tag);
	EXPECT_EQ(len, cmd_raw(self->fd, buf, len));
	ASSERT_EQ(0, cmdf(self->fd, "dir %s\nbind ondemand", self->dir));
	/* "bind ondemand" after the newline was not run: cache is not bound */
	EXPECT_EQ(0, proc_cache(self->tag, NULL));
	ASSERT_EQ(0, cmd(self->fd, "bind"));
	ASSERT_EQ(1, proc_cache(self->tag, &c));
	EXPECT_EQ(0, proc_cache("ignored", NULL));
}

TEST_F(cf, write_splits_command_on_any_whitespace)
{
	struct cache_line c;

	ASSERT_EQ(0, cmdf(self->fd, "tag\t \t%s", self->tag));
	ASSERT_EQ(0, cmdf(self->fd, "dir    %s", self->dir));
	ASSERT_EQ(0, cmd(self->fd, "bind"));
	EXPECT_EQ(1, proc_cache(self->tag, &c));
}

TEST_F(cf, tag_keeps_trailing_whitespace)
{
	char tag[80];

	snprintf(tag, sizeof(tag), "%s  ", self->tag);
	ASSERT_EQ(0, cmdf(self->fd, "tag %s", tag));
	ASSERT_EQ(0, cmdf(self->fd, "dir %s", self->dir));
	ASSERT_EQ(0, cmd(self->fd, "bind"));
	EXPECT_EQ(1, proc_cache(tag, NULL));
	EXPECT_EQ(0, proc_cache(self->tag, NULL));
}

/* ========================================================================
 * dir / tag / secctx / debug
 */

TEST_F(cf, dir_empty_is_einval)
{
	EXPECT_EQ(-EINVAL, cmd(self->fd, "dir"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "dir   "));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "dir\n"));
	/* nothing was recorded */
	EXPECT_EQ(0, cmdf(self->fd, "dir %s", self->dir));
}

TEST_F(cf, dir_twice_is_eexist)
{
	EXPECT_EQ(0, cmd(self->fd, "dir /nonexistent/path"));
	EXPECT_EQ(-EEXIST, cmdf(self->fd, "dir %s", self->dir));
	EXPECT_EQ(-EEXIST, cmd(self->fd, "dir /nonexistent/path"));
	/* empty is checked before "already set" */
	EXPECT_EQ(-EINVAL, cmd(self->fd, "dir"));
}

TEST_F(cf, tag_empty_is_einval)
{
	EXPECT_EQ(-EINVAL, cmd(self->fd, "tag"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "tag  "));
	EXPECT_EQ(0, cmd(self->fd, "tag a"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "tag"));
}

TEST_F(cf, tag_twice_is_eexist)
{
	EXPECT_EQ(0, cmd(self->fd, "tag first"));
	EXPECT_EQ(-EEXIST, cmd(self->fd, "tag second"));
	EXPECT_EQ(-EEXIST, cmd(self->fd, "tag first"));
}

TEST_F(cf, tag_after_bind_with_default_tag_is_eexist)
{
	ASSERT_EQ(0, cmdf(self->fd, "dir %s", self->dir));
	ASSERT_EQ(0, cmd(self->fd, "bind"));
	/* bind installed the default tag "CacheFiles" */
	EXPECT_EQ(-EEXIST, cmd(self->fd, "tag late"));
}

TEST_F(cf, secctx_empty_is_einval)
{
	EXPECT_EQ(-EINVAL, cmd(self->fd, "secctx"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "secctx   "));
}

/*
 * secctx is converted at once with security_secctx_to_secid().  The test
 * kernel has SELinux as its only LSM providing that hook; with no policy
 * loaded SELinux maps any context to a SID and succeeds.  Without an LSM
 * implementing the hook the call returns -EOPNOTSUPP.
 */
TEST_F(cf, secctx_is_parsed_immediately)
{
	bool selinux = is_dir("/sys/fs/selinux");
	bool policy = exists("/sys/fs/selinux/policy");

	if (policy)
		SKIP(return, "an SELinux policy is loaded: context validity is policy dependent");
	if (!selinux) {
		EXPECT_EQ(-EOPNOTSUPP, cmd(self->fd, "secctx system_u:system_r:cachefiles_kernel_t:s0"));
		return;
	}
	EXPECT_EQ(0, cmd(self->fd, "secctx system_u:system_r:cachefiles_kernel_t:s0"));
	/* a second context is refused with EINVAL (not EEXIST) */
	EXPECT_EQ(-EINVAL, cmd(self->fd, "secctx kernel"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "secctx"));
	/* the secid is usable for binding */
	EXPECT_EQ(0, bind_here(self, NULL));
	EXPECT_EQ(1, proc_cache(self->tag, NULL));
}

TEST_F(cf, debug_sets_module_parameter)
{
	const char *name = mod_name();
	unsigned int v = ~0u;

	if (!name)
		SKIP(return, "CFRS_MODULE_NAME is not set");
	EXPECT_EQ(0, cmd(self->fd, "debug 0x1"));
	ASSERT_EQ(0, mod_debug_param(name, &v));
	EXPECT_EQ(1u, v);
	EXPECT_EQ(0, cmd(self->fd, "debug 010"));	/* base 0: octal */
	ASSERT_EQ(0, mod_debug_param(name, &v));
	EXPECT_EQ(8u, v);
	EXPECT_EQ(0, cmd(self->fd, "debug 6"));
	ASSERT_EQ(0, mod_debug_param(name, &v));
	EXPECT_EQ(6u, v);
	/* no argument: simple_strtoul("") == 0 and nothing is left over */
	EXPECT_EQ(0, cmd(self->fd, "debug"));
	ASSERT_EQ(0, mod_debug_param(name, &v));
	EXPECT_EQ(0u, v);
}

TEST_F(cf, debug_with_trailing_junk_is_einval)
{
	const char *name = mod_name();
	unsigned int v = ~0u;

	ASSERT_EQ(0, cmd(self->fd, "debug 2"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "debug 12abc"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "debug -1"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "debug 0x"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "debug 1 2"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "debug 09"));	/* octal */
	if (name) {
		/* a refused value is not stored */
		ASSERT_EQ(0, mod_debug_param(name, &v));
		EXPECT_EQ(2u, v);
	}
	EXPECT_EQ(0, cmd(self->fd, "debug 0"));
}

/* ========================================================================
 * brun / bcull / bstop / frun / fcull / fstop
 */

static const char *const limit_cmds[] = { "brun", "bcull", "bstop", "frun", "fcull", "fstop" };

TEST_F(cf, limit_empty_is_einval)
{
	for (int i = 0; i < 6; i++) {
		EXPECT_EQ(-EINVAL, cmd(self->fd, limit_cmds[i])) TH_LOG("%s", limit_cmds[i]);
		EXPECT_EQ(-EINVAL, cmdf(self->fd, "%s  ", limit_cmds[i])) TH_LOG("%s", limit_cmds[i]);
	}
}

TEST_F(cf, limit_without_percent_is_einval)
{
	/* each value is in range, only the format is wrong */
	static const char *const v[] = { "brun 6", "bcull 3", "bstop 0", "frun 6", "fcull 3", "fstop 0" };

	for (int i = 0; i < 6; i++) {
		EXPECT_EQ(-EINVAL, cmd(self->fd, v[i])) TH_LOG("%s", v[i]);
	}
}

TEST_F(cf, limit_with_trailing_junk_is_einval)
{
	static const char *const v[] = {
		"brun 6%x", "bcull 3%%", "bstop 0% ", "frun 6 %", "fcull 3%3", "fstop 0%\t",
		"brun 0x6%", "brun -6%", "brun +6%", "bcull 3.5%", "fstop a%",
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		EXPECT_EQ(-EINVAL, cmd(self->fd, v[i])) TH_LOG("%s", v[i]);
	}
}

TEST_F(cf, limit_run_range_rules)
{
	/* defaults: stop 1 < cull 5 < run 7 for both blocks and files */
	EXPECT_EQ(-EINVAL, cmd(self->fd, "brun 5%"));	/* must be > bcull */
	EXPECT_EQ(-EINVAL, cmd(self->fd, "brun 100%"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "brun 4294967302%"));	/* 2^32+6: no truncation */
	EXPECT_EQ(0, cmd(self->fd, "brun 6%"));
	EXPECT_EQ(0, cmd(self->fd, "brun 99%"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "frun 5%"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "frun 100%"));
	EXPECT_EQ(0, cmd(self->fd, "frun 6%"));
	EXPECT_EQ(0, cmd(self->fd, "frun 099%"));	/* base 10, leading zero */
}

TEST_F(cf, limit_cull_range_rules)
{
	EXPECT_EQ(-EINVAL, cmd(self->fd, "bcull 1%"));	/* must be > bstop */
	EXPECT_EQ(-EINVAL, cmd(self->fd, "bcull 7%"));	/* must be < brun */
	EXPECT_EQ(0, cmd(self->fd, "bcull 2%"));
	EXPECT_EQ(0, cmd(self->fd, "bcull 6%"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "fcull 1%"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "fcull 7%"));
	EXPECT_EQ(0, cmd(self->fd, "fcull 6%"));
	EXPECT_EQ(0, cmd(self->fd, "fcull 2%"));
}

TEST_F(cf, limit_stop_range_rules)
{
	EXPECT_EQ(-EINVAL, cmd(self->fd, "bstop 5%"));	/* must be < bcull */
	EXPECT_EQ(-EINVAL, cmd(self->fd, "bstop 99%"));
	EXPECT_EQ(0, cmd(self->fd, "bstop 4%"));
	EXPECT_EQ(0, cmd(self->fd, "bstop 0%"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "fstop 5%"));
	EXPECT_EQ(0, cmd(self->fd, "fstop 0%"));
	EXPECT_EQ(0, cmd(self->fd, "fstop 4%"));
}

TEST_F(cf, limit_rules_follow_current_values)
{
	ASSERT_EQ(0, cmd(self->fd, "brun 50%"));
	ASSERT_EQ(0, cmd(self->fd, "bcull 40%"));
	ASSERT_EQ(0, cmd(self->fd, "bstop 30%"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "brun 40%"));
	EXPECT_EQ(0, cmd(self->fd, "brun 41%"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "bcull 30%"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "bcull 41%"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "bstop 40%"));
	EXPECT_EQ(0, cmd(self->fd, "bstop 39%"));
	/* a rejected value changes nothing: 40 is still the cull value */
	EXPECT_EQ(-EINVAL, cmd(self->fd, "brun 40%"));
}

TEST_F(cf, limit_percent_alone_means_zero)
{
	char exp[256], got[256];

	/* simple_strtoul() of "" gives 0 and stops at '%' */
	EXPECT_EQ(0, cmd(self->fd, "bstop %"));
	EXPECT_EQ(0, cmd(self->fd, "fstop %"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "brun %"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "bcull %"));	/* 0 <= bstop */
	ASSERT_EQ(0, bind_here(self, NULL));
	ASSERT_LT(0, expected_status(exp, sizeof(exp), self->dir, '0', 7, 5, 0, 7, 5, 0));
	ASSERT_EQ((ssize_t)strlen(exp), cf_read(self->fd, got, sizeof(got)));
	EXPECT_STREQ(exp, got);
}

TEST_F(cf, limit_value_wraps_modulo_2_64)
{
	char exp[256], got[256];

	/* simple_strtoul() does not detect overflow: 2^64 reads as 0, 2^64+2 as 2 */
	EXPECT_EQ(0, cmd(self->fd, "fstop 18446744073709551616%"));
	EXPECT_EQ(0, cmd(self->fd, "bstop 18446744073709551618%"));
	ASSERT_EQ(0, bind_here(self, NULL));
	ASSERT_LT(0, expected_status(exp, sizeof(exp), self->dir, '0', 7, 5, 0, 7, 5, 2));
	ASSERT_EQ((ssize_t)strlen(exp), cf_read(self->fd, got, sizeof(got)));
	EXPECT_STREQ(exp, got);
}

TEST_F(cf, limits_are_applied_at_bind)
{
	char exp[256], got[256];

	ASSERT_EQ(0, cmd(self->fd, "frun 50%"));
	ASSERT_EQ(0, cmd(self->fd, "fcull 40%"));
	ASSERT_EQ(0, cmd(self->fd, "fstop 30%"));
	ASSERT_EQ(0, cmd(self->fd, "brun 60%"));
	ASSERT_EQ(0, cmd(self->fd, "bcull 50%"));
	ASSERT_EQ(0, cmd(self->fd, "bstop 20%"));
	ASSERT_EQ(0, bind_here(self, NULL));
	ASSERT_LT(0, expected_status(exp, sizeof(exp), self->dir, '0', 50, 40, 30, 60, 50, 20));
	ASSERT_EQ((ssize_t)strlen(exp), cf_read(self->fd, got, sizeof(got)));
	EXPECT_STREQ(exp, got);
}

TEST_F(cf, limits_changed_after_bind_are_accepted_but_not_applied)
{
	char exp[256], got[256];

	ASSERT_EQ(0, bind_here(self, NULL));
	EXPECT_EQ(0, cmd(self->fd, "brun 50%"));
	EXPECT_EQ(0, cmd(self->fd, "fcull 2%"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "bstop 50%"));
	ASSERT_LT(0, expected_status(exp, sizeof(exp), self->dir, '0', 7, 5, 1, 7, 5, 1));
	ASSERT_EQ((ssize_t)strlen(exp), cf_read(self->fd, got, sizeof(got)));
	EXPECT_STREQ(exp, got);
}

/* ========================================================================
 * bind
 */

TEST_F(cf, bind_without_dir_is_einval)
{
	EXPECT_EQ(-EINVAL, cmd(self->fd, "bind"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "bind ondemand"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "bind bogus"));
	/* not even the default tag was installed */
	EXPECT_EQ(0, cmd(self->fd, "tag fine"));
	/* still not bound */
	EXPECT_EQ(-EIO, cmd(self->fd, "inuse x"));
}

TEST_F(cf, bind_with_bad_argument_is_einval)
{
	ASSERT_EQ(0, cmdf(self->fd, "dir %s", self->dir));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "bind bogus"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "bind ondemandx"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "bind ondemand "));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "bind OnDemand"));
	/* the argument check happens before the default tag is set */
	EXPECT_EQ(0, cmdf(self->fd, "tag %s", self->tag));
	EXPECT_EQ(0, proc_cache(self->tag, NULL));
	EXPECT_FALSE(exists(P(self, "cache")));
	/* and the cache is still bindable */
	EXPECT_EQ(0, cmd(self->fd, "bind"));
}

TEST_F(cf, bind_twice_is_ebusy)
{
	ASSERT_EQ(0, bind_here(self, NULL));
	EXPECT_EQ(-EBUSY, cmd(self->fd, "bind"));
	/* "already bound" is checked before the argument */
	EXPECT_EQ(-EBUSY, cmd(self->fd, "bind ondemand"));
	EXPECT_EQ(-EBUSY, cmd(self->fd, "bind bogus"));
	/* dir is still set */
	EXPECT_EQ(-EEXIST, cmd(self->fd, "dir /"));
}

TEST_F(cf, bind_creates_cache_and_graveyard)
{
	struct stat st;

	EXPECT_FALSE(exists(P(self, "cache")));
	ASSERT_EQ(0, bind_here(self, NULL));
	ASSERT_EQ(0, stat(P(self, "cache"), &st));
	EXPECT_TRUE(S_ISDIR(st.st_mode));
	EXPECT_EQ(0700u, st.st_mode & 07777);
	EXPECT_EQ(0u, st.st_uid);
	ASSERT_EQ(0, stat(P(self, "graveyard"), &st));
	EXPECT_TRUE(S_ISDIR(st.st_mode));
	EXPECT_EQ(0700u, st.st_mode & 07777);
	EXPECT_EQ(0, count_entries(P(self, "cache")));
	EXPECT_EQ(0, count_entries(P(self, "graveyard")));
	/* nothing else is created */
	EXPECT_EQ(2, count_entries(self->dir));
	close(self->fd);
	self->fd = -1;
	/* they stay after the cache goes away */
	EXPECT_TRUE(is_dir(P(self, "cache")));
	EXPECT_TRUE(is_dir(P(self, "graveyard")));
}

TEST_F(cf, bind_reuses_existing_directories)
{
	struct stat st;

	ASSERT_EQ(0, mkdir(P(self, "cache"), 0755));
	ASSERT_EQ(0, touch(P(self, "cache/keep")));
	ASSERT_EQ(0, mkdir(P(self, "graveyard"), 0750));
	ASSERT_EQ(0, bind_here(self, NULL));
	EXPECT_TRUE(exists(P(self, "cache/keep")));
	/* existing directories are not chmod'ed */
	ASSERT_EQ(0, stat(P(self, "cache"), &st));
	EXPECT_EQ(0755u, st.st_mode & 07777);
}

TEST_F(cf, bind_with_cache_being_a_file_is_eio)
{
	ASSERT_EQ(0, touch(P(self, "cache")));
	EXPECT_EQ(-EIO, bind_here(self, NULL));
	EXPECT_EQ(0, proc_cache(self->tag, NULL));
	/* the file was left alone and is not marked in use */
	EXPECT_EQ(0, unlink(P(self, "cache")));
}

TEST_F(cf, bind_with_graveyard_being_a_file_is_eio)
{
	ASSERT_EQ(0, touch(P(self, "graveyard")));
	EXPECT_EQ(-EIO, bind_here(self, NULL));
	EXPECT_EQ(0, proc_cache(self->tag, NULL));
	/* "cache" was created first, and released again on the failure */
	EXPECT_TRUE(is_dir(P(self, "cache")));
	EXPECT_EQ(0, rmdir(P(self, "cache")));
}

TEST_F(cf, bind_on_tmpfs_is_eopnotsupp)
{
	const char *mnt = P(self, "tmpfs");

	ASSERT_EQ(0, mkdir(mnt, 0700));
	ASSERT_EQ(0, mount("cfrs-tmpfs", mnt, "tmpfs", 0, "size=4m"));
	add_mount(self, mnt);
	ASSERT_EQ(0, cmdf(self->fd, "dir %s", mnt));
	ASSERT_EQ(0, cmdf(self->fd, "tag %s", self->tag));
	EXPECT_EQ(-EOPNOTSUPP, cmd(self->fd, "bind"));
	/* the cache cookie was released again */
	EXPECT_EQ(0, proc_cache(self->tag, NULL));
	EXPECT_FALSE(exists(P(self, "tmpfs/cache")));
	/* the failure is not sticky, but the same dir fails the same way */
	EXPECT_EQ(-EOPNOTSUPP, cmd(self->fd, "bind"));
}

TEST_F(cf, bind_on_procfs_is_eopnotsupp)
{
	ASSERT_EQ(0, cmd(self->fd, "dir /proc"));
	EXPECT_EQ(-EOPNOTSUPP, cmd(self->fd, "bind"));
}

TEST_F(cf, bind_on_readonly_superblock_is_erofs)
{
	const char *mnt = P(self, "ro");
	int r;

	ASSERT_EQ(0, mkdir(mnt, 0700));
	r = mount_ro_ext4(P(self, "ro.img"), mnt);
	if (r == -ENOEXEC)
		SKIP(return, "mkfs.ext4 is not available");
	ASSERT_EQ(0, r);
	add_mount(self, mnt);
	ASSERT_EQ(0, cmdf(self->fd, "dir %s", mnt));
	ASSERT_EQ(0, cmdf(self->fd, "tag %s", self->tag));
	EXPECT_EQ(-EROFS, cmd(self->fd, "bind"));
	EXPECT_EQ(0, proc_cache(self->tag, NULL));
}

/*
 * cache.c only checks sb_rdonly(): a read-only *mount* of a writable
 * superblock is accepted and cache/ + graveyard/ are created through it.
 */
TEST_F(cf, bind_on_readonly_bind_mount_is_accepted)
{
	const char *src = P(self, "src");
	const char *mnt = P(self, "robind");

	ASSERT_EQ(0, mkdir(src, 0700));
	ASSERT_EQ(0, mkdir(mnt, 0700));
	ASSERT_EQ(0, mount(src, mnt, NULL, MS_BIND, NULL));
	add_mount(self, mnt);
	ASSERT_EQ(0, mount(NULL, mnt, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL));
	ASSERT_EQ(-1, mkdir(P(self, "robind/probe"), 0700));
	ASSERT_EQ(EROFS, errno);
	ASSERT_EQ(0, cmdf(self->fd, "dir %s", mnt));
	ASSERT_EQ(0, cmdf(self->fd, "tag %s", self->tag));
	EXPECT_EQ(0, cmd(self->fd, "bind"));
	EXPECT_TRUE(is_dir(P(self, "src/cache")));
	EXPECT_TRUE(is_dir(P(self, "src/graveyard")));
	EXPECT_EQ(1, proc_cache(self->tag, NULL));
}

TEST_F(cf, bind_to_nonexistent_dir_is_enoent_and_retryable)
{
	const char *d = P(self, "later");

	ASSERT_EQ(0, cmdf(self->fd, "dir %s", d));
	ASSERT_EQ(0, cmdf(self->fd, "tag %s", self->tag));
	EXPECT_EQ(-ENOENT, cmd(self->fd, "bind"));
	EXPECT_EQ(0, proc_cache(self->tag, NULL));
	/* nothing is bound: the failed bind can be retried once the dir exists */
	ASSERT_EQ(0, mkdir(d, 0700));
	EXPECT_EQ(0, cmd(self->fd, "bind"));
	EXPECT_EQ(1, proc_cache(self->tag, NULL));
	EXPECT_TRUE(is_dir(P(self, "later/cache")));
}

TEST_F(cf, bind_to_regular_file_is_enotdir)
{
	ASSERT_EQ(0, touch(P(self, "file")));
	ASSERT_EQ(0, cmdf(self->fd, "dir %s", P(self, "file")));
	EXPECT_EQ(-ENOTDIR, cmd(self->fd, "bind"));
}

TEST_F(cf, bind_through_regular_file_is_enotdir)
{
	ASSERT_EQ(0, touch(P(self, "file")));
	ASSERT_EQ(0, cmdf(self->fd, "dir %s", P(self, "file/sub")));
	EXPECT_EQ(-ENOTDIR, cmd(self->fd, "bind"));
}

TEST_F(cf, bind_relative_dir_resolves_against_writer_cwd)
{
	ASSERT_EQ(0, mkdir(P(self, "rel"), 0700));
	ASSERT_EQ(0, chdir(self->dir));
	ASSERT_EQ(0, cmd(self->fd, "dir rel"));
	ASSERT_EQ(0, chdir("/"));
	ASSERT_EQ(0, cmdf(self->fd, "tag %s", self->tag));
	/* the path is resolved at bind time, from the cwd at that time */
	EXPECT_EQ(-ENOENT, cmd(self->fd, "bind"));
	ASSERT_EQ(0, chdir(self->dir));
	EXPECT_EQ(0, cmd(self->fd, "bind"));
	EXPECT_TRUE(is_dir(P(self, "rel/cache")));
}

TEST_F(cf, bind_lists_tag_in_proc_while_bound)
{
	struct cache_line c;

	EXPECT_EQ(0, proc_cache(self->tag, NULL));
	ASSERT_EQ(0, bind_here(self, NULL));
	ASSERT_EQ(1, proc_cache(self->tag, &c));
	EXPECT_EQ('A', c.state);
	EXPECT_EQ(1, c.ref);
	EXPECT_EQ(0, c.vols);
	EXPECT_EQ(0, c.objs);
	EXPECT_EQ(1, c.acc);
	/* release withdraws the cache synchronously (close -> __fput) */
	ASSERT_EQ(0, close(self->fd));
	self->fd = -1;
	EXPECT_EQ(0, proc_cache(self->tag, NULL));
}

TEST_F(cf, bind_default_tag_is_CacheFiles)
{
	struct cache_line c;

	EXPECT_EQ(0, proc_cache("CacheFiles", NULL));
	ASSERT_EQ(0, cmdf(self->fd, "dir %s", self->dir));
	ASSERT_EQ(0, cmd(self->fd, "bind"));
	ASSERT_EQ(1, proc_cache("CacheFiles", &c));
	EXPECT_EQ('A', c.state);
	close(self->fd);
	self->fd = -1;
	EXPECT_EQ(0, proc_cache("CacheFiles", NULL));
}

TEST_F(cf, failed_bind_still_installs_default_tag)
{
	ASSERT_EQ(0, cmdf(self->fd, "dir %s", P(self, "missing")));
	EXPECT_EQ(-ENOENT, cmd(self->fd, "bind"));
	EXPECT_EQ(-EEXIST, cmd(self->fd, "tag late"));
	EXPECT_EQ(0, proc_cache("CacheFiles", NULL));
}

TEST_F(cf, close_unbound_cache_is_clean)
{
	ASSERT_EQ(0, cmdf(self->fd, "dir %s", self->dir));
	ASSERT_EQ(0, cmdf(self->fd, "tag %s", self->tag));
	ASSERT_EQ(0, close(self->fd));
	self->fd = cf_open();
	ASSERT_LE(0, self->fd);
	/* a new open starts from scratch */
	EXPECT_EQ(0, cmdf(self->fd, "dir %s", self->dir));
	EXPECT_EQ(0, cmdf(self->fd, "tag %s", self->tag));
	EXPECT_EQ(0, cmd(self->fd, "bind"));
}

TEST_F(cf, reopen_and_rebind_same_dir_and_tag)
{
	ASSERT_EQ(0, bind_here(self, NULL));
	ASSERT_EQ(0, close(self->fd));
	self->fd = cf_open();
	ASSERT_LE(0, self->fd);
	EXPECT_EQ(0, bind_here(self, NULL));
	EXPECT_EQ(1, proc_cache(self->tag, NULL));
}

TEST_F(cf, cache_dirs_are_marked_in_use_while_bound)
{
	ASSERT_EQ(0, bind_here(self, NULL));
	/* vfs_rmdir() refuses S_KERNEL_FILE directories */
	EXPECT_EQ(-1, rmdir(P(self, "cache")));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ(-1, rmdir(P(self, "graveyard")));
	EXPECT_EQ(EBUSY, errno);
	close(self->fd);
	self->fd = -1;
	/* unmarked on release */
	EXPECT_EQ(0, rmdir(P(self, "cache")));
	EXPECT_EQ(0, rmdir(P(self, "graveyard")));
}

/* ========================================================================
 * cull / inuse
 */

TEST_F(cf, cull_inuse_with_slash_is_einval)
{
	/* the '/' check comes before the "bound" check */
	EXPECT_EQ(-EINVAL, cmd(self->fd, "cull a/b"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "inuse a/b"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "cull /"));
	ASSERT_EQ(0, bind_here(self, NULL));
	ASSERT_EQ(0, chdir(self->dir));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "cull cache/"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "inuse ./cache"));
}

TEST_F(cf, cull_inuse_unbound_is_eio)
{
	ASSERT_EQ(0, chdir(self->dir));
	ASSERT_EQ(0, touch(P(self, "victim")));
	EXPECT_EQ(-EIO, cmd(self->fd, "cull victim"));
	EXPECT_EQ(-EIO, cmd(self->fd, "inuse victim"));
	EXPECT_EQ(-EIO, cmd(self->fd, "cull"));
	/* after a failed bind too */
	ASSERT_EQ(0, cmd(self->fd, "dir /proc"));
	ASSERT_EQ(-EOPNOTSUPP, cmd(self->fd, "bind"));
	EXPECT_EQ(-EIO, cmd(self->fd, "inuse victim"));
	EXPECT_TRUE(exists(P(self, "victim")));
}

/* a name that does not exist: lookup gives a negative dentry -> -ENOENT */
TEST_F(cf, cull_inuse_missing_name_is_enoent)
{
	ASSERT_EQ(0, bind_here(self, NULL));
	ASSERT_EQ(0, chdir(self->dir));
	EXPECT_EQ(-ENOENT, cmd(self->fd, "inuse nothere"));
	EXPECT_EQ(-ENOENT, cmd(self->fd, "cull nothere"));
}

/* lookup_one_len() itself fails with ENOENT in a dead directory -> ESTALE */
TEST_F(cf, cull_inuse_in_deleted_cwd_is_estale)
{
	ASSERT_EQ(0, bind_here(self, NULL));
	ASSERT_EQ(0, mkdir(P(self, "gone"), 0700));
	ASSERT_EQ(0, chdir(P(self, "gone")));
	ASSERT_EQ(0, rmdir(P(self, "gone")));
	EXPECT_EQ(-ESTALE, cmd(self->fd, "inuse x"));
	EXPECT_EQ(-ESTALE, cmd(self->fd, "cull x"));
}

/* lookup_one_len() refuses "", "." and ".." with EACCES, reported as EIO */
TEST_F(cf, cull_inuse_dot_names_are_eio)
{
	ASSERT_EQ(0, bind_here(self, NULL));
	ASSERT_EQ(0, chdir(self->dir));
	EXPECT_EQ(-EIO, cmd(self->fd, "inuse ."));
	EXPECT_EQ(-EIO, cmd(self->fd, "inuse .."));
	EXPECT_EQ(-EIO, cmd(self->fd, "inuse"));
	EXPECT_EQ(-EIO, cmd(self->fd, "cull ."));
	EXPECT_EQ(-EIO, cmd(self->fd, "cull .."));
	EXPECT_EQ(-EIO, cmd(self->fd, "cull"));
	EXPECT_TRUE(is_dir(self->dir));
}

TEST_F(cf, inuse_of_unused_file_is_zero)
{
	ASSERT_EQ(0, bind_here(self, NULL));
	ASSERT_EQ(0, touch(P(self, "unused")));
	ASSERT_EQ(0, chdir(self->dir));
	EXPECT_EQ(0, cmd(self->fd, "inuse unused"));
	EXPECT_TRUE(exists(P(self, "unused")));
	/* cwd need not be inside the cache */
	ASSERT_EQ(0, mkdir(P(self, "elsewhere"), 0700));
	ASSERT_EQ(0, touch(P(self, "elsewhere/f")));
	ASSERT_EQ(0, chdir(P(self, "elsewhere")));
	EXPECT_EQ(0, cmd(self->fd, "inuse f"));
	EXPECT_EQ(-ENOENT, cmd(self->fd, "inuse unused"));
}

TEST_F(cf, inuse_of_unused_directory_is_zero)
{
	ASSERT_EQ(0, bind_here(self, NULL));
	ASSERT_EQ(0, mkdir(P(self, "subdir"), 0700));
	ASSERT_EQ(0, chdir(self->dir));
	EXPECT_EQ(0, cmd(self->fd, "inuse subdir"));
}

TEST_F(cf, cull_of_unused_file_unlinks_it)
{
	ASSERT_EQ(0, bind_here(self, NULL));
	ASSERT_EQ(0, touch(P(self, "victim")));
	ASSERT_EQ(0, chdir(self->dir));
	EXPECT_EQ(0, cmd(self->fd, "cull victim"));
	EXPECT_FALSE(exists(P(self, "victim")));
	/* files are unlinked, not moved to the graveyard */
	EXPECT_EQ(0, count_entries(P(self, "graveyard")));
	EXPECT_EQ(-ENOENT, cmd(self->fd, "inuse victim"));
	EXPECT_EQ(-ENOENT, cmd(self->fd, "cull victim"));
}

TEST_F(cf, cull_of_unused_directory_moves_it_to_graveyard)
{
	char name[NAME_MAX + 1], path[PATH_MAX + 2 * NAME_MAX];

	ASSERT_EQ(0, bind_here(self, NULL));
	ASSERT_EQ(0, mkdir(P(self, "vdir"), 0700));
	ASSERT_EQ(0, touch(P(self, "vdir/inner")));
	ASSERT_EQ(0, chdir(self->dir));
	EXPECT_EQ(0, cmd(self->fd, "cull vdir"));
	EXPECT_FALSE(exists(P(self, "vdir")));
	ASSERT_EQ(0, only_entry(P(self, "graveyard"), name, sizeof(name)));
	/* the grave is named "%08x%08x" (seconds, counter) */
	EXPECT_EQ(16u, strlen(name));
	EXPECT_EQ(16u, strspn(name, "0123456789abcdef"));
	snprintf(path, sizeof(path), "%s/graveyard/%s/inner", self->dir, name);
	EXPECT_TRUE(exists(path));
	/* the buried directory is no longer marked in use */
	snprintf(path, sizeof(path), "%s/graveyard/%s", self->dir, name);
	ASSERT_EQ(0, unlink(P(self, "graveyard/%s/inner", name)));
	EXPECT_EQ(0, rmdir(path));
}

TEST_F(cf, cull_counter_gives_distinct_graves)
{
	ASSERT_EQ(0, bind_here(self, NULL));
	ASSERT_EQ(0, chdir(self->dir));
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(0, mkdir(P(self, "d%d", i), 0700));
		EXPECT_EQ(0, cmdf(self->fd, "cull d%d", i));
	}
	EXPECT_EQ(3, count_entries(P(self, "graveyard")));
}

TEST_F(cf, cull_inuse_of_cache_directories_is_ebusy)
{
	ASSERT_EQ(0, bind_here(self, NULL));
	ASSERT_EQ(0, chdir(self->dir));
	EXPECT_EQ(-EBUSY, cmd(self->fd, "inuse cache"));
	EXPECT_EQ(-EBUSY, cmd(self->fd, "inuse graveyard"));
	EXPECT_EQ(-EBUSY, cmd(self->fd, "cull cache"));
	EXPECT_EQ(-EBUSY, cmd(self->fd, "cull graveyard"));
	EXPECT_TRUE(is_dir(P(self, "cache")));
	EXPECT_TRUE(is_dir(P(self, "graveyard")));
	EXPECT_EQ(0, count_entries(P(self, "graveyard")));
}

/*
 * cachefiles_cull() sets S_KERNEL_FILE on the victim inode before unlinking
 * it and never clears it for non-directories: another hard link to the
 * same inode then reads as "in use".
 */
TEST_F(cf, cull_leaves_other_hard_links_marked_busy)
{
	ASSERT_EQ(0, bind_here(self, NULL));
	ASSERT_EQ(0, touch(P(self, "a")));
	ASSERT_EQ(0, link(P(self, "a"), P(self, "b")));
	ASSERT_EQ(0, chdir(self->dir));
	EXPECT_EQ(0, cmd(self->fd, "inuse b"));
	EXPECT_EQ(0, cmd(self->fd, "cull a"));
	EXPECT_FALSE(exists(P(self, "a")));
	EXPECT_EQ(-EBUSY, cmd(self->fd, "inuse b"));
	EXPECT_EQ(-EBUSY, cmd(self->fd, "cull b"));
	EXPECT_TRUE(exists(P(self, "b")));
}

/* ========================================================================
 * on-demand mode: copen / restore
 */

TEST_F(cf, copen_without_ondemand_is_eopnotsupp)
{
	/* mode is checked before anything else, even the empty argument */
	EXPECT_EQ(-EOPNOTSUPP, cmd(self->fd, "copen"));
	EXPECT_EQ(-EOPNOTSUPP, cmd(self->fd, "copen 1,0"));
	ASSERT_EQ(0, bind_here(self, NULL));
	EXPECT_EQ(-EOPNOTSUPP, cmd(self->fd, "copen 1,0"));
	EXPECT_EQ(-EOPNOTSUPP, cmd(self->fd, "copen bogus"));
}

TEST_F(cf, restore_without_ondemand_is_eopnotsupp)
{
	EXPECT_EQ(-EOPNOTSUPP, cmd(self->fd, "restore"));
	ASSERT_EQ(0, bind_here(self, NULL));
	EXPECT_EQ(-EOPNOTSUPP, cmd(self->fd, "restore"));
}

TEST_F(cf, bind_ondemand_is_accepted)
{
	struct cache_line c;
	char buf[256];

	ASSERT_EQ(0, bind_here(self, "ondemand"));
	ASSERT_EQ(1, proc_cache(self->tag, &c));
	EXPECT_EQ('A', c.state);
	EXPECT_TRUE(is_dir(P(self, "cache")));
	EXPECT_TRUE(is_dir(P(self, "graveyard")));
	/* no request pending: read returns 0, even with a tiny buffer */
	EXPECT_EQ(0, cf_read(self->fd, buf, sizeof(buf)));
	EXPECT_EQ(0, cf_read(self->fd, buf, 1));
	EXPECT_EQ(0, cf_read(self->fd, buf, 0));
	EXPECT_EQ(0, poll_now(self->fd));
}

TEST_F(cf, restore_in_ondemand_mode_is_accepted)
{
	ASSERT_EQ(0, bind_here(self, "ondemand"));
	EXPECT_EQ(0, cmd(self->fd, "restore"));
	/* arguments are ignored */
	EXPECT_EQ(0, cmd(self->fd, "restore whatever 1 2 3"));
	/* no requests appeared */
	EXPECT_EQ(0, poll_now(self->fd));
}

TEST_F(cf, copen_ondemand_format_errors_are_einval)
{
	ASSERT_EQ(0, bind_here(self, "ondemand"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "copen"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "copen 5"));		/* no comma */
	EXPECT_EQ(-EINVAL, cmd(self->fd, "copen 5;4096"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "copen ,4096"));		/* kstrtoul("") */
	EXPECT_EQ(-EINVAL, cmd(self->fd, "copen x,4096"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "copen -1,4096"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "copen 5 ,4096"));
}

TEST_F(cf, copen_ondemand_unknown_id_is_einval)
{
	ASSERT_EQ(0, bind_here(self, "ondemand"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "copen 0,4096"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "copen 5,0"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "copen 0x10,4096"));	/* base 0 */
	EXPECT_EQ(-EINVAL, cmd(self->fd, "copen 4294967295,-5"));
	/* the size is only parsed once a request was found */
	EXPECT_EQ(-EINVAL, cmd(self->fd, "copen 1,garbage"));
}

TEST_F(cf, copen_ondemand_id_overflow_is_erange)
{
	ASSERT_EQ(0, bind_here(self, "ondemand"));
	/* kstrtoul() overflow */
	EXPECT_EQ(-ERANGE, cmd(self->fd, "copen 18446744073709551616,0"));
	EXPECT_EQ(-ERANGE, cmd(self->fd, "copen 0x10000000000000000,0"));
}

/*
 * daemon.c sets CACHEFILES_ONDEMAND_MODE before cachefiles_add_cache() and
 * never clears it: a failed "bind ondemand" leaves the cache in on-demand
 * mode, and a later plain "bind" binds it in on-demand mode.
 */
TEST_F(cf, failed_bind_ondemand_leaves_ondemand_mode_set)
{
	const char *d = P(self, "late");
	char buf[256];

	ASSERT_EQ(0, cmdf(self->fd, "dir %s", d));
	ASSERT_EQ(0, cmdf(self->fd, "tag %s", self->tag));
	EXPECT_EQ(-ENOENT, cmd(self->fd, "bind ondemand"));
	EXPECT_EQ(0, cmd(self->fd, "restore"));
	EXPECT_EQ(-EINVAL, cmd(self->fd, "copen 1,0"));
	/* unbound: read returns 0 anyway */
	EXPECT_EQ(0, cf_read(self->fd, buf, sizeof(buf)));
	ASSERT_EQ(0, mkdir(d, 0700));
	EXPECT_EQ(0, cmd(self->fd, "bind"));
	EXPECT_EQ(1, proc_cache(self->tag, NULL));
	/* on-demand read: 0 (no request) instead of the status string */
	EXPECT_EQ(0, cf_read(self->fd, buf, sizeof(buf)));
	EXPECT_EQ(0, cmd(self->fd, "restore"));
}

/* ========================================================================
 * read()
 */

TEST_F(cf, read_before_bind_returns_zero)
{
	char buf[256];

	EXPECT_EQ(0, cf_read(self->fd, buf, sizeof(buf)));
	EXPECT_EQ(0, cf_read(self->fd, buf, 0));
	EXPECT_EQ(0, cf_read(self->fd, buf, 1));
	ASSERT_EQ(0, cmdf(self->fd, "dir %s", self->dir));
	EXPECT_EQ(0, cf_read(self->fd, buf, sizeof(buf)));
}

TEST_F(cf, read_status_has_exact_format)
{
	char exp[256], got[512];
	ssize_t n;

	ASSERT_EQ(0, bind_here(self, NULL));
	ASSERT_LT(0, expected_status(exp, sizeof(exp), self->dir, '0', 7, 5, 1, 7, 5, 1));
	memset(got, 'Z', sizeof(got));
	n = read(self->fd, got, sizeof(got));
	ASSERT_EQ((ssize_t)strlen(exp), n);
	/* no NUL and no newline are transferred */
	EXPECT_EQ('Z', got[n]);
	got[n] = '\0';
	EXPECT_STREQ(exp, got);
	EXPECT_EQ(NULL, strchr(got, '\n'));
	/* reading again gives the same status (nothing released) */
	memset(got, 0, sizeof(got));
	EXPECT_EQ((ssize_t)strlen(exp), cf_read(self->fd, got, sizeof(got)));
	EXPECT_STREQ(exp, got);
}

TEST_F(cf, read_status_ignores_file_position)
{
	char exp[256], got[256];

	ASSERT_EQ(0, bind_here(self, NULL));
	ASSERT_LT(0, expected_status(exp, sizeof(exp), self->dir, '0', 7, 5, 1, 7, 5, 1));
	memset(got, 0, sizeof(got));
	EXPECT_EQ((ssize_t)strlen(exp), pread(self->fd, got, sizeof(got) - 1, 12345));
	EXPECT_STREQ(exp, got);
}

TEST_F(cf, read_with_short_buffer_is_emsgsize)
{
	char exp[256], got[256];
	size_t len;

	ASSERT_EQ(0, bind_here(self, NULL));
	ASSERT_LT(0, expected_status(exp, sizeof(exp), self->dir, '0', 7, 5, 1, 7, 5, 1));
	len = strlen(exp);
	EXPECT_EQ(-EMSGSIZE, cf_read(self->fd, got, len - 1));
	EXPECT_EQ(-EMSGSIZE, cf_read(self->fd, got, 1));
	EXPECT_EQ(-EMSGSIZE, cf_read(self->fd, got, 0));
	/* a buffer of exactly the string length is enough */
	memset(got, 0, sizeof(got));
	EXPECT_EQ((ssize_t)len, read(self->fd, got, len));
	EXPECT_STREQ(exp, got);
}

/* ========================================================================
 * poll()
 */

TEST_F(cf, poll_before_bind_is_empty)
{
	EXPECT_EQ(0, poll_now(self->fd));
	ASSERT_EQ(0, cmd(self->fd, "brun 99%"));
	ASSERT_EQ(0, cmd(self->fd, "bcull 98%"));
	EXPECT_EQ(0, poll_now(self->fd));
}

TEST_F(cf, poll_bound_with_default_limits_is_empty)
{
	char buf[256];

	ASSERT_EQ(0, bind_here(self, NULL));
	EXPECT_EQ(0, poll_now(self->fd));
	ASSERT_LT(0, cf_read(self->fd, buf, sizeof(buf)));
	EXPECT_EQ(0, strncmp(buf, "cull=0 ", 7));
	EXPECT_EQ(0, poll_now(self->fd));
}

/* ext4 reserves 5% of the blocks, so bavail < 98% always */
static int set_culling_limits(int fd)
{
	int r = cmd(fd, "brun 99%");

	return r ? r : cmd(fd, "bcull 98%");
}

TEST_F(cf, poll_reports_culling_and_state_change)
{
	char exp[256], got[256];

	ASSERT_EQ(0, set_culling_limits(self->fd));
	ASSERT_EQ(0, bind_here(self, NULL));
	EXPECT_EQ(POLLIN | POLLOUT, poll_now(self->fd));
	ASSERT_LT(0, expected_status(exp, sizeof(exp), self->dir, '1', 7, 5, 1, 99, 98, 1));
	ASSERT_EQ((ssize_t)strlen(exp), cf_read(self->fd, got, sizeof(got)));
	EXPECT_STREQ(exp, got);
	/* the read consumed the state change, culling goes on */
	EXPECT_EQ(POLLOUT, poll_now(self->fd));
	ASSERT_EQ((ssize_t)strlen(exp), cf_read(self->fd, got, sizeof(got)));
	EXPECT_STREQ(exp, got);
	EXPECT_EQ(POLLOUT, poll_now(self->fd));
}

TEST_F(cf, poll_only_reports_requested_events)
{
	struct pollfd p = { .fd = self->fd, .events = POLLIN };

	ASSERT_EQ(0, set_culling_limits(self->fd));
	ASSERT_EQ(0, bind_here(self, NULL));
	ASSERT_EQ(1, poll(&p, 1, 0));
	EXPECT_EQ(POLLIN, p.revents);
	p.events = POLLOUT;
	ASSERT_EQ(1, poll(&p, 1, 0));
	EXPECT_EQ(POLLOUT, p.revents);
}

/* the state is fetched and cleared before the buffer length is checked */
TEST_F(cf, read_emsgsize_still_clears_state_change)
{
	char buf[4];

	ASSERT_EQ(0, set_culling_limits(self->fd));
	ASSERT_EQ(0, bind_here(self, NULL));
	EXPECT_EQ(POLLIN | POLLOUT, poll_now(self->fd));
	EXPECT_EQ(-EMSGSIZE, cf_read(self->fd, buf, sizeof(buf)));
	EXPECT_EQ(POLLOUT, poll_now(self->fd));
}

TEST_F(cf, poll_ondemand_culling_is_pollout_only)
{
	char buf[256];

	ASSERT_EQ(0, set_culling_limits(self->fd));
	ASSERT_EQ(0, bind_here(self, "ondemand"));
	/* on-demand mode: EPOLLIN only for pending requests */
	EXPECT_EQ(POLLOUT, poll_now(self->fd));
	EXPECT_EQ(0, cf_read(self->fd, buf, sizeof(buf)));
	EXPECT_EQ(POLLOUT, poll_now(self->fd));
}

static int child_poll_wait(void *arg)
{
	int fd = *(int *)arg;
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };
	int r = poll(&p, 1, 20000);

	if (r != 1)
		return 100 + (r < 0 ? 1 : 0);
	return p.revents == (POLLIN | POLLOUT) ? 0 : 102;
}

TEST_F(cf, poll_sleeper_is_woken_by_culling_state_change)
{
	int status;
	pid_t pid;

	ASSERT_EQ(0, set_culling_limits(self->fd));
	ASSERT_EQ(0, cmdf(self->fd, "dir %s", self->dir));
	ASSERT_EQ(0, cmdf(self->fd, "tag %s", self->tag));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(child_poll_wait(&self->fd));
	usleep(500000);
	ASSERT_EQ(0, cmd(self->fd, "bind"));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

/* ========================================================================
 * Module unload / load
 */

FIXTURE(mod) {
	const char *name;
	const char *ko;
};

FIXTURE_SETUP(mod)
{
	self->name = mod_name();
	self->ko = mod_ko();
	if (!self->name || !*self->name || !self->ko || !*self->ko)
		SKIP(return, "CFRS_MODULE_NAME / CFRS_MODULE_KO are not set");
	ensure_module();
	ASSERT_TRUE(mod_loaded(self->name));
}

FIXTURE_TEARDOWN(mod)
{
	ensure_module();
}

TEST_F_TIMEOUT(mod, unload_load_20_cycles, 600)
{
	char st[32];

	for (int i = 0; i < 20; i++) {
		int fd;

		ASSERT_EQ(0, mod_unload(self->name)) TH_LOG("cycle %d", i);
		ASSERT_FALSE(mod_loaded(self->name));
		ASSERT_TRUE(wait_devnode(false, 2000)) TH_LOG("cycle %d", i);
		ASSERT_EQ(-ENOENT, cf_open());
		ASSERT_EQ(0, mod_load(self->ko)) TH_LOG("cycle %d", i);
		ASSERT_NE(NULL, mod_state(self->name, st, sizeof(st)));
		ASSERT_STREQ("Live", st);
		ASSERT_TRUE(wait_devnode(true, 2000)) TH_LOG("cycle %d", i);
		fd = cf_open();
		ASSERT_LE(0, fd) TH_LOG("cycle %d: %s", i, strerror(-fd));
		ASSERT_EQ(-EBUSY, cf_open());
		ASSERT_EQ(0, cmd(fd, "tag cycle"));
		ASSERT_EQ(0, close(fd));
	}
}

TEST_F_TIMEOUT(mod, unload_while_open_is_ewouldblock, 120)
{
	char st[32];
	int fd = cf_open();

	ASSERT_LE(0, fd);
	EXPECT_EQ(1, mod_refcnt(self->name));
	EXPECT_EQ(-EWOULDBLOCK, mod_unload(self->name));
	ASSERT_NE(NULL, mod_state(self->name, st, sizeof(st)));
	EXPECT_STREQ("Live", st);
	/* the open file is still fully functional */
	EXPECT_EQ(0, cmd(fd, "tag stillhere"));
	EXPECT_EQ(-EEXIST, cmd(fd, "tag again"));
	close(fd);
	EXPECT_EQ(0, mod_refcnt(self->name));
	EXPECT_EQ(0, mod_unload(self->name));
	EXPECT_FALSE(mod_loaded(self->name));
	ASSERT_EQ(0, mod_load(self->ko));
	ASSERT_TRUE(wait_devnode(true, 2000));
}

TEST_F_TIMEOUT(mod, unload_while_bound_is_ewouldblock, 120)
{
	const char *scratch = getenv("CFRS_SCRATCH");
	char dir[PATH_MAX], tag[64];
	struct cache_line c;
	int fd;

	if (!scratch)
		SKIP(return, "CFRS_SCRATCH is not set");
	snprintf(dir, sizeof(dir), "%s/cfrs-mod-XXXXXX", scratch);
	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(tag, sizeof(tag), "cfrs-mod-%d", getpid());
	fd = cf_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, cmdf(fd, "dir %s", dir));
	ASSERT_EQ(0, cmdf(fd, "tag %s", tag));
	ASSERT_EQ(0, cmd(fd, "bind"));
	EXPECT_EQ(1, mod_refcnt(self->name));
	EXPECT_EQ(-EWOULDBLOCK, mod_unload(self->name));
	EXPECT_TRUE(mod_loaded(self->name));
	ASSERT_EQ(1, proc_cache(tag, &c));
	EXPECT_EQ('A', c.state);
	close(fd);
	EXPECT_EQ(0, proc_cache(tag, NULL));
	EXPECT_EQ(0, mod_unload(self->name));
	ASSERT_EQ(0, mod_load(self->ko));
	ASSERT_TRUE(wait_devnode(true, 2000));
	rm_rf(dir);
}

TEST_F_TIMEOUT(mod, unloaded_module_has_no_devnode_or_misc_entry, 120)
{
	char buf[8192];

	ASSERT_EQ(0, mod_unload(self->name));
	ASSERT_TRUE(wait_devnode(false, 2000));
	EXPECT_EQ(-ENOENT, cf_open());
	ASSERT_LT(0, read_file("/proc/misc", buf, sizeof(buf)));
	EXPECT_EQ(NULL, strstr(buf, " cachefiles\n"));
	ASSERT_EQ(0, mod_load(self->ko));
	ASSERT_TRUE(wait_devnode(true, 2000));
	ASSERT_LT(0, read_file("/proc/misc", buf, sizeof(buf)));
	EXPECT_NE(NULL, strstr(buf, " cachefiles\n"));
}

TEST_F_TIMEOUT(mod, reload_resets_debug_parameter, 120)
{
	unsigned int v = ~0u;
	int fd = cf_open();

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, cmd(fd, "debug 0x7"));
	ASSERT_EQ(0, mod_debug_param(self->name, &v));
	EXPECT_EQ(7u, v);
	close(fd);
	ASSERT_EQ(0, mod_unload(self->name));
	ASSERT_EQ(0, mod_load(self->ko));
	ASSERT_TRUE(wait_devnode(true, 2000));
	ASSERT_EQ(0, mod_debug_param(self->name, &v));
	EXPECT_EQ(0u, v);
}

TEST_HARNESS_MAIN
