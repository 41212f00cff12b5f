/* vdso_none - a program that unmapped its whole vDSO ([vdso], [vvar],
 * [vvar_vclock]), as some sandboxes do: after the restore none of them is
 * mapped (ferry's own, through which it rebuilt the process, is gone too),
 * and the program runs on with plain syscalls. */
#include "common.h"
#include <sys/mman.h>

static const char *const names[] = { "[vvar]", "[vvar_vclock]", "[vdso]" };

int main(int argc, char **argv)
{
	uintptr_t s[3] = { 0 }, e[3] = { 0 };
	t_init(argc, argv);
	for (int k = 0; k < 3; k++)
		if (t_maps_find(names[k], &s[k], &e[k], NULL) == 0)
			T_SETUP(munmap((void *)s[k], e[k] - s[k]) == 0);
	T_SETUP(s[2] != 0);
	/* nanosleep in t_wait_go is a plain syscall; libc's clock_gettime would
	 * fall back to one as well (no AT_SYSINFO_EHDR use after startup) */
	t_ready();
	t_wait_go();
	for (int k = 0; k < 3; k++) {
		uintptr_t a, b;
		T_CHECK(t_maps_find(names[k], &a, &b, NULL) < 0, "%s is mapped after the restore at %lx-%lx", names[k],
			(unsigned long)a, (unsigned long)b);
	}
	struct timespec ts;
	T_CHECK(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) == 0, "clock_gettime syscall failed");
	t_finish();
}
