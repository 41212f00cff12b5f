/* freebind - sockets bound with IP_FREEBIND / IPV6_FREEBIND to addresses
 * this host does not have (a service waiting for its address to come up).
 * Covers: the restore on the same host brings them back as they were made,
 * on the same absent address and port, options still set: a TCP listener
 * on 10.254.77.9, a UDP socket on 10.254.77.10, a TCP listener on
 * [fd99::77] (IPV6_FREEBIND).  (An --ip-map moving such a socket rebinds
 * it to the new address: tests/net, freebind-map.) */
#include "common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static int geti(int fd, int level, int name)
{
	int v = -1;
	socklen_t l = sizeof v;
	getsockopt(fd, level, name, &v, &l);
	return v;
}

static void name_of(int fd, char *buf, size_t len, int *port)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;
	buf[0] = 0;
	*port = 0;
	if (getsockname(fd, (void *)&ss, &l) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, buf, len);
		*port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	} else {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, buf, len);
		*port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	int one = 1, t4, u4, t6, p4, pu, p6, port;
	char buf[64];

	T_SETUP((t4 = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	T_SETUP(setsockopt(t4, IPPROTO_IP, IP_FREEBIND, &one, sizeof one) == 0);
	inet_pton(AF_INET, "10.254.77.9", &a.sin_addr);
	T_SETUP(bind(t4, (void *)&a, sizeof a) == 0 && listen(t4, 4) == 0);
	T_SETUP((u4 = socket(AF_INET, SOCK_DGRAM, 0)) >= 0);
	T_SETUP(setsockopt(u4, IPPROTO_IP, IP_FREEBIND, &one, sizeof one) == 0);
	inet_pton(AF_INET, "10.254.77.10", &a.sin_addr);
	T_SETUP(bind(u4, (void *)&a, sizeof a) == 0);
	T_SETUP((t6 = socket(AF_INET6, SOCK_STREAM, 0)) >= 0);
	T_SETUP(setsockopt(t6, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof one) == 0);
	inet_pton(AF_INET6, "fd99::77", &a6.sin6_addr);
	T_SETUP(bind(t6, (void *)&a6, sizeof a6) == 0 && listen(t6, 4) == 0);
	name_of(t4, buf, sizeof buf, &p4);
	name_of(u4, buf, sizeof buf, &pu);
	name_of(t6, buf, sizeof buf, &p6);
	t_ready();
	t_wait_go();

	name_of(t4, buf, sizeof buf, &port);
	T_STREQ("TCP listener address", buf, "10.254.77.9");
	T_EQ("TCP listener port", port, p4);
	T_EQ("TCP listener listening", geti(t4, SOL_SOCKET, SO_ACCEPTCONN), 1);
	T_EQ("TCP listener IP_FREEBIND", geti(t4, IPPROTO_IP, IP_FREEBIND), 1);
	name_of(u4, buf, sizeof buf, &port);
	T_STREQ("UDP address", buf, "10.254.77.10");
	T_EQ("UDP port", port, pu);
	T_EQ("UDP IP_FREEBIND", geti(u4, IPPROTO_IP, IP_FREEBIND), 1);
	name_of(t6, buf, sizeof buf, &port);
	T_STREQ("IPv6 listener address", buf, "fd99::77");
	T_EQ("IPv6 listener port", port, p6);
	T_EQ("IPv6 listener IPV6_FREEBIND", geti(t6, IPPROTO_IPV6, IPV6_FREEBIND), 1);
	t_finish();
}
