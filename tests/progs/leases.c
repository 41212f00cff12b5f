/* leases - file leases (F_SETLEASE).
 * Setup: a read lease on rd.dat (fd 41) and a write lease on wr.dat (fd 42,
 * F_SETSIG SIGRTMIN+2, the signal blocked to be waited for).
 * Covers: both leases held after restore (F_GETLEASE), owned by the
 * process (F_GETOWN) and still working: a child opening wr.dat gets
 * EWOULDBLOCK (O_NONBLOCK) and the process gets SIGRTMIN+2 with si_fd 42,
 * then gives the lease up. */
#include <signal.h>
#include <sys/wait.h>

#include "common.h"

int main(int argc, char **argv)
{
	int fd;
	sigset_t set;
	t_init(argc, argv);
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN + 2);
	T_SETUP(sigprocmask(SIG_BLOCK, &set, NULL) == 0);
	T_SETUP(t_write_file(t_path("rd.dat"), "read", 4) == 0 && t_write_file(t_path("wr.dat"), "write", 5) == 0);
	T_SETUP((fd = open(t_path("rd.dat"), O_RDONLY)) >= 0 && dup2(fd, 41) == 41 && close(fd) == 0);
	T_SETUP((fd = open(t_path("wr.dat"), O_RDONLY)) >= 0 && dup2(fd, 42) == 42 && close(fd) == 0);
	T_SETUP(fcntl(41, F_SETLEASE, F_RDLCK) == 0);
	T_SETUP(fcntl(42, F_SETSIG, SIGRTMIN + 2) == 0 && fcntl(42, F_SETLEASE, F_WRLCK) == 0);
	t_ready();
	t_wait_go();

	T_EQ("read lease", fcntl(41, F_GETLEASE), F_RDLCK);
	T_EQ("write lease", fcntl(42, F_GETLEASE), F_WRLCK);
	T_EQ("owner", fcntl(42, F_GETOWN), getpid());
	T_EQ("signal", fcntl(42, F_GETSIG), SIGRTMIN + 2);
	pid_t c = fork();
	if (c == 0)
		_exit(open(t_path("wr.dat"), O_RDONLY | O_NONBLOCK) < 0 && errno == EWOULDBLOCK ? 0 : 1);
	int ws = -1;
	T_CHECK(c > 0 && waitpid(c, &ws, 0) == c && WIFEXITED(ws) && WEXITSTATUS(ws) == 0,
		"another open did not see the write lease (status 0x%x)", ws);
	struct timespec ts = { 5, 0 };
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	T_EQ("lease break signal", sigtimedwait(&set, &si, &ts), SIGRTMIN + 2);
	T_EQ("si_fd", si.si_fd, 42);
	T_EQ("give the lease up", fcntl(42, F_SETLEASE, F_UNLCK), 0);
	t_finish();
}
