/* procfiles - /proc files held open, and namespace files.
 * Setup: the program forks a child (both wait for go).  The parent holds
 * /proc/PID/status of itself (read 5 bytes in: offset 5), /proc/PID as a
 * directory, /proc/CHILD/cmdline of its child, and /proc/self/ns/net and
 * /proc/self/ns/uts (the host's namespaces); the child holds
 * /proc/PARENT/stat of its parent.
 * Covers: each fd is that /proc file of the restored process (same inode
 * as the path now, link, content, offset, flags), the namespace fds are the
 * host's namespaces; the child checks its own and exits 0, which the parent
 * checks. */
#include <sys/wait.h>

#include "common.h"

static void is_path(const char *what, int fd, const char *path)
{
	char self[64], link[PATH_MAX];
	struct stat a, b;
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(self, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = 0;
	T_STREQ(what, link, path);
	T_CHECK(fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev,
		"%s: fd is not %s", what, path);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	char path[64], buf[4096];
	pid_t me = getpid(), child;

	child = fork();
	T_SETUP(child >= 0);
	if (child == 0) {
		snprintf(path, sizeof(path), "/proc/%d/stat", me);
		int ps = open(path, O_RDONLY);
		T_SETUP(ps >= 0);
		t_wait_go();
		is_path("parent's stat", ps, path);
		ssize_t n = pread(ps, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = 0;
		snprintf(path, sizeof(path), "%d (", me);
		T_CHECK(!strncmp(buf, path, strlen(path)), "parent's stat reads \"%.40s\"", buf);
		/* alive (its cmdline readable) until the parent read it */
		while (access(t_path("read"), F_OK) < 0)
			t_sleep_ms(10);
		t_finish();
	}
	snprintf(path, sizeof(path), "/proc/%d/status", me);
	int st = open(path, O_RDONLY);
	T_SETUP(st >= 0 && read(st, buf, 5) == 5);
	snprintf(path, sizeof(path), "/proc/%d", me);
	int dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/cmdline", child);
	int cc = open(path, O_RDONLY);
	int net = open("/proc/self/ns/net", O_RDONLY);
	int uts = open("/proc/self/ns/uts", O_RDONLY);
	T_SETUP(dir >= 0 && cc >= 0 && net >= 0 && uts >= 0);
	t_ready();
	t_wait_go();

	snprintf(path, sizeof(path), "/proc/%d/status", me);
	is_path("own status", st, path);
	T_EQ("status offset", lseek(st, 0, SEEK_CUR), 5);
	ssize_t n = pread(st, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = 0;
	snprintf(path, sizeof(path), "\nPid:\t%d\n", me);
	T_CHECK(strstr(buf, path) != NULL, "own status has no \"Pid: %d\"", me);
	snprintf(path, sizeof(path), "/proc/%d", me);
	is_path("own /proc dir", dir, path);
	T_EQ("dir cloexec", fcntl(dir, F_GETFD), FD_CLOEXEC);
	T_CHECK(faccessat(dir, "maps", R_OK, 0) == 0, "no maps in the /proc dir fd: %s", strerror(errno));
	snprintf(path, sizeof(path), "/proc/%d/cmdline", child);
	is_path("child's cmdline", cc, path);
	n = pread(cc, buf, sizeof(buf) - 1, 0);
	T_CHECK(n > 0 && !strcmp(buf, argv[0]), "child's cmdline reads \"%s\"", n > 0 ? buf : "");
	T_SETUP(t_write_file(t_path("read"), "", 0) == 0);
	struct stat a, b;
	T_CHECK(fstat(net, &a) == 0 && stat("/proc/self/ns/net", &b) == 0 && a.st_ino == b.st_ino,
		"net namespace fd is not the host's");
	T_CHECK(fstat(uts, &a) == 0 && stat("/proc/self/ns/uts", &b) == 0 && a.st_ino == b.st_ino,
		"uts namespace fd is not the host's");
	int ws;
	T_CHECK(waitpid(child, &ws, 0) == child && WIFEXITED(ws) && WEXITSTATUS(ws) == 0,
		"child: status 0x%x", ws);
	t_finish();
}
