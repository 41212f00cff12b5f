/* pipes - pipes and FIFOs with buffered data.
 * Covers: pipe A with 3000 unread bytes, both ends held, read end
 * O_NONBLOCK, write end also dup'ed; pipe B resized with F_SETPIPE_SZ to
 * 128 KiB holding 100000 unread bytes (more than the default 64 KiB);
 * pipe C empty; pipe D whose write end was closed, 500 bytes unread (reads
 * the data then EOF); FIFO WORKDIR/fifo opened O_RDWR with 100 unread bytes.
 * After restore: FIONREAD counts, F_GETPIPE_SZ, F_GETFL, both ends of each
 * pipe are one pipe (same inode), the FIFO fd is that FIFO node, all data
 * reads back byte-exact with nothing extra, and the pipes still carry new
 * data both ways. */
#include "common.h"
#include <sys/ioctl.h>

static int nread_avail(int fd)
{
	int n = -1;
	if (ioctl(fd, FIONREAD, &n) < 0)
		return -1;
	return n;
}

/* read exactly len bytes (fd may be blocking or not) */
static ssize_t read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
	}
	return (ssize_t)got;
}

static ino_t ino(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	static uint8_t buf[200000];

	int a[2], b[2], c[2], d[2];
	T_SETUP(pipe(a) == 0 && pipe(b) == 0 && pipe(c) == 0 && pipe(d) == 0);
	T_SETUP(fcntl(a[0], F_SETFL, O_NONBLOCK) == 0);
	int a_wdup = dup(a[1]);
	T_SETUP(a_wdup >= 0);
	t_fill(buf, 3000, 1);
	T_SETUP(write(a[1], buf, 3000) == 3000);

	T_SETUP(fcntl(b[1], F_SETPIPE_SZ, 128 * 1024) >= 128 * 1024);
	int bsz = fcntl(b[0], F_GETPIPE_SZ);
	T_SETUP(bsz == 128 * 1024);
	t_fill(buf, 100000, 2);
	T_SETUP(write(b[1], buf, 100000) == 100000);

	t_fill(buf, 500, 4);
	T_SETUP(write(d[1], buf, 500) == 500);
	T_SETUP(close(d[1]) == 0);

	T_SETUP(mkfifo(t_path("fifo"), 0600) == 0);
	int f = open(t_path("fifo"), O_RDWR);
	T_SETUP(f >= 0);
	t_fill(buf, 100, 3);
	T_SETUP(write(f, buf, 100) == 100);
	struct stat fst;
	T_SETUP(stat(t_path("fifo"), &fst) == 0);

	int fl_a0 = fcntl(a[0], F_GETFL), fl_a1 = fcntl(a[1], F_GETFL), fl_b0 = fcntl(b[0], F_GETFL),
	    fl_f = fcntl(f, F_GETFL);
	int asz = fcntl(a[0], F_GETPIPE_SZ);

	t_ready();
	t_wait_go();

	/* --- verify ------------------------------------------------------- */
	T_EQ("pipe A FIONREAD", nread_avail(a[0]), 3000);
	T_EQ("pipe B FIONREAD", nread_avail(b[0]), 100000);
	T_EQ("pipe C FIONREAD", nread_avail(c[0]), 0);
	T_EQ("pipe D FIONREAD", nread_avail(d[0]), 500);
	T_EQ("FIFO FIONREAD", nread_avail(f), 100);
	T_EQ("pipe A F_GETPIPE_SZ", fcntl(a[0], F_GETPIPE_SZ), asz);
	T_EQ("pipe B F_GETPIPE_SZ", fcntl(b[0], F_GETPIPE_SZ), 128 * 1024);
	T_EQ("pipe A read end F_GETFL", fcntl(a[0], F_GETFL), fl_a0);
	T_EQ("pipe A write end F_GETFL", fcntl(a[1], F_GETFL), fl_a1);
	T_EQ("pipe B read end F_GETFL", fcntl(b[0], F_GETFL), fl_b0);
	T_EQ("FIFO F_GETFL", fcntl(f, F_GETFL), fl_f);
	T_CHECK(ino(a[0]) && ino(a[0]) == ino(a[1]) && ino(a[1]) == ino(a_wdup), "pipe A ends are different pipes");
	T_CHECK(ino(b[0]) && ino(b[0]) == ino(b[1]), "pipe B ends are different pipes");
	T_CHECK(ino(c[0]) && ino(c[0]) == ino(c[1]), "pipe C ends are different pipes");
	T_CHECK(ino(a[0]) != ino(b[0]) && ino(b[0]) != ino(c[0]) && ino(a[0]) != ino(c[0]), "pipes merged");
	int d_refs = 0;
	for (int fd = 0; fd < 1024; fd++)
		d_refs += fd != d[0] && fcntl(fd, F_GETFD) >= 0 && ino(fd) == ino(d[0]);
	T_EQ("other fds on pipe D (its write end was closed)", d_refs, 0);
	struct stat st;
	T_CHECK(fstat(f, &st) == 0 && S_ISFIFO(st.st_mode) && st.st_ino == fst.st_ino && st.st_dev == fst.st_dev,
		"FIFO fd is not WORKDIR/fifo");

	static uint8_t got[200000];
	ssize_t n = read_full(a[0], got, 3000);
	t_fill(buf, 3000, 1);
	T_CHECK(n == 3000 && memcmp(got, buf, 3000) == 0, "pipe A data: %zd bytes, %s", n,
		memcmp(got, buf, 3000) ? "differs" : "same");
	errno = 0;
	T_CHECK(read(a[0], got, 10) == -1 && errno == EAGAIN, "pipe A has extra data");

	n = read_full(b[0], got, 100000);
	t_fill(buf, 100000, 2);
	T_CHECK(n == 100000 && memcmp(got, buf, 100000) == 0, "pipe B data: %zd bytes, %s", n,
		memcmp(got, buf, 100000) ? "differs" : "same");
	T_EQ("pipe B empty", nread_avail(b[0]), 0);

	n = read_full(d[0], got, 500);
	t_fill(buf, 500, 4);
	T_CHECK(n == 500 && memcmp(got, buf, 500) == 0, "pipe D data: %zd bytes", n);
	T_EQ("pipe D EOF after data (writer closed)", read(d[0], got, 10), 0);

	n = read_full(f, got, 100);
	t_fill(buf, 100, 3);
	T_CHECK(n == 100 && memcmp(got, buf, 100) == 0, "FIFO data: %zd bytes", n);
	T_EQ("FIFO empty", nread_avail(f), 0);

	/* still working pipes */
	T_CHECK(write(a[1], "hello", 5) == 5 && write(a_wdup, "!", 1) == 1 && read_full(a[0], got, 6) == 6 &&
			memcmp(got, "hello!", 6) == 0,
		"pipe A after restore");
	t_fill(buf, 120000, 5);
	T_CHECK(write(b[1], buf, 120000) == 120000, "pipe B holds 120000 bytes (128 KiB capacity)");
	T_CHECK(read_full(b[0], got, 120000) == 120000 && memcmp(got, buf, 120000) == 0, "pipe B after restore");
	T_CHECK(write(c[1], "c", 1) == 1 && read(c[0], got, 1) == 1 && got[0] == 'c', "pipe C after restore");
	int w = open(t_path("fifo"), O_WRONLY | O_NONBLOCK);
	T_CHECK(w >= 0 && write(w, "via-path", 8) == 8 && read_full(f, got, 8) == 8 && memcmp(got, "via-path", 8) == 0,
		"FIFO opened by path does not reach the restored fd");
	t_finish();
}
