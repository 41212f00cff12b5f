/* vdso_moved - a vDSO the program moved with mremap.
 * The program moves its [vvar], [vvar_vclock] and [vdso] together (as one
 * block, so the vDSO code still finds its data) to another address, as
 * CRIU-restored programs and some sandboxes do; after the restore the
 * three are at the moved addresses, no copy is left at the old ones, and
 * clock_gettime called through the moved vDSO agrees with the syscall. */
#include "common.h"
#include <elf.h>
#include <sys/mman.h>

static const char *const names[] = { "[vvar]", "[vvar_vclock]", "[vdso]" };

/* __vdso_clock_gettime in the vDSO image at base (dynamic symbol table). */
static void *vdso_sym(uintptr_t base, const char *name)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff);
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(base + eh->e_shoff);
	uintptr_t bias = 0;
	for (int i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD) {
			bias = base + ph[i].p_offset - ph[i].p_vaddr;
			break;
		}
	for (int i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type != SHT_DYNSYM)
			continue;
		const Elf64_Sym *sym = (const Elf64_Sym *)(base + sh[i].sh_offset);
		const char *str = (const char *)(base + sh[sh[i].sh_link].sh_offset);
		for (size_t j = 0; j < sh[i].sh_size / sizeof(*sym); j++)
			if (sym[j].st_name && !strcmp(str + sym[j].st_name, name))
				return (void *)(bias + sym[j].st_value);
	}
	return NULL;
}

static void check_clock(uintptr_t vdso, const char *when)
{
	int (*cgt)(clockid_t, struct timespec *) = (int (*)(clockid_t, struct timespec *))vdso_sym(vdso, "__vdso_clock_gettime");
	struct timespec a, v, b;
	T_CHECK(cgt != NULL, "%s: no __vdso_clock_gettime", when);
	if (!cgt)
		return;
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &a);
	int r = cgt(CLOCK_MONOTONIC, &v);
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &b);
	int64_t na = a.tv_sec * 1000000000LL + a.tv_nsec, nv = v.tv_sec * 1000000000LL + v.tv_nsec,
		nb = b.tv_sec * 1000000000LL + b.tv_nsec;
	T_CHECK(r == 0 && nv >= na && nv <= nb, "%s: vDSO clock_gettime %lld not within [%lld, %lld]", when,
		(long long)nv, (long long)na, (long long)nb);
}

int main(int argc, char **argv)
{
	uintptr_t s[3] = { 0 }, e[3] = { 0 }, lo = UINTPTR_MAX, hi = 0;
	t_init(argc, argv);
	for (int k = 0; k < 3; k++)
		if (t_maps_find(names[k], &s[k], &e[k], NULL) == 0) {
			lo = s[k] < lo ? s[k] : lo;
			hi = e[k] > hi ? e[k] : hi;
		}
	T_SETUP(s[2] && hi > lo);
	/* a free range far from the old one, then each part moved by the same offset */
	uint8_t *to = mmap(NULL, hi - lo + (64 << 20), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	T_SETUP(to != MAP_FAILED);
	uintptr_t base = ((uintptr_t)to + (32 << 20)) & ~0xfffUL;
	T_SETUP(munmap(to, hi - lo + (64 << 20)) == 0);
	for (int k = 0; k < 3; k++)
		if (s[k])
			T_SETUP(mremap((void *)s[k], e[k] - s[k], e[k] - s[k], MREMAP_MAYMOVE | MREMAP_FIXED,
				       (void *)(base + (s[k] - lo))) == (void *)(base + (s[k] - lo)));
	uintptr_t ns[3], ne[3];
	for (int k = 0; k < 3; k++) {
		ns[k] = ne[k] = 0;
		if (s[k])
			T_SETUP(t_maps_find(names[k], &ns[k], &ne[k], NULL) == 0 && ns[k] == base + (s[k] - lo));
	}
	check_clock(ns[2], "before dump");
	T_SETUP(t_failures == 0);

	t_ready();
	t_wait_go();

	for (int k = 0; k < 3; k++) {
		uintptr_t a = 0, b = 0;
		int have = t_maps_find(names[k], &a, &b, NULL) == 0;
		T_CHECK(have == !!s[k], "%s %s after restore", names[k], have ? "appeared" : "missing");
		if (have && s[k])
			T_CHECK(a == ns[k] && b == ne[k], "%s at %lx-%lx, moved to %lx-%lx before the dump", names[k],
				(unsigned long)a, (unsigned long)b, (unsigned long)ns[k], (unsigned long)ne[k]);
	}
	char old[512];
	t_maps_range(lo, hi, old, sizeof old);
	T_STREQ("mappings left at the vDSO's first address", old, "");
	check_clock(ns[2], "after restore");
	t_finish();
}
