/* outside_group - a daemon started from a script without setsid (`prog &`):
 * the launcher S (this program, session and group leader, standing in for
 * the script) forks the daemon D, which stays in S's group and forks a
 * worker W, in that group too.  The runner dumps D's tree (S stays out).
 * Covers: dump refuses without --shell-job, naming W, the group and the
 * option, and leaves D and W running; with --shell-job D and W come back in
 * one group, the group of `ferry restore` (D's parent now), and in its
 * session; W is still D's child and still runs.
 * WORKDIR/ready holds D's pid, WORKDIR/worker W's, WORKDIR/group S's. */
#include "common.h"
#include <signal.h>
#include <sys/wait.h>

static void write_num(const char *name, long v)
{
	FILE *f = fopen(t_path(name), "w");
	T_SETUP(f && fprintf(f, "%ld\n", v) > 0 && fclose(f) == 0);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	pid_t s = getpid();
	pid_t d = fork();
	T_SETUP(d >= 0);
	if (d) {
		/* the launcher: outlives the daemon's dump, then leaves */
		int st;
		while (waitpid(d, &st, 0) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	T_SETUP(getpgrp() == s && getsid(0) == s);
	int p[2];
	T_SETUP(pipe(p) == 0);
	pid_t w = fork();
	T_SETUP(w >= 0);
	if (w == 0) {
		close(p[0]);
		/* the worker reports its own group and session once go exists */
		t_wait_go();
		pid_t ids[2] = { getpgrp(), getsid(0) };
		_exit(write(p[1], ids, sizeof(ids)) == sizeof(ids) ? 0 : 1);
	}
	close(p[1]);
	T_SETUP(getpgid(w) == s);
	write_num("worker", w);
	write_num("group", s);
	t_ready();
	t_wait_go();
	pid_t ids[2] = { 0, 0 };
	T_EQ("the worker's report", read(p[0], ids, sizeof(ids)), sizeof(ids));
	T_CHECK(getpgrp() != s, "the daemon is still in group %d, led from outside", s);
	T_EQ("the daemon's group is its parent's (ferry restore's)", getpgrp(), getpgid(getppid()));
	T_EQ("the daemon's session is its parent's", getsid(0), getsid(getppid()));
	T_EQ("the worker's group is the daemon's", ids[0], getpgrp());
	T_EQ("the worker's session is the daemon's", ids[1], getsid(0));
	int st;
	T_EQ("the worker is still the daemon's child", waitpid(w, &st, 0), w);
	T_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "worker status %#x", st);
	t_finish();
}
