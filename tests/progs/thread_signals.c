/* thread_signals - per-thread signal state in a multi-threaded process.
 * Covers: each thread's own blocked mask, a thread-directed pending signal
 * (pthread_kill while blocked) pending in that thread only and delivered
 * there once unblocked, each thread's own sigaltstack, and a process-wide
 * pending signal. */
#include "common.h"
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>

#define N 3
static pthread_barrier_t bar;
static volatile int got[N];
static volatile pid_t handled_by;
static char stacks[N][65536];
static int ok_mask[N], ok_pend[N], ok_alt[N];
static pid_t tids[N];

static void on_usr1(int s)
{
	(void)s;
	handled_by = syscall(SYS_gettid);
}

static void *thr(void *a)
{
	long i = (long)a;
	sigset_t m, cur, pend;
	stack_t ss = { .ss_sp = stacks[i], .ss_size = sizeof stacks[i] }, now;
	tids[i] = syscall(SYS_gettid);
	sigemptyset(&m);
	sigaddset(&m, SIGRTMIN + (int)i);	/* a different mask per thread */
	sigaddset(&m, SIGUSR1);
	sigaddset(&m, SIGUSR2);	/* blocked everywhere: it stays pending process-wide */
	pthread_sigmask(SIG_SETMASK, &m, NULL);
	sigaltstack(&ss, NULL);
	pthread_barrier_wait(&bar);	/* masks set */
	pthread_barrier_wait(&bar);	/* thread 1 has its pending signal */
	t_wait_go();
	pthread_sigmask(SIG_SETMASK, NULL, &cur);
	ok_mask[i] = sigismember(&cur, SIGRTMIN + (int)i) && !sigismember(&cur, SIGRTMIN + (int)((i + 1) % N));
	sigpending(&pend);
	ok_pend[i] = sigismember(&pend, SIGUSR1) == (i == 1);
	sigaltstack(NULL, &now);
	ok_alt[i] = now.ss_sp == stacks[i] && now.ss_size == sizeof stacks[i];
	pthread_barrier_wait(&bar);	/* all checked */
	if (i == 1) {
		sigset_t u;
		sigemptyset(&u);
		sigaddset(&u, SIGUSR1);
		pthread_sigmask(SIG_UNBLOCK, &u, NULL);	/* delivered here */
	}
	return NULL;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	pthread_t t[N];
	sigset_t m;
	struct sigaction sa = { .sa_handler = on_usr1 };
	T_SETUP(sigaction(SIGUSR1, &sa, NULL) == 0);
	sigemptyset(&m);
	sigaddset(&m, SIGUSR2);
	T_SETUP(sigprocmask(SIG_BLOCK, &m, NULL) == 0);	/* inherited by the threads */
	T_SETUP(pthread_barrier_init(&bar, NULL, N + 1) == 0);
	for (long i = 0; i < N; i++)
		T_SETUP(pthread_create(&t[i], NULL, thr, (void *)i) == 0);
	pthread_barrier_wait(&bar);
	T_SETUP(pthread_kill(t[1], SIGUSR1) == 0);
	T_SETUP(kill(getpid(), SIGUSR2) == 0);	/* process-wide, blocked everywhere */
	pthread_barrier_wait(&bar);
	t_ready();
	t_wait_go();
	pthread_barrier_wait(&bar);
	for (int i = 0; i < N; i++)
		T_SETUP(pthread_join(t[i], NULL) == 0);
	for (int i = 0; i < N; i++) {
		T_CHECK(ok_mask[i], "thread %d lost its own signal mask", i);
		T_CHECK(ok_pend[i], "thread %d: wrong pending signals", i);
		T_CHECK(ok_alt[i], "thread %d lost its sigaltstack", i);
	}
	T_EQ("thread that handled its thread-directed SIGUSR1", handled_by, tids[1]);
	sigset_t pend;
	sigpending(&pend);
	T_CHECK(sigismember(&pend, SIGUSR2), "the process-wide pending SIGUSR2 is gone");
	t_finish();
}
