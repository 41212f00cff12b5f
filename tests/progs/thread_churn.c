/* thread_churn - threads that come and go all the time, as in a pool that
 * grows and shrinks: some are starting or exiting whenever ferry freezes.
 * Setup: the main thread keeps starting detached threads that each bump a
 * counter and exit, with up to 4 alive at once.
 * Covers: the dumps succeed (a thread that exits while it is being frozen
 * is left out, not an error), the counter advanced between ready and go,
 * the restored process starts and finishes 200 more threads after go, and
 * every thread ever started (those alive at each freeze too) finished:
 * the count of finished threads equals the count started (the runner's
 * timeout bounds the wait, no time is asserted here). */
#include "common.h"
#include <pthread.h>
#include <stdatomic.h>

static atomic_long done, alive, started;

static void *brief(void *arg)
{
	(void)arg;
	atomic_fetch_add(&done, 1);
	atomic_fetch_sub(&alive, 1);
	return NULL;
}

static void spawn(void)
{
	pthread_attr_t at;
	pthread_t th;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	atomic_fetch_add(&alive, 1);
	if (pthread_create(&th, &at, brief, NULL) != 0)
		atomic_fetch_sub(&alive, 1);
	else
		atomic_fetch_add(&started, 1);
	pthread_attr_destroy(&at);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	for (int i = 0; i < 100; i++) {
		while (atomic_load(&alive) >= 4)
			t_sleep_ms(1);
		spawn();
	}
	long at_ready = atomic_load(&done);
	t_ready();
	for (int i = 0; !t_go_exists(); i++) {
		while (atomic_load(&alive) >= 4)
			t_sleep_ms(1);
		spawn();
		if (i % 4 == 0)
			t_sleep_ms(1);
	}
	long at_go = atomic_load(&done);
	for (int i = 0; i < 200; i++) {
		while (atomic_load(&alive) >= 4)
			t_sleep_ms(1);
		spawn();
	}
	while (atomic_load(&alive) > 0)
		t_sleep_ms(1);
	T_CHECK(at_go > at_ready, "no thread ran between ready and go (%ld)", at_go - at_ready);
	T_CHECK(atomic_load(&done) >= at_go + 200, "only %ld threads finished after go, 200 were started",
		atomic_load(&done) - at_go);
	T_EQ("threads finished vs started", atomic_load(&done), atomic_load(&started));
	t_finish();
}
