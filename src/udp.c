/*
 * Datagram queues and shutdown state of inet datagram sockets: UDP,
 * UDP-Lite and ICMP echo ("ping") sockets.
 *
 * Dump: the datagrams waiting to be read are peeked, never consumed (the
 * source must run on untouched if the dump fails): SO_PEEK_OFF set to 0
 * makes each MSG_PEEK read the next datagram instead of the first, and is
 * put back as the program had it.  recvmsg gives each one's sender.
 * Restore: each datagram is handed to the new socket again from its
 * sender's address and port, through a raw socket looped back on this host
 * (tcp_repair.c's ip_inject), in order, so the program reads what it would
 * have read, with the same recvfrom() addresses.  A ping socket has no
 * SO_PEEK_OFF: with replies queued it is refused.  Limits: an empty
 * datagram the program had already peeked (MSG_PEEK) is hidden from the
 * peek at an offset (the kernel skips it), so it is not carried; ancillary data
 * the kernel computes on arrival (IP_PKTINFO's destination, TTL, TOS,
 * timestamps) is that of the re-delivery; a datagram sent to the host's
 * address on a socket bound to the wildcard arrives again on loopback.
 *
 * A datagram socket's write shutdown (sendmsg then fails with EPIPE) shows
 * in no getsockopt and no poll flag; sock_diag tells (INET_DIAG_SHUTDOWN).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcp_repair.h"
#include "udp.h"
#include "util.h"

#define DGRAM_MAX (256 * 1024)	/* more than any IPv4/IPv6 datagram, GRO included */

void dgram_free(struct dgram *d, int n)
{
	for (int i = 0; i < n; i++)
		free(d[i].data);
	free(d);
}

int dgram_peek_all(int fd, struct dgram **out)
{
	int saved_off, zero = 0, n = 0, ret = 0, err;
	socklen_t len = sizeof(saved_off);
	uint8_t *buf = xmalloc(DGRAM_MAX);
	struct dgram *d = NULL;

	*out = NULL;
	if (getsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &saved_off, &len) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero)) < 0) {
		/* ping sockets have no SO_PEEK_OFF: only an empty queue is known */
		struct pollfd p = { fd, POLLIN, 0 };
		err = errno;
		free(buf);
		if (err == EOPNOTSUPP && poll(&p, 1, 0) == 0)
			return 0;
		errno = err;
		return -1;
	}
	for (;;) {
		struct sockaddr_storage ss;
		struct iovec iov = { buf, DGRAM_MAX };
		struct msghdr mh = { .msg_name = &ss, .msg_namelen = sizeof(ss), .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t r = recvmsg(fd, &mh, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC);
		if (r < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				ret = -1;
			break;
		}
		if (r > DGRAM_MAX || (mh.msg_flags & MSG_TRUNC)) {
			ret = -2;
			break;
		}
		d = xrealloc(d, (n + 1) * sizeof(*d));
		memset(&d[n], 0, sizeof(d[n]));
		if (mh.msg_namelen)
			ip_from_sockaddr(&ss, &d[n].from, &d[n].port);
		d[n].len = r;
		d[n].data = xmalloc(r + 1);
		memcpy(d[n].data, buf, r);
		n++;
	}
	err = errno;
	setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &saved_off, sizeof(saved_off));
	free(buf);
	if (ret < 0) {
		dgram_free(d, n);
		errno = err;
		return ret;
	}
	*out = d;
	return n;
}

static struct ip_addr loopback_for(const struct ip_addr *from)
{
	struct ip_addr a = { .family = from->family };
	if (from->family == AF_INET)
		a.v4.s_addr = htonl(INADDR_LOOPBACK);
	else
		a.v6 = in6addr_loopback;
	return a;
}

int dgram_deliver(int fd, int proto, const struct ip_addr *to, int tport, const struct dgram *d, int n)
{
	for (int i = 0; i < n; i++) {
		struct ip_addr from = ip_unmap(&d[i].from), dst = ip_unmap(to);
		size_t hl = proto == IPPROTO_UDP || proto == IPPROTO_UDPLITE ? 8 : 0;
		uint8_t *p = xmalloc(hl + d[i].len + 1);
		int r;
		/* a wildcard socket: the datagram's own destination is unknown,
		 * loopback of the sender's family reaches it */
		if (ip_is_any(&dst) || dst.family != from.family)
			dst = loopback_for(&from);
		if (hl) {
			uint16_t v;
			v = htons(d[i].port);
			memcpy(p, &v, 2);
			v = htons(tport);
			memcpy(p + 2, &v, 2);
			/* UDP: the length; UDP-Lite: the checksum coverage, 0 = all */
			v = proto == IPPROTO_UDP ? htons(hl + d[i].len) : 0;
			memcpy(p + 4, &v, 2);
		}
		memcpy(p + hl, d[i].data, d[i].len);
		/* ping sockets: the ICMP header as read (echo reply, id = the
		 * socket's ident); checksum at offset 2 for ICMP, 6 for UDP */
		r = ip_inject(proto, &from, &dst, p, hl + d[i].len, hl ? 6 : 2);
		free(p);
		if (r < 0)
			return -1;
	}
	/* Looped back, queued in softirq: wait until the last datagram with
	 * data is there, peeked at its offset (the ones before it are skipped,
	 * not read: an empty datagram, once peeked, is hidden from later peeks
	 * at an offset, so none may be peeked here). */
	int last = -1, off = 0, saved_off, err = 0;
	socklen_t sl = sizeof(saved_off);
	for (int i = 0; i < n; i++)
		if (d[i].len)
			last = i;
	if (last < 0) {
		poll(NULL, 0, 10);
		return 0;
	}
	/* one byte into it: an empty datagram before it is then passed with
	 * an offset left, skipped without being marked */
	for (int i = 0; i < last; i++)
		off += d[i].len;
	off++;
	if (getsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &saved_off, &sl) < 0)
		return -1;
	for (int t = 0; t < 200; t++) {
		uint8_t b[1];
		ssize_t r;
		if (setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off)) < 0)
			return -1;
		r = recv(fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC);
		if (r == (ssize_t)d[last].len)
			break;
		if (t == 199)
			err = ETIMEDOUT;
		poll(NULL, 0, 5);
	}
	setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &saved_off, sizeof(saved_off));
	errno = err;
	return err ? -1 : 0;
}

/* A sock_diag socket in pid's network namespace. */
static int diag_socket(pid_t pid)
{
	char path[64];
	int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), ns, sk = -1;
	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	ns = open(path, O_RDONLY | O_CLOEXEC);
	if (self >= 0 && ns >= 0 && setns(ns, CLONE_NEWNET) == 0) {
		sk = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
		if (setns(self, CLONE_NEWNET) < 0 && sk >= 0) {
			close(sk);
			sk = -1;
		}
	}
	if (self >= 0)
		close(self);
	if (ns >= 0)
		close(ns);
	return sk;
}

int inet_diag_shutdown(pid_t pid, int family, int proto, unsigned long ino)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} rq = {
		.nlh = { .nlmsg_len = sizeof(rq), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.req = { .sdiag_family = family, .sdiag_protocol = proto, .idiag_states = ~0U },
	};
	static char buf[65536];
	int sk = diag_socket(pid), found = -1, done = 0;
	if (sk < 0)
		return -1;
	if (send(sk, &rq, sizeof(rq), 0) != sizeof(rq)) {
		close(sk);
		return -1;
	}
	while (!done) {
		ssize_t n = recv(sk, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		for (struct nlmsghdr *h = (void *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			struct inet_diag_msg *m;
			struct rtattr *a;
			int len;
			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
				done = 1;
				break;
			}
			m = NLMSG_DATA(h);
			if (m->idiag_inode != ino)
				continue;
			found = 0;
			len = h->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
			for (a = (void *)(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len))
				if (a->rta_type == INET_DIAG_SHUTDOWN)
					found = *(uint8_t *)RTA_DATA(a);
		}
	}
	close(sk);
	return found;
}
