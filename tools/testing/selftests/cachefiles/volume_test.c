// SPDX-License-Identifier: GPL-2.0
/*
 * The volume directories an fscache netfs (EROFS in on-demand mode) makes
 * the cache create: cache/I<volume key>, its 256 fan-out directories and
 * the volume's xattr, byte for byte as C cachefiles lays them out.
 *
 * Each test binds an on-demand cache, attempts an EROFS mount of a blob no
 * daemon has (a responder in the test answers any OPEN with -ENOENT, as a
 * daemon would), and inspects the cache directory afterwards.
 * Needs CFRS_SCRATCH (a writable ext4 directory) from scripts/vm-run.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <linux/cachefiles.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"
#pragma GCC diagnostic pop

#define XATTR "user.CacheFiles.cache"
#define BLOB "cfrsvolblob"
#define VOLDIR "cache/Ierofs," BLOB

FIXTURE(vol) {
	char dir[256];
	char mnt[256];
	int dev;
};

FIXTURE_SETUP(vol)
{
	const char *scratch = getenv("CFRS_SCRATCH");

	ASSERT_NE(NULL, scratch);
	snprintf(self->dir, sizeof(self->dir), "%s/vol.XXXXXX", scratch);
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->mnt, sizeof(self->mnt), "/tmp/cfrs-volmnt.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->mnt));
	self->dev = -1;
}

FIXTURE_TEARDOWN(vol)
{
	if (self->dev >= 0)
		close(self->dev);
	rmdir(self->mnt);
}

static int devcmd(int fd, const char *s)
{
	return write(fd, s, strlen(s)) == (ssize_t)strlen(s) ? 0 : -errno;
}

static void bind_ondemand(struct __test_metadata *_metadata, FIXTURE_DATA(vol) *self)
{
	char cmd[300];

	self->dev = open("/dev/cachefiles", O_RDWR);
	ASSERT_LE(0, self->dev);
	snprintf(cmd, sizeof(cmd), "dir %s", self->dir);
	ASSERT_EQ(0, devcmd(self->dev, cmd));
	ASSERT_EQ(0, devcmd(self->dev, "tag cfrsvol"));
	ASSERT_EQ(0, devcmd(self->dev, "bind ondemand"));
}

/*
 * Attempts the mount in a child while answering every OPEN with -ENOENT;
 * returns the mount's errno (0 if it succeeded, which it must not).
 */
static int try_mount(int dev, const char *mnt)
{
	char buf[CACHEFILES_MSG_MAX_SIZE];
	pid_t pid = fork();
	time_t end = time(NULL) + 120;
	int status;

	if (pid == 0) {
		if (mount("none", mnt, "erofs", 0, "fsid=" BLOB) == 0) {
			umount(mnt);
			_exit(0);
		}
		_exit(errno);
	}
	while (time(NULL) < end) {
		struct pollfd p = { .fd = dev, .events = POLLIN };
		struct cachefiles_msg *msg = (void *)buf;
		ssize_t n;

		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(dev, buf, sizeof(buf));
		if (n < (ssize_t)sizeof(*msg) || msg->opcode != CACHEFILES_OP_OPEN)
			continue;
		struct cachefiles_open *op = (void *)msg->data;
		char reply[64];

		close(op->fd);
		snprintf(reply, sizeof(reply), "copen %u,-2", msg->msg_id);
		devcmd(dev, reply);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

static int count_fanout(const char *voldir)
{
	char path[600];
	struct stat st;
	int n = 0;

	for (int i = 0; i < 256; i++) {
		snprintf(path, sizeof(path), "%s/@%02x", voldir, i);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			n++;
	}
	return n;
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

TEST_F_TIMEOUT(vol, mount_creates_volume_dir_fanout_and_xattr, 300)
{
	char voldir[400], x[64];
	struct stat st;
	int err;

	bind_ondemand(_metadata, self);
	err = try_mount(self->dev, self->mnt);
	TH_LOG("mount failed with errno %d", err);
	ASSERT_NE(0, err);
	ASSERT_NE(-1, err);

	snprintf(voldir, sizeof(voldir), "%s/" VOLDIR, self->dir);
	ASSERT_EQ(0, stat(voldir, &st));
	ASSERT_TRUE(S_ISDIR(st.st_mode));
	EXPECT_EQ(0700U, st.st_mode & 0777);
	EXPECT_EQ(256, count_fanout(voldir));
	EXPECT_EQ(256, count_entries(voldir));
	/* EROFS gives no coherency data: the xattr is the reserved word. */
	ASSERT_EQ(4, getxattr(voldir, XATTR, x, sizeof(x)));
	EXPECT_EQ(0, memcmp(x, "\0\0\0\0", 4));
	/*
	 * The failed mount released the volume, and with it the in-use mark
	 * on its directory: the daemon may cull it now.
	 */
	ASSERT_EQ(0, chdir(self->dir));
	ASSERT_EQ(0, chdir("cache"));
	EXPECT_EQ(0, devcmd(self->dev, "inuse Ierofs," BLOB));
	ASSERT_EQ(0, chdir("/"));
}

TEST_F_TIMEOUT(vol, existing_volume_dir_is_reused, 300)
{
	char voldir[400], marker[500];
	struct stat st;

	bind_ondemand(_metadata, self);
	ASSERT_NE(0, try_mount(self->dev, self->mnt));
	snprintf(voldir, sizeof(voldir), "%s/" VOLDIR, self->dir);
	snprintf(marker, sizeof(marker), "%s/@7f/marker", voldir);
	ASSERT_EQ(0, mkdir(marker, 0700));
	close(self->dev);
	self->dev = -1;

	bind_ondemand(_metadata, self);
	ASSERT_NE(0, try_mount(self->dev, self->mnt));
	EXPECT_EQ(0, stat(marker, &st));
	snprintf(marker, sizeof(marker), "%s/graveyard", self->dir);
	EXPECT_EQ(0, count_entries(marker));
}

TEST_F_TIMEOUT(vol, stale_volume_dir_is_buried_and_recreated, 300)
{
	char voldir[400], marker[500], grave[400], x[64];

	bind_ondemand(_metadata, self);
	ASSERT_NE(0, try_mount(self->dev, self->mnt));
	close(self->dev);
	self->dev = -1;

	/*
	 * Same length but a non-zero reserved word: stale.  (A longer xattr
	 * would make the read fail with ERANGE and the volume unusable.)
	 */
	snprintf(voldir, sizeof(voldir), "%s/" VOLDIR, self->dir);
	ASSERT_EQ(0, setxattr(voldir, XATTR, "\0\0\0\1", 4, 0));
	snprintf(marker, sizeof(marker), "%s/@00/old", voldir);
	ASSERT_EQ(0, mkdir(marker, 0700));

	bind_ondemand(_metadata, self);
	ASSERT_NE(0, try_mount(self->dev, self->mnt));
	snprintf(grave, sizeof(grave), "%s/graveyard", self->dir);
	EXPECT_EQ(1, count_entries(grave));
	EXPECT_EQ(-1, access(marker, F_OK));
	EXPECT_EQ(256, count_fanout(voldir));
	ASSERT_EQ(4, getxattr(voldir, XATTR, x, sizeof(x)));
}

TEST_HARNESS_MAIN
