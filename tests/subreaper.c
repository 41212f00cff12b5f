/* subreaper - run a command as a child subreaper.
 * Usage: subreaper CMD [ARGS...]
 * Marks itself PR_SET_CHILD_SUBREAPER, forks and execs CMD, then reaps every
 * process that gets reparented to it (processes killed or orphaned by the
 * tests free their PID at once) until CMD exits, and exits with CMD's
 * status (128+signal if CMD was killed).  SIGINT/SIGTERM/SIGHUP/SIGQUIT are
 * passed on to CMD as SIGTERM (a shell script acts on a SIGTERM trap even
 * while it waits for a foreground command; bash ignores a SIGINT that its
 * foreground command survived), CMD does its own cleanup, and the subreaper
 * keeps reaping meanwhile. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t child = -1;

static void forward(int sig)
{
	(void)sig;
	if (child > 0)
		kill(child, SIGTERM);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s CMD [ARGS...]\n", argv[0]);
		return 2;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
		perror("subreaper: PR_SET_CHILD_SUBREAPER");
		return 1;
	}
	/* handlers before fork, so a signal that arrives at once is forwarded */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = forward;
	sigemptyset(&sa.sa_mask);
	int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	sigset_t block, old;
	sigemptyset(&block);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaddset(&block, sigs[i]);
	sigprocmask(SIG_BLOCK, &block, &old);

	pid_t c = fork();
	if (c < 0) {
		perror("subreaper: fork");
		return 1;
	}
	if (c == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		execvp(argv[1], argv + 1);
		fprintf(stderr, "subreaper: exec %s: %s\n", argv[1], strerror(errno));
		_exit(127);
	}
	child = c;
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);
	sigprocmask(SIG_SETMASK, &old, NULL);

	int status = 0;
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, 0);
		if (p < 0) {
			if (errno == EINTR)
				continue;
			perror("subreaper: waitpid");
			return 1;
		}
		if (p == c) {
			status = st;
			break;
		}
	}
	/* reap whatever already died; live orphans go on to our parent's reaper */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}
