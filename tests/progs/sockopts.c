/* sockopts - inet sockets in every state a server keeps, with options.
 * Covers: TCP listeners on IPv4 and IPv6 (backlog, SO_REUSEADDR,
 * SO_REUSEPORT, IPV6_V6ONLY, TCP_DEFER_ACCEPT, TCP_FASTOPEN, IP_FREEBIND,
 * SO_BINDTODEVICE, buffer sizes, keepalive settings, TCP_NODELAY, O_NONBLOCK,
 * close-on-exec) keep address, port and options; a bound-only TCP socket
 * keeps its port; a created-but-unbound socket stays unbound; UDP sockets
 * (bound, connected, with SO_BROADCAST and a receive buffer) come back; a
 * connection whose peer went away (closed) still reads EOF; every listener
 * still accepts.
 * And every option of issue 10, each read back from inside after restore
 * (the list `more` below): on a listener, on a connection inside the tree
 * (repaired) and on UDP sockets: SO_KEEPALIVE, SO_LINGER, SO_PRIORITY,
 * SO_MARK, SO_RCVLOWAT, SO_TIMESTAMP(NS/ING) (SO_PASSCRED and SO_PASSSEC:
 * Linux 6.16 refuses them on inet sockets, so there is nothing to carry),
 * TCP_NODELAY, TCP_CORK, TCP_KEEPIDLE/INTVL/CNT, TCP_USER_TIMEOUT,
 * TCP_CONGESTION, TCP_NOTSENT_LOWAT, IP_TOS, IP_TTL, IP_TRANSPARENT,
 * IP_RECVERR, IP_MULTICAST_TTL/LOOP, IPV6_V6ONLY, SO_BUF_LOCK semantics (a
 * size the program set stays, locked; one it did not is the kernel's, still
 * unlocked), multicast memberships with their source filters (MCAST_MSFILTER),
 * a classic BPF filter (SO_GET_FILTER) and SO_LOCK_FILTER. */
#include "common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <net/if.h>
#include <sys/socket.h>
#include <linux/filter.h>

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

struct more {
	int *fd;
	int level, name, val;
	const char *what;
};

static void setv(const struct more *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		seti(*m[i].fd, m[i].level, m[i].name, m[i].val);
}

static int in_group(int fd, int idx, const char *grp, int *mode, int *nsrc, struct sockaddr_in *src)
{
	union {
		struct group_filter gf;
		char b[GROUP_FILTER_SIZE(4)];
	} u;
	socklen_t l = sizeof u;
	struct sockaddr_in *g = (struct sockaddr_in *)&u.gf.gf_group;
	memset(&u, 0, sizeof u);
	u.gf.gf_interface = idx;
	g->sin_family = AF_INET;
	inet_pton(AF_INET, grp, &g->sin_addr);
	u.gf.gf_numsrc = 4;
	if (getsockopt(fd, IPPROTO_IP, MCAST_MSFILTER, &u, &l) < 0)
		return 0;
	*mode = u.gf.gf_fmode;
	*nsrc = u.gf.gf_numsrc;
	if (*nsrc > 0)
		memcpy(src, &u.gf.gf_slist[0], sizeof *src);
	return 1;
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

	/* issue 10's options */
	int lm, cm, sm, um, ulock;
	T_SETUP((lm = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	T_SETUP(bind(lm, (void *)&a4, sizeof a4) == 0 && listen(lm, 4) == 0);
	struct sockaddr_in lma = a4;
	lma.sin_port = htons(port_of(lm));
	T_SETUP((cm = socket(AF_INET, SOCK_STREAM, 0)) >= 0 && connect(cm, (void *)&lma, sizeof lma) == 0);
	T_SETUP((sm = accept(lm, NULL, NULL)) >= 0);
	T_SETUP((um = socket(AF_INET, SOCK_DGRAM, 0)) >= 0);
	T_SETUP(bind(um, (void *)&a4, sizeof a4) == 0);
	T_SETUP((ulock = socket(AF_INET, SOCK_DGRAM, 0)) >= 0);
	const struct more more[] = {
		{ &lm, SOL_SOCKET, SO_KEEPALIVE, 1, "listener SO_KEEPALIVE" },
		{ &lm, SOL_SOCKET, SO_PRIORITY, 3, "listener SO_PRIORITY" },
		{ &lm, SOL_SOCKET, SO_MARK, 77, "listener SO_MARK" },
		{ &lm, SOL_SOCKET, SO_RCVLOWAT, 10, "listener SO_RCVLOWAT" },
		{ &lm, SOL_SOCKET, SO_TIMESTAMP, 1, "listener SO_TIMESTAMP" },
		{ &lm, IPPROTO_TCP, TCP_CORK, 1, "listener TCP_CORK" },
		{ &lm, IPPROTO_TCP, TCP_USER_TIMEOUT, 4321, "listener TCP_USER_TIMEOUT" },
		{ &lm, IPPROTO_TCP, TCP_NOTSENT_LOWAT, 8192, "listener TCP_NOTSENT_LOWAT" },
		{ &lm, IPPROTO_IP, IP_TOS, 0x10, "listener IP_TOS" },
		{ &lm, IPPROTO_IP, IP_TTL, 33, "listener IP_TTL" },
		{ &lm, IPPROTO_IP, IP_TRANSPARENT, 1, "listener IP_TRANSPARENT" },
		{ &lm, IPPROTO_IP, IP_RECVERR, 1, "listener IP_RECVERR" },
		{ &sm, SOL_SOCKET, SO_KEEPALIVE, 1, "connection SO_KEEPALIVE" },
		{ &sm, SOL_SOCKET, SO_PRIORITY, 5, "connection SO_PRIORITY" },
		{ &sm, SOL_SOCKET, SO_MARK, 78, "connection SO_MARK" },
		{ &sm, SOL_SOCKET, SO_RCVLOWAT, 3, "connection SO_RCVLOWAT" },
		{ &sm, SOL_SOCKET, SO_TIMESTAMPNS, 1, "connection SO_TIMESTAMPNS" },
		{ &sm, SOL_SOCKET, SO_SNDBUF, 50000, "connection SO_SNDBUF (set: locked)" },
		{ &sm, IPPROTO_TCP, TCP_NODELAY, 1, "connection TCP_NODELAY" },
		{ &sm, IPPROTO_TCP, TCP_KEEPIDLE, 99, "connection TCP_KEEPIDLE" },
		{ &sm, IPPROTO_TCP, TCP_KEEPINTVL, 7, "connection TCP_KEEPINTVL" },
		{ &sm, IPPROTO_TCP, TCP_KEEPCNT, 4, "connection TCP_KEEPCNT" },
		{ &sm, IPPROTO_TCP, TCP_USER_TIMEOUT, 5555, "connection TCP_USER_TIMEOUT" },
		{ &sm, IPPROTO_TCP, TCP_NOTSENT_LOWAT, 16384, "connection TCP_NOTSENT_LOWAT" },
		{ &sm, IPPROTO_IP, IP_TOS, 0x08, "connection IP_TOS" },
		{ &sm, IPPROTO_IP, IP_TTL, 17, "connection IP_TTL" },
		{ &cm, IPPROTO_TCP, TCP_CORK, 1, "connection TCP_CORK" },
		{ &um, SOL_SOCKET, SO_TIMESTAMPING, 0x58, "UDP SO_TIMESTAMPING" },
		{ &um, SOL_SOCKET, SO_PRIORITY, 2, "UDP SO_PRIORITY" },
		{ &um, IPPROTO_IP, IP_MULTICAST_TTL, 5, "UDP IP_MULTICAST_TTL" },
		{ &um, IPPROTO_IP, IP_MULTICAST_LOOP, 0, "UDP IP_MULTICAST_LOOP" },
		{ &um, IPPROTO_IP, IP_RECVERR, 1, "UDP IP_RECVERR" },
		{ &ulock, SOL_SOCKET, SO_RCVBUF, 70000, "UDP SO_RCVBUF (set: locked)" },
	};
	const size_t nmore = sizeof more / sizeof more[0];
	int more_before[sizeof more / sizeof more[0]];
	setv(more, nmore);
	struct linger lg = { 1, 9 };
	T_SETUP(setsockopt(lm, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
	T_SETUP(setsockopt(sm, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
	T_SETUP(setsockopt(lm, IPPROTO_TCP, TCP_CONGESTION, "reno", 4) == 0);
	T_SETUP(setsockopt(sm, IPPROTO_TCP, TCP_CONGESTION, "reno", 4) == 0);
	for (size_t i = 0; i < nmore; i++)
		more_before[i] = geti(*more[i].fd, more[i].level, more[i].name);
	/* memberships: one any-source, one source-specific, on lo */
	int lo = if_nametoindex("lo");
	struct group_req gr = { .gr_interface = lo };
	struct group_source_req gsr = { .gsr_interface = lo };
	struct sockaddr_in *g4 = (struct sockaddr_in *)&gr.gr_group;
	g4->sin_family = AF_INET;
	inet_pton(AF_INET, "239.1.2.3", &g4->sin_addr);
	T_SETUP(setsockopt(um, IPPROTO_IP, MCAST_JOIN_GROUP, &gr, sizeof gr) == 0);
	g4 = (struct sockaddr_in *)&gsr.gsr_group;
	g4->sin_family = AF_INET;
	inet_pton(AF_INET, "239.4.5.6", &g4->sin_addr);
	g4 = (struct sockaddr_in *)&gsr.gsr_source;
	g4->sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.9", &g4->sin_addr);
	T_SETUP(setsockopt(um, IPPROTO_IP, MCAST_JOIN_SOURCE_GROUP, &gsr, sizeof gsr) == 0);
	/* a classic filter: accept the first 1000 bytes of UDP datagrams, locked */
	struct sock_filter prog[] = { { BPF_LD | BPF_W | BPF_LEN, 0, 0, 0 }, { BPF_RET | BPF_K, 0, 0, 1000 } };
	struct sock_fprog fp = { 2, prog };
	T_SETUP(setsockopt(um, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof fp) == 0);
	seti(um, SOL_SOCKET, SO_LOCK_FILTER, 1);

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
	for (size_t i = 0; i < nmore; i++) {
		int v = geti(*more[i].fd, more[i].level, more[i].name);
		T_CHECK(v == more_before[i], "%s is %d, was %d (set to %d)", more[i].what, v, more_before[i], more[i].val);
	}
	struct linger lg2 = { 0, 0 };
	socklen_t ll = sizeof lg2;
	T_CHECK(getsockopt(lm, SOL_SOCKET, SO_LINGER, &lg2, &ll) == 0 && lg2.l_onoff == 1 && lg2.l_linger == 9,
		"listener SO_LINGER {%d, %d}", lg2.l_onoff, lg2.l_linger);
	ll = sizeof lg2;
	T_CHECK(getsockopt(sm, SOL_SOCKET, SO_LINGER, &lg2, &ll) == 0 && lg2.l_onoff == 1 && lg2.l_linger == 9,
		"connection SO_LINGER {%d, %d}", lg2.l_onoff, lg2.l_linger);
	char cc[16] = "";
	socklen_t cl = sizeof cc;
	T_CHECK(getsockopt(lm, IPPROTO_TCP, TCP_CONGESTION, cc, &cl) == 0 && !strcmp(cc, "reno"), "listener TCP_CONGESTION %s", cc);
	cl = sizeof cc;
	T_CHECK(getsockopt(sm, IPPROTO_TCP, TCP_CONGESTION, cc, &cl) == 0 && !strcmp(cc, "reno"), "connection TCP_CONGESTION %s", cc);
	/* SO_BUF_LOCK: what the program set stays locked, the rest is the kernel's */
	T_EQ("connection SO_BUF_LOCK (SNDBUF only)", geti(sm, SOL_SOCKET, SO_BUF_LOCK), 1);
	T_EQ("UDP SO_BUF_LOCK (RCVBUF only)", geti(ulock, SOL_SOCKET, SO_BUF_LOCK), 2);
	T_EQ("UDP with nothing set: SO_BUF_LOCK", geti(um, SOL_SOCKET, SO_BUF_LOCK), 0);
	/* the connection still carries data, corked end included once uncorked */
	T_EQ("corked end writes", send(cm, "cork", 4, 0), 4);
	seti(cm, IPPROTO_TCP, TCP_CORK, 0);
	char cb[8] = "";
	t_sleep_ms(50);
	T_EQ("and its peer reads", recv(sm, cb, sizeof cb, MSG_DONTWAIT), 4);
	/* multicast memberships */
	int mode = -1, nsrc = -1;
	struct sockaddr_in src = { 0 };
	T_CHECK(in_group(um, lo, "239.1.2.3", &mode, &nsrc, &src) && mode == MCAST_EXCLUDE && nsrc == 0,
		"member of 239.1.2.3 on lo, any source (mode %d, %d sources)", mode, nsrc);
	mode = nsrc = -1;
	T_CHECK(in_group(um, lo, "239.4.5.6", &mode, &nsrc, &src) && mode == MCAST_INCLUDE && nsrc == 1 &&
			src.sin_addr.s_addr == inet_addr("127.0.0.9"),
		"member of 239.4.5.6 on lo from 127.0.0.9 only (mode %d, %d sources)", mode, nsrc);
	T_CHECK(!in_group(um, lo, "239.9.9.9", &mode, &nsrc, &src), "not a member of 239.9.9.9");
	/* the filter */
	struct sock_filter got[4];
	socklen_t gl = 4;
	T_CHECK(getsockopt(um, SOL_SOCKET, SO_GET_FILTER, got, &gl) == 0 && gl == 2 &&
			!memcmp(got, prog, sizeof prog),
		"UDP socket filter (%u instructions)", (unsigned)gl);
	T_EQ("SO_LOCK_FILTER", geti(um, SOL_SOCKET, SO_LOCK_FILTER), 1);
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
