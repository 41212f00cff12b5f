/* tty_job - a job started from a shell: stdin, stdout and stderr are the
 * shell's terminal, and the process leads neither its session nor its
 * group (run as `bash -c 'tty_job WORKDIR; true'` under script(1)).
 * Covers: dump refuses without --shell-job and leaves the job alone; with
 * --shell-job the fds come back on the terminal `ferry restore` runs on,
 * with their flags, the job in that terminal's foreground group, and
 * writing to the terminal works. */
#include "common.h"
#include <termios.h>

int main(int argc, char **argv)
{
	int fl[3];
	if (argc < 2)
		return 2;
	/* not t_init: a shell job keeps the shell's session and terminal */
	t_prog = "tty_job";
	t_workdir = argv[1];
	setvbuf(stdout, NULL, _IONBF, 0);
	for (int fd = 0; fd < 3; fd++) {
		T_SETUP(isatty(fd));
		fl[fd] = fcntl(fd, F_GETFL);
	}
	T_SETUP(getsid(0) != getpid());
	t_ready();
	t_wait_go();
	for (int fd = 0; fd < 3; fd++) {
		T_CHECK(isatty(fd), "fd %d is no terminal after restore", fd);
		T_EQ("terminal fd flags", fcntl(fd, F_GETFL), fl[fd]);
	}
	T_CHECK(ttyname(0) != NULL, "ttyname(0): %s", strerror(errno));
	T_EQ("terminal foreground group is the job's", tcgetpgrp(0), getpgrp());
	T_CHECK(getsid(0) != getpid(), "the job became a session leader");
	T_CHECK(printf("tty_job: writing to the terminal works\n") > 0, "write to the terminal");
	t_finish();
}
