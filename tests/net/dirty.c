/*
 * dirty: a process that keeps rewriting its memory, for pre-copy tests.
 * It owns N MiB of pages; over and over it picks a page, fills it with a
 * pattern of (page, generation) and then notes the generation in an index.
 * After WORKDIR/go it checks every page against the index and writes
 * WORKDIR/result: "ok", or the first page that is wrong.  A page the
 * migration took from an older round than its last write shows there.
 * WORKDIR/ready holds a random token (second line), drawn at start and kept
 * in memory; WORKDIR/result repeats it (second line): a fresh start of the
 * program, which would pass the memory check too, shows a different one.
 * Usage: dirty MIB WORKDIR
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

static uint64_t pat(uint64_t page, uint64_t gen, uint64_t i)
{
	return (page * 0x9e3779b97f4a7c15ULL) ^ (gen << 32) ^ i;
}

int main(int argc, char **argv)
{
	char path[4096];
	size_t npages;
	uint64_t *mem, *idx, rng = 88172645463325252ULL, token;
	if (argc != 3)
		return 2;
	npages = ((size_t)atoi(argv[1]) << 20) / 4096;
	mem = mmap(NULL, npages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	idx = calloc(npages, sizeof(*idx));
	if (mem == MAP_FAILED || !idx)
		return 1;
	setsid();
	for (size_t p = 0; p < npages; p++)
		for (size_t i = 0; i < 512; i++)
			mem[p * 512 + i] = pat(p, 0, i);
	if (getrandom(&token, sizeof(token), 0) != sizeof(token))
		return 1;
	snprintf(path, sizeof(path), "%s/ready", argv[2]);
	FILE *r = fopen(path, "w");
	if (!r)
		return 1;
	fprintf(r, "%d\n%016llx\n", (int)getpid(), (unsigned long long)token);
	fclose(r);
	snprintf(path, sizeof(path), "%s/go", argv[2]);
	for (uint64_t n = 0;; n++) {
		size_t p;
		uint64_t g;
		if (n % 4096 == 0 && access(path, F_OK) == 0)
			break;
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		p = rng % npages;
		g = idx[p] + 1;
		for (size_t i = 0; i < 512; i++)
			mem[p * 512 + i] = pat(p, g, i);
		idx[p] = g;
		if (n % 64 == 0)
			usleep(100);	/* a busy server, not a spinning one */
	}
	snprintf(path, sizeof(path), "%s/result", argv[2]);
	FILE *f = fopen(path, "w");
	for (size_t p = 0; p < npages; p++)
		for (size_t i = 0; i < 512; i++)
			if (mem[p * 512 + i] != pat(p, idx[p], i)) {
				fprintf(f, "page %zu word %zu: generation %llu expected\n", p, i, (unsigned long long)idx[p]);
				fclose(f);
				return 1;
			}
	fprintf(f, "ok\n%016llx\n", (unsigned long long)token);
	fclose(f);
	return 0;
}
