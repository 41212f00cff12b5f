/*
 * Inet sockets: TCP, UDP, UDP-Lite, ICMP echo ("ping") and raw sockets over
 * IPv4 and IPv6, and the policy for moving them to a host with another
 * address (docs/sockets.md has the table).
 *
 * Dump reads each socket through ferry's own reference to it (pidfd_getfd):
 * addresses, TCP state (TCP_INFO, which for a listener also gives the
 * backlog and the number of connections waiting in its accept queue),
 * options (SO_BUF_LOCK says which buffer sizes the program set), classic
 * BPF filters, multicast memberships, and for datagram sockets the queued
 * datagrams and shutdown state (udp.c).  A connection (ESTABLISHED, a
 * closing state, or SYN_SENT: tcp_repair.c adds the FINs) is then either
 *   - preserved with TCP repair mode (sequence numbers, both queues, MSS,
 *     window scaling, SACK, timestamps, window) when its peer is in the
 *     dumped tree, or with --tcp-established; a repaired socket closes
 *     silently when the source dies, and for outside peers a network lock
 *     (netlock.c) keeps the connection silent until a restore brings it back;
 *   - or broken: once the source is dead, ferry's reference keeps the
 *     connection alive while the kernel delivers what the process had
 *     written (bounded by --drain-timeout), then the peer is reset
 *     (SO_LINGER {1,0}); the restored process finds a "closed stub" at the
 *     same fd: a TCP socket bound to the (mapped) local address and shut
 *     down in both directions without ever connecting, so it sends nothing,
 *     polls as EPOLLHUP|EPOLLIN|EPOLLRDHUP, reads EOF and fails writes with
 *     EPIPE.
 * Listeners and bound UDP sockets are rebound through the address map; the
 * accept queue is not carried (those clients are reset when the source's
 * listener closes).  A dual-stack AF_INET6 socket on an IPv4-mapped address
 * is an IPv4 socket for the policy (ipmap.h): mapped, looked up and paired
 * by its IPv4 address, rebound in the mapped form, with its IPV6_V6ONLY
 * (which such a bind needs off) set before the bind.  Options are restored when they differ from a fresh
 * socket's, so untouched defaults (and buffer autotuning) stay untouched.
 * A TCP socket whose port the kernel let it share with a listener of the
 * tree is bound in repair mode, which skips the conflict check; one bound
 * with IP_FREEBIND/IP_TRANSPARENT needs no address of the host.
 *
 * Limits: a connection repaired at dump and broken by the restore loses its
 * send queue (the source is gone by then); the pending error of a failed
 * connect() is not carried (reading it clears it); raw sockets with packets
 * queued, eBPF socket filters, SCTP, MPTCP and other protocols are refused.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <linux/filter.h>
#include <linux/net_tstamp.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <netinet/icmp6.h>
#include <linux/icmp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "log.h"
#include "netlock.h"
#include "pstate.h"
#include "tcp_repair.h"
#include "udp.h"
#include "util.h"

#ifndef UDPLITE_SEND_CSCOV
#define UDPLITE_SEND_CSCOV 10
#define UDPLITE_RECV_CSCOV 11
#endif
#ifndef SOCK_SNDBUF_LOCK
#define SOCK_SNDBUF_LOCK 1
#define SOCK_RCVBUF_LOCK 2
#endif
#ifndef TCP_REPAIR_WINDOW
#define TCP_REPAIR_WINDOW 29
#endif
#define REPAIR_ON 1
#define REPAIR_OFF 0
#define Q_RECV 1
#define Q_SEND 2

enum inet_mode { M_PLAIN, M_LISTEN, M_STUB, M_REPAIR };
static const char *const mode_names[] = { "plain", "listen", "stub", "repair" };

struct repair_window {
	uint32_t snd_wl1, snd_wnd, max_window, rcv_wnd, rcv_wup;
};

#define MC_MAXSRC 64
struct mcast {
	char ifname[IFNAMSIZ];	/* the interface, by name: indexes differ between hosts */
	struct ip_addr group;
	int fmode;		/* MCAST_INCLUDE / MCAST_EXCLUDE */
	int nsrc;
	struct ip_addr src[MC_MAXSRC];
};

/* Integer options carried over (restored when they differ from a fresh socket's). */
static const struct sk_opt {
	int level, name;
	const char *key;
	int family;	/* 0 any, else only this family */
	int stream;	/* 1 TCP only, 2 datagram kinds only, 3 UDP and UDP-Lite only, 0 all */
} opt_table[] = {
	{ SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR", 0, 0 },
	{ SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT", 0, 0 },
	{ SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE", 0, 0 },
	{ SOL_SOCKET, SO_OOBINLINE, "SO_OOBINLINE", 0, 0 },
	{ SOL_SOCKET, SO_PRIORITY, "SO_PRIORITY", 0, 0 },
	{ SOL_SOCKET, SO_MARK, "SO_MARK", 0, 0 },
	{ SOL_SOCKET, SO_BROADCAST, "SO_BROADCAST", 0, 0 },
	{ SOL_SOCKET, SO_RCVLOWAT, "SO_RCVLOWAT", 0, 0 },
	{ SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF", 0, 0 },
	{ SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF", 0, 0 },
	{ SOL_SOCKET, SO_BUF_LOCK, "SO_BUF_LOCK", 0, 0 },	/* after the sizes: setting one locks it */
	{ SOL_SOCKET, SO_PASSCRED, "SO_PASSCRED", 0, 0 },
	{ SOL_SOCKET, SO_PASSSEC, "SO_PASSSEC", 0, 0 },
	{ SOL_SOCKET, SO_TIMESTAMP, "SO_TIMESTAMP", 0, 0 },
	{ SOL_SOCKET, SO_TIMESTAMPNS, "SO_TIMESTAMPNS", 0, 0 },
	{ SOL_SOCKET, SO_TIMESTAMPING, "SO_TIMESTAMPING", 0, 0 },	/* the flags (bind_phc: refused) */
	{ SOL_SOCKET, SO_DONTROUTE, "SO_DONTROUTE", 0, 0 },
	{ SOL_SOCKET, SO_RXQ_OVFL, "SO_RXQ_OVFL", 0, 0 },
	{ SOL_SOCKET, SO_SELECT_ERR_QUEUE, "SO_SELECT_ERR_QUEUE", 0, 0 },
	{ SOL_SOCKET, SO_PEEK_OFF, "SO_PEEK_OFF", 0, 0 },
	{ IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY", 0, 1 },
	{ IPPROTO_TCP, TCP_KEEPIDLE, "TCP_KEEPIDLE", 0, 1 },
	{ IPPROTO_TCP, TCP_KEEPINTVL, "TCP_KEEPINTVL", 0, 1 },
	{ IPPROTO_TCP, TCP_KEEPCNT, "TCP_KEEPCNT", 0, 1 },
	{ IPPROTO_TCP, TCP_DEFER_ACCEPT, "TCP_DEFER_ACCEPT", 0, 1 },
	{ IPPROTO_TCP, TCP_FASTOPEN, "TCP_FASTOPEN", 0, 1 },
	{ IPPROTO_TCP, TCP_USER_TIMEOUT, "TCP_USER_TIMEOUT", 0, 1 },
	{ IPPROTO_TCP, TCP_NOTSENT_LOWAT, "TCP_NOTSENT_LOWAT", 0, 1 },
	{ IPPROTO_TCP, TCP_CORK, "TCP_CORK", 0, 1 },
	{ IPPROTO_TCP, TCP_LINGER2, "TCP_LINGER2", 0, 1 },
	{ IPPROTO_TCP, TCP_SYNCNT, "TCP_SYNCNT", 0, 1 },
	{ IPPROTO_TCP, TCP_THIN_LINEAR_TIMEOUTS, "TCP_THIN_LINEAR_TIMEOUTS", 0, 1 },
	{ IPPROTO_UDP, UDP_SEGMENT, "UDP_SEGMENT", 0, 3 },
	{ IPPROTO_UDP, UDP_GRO, "UDP_GRO", 0, 3 },
	{ IPPROTO_UDPLITE, UDPLITE_SEND_CSCOV, "UDPLITE_SEND_CSCOV", 0, 4 },
	{ IPPROTO_UDPLITE, UDPLITE_RECV_CSCOV, "UDPLITE_RECV_CSCOV", 0, 4 },
	{ IPPROTO_IP, IP_HDRINCL, "IP_HDRINCL", AF_INET, 5 },
	{ IPPROTO_IPV6, IPV6_CHECKSUM, "IPV6_CHECKSUM", AF_INET6, 5 },
	{ IPPROTO_IP, IP_FREEBIND, "IP_FREEBIND", AF_INET, 0 },
	{ IPPROTO_IP, IP_TRANSPARENT, "IP_TRANSPARENT", AF_INET, 0 },
	{ IPPROTO_IP, IP_TOS, "IP_TOS", AF_INET, 0 },
	{ IPPROTO_IP, IP_TTL, "IP_TTL", AF_INET, 0 },
	{ IPPROTO_IP, IP_RECVERR, "IP_RECVERR", AF_INET, 0 },
	{ IPPROTO_IP, IP_PKTINFO, "IP_PKTINFO", AF_INET, 0 },
	{ IPPROTO_IP, IP_MTU_DISCOVER, "IP_MTU_DISCOVER", AF_INET, 0 },
	{ IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, "IP_BIND_ADDRESS_NO_PORT", AF_INET, 0 },
	{ IPPROTO_IP, IP_RECVTOS, "IP_RECVTOS", AF_INET, 0 },
	{ IPPROTO_IP, IP_RECVTTL, "IP_RECVTTL", AF_INET, 0 },
	{ IPPROTO_IP, IP_RECVORIGDSTADDR, "IP_RECVORIGDSTADDR", AF_INET, 0 },
	{ IPPROTO_IP, IP_MULTICAST_TTL, "IP_MULTICAST_TTL", AF_INET, 2 },
	{ IPPROTO_IP, IP_MULTICAST_LOOP, "IP_MULTICAST_LOOP", AF_INET, 2 },
	{ IPPROTO_IP, IP_MULTICAST_ALL, "IP_MULTICAST_ALL", AF_INET, 2 },
	{ IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY", AF_INET6, 0 },
	{ IPPROTO_IPV6, IPV6_FREEBIND, "IPV6_FREEBIND", AF_INET6, 0 },
	{ IPPROTO_IPV6, IPV6_TRANSPARENT, "IPV6_TRANSPARENT", AF_INET6, 0 },
	{ IPPROTO_IPV6, IPV6_TCLASS, "IPV6_TCLASS", AF_INET6, 0 },
	{ IPPROTO_IPV6, IPV6_UNICAST_HOPS, "IPV6_UNICAST_HOPS", AF_INET6, 0 },
	{ IPPROTO_IPV6, IPV6_RECVERR, "IPV6_RECVERR", AF_INET6, 0 },
	{ IPPROTO_IPV6, IPV6_RECVPKTINFO, "IPV6_RECVPKTINFO", AF_INET6, 0 },
	{ IPPROTO_IPV6, IPV6_MTU_DISCOVER, "IPV6_MTU_DISCOVER", AF_INET6, 0 },
	{ IPPROTO_IPV6, IPV6_RECVTCLASS, "IPV6_RECVTCLASS", AF_INET6, 0 },
	{ IPPROTO_IPV6, IPV6_RECVHOPLIMIT, "IPV6_RECVHOPLIMIT", AF_INET6, 0 },
	{ IPPROTO_IPV6, IPV6_MULTICAST_HOPS, "IPV6_MULTICAST_HOPS", AF_INET6, 2 },
	{ IPPROTO_IPV6, IPV6_MULTICAST_LOOP, "IPV6_MULTICAST_LOOP", AF_INET6, 2 },
	{ IPPROTO_IPV6, IPV6_MULTICAST_ALL, "IPV6_MULTICAST_ALL", AF_INET6, 2 },
	/* IPv4 options of a dual-stack socket (its IPv4 traffic) */
	{ IPPROTO_IP, IP_TOS, "IP_TOS@6", AF_INET6, 0 },
	{ IPPROTO_IP, IP_TTL, "IP_TTL@6", AF_INET6, 0 },
};
#define NOPTS ARRAY_SIZE(opt_table)

struct inet_sk {
	int family, stream;		/* stream: TCP */
	int type, proto;		/* SOCK_STREAM/DGRAM/RAW, IPPROTO_* */
	int state;			/* TCP state (TCP_INFO), 0 for UDP */
	enum inet_mode mode;
	struct ip_addr laddr, raddr;
	int lport, rport;
	int connected;			/* has a peer */
	int ended;			/* TCP: was connected, now closed (reads EOF) */
	int backlog, inflight;
	int opt[NOPTS];
	unsigned __int128 have_opt;	/* bit i: opt[i] read */
	struct linger linger;
	char bindtodev[IFNAMSIZ];
	char congestion[16];
	struct timeval rcvtimeo, sndtimeo;
	/* repair */
	uint32_t snd_seq, rcv_seq, tsval;
	uint8_t *sndq, *rcvq;
	uint32_t sndq_len, unsent_len, rcvq_len;
	int mss, snd_wscale, rcv_wscale, tcpi_options;
	struct repair_window win;
	int fin_unsent;			/* our FIN queued behind unsent data (or a zero window) */
	int shut_rd;			/* shutdown(SHUT_RD) with no FIN from the peer */
	int peer_in_tree;
	int repairing;			/* dump: repair mode is on in the source socket */
	int shut;			/* datagram kinds: sk_shutdown (1 read, 2 write) */
	struct dgram *dq;		/* datagrams queued for reading */
	int ndq;
	uint8_t icmp_filter[32];	/* raw ICMP(v6): the types it drops */
	int icmp_filter_len;
	/* classic BPF filter (SO_ATTACH_FILTER) */
	struct sock_filter *filter;
	int filter_len, filter_locked;
	/* multicast group memberships (UDP) */
	struct mcast *mc;
	int nmc;
	/* restore */
	struct ip_addr new_laddr, new_raddr;
};

_Static_assert(NOPTS <= 128, "have_opt is 128 bits");

/* The image's value of an option, or def when it was not read. */
static int opt_val(const struct inet_sk *sk, int level, int name, int def)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (opt_table[i].level == level && opt_table[i].name == name && (sk->have_opt >> i & 1))
			return sk->opt[i];
	return def;
}

static int opt_applies(const struct inet_sk *sk, const struct sk_opt *o)
{
	int udp = sk->proto == IPPROTO_UDP || sk->proto == IPPROTO_UDPLITE;
	if (o->family && o->family != sk->family)
		return 0;
	switch (o->stream) {
	case 1: return sk->stream;
	case 2: return !sk->stream;
	case 3: return udp;
	case 4: return sk->proto == IPPROTO_UDPLITE;
	case 5: return sk->type == SOCK_RAW;
	}
	return 1;
}

/* "TCP", "UDP", "UDP-Lite", "ping", "raw(PROTO)" */
static const char *kind_str(const struct inet_sk *sk, char *buf, size_t len)
{
	if (sk->stream)
		return "TCP";
	if (sk->type == SOCK_RAW)
		return snprintf(buf, len, "raw(%d)", sk->proto), buf;
	return sk->proto == IPPROTO_UDP ? "UDP" : sk->proto == IPPROTO_UDPLITE ? "UDP-Lite" : "ping";
}

/* A socket of the image's kind.  A ping socket is allowed only to the
 * groups in net.ipv4.ping_group_range, which root's own group often is
 * not: the process that made it was in range, and ferry takes the first
 * group of the range for the creation only. */
static int make_socket(const struct inet_sk *sk, int flags)
{
	int fd = socket(sk->family, sk->type | flags, sk->proto);
	if (fd < 0 && errno == EACCES && sk->type == SOCK_DGRAM &&
	    (sk->proto == IPPROTO_ICMP || sk->proto == IPPROTO_ICMPV6)) {
		char *r = read_file("/proc/sys/net/ipv4/ping_group_range", NULL);
		long lo = -1, hi = -1;
		gid_t eg = getegid();
		if (r && sscanf(r, "%ld %ld", &lo, &hi) == 2 && lo <= hi && lo >= 0 && setegid(lo) == 0) {
			fd = socket(sk->family, sk->type | flags, sk->proto);
			if (setegid(eg) < 0)
				pr_warn("cannot return to group %d: %s", (int)eg, strerror(errno));
		}
		free(r);
		if (fd < 0)
			errno = EACCES;
	}
	return fd;
}

/* TCP states TCP repair brings back: ESTABLISHED, and the states reached
 * from it by FINs (tcp_repair.c), and SYN_SENT (connect() again with the
 * same initial sequence number). */
#define TCPF(s) (1 << (s))
#define REPAIRABLE (TCPF(TCP_ESTABLISHED) | TCPF(TCP_SYN_SENT) | TCPF(TCP_FIN_WAIT1) | TCPF(TCP_FIN_WAIT2) | \
		    TCPF(TCP_CLOSE_WAIT) | TCPF(TCP_LAST_ACK) | TCPF(TCP_CLOSING))
#define FIN_SENT (TCPF(TCP_FIN_WAIT1) | TCPF(TCP_FIN_WAIT2) | TCPF(TCP_CLOSING) | TCPF(TCP_LAST_ACK))
#define FIN_UNACKED (TCPF(TCP_FIN_WAIT1) | TCPF(TCP_CLOSING) | TCPF(TCP_LAST_ACK))
#define FIN_RCVD (TCPF(TCP_CLOSE_WAIT) | TCPF(TCP_CLOSING) | TCPF(TCP_LAST_ACK))
#define IN(set, st) (((set) >> (st)) & 1)

static const char *tcp_state_name(int st)
{
	static const char *const n[] = { "?", "established", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
					 "TIME_WAIT", "closed", "CLOSE_WAIT", "LAST_ACK", "listening", "CLOSING" };
	return st > 0 && st < (int)ARRAY_SIZE(n) ? n[st] : "?";
}

static void read_opts(int fd, struct inet_sk *sk)
{
	socklen_t len;
	for (size_t i = 0; i < NOPTS; i++) {
		int v;
		len = sizeof(v);
		if (opt_applies(sk, &opt_table[i]) && getsockopt(fd, opt_table[i].level, opt_table[i].name, &v, &len) == 0) {
			sk->opt[i] = v;
			sk->have_opt |= (unsigned __int128)1 << i;
		}
	}
	len = sizeof(sk->linger);
	getsockopt(fd, SOL_SOCKET, SO_LINGER, &sk->linger, &len);
	len = sizeof(sk->bindtodev);
	getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, sk->bindtodev, &len);
	len = sizeof(sk->rcvtimeo);
	getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &sk->rcvtimeo, &len);
	len = sizeof(sk->sndtimeo);
	getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &sk->sndtimeo, &len);
	if (sk->stream) {
		len = sizeof(sk->congestion);
		getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, sk->congestion, &len);
		sk->congestion[sizeof(sk->congestion) - 1] = 0;
	}
}

static const char *sk_str(const struct inet_sk *sk, char *buf, size_t len)
{
	char k[32];
	char a[64], b[64];
	if (sk->connected)
		snprintf(buf, len, "%s%s%s %s%s%s:%d -> %s%s%s:%d", kind_str(sk, k, sizeof(k)),
			 sk->stream && sk->state != TCP_ESTABLISHED ? " " : "",
			 sk->stream && sk->state != TCP_ESTABLISHED ? tcp_state_name(sk->state) : "",
			 sk->family == AF_INET6 ? "[" : "", ip_str(&sk->laddr, a, sizeof(a)),
			 sk->family == AF_INET6 ? "]" : "", sk->lport, sk->family == AF_INET6 ? "[" : "",
			 ip_str(&sk->raddr, b, sizeof(b)), sk->family == AF_INET6 ? "]" : "", sk->rport);
	else
		snprintf(buf, len, "%s %s %s%s%s:%d", kind_str(sk, k, sizeof(k)), sk->mode == M_LISTEN ? "listening on" : "on",
			 sk->family == AF_INET6 ? "[" : "", ip_str(&sk->laddr, a, sizeof(a)),
			 sk->family == AF_INET6 ? "]" : "", sk->lport);
	return buf;
}

/* The classic BPF program attached with SO_ATTACH_FILTER, as attached.
 * An eBPF one (SO_ATTACH_BPF) cannot be read back: refused. */
static int read_filter(struct proc_state *ps, int fd, int myfd, struct inet_sk *sk)
{
	socklen_t n = 0, len;
	if (getsockopt(myfd, SOL_SOCKET, SO_GET_FILTER, NULL, &n) < 0) {
		if (errno == EACCES)
			return refuse(ps->pid, "fd %d: an inet socket with an eBPF socket filter (SO_ATTACH_BPF), which "
				      "ferry cannot read back; only classic filters (SO_ATTACH_FILTER) are carried", fd);
		return fail_errno("pid %d: cannot read the socket filter of fd %d", ps->pid, fd);
	}
	if (!n)
		return 0;
	sk->filter = xmalloc(n * sizeof(*sk->filter));
	len = n;
	if (getsockopt(myfd, SOL_SOCKET, SO_GET_FILTER, sk->filter, &len) < 0)
		return fail_errno("pid %d: cannot read the socket filter of fd %d", ps->pid, fd);
	sk->filter_len = len;
	len = sizeof(sk->filter_locked);
	getsockopt(myfd, SOL_SOCKET, SO_LOCK_FILTER, &sk->filter_locked, &len);
	return 0;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Is the socket a member of group on interface idx?  MCAST_MSFILTER
 * answers EADDRNOTAVAIL for a group it did not join, else gives its
 * source filter. */
static int probe_group(struct proc_state *ps, int fd, int myfd, struct inet_sk *sk, int idx, const char *ifname,
		       const struct ip_addr *g)
{
	union {
		struct group_filter gf;
		char buf[GROUP_FILTER_SIZE(MC_MAXSRC + 1)];
	} u;
	socklen_t len = sizeof(u);
	struct mcast *m;
	memset(&u, 0, sizeof(u));
	u.gf.gf_interface = idx;
	ip_to_sockaddr(g, 0, &u.gf.gf_group);
	u.gf.gf_numsrc = MC_MAXSRC + 1;
	if (getsockopt(myfd, g->family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6, MCAST_MSFILTER, &u, &len) < 0) {
		if (errno == EADDRNOTAVAIL || errno == ENODEV || errno == EINVAL)
			return 0;
		return refuse(ps->pid, "fd %d: cannot read the socket's multicast memberships (%s)", fd, strerror(errno));
	}
	if (u.gf.gf_numsrc > MC_MAXSRC)
		return refuse(ps->pid, "fd %d: a multicast membership with more than %d source filters", fd, MC_MAXSRC);
	sk->mc = xrealloc(sk->mc, (sk->nmc + 1) * sizeof(*sk->mc));
	m = &sk->mc[sk->nmc++];
	memset(m, 0, sizeof(*m));
	if (strlen(ifname) >= sizeof(m->ifname))
		return refuse(ps->pid, "fd %d: interface name %s too long", fd, ifname);
	strcpy(m->ifname, ifname);
	m->group = *g;
	m->fmode = u.gf.gf_fmode;
	m->nsrc = u.gf.gf_numsrc;
	for (int i = 0; i < m->nsrc; i++) {
		int port;
		ip_from_sockaddr(&u.gf.gf_slist[i], &m->src[i], &port);
	}
	return 0;
}

/* Group memberships cannot be listed per socket; the groups joined on the
 * host can (/proc/PID/net/igmp{,6}), and each is asked of the socket. */
static int read_mcast(struct proc_state *ps, int fd, int myfd, struct inet_sk *sk)
{
	char path[64], line[256], ifname[IFNAMSIZ + 1] = "";
	int idx = 0;
	FILE *f;
	snprintf(path, sizeof(path), "/proc/%d/net/igmp", ps->hpid);
	if (!(f = fopen(path, "re")))
		return refuse(ps->pid, "fd %d: cannot read the multicast memberships of a UDP socket (%s: %s)", fd, path,
			      strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		unsigned g;
		if (line[0] != '\t') {
			if (sscanf(line, "%d %16s :", &idx, ifname) != 2)
				ifname[0] = 0;	/* the header */
		} else if (sscanf(line, " %x", &g) == 1 && ifname[0]) {
			struct ip_addr a = { .family = AF_INET };
			memcpy(&a.v4, &g, 4);	/* printed from memory, as a host-order word */
			if (sk->family == AF_INET && probe_group(ps, fd, myfd, sk, idx, ifname, &a) < 0) {
				fclose(f);
				return -1;
			}
		}
	}
	fclose(f);
	if (sk->family != AF_INET6)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/net/igmp6", ps->hpid);
	if (!(f = fopen(path, "re")))
		return 0;	/* no IPv6 on this host */
	while (fgets(line, sizeof(line), f)) {
		char name[IFNAMSIZ + 1], hex[40];
		struct ip_addr a = { .family = AF_INET6 };
		int ok = 1;
		if (sscanf(line, "%d %16s %39s", &idx, name, hex) != 3 || strlen(hex) != 32)
			continue;
		for (int i = 0; i < 16 && ok; i++) {
			int h = hexval(hex[2 * i]), l = hexval(hex[2 * i + 1]);
			ok = h >= 0 && l >= 0;
			a.v6.s6_addr[i] = h << 4 | l;
		}
		if (ok && probe_group(ps, fd, myfd, sk, idx, name, &a) < 0) {
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	return 0;
}

/* A datagram socket's queue (peeked, udp.c), shutdown state and ICMP filter. */
static int read_dgram_state(struct proc_state *ps, int fd, int myfd, struct inet_sk *sk)
{
	struct stat st;
	char buf[160];
	int v;
	if (sk->type == SOCK_RAW) {
		socklen_t len = sizeof(sk->icmp_filter);
		/* a raw socket's queue holds whole packets the host also took:
		 * handing them over again would have the host answer them twice */
		if (ioctl(myfd, SIOCINQ, &v) == 0 && v > 0)
			return refuse(ps->pid, "fd %d: %s has packets queued for reading, which ferry cannot hand "
				      "over again", fd, sk_str(sk, buf, sizeof(buf)));
		if ((sk->proto == IPPROTO_ICMP && sk->family == AF_INET &&
		     getsockopt(myfd, SOL_RAW, ICMP_FILTER, sk->icmp_filter, &len) == 0) ||
		    (sk->proto == IPPROTO_ICMPV6 && sk->family == AF_INET6 &&
		     getsockopt(myfd, IPPROTO_ICMPV6, ICMP6_FILTER, sk->icmp_filter, &len) == 0))
			sk->icmp_filter_len = len;
	} else {
		struct ip_addr peer;
		int pport;
		/* connect() on a ping socket shows nowhere but /proc/net/icmp */
		if (sk->proto == (sk->family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6) && fstat(myfd, &st) == 0 &&
		    inet_proc_peer(ps->hpid, sk->family == AF_INET ? "icmp" : "icmp6", sk->family, st.st_ino, &peer,
				   &pport) == 0 && !ip_is_any(&peer))
			return refuse(ps->pid, "fd %d: %s is connected, which ferry cannot restore for a ping socket yet",
				      fd, sk_str(sk, buf, sizeof(buf)));
		sk->ndq = dgram_peek_all(myfd, &sk->dq);
		if (sk->ndq == -2)
			return refuse(ps->pid, "fd %d: %s has a datagram queued larger than ferry reads", fd,
				      sk_str(sk, buf, sizeof(buf)));
		if (sk->ndq < 0) {
			sk->ndq = 0;
			if (errno == EOPNOTSUPP)
				return refuse(ps->pid, "fd %d: %s has datagrams queued, which the kernel gives no way "
					      "to read without consuming them (no SO_PEEK_OFF)", fd, sk_str(sk, buf, sizeof(buf)));
			return refuse(ps->pid, "fd %d: cannot read the datagrams queued on %s (%s)", fd,
				      sk_str(sk, buf, sizeof(buf)), strerror(errno));
		}
	}
	if ((sk->proto == IPPROTO_UDP || sk->proto == IPPROTO_UDPLITE) && fstat(myfd, &st) == 0 &&
	    (v = inet_diag_shutdown(ps->hpid, sk->family, sk->proto, st.st_ino)) >= 0) {
		sk->shut = v;
	} else {
		/* the read side shows in poll; the write side nowhere but sock_diag */
		struct pollfd p = { myfd, POLLRDHUP, 0 };
		poll(&p, 1, 0);
		sk->shut = p.revents & POLLRDHUP ? 1 : 0;
	}
	return 0;
}

/* The inet sockets dump carries (also asked by dump --check's survey). */
int inet_carried(int family, int type, int proto)
{
	return (type == SOCK_STREAM && proto == IPPROTO_TCP) ||
	       (type == SOCK_DGRAM && (proto == IPPROTO_UDP || proto == IPPROTO_UDPLITE)) ||
	       (type == SOCK_DGRAM && proto == (family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6)) || type == SOCK_RAW;
}


int inet_dump(struct proc_state *ps, struct ofile *of, int fd, int myfd)
{
	struct inet_sk *sk = xzalloc(sizeof(*sk));
	struct sockaddr_storage ss;
	socklen_t len = sizeof(int);
	int family, type, proto;

	of->inet = sk;
	if (getsockopt(myfd, SOL_SOCKET, SO_DOMAIN, &family, &len) < 0 ||
	    getsockopt(myfd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    getsockopt(myfd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) < 0)
		return fail_errno("pid %d: cannot read the kind of socket fd %d", ps->pid, fd);
	if (family != AF_INET && family != AF_INET6)
		return refuse(ps->pid, "fd %d is a socket of family %d (%s), which ferry cannot checkpoint yet",
			      fd, family, family == AF_UNIX ? "unix" : family == AF_NETLINK ? "netlink"
			      : family == AF_PACKET ? "packet" : "other");
	if (!inet_carried(family, type, proto))
		return refuse(ps->pid, "fd %d is an inet socket of type %d protocol %d%s; ferry carries TCP, UDP, UDP-Lite, "
			      "ping and raw sockets", fd, type, proto, proto == IPPROTO_SCTP ? " (SCTP)"
			      : proto == 262 ? " (MPTCP)" : "");
	sk->family = family;
	sk->stream = type == SOCK_STREAM;
	sk->type = type;
	sk->proto = proto;
	len = sizeof(ss);
	if (getsockname(myfd, (struct sockaddr *)&ss, &len) < 0)
		return fail_errno("pid %d: getsockname on socket fd %d", ps->pid, fd);
	ip_from_sockaddr(&ss, &sk->laddr, &sk->lport);
	len = sizeof(ss);
	if (getpeername(myfd, (struct sockaddr *)&ss, &len) == 0) {
		ip_from_sockaddr(&ss, &sk->raddr, &sk->rport);
		sk->connected = 1;
	}
	read_opts(myfd, sk);
	if (opt_val(sk, SOL_SOCKET, SO_TIMESTAMPING, 0) & SOF_TIMESTAMPING_BIND_PHC)
		return refuse(ps->pid, "fd %d: an inet socket with SO_TIMESTAMPING bound to a PTP clock "
			      "(SOF_TIMESTAMPING_BIND_PHC), which ferry cannot read back", fd);
	if (read_filter(ps, fd, myfd, sk) < 0 || (!sk->stream && read_mcast(ps, fd, myfd, sk) < 0) ||
	    (!sk->stream && read_dgram_state(ps, fd, myfd, sk) < 0))
		return -1;
	sk->mode = M_PLAIN;
	if (sk->stream) {
		struct tcp_info ti;
		len = sizeof(ti);
		if (getsockopt(myfd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
			return fail_errno("pid %d: TCP_INFO on socket fd %d", ps->pid, fd);
		sk->state = ti.tcpi_state;
		if (sk->state == TCP_LISTEN) {
			sk->mode = M_LISTEN;
			sk->backlog = ti.tcpi_sacked;
			sk->inflight = ti.tcpi_unacked;
		} else if (sk->state == TCP_CLOSE) {
			/* A connection that ended still reads EOF; poll tells (RDHUP). */
			struct pollfd p = { myfd, POLLRDHUP, 0 };
			poll(&p, 1, 0);
			sk->ended = !!(p.revents & POLLRDHUP);
			sk->connected = 0;
		} else {
			struct stat st;
			if (!sk->connected && (fstat(myfd, &st) < 0 ||
					       tcp_proc_peer(ps->hpid, family, st.st_ino, &sk->raddr, &sk->rport) < 0))
				return fail_errno("pid %d: cannot find the peer of %s socket fd %d", ps->pid,
						  tcp_state_name(sk->state), fd);
			sk->connected = 1;
			sk->mode = M_STUB;	/* decided for good in inet_dump_finish */
			if (!IN(FIN_RCVD, sk->state)) {
				/* no FIN from the peer, yet reads end: our own SHUT_RD */
				struct pollfd p = { myfd, POLLRDHUP, 0 };
				poll(&p, 1, 0);
				sk->shut_rd = !!(p.revents & POLLRDHUP);
			}
		}
	}
	/* Keep our reference: repair and the reset at the end need it. */
	of->rfd = dup(myfd);
	if (of->rfd < 0)
		return fail_errno("pid %d: cannot keep socket fd %d", ps->pid, fd);
	return 0;
}

static int same_conn(const struct inet_sk *a, const struct inet_sk *b)
{
	return a->stream && b->stream && a->connected && b->connected && a->lport == b->rport &&
	       a->rport == b->lport && ip_equal(&a->laddr, &b->raddr) && ip_equal(&a->raddr, &b->laddr);
}

/* A connection being made to a listener of the tree: that listener completes it. */
static int syn_to(const struct inet_sk *c, const struct inet_sk *l)
{
	return l->stream && l->mode == M_LISTEN && l->lport == c->rport &&
	       (ip_is_any(&l->laddr) || ip_equal(&l->laddr, &c->raddr));
}

static int set_repair(int fd, int on)
{
	return setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on));
}

static int repair_queue(int fd, int q, uint32_t *seq, uint32_t len, uint8_t **data)
{
	socklen_t sl = sizeof(*seq);
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) < 0 ||
	    getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, seq, &sl) < 0)
		return -1;
	*data = xmalloc(len + 1);
	if (len && recv(fd, *data, len, MSG_PEEK | MSG_DONTWAIT) != (ssize_t)len)
		return -1;
	return 0;
}

static int dump_repair(struct ofile *of)
{
	struct inet_sk *sk = of->inet;
	struct tcp_info ti;
	socklen_t len;
	int v, fd = of->rfd;
	char buf[160];

	if (set_repair(fd, REPAIR_ON) < 0)
		return fail_errno("cannot switch %s into TCP repair mode", sk_str(sk, buf, sizeof(buf)));
	sk->repairing = 1;
	if (ioctl(fd, SIOCINQ, &v) < 0)		/* data only: a FIN received is not counted */
		goto err;
	sk->rcvq_len = v;
	if (ioctl(fd, SIOCOUTQ, &v) < 0)	/* write_seq - snd_una: our FIN counts until acked */
		goto err;
	sk->sndq_len = v;
	if (ioctl(fd, SIOCOUTQNSD, &v) < 0)	/* write_seq - snd_nxt: our FIN counts until sent */
		goto err;
	sk->unsent_len = v;
	if (IN(FIN_UNACKED, sk->state)) {
		/* The FIN is the last sequence number of the send queue; the
		 * image keeps data only, and whether the FIN had gone out. */
		sk->fin_unsent = sk->unsent_len > 0;
		sk->sndq_len -= sk->sndq_len > 0;
		sk->unsent_len -= sk->unsent_len > 0;
	}
	if (repair_queue(fd, Q_RECV, &sk->rcv_seq, sk->rcvq_len, &sk->rcvq) < 0 ||
	    repair_queue(fd, Q_SEND, &sk->snd_seq, sk->sndq_len, &sk->sndq) < 0)
		goto err;
	/* Sequence numbers of the data's end: a FIN took one more each way.
	 * The restore rebuilds the data as ESTABLISHED, then adds the FINs. */
	sk->snd_seq -= IN(FIN_SENT, sk->state);
	sk->rcv_seq -= IN(FIN_RCVD, sk->state);
	len = sizeof(ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		goto err;
	sk->tcpi_options = ti.tcpi_options;
	sk->snd_wscale = ti.tcpi_snd_wscale;
	sk->rcv_wscale = ti.tcpi_rcv_wscale;
	len = sizeof(sk->mss);
	if (getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &sk->mss, &len) < 0)
		goto err;
	len = sizeof(sk->tsval);
	if ((sk->tcpi_options & TCPI_OPT_TIMESTAMPS) && getsockopt(fd, IPPROTO_TCP, TCP_TIMESTAMP, &sk->tsval, &len) < 0)
		goto err;
	len = sizeof(sk->win);
	if (getsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &sk->win, &len) < 0)
		goto err;
	return 0;
err:
	return fail_errno("cannot read the TCP repair state of %s", sk_str(sk, buf, sizeof(buf)));
}

int inet_dump_finish(struct tree *t, struct img *im)
{
	struct conn *locked = NULL;
	int nlocked = 0, ret = 0;
	pid_t netns_pid = 0;
	(void)im;
	for (int i = 0; i < t->files.n && !ret; i++) {
		struct ofile *of = &t->files.of[i];
		struct inet_sk *sk = of->inet;
		if (of->kind != FK_INET || !sk->stream || !sk->connected)
			continue;
		for (int k = 0; k < t->files.n; k++)
			if (k != i && t->files.of[k].kind == FK_INET &&
			    (sk->state == TCP_SYN_SENT ? syn_to(sk, t->files.of[k].inet) : same_conn(sk, t->files.of[k].inet)))
				sk->peer_in_tree = 1;
		if (!IN(REPAIRABLE, sk->state)) {
			sk->mode = M_STUB;
			continue;
		}
		if (sk->peer_in_tree || (t->opt.tcp_established && !t->opt.tcp_close)) {
			sk->mode = M_REPAIR;
			if (!sk->peer_in_tree) {
				locked = xrealloc(locked, (nlocked + 1) * sizeof(*locked));
				locked[nlocked++] = (struct conn){ sk->laddr, sk->raddr, sk->lport, sk->rport };
				netns_pid = of->owner_pid;
			}
		} else {
			sk->mode = M_STUB;
		}
	}
	/* Silence the outside peers' connections before touching their state. */
	if (nlocked && netlock_install(&t->lock, netns_pid, locked, nlocked) < 0)
		ret = -1;
	free(locked);
	for (int i = 0; i < t->files.n && !ret; i++) {
		struct ofile *of = &t->files.of[i];
		if (of->kind == FK_INET && of->inet->mode == M_REPAIR)
			ret = dump_repair(of);
	}
	return ret;
}

/* Bytes of a broken connection the peer has not acknowledged yet (written
 * by the process: unsent, or sent and unacknowledged); 0 once there is
 * nothing more to deliver, the peer having taken it all or reset. */
static int undelivered(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int outq;
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 || ti.tcpi_state == TCP_CLOSE ||
	    ioctl(fd, SIOCOUTQ, &outq) < 0)
		return 0;
	return outq;
}

/* A RST, not a FIN: the peer learns at once that the connection is over. */
static void reset_conn(struct ofile *of)
{
	struct linger lg = { 1, 0 };
	setsockopt(of->rfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(of->rfd);
	of->rfd = -1;
}

void inet_drain(struct tree *t)
{
	/* ferry's reference keeps each broken connection alive after the source
	 * died, and the kernel still sends (and resends) its send queue: the
	 * replies the process wrote.  Its receive queue (requests it never read)
	 * is dropped with the RST.  Listeners, UDP and repaired sockets (still in
	 * repair mode: silent) close at once; a listener's in-flight clients are
	 * reset then. */
	int pending = 0, late = 0;
	long unsent = 0;
	for (int i = 0; i < t->files.n; i++) {
		struct ofile *of = &t->files.of[i];
		if (of->kind != FK_INET || of->rfd < 0)
			continue;
		if (of->inet->mode == M_STUB) {
			pending++;
		} else {
			close(of->rfd);
			of->rfd = -1;
		}
	}
	while (pending) {
		int expired = mono_seconds() >= t->drain_deadline;
		pending = 0;
		for (int i = 0; i < t->files.n; i++) {
			struct ofile *of = &t->files.of[i];
			int left;
			if (of->kind != FK_INET || of->rfd < 0 || of->inet->mode != M_STUB)
				continue;
			left = undelivered(of->rfd);
			if (left && !expired) {
				pending++;
				continue;
			}
			if (left) {
				late++;
				unsent += left;
			}
			reset_conn(of);
		}
		if (pending)
			poll(NULL, 0, 10);	/* no event says "acknowledged"; the bound is seconds */
	}
	if (late)
		pr_warn("%d broken connection(s) did not take what the process had written within --drain-timeout "
			"%g s: reset with %ld byte(s) undelivered", late, t->opt.drain_timeout, unsent);
}

void inet_dump_undo(struct tree *t)
{
	for (int i = 0; i < t->files.n; i++) {
		struct ofile *of = &t->files.of[i];
		if (of->kind == FK_INET && of->inet->repairing && of->rfd >= 0) {
			set_repair(of->rfd, REPAIR_OFF);
			of->inet->repairing = 0;
		}
	}
	netlock_remove(&t->lock);
}

void inet_report(const struct tree *t)
{
	int listen = 0, broken = 0, kept = 0, inflight = 0, udp = 0, dgrams = 0;
	for (int i = 0; i < t->files.n; i++) {
		const struct inet_sk *sk = t->files.of[i].inet;
		if (t->files.of[i].kind != FK_INET)
			continue;
		listen += sk->mode == M_LISTEN;
		broken += sk->mode == M_STUB;
		kept += sk->mode == M_REPAIR;
		inflight += sk->inflight;
		udp += !sk->stream;
		dgrams += sk->ndq;
	}
	if (listen + broken + kept + inflight + udp)
		pr_info("sockets: %d listening, %d connection(s) preserved, %d broken (peers reset), "
			"%d in-flight connection(s) skipped (clients reset), %d UDP (%d datagram(s) queued)",
			listen, kept, broken, inflight, udp, dgrams);
}

/* ---- encode / decode ---- */

static json_t *jtv(const struct timeval *tv)
{
	return json_pack("[I,I]", (json_int_t)tv->tv_sec, (json_int_t)tv->tv_usec);
}

void inet_encode(const struct ofile *of, json_t *j)
{
	const struct inet_sk *sk = of->inet;
	char a[64];
	json_t *o = json_object(), *opts = json_object();
	for (size_t i = 0; i < NOPTS; i++)
		if (sk->have_opt & ((unsigned __int128)1 << i))
			json_object_set_new(opts, opt_table[i].key, json_integer(sk->opt[i]));
	json_object_set_new(o, "family", json_integer(sk->family == AF_INET ? 4 : 6));
	json_object_set_new(o, "proto", json_string(sk->stream ? "tcp" : sk->type == SOCK_RAW ? "raw"
						    : sk->proto == IPPROTO_UDP ? "udp" : sk->proto == IPPROTO_UDPLITE ? "udplite" : "ping"));
	if (sk->type == SOCK_RAW)
		json_object_set_new(o, "protocol", json_integer(sk->proto));
	if (sk->shut)
		json_object_set_new(o, "shutdown", json_integer(sk->shut));
	if (sk->ndq) {
		json_t *q = json_array();
		for (int i = 0; i < sk->ndq; i++)
			json_array_append_new(q, json_pack("{s:s,s:i,s:o}", "from", ip_str(&sk->dq[i].from, a, sizeof(a)),
							   "port", sk->dq[i].port, "data", jblob(sk->dq[i].data, sk->dq[i].len)));
		json_object_set_new(o, "queue", q);
	}
	if (sk->icmp_filter_len)
		json_object_set_new(o, "icmp_filter", jblob(sk->icmp_filter, sk->icmp_filter_len));
	json_object_set_new(o, "state", json_integer(sk->state));
	json_object_set_new(o, "mode", json_string(mode_names[sk->mode]));
	json_object_set_new(o, "local", json_string(ip_str(&sk->laddr, a, sizeof(a))));
	json_object_set_new(o, "lport", json_integer(sk->lport));
	if (sk->connected) {
		json_object_set_new(o, "peer", json_string(ip_str(&sk->raddr, a, sizeof(a))));
		json_object_set_new(o, "rport", json_integer(sk->rport));
		json_object_set_new(o, "peer_in_tree", json_boolean(sk->peer_in_tree));
	}
	json_object_set_new(o, "ended", json_boolean(sk->ended));
	if (sk->mode == M_LISTEN) {
		json_object_set_new(o, "backlog", json_integer(sk->backlog));
		json_object_set_new(o, "inflight", json_integer(sk->inflight));
	}
	json_object_set_new(o, "options", opts);
	json_object_set_new(o, "linger", json_pack("[i,i]", sk->linger.l_onoff, sk->linger.l_linger));
	json_object_set_new(o, "bindtodevice", json_string(sk->bindtodev));
	json_object_set_new(o, "congestion", json_string(sk->congestion));
	json_object_set_new(o, "rcvtimeo", jtv(&sk->rcvtimeo));
	json_object_set_new(o, "sndtimeo", jtv(&sk->sndtimeo));
	if (sk->mode == M_REPAIR)
		json_object_set_new(o, "repair",
				    json_pack("{s:I,s:I,s:o,s:o,s:I,s:i,s:i,s:i,s:i,s:I,s:[I,I,I,I,I]}", "snd_seq",
					      (json_int_t)sk->snd_seq, "rcv_seq", (json_int_t)sk->rcv_seq, "sndq",
					      jblob(sk->sndq, sk->sndq_len), "rcvq", jblob(sk->rcvq, sk->rcvq_len),
					      "unsent", (json_int_t)sk->unsent_len, "mss", sk->mss, "snd_wscale",
					      sk->snd_wscale, "rcv_wscale", sk->rcv_wscale, "options", sk->tcpi_options,
					      "tsval", (json_int_t)sk->tsval, "window", (json_int_t)sk->win.snd_wl1,
					      (json_int_t)sk->win.snd_wnd, (json_int_t)sk->win.max_window,
					      (json_int_t)sk->win.rcv_wnd, (json_int_t)sk->win.rcv_wup));
	if (sk->mode == M_REPAIR && sk->fin_unsent)
		json_object_set_new(json_object_get(o, "repair"), "fin_unsent", json_true());
	if (sk->shut_rd)
		json_object_set_new(o, "shut_rd", json_true());
	if (sk->filter_len) {
		json_t *fa = json_array();
		for (int i = 0; i < sk->filter_len; i++)
			json_array_append_new(fa, json_pack("[i,i,i,I]", sk->filter[i].code, sk->filter[i].jt,
							    sk->filter[i].jf, (json_int_t)sk->filter[i].k));
		json_object_set_new(o, "filter", json_pack("{s:o,s:b}", "prog", fa, "locked", sk->filter_locked));
	}
	if (sk->nmc) {
		json_t *ma = json_array();
		for (int i = 0; i < sk->nmc; i++) {
			const struct mcast *m = &sk->mc[i];
			json_t *srcs = json_array();
			for (int k = 0; k < m->nsrc; k++)
				json_array_append_new(srcs, json_string(ip_str(&m->src[k], a, sizeof(a))));
			json_array_append_new(ma, json_pack("{s:s,s:s,s:s,s:o}", "if", m->ifname, "group",
							    ip_str(&m->group, a, sizeof(a)), "mode",
							    m->fmode == MCAST_INCLUDE ? "include" : "exclude", "sources", srcs));
		}
		json_object_set_new(o, "multicast", ma);
	}
	json_object_set_new(j, "inet", o);
}

static int get_addr(json_t *o, const char *key, struct ip_addr *a)
{
	const char *s;
	if (jget_str(o, key, &s) < 0)
		return -1;
	if (ip_parse(s, a) < 0)
		return fail("image %s is corrupt: \"%s\" is not an address", jctx, s);
	return 0;
}

static int get_int(json_t *o, const char *key, int *v)
{
	long long x;
	if (jget_int(o, key, &x) < 0)
		return -1;
	*v = x;
	return 0;
}

static int get_tv(json_t *o, const char *key, struct timeval *tv)
{
	json_t *a = jget_arr(o, key);
	if (!a || json_array_size(a) != 2)
		return fail("image %s is corrupt: bad %s", jctx, key);
	tv->tv_sec = json_integer_value(json_array_get(a, 0));
	tv->tv_usec = json_integer_value(json_array_get(a, 1));
	return 0;
}

static int get_str(json_t *o, const char *key, char *buf, size_t len)
{
	const char *s;
	if (jget_str(o, key, &s) < 0)
		return -1;
	if (strlen(s) >= len)
		return fail("image %s is corrupt: %s too long", jctx, key);
	strcpy(buf, s);
	return 0;
}

int inet_decode(json_t *j, struct ofile *of)
{
	struct inet_sk *sk = xzalloc(sizeof(*sk));
	json_t *o = jget_obj(j, "inet"), *opts, *v, *lg, *r;
	const char *s, *key;
	int fam;

	of->inet = sk;
	if (!o || get_int(o, "family", &fam) < 0 || jget_str(o, "proto", &s) < 0)
		return -1;
	sk->family = fam == 4 ? AF_INET : AF_INET6;
	sk->stream = !strcmp(s, "tcp");
	if (sk->stream) {
		sk->type = SOCK_STREAM;
		sk->proto = IPPROTO_TCP;
	} else if (!strcmp(s, "udp") || !strcmp(s, "udplite")) {
		sk->type = SOCK_DGRAM;
		sk->proto = s[3] ? IPPROTO_UDPLITE : IPPROTO_UDP;
	} else if (!strcmp(s, "ping")) {
		sk->type = SOCK_DGRAM;
		sk->proto = sk->family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
	} else if (!strcmp(s, "raw")) {
		sk->type = SOCK_RAW;
		if (get_int(o, "protocol", &sk->proto) < 0)
			return -1;
	} else {
		return fail("image %s: unknown inet protocol \"%s\"", jctx, s);
	}
	if ((v = json_object_get(o, "shutdown")))
		sk->shut = json_integer_value(v) & 3;
	if ((v = json_object_get(o, "queue"))) {
		json_t *d;
		size_t k;
		if (!json_is_array(v))
			return fail("image %s is corrupt: datagram queue", jctx);
		sk->dq = xzalloc((json_array_size(v) + 1) * sizeof(*sk->dq));
		json_array_foreach(v, k, d) {
			void *b;
			size_t n;
			if (get_addr(d, "from", &sk->dq[k].from) < 0 || get_int(d, "port", &sk->dq[k].port) < 0 ||
			    jget_blobv(d, "data", &b, &n) < 0)
				return -1;
			sk->dq[k].data = b;
			sk->dq[k].len = n;
			sk->ndq++;
		}
	}
	if ((v = json_object_get(o, "icmp_filter"))) {
		void *b;
		size_t n;
		if (jget_blobv(o, "icmp_filter", &b, &n) < 0)
			return -1;
		if (n > sizeof(sk->icmp_filter)) {
			free(b);
			return fail("image %s is corrupt: ICMP filter", jctx);
		}
		memcpy(sk->icmp_filter, b, n);
		sk->icmp_filter_len = n;
		free(b);
	}
	if (jget_str(o, "mode", &s) < 0)
		return -1;
	sk->mode = (enum inet_mode)-1;
	for (size_t i = 0; i < ARRAY_SIZE(mode_names); i++)
		if (!strcmp(s, mode_names[i]))
			sk->mode = i;
	if ((int)sk->mode < 0)
		return fail("image %s: unknown socket mode \"%s\"", jctx, s);
	if (get_int(o, "state", &sk->state) < 0 || get_addr(o, "local", &sk->laddr) < 0 ||
	    get_int(o, "lport", &sk->lport) < 0)
		return -1;
	if (sk->laddr.family != sk->family)
		return fail("image %s is corrupt: socket address family", jctx);
	if (json_object_get(o, "peer")) {
		sk->connected = 1;
		if (get_addr(o, "peer", &sk->raddr) < 0 || get_int(o, "rport", &sk->rport) < 0)
			return -1;
		sk->peer_in_tree = json_is_true(json_object_get(o, "peer_in_tree"));
	}
	sk->ended = json_is_true(json_object_get(o, "ended"));
	sk->shut_rd = json_is_true(json_object_get(o, "shut_rd"));
	if ((v = json_object_get(o, "filter"))) {
		json_t *fa = json_object_get(v, "prog"), *ins;
		size_t k;
		if (!json_is_array(fa) || !json_array_size(fa) || json_array_size(fa) > BPF_MAXINSNS)
			return fail("image %s is corrupt: socket filter", jctx);
		sk->filter_len = json_array_size(fa);
		sk->filter = xzalloc(sk->filter_len * sizeof(*sk->filter));
		json_array_foreach(fa, k, ins) {
			if (!json_is_array(ins) || json_array_size(ins) != 4)
				return fail("image %s is corrupt: socket filter", jctx);
			sk->filter[k] = (struct sock_filter){ json_integer_value(json_array_get(ins, 0)),
							      json_integer_value(json_array_get(ins, 1)),
							      json_integer_value(json_array_get(ins, 2)),
							      json_integer_value(json_array_get(ins, 3)) };
		}
		sk->filter_locked = json_is_true(json_object_get(v, "locked"));
	}
	if ((v = json_object_get(o, "multicast"))) {
		json_t *m, *src;
		size_t k, n;
		if (!json_is_array(v))
			return fail("image %s is corrupt: multicast", jctx);
		sk->nmc = json_array_size(v);
		sk->mc = xzalloc((sk->nmc + 1) * sizeof(*sk->mc));
		json_array_foreach(v, k, m) {
			struct mcast *mc = &sk->mc[k];
			json_t *srcs;
			if (get_str(m, "if", mc->ifname, sizeof(mc->ifname)) < 0 || get_addr(m, "group", &mc->group) < 0 ||
			    !(srcs = jget_arr(m, "sources")) || json_array_size(srcs) > MC_MAXSRC)
				return fail("image %s is corrupt: multicast", jctx);
			mc->fmode = !strcmp(json_string_value(json_object_get(m, "mode")) ?: "", "include") ? MCAST_INCLUDE
													      : MCAST_EXCLUDE;
			mc->nsrc = json_array_size(srcs);
			json_array_foreach(srcs, n, src)
				if (!json_is_string(src) || ip_parse(json_string_value(src), &mc->src[n]) < 0)
					return fail("image %s is corrupt: multicast source", jctx);
		}
	}
	if (sk->mode == M_LISTEN && (get_int(o, "backlog", &sk->backlog) < 0 || get_int(o, "inflight", &sk->inflight) < 0))
		return -1;
	if (!(opts = jget_obj(o, "options")))
		return -1;
	json_object_foreach(opts, key, v)
		for (size_t i = 0; i < NOPTS; i++)
			if (!strcmp(key, opt_table[i].key) && json_is_integer(v)) {
				sk->opt[i] = json_integer_value(v);
				sk->have_opt |= (unsigned __int128)1 << i;
			}
	if (!(lg = jget_arr(o, "linger")) || json_array_size(lg) != 2)
		return fail("image %s is corrupt: linger", jctx);
	sk->linger.l_onoff = json_integer_value(json_array_get(lg, 0));
	sk->linger.l_linger = json_integer_value(json_array_get(lg, 1));
	if (get_str(o, "bindtodevice", sk->bindtodev, sizeof(sk->bindtodev)) < 0 ||
	    get_str(o, "congestion", sk->congestion, sizeof(sk->congestion)) < 0 ||
	    get_tv(o, "rcvtimeo", &sk->rcvtimeo) < 0 || get_tv(o, "sndtimeo", &sk->sndtimeo) < 0)
		return -1;
	if (sk->mode == M_REPAIR) {
		void *d;
		size_t n;
		long long x;
		json_t *w;
		if (!(r = jget_obj(o, "repair")))
			return -1;
		if (jget_int(r, "snd_seq", &x) < 0)
			return -1;
		sk->snd_seq = x;
		if (jget_int(r, "rcv_seq", &x) < 0)
			return -1;
		sk->rcv_seq = x;
		if (jget_blobv(r, "sndq", &d, &n) < 0)
			return -1;
		sk->sndq = d;
		sk->sndq_len = n;
		if (jget_blobv(r, "rcvq", &d, &n) < 0)
			return -1;
		sk->rcvq = d;
		sk->rcvq_len = n;
		if (jget_int(r, "unsent", &x) < 0)
			return -1;
		sk->unsent_len = x;
		sk->fin_unsent = json_is_true(json_object_get(r, "fin_unsent"));
		if (sk->state < TCP_ESTABLISHED || sk->state > TCP_CLOSING || !IN(REPAIRABLE, sk->state))
			return fail("image %s is corrupt: TCP state %d cannot be repaired", jctx, sk->state);
		if (sk->unsent_len > sk->sndq_len)
			return fail("image %s is corrupt: unsent data", jctx);
		if (get_int(r, "mss", &sk->mss) < 0 || get_int(r, "snd_wscale", &sk->snd_wscale) < 0 ||
		    get_int(r, "rcv_wscale", &sk->rcv_wscale) < 0 || get_int(r, "options", &sk->tcpi_options) < 0)
			return -1;
		if (jget_int(r, "tsval", &x) < 0)
			return -1;
		sk->tsval = x;
		if (!(w = jget_arr(r, "window")) || json_array_size(w) != 5)
			return fail("image %s is corrupt: window", jctx);
		sk->win = (struct repair_window){ json_integer_value(json_array_get(w, 0)),
						  json_integer_value(json_array_get(w, 1)),
						  json_integer_value(json_array_get(w, 2)),
						  json_integer_value(json_array_get(w, 3)),
						  json_integer_value(json_array_get(w, 4)) };
	}
	return 0;
}

void inet_free(struct ofile *of)
{
	if (!of->inet)
		return;
	free(of->inet->sndq);
	free(of->inet->rcvq);
	free(of->inet->filter);
	dgram_free(of->inet->dq, of->inet->ndq);
	free(of->inet->mc);
	free(of->inet);
	of->inet = NULL;
}

/* ---- restore ---- */

static int addr_present(const struct ip_addr *a, struct ifaddrs *ifs)
{
	return ip_is_any(a) || ip_is_loopback(a) || ip_on_host(a, ifs);
}

static void list_addrs(struct ifaddrs *ifs, char *buf, size_t len)
{
	size_t off = 0;
	buf[0] = 0;
	for (struct ifaddrs *i = ifs; i && off + 48 < len; i = i->ifa_next) {
		struct ip_addr x;
		char a[64];
		int port;
		if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
			continue;
		ip_from_sockaddr(i->ifa_addr, &x, &port);
		if (ip_is_loopback(&x) || (x.family == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(&x.v6)))
			continue;
		off += snprintf(buf + off, len - off, "%s%s", off ? ", " : "", ip_str(&x, a, sizeof(a)));
	}
	if (!off)
		snprintf(buf, len, "none but loopback");
}

static int nonlocal_bind(const struct inet_sk *sk)
{
	return opt_val(sk, IPPROTO_IP, IP_FREEBIND, 0) || opt_val(sk, IPPROTO_IP, IP_TRANSPARENT, 0) ||
	       opt_val(sk, IPPROTO_IPV6, IPV6_FREEBIND, 0) || opt_val(sk, IPPROTO_IPV6, IPV6_TRANSPARENT, 0);
}

/* Decides what each socket becomes here: maps addresses, and breaks a
 * repaired connection to an outside peer whose local address changed. */
int inet_validate(const struct tree *t)
{
	struct ifaddrs *ifs = NULL;
	int ret = 0;
	if (getifaddrs(&ifs) < 0)
		return fail_errno("cannot list this host's addresses");
	for (int i = 0; i < t->files.n && !ret; i++) {
		struct ofile *of = &t->files.of[i];
		struct inet_sk *sk = of->inet;
		int changed;
		char buf[160], a[64], b[64], addrs[512];
		if (of->kind != FK_INET)
			continue;
		sk->new_laddr = sk->laddr;
		sk->new_raddr = sk->raddr;
		changed = t->opt.ipmap && ipmap_apply(t->opt.ipmap, &sk->new_laddr);
		if (sk->mode == M_REPAIR && sk->peer_in_tree && t->opt.ipmap)
			ipmap_apply(t->opt.ipmap, &sk->new_raddr);	/* both ends move together */
		if (sk->mode == M_REPAIR && !sk->peer_in_tree && (changed || t->opt.tcp_close))
			sk->mode = M_STUB;
		for (int k = 0; k < sk->nmc && !ret; k++)
			if (!if_nametoindex(sk->mc[k].ifname))
				ret = fail("%s (pid %d fd %d) is a member of multicast group %s on interface %s, which this "
					   "host does not have", sk_str(sk, buf, sizeof(buf)), of->owner_pid, of->owner_fd,
					   ip_str(&sk->mc[k].group, a, sizeof(a)), sk->mc[k].ifname);
		if (ret || sk->mode == M_STUB || (sk->mode == M_PLAIN && sk->stream && !sk->lport))
			continue;	/* a stub needs no address of its own */
		/* bound with IP_FREEBIND or IP_TRANSPARENT: made without the
		 * address, restored the same way (the option is set before the bind) */
		if (!addr_present(&sk->new_laddr, ifs) && !nonlocal_bind(sk)) {
			/* named as the host has them: ::ffff:A needs IPv4 A */
			struct ip_addr need = ip_unmap(&sk->new_laddr), old = ip_unmap(&sk->laddr);
			list_addrs(ifs, addrs, sizeof(addrs));
			ret = fail("%s (pid %d fd %d) needs address %s, which this host does not have (its addresses: %s); "
				   "add --ip-map %s=NEW to move it to one of them",
				   sk_str(sk, buf, sizeof(buf)), of->owner_pid, of->owner_fd,
				   ip_str(&need, a, sizeof(a)), addrs, ip_str(&old, b, sizeof(b)));
		}
	}
	freeifaddrs(ifs);
	return ret;
}

/* Options that differ from a fresh socket's (so defaults stay defaults). */
static int apply_opts(int fd, const struct inet_sk *sk, int before_bind, char *what)
{
	int fresh = make_socket(sk, 0);
	if (fresh < 0)
		return fail_errno("cannot create a socket");
	for (size_t i = 0; i < NOPTS; i++) {
		const struct sk_opt *o = &opt_table[i];
		int v, early = o->level != IPPROTO_TCP || o->name == TCP_FASTOPEN ? 1 : 0, val = sk->opt[i];
		socklen_t len = sizeof(v);
		if (!(sk->have_opt & ((unsigned __int128)1 << i)) || !opt_applies(sk, o) || early != before_bind)
			continue;
		if ((o->name == SO_RCVBUF || o->name == SO_SNDBUF) && o->level == SOL_SOCKET) {
			/* A size the program set is locked (SO_BUF_LOCK); any other
			 * is the kernel's (default or autotuned) and stays its own. */
			int locks = opt_val(sk, SOL_SOCKET, SO_BUF_LOCK, -1);
			if (sk->mode == M_STUB || sk->mode == M_REPAIR ||
			    (locks >= 0 && !(locks & (o->name == SO_RCVBUF ? SOCK_RCVBUF_LOCK : SOCK_SNDBUF_LOCK))))
				continue;
			val /= 2;		/* the kernel doubles what it is given */
		}
		if (getsockopt(fresh, o->level, o->name, &v, &len) == 0 && v == sk->opt[i])
			continue;
		if (setsockopt(fd, o->level, o->name, &val, sizeof(val)) < 0) {
			close(fresh);
			return fail_errno("%s: cannot set %s to %d", what, o->key, sk->opt[i]);
		}
	}
	close(fresh);
	if (!before_bind)
		return 0;
	if (sk->linger.l_onoff && setsockopt(fd, SOL_SOCKET, SO_LINGER, &sk->linger, sizeof(sk->linger)) < 0)
		return fail_errno("%s: cannot set SO_LINGER", what);
	if (sk->bindtodev[0] && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, sk->bindtodev, strlen(sk->bindtodev)) < 0)
		return fail_errno("%s: cannot bind to device %s", what, sk->bindtodev);
	if ((sk->rcvtimeo.tv_sec || sk->rcvtimeo.tv_usec) &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &sk->rcvtimeo, sizeof(sk->rcvtimeo)) < 0)
		return fail_errno("%s: cannot set SO_RCVTIMEO", what);
	if ((sk->sndtimeo.tv_sec || sk->sndtimeo.tv_usec) &&
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &sk->sndtimeo, sizeof(sk->sndtimeo)) < 0)
		return fail_errno("%s: cannot set SO_SNDTIMEO", what);
	if (sk->stream && sk->congestion[0]) {
		char cur[16] = "";
		socklen_t len = sizeof(cur);
		getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cur, &len);
		if (strncmp(cur, sk->congestion, sizeof(cur)) &&
		    setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, sk->congestion, strlen(sk->congestion)) < 0)
			return fail_errno("%s: cannot set congestion control %s", what, sk->congestion);
	}
	return 0;
}

/* Leaving repair mode resets SO_REUSEADDR; give the socket its own back. */
static int reapply_reuse(int fd, const struct inet_sk *sk)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (opt_table[i].level == SOL_SOCKET && opt_table[i].name == SO_REUSEADDR &&
		    (sk->have_opt & ((unsigned __int128)1 << i)) && sk->opt[i])
			return setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &sk->opt[i], sizeof(int));
	return 0;
}

static int do_bind(int fd, const struct ip_addr *a, int port, const char *what)
{
	struct sockaddr_storage ss;
	socklen_t len = ip_to_sockaddr(a, port, &ss);
	char buf[64];
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		return fail_errno("%s: cannot bind to %s%s%s:%d", what, a->family == AF_INET6 ? "[" : "",
				  ip_str(a, buf, sizeof(buf)), a->family == AF_INET6 ? "]" : "", port);
	return 0;
}

/* Another socket of the tree on the same port (and protocol). */
static int port_shared(const struct tree *t, const struct ofile *of)
{
	for (int i = 0; i < t->files.n; i++) {
		const struct ofile *o = &t->files.of[i];
		if (o != of && o->kind == FK_INET && o->inet->stream == of->inet->stream &&
		    o->inet->lport == of->inet->lport)
			return 1;
	}
	return 0;
}

/* A TCP socket bound, not listening, whose port the kernel let it share:
 * a connection that ended keeps its listener's port (accepted sockets
 * inherit its bind lock), and a socket bound with SO_REUSEADDR before the
 * listener listened.  Binding after the listener is refused; the kernel
 * allowed the set, so bind again in repair mode, which skips the check.
 * A conflict with a socket outside the tree stays an error. */
static int bind_shared(const struct tree *t, const struct ofile *of, int fd, const char *what)
{
	const struct inet_sk *sk = of->inet;
	struct sockaddr_storage ss;
	socklen_t len = ip_to_sockaddr(&sk->new_laddr, sk->lport, &ss);
	if (bind(fd, (struct sockaddr *)&ss, len) == 0)
		return 0;
	if (errno != EADDRINUSE || !sk->stream || !port_shared(t, of))
		return do_bind(fd, &sk->new_laddr, sk->lport, what);	/* the error, as usual */
	if (set_repair(fd, REPAIR_ON) < 0)
		return fail_errno("%s: cannot use TCP repair mode", what);
	if (do_bind(fd, &sk->new_laddr, sk->lport, what) < 0)
		return -1;
	if (set_repair(fd, REPAIR_OFF) < 0 || reapply_reuse(fd, sk) < 0)
		return fail_errno("%s: cannot leave TCP repair mode", what);
	return 0;
}

static int put_queue(int fd, int q, const uint8_t *data, uint32_t len)
{
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) < 0)
		return -1;
	while (len) {
		ssize_t n = send(fd, data, len, MSG_DONTWAIT);
		if (n <= 0)
			return -1;
		data += n;
		len -= n;
	}
	return 0;
}

static int restore_repair(int fd, struct inet_sk *sk, const char *what)
{
	struct sockaddr_storage ss;
	socklen_t len;
	uint32_t seq;
	int q;
	struct tcp_repair_opt opts[4];
	int nopts = 0;

	if (sk->state == TCP_SYN_SENT) {
		/* connect() again, out of repair mode, from the same initial
		 * sequence number (kept when write_seq is set): the peer sees
		 * the SYN retransmitted, a SYN-ACK it sent meanwhile is answered. */
		q = Q_SEND;
		seq = sk->snd_seq - 1;
		if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) < 0 ||
		    setsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &seq, sizeof(seq)) < 0)
			return fail_errno("%s: cannot set the send sequence", what);
		if (do_bind(fd, &sk->new_laddr, sk->lport, what) < 0)
			return -1;
		if (set_repair(fd, REPAIR_OFF) < 0 || reapply_reuse(fd, sk) < 0)
			return fail_errno("%s: cannot leave TCP repair mode", what);
		return 0;	/* connect() in inet_restore_finish, once every socket exists */
	}
	q = Q_SEND;
	seq = sk->snd_seq - sk->sndq_len;
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &seq, sizeof(seq)) < 0)
		return fail_errno("%s: cannot set the send sequence", what);
	q = Q_RECV;
	seq = sk->rcv_seq - sk->rcvq_len;
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &seq, sizeof(seq)) < 0)
		return fail_errno("%s: cannot set the receive sequence", what);
	if (do_bind(fd, &sk->new_laddr, sk->lport, what) < 0)
		return -1;
	len = ip_to_sockaddr(&sk->new_raddr, sk->rport, &ss);
	if (connect(fd, (struct sockaddr *)&ss, len) < 0)
		return fail_errno("%s: cannot reconnect in repair mode", what);
	opts[nopts++] = (struct tcp_repair_opt){ TCPOPT_MAXSEG, sk->mss };
	if (sk->tcpi_options & TCPI_OPT_WSCALE)
		opts[nopts++] = (struct tcp_repair_opt){ TCPOPT_WINDOW, sk->snd_wscale | (sk->rcv_wscale << 16) };
	if (sk->tcpi_options & TCPI_OPT_SACK)
		opts[nopts++] = (struct tcp_repair_opt){ TCPOPT_SACK_PERMITTED, 0 };
	if (sk->tcpi_options & TCPI_OPT_TIMESTAMPS)
		opts[nopts++] = (struct tcp_repair_opt){ TCPOPT_TIMESTAMP, 0 };
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_OPTIONS, opts, nopts * sizeof(opts[0])) < 0)
		return fail_errno("%s: cannot set TCP options", what);
	if ((sk->tcpi_options & TCPI_OPT_TIMESTAMPS) &&
	    setsockopt(fd, IPPROTO_TCP, TCP_TIMESTAMP, &sk->tsval, sizeof(sk->tsval)) < 0)
		return fail_errno("%s: cannot set the TCP timestamp", what);
	/* The queues must fit: buffers at least as large as the source's
	 * (autotuned) ones, locked at that size like any SO_*BUFFORCE. */
	for (size_t i = 0; i < NOPTS; i++) {
		int v;
		if (opt_table[i].level != SOL_SOCKET || !(sk->have_opt & ((unsigned __int128)1 << i)))
			continue;
		if (opt_table[i].name == SO_SNDBUF) {
			v = sk->opt[i] / 2 > (int)sk->sndq_len ? sk->opt[i] / 2 : (int)sk->sndq_len;
			setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v));
		} else if (opt_table[i].name == SO_RCVBUF) {
			v = sk->opt[i] / 2 > (int)sk->rcvq_len ? sk->opt[i] / 2 : (int)sk->rcvq_len;
			setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v));
		}
	}
	if (put_queue(fd, Q_RECV, sk->rcvq, sk->rcvq_len) < 0 ||
	    put_queue(fd, Q_SEND, sk->sndq, sk->sndq_len - sk->unsent_len) < 0)
		return fail_errno("%s: cannot refill the socket queues", what);
	/* Refilled: sizes the program had not set go back to autotuning. */
	if ((q = opt_val(sk, SOL_SOCKET, SO_BUF_LOCK, -1)) >= 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_BUF_LOCK, &q, sizeof(q)) < 0)
		return fail_errno("%s: cannot set SO_BUF_LOCK", what);
	/* the window was last advertised past the peer's FIN, which comes back later */
	if ((int32_t)(sk->win.rcv_wup - sk->rcv_seq) > 0)
		sk->win.rcv_wup = sk->rcv_seq;
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &sk->win, sizeof(sk->win)) < 0)
		return fail_errno("%s: cannot set the TCP window", what);
	return 0;
}

/* Queued datagrams handed over again (udp.c), then the shutdown state:
 * after, or a read-shut socket would not take them. */
static int restore_dgram_state(int fd, const struct inet_sk *sk, const char *what)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct ip_addr to;
	int port;
	if (sk->icmp_filter_len &&
	    setsockopt(fd, sk->family == AF_INET ? SOL_RAW : IPPROTO_ICMPV6, sk->family == AF_INET ? ICMP_FILTER
	    : ICMP6_FILTER, sk->icmp_filter, sk->icmp_filter_len) < 0)
		return fail_errno("%s: cannot set its ICMP filter", what);
	if (sk->ndq) {
		/* where it is bound now: an unbound ping socket got its ident from
		 * the first datagram it sent, and the queue says nothing of it */
		if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
			return fail_errno("%s: getsockname", what);
		ip_from_sockaddr(&ss, &to, &port);
		if (dgram_deliver(fd, sk->proto, &to, port, sk->dq, sk->ndq) < 0)
			return fail_errno("%s: cannot queue its %d datagram(s) again", what, sk->ndq);
	}
	if (sk->shut)
		shutdown(fd, sk->shut == 3 ? SHUT_RDWR : sk->shut == 2 ? SHUT_WR : SHUT_RD);	/* ENOTCONN, but marks it */
	return 0;
}

static int attach_filter(int fd, const struct inet_sk *sk, const char *what)
{
	struct sock_fprog prog = { (unsigned short)sk->filter_len, sk->filter };
	int one = 1;
	if (!sk->filter_len)
		return 0;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0)
		return fail_errno("%s: cannot attach its socket filter", what);
	if (sk->filter_locked && setsockopt(fd, SOL_SOCKET, SO_LOCK_FILTER, &one, sizeof(one)) < 0)
		return fail_errno("%s: cannot lock its socket filter", what);
	return 0;
}

static int join_groups(int fd, const struct inet_sk *sk, const char *what)
{
	for (int i = 0; i < sk->nmc; i++) {
		const struct mcast *m = &sk->mc[i];
		int lvl = m->group.family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6;
		struct group_req gr = { .gr_interface = if_nametoindex(m->ifname) };
		char a[64];
		ip_to_sockaddr(&m->group, 0, &gr.gr_group);
		if (setsockopt(fd, lvl, MCAST_JOIN_GROUP, &gr, sizeof(gr)) < 0)
			return fail_errno("%s: cannot join multicast group %s on %s", what,
					  ip_str(&m->group, a, sizeof(a)), m->ifname);
		if (m->fmode == MCAST_INCLUDE || m->nsrc) {
			union {
				struct group_filter gf;
				char buf[GROUP_FILTER_SIZE(MC_MAXSRC)];
			} u;
			memset(&u, 0, sizeof(u));
			u.gf.gf_interface = gr.gr_interface;
			u.gf.gf_group = gr.gr_group;
			u.gf.gf_fmode = m->fmode;
			u.gf.gf_numsrc = m->nsrc;
			for (int k = 0; k < m->nsrc; k++)
				ip_to_sockaddr(&m->src[k], 0, &u.gf.gf_slist[k]);
			if (setsockopt(fd, lvl, MCAST_MSFILTER, &u, GROUP_FILTER_SIZE(m->nsrc)) < 0)
				return fail_errno("%s: cannot set the source filter of multicast group %s", what,
						  ip_str(&m->group, a, sizeof(a)));
		}
	}
	return 0;
}

int inet_prepare(struct tree *t, struct ofile *of)
{
	struct inet_sk *sk = of->inet;
	char what[200], buf[160];
	int fd, one = 1, zero = 0;
	(void)t;

	snprintf(what, sizeof(what), "%s (pid %d fd %d)", sk_str(sk, buf, sizeof(buf)), of->owner_pid, of->owner_fd);
	fd = make_socket(sk, SOCK_CLOEXEC);
	if (fd < 0)
		return fail_errno("%s: cannot create the socket", what);
	of->rfd = fd;
	if (apply_opts(fd, sk, 1, what) < 0)
		return -1;
	/* After the options: SO_REUSEADDR would undo repair's forced reuse. */
	if ((sk->mode == M_STUB || sk->mode == M_REPAIR) && set_repair(fd, REPAIR_ON) < 0)
		return fail_errno("%s: cannot use TCP repair mode", what);
	switch (sk->mode) {
	case M_LISTEN:
		if (do_bind(fd, &sk->new_laddr, sk->lport, what) < 0)
			return -1;
		if (listen(fd, sk->backlog) < 0)
			return fail_errno("%s: cannot listen", what);
		break;
	case M_PLAIN:
		if (sk->lport && bind_shared(t, of, fd, what) < 0)
			return -1;
		if (!sk->stream && sk->connected) {
			struct sockaddr_storage ss;
			socklen_t len = ip_to_sockaddr(&sk->raddr, sk->rport, &ss);
			if (connect(fd, (struct sockaddr *)&ss, len) < 0)
				return fail_errno("%s: cannot reconnect", what);
		}
		if (!sk->stream && restore_dgram_state(fd, sk, what) < 0)
			return -1;
		if (sk->stream && sk->ended)
			shutdown(fd, SHUT_RDWR);	/* ENOTCONN, but marks both directions shut */
		break;
	case M_STUB: {
		/* Bound (repair mode skips port conflicts: the listener may share
		 * the port), never connected, shut both ways: nothing goes on the
		 * wire, reads see EOF, writes EPIPE.  FREEBIND: the old address may
		 * not exist here when no map says where it went. */
		int fb = sk->family == AF_INET ? IP_FREEBIND : IPV6_FREEBIND;
		int lvl = sk->family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6;
		setsockopt(fd, lvl, fb, &one, sizeof(one));
		if (do_bind(fd, &sk->new_laddr, sk->lport, what) < 0)
			return -1;
		setsockopt(fd, lvl, fb, &zero, sizeof(zero));
		if (set_repair(fd, REPAIR_OFF) < 0 || reapply_reuse(fd, sk) < 0)
			return fail_errno("%s: cannot leave TCP repair mode", what);
		shutdown(fd, SHUT_RDWR);
		break;
	}
	case M_REPAIR:
		if (restore_repair(fd, sk, what) < 0)
			return -1;
		break;
	}
	if (apply_opts(fd, sk, 0, what) < 0 || join_groups(fd, sk, what) < 0)
		return -1;
	/* a filter could drop the peer's FIN handed over later: attached after it */
	if (!(sk->mode == M_REPAIR && IN(FIN_RCVD, sk->state)) && attach_filter(fd, sk, what) < 0)
		return -1;
	if (sk->mode == M_REPAIR)
		of->keep = dup(fd);	/* repair mode ends once the process is back */
	return 0;
}

int inet_is_listener(const struct ofile *of)
{
	return of->inet->mode == M_LISTEN;
}

/* A FIN, ours or the peer's, added in repair mode to a connection rebuilt
 * as ESTABLISHED (tcp_repair.c).  Ours is a shutdown with the send queue
 * selected: counted as sent, not put on the wire (the peer has it, or gets
 * it again from the retransmission timer). */
static int add_fin(struct ofile *of, int ours)
{
	struct inet_sk *sk = of->inet;
	char buf[160];
	int q = Q_SEND;
	if (ours) {
		if (setsockopt(of->keep, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) < 0 ||
		    shutdown(of->keep, SHUT_WR) < 0)
			return fail_errno("%s: cannot restore our FIN", sk_str(sk, buf, sizeof(buf)));
		return 0;
	}
	struct tcp_info ti;
	socklen_t len;
	uint16_t win = sk->win.snd_wnd >> (sk->tcpi_options & TCPI_OPT_WSCALE ? sk->snd_wscale : 0);
	if (tcp_inject_fin(&sk->new_raddr, sk->rport, &sk->new_laddr, sk->lport, sk->rcv_seq,
			   sk->snd_seq - sk->sndq_len, win) < 0)
		return fail_errno("%s: cannot hand the socket its peer's FIN", sk_str(sk, buf, sizeof(buf)));
	/* looped back: taken at once, in softirq, but not necessarily before sendto() returns */
	for (int i = 0; i < 200; i++) {
		len = sizeof(ti);
		if (getsockopt(of->keep, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 && IN(FIN_RCVD, ti.tcpi_state))
			return 0;
		poll(NULL, 0, 5);
	}
	return fail("%s: the socket did not take its peer's FIN", sk_str(sk, buf, sizeof(buf)));
}

int inet_restore_finish(struct tree *t, struct img *im)
{
	(void)im;
	netlock_remove(&t->lock);
	/* The closing states, in the order they were reached: our FIN before
	 * the peer's for FIN_WAIT and CLOSING, after it for LAST_ACK.  A FIN
	 * that had not gone out follows the unsent data, out of repair mode. */
	for (int pass = 0; pass < 3; pass++)
		for (int i = 0; i < t->files.n; i++) {
			struct ofile *of = &t->files.of[i];
			struct inet_sk *sk = of->inet;
			int st, r = 0;
			if (of->kind != FK_INET || sk->mode != M_REPAIR || of->keep < 0)
				continue;
			st = sk->state;
			if (pass == 0 && IN(FIN_SENT, st) && st != TCP_LAST_ACK && !sk->fin_unsent)
				r = add_fin(of, 1);
			else if (pass == 1 && IN(FIN_RCVD, st))
				r = add_fin(of, 0);
			else if (pass == 2 && st == TCP_LAST_ACK && !sk->fin_unsent)
				r = add_fin(of, 1);
			if (r < 0)
				return -1;
		}
	for (int i = 0; i < t->files.n; i++) {
		struct ofile *of = &t->files.of[i];
		struct inet_sk *sk = of->inet;
		char buf[160];
		if (of->kind != FK_INET || sk->mode != M_REPAIR || of->keep < 0)
			continue;
		if (sk->state == TCP_SYN_SENT) {
			struct sockaddr_storage ss;
			socklen_t len = ip_to_sockaddr(&sk->new_raddr, sk->rport, &ss);
			int fl = fcntl(of->keep, F_GETFL);
			fcntl(of->keep, F_SETFL, fl | O_NONBLOCK);
			if (connect(of->keep, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS)
				return fail_errno("%s: cannot connect again", sk_str(sk, buf, sizeof(buf)));
			fcntl(of->keep, F_SETFL, fl);
			close(of->keep);
			of->keep = -1;
			continue;
		}
		if (IN(FIN_RCVD, sk->state) && attach_filter(of->keep, sk, sk_str(sk, buf, sizeof(buf))) < 0)
			return -1;
		if (set_repair(of->keep, REPAIR_OFF) < 0 || reapply_reuse(of->keep, sk) < 0)
			return fail_errno("%s: cannot leave TCP repair mode", sk_str(sk, buf, sizeof(buf)));
		/* Data the program wrote but the kernel had not sent yet goes out now. */
		if (sk->unsent_len) {
			const uint8_t *d = sk->sndq + sk->sndq_len - sk->unsent_len;
			uint32_t left = sk->unsent_len;
			while (left) {
				ssize_t n = send(of->keep, d, left, MSG_DONTWAIT | MSG_NOSIGNAL);
				if (n <= 0)
					return fail_errno("%s: cannot resend unsent data", sk_str(sk, buf, sizeof(buf)));
				d += n;
				left -= n;
			}
		}
		if (sk->fin_unsent && shutdown(of->keep, SHUT_WR) < 0)
			return fail_errno("%s: cannot queue the FIN again", sk_str(sk, buf, sizeof(buf)));
		if (sk->shut_rd && shutdown(of->keep, SHUT_RD) < 0)
			return fail_errno("%s: cannot shut reading again", sk_str(sk, buf, sizeof(buf)));
		close(of->keep);
		of->keep = -1;
	}
	return 0;
}

/* ---- dump and restore options (CRIU's --tcp-established on restore) ---- */

json_t *inet_encode_options(const struct tree *t)
{
	return json_pack("{s:b,s:b}", "tcp_established", t->opt.tcp_established, "tcp_close", t->opt.tcp_close);
}

/* CRIU scripts pass --tcp-established to restore as well as to dump: it
 * asks for the connections to come back.  ferry restores whatever the
 * image preserved, flag or not; with the flag it refuses, before anything
 * is created, an image whose dump broke connections to outside peers (they
 * cannot come back), and the contradiction with --tcp-close. */
int inet_check_restore_options(json_t *j, const struct tree *t)
{
	int broken = 0, dumped_with = j && json_is_true(json_object_get(j, "tcp_established")),
	    dumped_close = j && json_is_true(json_object_get(j, "tcp_close"));
	const struct inet_sk *first = NULL;
	char buf[160];
	if (!t->opt.tcp_established)
		return 0;
	if (t->opt.tcp_close)
		return fail("--tcp-established and --tcp-close contradict each other: restore the preserved "
			    "connections, or break them");
	for (int i = 0; i < t->files.n; i++) {
		const struct inet_sk *sk = t->files.of[i].inet;
		if (t->files.of[i].kind != FK_INET || !sk->stream || !sk->connected || sk->mode != M_STUB ||
		    sk->peer_in_tree || !IN(REPAIRABLE, sk->state))
			continue;
		broken++;
		if (!first)
			first = sk;
	}
	if (!broken)
		return 0;
	return fail("--tcp-established: the image was dumped %s, so its %d connection(s) to outside peers "
		    "(%s ...) were broken at the dump and cannot be restored; dump again with --tcp-established, or "
		    "restore without it to get them as closed sockets",
		    dumped_close ? "with --tcp-close" : dumped_with ? "with connections it could not preserve"
							      : "without --tcp-established",
		    broken, sk_str(first, buf, sizeof(buf)));
}
/* ---- the file kind (fileops.h): thin adapters over the functions above ---- */
#include "fileops.h"

static int inet_match(const struct fdump *d)
{
	int family = 0;
	socklen_t len = sizeof(family);
	if (!S_ISSOCK(d->st->st_mode))
		return 0;
	getsockopt(d->myfd, SOL_SOCKET, SO_DOMAIN, &family, &len);
	return family != AF_UNIX;
}

static int inet_ops_dump(struct fdump *d, struct ofile *of)
{
	return inet_dump(d->ps, of, d->fd, d->myfd);
}

static int inet_ops_decode(json_t *o, struct ofile *of, const struct tree *t)
{
	(void)t;
	return inet_decode(o, of);
}

/* Listeners first; the file flags are files.c's, after FP_SOCKOPT. */
static int inet_ops_prepare(struct tree *t, struct img *im, int i, enum file_pass pass)
{
	struct ofile *of = &t->files.of[i];
	(void)im;
	if (pass == FP_SOCKOPT || (pass == FP_LISTEN) != inet_is_listener(of))
		return 0;
	return inet_prepare(t, of);
}

const struct file_ops inet_ops = {
	.name = "inet",
	.flags = FO_SETFL,
	.passes = FP_SOCKETS,
	.match = inet_match,
	.dump = inet_ops_dump,
	.encode = inet_encode,
	.decode = inet_ops_decode,
	.validate_all = inet_validate,
	.prepare = inet_ops_prepare,
	.free = inet_free,
};
