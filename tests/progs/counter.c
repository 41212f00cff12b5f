/* counter - a simple, dynamically linked workload.
 * Covers: a counter kept in .data, heap, stack and an anonymous mapping,
 * incremented together every 1 ms (all copies must agree in every round,
 * CLOCK_MONOTONIC never goes back, the counter advanced between ready and
 * go), and an 8 MiB .bss array whose checksum must be unchanged.
 * The runner uses it for the 5-dumps-in-a-row test, `ferry show`, and the
 * negative tests (corrupt images, wrong version, taken PID). */
#define T_COUNTER
#include "common.h"

int main(int argc, char **argv)
{
	t_init(argc, argv);
	struct t_counter c;
	t_counter_setup(&c);
	t_counter_run(&c);
	t_counter_verify(&c);
	t_finish();
}
