/*
 * memfloor: the "floor" a dump or restore of N MiB is compared against, the
 * time to memcpy N MiB from touched memory into freshly mmap'ed, never
 * touched memory, page faults included, so it is what a perfect restore
 * pays just to get the bytes into the new process.  Prints the median in
 * seconds of RUNS runs on stdout (min/median/max on stderr).
 *
 * Limits: one thread, 4 KiB pages as the kernel hands them out for a plain
 * mmap (no MADV_HUGEPAGE), source already in cache; it measures the
 * machine, not ferry, and is only meaningful when compared on the same host.
 *
 * Usage: memfloor MIB [RUNS]   (RUNS defaults to 5)
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static long parse_pos(const char *s, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v <= 0) {
		fprintf(stderr, "memfloor: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	long mib, runs = 5;
	size_t len;
	uint64_t *src, x = 0x9e3779b97f4a7c15ull;
	double *t;
	volatile uint64_t sink = 0;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: memfloor MIB [RUNS]\n");
		return 2;
	}
	mib = parse_pos(argv[1], "size");
	if (argc == 3)
		runs = parse_pos(argv[2], "run count");
	len = (size_t)mib << 20;
	t = calloc((size_t)runs, sizeof *t);
	src = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!t || src == MAP_FAILED) {
		perror("memfloor: allocating the source");
		return 1;
	}
	/* Non-zero, non-repeating data: zero pages could be shared, and the
	 * source must be resident so only the destination faults. */
	for (size_t i = 0; i < len / sizeof *src; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		src[i] = x;
	}
	for (long r = 0; r < runs; r++) {
		uint8_t *dst = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		double t0, t1;

		if (dst == MAP_FAILED) {
			perror("memfloor: mmap");
			return 1;
		}
		t0 = now();
		memcpy(dst, src, len);
		t1 = now();
		/* Reading the copy back keeps the memcpy observable. */
		sink += dst[len - 1] + dst[len / 2];
		munmap(dst, len);
		t[r] = t1 - t0;
	}
	qsort(t, (size_t)runs, sizeof *t, cmp_double);
	double median = runs % 2 ? t[runs / 2] : (t[runs / 2 - 1] + t[runs / 2]) / 2;

	fprintf(stderr, "memfloor: %ld MiB x %ld runs: min %.6f median %.6f max %.6f s (%.2f GiB/s)\n",
		mib, runs, t[0], median, t[runs - 1], (double)mib / 1024 / median);
	printf("%.6f\n", median);
	(void)sink;
	free(t);
	munmap(src, len);
	return 0;
}
