/* timers - interval timers and POSIX timers armed across the dump/restore.
 * A restore gives each timer the time it had left (time spent frozen does
 * not count), so after restore a timer's time left is at most what it was
 * at ready, and at least that less the time since (CLOCK_MONOTONIC, taken
 * before the time left at ready was; CPU time for the CPU-time timers is
 * less than that; they get 20 ms of slack for the tick-based accounting,
 * the others 1 ms for rounding).  Each timer below has a time left at
 * ready distinct from its interval and from the value it was armed with (the process
 * burns 100 ms of CPU time first), so a timer re-armed with its interval or
 * from the start is caught, on a machine of any speed.
 * Covers: ITIMER_REAL (3 s) fires (SIGALRM) once after restore, and if it
 * had fired by go, at least its time left at ready had passed, else its
 * time left is bounded as above; ITIMER_VIRTUAL (500 s, interval 900 s)
 * and ITIMER_PROF (400 s, interval 800 s) keep their time left and
 * interval; POSIX timers keep their ids (with a gap: one deleted), clocks,
 * notification (signal with sigev_value, none), time left and interval
 * (t0: 100 s, interval 250 s); the periodic POSIX timer t2 (3 s, then every
 * 50 ms) is bounded like ITIMER_REAL and keeps firing with its interval. */
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

static int64_t tv_ns(struct timeval t)
{
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_usec * 1000LL;
}

static int64_t ts_ns(struct timespec t)
{
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int64_t ready_at; /* CLOCK_MONOTONIC, before any time left was sampled */

/* time left `left` (sampled after left0), interval: see the header.  The
 * CPU-time timers are sampled from the scheduler's per-tick accounting:
 * their time left may read a few ms apart from one sample to the next */
#define CPU_SLACK 20000000LL
static void check_left(const char *what, int64_t left, int64_t left0, int64_t interval, int64_t want_interval,
		       int64_t slack)
{
	int64_t since = t_now_ns(CLOCK_MONOTONIC) - ready_at;
	T_CHECK(left > 0 && left <= left0 + slack && left >= left0 - since - slack,
		"%s: %.6f s left, expected in [%.6f, %.6f] (%.6f s left at ready, %.6f s since)", what, left / 1e9,
		(left0 - since) / 1e9, left0 / 1e9, left0 / 1e9, since / 1e9);
	T_CHECK(interval == want_interval, "%s: interval %lld ns, expected %lld", what, (long long)interval,
		(long long)want_interval);
}

static int64_t itimer_left(int which, int64_t *interval)
{
	struct itimerval got;
	T_SETUP(getitimer(which, &got) == 0);
	if (interval)
		*interval = tv_ns(got.it_interval);
	return tv_ns(got.it_value);
}

static int64_t ptimer_left(timer_t t, int64_t *interval)
{
	struct itimerspec g;
	T_SETUP(timer_gettime(t, &g) == 0);
	if (interval)
		*interval = ts_ns(g.it_interval);
	return ts_ns(g.it_value);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	struct sigaction sa = { .sa_handler = on_alrm };
	struct sigaction sb = { .sa_sigaction = on_usr2, .sa_flags = SA_SIGINFO | SA_RESTART };
	timer_t t0, t1, t2;
	struct sigevent se = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR2, .sigev_value.sival_int = 77 };
	struct sigevent sn = { .sigev_notify = SIGEV_NONE };
	struct itimerval it = { .it_value = { 3, 0 } };
	struct itimerval iv = { .it_value = { 500, 0 }, .it_interval = { 900, 0 } };
	struct itimerval ip = { .it_value = { 400, 0 }, .it_interval = { 800, 0 } };
	struct itimerspec ts = { .it_value = { 3, 0 }, .it_interval = { 0, 50000000 } };
	struct itimerspec tn = { .it_value = { 100, 0 }, .it_interval = { 250, 0 } }, g;

	T_SETUP(sigaction(SIGALRM, &sa, NULL) == 0 && sigaction(SIGUSR2, &sb, NULL) == 0);
	T_SETUP(timer_create(CLOCK_MONOTONIC, &sn, &t0) == 0);
	T_SETUP(timer_create(CLOCK_MONOTONIC, &sn, &t1) == 0);
	T_SETUP(timer_create(CLOCK_MONOTONIC, &se, &t2) == 0);
	T_SETUP(timer_delete(t1) == 0);
	T_SETUP(timer_settime(t0, 0, &tn, NULL) == 0 && timer_settime(t2, 0, &ts, NULL) == 0);
	T_SETUP(setitimer(ITIMER_REAL, &it, NULL) == 0 && setitimer(ITIMER_VIRTUAL, &iv, NULL) == 0 &&
		setitimer(ITIMER_PROF, &ip, NULL) == 0);
	/* burn user CPU time until the CPU-time timers' time left is well
	 * (more than the slack below) under the value they were armed with */
	for (volatile uint64_t x = 0;; x++)
		if (x % 100000 == 0 && itimer_left(ITIMER_VIRTUAL, NULL) < 500000000000LL - 5 * CPU_SLACK &&
		    itimer_left(ITIMER_PROF, NULL) < 400000000000LL - 5 * CPU_SLACK)
			break;
	ready_at = t_now_ns(CLOCK_MONOTONIC);
	int64_t real0 = itimer_left(ITIMER_REAL, NULL), virt0 = itimer_left(ITIMER_VIRTUAL, NULL);
	int64_t prof0 = itimer_left(ITIMER_PROF, NULL), t0_0 = ptimer_left(t0, NULL), t2_0 = ptimer_left(t2, NULL);
	t_ready();
	t_wait_go();

	/* with the timer signals held, a timer read as not yet fired is not
	 * fired by the time it is checked */
	sigset_t hold, pend;
	sigemptyset(&hold);
	sigaddset(&hold, SIGALRM);
	sigaddset(&hold, SIGUSR2);
	T_SETUP(sigprocmask(SIG_BLOCK, &hold, NULL) == 0);
	int64_t interval, t2_interval, left, t2_left = ptimer_left(t2, &t2_interval);
	int64_t real_left = itimer_left(ITIMER_REAL, NULL);
	T_SETUP(sigpending(&pend) == 0);
	int64_t since = t_now_ns(CLOCK_MONOTONIC) - ready_at;
	/* fired: not before its time; not yet: a bounded time left */
	if (alrm || sigismember(&pend, SIGALRM))
		T_CHECK(since >= real0, "SIGALRM %.3f s after ready, before the %.3f s left", since / 1e9, real0 / 1e9);
	else
		check_left("ITIMER_REAL", real_left, real0, 0, 0, 1000000);
	if (usr2 || sigismember(&pend, SIGUSR2))
		T_CHECK(since >= t2_0, "timer signal %.3f s after ready, before the %.3f s left", since / 1e9,
			t2_0 / 1e9);
	else
		check_left("POSIX timer t2", t2_left, t2_0, t2_interval, 50000000, 1000000);
	left = itimer_left(ITIMER_VIRTUAL, &interval);
	check_left("ITIMER_VIRTUAL", left, virt0, interval, 900000000000LL, CPU_SLACK);
	left = itimer_left(ITIMER_PROF, &interval);
	check_left("ITIMER_PROF", left, prof0, interval, 800000000000LL, CPU_SLACK);
	left = ptimer_left(t0, &interval);
	check_left("POSIX timer t0", left, t0_0, interval, 250000000000LL, 1000000);
	T_SETUP(sigprocmask(SIG_UNBLOCK, &hold, NULL) == 0);
	T_CHECK(timer_gettime(t1, &g) < 0, "the deleted POSIX timer %p came back", (void *)t1);
	/* 30 s bounds a lost timer, it does not measure precision */
	int64_t deadline = t_now_ns(CLOCK_MONOTONIC) + 30000000000LL;
	while ((alrm < 1 || usr2 < 3) && t_now_ns(CLOCK_MONOTONIC) < deadline)
		t_sleep_ms(10);
	T_EQ("SIGALRM deliveries", alrm, 1);
	T_CHECK(usr2 >= 3, "periodic POSIX timer fired %d times, expected several", usr2);
	T_EQ("sigev_value of the timer signal", usr2_val, 77);
	T_CHECK(ptimer_left(t2, &interval) > 0 && interval == 50000000, "t2 after firing: interval %lld ns",
		(long long)interval);
	t_finish();
}
