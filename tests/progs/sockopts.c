/* sockopts - inet sockets in every state a server keeps, with options.
 * Covers: TCP listeners on IPv4 and IPv6 (backlog, SO_REUSEADDR,
 * SO_REUSEPORT, IPV6_V6ONLY, TCP_DEFER_ACCEPT, TCP_FASTOPEN, IP_FREEBIND,
 * SO_BINDTODEVICE, buffer sizes, keepalive settings, TCP_NODELAY, O_NONBLOCK,
 * close-on-exec) keep address, port and options; a bound-only TCP socket
 * keeps its port; a created-but-unbound socket stays unbound; UDP sockets
 * (bound, connected, with SO_BROADCAST and a receive buffer) come back; a
 * connection whose peer went away (closed) still reads EOF; every listener
 * still accepts. */
#include "common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <net/if.h>
#include <sys/socket.h>

struct optv {
	int level, name;
	const char *what;
};

static const struct optv tcp_opts[] = {
	{ SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR" }, { SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT" },
	{ SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE" }, { SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF" },
	{ SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF" }, { IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY" },
	{ IPPROTO_TCP, TCP_KEEPIDLE, "TCP_KEEPIDLE" }, { IPPROTO_TCP, TCP_KEEPINTVL, "TCP_KEEPINTVL" },
	{ IPPROTO_TCP, TCP_KEEPCNT, "TCP_KEEPCNT" }, { IPPROTO_TCP, TCP_DEFER_ACCEPT, "TCP_DEFER_ACCEPT" },
	{ IPPROTO_TCP, TCP_FASTOPEN, "TCP_FASTOPEN" },
};

static int geti(int fd, int level, int name)
{
	int v = -12345;
	socklen_t l = sizeof v;
	getsockopt(fd, level, name, &v, &l);
	return v;
}

static void seti(int fd, int level, int name, int v)
{
	T_SETUP(setsockopt(fd, level, name, &v, sizeof v) == 0);
}

static int port_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;
	T_SETUP(getsockname(fd, (void *)&ss, &l) == 0);
	return ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
				       : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	int l4, l6, bound, unb, u1, u2, pc, ps_, lsn;
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int before[2][sizeof tcp_opts / sizeof tcp_opts[0]];

	T_SETUP((l4 = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) >= 0);
	seti(l4, SOL_SOCKET, SO_REUSEADDR, 1);
	seti(l4, SOL_SOCKET, SO_REUSEPORT, 1);
	seti(l4, SOL_SOCKET, SO_KEEPALIVE, 1);
	seti(l4, SOL_SOCKET, SO_RCVBUF, 65536);
	seti(l4, SOL_SOCKET, SO_SNDBUF, 32768);
	seti(l4, IPPROTO_TCP, TCP_NODELAY, 1);
	seti(l4, IPPROTO_TCP, TCP_KEEPIDLE, 77);
	seti(l4, IPPROTO_TCP, TCP_KEEPINTVL, 11);
	seti(l4, IPPROTO_TCP, TCP_KEEPCNT, 5);
	seti(l4, IPPROTO_TCP, TCP_DEFER_ACCEPT, 3);
	seti(l4, IPPROTO_IP, IP_FREEBIND, 1);
	T_SETUP(setsockopt(l4, SOL_SOCKET, SO_BINDTODEVICE, "lo", 2) == 0);
	T_SETUP(bind(l4, (void *)&a4, sizeof a4) == 0);
	T_SETUP(listen(l4, 17) == 0);
	seti(l4, IPPROTO_TCP, TCP_FASTOPEN, 9);

	T_SETUP((l6 = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
	seti(l6, IPPROTO_IPV6, IPV6_V6ONLY, 1);
	seti(l6, SOL_SOCKET, SO_REUSEADDR, 1);
	T_SETUP(bind(l6, (void *)&a6, sizeof a6) == 0 && listen(l6, 5) == 0);

	T_SETUP((bound = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	T_SETUP(bind(bound, (void *)&a4, sizeof a4) == 0);
	T_SETUP((unb = socket(AF_INET6, SOCK_STREAM, 0)) >= 0);

	T_SETUP((u1 = socket(AF_INET, SOCK_DGRAM, 0)) >= 0);
	seti(u1, SOL_SOCKET, SO_BROADCAST, 1);
	seti(u1, SOL_SOCKET, SO_RCVBUF, 100000);
	T_SETUP(bind(u1, (void *)&a4, sizeof a4) == 0);
	struct sockaddr_in u1a = a4;
	u1a.sin_port = htons(port_of(u1));
	T_SETUP((u2 = socket(AF_INET, SOCK_DGRAM, 0)) >= 0);
	T_SETUP(connect(u2, (void *)&u1a, sizeof u1a) == 0);

	/* a connection that ended: the peer closed and we read its EOF */
	T_SETUP((lsn = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	T_SETUP(bind(lsn, (void *)&a4, sizeof a4) == 0 && listen(lsn, 1) == 0);
	struct sockaddr_in la = a4;
	la.sin_port = htons(port_of(lsn));
	T_SETUP((pc = socket(AF_INET, SOCK_STREAM, 0)) >= 0 && connect(pc, (void *)&la, sizeof la) == 0);
	T_SETUP((ps_ = accept(lsn, NULL, NULL)) >= 0);
	close(pc);
	close(lsn);

	for (size_t i = 0; i < sizeof tcp_opts / sizeof tcp_opts[0]; i++) {
		before[0][i] = geti(l4, tcp_opts[i].level, tcp_opts[i].name);
		before[1][i] = geti(l6, tcp_opts[i].level, tcp_opts[i].name);
	}
	int p4 = port_of(l4), p6 = port_of(l6), pb = port_of(bound), pu = port_of(u1);
	int fl4 = fcntl(l4, F_GETFL), fd6 = fcntl(l6, F_GETFD);
	t_ready();
	t_wait_go();

	for (size_t i = 0; i < sizeof tcp_opts / sizeof tcp_opts[0]; i++) {
		T_CHECK(geti(l4, tcp_opts[i].level, tcp_opts[i].name) == before[0][i], "IPv4 listener %s is %d, was %d",
			tcp_opts[i].what, geti(l4, tcp_opts[i].level, tcp_opts[i].name), before[0][i]);
		T_CHECK(geti(l6, tcp_opts[i].level, tcp_opts[i].name) == before[1][i], "IPv6 listener %s is %d, was %d",
			tcp_opts[i].what, geti(l6, tcp_opts[i].level, tcp_opts[i].name), before[1][i]);
	}
	T_EQ("IP_FREEBIND", geti(l4, IPPROTO_IP, IP_FREEBIND), 1);
	T_EQ("IPV6_V6ONLY", geti(l6, IPPROTO_IPV6, IPV6_V6ONLY), 1);
	char dev[IFNAMSIZ] = "";
	socklen_t dl = sizeof dev;
	T_CHECK(getsockopt(l4, SOL_SOCKET, SO_BINDTODEVICE, dev, &dl) == 0 && !strcmp(dev, "lo"),
		"SO_BINDTODEVICE is \"%s\", expected \"lo\"", dev);
	T_EQ("SO_ACCEPTCONN of the IPv4 listener", geti(l4, SOL_SOCKET, SO_ACCEPTCONN), 1);
	T_EQ("IPv4 listener port", port_of(l4), p4);
	T_EQ("IPv6 listener port", port_of(l6), p6);
	T_EQ("IPv4 listener F_GETFL (O_NONBLOCK)", fcntl(l4, F_GETFL), fl4);
	T_EQ("IPv6 listener F_GETFD (FD_CLOEXEC)", fcntl(l6, F_GETFD), fd6);
	T_EQ("bound-only socket port", port_of(bound), pb);
	T_EQ("bound-only socket is no listener", geti(bound, SOL_SOCKET, SO_ACCEPTCONN), 0);
	T_EQ("unbound socket port", port_of(unb), 0);
	T_EQ("UDP port", port_of(u1), pu);
	T_EQ("UDP SO_BROADCAST", geti(u1, SOL_SOCKET, SO_BROADCAST), 1);
	T_CHECK(geti(u1, SOL_SOCKET, SO_RCVBUF) >= 100000, "UDP SO_RCVBUF %d", geti(u1, SOL_SOCKET, SO_RCVBUF));
	/* the connected UDP socket still sends to the bound one */
	T_EQ("UDP send", send(u2, "dgram", 5, 0), 5);
	char b[16] = "";
	t_sleep_ms(50);
	T_EQ("UDP receive", recv(u1, b, sizeof b, MSG_DONTWAIT), 5);
	/* the ended connection reads EOF, never blocks */
	T_EQ("read on the ended connection", read(ps_, b, sizeof b), 0);
	/* the listeners accept */
	int c4 = socket(AF_INET, SOCK_STREAM, 0), c6 = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in x4 = a4;
	struct sockaddr_in6 x6 = a6;
	x4.sin_port = htons(p4);
	x6.sin6_port = htons(p6);
	T_CHECK(connect(c4, (void *)&x4, sizeof x4) == 0, "connect to the IPv4 listener: %s", strerror(errno));
	T_CHECK(write(c4, "x", 1) == 1, "write (TCP_DEFER_ACCEPT wants data)");
	T_CHECK(connect(c6, (void *)&x6, sizeof x6) == 0, "connect to the IPv6 listener: %s", strerror(errno));
	int ok4 = -1;
	for (int i = 0; i < 100 && ok4 < 0; i++) {
		ok4 = accept(l4, NULL, NULL);
		if (ok4 < 0)
			t_sleep_ms(20);
	}
	T_CHECK(ok4 >= 0, "accept on the IPv4 listener: %s", strerror(errno));
	T_CHECK(accept(l6, NULL, NULL) >= 0, "accept on the IPv6 listener: %s", strerror(errno));
	t_finish();
}
