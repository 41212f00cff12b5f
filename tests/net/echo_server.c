/* echo_server - epoll-based, non-blocking TCP/UDP echo server for ferry's
 * network tests (tests/net/run.sh).
 *
 * usage: echo_server --workdir DIR [--listen ADDR:PORT] [--udp ADDR:PORT]
 *                    [--udp-connect PEER:PORT]
 *   ADDR:PORT is A.B.C.D:PORT or [V6]:PORT (0.0.0.0 and [::] work).
 *
 * TCP (--listen): a listener with SO_REUSEADDR; every accepted connection
 * is echoed.  Output that cannot be written at once is kept and the
 * connection is not read again until it has been flushed (so a fast sender
 * fills the kernel queues of both directions).
 * UDP (--udp): a socket bound to ADDR:PORT that echoes every datagram back
 * to its sender.  With --udp-connect too, that same socket is also
 * connect()ed to PEER:PORT (so it is bound to ADDR:PORT and connected);
 * with --udp-connect alone, a socket connected to PEER:PORT from an
 * ephemeral port.  Whenever DIR/send-udp exists it is deleted and one
 * datagram "hello-from-server" is sent to the connected peer.
 *
 * Files in DIR:
 *   ready        written (atomically, "PID") once every socket is set up
 *   listen-addr  "ADDR PORT" of the TCP listener / udp-addr of the UDP socket
 *   pause-accept while this exists (checked every loop iteration; the loop
 *                wakes at least every 50 ms) the listener is taken out of the
 *                epoll set and accept() is not called
 *   accept-state "paused" / "accepting": rewritten whenever the loop takes the
 *                listener out of / puts it (back) into the epoll set
 *   accepted     one line per accepted connection: "FD PEERADDR PEERPORT"
 *   closes       the number of client connections closed because the loop
 *                saw EPOLLHUP/EPOLLERR, read()==0, or a read/write error
 *                (rewritten atomically; "0" at start)
 *   close-log    one line per such close:
 *                "FD errno ERRNO ERRNAME via hup|err|eof|readerr|writeerr
 *                 events 0xEV sock tcp4|tcp6|... local ADDR PORT"
 *                (ERRNO is SO_ERROR for hup/err, read/write's errno else;
 *                sock/local are what the fd was just before close())
 *   udp-log      one line per UDP event (echo, sent, send error, SO_ERROR)
 * SIGTERM (or SIGINT): exit 0. */
#include "netutil.h"
#include <signal.h>
#include <sys/epoll.h>

#define MAXFD 4096
#define BUFSZ (256 * 1024)

static const char *dir;
static int ep = -1;
static int lfd = -1, ufd = -1;
static int udp_connected;
static volatile sig_atomic_t stop;
static unsigned long closes;

struct conn {
	int open;
	unsigned char *buf; /* pending output */
	size_t off, len;
};
static struct conn conns[MAXFD];
static unsigned char rbuf[BUFSZ];

static void on_term(int s)
{
	(void)s;
	stop = 1;
}

static void ep_ctl(int op, int fd, unsigned ev)
{
	struct epoll_event e = { .events = ev, .data.fd = fd };
	if (epoll_ctl(ep, op, fd, &e) < 0)
		die("epoll_ctl(%d, fd %d): %s", op, fd, strerror(errno));
}

static const char *sock_kind(int fd, char *buf, size_t n)
{
	int dom = -1, type = -1, proto = -1;
	socklen_t l = sizeof dom;
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) < 0) {
		snprintf(buf, n, "notsock-%s", errname(errno));
		return buf;
	}
	l = sizeof type;
	getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l);
	l = sizeof proto;
	getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l);
	const char *p = type == SOCK_STREAM && proto == IPPROTO_TCP ? "tcp"
			: type == SOCK_DGRAM && proto == IPPROTO_UDP ? "udp"
								     : "other";
	snprintf(buf, n, "%s%s", p, dom == AF_INET ? "4" : dom == AF_INET6 ? "6" : "?");
	return buf;
}

static void close_conn(int fd, int err, const char *via, unsigned ev)
{
	char kind[32], local[INET6_ADDRSTRLEN + 16] = "? 0";
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;
	sock_kind(fd, kind, sizeof kind);
	memset(&ss, 0, sizeof ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &l) == 0)
		fmt_addr(&ss, local, sizeof local);
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	free(conns[fd].buf);
	memset(&conns[fd], 0, sizeof conns[fd]);
	closes++;
	if (write_file(dir, "closes", "%lu\n", closes) < 0)
		die("cannot write %s/closes: %s", dir, strerror(errno));
	append_file(dir, "close-log", "%d errno %d %s via %s events 0x%x sock %s local %s\n", fd, err,
		    errname(err), via, ev, kind, local);
}

/* write the pending output of fd; 0 = all written, 1 = some left, -1 = error */
static int flush(int fd)
{
	struct conn *c = &conns[fd];
	while (c->off < c->len) {
		ssize_t n = write(fd, c->buf + c->off, c->len - c->off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 1;
			return -1;
		}
		c->off += n;
	}
	c->off = c->len = 0;
	return 0;
}

static void on_conn(int fd, unsigned ev)
{
	struct conn *c = &conns[fd];
	if (ev & (EPOLLHUP | EPOLLERR)) {
		int err = 0;
		socklen_t l = sizeof err;
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
		close_conn(fd, err, ev & EPOLLERR ? "err" : "hup", ev);
		return;
	}
	if (ev & EPOLLOUT) {
		int r = flush(fd);
		if (r < 0) {
			close_conn(fd, errno, "writeerr", ev);
			return;
		}
		if (r == 0) /* drained: read again */
			ep_ctl(EPOLL_CTL_MOD, fd, EPOLLIN | EPOLLRDHUP);
		return;
	}
	if (ev & (EPOLLIN | EPOLLRDHUP)) {
		ssize_t n = read(fd, rbuf, sizeof rbuf);
		if (n == 0) {
			close_conn(fd, 0, "eof", ev);
			return;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			close_conn(fd, errno, "readerr", ev);
			return;
		}
		memcpy(c->buf, rbuf, n);
		c->off = 0;
		c->len = n;
		int r = flush(fd);
		if (r < 0) {
			close_conn(fd, errno, "writeerr", ev);
			return;
		}
		if (r == 1) /* stop reading until the output is gone */
			ep_ctl(EPOLL_CTL_MOD, fd, EPOLLOUT);
	}
}

static void do_accept(void)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t l = sizeof ss;
		int fd = accept4(lfd, (struct sockaddr *)&ss, &l, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
				return;
			die("accept: %s", strerror(errno));
		}
		if (fd >= MAXFD)
			die("fd %d too large", fd);
		char peer[INET6_ADDRSTRLEN + 16];
		conns[fd].open = 1;
		conns[fd].buf = malloc(BUFSZ);
		if (!conns[fd].buf)
			die("out of memory");
		append_file(dir, "accepted", "%d %s\n", fd, fmt_addr(&ss, peer, sizeof peer));
		ep_ctl(EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLRDHUP);
	}
}

static void on_udp(unsigned ev)
{
	if (ev & EPOLLERR) {
		int err = 0;
		socklen_t l = sizeof err;
		getsockopt(ufd, SOL_SOCKET, SO_ERROR, &err, &l);
		append_file(dir, "udp-log", "so_error %s\n", errname(err));
	}
	if (!(ev & EPOLLIN))
		return;
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t l = sizeof ss;
		ssize_t n = recvfrom(ufd, rbuf, sizeof rbuf, 0, (struct sockaddr *)&ss, &l);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			append_file(dir, "udp-log", "recv error %s\n", errname(errno));
			return;
		}
		char peer[INET6_ADDRSTRLEN + 16];
		ssize_t w = udp_connected ? send(ufd, rbuf, n, 0) : sendto(ufd, rbuf, n, 0, (struct sockaddr *)&ss, l);
		append_file(dir, "udp-log", "echo %zd bytes to %s: %s\n", n, fmt_addr(&ss, peer, sizeof peer),
			    w == n ? "ok" : errname(errno));
	}
}

static void maybe_send_udp(void)
{
	if (ufd < 0 || !udp_connected || !file_exists(dir, "send-udp"))
		return;
	char p[4096];
	snprintf(p, sizeof p, "%s/send-udp", dir);
	unlink(p);
	static const char msg[] = "hello-from-server";
	ssize_t n = send(ufd, msg, sizeof msg - 1, 0);
	if (n == (ssize_t)sizeof msg - 1)
		append_file(dir, "udp-log", "sent %zd\n", n);
	else
		append_file(dir, "udp-log", "send error %s\n", n < 0 ? errname(errno) : "short");
}

static int make_sock(const struct sockaddr_storage *ss, int type)
{
	int fd = socket(ss->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	return fd;
}

int main(int argc, char **argv)
{
	prog_name = "echo_server";
	const char *listen_s = NULL, *udp_s = NULL, *conn_s = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (i + 1 >= argc)
			die("option %s needs an argument", a);
		if (!strcmp(a, "--listen"))
			listen_s = argv[++i];
		else if (!strcmp(a, "--udp"))
			udp_s = argv[++i];
		else if (!strcmp(a, "--udp-connect"))
			conn_s = argv[++i];
		else if (!strcmp(a, "--workdir"))
			dir = argv[++i];
		else
			die("unknown option %s", a);
	}
	if (!dir || (!listen_s && !udp_s && !conn_s))
		die("usage: echo_server --workdir DIR [--listen ADDR:PORT] [--udp ADDR:PORT] [--udp-connect PEER:PORT]");

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1: %s", strerror(errno));
	if (write_file(dir, "closes", "0\n") < 0)
		die("cannot write %s/closes: %s", dir, strerror(errno));

	struct sockaddr_storage ss;
	socklen_t len;
	char buf[INET6_ADDRSTRLEN + 16];
	if (listen_s) {
		must_parse(listen_s, &ss, &len);
		lfd = make_sock(&ss, SOCK_STREAM);
		int one = 1;
		setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(lfd, (struct sockaddr *)&ss, len) < 0)
			die("bind %s: %s", listen_s, strerror(errno));
		if (listen(lfd, 128) < 0)
			die("listen: %s", strerror(errno));
		len = sizeof ss;
		getsockname(lfd, (struct sockaddr *)&ss, &len);
		write_file(dir, "listen-addr", "%s\n", fmt_addr(&ss, buf, sizeof buf));
	}
	if (udp_s || conn_s) {
		struct sockaddr_storage us, ps;
		socklen_t ul = 0, pl = 0;
		if (udp_s)
			must_parse(udp_s, &us, &ul);
		if (conn_s)
			must_parse(conn_s, &ps, &pl);
		if (udp_s && conn_s && us.ss_family != ps.ss_family)
			die("--udp and --udp-connect of different families");
		ufd = make_sock(udp_s ? &us : &ps, SOCK_DGRAM);
		if (udp_s && bind(ufd, (struct sockaddr *)&us, ul) < 0)
			die("bind %s: %s", udp_s, strerror(errno));
		if (conn_s) {
			if (connect(ufd, (struct sockaddr *)&ps, pl) < 0)
				die("connect %s: %s", conn_s, strerror(errno));
			udp_connected = 1;
		}
		len = sizeof ss;
		getsockname(ufd, (struct sockaddr *)&ss, &len);
		write_file(dir, "udp-addr", "%s\n", fmt_addr(&ss, buf, sizeof buf));
		ep_ctl(EPOLL_CTL_ADD, ufd, EPOLLIN);
	}

	int lreg = 0; /* the listener is in the epoll set */
	int ready = 0;
	while (!stop) {
		if (lfd >= 0) {
			int paused = file_exists(dir, "pause-accept");
			if (paused && lreg) {
				ep_ctl(EPOLL_CTL_DEL, lfd, 0);
				lreg = 0;
				write_file(dir, "accept-state", "paused\n");
			} else if (!paused && !lreg) {
				ep_ctl(EPOLL_CTL_ADD, lfd, EPOLLIN);
				lreg = 1;
				write_file(dir, "accept-state", "accepting\n");
			}
		}
		maybe_send_udp();
		if (!ready) {
			if (write_file(dir, "ready", "%d\n", (int)getpid()) < 0)
				die("cannot write %s/ready: %s", dir, strerror(errno));
			ready = 1;
		}
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, 50);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd) {
				if (lreg)
					do_accept();
			} else if (fd == ufd) {
				on_udp(evs[i].events);
			} else if (fd >= 0 && fd < MAXFD && conns[fd].open) {
				on_conn(fd, evs[i].events);
			}
		}
	}
	return 0;
}
