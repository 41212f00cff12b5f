/* timers - interval timers and POSIX timers armed across the dump/restore.
 * Covers: ITIMER_REAL fires (SIGALRM) after restore, not before its time;
 * ITIMER_VIRTUAL keeps its remaining CPU time; POSIX timers keep their ids
 * (with a gap: one deleted), clocks, notification (signal with sigev_value,
 * none) and remaining time; a periodic POSIX timer keeps firing with its
 * interval after restore. */
#include "common.h"
#include <signal.h>
#include <sys/time.h>
#include <time.h>

static volatile int alrm, usr2;
static volatile long usr2_val = -1;

static void on_alrm(int s)
{
	(void)s;
	alrm++;
}

static void on_usr2(int s, siginfo_t *si, void *u)
{
	(void)s;
	(void)u;
	usr2++;
	usr2_val = si->si_value.sival_int;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	struct sigaction sa = { .sa_handler = on_alrm };
	struct sigaction sb = { .sa_sigaction = on_usr2, .sa_flags = SA_SIGINFO | SA_RESTART };
	timer_t t0, t1, t2;
	struct sigevent se = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR2, .sigev_value.sival_int = 77 };
	struct sigevent sn = { .sigev_notify = SIGEV_NONE };
	struct itimerval it = { .it_value = { 3, 0 } }, iv = { .it_value = { 500, 0 } }, got;
	struct itimerspec ts = { .it_value = { 3, 0 }, .it_interval = { 0, 50000000 } }, tn = { .it_value = { 100, 0 } }, g;

	T_SETUP(sigaction(SIGALRM, &sa, NULL) == 0 && sigaction(SIGUSR2, &sb, NULL) == 0);
	T_SETUP(timer_create(CLOCK_MONOTONIC, &sn, &t0) == 0);
	T_SETUP(timer_create(CLOCK_MONOTONIC, &sn, &t1) == 0);
	T_SETUP(timer_create(CLOCK_MONOTONIC, &se, &t2) == 0);
	T_SETUP(timer_delete(t1) == 0);
	T_SETUP(timer_settime(t0, 0, &tn, NULL) == 0 && timer_settime(t2, 0, &ts, NULL) == 0);
	T_SETUP(setitimer(ITIMER_REAL, &it, NULL) == 0 && setitimer(ITIMER_VIRTUAL, &iv, NULL) == 0);
	int64_t start = t_now_ns(CLOCK_MONOTONIC);
	t_ready();
	t_wait_go();
	int64_t lived = t_now_ns(CLOCK_MONOTONIC) - start;
	if (lived < 2900000000LL) {
		T_EQ("SIGALRM before its time", alrm, 0);
		T_EQ("timer signal before its time", usr2, 0);
	}
	T_CHECK(getitimer(ITIMER_VIRTUAL, &got) == 0 && got.it_value.tv_sec >= 490 && got.it_value.tv_sec <= 500,
		"ITIMER_VIRTUAL remaining %ld s, expected about 500", (long)got.it_value.tv_sec);
	T_CHECK(timer_gettime(t0, &g) == 0 && g.it_value.tv_sec > 80 && g.it_value.tv_sec <= 100,
		"POSIX timer %p remaining %ld s, expected a bit under 100", (void *)t0, (long)g.it_value.tv_sec);
	T_CHECK(timer_gettime(t2, &g) == 0, "POSIX timer %p is gone: %s", (void *)t2, strerror(errno));
	T_CHECK(timer_gettime(t1, &g) < 0, "the deleted POSIX timer %p came back", (void *)t1);
	int64_t deadline = t_now_ns(CLOCK_MONOTONIC) + 6000000000LL;
	while ((alrm < 1 || usr2 < 3) && t_now_ns(CLOCK_MONOTONIC) < deadline)
		t_sleep_ms(10);
	T_EQ("SIGALRM deliveries", alrm, 1);
	T_CHECK(usr2 >= 3, "periodic POSIX timer fired %d times, expected several", usr2);
	T_EQ("sigev_value of the timer signal", usr2_val, 77);
	t_finish();
}
