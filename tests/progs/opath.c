/* opath - O_PATH descriptors.
 * Setup: target ("content"), dir/ with dir/inner, symlink lnk -> target,
 * FIFO fifo; O_PATH fds on target, dir (O_DIRECTORY), lnk with O_NOFOLLOW
 * (the symlink itself), lnk without (target), fifo (nothing opened for
 * I/O); a directory removed while held with O_PATH.
 * Covers: each fd is O_PATH, the same inode as its path (the symlink's own
 * inode for O_NOFOLLOW), usable as O_PATH is (dirfd for openat, readlinkat
 * of the symlink, reopen through /proc/self/fd), unusable for I/O; the
 * removed directory still removed. */
#include "common.h"

static void same(const char *what, int fd, const char *path, int follow)
{
	struct stat a, b;
	T_CHECK(fstat(fd, &a) == 0 && (follow ? stat(path, &b) : lstat(path, &b)) == 0, "%s: stat: %s", what,
		strerror(errno));
	T_CHECK(a.st_ino == b.st_ino && a.st_dev == b.st_dev && a.st_mode == b.st_mode, "%s: another file", what);
	T_CHECK(fcntl(fd, F_GETFL) & O_PATH, "%s: not O_PATH", what);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	char buf[64], self[64];
	T_SETUP(t_write_file(t_path("target"), "content", 7) == 0);
	T_SETUP(mkdir(t_path("dir"), 0755) == 0 && t_write_file(t_path("dir/inner"), "in", 2) == 0);
	T_SETUP(symlink("target", t_path("lnk")) == 0 && mkfifo(t_path("fifo"), 0600) == 0);
	T_SETUP(mkdir(t_path("gone"), 0700) == 0);
	int f = open(t_path("target"), O_PATH);
	int d = open(t_path("dir"), O_PATH | O_DIRECTORY);
	int l = open(t_path("lnk"), O_PATH | O_NOFOLLOW);
	int lf = open(t_path("lnk"), O_PATH | O_CLOEXEC);
	int fi = open(t_path("fifo"), O_PATH);
	int g = open(t_path("gone"), O_PATH | O_DIRECTORY);
	T_SETUP(f >= 0 && d >= 0 && l >= 0 && lf >= 0 && fi >= 0 && g >= 0);
	T_SETUP(rmdir(t_path("gone")) == 0);
	t_ready();
	t_wait_go();

	same("target", f, t_path("target"), 0);
	same("dir", d, t_path("dir"), 0);
	same("symlink itself", l, t_path("lnk"), 0);
	same("symlink followed", lf, t_path("lnk"), 1);
	same("fifo", fi, t_path("fifo"), 0);
	T_EQ("cloexec", fcntl(lf, F_GETFD), FD_CLOEXEC);
	T_EQ("no cloexec", fcntl(l, F_GETFD), 0);
	T_CHECK(fcntl(g, F_GETFL) & O_PATH, "removed dir: not O_PATH");
	struct stat st;
	T_CHECK(fstat(g, &st) == 0 && S_ISDIR(st.st_mode) && st.st_nlink == 0, "removed dir: mode %o links %ju",
		st.st_mode, (uintmax_t)st.st_nlink);
	errno = 0;
	T_CHECK(read(f, buf, 1) < 0 && errno == EBADF, "read through O_PATH: errno %d", errno);
	ssize_t n = readlinkat(l, "", buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	T_STREQ("symlink target", buf, "target");
	int in = openat(d, "inner", O_RDONLY);
	T_CHECK(in >= 0, "openat through the O_PATH dir: %s", strerror(errno));
	memset(buf, 0, sizeof(buf));
	T_CHECK(in >= 0 && read(in, buf, sizeof(buf)) == 2 && !strcmp(buf, "in"), "dir/inner: \"%s\"", buf);
	snprintf(self, sizeof(self), "/proc/self/fd/%d", f);
	n = t_read_file(self, buf, sizeof(buf));
	T_STREQ("target reopened", buf, "content");
	T_CHECK(n == 7, "target length %zd", n);
	t_finish();
}
