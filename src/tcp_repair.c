/*
 * TCP repair beyond ESTABLISHED: what the kernel's repair mode does not give.
 *
 * Repair mode restores a connection as ESTABLISHED only (connect() in
 * repair mode skips the handshake); the closing states are reached from
 * there the way the kernel itself reaches them.  Our own FIN is a
 * shutdown(SHUT_WR) in repair mode (queued and counted as sent, not put on
 * the wire).  The peer's FIN has no setsockopt: like CRIU, ferry hands the
 * socket a FIN|ACK segment from its peer's address through a raw socket
 * looped back on this host, which the kernel takes as the peer's and moves
 * the socket to CLOSE_WAIT (or CLOSING).  The segment carries no TCP
 * options: a timestamp would set the socket's idea of the peer's clock
 * (PAWS), and the kernel accepts a segment without one.
 *
 * The same looped-back injection (ip_inject) gives a restored UDP or ping
 * socket the datagrams that were queued for it at the dump (udp.c).
 * Also here: the peer of a socket still in SYN_SENT, which getpeername()
 * refuses, read from /proc/PID/net/tcp{,6} by inode (and the peer of a
 * ping socket, which getpeername() does not give, from .../icmp{,6}).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcp_repair.h"

static uint32_t csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	for (; len > 1; len -= 2, p += 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* An IPv4 or IPv6 packet from `from` to `to` carrying l4 (a TCP, UDP or
 * ICMP(v6) header and its payload), its checksum (at csum_off in l4)
 * computed here, sent through a raw socket: looped back, the host takes it
 * as arriving from `from`. */
int ip_inject(int proto, const struct ip_addr *from0, const struct ip_addr *to0, uint8_t *l4, size_t len, int csum_off)
{
	struct ip_addr from = ip_unmap(from0), to = ip_unmap(to0);
	uint8_t *pkt = malloc(sizeof(struct ip6_hdr) + len);
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;
	size_t hl;
	uint32_t sum = 0;
	uint16_t c;
	int fd, saved;
	ssize_t n;

	if (!pkt)
		return -1;
	if (from.family != to.family) {
		free(pkt);
		errno = EAFNOSUPPORT;
		return -1;
	}
	memset(l4 + csum_off, 0, 2);
	/* pseudo-header (none for ICMPv4): addresses, protocol, length */
	if (proto != IPPROTO_ICMP) {
		if (from.family == AF_INET) {
			sum = csum_add(0, &from.v4, 4);
			sum = csum_add(sum, &to.v4, 4);
		} else {
			sum = csum_add(0, &from.v6, 16);
			sum = csum_add(sum, &to.v6, 16);
		}
		sum += proto + (uint32_t)len;
	}
	c = csum_fold(csum_add(sum, l4, len));
	if (proto == IPPROTO_UDP && !c)
		c = 0xffff;	/* 0 means "no checksum" for UDP */
	memcpy(l4 + csum_off, &c, 2);
	if (from.family == AF_INET) {
		struct iphdr ip = { .ihl = 5, .version = 4, .ttl = 64, .protocol = proto,
				    .tot_len = htons(sizeof(ip) + len), .saddr = from.v4.s_addr, .daddr = to.v4.s_addr };
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		memcpy(pkt, &ip, sizeof(ip));	/* the kernel fills the id and the checksum */
		hl = sizeof(ip);
		sin->sin_family = AF_INET;
		sin->sin_addr = to.v4;
		sl = sizeof(*sin);
	} else {
		struct ip6_hdr ip = { 0 };
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		ip.ip6_flow = htonl(6u << 28);
		ip.ip6_plen = htons(len);
		ip.ip6_nxt = proto;
		ip.ip6_hlim = 64;
		ip.ip6_src = from.v6;
		ip.ip6_dst = to.v6;
		memcpy(pkt, &ip, sizeof(ip));
		hl = sizeof(ip);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = to.v6;
		sl = sizeof(*sin6);
	}
	memcpy(pkt + hl, l4, len);
	/* IPPROTO_RAW: the header is ours (IP_HDRINCL, and its IPv6 equivalent) */
	fd = socket(from.family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (fd < 0) {
		free(pkt);
		return -1;
	}
	n = sendto(fd, pkt, hl + len, 0, (struct sockaddr *)&ss, sl);
	saved = errno;
	close(fd);
	free(pkt);
	errno = saved;
	return n == (ssize_t)(hl + len) ? 0 : -1;
}

int tcp_inject_fin(const struct ip_addr *peer, int pport, const struct ip_addr *local, int lport, uint32_t seq,
		   uint32_t ack, uint16_t win)
{
	struct tcphdr th = { 0 };
	th.source = htons(pport);
	th.dest = htons(lport);
	th.seq = htonl(seq);
	th.ack_seq = htonl(ack);
	th.doff = sizeof(th) / 4;
	th.fin = 1;
	th.ack = 1;
	th.window = htons(win);
	return ip_inject(IPPROTO_TCP, peer, local, (uint8_t *)&th, sizeof(th), offsetof(struct tcphdr, check));
}

static int hex_nibble(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* "0100007F:1F90" or 32 hex digits ":port": each 32-bit word as the kernel
 * printed it from memory (host order), the port in host order. */
static int parse_proc_addr(const char *s, int family, struct ip_addr *a, int *port)
{
	int words = family == AF_INET ? 1 : 4;
	uint32_t w[4];
	for (int i = 0; i < words; i++) {
		w[i] = 0;
		for (int k = 0; k < 8; k++) {
			int v = hex_nibble(*s++);
			if (v < 0)
				return -1;
			w[i] = w[i] << 4 | v;
		}
	}
	if (*s++ != ':')
		return -1;
	*port = (int)strtol(s, NULL, 16);
	a->family = family;
	if (family == AF_INET)
		memcpy(&a->v4, &w[0], 4);
	else
		memcpy(&a->v6, w, 16);
	return 0;
}

int tcp_proc_peer(pid_t pid, int family, unsigned long ino, struct ip_addr *raddr, int *rport)
{
	return inet_proc_peer(pid, family == AF_INET ? "tcp" : "tcp6", family, ino, raddr, rport);
}

int inet_proc_peer(pid_t pid, const char *table, int family, unsigned long ino, struct ip_addr *raddr, int *rport)
{
	char path[64], line[512], la[64], ra[64];
	unsigned long inode;
	int found = -1;
	FILE *f;
	snprintf(path, sizeof(path), "/proc/%d/net/%s", pid, table);
	if (!(f = fopen(path, "re")))
		return -1;
	while (found < 0 && fgets(line, sizeof(line), f)) {
		/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
		if (sscanf(line, " %*d: %63s %63s %*x %*x:%*x %*x:%*x %*x %*u %*d %lu", la, ra, &inode) == 3 &&
		    inode == ino)
			found = parse_proc_addr(ra, family, raddr, rport);
	}
	fclose(f);
	return found;
}
