/* pdeathsig - a process with a parent-death signal.
 * Usage: pdeathsig WORKDIR [detached]
 * Setup: PR_SET_PDEATHSIG(SIGUSR2), with a handler that counts SIGUSR2.
 * Covers, after the runner's cycles (ferry restore in the foreground stays
 * the parent, like the original one): the signal is armed again, and never
 * arrived.  With "detached" (restored with --detach, whose ferry exits at
 * once): the signal was about a parent that is not restored, so it is not
 * armed, and ferry's exit did not send it. */
#include "common.h"
#include <signal.h>
#include <sys/prctl.h>

static volatile sig_atomic_t usr2;

static void on_usr2(int sig)
{
	(void)sig;
	usr2++;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	int detached = argc > 2 && !strcmp(argv[2], "detached");
	struct sigaction sa = { .sa_handler = on_usr2 };
	T_SETUP(sigaction(SIGUSR2, &sa, NULL) == 0);
	T_SETUP(prctl(PR_SET_PDEATHSIG, SIGUSR2) == 0);
	t_ready();
	t_wait_go();
	int sig = -1;
	T_SETUP(prctl(PR_GET_PDEATHSIG, &sig) == 0);
	T_EQ("parent-death signal", sig, detached ? 0 : SIGUSR2);
	T_EQ("SIGUSR2 received", usr2, 0);
	t_finish();
}
