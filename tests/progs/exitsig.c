/* exitsig - a child whose exit signal is SIGUSR1, not SIGCHLD (as clone
 * with a custom exit signal makes it), kept across dump and restore.
 * Covers: the restored child tells its parent with SIGUSR1 when it exits,
 * and no SIGCHLD arrives. */
#include "common.h"
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static volatile int usr1, chld;
static void on_usr1(int s)
{
	(void)s;
	usr1++;
}
static void on_chld(int s)
{
	(void)s;
	chld++;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	struct sigaction a = { .sa_handler = on_usr1 }, b = { .sa_handler = on_chld };
	T_SETUP(sigaction(SIGUSR1, &a, NULL) == 0 && sigaction(SIGCHLD, &b, NULL) == 0);
	pid_t c = syscall(SYS_clone, SIGUSR1, 0, 0, 0, 0);	/* fork, with SIGUSR1 as exit signal */
	T_SETUP(c >= 0);
	if (c == 0) {
		while (!t_go_exists())
			t_sleep_ms(5);
		syscall(SYS_exit_group, 0);
	}
	t_ready();
	t_wait_go();
	int st;
	T_EQ("child reaped", waitpid(c, &st, __WALL), c);
	for (int i = 0; i < 100 && !usr1; i++)
		t_sleep_ms(5);
	T_EQ("SIGUSR1 from the exiting child", usr1, 1);
	T_EQ("SIGCHLD", chld, 0);
	t_finish();
}
