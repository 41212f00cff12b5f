/* memfd_exec - a program running from a memfd (execveat), and memfd seals.
 * Setup: the program copies itself into memfd "prog", seals it (write,
 * shrink, grow) and executes it with execveat(AT_EMPTY_PATH); that image
 * opens its own executable (/proc/self/exe) and makes memfd "sealed"
 * (content, F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_FUTURE_WRITE, offset 3) and
 * memfd "open" (no sealing allowed: F_SEAL_SEAL alone).
 * Covers: /proc/self/exe is still the memfd, the seals of all three, the
 * content, writes refused where sealed, and the memfd still executable:
 * a child execveat's it and it runs (exit 42). */
#include <sys/mman.h>
#include <sys/wait.h>

#include "common.h"

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

extern char **environ;

static int copy_self(int to)
{
	char buf[65536];
	int from = open("/proc/self/exe", O_RDONLY);
	ssize_t n;
	if (from < 0)
		return -1;
	while ((n = read(from, buf, sizeof(buf))) > 0)
		if (write(to, buf, n) != n)
			return -1;
	close(from);
	return n;
}

int main(int argc, char **argv)
{
	if (argc > 2 && !strcmp(argv[2], "probe"))
		return 42;
	if (argc < 3 || strcmp(argv[2], "inmemfd")) {
		int m = memfd_create("prog", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		char *av[] = { argv[0], argv[1], "inmemfd", NULL };
		T_SETUP(m >= 0 && copy_self(m) == 0);
		T_SETUP(fcntl(m, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW) == 0);
		syscall(SYS_execveat, m, "", av, environ, AT_EMPTY_PATH);
		T_SETUP(!"execveat");
	}
	t_init(argc, argv);
	char link[PATH_MAX], buf[16];
	int exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	int s = memfd_create("sealed", MFD_ALLOW_SEALING);
	int o = memfd_create("open", 0);
	T_SETUP(exe >= 0 && s >= 0 && o >= 0 && write(s, "sealed data", 11) == 11 && lseek(s, 3, SEEK_SET) == 3);
	T_SETUP(fcntl(s, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE) == 0);
	int exe_seals = fcntl(exe, F_GET_SEALS), o_seals = fcntl(o, F_GET_SEALS);
	t_ready();
	t_wait_go();

	ssize_t n = readlink("/proc/self/exe", link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = 0;
	T_CHECK(!strncmp(link, "/memfd:prog", 11), "/proc/self/exe is %s", link);
	T_EQ("exe seals", fcntl(exe, F_GET_SEALS), exe_seals);
	T_EQ("exe seals set", exe_seals & (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW),
	     F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW);
	T_EQ("sealed seals", fcntl(s, F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE);
	T_EQ("open seals", fcntl(o, F_GET_SEALS), o_seals);
	T_EQ("sealed offset", lseek(s, 0, SEEK_CUR), 3);
	T_EQ("sealed read", pread(s, buf, 11, 0), 11);
	T_CHECK(!memcmp(buf, "sealed data", 11), "sealed content");
	errno = 0;
	T_CHECK(write(s, "x", 1) < 0 && errno == EPERM, "write to a sealed memfd: errno %d", errno);
	T_CHECK(ftruncate(s, 100) < 0, "a sealed memfd grew");
	T_EQ("open seals more", fcntl(o, F_ADD_SEALS, F_SEAL_WRITE) < 0, 1);
	pid_t c = fork();
	if (c == 0) {
		char *av[] = { argv[0], argv[1], "probe", NULL };
		syscall(SYS_execveat, exe, "", av, environ, AT_EMPTY_PATH);
		_exit(errno);
	}
	int ws = 0;
	T_CHECK(c > 0 && waitpid(c, &ws, 0) == c && WIFEXITED(ws) && WEXITSTATUS(ws) == 42,
		"executing the memfd again: status 0x%x (exit %d: %s)", ws, WEXITSTATUS(ws),
		strerror(WEXITSTATUS(ws)));
	t_finish();
}
