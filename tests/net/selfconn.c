/* selfconn - a process connected to itself over 127.0.0.1, for ferry's
 * network tests: a connection with both ends inside the dumped tree must be
 * preserved (whatever --ip-map says).
 *
 * usage: selfconn DIR
 * Listens on 127.0.0.1:0, connects to it and accepts (then closes the
 * listener), so it holds both ends A (connected) and B (accepted).  Before
 * DIR/ready it writes QUEUED (4096) bytes each way and does not read them,
 * so both receive queues hold data at dump time.  Once DIR/go exists
 * (polled every 20 ms, 300 s at most) it sends 1 MiB more each way, reads
 * everything back (QUEUED + 1 MiB per direction) verifying every byte, and
 * checks that the two ends are still each other's peer on 127.0.0.1.
 * Prints "OK: ..." and exits 0, or "FAIL: ..." and exits 1. */
#include "netutil.h"
#include <poll.h>
#include <signal.h>

#define QUEUED 4096ULL
#define MORE (1024ULL * 1024ULL)
#define SEED_AB 0xab5e1fULL
#define SEED_BA 0xba5e1fULL

__attribute__((format(printf, 1, 2), noreturn)) static void fail(const char *fmt, ...)
{
	va_list ap;
	printf("FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(1);
}

struct dir {
	int from, to;
	unsigned long long seed, sent, recvd;
};

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

int main(int argc, char **argv)
{
	prog_name = "selfconn";
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (argc != 2)
		die("usage: selfconn DIR");
	const char *wd = argv[1];

	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sa;
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&sa, &len) < 0)
		fail("listen on 127.0.0.1: %s", strerror(errno));
	int a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (a < 0 || connect(a, (struct sockaddr *)&sa, sizeof sa) < 0)
		fail("connect: %s", strerror(errno));
	int b = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (b < 0)
		fail("accept: %s", strerror(errno));
	close(l);

	struct dir d[2] = { { a, b, SEED_AB, 0, 0 }, { b, a, SEED_BA, 0, 0 } };
	static unsigned char buf[65536];
	for (int i = 0; i < 2; i++) {
		fill_stream(d[i].seed, 0, buf, QUEUED);
		if (write(d[i].from, buf, QUEUED) != (ssize_t)QUEUED)
			fail("queueing %llu bytes: %s", QUEUED, strerror(errno));
		d[i].sent = QUEUED;
	}
	char la[80], lb[80];
	struct sockaddr_storage ss;
	len = sizeof ss;
	getsockname(a, (struct sockaddr *)&ss, &len);
	fmt_addr(&ss, la, sizeof la);
	len = sizeof ss;
	getsockname(b, (struct sockaddr *)&ss, &len);
	fmt_addr(&ss, lb, sizeof lb);
	if (write_file(wd, "ready", "%d %d %s %d %s\n", (int)getpid(), a, la, b, lb) < 0)
		die("cannot write %s/ready: %s", wd, strerror(errno));

	for (int n = 0; !file_exists(wd, "go"); n++) {
		if (n > 300 * 50)
			fail("no %s/go after 300 s", wd);
		usleep(20000);
	}

	set_nonblock(a);
	set_nonblock(b);
	const unsigned long long total = QUEUED + MORE;
	long long end = mono_ms() + 30000;
	while (d[0].recvd < total || d[1].recvd < total) {
		if (mono_ms() > end)
			fail("transfer not done after 30 s (a->b sent %llu got %llu, b->a sent %llu got %llu)",
			     d[0].sent, d[0].recvd, d[1].sent, d[1].recvd);
		struct pollfd p[2] = { { .fd = a, .events = POLLIN }, { .fd = b, .events = POLLIN } };
		/* p[k] is the fd; direction 0 sends on a, direction 1 on b */
		if (d[0].sent < total)
			p[0].events |= POLLOUT;
		if (d[1].sent < total)
			p[1].events |= POLLOUT;
		if (poll(p, 2, 100) < 0 && errno != EINTR)
			fail("poll: %s", strerror(errno));
		for (int i = 0; i < 2; i++) {
			struct dir *x = &d[i];
			/* send on x->from */
			if (x->sent < total) {
				size_t n = total - x->sent < sizeof buf ? total - x->sent : sizeof buf;
				fill_stream(x->seed, x->sent, buf, n);
				ssize_t w = write(x->from, buf, n);
				if (w < 0 && errno != EAGAIN)
					fail("write (%s): %s", i ? "b->a" : "a->b", strerror(errno));
				if (w > 0)
					x->sent += w;
			}
			/* receive on x->to */
			ssize_t r = read(x->to, buf, sizeof buf);
			if (r == 0)
				fail("EOF (%s) after %llu bytes", i ? "b->a" : "a->b", x->recvd);
			if (r < 0 && errno != EAGAIN)
				fail("read (%s) after %llu bytes: %s", i ? "b->a" : "a->b", x->recvd, strerror(errno));
			if (r > 0) {
				long long bad = check_stream(x->seed, x->recvd, buf, r);
				if (bad >= 0)
					fail("byte %lld (%s) differs", bad, i ? "b->a" : "a->b");
				x->recvd += r;
				if (x->recvd > x->sent)
					fail("more bytes received (%s) than sent", i ? "b->a" : "a->b");
			}
		}
	}

	/* the ends are still each other's peer, on 127.0.0.1 */
	struct sockaddr_in al, ap, bl, bp;
	socklen_t s1 = sizeof al, s2 = sizeof ap, s3 = sizeof bl, s4 = sizeof bp;
	if (getsockname(a, (struct sockaddr *)&al, &s1) || getpeername(a, (struct sockaddr *)&ap, &s2) ||
	    getsockname(b, (struct sockaddr *)&bl, &s3) || getpeername(b, (struct sockaddr *)&bp, &s4))
		fail("getsockname/getpeername: %s", strerror(errno));
	if (al.sin_addr.s_addr != htonl(INADDR_LOOPBACK) || bl.sin_addr.s_addr != htonl(INADDR_LOOPBACK) ||
	    al.sin_port != bp.sin_port || bl.sin_port != ap.sin_port || al.sin_addr.s_addr != bp.sin_addr.s_addr ||
	    bl.sin_addr.s_addr != ap.sin_addr.s_addr)
		fail("the ends are no longer each other's peer on 127.0.0.1");
	printf("OK: %llu bytes each way over 127.0.0.1 (a %s, b %s)\n", total, la, lb);
	return 0;
}
