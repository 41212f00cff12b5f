/*
 * vmas: address-space layouts that pre-copy must carry, for tests/net/migrate.sh.
 * Each mode sets its memory up, creates WORKDIR/ready, waits for WORKDIR/go
 * (after the migration), checks its memory from inside and writes "ok" or
 * the first thing wrong to WORKDIR/result (fork: result-parent and
 * result-child).
 *
 *   fork: the parent sbrk's 64 pages and fills them, forks; the child sbrk's
 *     64 more (a second [heap] VMA next to the inherited one), fills them and
 *     rewrites one inherited page.  Pre-copied runs span the two VMAs.
 *   churn: regions are filled; once a pre-copy round has write-protected
 *     all of them (PM_UFFD_WP in its own pagemap), the process changes its
 *     layout before the freeze: mprotect of a middle part (a split), munmap
 *     of a middle part, mremap to a new address with growth, MADV_DONTNEED,
 *     PROT_NONE (also on half of a region the next round is sending), brk
 *     shrunk and grown again.  It refuses to pass if no round was seen
 *     before the check.
 *   sparse MIB WRITTEN_MIB: a MIB mapping of which WRITTEN_MIB, spread over
 *     it, is written; after the migration the written pages hold their data
 *     and no other page of the mapping is populated (present or swapped).
 *
 * Usage: vmas fork|churn WORKDIR | vmas sparse MIB WRITTEN_MIB WORKDIR
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096UL
#define WORDS (PG / 8)
#define PM_PRESENT (1ULL << 63)
#define PM_SWAP (1ULL << 62)
#define PM_UFFD_WP (1ULL << 57)

static const char *dir;
static char err[256];

static uint64_t pat(uint64_t region, uint64_t page, uint64_t gen, uint64_t i)
{
	return (region << 56) ^ (page * 0x9e3779b97f4a7c15ULL) ^ (gen << 40) ^ i ^ 0x5555;
}

static void fill(uint64_t *p, uint64_t region, uint64_t first, uint64_t n, uint64_t gen)
{
	for (uint64_t k = 0; k < n; k++)
		for (uint64_t i = 0; i < WORDS; i++)
			p[k * WORDS + i] = pat(region, first + k, gen, i);
}

/* Pages [first, first+n) of region hold generation gen (0 checks zeros). */
static int check(const char *what, const uint64_t *p, uint64_t region, uint64_t first, uint64_t n, int64_t gen)
{
	for (uint64_t k = 0; k < n; k++)
		for (uint64_t i = 0; i < WORDS; i++) {
			uint64_t want = gen < 0 ? 0 : pat(region, first + k, gen, i);
			if (p[k * WORDS + i] != want) {
				if (!err[0])
					snprintf(err, sizeof(err), "%s: page %llu word %llu is %#llx, expected %#llx", what,
						 (unsigned long long)(first + k), (unsigned long long)i,
						 (unsigned long long)p[k * WORDS + i], (unsigned long long)want);
				return -1;
			}
		}
	return 0;
}

static int unmapped(const char *what, void *p, size_t len)
{
	if (msync(p, len, MS_ASYNC) == 0 || errno != ENOMEM) {
		if (!err[0])
			snprintf(err, sizeof(err), "%s: %p is mapped", what, p);
		return -1;
	}
	return 0;
}

static void touch_file(const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fclose(fopen(path, "w"));
}

static int exists(const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

static void result(const char *name)
{
	char path[4096];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	fprintf(f, "%s\n", err[0] ? err : "ok");
	fclose(f);
}

/*
 * Creates WORKDIR/round once a pre-copy round has write-protected page 31 of
 * every region (PM_UFFD_WP in the pagemap).  A process outside the tree
 * watches: an fd on /proc/PID/pagemap in the migrated process would make the
 * destination refuse it (that file names this host's pid).
 */
static void watch_rounds(uint64_t **regions, int n)
{
	pid_t pid = getpid(), c = fork();
	char path[64];
	if (c < 0)
		exit(2);
	if (c > 0) {
		waitpid(c, NULL, 0);
		return;
	}
	if (fork() != 0)
		_exit(0);	/* the watcher is reparented: no part of the migrated tree */
	setsid();
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	for (int tries = 0; tries < 120000 && kill(pid, 0) == 0; tries++) {
		int all = 1, fd = open(path, O_RDONLY | O_CLOEXEC);
		for (int i = 0; i < n && fd >= 0; i++) {
			uint64_t e = 0;
			if (pread(fd, &e, 8, ((uintptr_t)regions[i] + 31 * PG) / PG * 8) != 8 || !(e & PM_UFFD_WP))
				all = 0;
		}
		if (fd >= 0)
			close(fd);
		if (fd >= 0 && all) {
			touch_file("round");
			_exit(0);
		}
		usleep(500);
	}
	_exit(0);
}

static void wait_go(void)
{
	while (!exists("go"))
		usleep(10000);
}

static void *map(size_t pages)
{
	void *p = mmap(NULL, pages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	return p;
}

static int heap_vmas(void)
{
	char line[512];
	int n = 0;
	FILE *f = fopen("/proc/self/maps", "r");
	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, "[heap]") != NULL;
	if (f)
		fclose(f);
	return n;
}

static int mode_fork(void)
{
	uint64_t *h1 = sbrk(64 * PG), *h2;
	pid_t child;
	int st;
	fill(h1, 1, 0, 64, 0);
	child = fork();
	if (child < 0)
		return 2;
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);	/* the runner kills the parent only */
		if (getppid() == 1)
			return 1;
		h2 = sbrk(64 * PG);
		fill(h2, 2, 0, 64, 0);
		fill(h1 + 10 * WORDS, 1, 10, 1, 1);	/* one inherited page, copied on write */
		if (heap_vmas() < 2)
			snprintf(err, sizeof(err), "setup: the child's heap is one VMA, the case is not reproduced");
		touch_file("child-ready");
		wait_go();
		check("child heap (inherited)", h1, 1, 0, 10, 0);
		check("child heap (rewritten page)", h1 + 10 * WORDS, 1, 10, 1, 1);
		check("child heap (inherited)", h1 + 11 * WORDS, 1, 11, 53, 0);
		check("child heap (own)", h2, 2, 0, 64, 0);
		result("result-child");
		return 0;
	}
	while (!exists("child-ready"))
		usleep(10000);
	touch_file("ready");
	wait_go();
	check("parent heap", h1, 1, 0, 64, 0);
	result("result-parent");
	waitpid(child, &st, 0);
	return 0;
}

enum { R_SPLIT = 1, R_HOLE, R_MOVE, R_ZAP, R_NONE, R_HEAP, R_BALLAST, NR };

static int mode_churn(void)
{
	uint64_t *r[NR], *moved, *heap_end;
	uint64_t ballast_gen = 0;
	const size_t ballast = 2048;	/* 8 MiB */
	int seen = 0;
	/* malloc's arena first (stdio uses it): the region sbrk'd below must
	 * be the top of the heap, or shrinking it would cut into malloc's */
	touch_file("started");
	for (int i = R_SPLIT; i <= R_NONE; i++) {
		r[i] = map(64);
		fill(r[i], i, 0, 64, 0);
	}
	r[R_HEAP] = sbrk(32 * PG);
	fill(r[R_HEAP], R_HEAP, 0, 32, 0);
	r[R_BALLAST] = map(ballast);
	fill(r[R_BALLAST], R_BALLAST, 0, ballast, 0);
	/* where the moved region goes: reserved now, so the address is free */
	moved = mmap(NULL, 96 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (moved == MAP_FAILED)
		return 2;
	watch_rounds(r + R_SPLIT, R_HEAP - R_SPLIT + 1);
	touch_file("ready");
	/* The ballast is rewritten until a round has protected every region, so
	 * the next round has 8 MiB to send: time to change the layout before the
	 * freeze, however late this process gets the CPU. */
	while (!exists("go")) {
		fill(r[R_BALLAST], R_BALLAST, 0, ballast, ++ballast_gen);
		if (!exists("round"))
			continue;
		mprotect(r[R_SPLIT] + 16 * WORDS, 16 * PG, PROT_READ);
		munmap(r[R_HOLE] + 16 * WORDS, 16 * PG);
		if (mremap(r[R_MOVE], 64 * PG, 96 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, moved) != moved)
			return 2;
		fill(moved + 64 * WORDS, R_MOVE, 64, 32, 1);
		madvise(r[R_ZAP], 16 * PG, MADV_DONTNEED);
		fill(r[R_ZAP], R_ZAP, 0, 4, 1);
		mprotect(r[R_NONE] + 8 * WORDS, 8 * PG, PROT_NONE);
		sbrk(-16 * (intptr_t)PG);
		heap_end = sbrk(8 * PG);
		fill(heap_end, R_HEAP, 16, 8, 1);
		/* the round after is sending the ballast: part of it becomes unreadable */
		mprotect(r[R_BALLAST] + ballast / 2 * WORDS, ballast / 2 * PG, PROT_NONE);
		seen = 1;
		break;
	}
	wait_go();
	if (!seen) {
		snprintf(err, sizeof(err), "no pre-copy round was seen before the freeze: the layout did not change");
		result("result");
		return 0;
	}
	check("mprotect split", r[R_SPLIT], R_SPLIT, 0, 64, 0);
	check("munmap hole", r[R_HOLE], R_HOLE, 0, 16, 0);
	unmapped("munmap hole", r[R_HOLE] + 16 * WORDS, 16 * PG);
	check("munmap hole", r[R_HOLE] + 32 * WORDS, R_HOLE, 32, 32, 0);
	unmapped("mremap source", r[R_MOVE], 64 * PG);
	check("mremap", moved, R_MOVE, 0, 64, 0);
	check("mremap growth", moved + 64 * WORDS, R_MOVE, 64, 32, 1);
	check("MADV_DONTNEED rewritten", r[R_ZAP], R_ZAP, 0, 4, 1);
	check("MADV_DONTNEED", r[R_ZAP] + 4 * WORDS, R_ZAP, 4, 12, -1);
	check("MADV_DONTNEED untouched", r[R_ZAP] + 16 * WORDS, R_ZAP, 16, 48, 0);
	mprotect(r[R_NONE] + 8 * WORDS, 8 * PG, PROT_READ);
	check("PROT_NONE", r[R_NONE], R_NONE, 0, 64, 0);
	check("brk", r[R_HEAP], R_HEAP, 0, 16, 0);
	check("brk regrown", r[R_HEAP] + 16 * WORDS, R_HEAP, 16, 8, 1);
	mprotect(r[R_BALLAST] + ballast / 2 * WORDS, ballast / 2 * PG, PROT_READ);
	check("ballast", r[R_BALLAST], R_BALLAST, 0, ballast, ballast_gen);
	result("result");
	return 0;
}

static int mode_sparse(size_t mib, size_t written_mib)
{
	size_t pages = mib << 8, wpages = written_mib << 8, stride = pages / wpages;
	uint64_t *m = mmap(NULL, pages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uint64_t *pm = calloc(pages, 8);
	int fd;
	if (m == MAP_FAILED || !pm || !stride)
		return 2;
	madvise(m, pages * PG, MADV_NOHUGEPAGE);	/* one page is one page */
	for (size_t k = 0; k < wpages; k++)
		fill(m + k * stride * WORDS, 9, k * stride, 1, 0);
	touch_file("ready");
	wait_go();
	/* the whole map first: reading the written pages populates nothing else */
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || pread(fd, pm, pages * 8, (uintptr_t)m / PG * 8) != (ssize_t)(pages * 8))
		snprintf(err, sizeof(err), "cannot read /proc/self/pagemap");
	for (size_t p = 0; p < pages && !err[0]; p++) {
		uint64_t e = pm[p];
		if (p % stride == 0 && p / stride < wpages)
			check("written page", m + p * WORDS, 9, p, 1, 0);
		else if (e & (PM_PRESENT | PM_SWAP)) {
			snprintf(err, sizeof(err), "untouched page %zu of the mapping is populated (pagemap %#llx)", p,
				 (unsigned long long)e);
			break;
		}
	}
	result("result");
	return 0;
}

int main(int argc, char **argv)
{
	/* nothing of the runner's (its lock file above all) outlives a failed case in us */
	close_range(3, ~0U, 0);
	setsid();
	if (argc == 3 && !strcmp(argv[1], "fork")) {
		dir = argv[2];
		return mode_fork();
	}
	if (argc == 3 && !strcmp(argv[1], "churn")) {
		dir = argv[2];
		return mode_churn();
	}
	if (argc == 5 && !strcmp(argv[1], "sparse")) {
		dir = argv[4];
		return mode_sparse(atoi(argv[2]), atoi(argv[3]));
	}
	fprintf(stderr, "usage: vmas fork|churn WORKDIR | vmas sparse MIB WRITTEN_MIB WORKDIR\n");
	return 2;
}
