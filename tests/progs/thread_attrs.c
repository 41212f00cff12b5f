/* thread_attrs - CPU affinity, I/O priority and timer slack, per thread.
 * Covers: the main thread and two others, each with its own values set by
 * itself and checked by itself after restore: affinity (main: every CPU;
 * thread 1: the last CPU only; thread 2: CPU 0 only), ioprio (main: never
 * set, class NONE; thread 1: best-effort 6; thread 2: idle class), timer
 * slack (main 50 us default; thread 1: 123456 ns; thread 2: 7 ms). */
#include "common.h"
#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>

#define IOPRIO_WHO_PROCESS 1
#define PRIO(cls, lvl) ((cls) << 13 | (lvl))

struct want {
	int cpu;		/* -1: every CPU */
	int ioprio;		/* -1: never set */
	long slack;
};
static struct want wants[3];
static volatile int go, set_up[3], failures[3];
static cpu_set_t all;

static int setup(int i)
{
	struct want *w = &wants[i];
	if (w->cpu >= 0) {
		cpu_set_t s;
		CPU_ZERO(&s);
		CPU_SET(w->cpu, &s);
		if (sched_setaffinity(0, sizeof(s), &s) < 0)
			return -1;
	}
	if (w->ioprio >= 0 && syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, w->ioprio) < 0)
		return -1;
	if (prctl(PR_SET_TIMERSLACK, w->slack, 0, 0, 0) < 0)
		return -1;
	return 0;
}

static void check(int i)
{
	struct want *w = &wants[i];
	cpu_set_t got, exp;
	if (w->cpu >= 0) {
		CPU_ZERO(&exp);
		CPU_SET(w->cpu, &exp);
	} else {
		exp = all;
	}
	sched_getaffinity(0, sizeof(got), &got);
	if (!CPU_EQUAL(&got, &exp)) {
		t_note("thread %d: affinity has %d CPUs (first set: %d), expected CPU %d", i, CPU_COUNT(&got),
		       CPU_ISSET(0, &got) ? 0 : 1, w->cpu);
		failures[i]++;
	}
	long io = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0);
	if (io != (w->ioprio < 0 ? 0 : w->ioprio)) {
		t_note("thread %d: ioprio 0x%lx, expected 0x%x", i, io, w->ioprio < 0 ? 0 : w->ioprio);
		failures[i]++;
	}
	long sl = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
	if (sl != w->slack) {
		t_note("thread %d: timer slack %ld, expected %ld", i, sl, w->slack);
		failures[i]++;
	}
	if (sched_getcpu() < 0 || (w->cpu >= 0 && sched_getcpu() != w->cpu)) {
		t_note("thread %d: runs on CPU %d, expected %d", i, sched_getcpu(), w->cpu);
		failures[i]++;
	}
}

static void *worker(void *arg)
{
	int i = (int)(intptr_t)arg;
	set_up[i] = setup(i) < 0 ? -1 : 1;
	while (!go)
		t_sleep_ms(5);
	check(i);
	return NULL;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_SETUP(sched_getaffinity(0, sizeof(all), &all) == 0);
	int last = -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &all))
			last = c;
	T_SETUP(last >= 0);
	wants[0] = (struct want){ -1, -1, 50000 };
	wants[1] = (struct want){ last, PRIO(2, 6), 123456 };
	wants[2] = (struct want){ 0, PRIO(3, 0), 7000000 };
	T_SETUP(CPU_ISSET(0, &all));
	T_SETUP(prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0) == 50000);
	pthread_t th[3];
	for (int i = 1; i < 3; i++)
		T_SETUP(pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i) == 0);
	for (int i = 1; i < 3; i++) {
		while (!set_up[i])
			t_sleep_ms(5);
		T_SETUP(set_up[i] > 0);
	}

	t_ready();
	t_wait_go();

	go = 1;
	check(0);
	for (int i = 1; i < 3; i++)
		T_SETUP(pthread_join(th[i], NULL) == 0);
	for (int i = 0; i < 3; i++)
		T_EQ("mismatches in thread", failures[i], 0);
	t_finish();
}
