/* vdso_unmapped - a vDSO of which the program unmapped a part.
 * The program unmaps [vvar_vclock] (or, where the kernel has none, the
 * last page of [vvar]) and, where the kernel lets it split the mapping, the
 * last page of a [vdso] of more than one page (ferry's remote syscalls may
 * run from that page: it must go last), and leaves the rest; after the restore the same
 * parts are mapped at the same addresses and the unmapped part stays
 * unmapped.  (No vDSO time call is made: without its data pages the vDSO
 * may fault, which is the program's business.) */
#include "common.h"
#include <sys/mman.h>

static const char *const names[] = { "[vvar]", "[vvar_vclock]", "[vdso]" };

int main(int argc, char **argv)
{
	uintptr_t s[3] = { 0 }, e[3] = { 0 }, gone_s, gone_e;
	char before[1024], after[1024];
	t_init(argc, argv);
	for (int k = 0; k < 3; k++)
		t_maps_find(names[k], &s[k], &e[k], NULL);
	T_SETUP(s[0] && s[2]);
	if (s[1]) {
		gone_s = s[1];
		gone_e = e[1];
	} else {
		gone_s = e[0] - 4096;
		gone_e = e[0];
	}
	T_SETUP(munmap((void *)gone_s, gone_e - gone_s) == 0);
	uintptr_t vdso_gone = 0;
	if (e[2] - s[2] > 4096) {
		vdso_gone = e[2] - 4096;
		if (munmap((void *)vdso_gone, 4096) < 0) {
			/* special mappings refuse to be split on newer kernels */
			T_SETUP(errno == EINVAL);
			vdso_gone = 0;
		}
	}
	uintptr_t lo = s[0] < s[2] ? s[0] : s[2], hi = e[0] > e[2] ? e[0] : e[2];
	if (s[1] && e[1] > hi)
		hi = e[1];
	t_maps_range(lo, hi, before, sizeof before);
	T_SETUP(before[0]);

	t_ready();
	t_wait_go();

	t_maps_range(lo, hi, after, sizeof after);
	T_STREQ("the vDSO's mappings", after, before);
	char gone[256];
	t_maps_range(gone_s, gone_e, gone, sizeof gone);
	T_STREQ("the unmapped part", gone, "");
	uintptr_t a, b;
	T_CHECK(t_maps_find("[vdso]", &a, &b, NULL) == 0 && a == s[2] && b == (vdso_gone ? vdso_gone : e[2]),
		"[vdso] moved or missing");
	if (vdso_gone) {
		t_maps_range(vdso_gone, vdso_gone + 4096, gone, sizeof gone);
		T_STREQ("the unmapped page of [vdso]", gone, "");
	}
	t_finish();
}
