/* mem_anon - anonymous memory.
 * Covers: private anon mappings with per-page patterns and untouched (zero)
 * pages; a 1 GiB MAP_NORESERVE mapping with only 3 touched pages (the runner
 * asserts the image stays small, we assert few pages are resident and the
 * rest reads as zero); a MAP_SHARED|MAP_ANONYMOUS mapping (data kept, still
 * shared with a child forked after restore, "s" in maps); one mapping split by
 * mprotect into RW / RO / PROT_NONE / RW parts and a PROT_NONE guard region:
 * the /proc/self/maps ranges+permissions of these regions are the same after
 * restore, writes to RO and any access to PROT_NONE pages raise SIGSEGV at the
 * right address, RW parts stay writable. */
#include "common.h"
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define PG 4096UL
#define BIG (1UL << 30)

static sigjmp_buf jb;
static volatile void *fault_addr;
static volatile int faults;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	fault_addr = si->si_addr;
	faults++;
	siglongjmp(jb, 1);
}

/* 1 if reading (or writing, if wr) *p faults with SIGSEGV at p. */
static int faults_at(volatile uint8_t *p, int wr)
{
	fault_addr = NULL;
	int before = faults;
	if (sigsetjmp(jb, 1) == 0) {
		if (wr)
			*p = 0x5a;
		else
			(void)*p;
		return 0;
	}
	return faults == before + 1 && fault_addr == (void *)p;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	static char maps_before[3][4096], maps_after[4096];

	struct sigaction sa = { 0 };
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	T_SETUP(sigaction(SIGSEGV, &sa, NULL) == 0);

	/* 1. private anon: 64 pages, even pages patterned, odd pages untouched */
	const size_t npriv = 64;
	uint8_t *priv = mmap(NULL, npriv * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	T_SETUP(priv != MAP_FAILED);
	for (size_t i = 0; i < npriv; i += 2)
		t_fill(priv + i * PG, PG, 100 + i);
	/* and a single byte set in page 63 */
	priv[63 * PG + 17] = 0xee;

	/* 2. 1 GiB NORESERVE, 3 touched pages */
	uint8_t *big = mmap(NULL, BIG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	T_SETUP(big != MAP_FAILED);
	const size_t big_off[3] = { 0, BIG / 2 + 5 * PG, BIG - PG };
	for (int i = 0; i < 3; i++)
		t_fill(big + big_off[i], PG, 200 + i);

	/* 3. shared anonymous */
	const size_t nshm = 4;
	uint8_t *shm = mmap(NULL, nshm * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	T_SETUP(shm != MAP_FAILED);
	t_fill(shm, nshm * PG, 300);

	/* 4. one mapping split by mprotect: RW RW | RO RO | NONE | RW */
	uint8_t *split = mmap(NULL, 6 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	T_SETUP(split != MAP_FAILED);
	t_fill(split, 6 * PG, 400);
	T_SETUP(mprotect(split + 2 * PG, 2 * PG, PROT_READ) == 0);
	T_SETUP(mprotect(split + 4 * PG, PG, PROT_NONE) == 0);

	/* 5. guard region: NONE | RW RW RW | NONE (mapped in one go, then split) */
	uint8_t *guard = mmap(NULL, 5 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	T_SETUP(guard != MAP_FAILED);
	T_SETUP(mprotect(guard + PG, 3 * PG, PROT_READ | PROT_WRITE) == 0);
	t_fill(guard + PG, 3 * PG, 500);

	t_maps_range((uintptr_t)shm, (uintptr_t)shm + nshm * PG, maps_before[0], sizeof maps_before[0]);
	t_maps_range((uintptr_t)split, (uintptr_t)split + 6 * PG, maps_before[1], sizeof maps_before[1]);
	t_maps_range((uintptr_t)guard, (uintptr_t)guard + 5 * PG, maps_before[2], sizeof maps_before[2]);
	/* sanity of our own setup (the split must really be 4 VMAs) */
	T_SETUP(strstr(maps_before[1], " r--p") && strstr(maps_before[1], " ---p"));
	T_SETUP(strstr(maps_before[0], " rw-s"));

	t_ready();
	t_wait_go();

	/* --- verify ------------------------------------------------------- */
	for (size_t i = 0; i < npriv; i++) {
		long bad;
		if (i % 2 == 0)
			bad = t_verify(priv + i * PG, PG, 100 + i);
		else if (i == 63)
			bad = (priv[63 * PG + 17] == 0xee && t_verify_zero(priv + 63 * PG, 17) < 0 &&
			       t_verify_zero(priv + 63 * PG + 18, PG - 18) < 0) ? -1 : 0;
		else
			bad = t_verify_zero(priv + i * PG, PG);
		T_CHECK(bad < 0, "private page %zu differs at offset %ld", i, bad);
	}

	/* residency of the 1 GiB region before we read it: only a handful of
	 * pages may be present (a restore must not populate 1 GiB) */
	static unsigned char vec[BIG / PG];
	T_CHECK(mincore(big, BIG, vec) == 0, "mincore: %s", strerror(errno));
	size_t resident = 0, bad_resident = 0;
	for (size_t i = 0; i < BIG / PG; i++) {
		if (!(vec[i] & 1))
			continue;
		resident++;
		/* every present page holds what it should: its pattern or zeros */
		int touched = -1;
		for (int k = 0; k < 3; k++)
			if (i * PG == big_off[k])
				touched = k;
		long b = touched >= 0 ? t_verify(big + i * PG, PG, 200 + touched) : t_verify_zero(big + i * PG, PG);
		if (b >= 0 && bad_resident++ < 5)
			T_CHECK(0, "1G region page at offset 0x%zx differs at byte %ld", i * PG, b);
	}
	T_CHECK(resident <= 3 * 512, "1 GiB NORESERVE region has %zu resident pages after restore", resident);
	T_EQ("1G region pages with wrong content", bad_resident, 0);
	for (int i = 0; i < 3; i++) {
		long bad = t_verify(big + big_off[i], PG, 200 + i);
		T_CHECK(bad < 0, "1G region touched page %d (offset 0x%zx) differs at %ld", i, big_off[i], bad);
	}
	/* sample untouched pages: zero */
	const size_t zero_off[] = { PG, 7 * PG, BIG / 4, BIG / 2, BIG / 2 + 4 * PG, BIG / 2 + 6 * PG, BIG - 2 * PG };
	for (size_t i = 0; i < sizeof zero_off / sizeof zero_off[0]; i++) {
		long bad = t_verify_zero(big + zero_off[i], PG);
		T_CHECK(bad < 0, "1G region untouched page at 0x%zx not zero (byte %ld)", zero_off[i], bad);
	}
	/* still writable */
	big[BIG / 3] = 1;
	T_CHECK(big[BIG / 3] == 1, "1G region not writable");

	/* shared anon: data, flags, and really shared with a child */
	long bad = t_verify(shm, nshm * PG, 300);
	T_CHECK(bad < 0, "shared anon mapping differs at %ld", bad);
	t_maps_range((uintptr_t)shm, (uintptr_t)shm + nshm * PG, maps_after, sizeof maps_after);
	T_CHECK(strcmp(maps_before[0], maps_after) == 0, "shared anon maps differ:\nbefore:\n%safter:\n%s",
		maps_before[0], maps_after);
	pid_t c = fork();
	if (c == 0) {
		shm[PG + 1] = 0x77;
		shm[3 * PG] = 0x66;
		_exit(0);
	}
	int st = -1;
	T_CHECK(c > 0 && waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed");
	T_CHECK(shm[PG + 1] == 0x77 && shm[3 * PG] == 0x66,
		"MAP_SHARED anon region not shared with a child after restore (%#x %#x)", shm[PG + 1], shm[3 * PG]);

	/* split mapping */
	t_maps_range((uintptr_t)split, (uintptr_t)split + 6 * PG, maps_after, sizeof maps_after);
	T_CHECK(strcmp(maps_before[1], maps_after) == 0, "mprotect-split maps differ:\nbefore:\n%safter:\n%s",
		maps_before[1], maps_after);
	bad = t_verify(split, 4 * PG, 400);
	T_CHECK(bad < 0, "split mapping RW/RO part differs at %ld", bad);
	T_CHECK(faults_at(split + 2 * PG + 10, 1), "write to RO part did not fault");
	T_CHECK(faults_at(split + 3 * PG + PG - 1, 1), "write to RO part (page 2) did not fault");
	T_CHECK(faults_at(split + 4 * PG, 0), "read of PROT_NONE part did not fault");
	T_CHECK(faults_at(split + 4 * PG + 100, 1), "write to PROT_NONE part did not fault");
	T_CHECK(!faults_at(split + PG, 1), "write to RW part faulted");
	T_CHECK(!faults_at(split + 5 * PG + 3, 1), "write to last RW part faulted");
	T_CHECK(mprotect(split + 4 * PG, PG, PROT_READ) == 0, "mprotect: %s", strerror(errno));
	{
		/* the PROT_NONE page kept its data (pattern offset 4*PG of seed 400) */
		long b2 = -1;
		for (size_t i = 0; i < PG; i++)
			if (split[4 * PG + i] != t_pat(400, 4 * PG + i)) { b2 = (long)i; break; }
		T_CHECK(b2 < 0, "PROT_NONE page lost its contents (byte %ld)", b2);
	}

	/* guard region */
	t_maps_range((uintptr_t)guard, (uintptr_t)guard + 5 * PG, maps_after, sizeof maps_after);
	T_CHECK(strcmp(maps_before[2], maps_after) == 0, "guard region maps differ:\nbefore:\n%safter:\n%s",
		maps_before[2], maps_after);
	bad = t_verify(guard + PG, 3 * PG, 500);
	T_CHECK(bad < 0, "guarded region differs at %ld", bad);
	T_CHECK(faults_at(guard + PG - 1, 0), "lower guard page did not fault");
	T_CHECK(faults_at(guard + 4 * PG, 0), "upper guard page did not fault");
	T_CHECK(faults_at(guard, 1), "lower guard page (write) did not fault");
	T_CHECK(!faults_at(guard + 2 * PG, 1), "guarded RW page faulted");
	T_EQ("SIGSEGV count", faults, 7);

	/* new anonymous mappings still work */
	uint8_t *fresh = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	T_CHECK(fresh != MAP_FAILED, "mmap after restore: %s", strerror(errno));
	if (fresh != MAP_FAILED) {
		t_fill(fresh, 16 * PG, 600);
		T_CHECK(t_verify(fresh, 16 * PG, 600) < 0, "fresh mapping");
		T_CHECK(munmap(fresh, 16 * PG) == 0, "munmap");
	}
	T_CHECK(munmap(priv, npriv * PG) == 0, "munmap restored mapping: %s", strerror(errno));
	t_finish();
}
