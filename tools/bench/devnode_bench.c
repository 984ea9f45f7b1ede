// SPDX-License-Identifier: GPL-2.0
/*
 * Throughput of /dev/cachefiles operations, for comparing backends: run it
 * once with each module loaded in the same VM boot (scripts/bench does).
 *
 *   devnode_bench CACHE_DIR SECONDS_PER_CASE
 *
 * Prints one line per case: "<case> <operations per second>".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int open_dev(void)
{
	int fd = open("/dev/cachefiles", O_RDWR);

	if (fd < 0) {
		perror("open /dev/cachefiles");
		exit(1);
	}
	return fd;
}

static void cmd(int fd, const char *s)
{
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s)) {
		fprintf(stderr, "write '%s': %s\n", s, strerror(errno));
		exit(1);
	}
}

/* Runs op() for `secs` seconds and prints its rate. */
static void run(const char *name, double secs, void (*op)(int), int fd)
{
	double start = now(), t;
	long n = 0;

	do {
		for (int i = 0; i < 64; i++)
			op(fd);
		n += 64;
		t = now() - start;
	} while (t < secs);
	printf("%s %.0f\n", name, n / t);
	fflush(stdout);
}

static void op_open_close(int unused)
{
	(void)unused;
	close(open_dev());
}

static void op_command(int fd)
{
	cmd(fd, "debug 0");
}

static void op_rejected_command(int fd)
{
	if (write(fd, "nosuchcommand", 13) != -1 || errno != EOPNOTSUPP) {
		fprintf(stderr, "unexpected result for an unknown command\n");
		exit(1);
	}
}

static void op_status_read(int fd)
{
	char buf[256];

	if (read(fd, buf, sizeof(buf)) <= 0) {
		perror("read status");
		exit(1);
	}
}

static void op_poll(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };

	if (poll(&p, 1, 0) < 0) {
		perror("poll");
		exit(1);
	}
}

static char dir_cmd[4200];

static void op_bind_unbind(int unused)
{
	int fd = open_dev();

	(void)unused;
	cmd(fd, dir_cmd);
	cmd(fd, "tag bench");
	cmd(fd, "bind");
	close(fd);
}

static void op_configure_close(int unused)
{
	int fd = open_dev();

	(void)unused;
	cmd(fd, dir_cmd);
	cmd(fd, "tag bench");
	close(fd);
}

int main(int argc, char **argv)
{
	double secs;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: %s CACHE_DIR SECONDS_PER_CASE\n", argv[0]);
		return 2;
	}
	secs = atof(argv[2]);
	snprintf(dir_cmd, sizeof(dir_cmd), "dir %s", argv[1]);

	run("open_close", secs, op_open_close, -1);
	fd = open_dev();
	run("command_debug", secs, op_command, fd);
	run("command_rejected", secs, op_rejected_command, fd);
	cmd(fd, dir_cmd);
	cmd(fd, "tag bench");
	cmd(fd, "bind");
	run("status_read", secs, op_status_read, fd);
	run("poll", secs, op_poll, fd);
	close(fd);
	run("configure_close", secs, op_configure_close, -1);
	run("bind_unbind", secs, op_bind_unbind, -1);
	return 0;
}
