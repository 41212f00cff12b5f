/* files - the file descriptor table.
 * Covers: WORKDIR/rw.dat O_RDWR at offset 1234 (the runner's "missing file"
 * negative test deletes it); WORKDIR/append.log O_WRONLY|O_APPEND (writes
 * after restore append); WORKDIR/flags.dat O_RDONLY|O_NONBLOCK|O_CLOEXEC;
 * WORKDIR/deleted.dat written ("deleted-data..."), offset 100, then unlinked
 * (content, size and offset kept, st_nlink == 0, still writable); a directory
 * fd on WORKDIR/dir (S_ISDIR, openat relative to it works); /dev/null,
 * /dev/zero (reads zeros), /dev/urandom (same char devices); shared.dat
 * dup'ed to fd 77 with F_DUPFD (a write via one moves the other's offset);
 * high.dat at fd 200 via dup2; fds 9 and 11 open while 10 is closed (stays
 * EBADF).  For every fd: F_GETFL and F_GETFD equal, same device/inode for
 * files that still exist, and the set of open fds is exactly the same. */
#include "common.h"
#include <dirent.h>
#include <sys/sysmacros.h>

#define MAXFD 256

struct fdinfo {
	int open, fl, fdfl;
	struct stat st;
	off_t pos;
};
static struct fdinfo before[MAXFD];

static void snapshot(struct fdinfo *t)
{
	memset(t, 0, sizeof(struct fdinfo) * MAXFD);
	for (int fd = 0; fd < MAXFD; fd++) {
		t[fd].fdfl = fcntl(fd, F_GETFD);
		if (t[fd].fdfl < 0)
			continue;
		t[fd].open = 1;
		t[fd].fl = fcntl(fd, F_GETFL);
		fstat(fd, &t[fd].st);
		t[fd].pos = lseek(fd, 0, SEEK_CUR);
	}
}

/* fd numbers in /proc/self/fd (excluding the one used to read it) */
static int list_fds(int *out, int cap)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int n = 0, self = dirfd(d);
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && atoi(e->d_name) != self && n < cap)
			out[n++] = atoi(e->d_name);
	closedir(d);
	return n;
}

static int move_fd(int fd, int min, int cloexec)
{
	int n = fcntl(fd, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, min);
	T_SETUP(n >= min);
	close(fd);
	return n;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	static char buf[8192];

	/* regular file, offset 1234 */
	int rw = open(t_path("rw.dat"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	T_SETUP(rw >= 0);
	t_fill(buf, 5000, 1);
	T_SETUP(write(rw, buf, 5000) == 5000);
	T_SETUP(lseek(rw, 1234, SEEK_SET) == 1234);

	/* O_APPEND */
	int ap = open(t_path("append.log"), O_WRONLY | O_APPEND | O_CREAT | O_TRUNC, 0600);
	T_SETUP(ap >= 0);
	T_SETUP(write(ap, "line1\n", 6) == 6);

	/* flags */
	T_SETUP(t_write_file(t_path("flags.dat"), "flags", 5) == 0);
	int fl = open(t_path("flags.dat"), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	T_SETUP(fl >= 0);

	/* deleted file */
	int del = open(t_path("deleted.dat"), O_RDWR | O_CREAT | O_TRUNC, 0640);
	T_SETUP(del >= 0);
	static char delbuf[3000];
	memcpy(delbuf, "deleted-data...", 15);
	t_fill(delbuf + 15, sizeof delbuf - 15, 2);
	T_SETUP(write(del, delbuf, sizeof delbuf) == (ssize_t)sizeof delbuf);
	T_SETUP(lseek(del, 100, SEEK_SET) == 100);
	T_SETUP(unlink(t_path("deleted.dat")) == 0);

	/* directory */
	T_SETUP(mkdir(t_path("dir"), 0755) == 0);
	T_SETUP(t_write_file(t_path("dir/inside.txt"), "inside", 6) == 0);
	int dfd = open(t_path("dir"), O_RDONLY | O_DIRECTORY);
	T_SETUP(dfd >= 0);

	/* devices */
	int dnull = open("/dev/null", O_WRONLY);
	int dzero = open("/dev/zero", O_RDONLY);
	int drand = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	T_SETUP(dnull >= 0 && dzero >= 0 && drand >= 0);
	/* keep 9..11 free for the hole below */
	dnull = move_fd(dnull, 20, 0);
	dzero = move_fd(dzero, 20, 0);
	drand = move_fd(drand, 20, 1);

	/* dup'ed fd sharing the offset */
	int sh = open(t_path("shared.dat"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	T_SETUP(sh >= 0);
	T_SETUP(fcntl(sh, F_DUPFD, 77) == 77);
	T_SETUP(write(77, "0123456789", 10) == 10);
	T_SETUP(lseek(sh, 0, SEEK_CUR) == 10);

	/* fd 200 */
	int hi = open(t_path("high.dat"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	T_SETUP(hi >= 0);
	T_SETUP(write(hi, "high-fd", 7) == 7);
	T_SETUP(dup2(hi, 200) == 200);
	T_SETUP(close(hi) == 0);

	/* hole: 9 and 11 open, 10 closed */
	T_SETUP(dup2(dnull, 9) == 9 && dup2(dzero, 11) == 11);
	close(10);

	snapshot(before);
	T_SETUP(before[10].open == 0 && before[9].open && before[11].open && before[200].open && before[77].open);
	static int fds_before[MAXFD], nfds_before;
	nfds_before = list_fds(fds_before, MAXFD);

	t_ready();
	t_wait_go();

	/* --- verify ------------------------------------------------------- */
	static struct fdinfo after[MAXFD];
	snapshot(after);
	for (int fd = 0; fd < MAXFD; fd++) {
		struct fdinfo *b = &before[fd], *a = &after[fd];
		T_CHECK(a->open == b->open, "fd %d is %s after restore", fd, a->open ? "open" : "closed");
		if (!a->open || !b->open)
			continue;
		T_CHECK(a->fl == b->fl, "fd %d F_GETFL %#o, expected %#o", fd, a->fl, b->fl);
		T_CHECK(a->fdfl == b->fdfl, "fd %d F_GETFD %d, expected %d", fd, a->fdfl, b->fdfl);
		T_CHECK((a->st.st_mode & S_IFMT) == (b->st.st_mode & S_IFMT), "fd %d file type changed", fd);
		T_CHECK(a->pos == b->pos, "fd %d offset %lld, expected %lld", fd, (long long)a->pos, (long long)b->pos);
		if (fd != del) {
			T_CHECK(a->st.st_dev == b->st.st_dev && a->st.st_ino == b->st.st_ino,
				"fd %d refers to another file (dev/ino %lx/%lu, expected %lx/%lu)", fd,
				(unsigned long)a->st.st_dev, (unsigned long)a->st.st_ino,
				(unsigned long)b->st.st_dev, (unsigned long)b->st.st_ino);
			T_CHECK(a->st.st_rdev == b->st.st_rdev, "fd %d rdev changed", fd);
		}
	}
	static int fds_after[MAXFD];
	int nfds_after = list_fds(fds_after, MAXFD);
	T_CHECK(nfds_after == nfds_before, "%d open fds in /proc/self/fd, expected %d", nfds_after, nfds_before);

	/* rw.dat */
	T_EQ("rw.dat offset", lseek(rw, 0, SEEK_CUR), 1234);
	char r[16];
	T_CHECK(read(rw, r, 16) == 16 && t_pat(1, 1234) == (uint8_t)r[0] && t_pat(1, 1249) == (uint8_t)r[15],
		"rw.dat read at 1234 gives wrong data");
	T_EQ("rw.dat offset after read", lseek(rw, 0, SEEK_CUR), 1250);
	T_EQ("rw.dat O_ACCMODE", fcntl(rw, F_GETFL) & O_ACCMODE, O_RDWR);
	T_CHECK(write(rw, "XY", 2) == 2, "rw.dat write");

	/* append */
	T_CHECK(fcntl(ap, F_GETFL) & O_APPEND, "append.log lost O_APPEND");
	lseek(ap, 0, SEEK_SET);
	T_CHECK(write(ap, "line2\n", 6) == 6, "append write");
	ssize_t n = t_read_file(t_path("append.log"), buf, sizeof buf);
	T_CHECK(n == 12 && memcmp(buf, "line1\nline2\n", 12) == 0, "append.log is '%.*s'", (int)(n > 0 ? n : 0), buf);

	/* flags */
	T_CHECK((fcntl(fl, F_GETFL) & (O_NONBLOCK | O_ACCMODE)) == (O_NONBLOCK | O_RDONLY), "flags.dat F_GETFL %#o",
		fcntl(fl, F_GETFL));
	T_EQ("flags.dat FD_CLOEXEC", fcntl(fl, F_GETFD), FD_CLOEXEC);
	T_EQ("rw.dat FD_CLOEXEC (unset)", fcntl(rw, F_GETFD), 0);
	T_EQ("/dev/urandom FD_CLOEXEC", fcntl(drand, F_GETFD), FD_CLOEXEC);

	/* deleted */
	struct stat st;
	T_CHECK(fstat(del, &st) == 0, "fstat deleted");
	T_EQ("deleted.dat st_nlink", st.st_nlink, 0);
	T_EQ("deleted.dat size", st.st_size, (off_t)sizeof delbuf);
	T_EQ("deleted.dat mode", st.st_mode & 07777, 0640);
	T_EQ("deleted.dat offset", lseek(del, 0, SEEK_CUR), 100);
	static char got[3000];
	T_CHECK(pread(del, got, sizeof got, 0) == (ssize_t)sizeof got && memcmp(got, delbuf, sizeof got) == 0,
		"deleted.dat content differs");
	T_CHECK(access(t_path("deleted.dat"), F_OK) < 0, "deleted.dat reappeared in WORKDIR");
	snprintf(buf, sizeof buf, "/proc/self/fd/%d", del);
	char lnk[PATH_MAX] = { 0 };
	n = readlink(buf, lnk, sizeof lnk - 1);
	T_CHECK(n > 10 && strstr(lnk, " (deleted)") != NULL, "/proc/self/fd/%d -> '%s' (expected '... (deleted)')", del,
		lnk);
	T_CHECK(write(del, "more", 4) == 4 && pread(del, got, 4, 100) == 4 && memcmp(got, "more", 4) == 0,
		"deleted file not writable");

	/* directory */
	T_CHECK(fstat(dfd, &st) == 0 && S_ISDIR(st.st_mode), "dir fd not a directory");
	int in = openat(dfd, "inside.txt", O_RDONLY);
	T_CHECK(in >= 0 && read(in, buf, 16) == 6 && memcmp(buf, "inside", 6) == 0, "openat(dirfd, inside.txt)");
	if (in >= 0)
		close(in);

	/* devices */
	T_CHECK(write(dnull, "x", 1) == 1, "/dev/null write");
	memset(buf, 0x55, 4096);
	T_CHECK(read(dzero, buf, 4096) == 4096 && t_verify_zero(buf, 4096) < 0, "/dev/zero did not read zeros");
	T_CHECK(fstat(dzero, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 5,
		"/dev/zero fd is not char 1:5");
	T_CHECK(fstat(dnull, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3,
		"/dev/null fd is not char 1:3");
	T_CHECK(fstat(drand, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 9,
		"/dev/urandom fd is not char 1:9");
	uint64_t rnd[4] = { 0 };
	T_CHECK(read(drand, rnd, sizeof rnd) == sizeof rnd && (rnd[0] | rnd[1] | rnd[2] | rnd[3]),
		"/dev/urandom read");

	/* shared offset between sh and 77 */
	T_EQ("shared.dat offset via sh", lseek(sh, 0, SEEK_CUR), 10);
	T_EQ("shared.dat offset via 77", lseek(77, 0, SEEK_CUR), 10);
	T_CHECK(write(sh, "abcde", 5) == 5, "write sh");
	T_EQ("fd 77 offset moved by write via original fd", lseek(77, 0, SEEK_CUR), 15);
	T_CHECK(lseek(77, 3, SEEK_SET) == 3, "lseek 77");
	T_EQ("original fd offset moved by lseek via 77", lseek(sh, 0, SEEK_CUR), 3);

	/* fd 200 */
	T_CHECK(pread(200, buf, 7, 0) == 7 && memcmp(buf, "high-fd", 7) == 0, "fd 200 content");
	T_EQ("fd 200 offset", lseek(200, 0, SEEK_CUR), 7);

	/* hole */
	errno = 0;
	T_CHECK(fcntl(10, F_GETFD) == -1 && errno == EBADF, "fd 10 is not closed (errno %d)", errno);
	T_CHECK(fcntl(9, F_GETFD) >= 0 && fcntl(11, F_GETFD) >= 0, "fd 9 or 11 closed");
	T_CHECK(read(11, buf, 8) == 8 && t_verify_zero(buf, 8) < 0, "fd 11 (dup of /dev/zero)");
	t_finish();
}
