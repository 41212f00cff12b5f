/* block_nanosleep - restore of a process in the middle of a long sleep.
 * Usage: block_nanosleep WORKDIR [SECONDS]   (default 600)
 * Trigger: SIGUSR1 (the runner sends it once the restored process is back
 * in the sleep).  The dump/restore cycles happen while the program is inside
 * one nanosleep({SECONDS}) right after ready; a dump interrupts it, and the
 * restore starts the call over with its arguments (the kernel's restart
 * state cannot be carried: it then sleeps at least as long as asked).  The
 * signal ends the sleep: a handler notes it, and nanosleep returns EINTR;
 * the retry loop covers an EINTR without the signal.
 * Covers: the sleep resumes after each restore (the runner sees the process
 * blocked in it again), it never ends before the signal (the remaining time
 * was not lost or cut short), the time slept plus the time left when the
 * signal came is at least SECONDS (no time lost), EINTR with the signal
 * noted, and a memory pattern intact. */
#include "common.h"
#include <signal.h>

static volatile sig_atomic_t woken;
static void on_usr1(int s)
{
	(void)s;
	woken = 1;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	static uint8_t pat[65536];
	t_fill(pat, sizeof pat, 45);

	int secs = argc > 2 ? atoi(argv[2]) : 600;
	T_SETUP(secs > 0);
	struct sigaction sa = { .sa_handler = on_usr1 }; /* no SA_RESTART */
	T_SETUP(sigaction(SIGUSR1, &sa, NULL) == 0);
	int64_t t0 = t_now_ns(CLOCK_MONOTONIC);
	t_ready();
	struct timespec req = { secs, 0 }, rem = { 0, 0 };
	int eintr = 0, r;
	for (;;) {
		rem = req;
		errno = 0;
		r = nanosleep(&req, &rem);
		if (r == 0 || errno != EINTR || woken)
			break;
		eintr++;
		req = rem;
	}
	int err = errno;
	int64_t t1 = t_now_ns(CLOCK_MONOTONIC);

	/* --- verify ------------------------------------------------------- */
	T_CHECK(r == -1 && err == EINTR && woken, "the sleep ended before the signal: nanosleep %d, errno %d (%s)",
		r, err, strerror(err));
	int64_t el = t1 - t0, left = (int64_t)rem.tv_sec * 1000000000LL + rem.tv_nsec;
	T_CHECK(left > 0 && left < secs * 1000000000LL, "%.3f s left of %d s when the signal came", left / 1e9, secs);
	T_CHECK(el + left >= secs * 1000000000LL - 1000000,
		"slept %.3f s with %.3f s left: %.3f s of the %d s were lost", el / 1e9, left / 1e9,
		(secs * 1000000000LL - el - left) / 1e9, secs);
	t_note("slept %.3f s, %.3f s left, %d EINTR retries", el / 1e9, left / 1e9, eintr);
	T_CHECK(t_verify(pat, sizeof pat, 45) < 0, "memory pattern differs");
	t_finish();
}
