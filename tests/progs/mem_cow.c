/* mem_cow - copy-on-write sharing after fork survives a restore.
 * A root maps 32 MiB, fills it and forks a child, which forks a grandchild.
 * Chunk (1 MiB) 0: written by the child before it forked the grandchild
 * (child and grandchild share it, the root has its own); chunk 1: dropped
 * by the child with MADV_DONTNEED (zero in child and grandchild); chunk 2:
 * written by the grandchild; chunk 31: written by the root after the fork;
 * every other chunk is shared by all three.  The child also mprotects one
 * page of the mapping (its VMAs are no longer the root's).  8 MiB of heap
 * (sbrk) filled by the root before the fork stays shared by all three,
 * although the child grew its heap by a MiB since.  Each process checks the
 * content of every chunk, and, through /proc/PID/pagemap (frame numbers:
 * the test runs as root), that a page it shares with its parent is the
 * very same frame and a page it wrote is not — before the dump (so the test
 * knows what it expects) and after the restore.  It also prints the
 * child's Rss and Pss from smaps_rollup (Pss well below Rss when shared).
 * With the argument "copied" (run with FERRY_TEST_NO_COW_PLACE=1, ferry's
 * fallback for a VMA it cannot place) the content must be the same and no
 * page shared after the restore. */
#include "common.h"
#include <sys/mman.h>
#include <sys/wait.h>

#define MB (1UL << 20)
#define NCH 32
#define PG 4096UL

static uint8_t *A, *H;
#define NH 8
#define RO_CHUNK 20	/* the child makes one page of it read-only */
static int copied, restored;

/* Which seed chunk c holds in process `who` (0 root, 1 child, 2 grandchild); 0 = zeros. */
static int seed_of(int who, int c)
{
	if (who == 0)
		return c == 31 ? 300 + c : 100 + c;
	if (c == 0)
		return 200;
	if (c == 1)
		return 0;
	if (who == 2 && c == 2)
		return 400;
	return 100 + c;
}

/* Whether chunk c of `who` is the same frames as in its parent. */
static int shared_with_parent(int who, int c)
{
	if (who == 1)
		return c != 0 && c != 1 && c != 31;
	return c != 1 && c != 2;	/* grandchild: chunk 0 shared with the child too */
}

static uint64_t pfn(int fd, uintptr_t va)
{
	uint64_t e = 0;
	if (pread(fd, &e, 8, va / PG * 8) != 8)
		return 0;
	return (e >> 63) ? e & ((1ULL << 55) - 1) : 0;
}

static char layout[2][4096];

/* The mappings over A and the heap, as text. */
static void get_layout(char *out, size_t cap)
{
	char a[2048], h[2048];
	t_maps_range((uintptr_t)A, (uintptr_t)A + NCH * MB, a, sizeof a);
	t_maps_range((uintptr_t)H, (uintptr_t)sbrk(0), h, sizeof h);
	snprintf(out, cap, "%s%s", a, h);
}

static void check(int who, const char *when)
{
	if (!restored)
		get_layout(layout[0], sizeof layout[0]);
	else if (!copied) {
		/* (copied: two adjacent VMAs the kernel kept apart, like the child's
		 * heap before and after its sbrk, come back as one, as any restore
		 * of separately mapped neighbours does) */
		get_layout(layout[1], sizeof layout[1]);
		T_STREQ("mappings of the shared memory", layout[1], layout[0]);
	}
	for (int c = 0; c < NCH; c++) {
		int s = seed_of(who, c);
		long bad = s ? t_verify(A + c * MB, MB, s) : t_verify_zero(A + c * MB, MB);
		T_CHECK(bad < 0, "%s: process %d chunk %d differs at offset %ld", when, who, c, bad);
	}
	for (int c = 0; c < NH; c++) {
		long bad = t_verify(H + c * MB, MB, 500 + c);
		T_CHECK(bad < 0, "%s: process %d heap chunk %d differs at offset %ld", when, who, c, bad);
	}
	if (who == 0)
		return;
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/pagemap", (int)getppid());
	int me = open("/proc/self/pagemap", O_RDONLY), par = open(path, O_RDONLY);
	T_CHECK(me >= 0 && par >= 0, "%s: cannot open pagemaps", when);
	if (me < 0 || par < 0)
		return;
	for (int c = 0; c < NCH + NH; c++) {
		int same = 0, n = 0;
		uint8_t *base = c < NCH ? A + c * MB : H + (c - NCH) * MB;
		if (c == 1)
			continue;
		for (uintptr_t va = (uintptr_t)base; va < (uintptr_t)base + MB; va += PG, n++) {
			uint64_t a = pfn(me, va), b = pfn(par, va);
			same += a && a == b;
		}
		if (copied && restored)
			T_CHECK(same == 0, "%s: process %d chunk %d: %d pages shared, expected copies", when, who, c, same);
		else if (c >= NCH)
			T_CHECK(same == n, "%s: process %d heap chunk %d: %d of %d pages share their frame with the parent",
				when, who, c - NCH, same, n);
		else if (shared_with_parent(who, c))
			T_CHECK(same == n, "%s: process %d chunk %d: %d of %d pages share their frame with the parent",
				when, who, c, same, n);
		else
			T_CHECK(same == 0, "%s: process %d chunk %d: %d pages share a frame with the parent, none should",
				when, who, c, same);
	}
	close(me);
	close(par);
}

static void rollup(int who, const char *when)
{
	static char buf[8192];
	char *rss, *pss;
	if (t_read_file("/proc/self/smaps_rollup", buf, sizeof buf) < 0)
		return;
	rss = strstr(buf, "\nRss:");
	pss = strstr(buf, "\nPss:");
	if (rss && pss)
		t_note("%s: process %d: %.*s, %.*s", when, who, (int)strcspn(rss + 1, "\n"), rss + 1,
		       (int)strcspn(pss + 1, "\n"), pss + 1);
}

/* Each process: say it is set up, wait for go, verify. */
static int run(int who, int ready_fd)
{
	check(who, "before dump");
	if (t_failures)
		return 1;
	if (ready_fd >= 0) {
		T_SETUP(write(ready_fd, "r", 1) == 1);
		close(ready_fd);
	}
	rollup(who, "before dump");
	return 0;
}

int main(int argc, char **argv)
{
	int p[2], st;
	char b;
	pid_t child;
	t_init(argc, argv);
	copied = argc > 2 && !strcmp(argv[2], "copied");
	A = mmap(NULL, NCH * MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	T_SETUP(A != MAP_FAILED);
	T_SETUP(madvise(A, NCH * MB, MADV_NOHUGEPAGE) == 0);	/* frames compared page by page */
	for (int c = 0; c < NCH; c++)
		t_fill(A + c * MB, MB, 100 + c);
	H = sbrk(0);
	H = (uint8_t *)(((uintptr_t)H + PG - 1) & ~(PG - 1));
	T_SETUP(brk(H + NH * MB) == 0);
	for (int c = 0; c < NH; c++)
		t_fill(H + c * MB, MB, 500 + c);
	T_SETUP(pipe(p) == 0);
	child = fork();
	T_SETUP(child >= 0);
	if (child == 0) {
		pid_t gc;
		close(p[0]);
		t_fill(A, MB, 200);
		T_SETUP(madvise(A + MB, MB, MADV_DONTNEED) == 0);
		T_SETUP(mprotect(A + RO_CHUNK * MB, PG, PROT_READ) == 0);
		uint8_t *more = sbrk(MB);
		T_SETUP(more != (void *)-1);
		memset(more, 7, MB);
		gc = fork();
		T_SETUP(gc >= 0);
		if (gc == 0) {
			t_fill(A + 2 * MB, MB, 400);
			if (run(2, p[1]))
				_exit(1);
			t_wait_go();
			restored = 1;
			check(2, "after restore");
			rollup(2, "after restore");
			_exit(t_failures ? 1 : 0);
		}
		if (run(1, p[1]))
			_exit(1);
		t_wait_go();
		restored = 1;
		check(1, "after restore");
		rollup(1, "after restore");
		T_CHECK(waitpid(gc, &st, 0) == gc && WIFEXITED(st) && WEXITSTATUS(st) == 0,
			"grandchild failed (status 0x%x)", st);
		_exit(t_failures ? 1 : 0);
	}
	close(p[1]);
	t_fill(A + 31 * MB, MB, 331);
	T_SETUP(read(p[0], &b, 1) == 1 && read(p[0], &b, 1) == 1);
	close(p[0]);
	check(0, "before dump");
	T_SETUP(t_failures == 0);
	t_ready();
	t_wait_go();
	check(0, "after restore");
	T_CHECK(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		"child failed (status 0x%x)", st);
	t_finish();
}
