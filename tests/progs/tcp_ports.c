/* tcp_ports - sockets sharing ports, as the kernel allowed them.
 * Covers: a listener (SO_REUSEADDR) on port P with an accepted connection
 * still open, an accepted connection that ended (its port stays taken:
 * accepted sockets inherit the listener's bind lock), and a bound-only
 * socket on P made before the listener listened; two SO_REUSEPORT
 * listeners on port Q; two UDP sockets on port U with SO_REUSEADDR and two
 * with SO_REUSEPORT on port V.  After restore every socket has its port,
 * both listeners on Q are listening and the group accepts, P's listener
 * accepts, the open connection carries data, the ended one reads EOF. */
#include "common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

static int port_of(int fd)
{
	struct sockaddr_in a;
	socklen_t l = sizeof a;
	getsockname(fd, (void *)&a, &l);
	return ntohs(a.sin_port);
}

static int state(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof ti;
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0)
		return -1;
	return ti.tcpi_state;
}

static int sock(int type, int opt, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = htons(port) };
	int fd, one = 1;
	T_SETUP((fd = socket(AF_INET, type, 0)) >= 0);
	if (opt)
		T_SETUP(setsockopt(fd, SOL_SOCKET, opt, &one, sizeof one) == 0);
	T_SETUP(bind(fd, (void *)&a, sizeof a) == 0);
	return fd;
}

static int geti(int fd, int level, int name)
{
	int v = -1;
	socklen_t l = sizeof v;
	getsockopt(fd, level, name, &v, &l);
	return v;
}

static int conn(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	T_CHECK(fd >= 0 && connect(fd, (void *)&a, sizeof a) == 0, "connect to port %d: %s", port, strerror(errno));
	return fd;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	int b, l, c1, s1, c2, s2, r1, r2, u1, u2, v1, v2;
	char buf[16];

	b = sock(SOCK_STREAM, SO_REUSEADDR, 0);
	int P = port_of(b);
	l = sock(SOCK_STREAM, SO_REUSEADDR, P);
	T_SETUP(listen(l, 8) == 0);
	c1 = conn(P);
	T_SETUP((s1 = accept(l, NULL, NULL)) >= 0);
	c2 = conn(P);
	T_SETUP((s2 = accept(l, NULL, NULL)) >= 0);
	close(c2);	/* s2: CLOSE_WAIT, then LAST_ACK, then closed */
	t_sleep_ms(20);
	T_SETUP(read(s2, buf, sizeof buf) == 0 && shutdown(s2, SHUT_WR) == 0);
	for (int i = 0; i < 100 && state(s2) != TCP_CLOSE; i++)
		t_sleep_ms(10);
	T_SETUP(state(s2) == TCP_CLOSE && port_of(s2) == P);

	r1 = sock(SOCK_STREAM, SO_REUSEPORT, 0);
	int Q = port_of(r1);
	r2 = sock(SOCK_STREAM, SO_REUSEPORT, Q);
	T_SETUP(listen(r1, 8) == 0 && listen(r2, 8) == 0);

	u1 = sock(SOCK_DGRAM, SO_REUSEADDR, 0);
	int U = port_of(u1);
	u2 = sock(SOCK_DGRAM, SO_REUSEADDR, U);
	v1 = sock(SOCK_DGRAM, SO_REUSEPORT, 0);
	int V = port_of(v1);
	v2 = sock(SOCK_DGRAM, SO_REUSEPORT, V);
	t_ready();
	t_wait_go();

	T_EQ("bound-only socket port", port_of(b), P);
	T_EQ("listener port", port_of(l), P);
	T_EQ("open connection port", port_of(s1), P);
	T_EQ("ended connection port", port_of(s2), P);
	T_EQ("reuseport listener 1 port", port_of(r1), Q);
	T_EQ("reuseport listener 2 port", port_of(r2), Q);
	T_EQ("reuseport listener 1 listening", geti(r1, SOL_SOCKET, SO_ACCEPTCONN), 1);
	T_EQ("reuseport listener 2 listening", geti(r2, SOL_SOCKET, SO_ACCEPTCONN), 1);
	T_EQ("SO_REUSEPORT on listener 2", geti(r2, SOL_SOCKET, SO_REUSEPORT), 1);
	T_EQ("UDP reuseaddr ports", port_of(u1) == U && port_of(u2) == U, 1);
	T_EQ("UDP reuseport ports", port_of(v1) == V && port_of(v2) == V, 1);
	T_EQ("bound-only socket is not listening", geti(b, SOL_SOCKET, SO_ACCEPTCONN), 0);
	T_EQ("ended connection reads EOF", read(s2, buf, sizeof buf), 0);
	T_EQ("open connection writes", write(c1, "ping", 4), 4);
	memset(buf, 0, sizeof buf);
	T_EQ("and its peer reads", read(s1, buf, sizeof buf), 4);
	T_STREQ("data", buf, "ping");
	int c3 = conn(P), s3 = accept(l, NULL, NULL);
	T_CHECK(s3 >= 0, "listener on P accepts: %s", strerror(errno));
	/* the group on Q takes connections: each lands on one of its listeners */
	int got = 0;
	for (int i = 0; i < 8; i++) {
		int c = conn(Q);
		struct pollfd p[2] = { { r1, POLLIN, 0 }, { r2, POLLIN, 0 } };
		if (poll(p, 2, 2000) > 0) {
			int s = accept(p[0].revents ? r1 : r2, NULL, NULL);
			got += s >= 0;
			if (s >= 0)
				close(s);
		}
		close(c);
	}
	T_EQ("connections accepted by the reuseport group", got, 8);
	(void)c3;
	t_finish();
}
