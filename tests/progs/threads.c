/* threads - 16 threads mutate shared data under a mutex while the process is
 * dumped and restored, and 4 more are parked on a condition variable.
 * Covers: every thread restored with its own TID (gettid matches what it
 * recorded), registers and TLS (a __thread value per thread), mutexes and
 * condvars working across restore (the invariant sum == counter holds, the
 * parked threads wake on broadcast), thread names, threads blocked in futex
 * waits and in nanosleep. */
#include "common.h"
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#define WORKERS 16
#define PARKED 4

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long counter, per[WORKERS];
static int stop, woken;
static pid_t tids[WORKERS + PARKED];
static __thread long tls_id = -1;
static long tls_seen[WORKERS + PARKED];
static pid_t tid_seen[WORKERS + PARKED];
static char names_ok[WORKERS + PARKED];

static void name_self(long id)
{
	char n[16], got[16] = "";
	snprintf(n, sizeof n, "worker-%ld", id);
	prctl(PR_SET_NAME, n);
	(void)got;
}

static int name_is(long id)
{
	char n[16], got[17] = "";
	snprintf(n, sizeof n, "worker-%ld", id);
	prctl(PR_GET_NAME, got);
	return !strcmp(n, got);
}

static void *worker(void *a)
{
	long id = (long)a;
	tls_id = id;
	tids[id] = syscall(SYS_gettid);
	name_self(id);
	for (;;) {
		pthread_mutex_lock(&m);
		if (stop) {
			pthread_mutex_unlock(&m);
			break;
		}
		counter++;
		per[id]++;
		pthread_mutex_unlock(&m);
		if (id % 4 == 0)
			t_sleep_ms(1);	/* some threads sit in nanosleep */
	}
	tls_seen[id] = tls_id;
	tid_seen[id] = syscall(SYS_gettid);
	names_ok[id] = name_is(id);
	return NULL;
}

static void *parked(void *a)
{
	long id = (long)a;
	tls_id = id;
	tids[id] = syscall(SYS_gettid);
	name_self(id);
	pthread_mutex_lock(&m);
	while (!stop)
		pthread_cond_wait(&cv, &m);
	woken++;
	pthread_mutex_unlock(&m);
	tls_seen[id] = tls_id;
	tid_seen[id] = syscall(SYS_gettid);
	names_ok[id] = name_is(id);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[WORKERS + PARKED];
	long before;
	t_init(argc, argv);
	for (long i = 0; i < WORKERS; i++)
		T_SETUP(pthread_create(&t[i], NULL, worker, (void *)i) == 0);
	for (long i = WORKERS; i < WORKERS + PARKED; i++)
		T_SETUP(pthread_create(&t[i], NULL, parked, (void *)i) == 0);
	t_sleep_ms(200);
	pthread_mutex_lock(&m);
	before = counter;
	pthread_mutex_unlock(&m);
	t_ready();
	t_wait_go();
	pthread_mutex_lock(&m);
	T_CHECK(counter > before, "counter did not advance after restore (%ld)", counter);
	stop = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&m);
	for (int i = 0; i < WORKERS + PARKED; i++)
		T_SETUP(pthread_join(t[i], NULL) == 0);
	long sum = 0;
	for (int i = 0; i < WORKERS; i++)
		sum += per[i];
	T_EQ("sum of per-thread counts", sum, counter);
	T_EQ("parked threads woken", woken, PARKED);
	for (int i = 0; i < WORKERS + PARKED; i++) {
		T_EQ("TLS value of a thread", tls_seen[i], i);
		T_EQ("TID of a thread", tid_seen[i], tids[i]);
		T_CHECK(names_ok[i], "thread %d lost its name", i);
	}
	t_finish();
}
