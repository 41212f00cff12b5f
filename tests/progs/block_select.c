/* block_select - restore of a process blocked in select() without timeout.
 * Trigger: the runner writes "go" into the FIFO WORKDIR/trigger (created by
 * the program and opened O_RDWR).
 * Covers: dump/restore while blocked in select(nfds, {fifo, other pipe},
 * NULL, NULL, NULL); after restore it must still be blocked there and return
 * 1 with only the FIFO readable -- not -1/EINTR, not 0 -- then read "go".
 * The fd sets passed in must come back correctly (a second, idle pipe in
 * the set must not be reported). */
#include "common.h"
#include <sys/select.h>

int main(int argc, char **argv)
{
	t_init(argc, argv);
	static uint8_t pat[65536];
	t_fill(pat, sizeof pat, 43);

	T_SETUP(mkfifo(t_path("trigger"), 0600) == 0);
	int fd = open(t_path("trigger"), O_RDWR);
	T_SETUP(fd >= 0);
	int idle[2];
	T_SETUP(pipe(idle) == 0);

	t_ready();
	fd_set rfds;
	FD_ZERO(&rfds);
	FD_SET(fd, &rfds);
	FD_SET(idle[0], &rfds);
	int maxfd = fd > idle[0] ? fd : idle[0];
	errno = 0;
	int r = select(maxfd + 1, &rfds, NULL, NULL, NULL);
	int err = errno;

	/* --- verify ------------------------------------------------------- */
	T_CHECK(r == 1, "select() returned %d (errno %d %s), expected 1", r, err, strerror(err));
	T_CHECK(r == 1 && FD_ISSET(fd, &rfds), "FIFO not reported readable");
	T_CHECK(r < 0 || !FD_ISSET(idle[0], &rfds), "idle pipe reported readable");
	char buf[64] = { 0 };
	ssize_t n = read(fd, buf, sizeof buf - 1);
	T_CHECK(n >= 2 && memcmp(buf, "go", 2) == 0, "read after select returned %zd '%.*s'", n,
		(int)(n > 0 ? n : 0), buf);
	T_CHECK(t_verify(pat, sizeof pat, 43) < 0, "memory pattern differs");
	t_finish();
}
