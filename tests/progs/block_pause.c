/* block_pause - restore of a process blocked in pause().
 * Trigger: the runner sends SIGUSR1 to the PID (after checking, via
 * /proc/PID/syscall, that it is blocked in pause again after restore).
 * Covers: dump/restore while in pause(); SIGUSR1 has an SA_SIGINFO handler
 * without SA_RESTART.  pause() must return -1/EINTR only because of the
 * runner's signal: the handler ran exactly once, with si_code SI_USER, and
 * only after ready (no spurious wake-up or signal from dump/restore). */
#include "common.h"
#include <signal.h>

static volatile int hits, code = -1;

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	hits++;
	code = si->si_code;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	static uint8_t pat[65536];
	t_fill(pat, sizeof pat, 44);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	T_SETUP(sigaction(SIGUSR1, &sa, NULL) == 0);

	t_ready();
	errno = 0;
	int r = pause();
	int err = errno;

	/* --- verify ------------------------------------------------------- */
	T_CHECK(r == -1 && err == EINTR, "pause() returned %d errno %d (%s), expected -1/EINTR", r, err, strerror(err));
	T_EQ("SIGUSR1 handler runs", hits, 1);
	T_EQ("si_code (SI_USER)", code, SI_USER);
	struct sigaction cur;
	sigaction(SIGUSR1, NULL, &cur);
	T_CHECK(cur.sa_sigaction == on_usr1 && !(cur.sa_flags & SA_RESTART), "SIGUSR1 disposition changed");
	T_CHECK(t_verify(pat, sizeof pat, 44) < 0, "memory pattern differs");
	t_finish();
}
