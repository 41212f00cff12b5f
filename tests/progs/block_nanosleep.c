/* block_nanosleep - restore of a process in the middle of a long sleep.
 * Trigger: WORKDIR/go (as usual), but the dump/restore cycles happen while
 * the program is inside one nanosleep({3 s}) right after ready.
 * Covers: the sleep is resumed (the runner's cycles take less than 3 s), the
 * retry-on-EINTR loop with the kernel's remaining time finishes, and at
 * least 3 s of CLOCK_MONOTONIC elapsed (not cut short) but not absurdly
 * more (< 60 s: a restore must not restart the sleep over and over or
 * lose the remaining time). */
#include "common.h"

int main(int argc, char **argv)
{
	t_init(argc, argv);
	static uint8_t pat[65536];
	t_fill(pat, sizeof pat, 45);

	int64_t t0 = t_now_ns(CLOCK_MONOTONIC);
	t_ready();
	struct timespec req = { 3, 0 }, rem;
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
	t_wait_go();

	/* --- verify ------------------------------------------------------- */
	T_CHECK(r == 0, "nanosleep failed: %d errno %d (%s)", r, err, strerror(err));
	int64_t el = t1 - t0;
	T_CHECK(el >= 3000000000LL, "slept only %.3f s, expected >= 3 s", el / 1e9);
	T_CHECK(el < 60000000000LL, "slept %.3f s, expected about 3 s", el / 1e9);
	t_note("slept %.3f s, %d EINTR retries", el / 1e9, eintr);
	T_CHECK(t_verify(pat, sizeof pat, 45) < 0, "memory pattern differs");
	t_finish();
}
