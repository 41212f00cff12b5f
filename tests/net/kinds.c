/* kinds.c - every datagram kind of issue 10 across an address change.
 *
 *   kinds A4 A6 DIR   (A4/A6: the host's IPv4 and IPv6 addresses)
 * makes, then writes DIR/ready with its pid:
 *   udplite  UDP-Lite bound to A4:7400
 *   udp      UDP bound to A4:7401 (a client on host C sends it "hello"
 *            from 10.77.0.100:7500 before the dump, never read until after)
 *   fb       UDP with IP_FREEBIND bound to A4:7402
 *   fbabs    UDP with IP_FREEBIND bound to 10.77.0.99:7403, an address no
 *            host has and no map moves
 *   ping     ICMP echo socket bound to A4 (needs net.ipv4.ping_group_range)
 *   ping6    ICMPv6 echo socket bound to A6
 *   raw      raw ICMP socket bound to A4
 * Once DIR/go exists it writes DIR/report, one line per socket,
 * "NAME ADDR:PORT" as getsockname says (raw and ping: "NAME ADDR"), then
 * "udp-read DATA from ADDR:PORT" for the queued datagram, then pings
 * 10.77.0.100 from the ping socket and writes "ping-reply ok" or
 * "ping-reply FAIL ...", and "done".
 */
#include "netutil.h"
#include <netinet/ip_icmp.h>
#include <netinet/icmp6.h>
#include <poll.h>

static int sock(int family, int type, int proto, const char *addr, int port, int freebind)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char s[80];
	int fd = socket(family, type, proto), one = 1;
	if (fd < 0)
		die("socket(%d, %d, %d): %s", family, type, proto, strerror(errno));
	if (freebind && setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof one) < 0)
		die("IP_FREEBIND: %s", strerror(errno));
	snprintf(s, sizeof s, family == AF_INET ? "%s:%d" : "[%s]:%d", addr, port);
	must_parse(s, &ss, &sl);
	if (bind(fd, (void *)&ss, sl) < 0)
		die("bind %s: %s", s, strerror(errno));
	return fd;
}

/* "ADDR:PORT" ("[V6]:PORT"), or "ADDR" when port is 0 */
static void addr_str(const struct sockaddr_storage *ss, int with_port, char *b, size_t n)
{
	char h[INET6_ADDRSTRLEN] = "?";
	int v6 = ss->ss_family == AF_INET6;
	int port = ntohs(v6 ? ((struct sockaddr_in6 *)ss)->sin6_port : ((struct sockaddr_in *)ss)->sin_port);
	inet_ntop(ss->ss_family, v6 ? (void *)&((struct sockaddr_in6 *)ss)->sin6_addr : (void *)&((struct sockaddr_in *)ss)->sin_addr,
		  h, sizeof h);
	if (!with_port)
		snprintf(b, n, "%s", h);
	else
		snprintf(b, n, v6 ? "[%s]:%d" : "%s:%d", h, port);
}

static void name(FILE *f, const char *what, int fd, int port)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;
	char b[80];
	getsockname(fd, (void *)&ss, &l);
	addr_str(&ss, port, b, sizeof b);
	fprintf(f, "%s %s\n", what, b);
}

int main(int argc, char **argv)
{
	prog_name = "kinds";
	if (argc != 4)
		die("usage: kinds A4 A6 DIR");
	const char *a4 = argv[1], *a6 = argv[2], *dir = argv[3];
	int ul = sock(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE, a4, 7400, 0);
	int u = sock(AF_INET, SOCK_DGRAM, 0, a4, 7401, 0);
	int fb = sock(AF_INET, SOCK_DGRAM, 0, a4, 7402, 1);
	int fba = sock(AF_INET, SOCK_DGRAM, 0, "10.77.0.99", 7403, 1);
	int p4 = sock(AF_INET, SOCK_DGRAM, IPPROTO_ICMP, a4, 0, 0);
	int p6 = sock(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6, a6, 0, 0);
	int raw = sock(AF_INET, SOCK_RAW, IPPROTO_ICMP, a4, 0, 0);
	write_file(dir, "ready", "%d\n", getpid());
	while (!file_exists(dir, "go"))
		usleep(10000);

	char path[512], buf[2048], from[80];
	snprintf(path, sizeof path, "%s/report.tmp", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		die("%s: %s", path, strerror(errno));
	name(f, "udplite", ul, 1);
	name(f, "udp", u, 1);
	name(f, "fb", fb, 1);
	name(f, "fbabs", fba, 1);
	name(f, "ping", p4, 0);
	name(f, "ping6", p6, 0);
	name(f, "raw", raw, 0);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	ssize_t n = recvfrom(u, buf, sizeof buf - 1, MSG_DONTWAIT, (void *)&ss, &sl);
	if (n >= 0) {
		buf[n] = 0;
		addr_str(&ss, 1, from, sizeof from);
		fprintf(f, "udp-read %s from %s\n", buf, from);
	} else {
		fprintf(f, "udp-read %s\n", errname(errno));
	}
	/* an echo request from the (moved) ping socket; the reply comes back to it */
	struct icmphdr ih = { .type = ICMP_ECHO, .un.echo.sequence = htons(1) };
	struct sockaddr_in c = { .sin_family = AF_INET };
	inet_pton(AF_INET, "10.77.0.100", &c.sin_addr);
	if (sendto(p4, &ih, sizeof ih, 0, (void *)&c, sizeof c) < 0) {
		fprintf(f, "ping-reply FAIL send %s\n", errname(errno));
	} else {
		struct pollfd p = { p4, POLLIN, 0 };
		if (poll(&p, 1, 3000) == 1 && recv(p4, buf, sizeof buf, 0) >= (ssize_t)sizeof ih &&
		    ((struct icmphdr *)buf)->type == ICMP_ECHOREPLY)
			fprintf(f, "ping-reply ok\n");
		else
			fprintf(f, "ping-reply FAIL no reply\n");
	}
	fprintf(f, "done\n");
	fclose(f);
	char final[512];
	snprintf(final, sizeof final, "%s/report", dir);
	rename(path, final);
	pause();
	return 0;
}
