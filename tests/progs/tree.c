/* tree - a small process tree: the root blocked in wait4() on a child that
 * waits for the trigger, a zombie child not yet reaped, a grandchild, and
 * what they share.
 * Covers: original PIDs and parenthood, a process blocked in wait4 resuming
 * and getting its child's exit status, a zombie kept as a zombie (its exit
 * status reaped after restore), an open file description shared across
 * processes (the child's write moves the root's offset), a pipe between
 * processes with data in it, a child in its own process group, MAP_SHARED
 * anonymous memory shared across fork, a memfd mapped and held as an fd. */
#include "common.h"
#include <sys/mman.h>
#include <sys/wait.h>

int main(int argc, char **argv)
{
	t_init(argc, argv);
	int p[2], f, st, zst, mfd;
	pid_t zombie, child, root = getpid();
	volatile uint64_t *sh;
	char *mem;

	T_SETUP(pipe(p) == 0);
	T_SETUP((f = open(t_path("shared.dat"), O_RDWR | O_CREAT | O_TRUNC, 0644)) >= 0);
	T_SETUP(write(f, "root", 4) == 4);
	sh = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	T_SETUP(sh != MAP_FAILED);
	sh[0] = 0;
	sh[1000] = 0xfeedULL;
	T_SETUP((mfd = memfd_create("ferry-tree", MFD_ALLOW_SEALING)) >= 0);
	T_SETUP(ftruncate(mfd, 8192) == 0);
	mem = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	T_SETUP(mem != MAP_FAILED);
	strcpy(mem, "memfd-data");
	T_SETUP(fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK) == 0);

	zombie = fork();
	if (zombie == 0)
		_exit(5);
	child = fork();
	if (child == 0) {
		pid_t gc, me = getpid();
		close(p[0]);
		T_SETUP(setpgid(0, 0) == 0);
		gc = fork();
		if (gc == 0) {	/* grandchild: counts in shared memory until go */
			while (!t_go_exists()) {
				sh[0]++;
				t_sleep_ms(1);
			}
			_exit(getppid() == me ? 0 : 9);
		}
		while (!t_go_exists())
			t_sleep_ms(5);
		T_SETUP(write(p[1], "hello", 5) == 5);
		T_SETUP(write(f, "child", 5) == 5);
		strcpy(mem + 100, "from-child");
		if (waitpid(gc, &st, 0) != gc || !WIFEXITED(st) || WEXITSTATUS(st))
			_exit(8);
		_exit(getppid() == root && getpgrp() == getpid() ? 7 : 6);
	}
	close(p[1]);
	/* the zombie is a zombie before the dump (waited for, not reaped) */
	siginfo_t zsi;
	T_SETUP(waitid(P_PID, zombie, &zsi, WEXITED | WNOWAIT) == 0);
	t_ready();
	/* Blocked in wait4 through the dump and restore. */
	T_SETUP(waitpid(child, &st, 0) == child);
	T_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7, "child exit status %#x, expected exit 7", st);
	char b[16] = "";
	T_EQ("bytes read from the pipe", read(p[0], b, sizeof b), 5);
	T_STREQ("pipe data", b, "hello");
	T_EQ("shared file offset after the child's write", lseek(f, 0, SEEK_CUR), 9);
	T_CHECK(sh[0] > 10, "shared memory counter %llu: the grandchild's writes are not shared",
		(unsigned long long)sh[0]);
	T_EQ("shared memory word", sh[1000], 0xfeedULL);
	T_STREQ("memfd data", mem, "memfd-data");
	T_STREQ("memfd data written by the child", mem + 100, "from-child");
	T_EQ("memfd seals", fcntl(mfd, F_GET_SEALS), F_SEAL_SHRINK);
	T_EQ("zombie reaped", waitpid(zombie, &zst, WNOHANG), zombie);
	T_CHECK(WIFEXITED(zst) && WEXITSTATUS(zst) == 5, "zombie exit status %#x, expected exit 5", zst);
	t_finish();
}
