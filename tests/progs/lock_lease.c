/* lock_lease - a read lease (F_SETLEASE) on WORKDIR/leased.dat and a POSIX
 * read lock on it too, which ferry cannot carry together (the lock's
 * stand-in would break the lease; leases alone are carried: leases.c): the
 * dump must refuse, naming the pid, the fd and the lease, and leave the
 * process as it was (it still holds its lease and lock when WORKDIR/go
 * appears).  Used by tests/run.sh (neg_lease), not standalone. */
#include <sys/wait.h>

#include "common.h"

int main(int argc, char **argv)
{
	int fd;
	t_init(argc, argv);
	T_SETUP(t_write_file(t_path("leased.dat"), "lease", 5) == 0);
	T_SETUP((fd = open(t_path("leased.dat"), O_RDONLY)) >= 0);
	T_SETUP(dup2(fd, 41) == 41);
	close(fd);
	T_SETUP(fcntl(41, F_SETLEASE, F_RDLCK) == 0);
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
	T_SETUP(fcntl(41, F_SETLK, &fl) == 0);
	t_ready();
	t_wait_go();
	T_EQ("the lease is still held", fcntl(41, F_GETLEASE), F_RDLCK);
	struct flock q = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	pid_t c = fork();
	if (c == 0)	/* another process sees the lock */
		_exit(fcntl(41, F_GETLK, &q) == 0 && q.l_type == F_RDLCK && q.l_pid == getppid() ? 0 : 1);
	int ws = -1;
	T_CHECK(c > 0 && waitpid(c, &ws, 0) == c && WIFEXITED(ws) && !WEXITSTATUS(ws), "the lock is gone");
	t_finish();
}
