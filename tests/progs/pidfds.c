/* pidfds - pidfds of a process of the tree, of itself, of one that exited.
 * Setup: the program forks a child (which holds a pidfd of its parent and
 * waits); the parent holds a pidfd of itself, one of its child
 * (PIDFD_NONBLOCK), and one of a process that exited and was reaped.
 * Covers: each pidfd names the restored process (fdinfo Pid), signals
 * reach it (signal 0), the exited one says so (ESRCH, Pid -1, readable);
 * the child's pidfd is not readable while it lives, becomes readable when
 * it exits and reaps it with waitid(P_PIDFD); flags kept.  The child checks
 * its pidfd of the parent and exits 0. */
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include "common.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static long pidfd_pid(int fd)
{
	char path[64], buf[4096], *p;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	if (t_read_file(path, buf, sizeof(buf)) < 0 || !(p = strstr(buf, "\nPid:")))
		return -100;
	return strtol(p + 5, NULL, 10);
}

static int readable(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	pid_t me = getpid();
	pid_t child = fork();
	T_SETUP(child >= 0);
	if (child == 0) {
		int pp = syscall(SYS_pidfd_open, me, 0);
		T_SETUP(pp >= 0);
		t_wait_go();
		T_EQ("parent pidfd names", pidfd_pid(pp), getppid());
		T_EQ("signal 0 to the parent", syscall(SYS_pidfd_send_signal, pp, 0, NULL, 0), 0);
		T_CHECK(!readable(pp), "parent's pidfd readable while it lives");
		while (access(t_path("exit"), F_OK) < 0)
			t_sleep_ms(10);
		t_finish();
	}
	int self = syscall(SYS_pidfd_open, me, 0);
	int ch = syscall(SYS_pidfd_open, child, O_NONBLOCK);
	pid_t gone = fork();
	T_SETUP(gone >= 0);
	if (gone == 0)
		_exit(7);
	int gp = syscall(SYS_pidfd_open, gone, 0);
	T_SETUP(self >= 0 && ch >= 0 && gp >= 0 && waitpid(gone, NULL, 0) == gone);
	t_ready();
	t_wait_go();

	T_EQ("self pidfd names", pidfd_pid(self), me);
	T_EQ("signal 0 to itself", syscall(SYS_pidfd_send_signal, self, 0, NULL, 0), 0);
	T_EQ("child pidfd names", pidfd_pid(ch), child);
	T_CHECK(fcntl(ch, F_GETFL) & O_NONBLOCK, "child pidfd lost PIDFD_NONBLOCK");
	T_CHECK(!(fcntl(self, F_GETFL) & O_NONBLOCK), "self pidfd got O_NONBLOCK");
	T_CHECK(!readable(ch), "child's pidfd readable while it lives");
	T_EQ("exited pidfd Pid", pidfd_pid(gp), -1);
	errno = 0;
	T_CHECK(syscall(SYS_pidfd_send_signal, gp, 0, NULL, 0) < 0 && errno == ESRCH,
		"signal to the exited process: errno %d", errno);
	T_CHECK(readable(gp), "the exited process's pidfd is not readable");
	T_SETUP(t_write_file(t_path("exit"), "", 0) == 0);
	struct pollfd p = { ch, POLLIN, 0 };
	T_CHECK(poll(&p, 1, 10000) == 1, "child's pidfd never became readable");
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	T_CHECK(waitid(P_PIDFD, ch, &si, WEXITED) == 0 && si.si_pid == child && si.si_code == CLD_EXITED &&
			si.si_status == 0,
		"waitid on the child's pidfd: pid %d code %d status %d", si.si_pid, si.si_code, si.si_status);
	t_finish();
}
