/* block_read - restore of a process blocked in read().
 * Trigger: the runner writes "go" into the FIFO WORKDIR/trigger (which the
 * program created and opened O_RDWR, so it never sees EOF).
 * Covers: the dump/restore cycles happen while the program sits in one
 * blocking read() on that FIFO; after restore it must still be blocked there
 * (the runner checks /proc/PID/syscall shows read) and the read must return
 * the runner's data -- not -1/EINTR, not 0, not early.  Also checks a memory
 * pattern and that the fd is still the FIFO. */
#include "common.h"

int main(int argc, char **argv)
{
	t_init(argc, argv);
	static uint8_t pat[65536];
	t_fill(pat, sizeof pat, 42);

	T_SETUP(mkfifo(t_path("trigger"), 0600) == 0);
	int fd = open(t_path("trigger"), O_RDWR);
	T_SETUP(fd >= 0);
	struct stat st0;
	T_SETUP(fstat(fd, &st0) == 0);

	t_ready();
	char buf[64] = { 0 };
	errno = 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	int err = errno;

	/* --- verify ------------------------------------------------------- */
	T_CHECK(n >= 2, "read() returned %zd (errno %d %s), expected the trigger data", n, err, strerror(err));
	T_CHECK(n >= 2 && memcmp(buf, "go", 2) == 0, "read() returned '%.*s', expected 'go'", (int)(n > 0 ? n : 0),
		buf);
	struct stat st;
	T_CHECK(fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && st.st_ino == st0.st_ino, "fd is no longer the FIFO");
	T_CHECK(t_verify(pat, sizeof pat, 42) < 0, "memory pattern differs");
	t_finish();
}
