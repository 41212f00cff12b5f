/*
 * hog: the benchmark's checkpoint target.  Fills MIB MiB with pseudo-random
 * words (nothing zero or repeated, so no image or page deduplication can
 * shortcut the copy), writes its pid to WORKDIR/ready, then sleeps until
 * WORKDIR/go exists.  It then regenerates the sequence from the seed kept in
 * its own memory and compares every word, writes WORKDIR/result ("ok", or
 * where the first mismatch is) and exits 0, or 1 on mismatch or error.
 * WORKDIR/ready's second line is a random token drawn at start and kept in
 * memory; "ok" is followed by it: a fresh start of the program (which
 * would pass its memory check too) shows a different one.
 *
 * Limits: only the big buffer is verified (not stack, heap or registers
 * beyond the seed); it is single-threaded and holds no open files while
 * sleeping, so it exercises memory transfer, not the rest of ferry.  Run it
 * with stdio on /dev/null: after a restore there is nobody to read it.
 *
 * Usage: hog MIB WORKDIR
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/random.h>

static char ready_path[4096], go_path[4096], result_path[4096];

static uint64_t next(uint64_t *s)
{
	/* xorshift64*: cheap, and no two 8-byte words in a GiB repeat. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/* Written to a temporary name and renamed, so a poller never sees a
 * half-written file. */
static int put_file(const char *path, const char *text)
{
	char tmp[4200];
	size_t n = strlen(text);
	int fd;

	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (write(fd, text, n) != (ssize_t)n) {
		close(fd);
		return -1;
	}
	if (close(fd) || rename(tmp, path))
		return -1;
	return 0;
}

static int fail(const char *what)
{
	char msg[512];

	snprintf(msg, sizeof msg, "error: %s: %s\n", what, strerror(errno));
	put_file(result_path, msg);
	fputs(msg, stderr);
	return 1;
}

int main(int argc, char **argv)
{
	static uint64_t seed, token;
	char *end, msg[256];
	uint64_t *mem, s;
	size_t words, bad;
	long mib;

	if (argc != 3) {
		fprintf(stderr, "usage: hog MIB WORKDIR\n");
		return 2;
	}
	errno = 0;
	mib = strtol(argv[1], &end, 10);
	if (errno || *end || mib <= 0) {
		fprintf(stderr, "hog: bad size '%s'\n", argv[1]);
		return 2;
	}
	snprintf(ready_path, sizeof ready_path, "%s/ready", argv[2]);
	snprintf(go_path, sizeof go_path, "%s/go", argv[2]);
	snprintf(result_path, sizeof result_path, "%s/result", argv[2]);

	words = ((size_t)mib << 20) / sizeof *mem;
	mem = mmap(NULL, words * sizeof *mem, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return fail("mmap");
	/* Differs per run so a stale image can never pass for a fresh one. */
	seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid() << 32;
	seed |= 1; /* xorshift stays at zero forever from a zero state */
	s = seed;
	for (size_t i = 0; i < words; i++)
		mem[i] = next(&s);

	if (getrandom(&token, sizeof token, 0) != sizeof token)
		return fail("getrandom");
	snprintf(msg, sizeof msg, "%d\n%016llx\n", (int)getpid(), (unsigned long long)token);
	if (put_file(ready_path, msg))
		return fail("writing ready");
	while (access(go_path, F_OK) != 0) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}

	s = seed;
	for (bad = 0; bad < words && mem[bad] == next(&s); bad++)
		;
	if (bad < words) {
		snprintf(msg, sizeof msg, "mismatch at byte offset %zu of %zu\n", bad * sizeof *mem,
			 words * sizeof *mem);
		put_file(result_path, msg);
		return 1;
	}
	snprintf(msg, sizeof msg, "ok\n%016llx\n", (unsigned long long)token);
	if (put_file(result_path, msg))
		return fail("writing result");
	return 0;
}
