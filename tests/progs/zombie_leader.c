/* zombie_leader - a process group whose leader is an unreaped zombie.
 * Setup: the root forks A, which makes its own group and exits 5 (the
 * root never reaps it before go), and B, which joins A's group and waits.
 * Covers: after restore A is still a zombie that exited 5 and B is still
 * in A's group (the restored A must make the group before it exits, or B
 * cannot join it). */
#include "common.h"
#include <sys/wait.h>

int main(int argc, char **argv)
{
	t_init(argc, argv);
	int p[2];
	T_SETUP(pipe(p) == 0);
	pid_t a = fork();
	T_SETUP(a >= 0);
	if (a == 0) {
		setpgid(0, 0);
		_exit(5);
	}
	siginfo_t si;
	T_SETUP(waitid(P_PID, a, &si, WEXITED | WNOWAIT) == 0);	/* a zombie now, not reaped */
	pid_t b = fork();
	T_SETUP(b >= 0);
	if (b == 0) {
		close(p[0]);
		if (setpgid(0, a) < 0)
			_exit(2);
		T_SETUP(write(p[1], "j", 1) == 1);
		t_wait_go();
		_exit(getpgrp() == a ? 0 : 3);
	}
	close(p[1]);
	char c;
	T_SETUP(read(p[0], &c, 1) == 1);	/* b joined a's group */
	T_SETUP(getpgid(b) == a);
	t_ready();
	t_wait_go();
	int st;
	T_EQ("pgid of b", getpgid(b), a);
	T_EQ("waitpid(b)", waitpid(b, &st, 0), b);
	T_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "b exit status %#x, expected exit 0 (3: left a's group)", st);
	T_EQ("waitpid(a)", waitpid(a, &st, 0), a);
	T_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 5, "zombie a exit status %#x, expected exit 5", st);
	t_finish();
}
