/* client - test client for ferry's network tests (tests/net/run.sh).
 * ADDR:PORT is A.B.C.D:PORT or [V6]:PORT.  Addresses written to files are
 * "ADDR PORT" (space separated); times are CLOCK_REALTIME in ns.
 *
 *   echo ADDR:PORT
 *       connect, send a line, expect it back; prints "ok" and exits 0, or
 *       prints "fail: why" and exits 1.  Everything within 3 s.
 *   hold ADDR:PORT DIR
 *       connect, exchange one line, write DIR/held ("LOCALADDR LOCALPORT"),
 *       then block in read() until the connection fails; DIR/client-result
 *       gets "ECONNRESET NS" (the errno name), "EOF NS", or "TIMEOUT NS"
 *       after 20 s (exit 1).  Data that arrives meanwhile is ignored.
 *   inflight ADDR:PORT DIR
 *       connect only (never sends); DIR/inflight-connected gets
 *       "LOCALADDR LOCALPORT" once connect() succeeded, then poll() the
 *       socket; DIR/inflight-result gets "ECONNRESET NS" (SO_ERROR / read
 *       errno name), "EOF NS", "EPOLLHUP NS", "DATA NS" or "TIMEOUT NS"
 *       (after 20 s, exit 1).
 *   stream ADDR:PORT DIR SECONDS
 *       send a deterministic pseudo-random byte stream for SECONDS and
 *       verify every byte of the echo.  Writes as fast as the socket takes
 *       data but reads the echo at a limited rate (STREAM_RATE bytes/s,
 *       default 2 MB/s), so the kernel queues of both directions (and the
 *       server's) stay full.  After SECONDS it stops sending, reads the rest
 *       at full speed and closes.  DIR/stream-started is written after the
 *       first verified echo, DIR/stream-progress ("SENT RECEIVED") about
 *       every 200 ms, DIR/stream-result at the end: "ok BYTES",
 *       "mismatch at N", "eof at N", "error ERRNAME at N", "stall at N"
 *       (no progress for 60 s) or "connect-failed ERRNAME".  Exit 0 iff ok.
 *   udp ADDR:PORT
 *       send a datagram (again every 500 ms), expect the echo within 3 s;
 *       prints "from ADDR PORT" (the reply's source) and exits 0.
 *   udprecv BINDADDR:PORT DIR
 *       bind, write DIR/udp-ready, wait (20 s) for one datagram; writes
 *       DIR/udp-data (its payload) and DIR/udp-from ("ADDR PORT" of the
 *       sender, or "TIMEOUT"). */
#include "netutil.h"
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>

#define STREAM_SEED 0xfe77a11ce5eedULL

static struct sockaddr_storage peer;
static socklen_t peerlen;

/* connect to peer within ms; returns a non-blocking connected fd, or -1
 * with errno set */
static int connect_to_opt(int ms, int opt, int val)
{
	int fd = socket(peer.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (opt)
		setsockopt(fd, SOL_SOCKET, opt, &val, sizeof val);
	if (connect(fd, (struct sockaddr *)&peer, peerlen) == 0)
		return fd;
	if (errno != EINPROGRESS)
		goto fail;
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int r = poll(&p, 1, ms);
	if (r == 0) {
		errno = ETIMEDOUT;
		goto fail;
	}
	if (r < 0)
		goto fail;
	int err = 0;
	socklen_t l = sizeof err;
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
	if (err) {
		errno = err;
		goto fail;
	}
	return fd;
fail:;
	int e = errno;
	close(fd);
	errno = e;
	return -1;
}

static int connect_to(int ms) { return connect_to_opt(ms, 0, 0); }

static void set_blocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

static void set_rcvtimeo(int fd, long long ms)
{
	if (ms < 1)
		ms = 1;
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

static const char *local_of(int fd, char *buf, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;
	memset(&ss, 0, sizeof ss);
	getsockname(fd, (struct sockaddr *)&ss, &l);
	return fmt_addr(&ss, buf, n);
}

/* read exactly n bytes from a blocking fd (with its SO_RCVTIMEO) */
static int read_full(int fd, char *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r == 0) {
			errno = 0;
			return -1;
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += r;
	}
	return 0;
}

static int do_echo(void)
{
	long long t0 = mono_ms();
	int fd = connect_to(3000);
	if (fd < 0) {
		printf("fail: connect: %s\n", errname(errno));
		return 1;
	}
	set_blocking(fd);
	char msg[128], back[128];
	int n = snprintf(msg, sizeof msg, "hello ferry %d %lld\n", (int)getpid(), realtime_ns());
	if (send(fd, msg, n, MSG_NOSIGNAL) != n) {
		printf("fail: send: %s\n", errname(errno));
		return 1;
	}
	set_rcvtimeo(fd, 3000 - (mono_ms() - t0));
	if (read_full(fd, back, n) < 0) {
		printf("fail: read: %s\n", errno ? errname(errno) : "EOF");
		return 1;
	}
	if (memcmp(msg, back, n)) {
		printf("fail: echo differs\n");
		return 1;
	}
	char l[80];
	printf("ok (local %s)\n", local_of(fd, l, sizeof l));
	close(fd);
	return 0;
}

static int do_hold(const char *dir)
{
	int fd = connect_to(5000);
	if (fd < 0) {
		printf("fail: connect: %s\n", errname(errno));
		write_file(dir, "client-result", "CONNECT-%s %lld\n", errname(errno), realtime_ns());
		return 1;
	}
	set_blocking(fd);
	char msg[64], back[64], l[80];
	int n = snprintf(msg, sizeof msg, "hold %d\n", (int)getpid());
	set_rcvtimeo(fd, 5000);
	if (send(fd, msg, n, MSG_NOSIGNAL) != n || read_full(fd, back, n) < 0 || memcmp(msg, back, n)) {
		printf("fail: first exchange: %s\n", errno ? errname(errno) : "EOF/differs");
		write_file(dir, "client-result", "EXCHANGE-FAILED %lld\n", realtime_ns());
		return 1;
	}
	write_file(dir, "held", "%s\n", local_of(fd, l, sizeof l));
	long long end = mono_ms() + 20000;
	char buf[4096];
	for (;;) {
		long long left = end - mono_ms();
		if (left <= 0)
			break;
		set_rcvtimeo(fd, left);
		ssize_t r = read(fd, buf, sizeof buf);
		long long t = realtime_ns();
		if (r > 0)
			continue;
		if (r == 0) {
			write_file(dir, "client-result", "EOF %lld\n", t);
			printf("EOF\n");
			return 0;
		}
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			continue; /* EAGAIN: SO_RCVTIMEO expired; the loop checks the time */
		write_file(dir, "client-result", "%s %lld\n", errname(errno), t);
		printf("%s\n", errname(errno));
		return 0;
	}
	write_file(dir, "client-result", "TIMEOUT %lld\n", realtime_ns());
	printf("TIMEOUT\n");
	return 1;
}

static int do_inflight(const char *dir)
{
	int fd = connect_to(5000);
	if (fd < 0) {
		printf("fail: connect: %s\n", errname(errno));
		write_file(dir, "inflight-result", "CONNECT-%s %lld\n", errname(errno), realtime_ns());
		return 1;
	}
	char l[80];
	write_file(dir, "inflight-connected", "%s\n", local_of(fd, l, sizeof l));
	long long end = mono_ms() + 20000;
	for (;;) {
		long long left = end - mono_ms();
		if (left <= 0)
			break;
		struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };
		int r = poll(&p, 1, (int)left);
		long long t = realtime_ns();
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		const char *what;
		char tmp[8];
		int err = 0;
		socklen_t el = sizeof err;
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) {
			what = errname(err);
		} else if (p.revents & (POLLIN | POLLRDHUP)) {
			ssize_t n = recv(fd, tmp, sizeof tmp, MSG_DONTWAIT);
			what = n == 0 ? "EOF" : n > 0 ? "DATA" : errno == EAGAIN ? "EPOLLHUP" : errname(errno);
		} else {
			what = "EPOLLHUP";
		}
		write_file(dir, "inflight-result", "%s %lld\n", what, t);
		printf("%s (revents 0x%x)\n", what, p.revents);
		return 0;
	}
	write_file(dir, "inflight-result", "TIMEOUT %lld\n", realtime_ns());
	printf("TIMEOUT\n");
	return 1;
}

/* write DIR/stream-result and print it; exit status 0 iff it starts with "ok" */
__attribute__((format(printf, 2, 3))) static int stream_result(const char *dir, const char *fmt, ...)
{
	char line[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	write_file(dir, "stream-result", "%s\n", line);
	printf("%s\n", line);
	return strncmp(line, "ok ", 3) ? 1 : 0;
}

static int do_stream(const char *dir, double seconds)
{
	long long rate = 2 * 1024 * 1024;
	const char *r = getenv("STREAM_RATE");
	if (r && atoll(r) > 0)
		rate = atoll(r);
	/* a fixed receive buffer (no autotuning), much larger than one rate-limited
	 * read: our receive queue never runs empty while sending */
	int rcvbuf = 256 * 1024;
	int fd = connect_to_opt(5000, SO_RCVBUF, rcvbuf);
	if (fd < 0)
		return stream_result(dir, "connect-failed %s", errname(errno));
	static unsigned char sbuf[65536], rbuf[65536];
	unsigned long long sent = 0, recvd = 0;
	long long t0 = mono_ms(), send_end = t0 + (long long)(seconds * 1000);
	long long last_progress = t0, last_report = 0, budget_t = t0;
	long long budget = 0; /* bytes we may read now (rate limit) */
	int started = 0, sending = 1;
	for (;;) {
		long long now = mono_ms();
		if (sending && now >= send_end)
			sending = 0;
		if (!sending && recvd == sent)
			break;
		if (now - last_progress > 60000)
			return stream_result(dir, "stall at %llu", recvd);
		if (now - last_report >= 200) {
			write_file(dir, "stream-progress", "%llu %llu\n", sent, recvd);
			last_report = now;
		}
		/* reading budget: rate-limited while sending, unlimited after */
		if (sending) {
			budget += (now - budget_t) * rate / 1000;
			if (budget > rate / 10)
				budget = rate / 10;
		} else {
			budget = sizeof rbuf;
		}
		budget_t = now;
		struct pollfd p = { .fd = fd, .events = (sending ? POLLOUT : 0) | (budget > 0 ? POLLIN : 0) };
		int n = poll(&p, 1, 10);
		if (n < 0 && errno != EINTR)
			return stream_result(dir, "poll failed %llu", recvd);
		if (n <= 0)
			continue;
		if (p.revents & (POLLERR | POLLHUP) && !(p.revents & POLLIN)) {
			int err = 0;
			socklen_t el = sizeof err;
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
			return stream_result(dir, "error %s at %llu", err ? errname(err) : "EPOLLHUP", recvd);
		}
		if (p.revents & POLLOUT && sending) {
			fill_stream(STREAM_SEED, sent, sbuf, sizeof sbuf);
			ssize_t w = send(fd, sbuf, sizeof sbuf, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w < 0 && errno != EAGAIN && errno != EINTR) {
				return stream_result(dir, "error %s at %llu", errname(errno), recvd);
			}
			if (w > 0)
				sent += w;
		}
		if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
			size_t want = sizeof rbuf;
			if ((long long)want > budget)
				want = budget;
			if (want == 0)
				continue;
			ssize_t got = recv(fd, rbuf, want, MSG_DONTWAIT);
			if (got == 0)
				return stream_result(dir, "eof at %llu", recvd);
			if (got < 0) {
				if (errno == EAGAIN || errno == EINTR)
					continue;
				return stream_result(dir, "error %s at %llu", errname(errno), recvd);
			}
			long long bad = check_stream(STREAM_SEED, recvd, rbuf, got);
			if (bad >= 0)
				return stream_result(dir, "mismatch at %llu", bad);
			if (recvd + got > sent)
				return stream_result(dir, "mismatch at %llu (more echoed than sent)", recvd);
			recvd += got;
			if (sending)
				budget -= got;
			last_progress = mono_ms();
			if (!started) {
				write_file(dir, "stream-started", "%lld\n", realtime_ns());
				started = 1;
			}
		}
	}
	write_file(dir, "stream-progress", "%llu %llu\n", sent, recvd);
	close(fd);
	return stream_result(dir, "ok %llu", sent);
}

static int do_udp(void)
{
	int fd = socket(peer.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		printf("fail: socket: %s\n", errname(errno));
		return 1;
	}
	char msg[96], buf[2048], from[80];
	int n = snprintf(msg, sizeof msg, "udp ping %d %lld", (int)getpid(), realtime_ns());
	long long end = mono_ms() + 3000, next_send = 0;
	while (mono_ms() < end) {
		if (mono_ms() >= next_send) {
			if (sendto(fd, msg, n, 0, (struct sockaddr *)&peer, peerlen) != n) {
				printf("fail: sendto: %s\n", errname(errno));
				return 1;
			}
			next_send = mono_ms() + 500;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 50) <= 0)
			continue;
		struct sockaddr_storage ss;
		socklen_t l = sizeof ss;
		ssize_t r = recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&ss, &l);
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			/* e.g. ECONNREFUSED from an ICMP port unreachable */
			printf("fail: recvfrom: %s\n", errname(errno));
			return 1;
		}
		if (r != n || memcmp(buf, msg, n)) {
			printf("fail: reply differs from %s\n", fmt_addr(&ss, from, sizeof from));
			return 1;
		}
		printf("from %s\n", fmt_addr(&ss, from, sizeof from));
		return 0;
	}
	printf("fail: no reply within 3 s\n");
	return 1;
}

static int do_udprecv(const char *dir)
{
	int fd = socket(peer.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&peer, peerlen) < 0) {
		printf("fail: bind: %s\n", errname(errno));
		return 1;
	}
	write_file(dir, "udp-ready", "%d\n", (int)getpid());
	struct pollfd p = { .fd = fd, .events = POLLIN };
	long long end = mono_ms() + 20000;
	for (;;) {
		long long left = end - mono_ms();
		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			write_file(dir, "udp-from", "TIMEOUT\n");
			printf("TIMEOUT\n");
			return 1;
		}
		char buf[2048], from[80];
		struct sockaddr_storage ss;
		socklen_t l = sizeof ss;
		ssize_t r = recvfrom(fd, buf, sizeof buf - 1, MSG_DONTWAIT, (struct sockaddr *)&ss, &l);
		if (r < 0)
			continue;
		buf[r] = 0;
		write_file(dir, "udp-data", "%s\n", buf);
		write_file(dir, "udp-from", "%s\n", fmt_addr(&ss, from, sizeof from));
		printf("from %s: %s\n", from, buf);
		return 0;
	}
}

int main(int argc, char **argv)
{
	prog_name = "client";
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3)
		goto usage;
	const char *mode = argv[1];
	must_parse(argv[2], &peer, &peerlen);
	if (!strcmp(mode, "echo") && argc == 3)
		return do_echo();
	if (!strcmp(mode, "hold") && argc == 4)
		return do_hold(argv[3]);
	if (!strcmp(mode, "inflight") && argc == 4)
		return do_inflight(argv[3]);
	if (!strcmp(mode, "stream") && argc == 5)
		return do_stream(argv[3], atof(argv[4]));
	if (!strcmp(mode, "udp") && argc == 3)
		return do_udp();
	if (!strcmp(mode, "udprecv") && argc == 4)
		return do_udprecv(argv[3]);
usage:
	fprintf(stderr, "usage: client echo|udp ADDR:PORT | hold|inflight|udprecv ADDR:PORT DIR | "
			"stream ADDR:PORT DIR SECONDS\n");
	return 2;
}
