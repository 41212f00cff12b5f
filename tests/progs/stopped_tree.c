/* stopped_tree - a tree whose children are stopped by job control.
 * Setup: the root (a session leader) forks three children, each in a
 * process group of its own (so their groups are not orphaned and the
 * terminal stop signals stop them), and stops them with SIGTSTP, SIGTTIN
 * and SIGSTOP (the first has a second thread, and gets a SIGSTOP too once
 * stopped, which stays pending); it waits for each to show state T
 * without reaping the stop.
 * Covers, after restore: each child is stopped (state T), waitpid with
 * WUNTRACED reports it stopped by the same signal (SIGTSTP stays SIGTSTP),
 * and after SIGCONT each runs on and exits with its own status. */
#include "common.h"
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#define NC 3
static const int stopsig[NC] = { SIGTSTP, SIGTTIN, SIGSTOP };

static void *spin(void *arg)
{
	for (;;)
		t_sleep_ms(10);
	return arg;
}

static char state_of(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	if (t_read_file(path, buf, sizeof buf) <= 0)
		return '?';
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	pid_t kids[NC];
	for (int i = 0; i < NC; i++) {
		kids[i] = fork();
		T_SETUP(kids[i] >= 0);
		if (kids[i] == 0) {
			setpgid(0, 0);
			pthread_t th;
			if (i == 0 && pthread_create(&th, NULL, spin, NULL) != 0)
				_exit(1);
			for (;;)
				t_sleep_ms(10);
		}
		setpgid(kids[i], kids[i]);
	}
	for (int i = 0; i < NC; i++) {
		T_SETUP(kill(kids[i], stopsig[i]) == 0);
		for (int n = 0; state_of(kids[i]) != 'T'; n++) {
			T_SETUP(n < 500);
			t_sleep_ms(10);
		}
	}
	/* A stop signal sent to a stopped process stays pending (until a
	 * SIGCONT flushes it): dump meets it when the child first runs for it. */
	T_SETUP(kill(kids[0], SIGSTOP) == 0);

	t_ready();
	t_wait_go();

	for (int i = 0; i < NC; i++) {
		int st = 0;
		T_CHECK(state_of(kids[i]) == 'T', "child %d (pid %d): state %c, expected T (stopped)", i, kids[i],
			state_of(kids[i]));
		pid_t r = waitpid(kids[i], &st, WUNTRACED);
		T_CHECK(r == kids[i] && WIFSTOPPED(st) && WSTOPSIG(st) == stopsig[i],
			"child %d: waitpid %d, status 0x%x: stopped %d by %d, expected stopped by %d (%s)", i, r, st,
			WIFSTOPPED(st), WIFSTOPPED(st) ? WSTOPSIG(st) : 0, stopsig[i], strsignal(stopsig[i]));
	}
	for (int i = 0; i < NC; i++) {
		int st = 0;
		T_SETUP(kill(kids[i], SIGCONT) == 0);
		T_SETUP(kill(kids[i], SIGTERM) == 0);
		pid_t r = waitpid(kids[i], &st, 0);
		T_CHECK(r == kids[i] && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM,
			"child %d: did not run on to be killed by SIGTERM (waitpid %d, status 0x%x)", i, r, st);
	}
	t_finish();
}
