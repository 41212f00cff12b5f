/* dualstack - a dual-stack server as the JVM opens it, for ferry's network
 * tests (tests/net/run.sh, tests/net/migrate.sh): every socket is AF_INET6
 * with IPV6_V6ONLY off, on an IPv4-mapped address of the host.
 *
 * usage: dualstack DIR ADDR4 PEER4
 *   TCP listener   [::ffff:ADDR4]:7300
 *   UDP bound      [::ffff:ADDR4]:7301, echoes every datagram to its sender
 *   UDP connected  [::ffff:ADDR4]:7302 connected to [::ffff:PEER4]:7200
 *   a pair         an AF_INET socket connected to ADDR4:7300 and its
 *                  accepted AF_INET6 end (::ffff:ADDR4): a connection with
 *                  both ends in the process, one end of each family
 * Each accepted connection reads lines:
 *   REPORT   the server's own view of its sockets, then the connection
 *            closes (see report());
 *   UDPSEND  sends "hello-from-server" on the connected UDP socket, replies
 *            "sent" (or "error ERRNAME"), closes;
 *   other    echoed back; the connection is kept ("held").  When a held
 *            connection ends (EOF, error, or a closed stub after a move),
 *            it stays open and unpolled, so REPORT can describe it.
 * DIR/ready gets "PID" once every socket is set up.  SIGTERM: exit 0. */
#include "netutil.h"
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>

#define MAXC 64

static int lfd, ufd, ucfd, pair_c, pair_s;
static struct {
	int fd, held;
	char end[32];	/* why a held connection ended ("" while it runs) */
	char line[256];
	size_t len;
} conns[MAXC];
static volatile sig_atomic_t stop;

static void on_term(int s)
{
	(void)s;
	stop = 1;
}

static void mapped(struct sockaddr_in6 *a, const char *v4, int port)
{
	memset(a, 0, sizeof(*a));
	a->sin6_family = AF_INET6;
	a->sin6_port = htons(port);
	a->sin6_addr.s6_addr[10] = a->sin6_addr.s6_addr[11] = 0xff;
	if (inet_pton(AF_INET, v4, &a->sin6_addr.s6_addr[12]) != 1)
		die("bad IPv4 address %s", v4);
}

static int dual_socket(int type, const char *v4, int port)
{
	struct sockaddr_in6 a;
	int fd = socket(AF_INET6, type | SOCK_CLOEXEC, 0), off = 0, one = 1;
	if (fd < 0)
		die("socket: %s", strerror(errno));
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		die("setsockopt: %s", strerror(errno));
	mapped(&a, v4, port);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("bind [::ffff:%s]:%d: %s", v4, port, strerror(errno));
	return fd;
}

/* "ADDR PORT" of the local (peer=0) or remote end */
static const char *addr_of(int fd, int peer, char *buf, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	if ((peer ? getpeername(fd, (struct sockaddr *)&ss, &l) : getsockname(fd, (struct sockaddr *)&ss, &l)) < 0) {
		snprintf(buf, n, "%s -", errname(errno));
		return buf;
	}
	return fmt_addr(&ss, buf, n);
}

/* reads exactly n bytes within 2 s */
static int read_n(int fd, char *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 2000) <= 0)
			return -1;
		ssize_t r = recv(fd, buf + got, n - got, MSG_DONTWAIT);
		if (r <= 0 && !(r < 0 && errno == EAGAIN))
			return -1;
		if (r > 0)
			got += r;
	}
	return 0;
}

/* data both ways through the pair */
static const char *pair_check(char *why, size_t n)
{
	char buf[5];
	if (send(pair_c, "ping", 4, MSG_NOSIGNAL) != 4 || read_n(pair_s, buf, 4) < 0 || memcmp(buf, "ping", 4))
		snprintf(why, n, "fail-v4-to-v6-%s", errname(errno));
	else if (send(pair_s, "pong", 4, MSG_NOSIGNAL) != 4 || read_n(pair_c, buf, 4) < 0 || memcmp(buf, "pong", 4))
		snprintf(why, n, "fail-v6-to-v4-%s", errname(errno));
	else
		snprintf(why, n, "ok");
	return why;
}

/* One line per socket, as the process itself sees it:
 *   listener ADDR PORT v6only V
 *   udp ADDR PORT
 *   udpc ADDR PORT PEERADDR PEERPORT
 *   held ADDR PORT END        (one per held connection; END "open" while it runs)
 *   pair RESULT ADDR PORT ADDR PORT   (the v6 end's local, the v4 end's local) */
static void report(int fd)
{
	char out[2048], a[80], b[80], w[64];
	int v6only = -1;
	socklen_t l = sizeof(v6only);
	size_t off = 0;
	getsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &l);
	off += snprintf(out + off, sizeof(out) - off, "listener %s v6only %d\n", addr_of(lfd, 0, a, sizeof(a)), v6only);
	off += snprintf(out + off, sizeof(out) - off, "udp %s\n", addr_of(ufd, 0, a, sizeof(a)));
	off += snprintf(out + off, sizeof(out) - off, "udpc %s %s\n", addr_of(ucfd, 0, a, sizeof(a)),
			addr_of(ucfd, 1, b, sizeof(b)));
	for (int i = 0; i < MAXC; i++)
		if (conns[i].fd >= 0 && conns[i].held)
			off += snprintf(out + off, sizeof(out) - off, "held %s %s\n",
					addr_of(conns[i].fd, 0, a, sizeof(a)), conns[i].end[0] ? conns[i].end : "open");
	pair_check(w, sizeof(w));
	off += snprintf(out + off, sizeof(out) - off, "pair %s %s %s\n", w, addr_of(pair_s, 0, a, sizeof(a)),
			addr_of(pair_c, 0, b, sizeof(b)));
	if (send(fd, out, off, MSG_NOSIGNAL) < 0)
		fprintf(stderr, "dualstack: report: %s\n", strerror(errno));
}

static void drop(int i)
{
	close(conns[i].fd);
	conns[i].fd = -1;
}

static void on_line(int i)
{
	int fd = conns[i].fd;
	char *line = conns[i].line;
	if (!strcmp(line, "REPORT\n")) {
		report(fd);
		drop(i);
	} else if (!strcmp(line, "UDPSEND\n")) {
		char r[64];
		if (send(ucfd, "hello-from-server", 17, 0) == 17)
			snprintf(r, sizeof(r), "sent\n");
		else
			snprintf(r, sizeof(r), "error %s\n", errname(errno));
		send(fd, r, strlen(r), MSG_NOSIGNAL);
		drop(i);
	} else {
		conns[i].held = 1;
		send(fd, line, conns[i].len, MSG_NOSIGNAL);
	}
	conns[i].len = 0;
}

static void on_conn(int i, short rev)
{
	char c;
	for (;;) {
		ssize_t r = recv(conns[i].fd, &c, 1, MSG_DONTWAIT);
		if (r == 1) {
			if (conns[i].len < sizeof(conns[i].line) - 1)
				conns[i].line[conns[i].len++] = c;
			if (c == '\n') {
				conns[i].line[conns[i].len] = 0;
				on_line(i);
				if (conns[i].fd < 0)
					return;
			}
			continue;
		}
		if (r < 0 && (errno == EAGAIN || errno == EINTR) && !(rev & (POLLHUP | POLLERR)))
			return;
		/* ended: a held one stays open for REPORT, others go */
		if (!conns[i].held) {
			drop(i);
			return;
		}
		snprintf(conns[i].end, sizeof(conns[i].end), "%s", r == 0 ? "eof" : r < 0 ? errname(errno) : "hup");
		return;
	}
}

static void udp_echo(void)
{
	char buf[2048];
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	ssize_t r = recvfrom(ufd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&ss, &l);
	if (r >= 0)
		sendto(ufd, buf, r, 0, (struct sockaddr *)&ss, l);
}

int main(int argc, char **argv)
{
	prog_name = "dualstack";
	if (argc != 4)
		die("usage: dualstack DIR ADDR4 PEER4");
	const char *dir = argv[1], *a4 = argv[2], *peer4 = argv[3];
	struct sockaddr_in6 peer;
	struct sockaddr_in self;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	for (int i = 0; i < MAXC; i++)
		conns[i].fd = -1;

	lfd = dual_socket(SOCK_STREAM, a4, 7300);
	if (listen(lfd, 16) < 0)
		die("listen: %s", strerror(errno));
	ufd = dual_socket(SOCK_DGRAM, a4, 7301);
	ucfd = dual_socket(SOCK_DGRAM, a4, 7302);
	mapped(&peer, peer4, 7200);
	if (connect(ucfd, (struct sockaddr *)&peer, sizeof(peer)) < 0)
		die("connect udp to [::ffff:%s]:7200: %s", peer4, strerror(errno));
	/* the pair: plain IPv4 on one end, the dual-stack listener's on the other */
	memset(&self, 0, sizeof(self));
	self.sin_family = AF_INET;
	self.sin_port = htons(7300);
	inet_pton(AF_INET, a4, &self.sin_addr);
	pair_c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (pair_c < 0 || connect(pair_c, (struct sockaddr *)&self, sizeof(self)) < 0)
		die("connect to %s:7300: %s", a4, strerror(errno));
	pair_s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (pair_s < 0)
		die("accept: %s", strerror(errno));
	write_file(dir, "ready", "%d\n", (int)getpid());

	while (!stop) {
		struct pollfd p[MAXC + 2];
		int idx[MAXC + 2], n = 0;
		p[n] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		idx[n++] = -1;
		p[n] = (struct pollfd){ .fd = ufd, .events = POLLIN };
		idx[n++] = -2;
		for (int i = 0; i < MAXC; i++)
			if (conns[i].fd >= 0 && !conns[i].end[0]) {
				p[n] = (struct pollfd){ .fd = conns[i].fd, .events = POLLIN | POLLRDHUP };
				idx[n++] = i;
			}
		if (poll(p, n, 1000) < 0) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		for (int k = 0; k < n; k++) {
			if (!p[k].revents)
				continue;
			if (idx[k] == -1) {
				int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
				int i = 0;
				while (i < MAXC && conns[i].fd >= 0)
					i++;
				if (c >= 0 && i == MAXC)
					close(c);
				else if (c >= 0)
					conns[i] = (typeof(conns[i])){ .fd = c };
			} else if (idx[k] == -2) {
				udp_echo();
			} else {
				on_conn(idx[k], p[k].revents);
			}
		}
	}
	return 0;
}
