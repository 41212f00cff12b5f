/* deleted_dir - directories removed while held open, as fds and as cwd.
 * Setup: gone/ (owner 1234:5678, mode 0710, known mtime) open O_RDONLY
 * twice (two descriptions, one with O_CLOEXEC), made the cwd, then removed.
 * Covers: each fd is a directory with no links, its attributes, /proc names
 * it "PATH (deleted)", the two fds and the cwd are one directory, and it
 * stays removed (nothing can be created in it, getcwd fails). */
#include "common.h"

int main(int argc, char **argv)
{
	t_init(argc, argv);
	struct timespec ts[2] = { { 1100000000, 5 }, { 1300000000, 777 } };
	char want[PATH_MAX + 16], link[PATH_MAX + 16], self[64];
	struct stat st, st2;
	T_SETUP(mkdir(t_path("gone"), 0700) == 0);
	int d1 = open(t_path("gone"), O_RDONLY | O_DIRECTORY);
	int d2 = open(t_path("gone"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	T_SETUP(d1 >= 0 && d2 >= 0);
	T_SETUP(fchown(d1, 1234, 5678) == 0 && fchmod(d1, 0710) == 0 && futimens(d1, ts) == 0);
	T_SETUP(fchdir(d1) == 0 && rmdir(t_path("gone")) == 0);
	snprintf(want, sizeof(want), "%s (deleted)", t_path("gone"));
	t_ready();
	t_wait_go();

	T_CHECK(fstat(d1, &st) == 0 && fstat(d2, &st2) == 0, "fstat: %s", strerror(errno));
	T_CHECK(S_ISDIR(st.st_mode), "not a directory: mode %o", st.st_mode);
	T_EQ("links", st.st_nlink, 0);
	T_EQ("mode", st.st_mode & 07777, 0710);
	T_EQ("uid", st.st_uid, 1234);
	T_EQ("gid", st.st_gid, 5678);
	T_EQ("mtime", st.st_mtim.tv_sec, 1300000000);
	T_EQ("mtime ns", st.st_mtim.tv_nsec, 777);
	T_CHECK(st.st_ino == st2.st_ino && st.st_dev == st2.st_dev, "the two fds are different directories");
	T_EQ("cloexec 1", fcntl(d1, F_GETFD), 0);
	T_EQ("cloexec 2", fcntl(d2, F_GETFD), FD_CLOEXEC);
	T_EQ("flags", fcntl(d1, F_GETFL) & (O_ACCMODE | O_DIRECTORY), O_RDONLY | O_DIRECTORY);
	for (int i = 0; i < 2; i++) {
		snprintf(self, sizeof(self), "/proc/self/fd/%d", i ? d2 : d1);
		ssize_t n = readlink(self, link, sizeof(link) - 1);
		link[n > 0 ? n : 0] = 0;
		T_STREQ("name in /proc", link, want);
	}
	errno = 0;
	T_CHECK(openat(d1, "new", O_CREAT | O_WRONLY, 0600) < 0 && errno == ENOENT,
		"a file could be created in the removed directory (errno %d)", errno);
	T_CHECK(access(t_path("gone"), F_OK) < 0, "gone exists again");
	struct stat sc;
	T_CHECK(stat(".", &sc) == 0 && sc.st_ino == st.st_ino && sc.st_dev == st.st_dev,
		"the cwd is not the removed directory the fds hold");
	ssize_t n = readlink("/proc/self/cwd", link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = 0;
	T_STREQ("cwd in /proc", link, want);
	char cwd[PATH_MAX];
	errno = 0;
	T_CHECK(!getcwd(cwd, sizeof(cwd)) && errno == ENOENT, "getcwd of a removed cwd: errno %d", errno);
	t_finish();
}
