// SPDX-License-Identifier: GPL-2.0
/*
 * Latency of cold random 4 KiB reads (scripts/bench): N preads of one
 * page each at random page-aligned offsets of FILE (buffered I/O, no
 * O_DIRECT), each timed alone.
 *
 *   randread FILE N SEED [RANDOM_ADVICE]
 *
 * RANDOM_ADVICE (default 1) sets POSIX_FADV_RANDOM first, so a miss reads
 * its page and not a readahead window: each read then costs one page
 * fetched (through one READ request on an on-demand cache, or whatever
 * window the backend asks for).  The offsets are distinct pages (a
 * shuffle of the file's pages; N is cut to the number of pages), from a
 * fixed SEED so every configuration reads the same sequence.
 *
 * Prints "randread_p50_us V", "randread_p99_us V", "randread_mean_us V",
 * "randread_max_us V" and one line "randread_samples_us V V ..." with
 * every latency in read order (microseconds, 1 decimal).  Exit status 0
 * iff every read returned a whole page.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096

static uint64_t rng_state;

/* splitmix64: small, seedable, the same sequence everywhere. */
static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of the sorted array v[0..n). */
static double pct(const double *v, long n, double p)
{
	long k = (long)(p / 100.0 * n + 0.999999);

	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

int main(int argc, char **argv)
{
	static char buf[PAGE] __attribute__((aligned(PAGE)));
	double *lat, *sorted, sum = 0;
	long n, pages, i, *order;
	int fd, advice = 1, bad = 0;
	struct stat st;

	if (argc < 4) {
		fprintf(stderr, "usage: %s FILE N SEED [RANDOM_ADVICE]\n", argv[0]);
		return 2;
	}
	n = atol(argv[2]);
	rng_state = strtoull(argv[3], NULL, 0);
	if (argc > 4)
		advice = atoi(argv[4]);
	fd = open(argv[1], O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "randread: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	pages = st.st_size / PAGE;
	if (n > pages)
		n = pages;
	if (n < 1) {
		fprintf(stderr, "randread: %s has no whole page\n", argv[1]);
		return 1;
	}
	if (advice && posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM) != 0)
		fprintf(stderr, "randread: posix_fadvise failed\n");
	order = malloc(pages * sizeof(*order));
	lat = malloc(n * sizeof(*lat));
	sorted = malloc(n * sizeof(*sorted));
	if (!order || !lat || !sorted)
		return 1;
	for (i = 0; i < pages; i++)
		order[i] = i;
	/* Fisher-Yates: the first n entries are n distinct random pages. */
	for (i = 0; i < n; i++) {
		long j = i + (long)(rng() % (uint64_t)(pages - i)), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (i = 0; i < n; i++) {
		double t0 = now_us();
		ssize_t r = pread(fd, buf, PAGE, (off_t)order[i] * PAGE);

		lat[i] = now_us() - t0;
		if (r != PAGE) {
			fprintf(stderr, "randread: pread at page %ld: %zd (%s)\n", order[i], r,
				r < 0 ? strerror(errno) : "short");
			bad = 1;
		}
		sum += lat[i];
	}
	memcpy(sorted, lat, n * sizeof(*lat));
	qsort(sorted, n, sizeof(*sorted), cmp_double);
	printf("randread_p50_us %.1f\n", pct(sorted, n, 50));
	printf("randread_p99_us %.1f\n", pct(sorted, n, 99));
	printf("randread_mean_us %.1f\n", sum / n);
	printf("randread_max_us %.1f\n", sorted[n - 1]);
	printf("randread_samples_us");
	for (i = 0; i < n; i++)
		printf(" %.1f", lat[i]);
	printf("\n");
	close(fd);
	return bad;
}
