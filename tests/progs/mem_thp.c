/* mem_thp - transparent huge pages where the process asked for them.
 * Covers: a 2 MiB-aligned 8 MiB private anonymous region with
 * madvise(MADV_HUGEPAGE), every byte written: after restore its data is
 * unchanged, its VMA still carries "hg", and it is backed by as many huge
 * pages (AnonHugePages in /proc/self/smaps) as before the dump: restore
 * must apply the advice before it writes the pages, or they come back as
 * 4 KiB pages (a slower process, and not the one that was dumped).
 * Limits: if THP is off on this host ("never") or the kernel gave the
 * region no huge page before the dump, only data and "hg" are checked (said
 * on stderr). */
#include "common.h"
#include <sys/mman.h>

#define HUGE (2UL << 20)
#define LEN (4 * HUGE)

/* AnonHugePages (kB) and whether VmFlags has "hg", for the VMA at addr. */
static long vma_thp(uintptr_t addr, int *hg)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int in = 0;
	long kb = -1;
	*hg = 0;
	T_SETUP(f != NULL);
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = addr >= lo && addr < hi;
			continue;
		}
		if (!in)
			continue;
		if (!strncmp(line, "AnonHugePages:", 14))
			kb = strtol(line + 14, NULL, 10);
		else if (!strncmp(line, "VmFlags:", 8))
			*hg = strstr(line, " hg") != NULL;
	}
	fclose(f);
	return kb;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	char mode[128] = "";
	t_read_file("/sys/kernel/mm/transparent_hugepage/enabled", mode, sizeof mode);
	int thp_on = strstr(mode, "[never]") == NULL && mode[0];

	uint8_t *raw = mmap(NULL, LEN + HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	T_SETUP(raw != MAP_FAILED);
	uint8_t *p = (uint8_t *)(((uintptr_t)raw + HUGE - 1) & ~(HUGE - 1));
	/* the region is its own VMA: only it has the advice */
	T_SETUP(madvise(p, LEN, MADV_HUGEPAGE) == 0);
	for (size_t i = 0; i < LEN; i++)
		p[i] = t_pat(0x7e9, i);
	int hg;
	long before = vma_thp((uintptr_t)p, &hg);
	T_SETUP(hg);
	if (!thp_on || before <= 0)
		t_note("no huge pages before the dump (THP: %s): checking data and advice only", mode);

	t_ready();
	t_wait_go();

	for (size_t i = 0; i < LEN; i++)
		if (p[i] != t_pat(0x7e9, i)) {
			T_CHECK(0, "byte %zu of the region differs", i);
			break;
		}
	long after = vma_thp((uintptr_t)p, &hg);
	T_CHECK(hg, "the region lost its MADV_HUGEPAGE advice (no \"hg\" in VmFlags)");
	if (thp_on && before > 0)
		T_CHECK(after >= before, "the region is backed by %ld kB of huge pages, %ld kB before the dump", after,
			before);
	t_finish();
}
