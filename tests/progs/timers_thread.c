/* timers_thread - POSIX timers that signal a thread (SIGEV_THREAD_ID) in a
 * threaded program.
 * Setup: two worker threads; each creates a periodic CLOCK_MONOTONIC timer
 * (every 5 ms) that signals itself (SIGEV_THREAD_ID, SIGRTMIN+2, handler
 * records the receiving tid); the main thread creates one for worker 2
 * with SIGRTMIN+3, and worker 1 one on its own CPU-time clock
 * (CLOCK_THREAD_CPUTIME_ID, disarmed, so only its clock and notification
 * are checked).
 * Covers, after restore: each timer keeps its id, its target thread
 * (only the target ever receives its signal: the handler checks the tid),
 * and keeps firing (new signals arrive for every armed timer); the CPU-time
 * timer works (timer_gettime), and /proc/self/timers shows every timer as
 * before (id, signal, value, target, clock). */
#include "common.h"
#include <pthread.h>
#include <signal.h>

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

#define NW 2
static pid_t wtid[NW + 1];
static volatile int go, ready_w[NW + 1];
static volatile long hits[NW + 1][2], wrong;
static timer_t own[NW + 1], cross, cputimer;

static void on_sig(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	pid_t me = gettid();
	int who = -1;
	for (int i = 1; i <= NW; i++)
		if (wtid[i] == me)
			who = i;
	int want = si->si_value.sival_int;	/* the index of the target thread */
	if (who < 0 || who != want) {
		wrong++;
		return;
	}
	hits[who][sig == SIGRTMIN + 3]++;
}

static int mk(timer_t *t, clockid_t clk, int sig, pid_t tid, int idx, long period_ns)
{
	struct sigevent se = { 0 };
	se.sigev_notify = SIGEV_THREAD_ID;
	se.sigev_signo = sig;
	se.sigev_notify_thread_id = tid;
	se.sigev_value.sival_int = idx;
	if (timer_create(clk, &se, t) < 0)
		return -1;
	struct itimerspec its = { { 0, period_ns }, { 0, period_ns } };
	return period_ns ? timer_settime(*t, 0, &its, NULL) : 0;
}

static void *worker(void *arg)
{
	int i = (int)(intptr_t)arg;
	wtid[i] = gettid();
	int ok = mk(&own[i], CLOCK_MONOTONIC, SIGRTMIN + 2, wtid[i], i, 5000000) == 0;
	ready_w[i] = ok ? 1 : -1;
	while (!go)
		t_sleep_ms(2);
	return NULL;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	struct sigaction sa = { 0 };
	sa.sa_sigaction = on_sig;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	T_SETUP(sigaction(SIGRTMIN + 2, &sa, NULL) == 0 && sigaction(SIGRTMIN + 3, &sa, NULL) == 0);
	/* the main thread never takes them: only the targets may */
	sigset_t blk;
	sigemptyset(&blk);
	sigaddset(&blk, SIGRTMIN + 2);
	sigaddset(&blk, SIGRTMIN + 3);
	pthread_t th[NW + 1];
	for (int i = 1; i <= NW; i++)
		T_SETUP(pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i) == 0);
	T_SETUP(pthread_sigmask(SIG_BLOCK, &blk, NULL) == 0);
	for (int i = 1; i <= NW; i++) {
		while (!ready_w[i])
			t_sleep_ms(2);
		T_SETUP(ready_w[i] > 0);
	}
	T_SETUP(mk(&cross, CLOCK_MONOTONIC, SIGRTMIN + 3, wtid[2], 2, 7000000) == 0);
	clockid_t w1clock;
	T_SETUP(pthread_getcpuclockid(th[1], &w1clock) == 0);
	T_SETUP(mk(&cputimer, w1clock, SIGRTMIN + 2, wtid[1], 1, 0) == 0);
	char timers_before[4096];
	T_SETUP(t_read_file("/proc/self/timers", timers_before, sizeof timers_before) > 0);

	t_ready();
	t_wait_go();

	long h0[NW + 1][2];
	memcpy(h0, (const void *)hits, sizeof h0);
	t_sleep_ms(200);
	for (int i = 1; i <= NW; i++)
		T_CHECK(hits[i][0] > h0[i][0] + 5, "worker %d: its own timer fired %ld times in 200 ms after restore", i,
			hits[i][0] - h0[i][0]);
	T_CHECK(hits[2][1] > h0[2][1] + 5, "worker 2: the main thread's timer for it fired %ld times in 200 ms",
		hits[2][1] - h0[2][1]);
	T_EQ("signals that reached another thread than their target", wrong, 0);
	struct itimerspec its;
	T_CHECK(timer_gettime(cputimer, &its) == 0, "timer_gettime on the CPU-time timer: %s", strerror(errno));
	char timers_after[4096];
	T_CHECK(t_read_file("/proc/self/timers", timers_after, sizeof timers_after) > 0 &&
			strcmp(timers_after, timers_before) == 0,
		"/proc/self/timers changed:\n%s\nexpected:\n%s", timers_after, timers_before);
	go = 1;
	for (int i = 1; i <= NW; i++)
		T_SETUP(pthread_join(th[i], NULL) == 0);
	t_finish();
}
