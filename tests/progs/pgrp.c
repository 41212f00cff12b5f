/* pgrp - sessions and process groups of a tree: the root leads its session;
 * child L made its own group and exited (reaped), but child M still lives
 * in L's group; child G leads a group that its own child joined, and its
 * other child J went back to the root's group (neither its parent's nor a
 * sibling's: ferry joins it once every process exists).
 * Covers: every process keeps its session and group after restore,
 * including the group whose leader is gone (and the stand-in ferry uses to
 * recreate it leaves no trace: no extra child, no extra zombie). */
#include "common.h"
#include <sys/wait.h>

int main(int argc, char **argv)
{
	t_init(argc, argv);
	int p[2];
	T_SETUP(pipe(p) == 0);
	pid_t l = fork();
	if (l == 0) {
		setpgid(0, 0);
		char c;
		T_SETUP(read(p[0], &c, 1) == 1);	/* exit once M joined */
		_exit(0);
	}
	T_SETUP(setpgid(l, l) == 0 || errno == EACCES);
	pid_t m = fork();
	if (m == 0) {
		while (setpgid(0, l) < 0)
			t_sleep_ms(1);
		while (!t_go_exists())
			t_sleep_ms(5);
		_exit(getpgrp() == l && getsid(0) == getppid() ? 0 : 7);
	}
	pid_t g = fork();
	if (g == 0) {
		setpgid(0, 0);
		pid_t gc = fork();
		if (gc == 0) {
			while (!t_go_exists())
				t_sleep_ms(5);
			_exit(getpgrp() == getppid() ? 0 : 8);
		}
		pid_t j = fork();
		if (j == 0) {
			T_SETUP(setpgid(0, getsid(0)) == 0);
			while (!t_go_exists())
				t_sleep_ms(5);
			_exit(getpgrp() == getsid(0) ? 0 : 10);
		}
		int st, st2;
		T_SETUP(waitpid(gc, &st, 0) == gc && waitpid(j, &st2, 0) == j);
		if (!WIFEXITED(st2) || WEXITSTATUS(st2))
			_exit(WIFEXITED(st2) ? WEXITSTATUS(st2) : 11);
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 9);
	}
	for (int i = 0; i < 1000 && getpgid(m) != l; i++)
		t_sleep_ms(1);
	T_SETUP(getpgid(m) == l);
	T_SETUP(write(p[1], "x", 1) == 1);
	int st;
	T_SETUP(waitpid(l, &st, 0) == l);	/* L is gone: its group lives on in M */
	t_sleep_ms(50);
	t_ready();
	t_wait_go();
	T_EQ("root session", getsid(0), getpid());
	T_EQ("M's group (leader gone)", getpgid(m), l);
	T_EQ("G's group", getpgid(g), g);
	T_CHECK(waitpid(m, &st, 0) == m && WIFEXITED(st) && WEXITSTATUS(st) == 0, "M status %#x", st);
	T_CHECK(waitpid(g, &st, 0) == g && WIFEXITED(st) && WEXITSTATUS(st) == 0, "G status %#x", st);
	T_EQ("no other child (stand-in reaped)", waitpid(-1, &st, WNOHANG), -1);
	T_EQ("errno ECHILD", errno, ECHILD);
	t_finish();
}
