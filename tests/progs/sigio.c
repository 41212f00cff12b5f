/* sigio - F_SETOWN, F_SETOWN_EX, F_SETSIG and O_ASYNC.
 * Setup: a pipe whose read end is O_ASYNC, owned by the process, with
 * F_SETSIG SIGRTMIN+1 (blocked: it is waited for); a socket pair end
 * O_ASYNC owned by the process group (F_SETOWN -pgid); a regular file owned
 * by the main thread (F_OWNER_TID), no O_ASYNC.
 * Covers: owners (type and id), signals and O_ASYNC as they were, and that
 * they work: data into the pipe queues SIGRTMIN+1 with si_fd the read end;
 * data into the socket pair queues SIGIO. */
#include <signal.h>
#include <sys/socket.h>

#include "common.h"

int main(int argc, char **argv)
{
	t_init(argc, argv);
	int p[2], sv[2];
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN + 1);
	sigaddset(&set, SIGIO);
	T_SETUP(sigprocmask(SIG_BLOCK, &set, NULL) == 0);
	T_SETUP(pipe(p) == 0 && socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	T_SETUP(fcntl(p[0], F_SETOWN, getpid()) == 0 && fcntl(p[0], F_SETSIG, SIGRTMIN + 1) == 0);
	T_SETUP(fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_ASYNC) == 0);
	T_SETUP(fcntl(sv[0], F_SETOWN, -getpgrp()) == 0);
	T_SETUP(fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_ASYNC) == 0);
	int f = open(t_path("owned"), O_RDWR | O_CREAT, 0600);
	struct f_owner_ex ex = { F_OWNER_TID, getpid() };
	T_SETUP(f >= 0 && fcntl(f, F_SETOWN_EX, &ex) == 0);
	t_ready();
	t_wait_go();

	T_EQ("pipe owner", fcntl(p[0], F_GETOWN), getpid());
	T_EQ("pipe signal", fcntl(p[0], F_GETSIG), SIGRTMIN + 1);
	T_CHECK(fcntl(p[0], F_GETFL) & O_ASYNC, "pipe lost O_ASYNC");
	T_CHECK(!(fcntl(p[1], F_GETFL) & O_ASYNC), "pipe write end got O_ASYNC");
	T_EQ("socket owner", fcntl(sv[0], F_GETOWN), -getpgrp());
	T_EQ("socket signal", fcntl(sv[0], F_GETSIG), 0);
	T_CHECK(fcntl(sv[0], F_GETFL) & O_ASYNC, "socket lost O_ASYNC");
	memset(&ex, 0, sizeof(ex));
	T_CHECK(fcntl(f, F_GETOWN_EX, &ex) == 0 && ex.type == F_OWNER_TID && ex.pid == getpid(),
		"file owner: type %d id %d", ex.type, ex.pid);
	T_CHECK(!(fcntl(f, F_GETFL) & O_ASYNC), "file got O_ASYNC");

	struct timespec ts = { 5, 0 };
	siginfo_t si;
	T_SETUP(write(p[1], "x", 1) == 1);
	memset(&si, 0, sizeof(si));
	T_EQ("signal for the pipe", sigtimedwait(&set, &si, &ts), SIGRTMIN + 1);
	T_EQ("si_fd", si.si_fd, p[0]);
	T_SETUP(write(sv[1], "x", 1) == 1);
	T_EQ("signal for the socket", sigtimedwait(&set, &si, &ts), SIGIO);
	t_finish();
}
