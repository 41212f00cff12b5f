/*
 * Inet sockets: TCP and UDP over IPv4 and IPv6, and the policy for moving
 * them to a host with another address (docs/sockets.md has the table).
 *
 * Dump reads each socket through ferry's own reference to it (pidfd_getfd):
 * addresses, TCP state (TCP_INFO, which for a listener also gives the
 * backlog and the number of connections waiting in its accept queue) and
 * options.  An established connection is then either
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
 *
 * Limits: queued UDP datagrams are dropped (UDP promises no delivery); a
 * connection repaired at dump and broken by the restore loses its send
 * queue (the source is gone by then); TCP connections in states other than
 * ESTABLISHED (FIN_WAIT, CLOSE_WAIT ...) are broken rather than repaired;
 * raw, SCTP and other protocols are refused.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "image.h"
#include "log.h"
#include "netlock.h"
#include "pstate.h"
#include "util.h"

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

/* Integer options carried over (restored when they differ from a fresh socket's). */
static const struct sk_opt {
	int level, name;
	const char *key;
	int family;	/* 0 any, else only this family */
	int stream;	/* 1 TCP only, 2 UDP only, 0 both */
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
	{ IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY", 0, 1 },
	{ IPPROTO_TCP, TCP_KEEPIDLE, "TCP_KEEPIDLE", 0, 1 },
	{ IPPROTO_TCP, TCP_KEEPINTVL, "TCP_KEEPINTVL", 0, 1 },
	{ IPPROTO_TCP, TCP_KEEPCNT, "TCP_KEEPCNT", 0, 1 },
	{ IPPROTO_TCP, TCP_DEFER_ACCEPT, "TCP_DEFER_ACCEPT", 0, 1 },
	{ IPPROTO_TCP, TCP_FASTOPEN, "TCP_FASTOPEN", 0, 1 },
	{ IPPROTO_TCP, TCP_USER_TIMEOUT, "TCP_USER_TIMEOUT", 0, 1 },
	{ IPPROTO_TCP, TCP_NOTSENT_LOWAT, "TCP_NOTSENT_LOWAT", 0, 1 },
	{ IPPROTO_IP, IP_FREEBIND, "IP_FREEBIND", AF_INET, 0 },
	{ IPPROTO_IP, IP_TRANSPARENT, "IP_TRANSPARENT", AF_INET, 0 },
	{ IPPROTO_IP, IP_TOS, "IP_TOS", AF_INET, 0 },
	{ IPPROTO_IP, IP_TTL, "IP_TTL", AF_INET, 0 },
	{ IPPROTO_IP, IP_RECVERR, "IP_RECVERR", AF_INET, 0 },
	{ IPPROTO_IP, IP_PKTINFO, "IP_PKTINFO", AF_INET, 0 },
	{ IPPROTO_IP, IP_MTU_DISCOVER, "IP_MTU_DISCOVER", AF_INET, 0 },
	{ IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY", AF_INET6, 0 },
	{ IPPROTO_IPV6, IPV6_FREEBIND, "IPV6_FREEBIND", AF_INET6, 0 },
	{ IPPROTO_IPV6, IPV6_TRANSPARENT, "IPV6_TRANSPARENT", AF_INET6, 0 },
	{ IPPROTO_IPV6, IPV6_TCLASS, "IPV6_TCLASS", AF_INET6, 0 },
	{ IPPROTO_IPV6, IPV6_UNICAST_HOPS, "IPV6_UNICAST_HOPS", AF_INET6, 0 },
	{ IPPROTO_IPV6, IPV6_RECVERR, "IPV6_RECVERR", AF_INET6, 0 },
	{ IPPROTO_IPV6, IPV6_RECVPKTINFO, "IPV6_RECVPKTINFO", AF_INET6, 0 },
	{ IPPROTO_IPV6, IPV6_MTU_DISCOVER, "IPV6_MTU_DISCOVER", AF_INET6, 0 },
};
#define NOPTS ARRAY_SIZE(opt_table)

struct inet_sk {
	int family, stream;
	int state;			/* TCP state (TCP_INFO), 0 for UDP */
	enum inet_mode mode;
	struct ip_addr laddr, raddr;
	int lport, rport;
	int connected;			/* has a peer */
	int ended;			/* TCP: was connected, now closed (reads EOF) */
	int backlog, inflight;
	int opt[NOPTS];
	uint64_t have_opt;		/* bit i: opt[i] read */
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
	int peer_in_tree;
	int repairing;			/* dump: repair mode is on in the source socket */
	/* restore */
	struct ip_addr new_laddr, new_raddr;
};

_Static_assert(NOPTS <= 64, "have_opt is 64 bits");

static int opt_applies(const struct inet_sk *sk, const struct sk_opt *o)
{
	return (!o->family || o->family == sk->family) && (!o->stream || (o->stream == 1) == !!sk->stream);
}

static void read_opts(int fd, struct inet_sk *sk)
{
	socklen_t len;
	for (size_t i = 0; i < NOPTS; i++) {
		int v;
		len = sizeof(v);
		if (opt_applies(sk, &opt_table[i]) && getsockopt(fd, opt_table[i].level, opt_table[i].name, &v, &len) == 0) {
			sk->opt[i] = v;
			sk->have_opt |= 1ULL << i;
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
	char a[64], b[64];
	if (sk->connected)
		snprintf(buf, len, "%s %s%s%s:%d -> %s%s%s:%d", sk->stream ? "TCP" : "UDP",
			 sk->family == AF_INET6 ? "[" : "", ip_str(&sk->laddr, a, sizeof(a)),
			 sk->family == AF_INET6 ? "]" : "", sk->lport, sk->family == AF_INET6 ? "[" : "",
			 ip_str(&sk->raddr, b, sizeof(b)), sk->family == AF_INET6 ? "]" : "", sk->rport);
	else
		snprintf(buf, len, "%s %s %s%s%s:%d", sk->stream ? "TCP" : "UDP", sk->mode == M_LISTEN ? "listening on" : "on",
			 sk->family == AF_INET6 ? "[" : "", ip_str(&sk->laddr, a, sizeof(a)),
			 sk->family == AF_INET6 ? "]" : "", sk->lport);
	return buf;
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
	if (!((type == SOCK_STREAM && proto == IPPROTO_TCP) || (type == SOCK_DGRAM && proto == IPPROTO_UDP)))
		return refuse(ps->pid, "fd %d is an inet socket of type %d protocol %d; only TCP and UDP sockets are "
			      "supported", fd, type, proto);
	sk->family = family;
	sk->stream = type == SOCK_STREAM;
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
			sk->connected = 1;
			sk->mode = M_STUB;	/* decided for good in inet_dump_finish */
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
	if (ioctl(fd, SIOCINQ, &v) < 0)
		goto err;
	sk->rcvq_len = v;
	if (ioctl(fd, SIOCOUTQ, &v) < 0)
		goto err;
	sk->sndq_len = v;
	if (ioctl(fd, SIOCOUTQNSD, &v) < 0)
		goto err;
	sk->unsent_len = v;
	if (repair_queue(fd, Q_RECV, &sk->rcv_seq, sk->rcvq_len, &sk->rcvq) < 0 ||
	    repair_queue(fd, Q_SEND, &sk->snd_seq, sk->sndq_len, &sk->sndq) < 0)
		goto err;
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
			if (k != i && t->files.of[k].kind == FK_INET && same_conn(sk, t->files.of[k].inet))
				sk->peer_in_tree = 1;
		if (sk->state != TCP_ESTABLISHED) {
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
	int listen = 0, broken = 0, kept = 0, inflight = 0, udp = 0;
	for (int i = 0; i < t->files.n; i++) {
		const struct inet_sk *sk = t->files.of[i].inet;
		if (t->files.of[i].kind != FK_INET)
			continue;
		listen += sk->mode == M_LISTEN;
		broken += sk->mode == M_STUB;
		kept += sk->mode == M_REPAIR;
		inflight += sk->inflight;
		udp += !sk->stream;
	}
	if (listen + broken + kept + inflight + udp)
		pr_info("sockets: %d listening, %d connection(s) preserved, %d broken (peers reset), "
			"%d in-flight connection(s) skipped (clients reset), %d UDP",
			listen, kept, broken, inflight, udp);
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
		if (sk->have_opt & (1ULL << i))
			json_object_set_new(opts, opt_table[i].key, json_integer(sk->opt[i]));
	json_object_set_new(o, "family", json_integer(sk->family == AF_INET ? 4 : 6));
	json_object_set_new(o, "proto", json_string(sk->stream ? "tcp" : "udp"));
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
	if (sk->mode == M_LISTEN && (get_int(o, "backlog", &sk->backlog) < 0 || get_int(o, "inflight", &sk->inflight) < 0))
		return -1;
	if (!(opts = jget_obj(o, "options")))
		return -1;
	json_object_foreach(opts, key, v)
		for (size_t i = 0; i < NOPTS; i++)
			if (!strcmp(key, opt_table[i].key) && json_is_integer(v)) {
				sk->opt[i] = json_integer_value(v);
				sk->have_opt |= 1ULL << i;
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
		if (sk->mode == M_STUB || (sk->mode == M_PLAIN && sk->stream && !sk->lport))
			continue;	/* a stub needs no address of its own */
		if (!addr_present(&sk->new_laddr, ifs)) {
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
	int fresh = socket(sk->family, sk->stream ? SOCK_STREAM : SOCK_DGRAM, 0);
	if (fresh < 0)
		return fail_errno("cannot create a socket");
	for (size_t i = 0; i < NOPTS; i++) {
		const struct sk_opt *o = &opt_table[i];
		int v, early = o->level != IPPROTO_TCP || o->name == TCP_FASTOPEN ? 1 : 0, val = sk->opt[i];
		socklen_t len = sizeof(v);
		if (!(sk->have_opt & (1ULL << i)) || !opt_applies(sk, o) || early != before_bind)
			continue;
		if ((o->name == SO_RCVBUF || o->name == SO_SNDBUF) && o->level == SOL_SOCKET) {
			if (sk->mode == M_STUB || sk->mode == M_REPAIR)
				continue;	/* autotuned: leave it to the kernel */
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
		    (sk->have_opt & (1ULL << i)) && sk->opt[i])
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
		if (opt_table[i].level != SOL_SOCKET || !(sk->have_opt & (1ULL << i)))
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
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &sk->win, sizeof(sk->win)) < 0)
		return fail_errno("%s: cannot set the TCP window", what);
	return 0;
}

int inet_prepare(struct tree *t, struct ofile *of)
{
	struct inet_sk *sk = of->inet;
	char what[200], buf[160];
	int fd, one = 1, zero = 0;
	(void)t;

	snprintf(what, sizeof(what), "%s (pid %d fd %d)", sk_str(sk, buf, sizeof(buf)), of->owner_pid, of->owner_fd);
	fd = socket(sk->family, (sk->stream ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
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
		if (sk->lport && do_bind(fd, &sk->new_laddr, sk->lport, what) < 0)
			return -1;
		if (!sk->stream && sk->connected) {
			struct sockaddr_storage ss;
			socklen_t len = ip_to_sockaddr(&sk->raddr, sk->rport, &ss);
			if (connect(fd, (struct sockaddr *)&ss, len) < 0)
				return fail_errno("%s: cannot reconnect", what);
		}
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
	if (apply_opts(fd, sk, 0, what) < 0)
		return -1;
	if (sk->mode == M_REPAIR)
		of->keep = dup(fd);	/* repair mode ends once the process is back */
	return 0;
}

int inet_is_listener(const struct ofile *of)
{
	return of->inet->mode == M_LISTEN;
}

int inet_restore_finish(struct tree *t, struct img *im)
{
	(void)im;
	netlock_remove(&t->lock);
	for (int i = 0; i < t->files.n; i++) {
		struct ofile *of = &t->files.of[i];
		struct inet_sk *sk = of->inet;
		char buf[160];
		if (of->kind != FK_INET || sk->mode != M_REPAIR || of->keep < 0)
			continue;
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
		close(of->keep);
		of->keep = -1;
	}
	return 0;
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
