/* mem_heap - the malloc heap and the program break.
 * Covers: small (brk heap) and large (mmap'ed) malloc blocks with patterns,
 * freed chunks interleaved (allocator free lists must stay consistent); the
 * program break set to an unaligned value (sbrk(123) last): the kernel's brk
 * (raw brk(0) syscall, not glibc's cached copy), glibc's sbrk(0), [heap] end
 * and /proc/self/stat start_brk are equal after restore; after restore
 * malloc/free/realloc of many blocks, a big malloc, and sbrk growth/shrink
 * work and write where expected. */
#include "common.h"
#include <malloc.h>
#include <sys/mman.h>

#define NSMALL 3000

static uintptr_t kernel_brk(void)
{
	return (uintptr_t)syscall(SYS_brk, 0);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);

	static uint8_t *small[NSMALL];
	static size_t small_len[NSMALL];
	for (int i = 0; i < NSMALL; i++) {
		small_len[i] = 8 + (i * 37) % 500;
		small[i] = malloc(small_len[i]);
		T_SETUP(small[i]);
		t_fill(small[i], small_len[i], 1000 + i);
	}
	/* free every third block: free lists / tcache hold real state */
	for (int i = 0; i < NSMALL; i += 3) {
		free(small[i]);
		small[i] = NULL;
	}
	const size_t big_len = 8u << 20; /* above the mmap threshold */
	uint8_t *big = malloc(big_len);
	T_SETUP(big);
	t_fill(big, big_len, 77);
	const size_t mid_len = 100000;
	uint8_t *mid = malloc(mid_len);
	T_SETUP(mid);
	t_fill(mid, mid_len, 78);

	/* unaligned break, set last so nothing moves it afterwards */
	uintptr_t heap_start = (uintptr_t)t_stat_field(47);
	void *old = sbrk(123);
	T_SETUP(old != (void *)-1);
	uintptr_t brk_before = kernel_brk();
	uintptr_t sbrk_before = (uintptr_t)sbrk(0);
	T_SETUP(brk_before == (uintptr_t)old + 123 && sbrk_before == brk_before);
	T_SETUP(brk_before % 4096 != 0);
	uintptr_t hs, he;
	T_SETUP(t_maps_find("[heap]", &hs, &he, NULL) == 0);
	memset(old, 0xab, 123); /* the sbrk'ed bytes are usable memory */

	t_ready();
	t_wait_go();

	/* --- verify ------------------------------------------------------- */
	uintptr_t brk_after = kernel_brk();
	T_EQ("kernel brk (brk(0) syscall)", brk_after, brk_before);
	T_EQ("glibc sbrk(0)", (uintptr_t)sbrk(0), sbrk_before);
	T_EQ("start_brk (/proc/self/stat 47)", t_stat_field(47), heap_start);
	uintptr_t hs2 = 0, he2 = 0;
	T_CHECK(t_maps_find("[heap]", &hs2, &he2, NULL) == 0, "no [heap] in maps after restore");
	T_EQ("[heap] start", hs2, hs);
	T_EQ("[heap] end", he2, he);
	for (int i = 0; i < 123; i++)
		if (((uint8_t *)old)[i] != 0xab) {
			T_CHECK(0, "sbrk'ed byte %d is %#x", i, ((uint8_t *)old)[i]);
			break;
		}

	for (int i = 0; i < NSMALL; i++) {
		if (!small[i])
			continue;
		long bad = t_verify(small[i], small_len[i], 1000 + i);
		T_CHECK(bad < 0, "small block %d (%zu bytes at %p) differs at %ld", i, small_len[i], (void *)small[i], bad);
	}
	long bad = t_verify(big, big_len, 77);
	T_CHECK(bad < 0, "big block differs at %ld", bad);
	bad = t_verify(mid, mid_len, 78);
	T_CHECK(bad < 0, "mid block differs at %ld", bad);

	/* the allocator works: free the rest, allocate again (reusing freed
	 * chunks and growing the heap) */
	for (int i = 1; i < NSMALL; i += 3) {
		free(small[i]);
		small[i] = NULL;
	}
	for (int i = 0; i < NSMALL; i++) {
		if (small[i])
			continue;
		small_len[i] = 16 + (i * 53) % 900;
		small[i] = malloc(small_len[i]);
		T_CHECK(small[i] != NULL, "malloc %d after restore failed", i);
		if (small[i])
			t_fill(small[i], small_len[i], 5000 + i);
	}
	for (int i = 0; i < NSMALL; i++) {
		if (!small[i])
			continue;
		uint64_t seed = (i % 3 == 2) ? 1000 + i : 5000 + i;
		bad = t_verify(small[i], small_len[i], seed);
		T_CHECK(bad < 0, "block %d after re-allocation differs at %ld", i, bad);
	}
	mid = realloc(mid, 3 * mid_len);
	T_CHECK(mid && t_verify(mid, mid_len, 78) < 0, "realloc lost data");
	free(mid);
	free(big);
	uint8_t *huge = malloc(64u << 20);
	T_CHECK(huge != NULL, "64 MiB malloc after restore failed");
	if (huge) {
		t_fill(huge, 64u << 20, 90);
		T_CHECK(t_verify(huge, 64u << 20, 90) < 0, "64 MiB block");
		free(huge);
	}
	for (int i = 0; i < NSMALL; i++)
		free(small[i]);
	T_CHECK(malloc_trim(0) >= 0, "malloc_trim");

	/* sbrk growth and shrink land exactly where expected */
	uint8_t *g = sbrk(10 * 4096 + 5);
	T_CHECK(g != (void *)-1, "sbrk growth after restore failed: %s", strerror(errno));
	if (g != (void *)-1) {
		T_EQ("sbrk growth start", (uintptr_t)g, (uintptr_t)sbrk(0) - (10 * 4096 + 5));
		T_EQ("kernel brk after growth", kernel_brk(), (uintptr_t)g + 10 * 4096 + 5);
		memset(g, 0x3c, 10 * 4096 + 5);
		T_CHECK(g[10 * 4096 + 4] == 0x3c, "grown brk area not writable");
		T_CHECK(sbrk(-(10 * 4096 + 5)) != (void *)-1, "sbrk shrink failed");
		T_EQ("kernel brk after shrink", kernel_brk(), (uintptr_t)g);
	}
	t_finish();
}
