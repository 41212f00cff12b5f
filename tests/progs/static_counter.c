/* static_counter - the counter workload, statically linked (no ld.so, no
 * shared libraries; libc's vDSO use and TLS set up by the static startup).
 * Covers: the same as counter.c (4 agreeing counter copies advancing every
 * 1 ms, monotonic time, 8 MiB array checksum) plus: no shared objects are
 * mapped after restore either. */
#define T_COUNTER
#include "common.h"

static int count_libs(void)
{
	static char buf[1 << 20];
	if (t_read_file("/proc/self/maps", buf, sizeof buf) < 0)
		return -1;
	int n = 0;
	for (char *p = buf; (p = strstr(p, ".so")); p += 3)
		n++;
	return n;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_SETUP(count_libs() == 0);
	struct t_counter c;
	t_counter_setup(&c);
	t_counter_run(&c);
	t_counter_verify(&c);
	T_EQ("shared objects mapped", count_libs(), 0);
	t_finish();
}
