/* sched_attrs - scheduling policy, priority and nice value per thread.
 * Covers: seven threads, one per policy sched_setattr offers, each checking
 * its own after restore with sched_getattr(0) (policy, priority, nice,
 * flags, DEADLINE runtime/deadline/period) and getpriority(PRIO_PROCESS,
 * gettid()): SCHED_OTHER nice 7, SCHED_BATCH nice 3, SCHED_IDLE nice 11,
 * SCHED_FIFO priority 7 with reset-on-fork (and nice 4, kept under it),
 * SCHED_RR priority 3, SCHED_DEADLINE 1 ms every 50 ms, and the main thread
 * at SCHED_OTHER nice 2.  A thread whose policy the machine refuses (no
 * CAP_SYS_NICE, DEADLINE admission control) fails the setup, naming it. */
#include "common.h"
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>

/* the kernel's struct sched_attr (linux/sched/types.h clashes with sched.h) */
struct sched_attr {
	uint32_t size, sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime, sched_deadline, sched_period;
	uint32_t sched_util_min, sched_util_max;
};
#define SCHED_NORMAL 0
#ifndef SCHED_DEADLINE
#define SCHED_DEADLINE 6
#endif
#define SCHED_FLAG_RESET_ON_FORK 1

struct want {
	const char *name;
	struct sched_attr a;
	int pre_nice;		/* set under SCHED_OTHER first (kept by RT policies) */
};

static struct want wants[] = {
	{ "other", { .sched_policy = SCHED_NORMAL, .sched_nice = 7 }, 0 },
	{ "batch", { .sched_policy = SCHED_BATCH, .sched_nice = 3 }, 0 },
	{ "idle", { .sched_policy = SCHED_IDLE }, 11 },
	{ "fifo", { .sched_policy = SCHED_FIFO, .sched_priority = 7, .sched_flags = SCHED_FLAG_RESET_ON_FORK }, 4 },
	{ "rr", { .sched_policy = SCHED_RR, .sched_priority = 3 }, 0 },
	{ "deadline", { .sched_policy = SCHED_DEADLINE, .sched_runtime = 1000000, .sched_deadline = 50000000,
			.sched_period = 50000000 }, 0 },
};
#define NT (int)(sizeof(wants) / sizeof(wants[0]))

static volatile int go, set_up[NT], failures[NT];

static int setattr(struct sched_attr *a)
{
	a->size = sizeof(*a);
	return syscall(SYS_sched_setattr, 0, a, 0);
}

static void check(int i)
{
	struct want *w = &wants[i];
	struct sched_attr got = { 0 };
	if (syscall(SYS_sched_getattr, 0, &got, sizeof(got), 0) < 0) {
		t_note("%s: sched_getattr: %s", w->name, strerror(errno));
		failures[i]++;
		return;
	}
	int fair = w->a.sched_policy == SCHED_NORMAL || w->a.sched_policy == SCHED_BATCH;
	int nice = fair ? w->a.sched_nice : w->pre_nice;
	errno = 0;
	int prio = getpriority(PRIO_PROCESS, gettid());
#define C(cond, ...) do { if (!(cond)) { t_note(__VA_ARGS__); failures[i]++; } } while (0)
	C(got.sched_policy == w->a.sched_policy, "%s: policy %u, expected %u", w->name, got.sched_policy,
	  w->a.sched_policy);
	C(got.sched_priority == w->a.sched_priority, "%s: priority %u, expected %u", w->name, got.sched_priority,
	  w->a.sched_priority);
	C((got.sched_flags & SCHED_FLAG_RESET_ON_FORK) == (w->a.sched_flags & SCHED_FLAG_RESET_ON_FORK),
	  "%s: flags 0x%llx, expected 0x%llx", w->name, (unsigned long long)got.sched_flags,
	  (unsigned long long)w->a.sched_flags);
	C((!fair || got.sched_nice == nice) && prio == nice, "%s: nice %d (getpriority %d), expected %d", w->name,
	  got.sched_nice, prio, nice);
	/* (under a fair policy sched_runtime is the EEVDF slice) */
	C(w->a.sched_policy != SCHED_DEADLINE || (got.sched_runtime == w->a.sched_runtime &&
						   got.sched_deadline == w->a.sched_deadline &&
						   got.sched_period == w->a.sched_period),
	  "%s: runtime/deadline/period %llu/%llu/%llu, expected %llu/%llu/%llu", w->name,
	  (unsigned long long)got.sched_runtime, (unsigned long long)got.sched_deadline,
	  (unsigned long long)got.sched_period, (unsigned long long)w->a.sched_runtime,
	  (unsigned long long)w->a.sched_deadline, (unsigned long long)w->a.sched_period);
#undef C
}

static void *worker(void *arg)
{
	int i = (int)(intptr_t)arg;
	struct want *w = &wants[i];
	if (w->pre_nice) {
		struct sched_attr n = { .sched_policy = SCHED_NORMAL, .sched_nice = w->pre_nice };
		if (setattr(&n) < 0) {
			t_note("%s: nice %d: %s", w->name, w->pre_nice, strerror(errno));
			set_up[i] = -1;
			return NULL;
		}
	}
	struct sched_attr a = w->a;
	if (setattr(&a) < 0) {
		t_note("%s: sched_setattr: %s", w->name, strerror(errno));
		set_up[i] = -1;
		return NULL;
	}
	set_up[i] = 1;
	while (!go)
		t_sleep_ms(5);
	check(i);
	return NULL;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	pthread_t th[NT];
	for (int i = 0; i < NT; i++)
		T_SETUP(pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i) == 0);
	for (int i = 0; i < NT; i++) {
		while (!set_up[i])
			t_sleep_ms(5);
		if (set_up[i] < 0) {
			t_note("cannot set up thread %s (see above)", wants[i].name);
			exit(1);
		}
	}
	T_SETUP(setpriority(PRIO_PROCESS, gettid(), 2) == 0);

	t_ready();
	t_wait_go();

	go = 1;
	for (int i = 0; i < NT; i++) {
		T_SETUP(pthread_join(th[i], NULL) == 0);
		T_EQ(wants[i].name, failures[i], 0);
	}
	T_EQ("main thread policy", sched_getscheduler(0), SCHED_OTHER);
	errno = 0;
	T_EQ("main thread nice", getpriority(PRIO_PROCESS, gettid()), 2);
	t_finish();
}
