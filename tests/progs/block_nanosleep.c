/* block_nanosleep - restore of a process in the middle of a long sleep.
 * Usage: block_nanosleep WORKDIR [SECONDS]   (default 3)
 * Trigger: WORKDIR/go (as usual), but the dump/restore cycles happen while
 * the program is inside one nanosleep({SECONDS}) right after ready; it
 * writes WORKDIR/slept when the sleep is over, so that the runner can check
 * that its cycles really fell inside it.
 * Covers: the sleep is resumed, the retry-on-EINTR loop with the kernel's
 * remaining time finishes, and at least SECONDS of CLOCK_MONOTONIC elapsed
 * (not cut short) but not absurdly more (< 60 s: a restore must not restart
 * the sleep over and over or lose the remaining time). */
#include "common.h"

int main(int argc, char **argv)
{
	t_init(argc, argv);
	static uint8_t pat[65536];
	t_fill(pat, sizeof pat, 45);

	int secs = argc > 2 ? atoi(argv[2]) : 3;
	T_SETUP(secs > 0 && secs < 50);
	int64_t t0 = t_now_ns(CLOCK_MONOTONIC);
	t_ready();
	struct timespec req = { secs, 0 }, rem;
	int eintr = 0, r;
	for (;;) {
		rem = req;
		errno = 0;
		r = nanosleep(&req, &rem);
		if (r == 0)
			break;
		if (errno != EINTR)
			break;
		eintr++;
		req = rem;
	}
	int err = errno;
	int64_t t1 = t_now_ns(CLOCK_MONOTONIC);
	int sf = open(t_path("slept"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (sf >= 0)
		close(sf);
	t_wait_go();

	/* --- verify ------------------------------------------------------- */
	T_CHECK(r == 0, "nanosleep failed: %d errno %d (%s)", r, err, strerror(err));
	int64_t el = t1 - t0;
	T_CHECK(el >= secs * 1000000000LL, "slept only %.3f s, expected >= %d s", el / 1e9, secs);
	T_CHECK(el < 60000000000LL, "slept %.3f s, expected about 3 s", el / 1e9);
	t_note("slept %.3f s, %d EINTR retries", el / 1e9, eintr);
	T_CHECK(t_verify(pat, sizeof pat, 45) < 0, "memory pattern differs");
	t_finish();
}
