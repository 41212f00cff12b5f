/*
 * Shared by the libFuzzer harnesses in fuzz/ (see fuzz/README.md).
 *
 * A harness input that holds several files is a bundle: sections that each
 * begin with a line "=== NAME" followed by the file's bytes up to the next
 * "\n=== " (so seeds stay readable JSON and the fuzzer can add, drop and
 * rename files).  bundle_write unpacks one into a directory.
 */
#ifndef FERRY_FUZZ_H
#define FERRY_FUZZ_H

#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "fsutil.h"
#include "log.h"
#include "util.h"

/* ferry's own messages (pr_info, -v) would flood the fuzzer's output; the
 * sanitizers write to fd 2 directly and are not affected. */
static inline void fuzz_quiet(void)
{
	FILE *f = fopen("/dev/null", "w");
	if (f)
		stderr = f;
}

/* A private scratch directory (under $FUZZ_SCRATCH, which tests/fuzz.sh
 * removes, else on /dev/shm), emptied before each input. */
static inline const char *fuzz_dir(void)
{
	static char dir[512];
	if (!dir[0]) {
		const char *base = getenv("FUZZ_SCRATCH");
		snprintf(dir, sizeof(dir), "%s/ferry-fuzz.XXXXXX", base ? base : "/dev/shm");
		if (!mkdtemp(dir))
			abort();
	}
	return dir;
}

static inline void fuzz_empty_dir(const char *dir)
{
	fail_clear();
	rm_tree(dir);
	if (mkdir(dir, 0700) < 0)
		abort();
}

struct bundle_file {
	char name[256];
	const uint8_t *data;
	size_t len;
};

/* Splits a bundle into at most max files; returns how many. */
static inline int bundle_split(const uint8_t *d, size_t n, struct bundle_file *f, int max)
{
	int k = 0;
	size_t i = 0;
	while (i + 4 <= n && k < max) {
		size_t nl, start, end;
		if (memcmp(d + i, "=== ", 4))
			return k;
		i += 4;
		for (nl = i; nl < n && d[nl] != '\n'; nl++)
			;
		if (nl - i >= sizeof(f[k].name))
			return k;
		memcpy(f[k].name, d + i, nl - i);
		f[k].name[nl - i] = 0;
		start = nl < n ? nl + 1 : n;
		for (end = start; end + 5 <= n && memcmp(d + end, "\n=== ", 5); end++)
			;
		if (end + 5 > n)
			end = n;
		f[k].data = d + start;
		f[k].len = end - start;
		k++;
		i = end < n ? end + 1 : n;
	}
	return k;
}

#endif
