/* pty_session - a pseudo-terminal that is a session's controlling terminal.
 * The process holds the master; its child leads a session of its own with
 * the terminal as controlling terminal (TIOCSCTTY), and a grandchild in a
 * group of its own is the terminal's foreground group (a job a shell runs,
 * as in a tmux pane).  After restore, checked from inside: the session
 * leader's terminal, session and foreground group (tcgetsid, tcgetpgrp), the
 * grandchild's /dev/tty (one opened again, one held across the dump), that
 * it is in front, and that ^C typed on the
 * master reaches its group as SIGINT while the leader, in the background,
 * gets none. */
#include "common.h"
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>

static volatile sig_atomic_t got_int;
static void on_int(int s)
{
	(void)s;
	got_int++;
}

static void wait_go(void)
{
	while (!t_go_exists())
		t_sleep_ms(5);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	int m = posix_openpt(O_RDWR | O_NOCTTY), go[2];
	char name[64];
	T_SETUP(m >= 0 && grantpt(m) == 0 && unlockpt(m) == 0 && ptsname_r(m, name, sizeof name) == 0);
	T_SETUP(pipe(go) == 0);
	pid_t leader = fork();
	if (leader == 0) {
		signal(SIGINT, on_int);
		T_SETUP(setsid() == getpid());
		int s = open(name, O_RDWR | O_NOCTTY);
		T_SETUP(s >= 0 && ioctl(s, TIOCSCTTY, 0) == 0);
		pid_t job = fork();
		if (job == 0) {
			signal(SIGINT, on_int);
			T_SETUP(setpgid(0, 0) == 0);
			signal(SIGTTOU, SIG_IGN);
			T_SETUP(tcsetpgrp(s, getpid()) == 0);
			signal(SIGTTOU, SIG_DFL);
			int held = open("/dev/tty", O_RDWR);	/* held across the dump */
			T_SETUP(held >= 0);
			T_SETUP(write(go[1], "j", 1) == 1);
			wait_go();
			T_EQ("job: its group in front", tcgetpgrp(s), getpid());
			int tty = open("/dev/tty", O_RDWR);
			T_CHECK(tty >= 0, "job: /dev/tty: %s", strerror(errno));
			T_EQ("job: session of /dev/tty", tty >= 0 ? tcgetsid(tty) : -1, getsid(0));
			char l[64] = "";
			snprintf(l, sizeof l, "/proc/self/fd/%d", held);
			char lk[64] = "";
			T_CHECK(readlink(l, lk, sizeof lk - 1) > 0 && !strcmp(lk, "/dev/tty"), "held /dev/tty is '%s'", lk);
			T_EQ("job: the held /dev/tty's foreground group", tcgetpgrp(held), getpid());
			for (int i = 0; i < 400 && !got_int; i++)
				t_sleep_ms(5);
			T_EQ("job: SIGINT from ^C", got_int, 1);
			_exit(t_failures ? 1 : 0);
		}
		T_SETUP(job > 0);
		wait_go();
		T_EQ("leader: session of its terminal", tcgetsid(s), getpid());
		T_EQ("leader: foreground group", tcgetpgrp(s), job);
		int st;
		T_CHECK(waitpid(job, &st, 0) == job && WIFEXITED(st) && !WEXITSTATUS(st), "job status %#x", st);
		T_EQ("leader: no SIGINT in the background", got_int, 0);
		_exit(t_failures ? 1 : 0);
	}
	char c;
	T_SETUP(leader > 0 && read(go[0], &c, 1) == 1);
	t_sleep_ms(100);
	t_ready();
	t_wait_go();
	pid_t fg = -1;
	T_CHECK(ioctl(m, TIOCGPGRP, &fg) == 0 && fg != leader && fg > 0, "foreground group seen from the master: %d", fg);
	t_sleep_ms(50);
	T_CHECK(write(m, "\003", 1) == 1, "^C on the master");
	int st;
	T_CHECK(waitpid(leader, &st, 0) == leader && WIFEXITED(st) && !WEXITSTATUS(st), "leader status %#x", st);
	t_finish();
}
