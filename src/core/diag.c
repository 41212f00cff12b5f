/*
 * A minimal NETLINK_SOCK_DIAG client (see diag.h).  One request, one
 * answer: small enough that a library would add more than it saves.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "diag.h"
#include "log.h"

/* A netlink socket in pid's network namespace (sockets keep theirs). */
static int diag_socket(pid_t pid)
{
	char path[64];
	int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), ns, sk = -1;
	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	ns = open(path, O_RDONLY | O_CLOEXEC);
	if (self < 0 || ns < 0) {
		fail_errno("cannot open the network namespace of pid %d", pid);
		goto out;
	}
	if (setns(ns, CLONE_NEWNET) < 0) {
		fail_errno("cannot enter the network namespace of pid %d", pid);
		goto out;
	}
	sk = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (sk < 0)
		fail_errno("cannot open a sock_diag socket");
	if (setns(self, CLONE_NEWNET) < 0) {
		fail_errno("cannot return to ferry's network namespace");
		if (sk >= 0)
			close(sk);
		sk = -1;
	}
out:
	if (self >= 0)
		close(self);
	if (ns >= 0)
		close(ns);
	return sk;
}

int unix_diag_query(pid_t pid, uint32_t ino, struct unix_diag_info *out)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req req;
	} rq = {
		.nlh = { .nlmsg_len = sizeof(rq), .nlmsg_type = SOCK_DIAG_BY_FAMILY, .nlmsg_flags = NLM_F_REQUEST },
		.req = { .sdiag_family = AF_UNIX, .udiag_states = -1, .udiag_ino = ino,
			 .udiag_show = UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN | UDIAG_SHOW_ICONS | UDIAG_SHOW_NAME |
				      UDIAG_SHOW_VFS,
			 .udiag_cookie = { ~0U, ~0U } },
	};
	char buf[16384];
	int sk = diag_socket(pid);
	ssize_t n;
	if (sk < 0)
		return -1;
	memset(out, 0, sizeof(*out));
	if (send(sk, &rq, sizeof(rq), 0) != sizeof(rq)) {
		close(sk);
		return fail_errno("sock_diag request for unix socket %u", ino);
	}
	n = recv(sk, buf, sizeof(buf), 0);
	close(sk);
	if (n < 0)
		return fail_errno("sock_diag answer for unix socket %u", ino);
	for (struct nlmsghdr *h = (void *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
		struct unix_diag_msg *m;
		struct rtattr *a;
		int len;
		if (h->nlmsg_type == NLMSG_ERROR) {
			struct nlmsgerr *e = NLMSG_DATA(h);
			errno = -e->error;
			return fail_errno("sock_diag has no unix socket %u", ino);
		}
		if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY)
			continue;
		m = NLMSG_DATA(h);
		out->type = m->udiag_type;
		out->state = m->udiag_state;
		len = h->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
		for (a = (void *)(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
			switch (a->rta_type) {
			case UNIX_DIAG_PEER:
				memcpy(&out->peer, RTA_DATA(a), 4);
				break;
			case UNIX_DIAG_RQLEN: {
				struct unix_diag_rqlen *q = RTA_DATA(a);
				out->rqueue = q->udiag_rqueue;
				out->wqueue = q->udiag_wqueue;
				break;
			}
			case UNIX_DIAG_ICONS:
				out->nicons = RTA_PAYLOAD(a) / 4;
				memcpy(out->icons, RTA_DATA(a),
				       4 * (out->nicons < 256 ? out->nicons : 256));
				break;
			case UNIX_DIAG_SHUTDOWN:
				out->shutdown = *(uint8_t *)RTA_DATA(a);
				break;
			case UNIX_DIAG_VFS: {
				struct unix_diag_vfs *v = RTA_DATA(a);
				out->has_vfs = 1;
				out->vfs_ino = v->udiag_vfs_ino;
				out->vfs_dev = v->udiag_vfs_dev;
				break;
			}
			}
		}
		return 0;
	}
	return fail("sock_diag gave no answer for unix socket %u", ino);
}

int sock_diag_find(pid_t pid, const void *req, size_t reqlen, size_t ino_off, uint32_t ino, void *out, size_t cap)
{
	struct {
		struct nlmsghdr nlh;
		char body[64];
	} rq;
	static char buf[32768];
	int sk, found = -1, done = 0;
	if (reqlen > sizeof(rq.body))
		return fail("sock_diag request too long");
	memset(&rq, 0, sizeof(rq));
	rq.nlh.nlmsg_len = NLMSG_LENGTH(reqlen);
	rq.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	rq.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	memcpy(rq.body, req, reqlen);
	if ((sk = diag_socket(pid)) < 0)
		return -1;
	if (send(sk, &rq, rq.nlh.nlmsg_len, 0) != (ssize_t)rq.nlh.nlmsg_len) {
		close(sk);
		return fail_errno("sock_diag request");
	}
	/* The whole dump is read, so that the socket ends clean. */
	while (!done) {
		ssize_t n = recv(sk, buf, sizeof(buf), 0);
		if (n <= 0) {
			close(sk);
			return fail_errno("sock_diag answer");
		}
		for (struct nlmsghdr *h = (void *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			size_t len = h->nlmsg_len - NLMSG_LENGTH(0);
			uint32_t i;
			if (h->nlmsg_type == NLMSG_DONE) {
				done = 1;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);
				close(sk);
				errno = -e->error;
				return fail_errno("sock_diag");
			}
			if (len < ino_off + 4 || found >= 0)
				continue;
			memcpy(&i, (char *)NLMSG_DATA(h) + ino_off, 4);
			if (i == ino && len <= cap) {
				memcpy(out, NLMSG_DATA(h), len);
				found = len;
			}
		}
	}
	close(sk);
	return found < 0 ? fail("sock_diag has no socket with inode %u", ino) : found;
}
