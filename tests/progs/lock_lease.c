/* lock_lease - a read lease (F_SETLEASE) on WORKDIR/leased.dat, which
 * ferry cannot carry: the dump must refuse, naming the pid, the fd and the
 * lease, and leave the process as it was (it still holds its lease when
 * WORKDIR/go appears).  Used by tests/run.sh (neg_lease), not standalone. */
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
	t_ready();
	t_wait_go();
	T_EQ("the lease is still held", fcntl(41, F_GETLEASE), F_RDLCK);
	t_finish();
}
