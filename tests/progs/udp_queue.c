/* udp_queue - datagram sockets with datagrams waiting to be read, shutdown
 * states, UDP-Lite and raw sockets.
 * Covers, after restore, from inside: a bound UDP socket reads its queued
 * datagrams in order, each with its sender's address and port (two
 * senders, an empty datagram, a 60000-byte one); the same over IPv6; a
 * connected UDP socket keeps the datagram its peer had sent; a UDP socket
 * shut for writing still fails sends with EPIPE, one shut for reading
 * polls POLLRDHUP; a UDP-Lite socket keeps its checksum coverage option
 * and its queued datagram; a raw ICMP socket keeps its address, protocol
 * and ICMP_FILTER.  Queues are peeked at the dump: SO_PEEK_OFF is the
 * program's own again afterwards. */
#include "common.h"
#include <arpa/inet.h>
#include <linux/icmp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#ifndef UDPLITE_SEND_CSCOV
#define UDPLITE_SEND_CSCOV 10
#endif

static char big[60000], got[65536];

static int udp(int family, int proto, const char *addr)
{
	struct sockaddr_storage ss = { 0 };
	int fd;
	T_SETUP((fd = socket(family, SOCK_DGRAM, proto)) >= 0);
	if (family == AF_INET) {
		struct sockaddr_in *a = (void *)&ss;
		a->sin_family = AF_INET;
		inet_pton(AF_INET, addr, &a->sin_addr);
	} else {
		struct sockaddr_in6 *a = (void *)&ss;
		a->sin6_family = AF_INET6;
		inet_pton(AF_INET6, addr, &a->sin6_addr);
	}
	T_SETUP(bind(fd, (void *)&ss, family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) == 0);
	return fd;
}

static socklen_t name_of(int fd, struct sockaddr_storage *ss)
{
	socklen_t l = sizeof *ss;
	T_SETUP(getsockname(fd, (void *)ss, &l) == 0);
	return l;
}

static void send_to(int from, int to, const void *d, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t l = name_of(to, &ss);
	T_SETUP(sendto(from, d, n, 0, (void *)&ss, l) == (ssize_t)n);
}

static int port_of(const struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET ? ((struct sockaddr_in *)ss)->sin_port
					      : ((struct sockaddr_in6 *)ss)->sin6_port);
}

/* the next datagram must be `want` (n bytes) from socket `sender` */
static void expect(const char *what, int fd, int sender, const void *want, size_t n)
{
	struct sockaddr_storage from, s;
	socklen_t fl = sizeof from;
	ssize_t r = recvfrom(fd, got, sizeof got, MSG_DONTWAIT, (void *)&from, &fl);
	name_of(sender, &s);
	T_CHECK(r == (ssize_t)n && !memcmp(got, want, n), "%s: got %zd bytes, expected %zu", what, r, n);
	T_CHECK(r >= 0 && port_of(&from) == port_of(&s), "%s: sender port %d, expected %d", what,
		r >= 0 ? port_of(&from) : -1, port_of(&s));
}

static int geti(int fd, int level, int name)
{
	int v = -1;
	socklen_t l = sizeof v;
	getsockopt(fd, level, name, &v, &l);
	return v;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	int u1, s1, s2, u6, s6, uc, uw, ur, ul, sl, raw, cov = 20;
	t_fill(big, sizeof big, 7);

	u1 = udp(AF_INET, 0, "127.0.0.1");
	s1 = udp(AF_INET, 0, "127.0.0.1");
	s2 = udp(AF_INET, 0, "127.0.0.1");
	send_to(s1, u1, "one", 3);
	send_to(s2, u1, "two", 3);
	send_to(s1, u1, "", 0);
	send_to(s2, u1, big, sizeof big);

	u6 = udp(AF_INET6, 0, "::1");
	s6 = udp(AF_INET6, 0, "::1");
	send_to(s6, u6, "six", 3);

	uc = udp(AF_INET, 0, "127.0.0.1");
	struct sockaddr_storage ss;
	socklen_t l = name_of(s1, &ss);
	T_SETUP(connect(uc, (void *)&ss, l) == 0);
	send_to(s1, uc, "to-connected", 12);

	uw = udp(AF_INET, 0, "127.0.0.1");
	T_SETUP(connect(uw, (void *)&ss, l) == 0);
	shutdown(uw, SHUT_WR);
	T_SETUP(send(uw, "x", 1, 0) < 0 && errno == EPIPE);
	ur = udp(AF_INET, 0, "127.0.0.1");
	shutdown(ur, SHUT_RD);

	ul = udp(AF_INET, IPPROTO_UDPLITE, "127.0.0.1");
	sl = udp(AF_INET, IPPROTO_UDPLITE, "127.0.0.1");
	T_SETUP(setsockopt(ul, IPPROTO_UDPLITE, UDPLITE_SEND_CSCOV, &cov, sizeof cov) == 0);
	send_to(sl, ul, "lite", 4);

	struct sockaddr_in ra = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct icmp_filter flt = { .data = ~(1U << ICMP_ECHOREPLY) };
	T_SETUP((raw = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)) >= 0);
	T_SETUP(bind(raw, (void *)&ra, sizeof ra) == 0);
	T_SETUP(setsockopt(raw, SOL_RAW, ICMP_FILTER, &flt, sizeof flt) == 0);
	t_sleep_ms(50);
	t_ready();
	t_wait_go();

	expect("1st datagram", u1, s1, "one", 3);
	expect("2nd datagram", u1, s2, "two", 3);
	expect("empty datagram", u1, s1, "", 0);
	expect("60000-byte datagram", u1, s2, big, sizeof big);
	T_CHECK(recv(u1, got, sizeof got, MSG_DONTWAIT) < 0 && errno == EAGAIN, "no more datagrams");
	T_EQ("SO_PEEK_OFF is the program's", geti(u1, SOL_SOCKET, SO_PEEK_OFF), -1);
	expect("IPv6 datagram", u6, s6, "six", 3);
	expect("datagram on the connected socket", uc, s1, "to-connected", 12);
	T_CHECK(send(uw, "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE, "write-shut socket sends: %s", strerror(errno));
	struct pollfd p = { ur, POLLIN | POLLRDHUP, 0 };
	T_CHECK(poll(&p, 1, 0) == 1 && (p.revents & POLLRDHUP), "read-shut socket polls POLLRDHUP (%#x)", p.revents);
	expect("UDP-Lite datagram", ul, sl, "lite", 4);
	T_EQ("UDP-Lite protocol", geti(ul, SOL_SOCKET, SO_PROTOCOL), IPPROTO_UDPLITE);
	T_EQ("UDPLITE_SEND_CSCOV", geti(ul, IPPROTO_UDPLITE, UDPLITE_SEND_CSCOV), 20);
	/* data still flows both ways */
	send_to(s1, u1, "after", 5);
	t_sleep_ms(20);
	expect("a new datagram", u1, s1, "after", 5);
	T_EQ("raw socket type", geti(raw, SOL_SOCKET, SO_TYPE), SOCK_RAW);
	T_EQ("raw socket protocol", geti(raw, SOL_SOCKET, SO_PROTOCOL), IPPROTO_ICMP);
	struct icmp_filter f2 = { 0 };
	socklen_t fl = sizeof f2;
	T_CHECK(getsockopt(raw, SOL_RAW, ICMP_FILTER, &f2, &fl) == 0 && f2.data == flt.data, "ICMP_FILTER %#x",
		f2.data);
	struct sockaddr_in rn;
	socklen_t rl = sizeof rn;
	T_CHECK(getsockname(raw, (void *)&rn, &rl) == 0 && rn.sin_addr.s_addr == htonl(INADDR_LOOPBACK),
		"raw socket bound to 127.0.0.1");
	t_finish();
}
