/*
 * Netlink sockets (route, audit, generic, netfilter, ...): the protocol and
 * type, the port id it was bound to (the restore binds it again: the port
 * of a dead process is free), its multicast groups (every group, not only
 * the first 32 bind takes), the peer it is connected to, the netlink flags
 * (NETLINK_PKTINFO, BROADCAST_ERROR, NO_ENOBUFS, LISTEN_ALL_NSID, CAP_ACK,
 * EXT_ACK, GET_STRICT_CHK) and the buffer sizes.  Made in ferry's network
 * namespace at restore, as the other sockets are.
 *
 * Limits, refused at dump: messages queued for reading (the kernel's
 * answers and notifications cannot be queued again), a dump the kernel is
 * in the middle of answering (its state is the kernel's), and sockets of
 * another network namespace than the process's.
 */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/netlink_diag.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "diag.h"
#include "fileops.h"
#include "image.h"
#include "log.h"
#include "util.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif

static const int nl_flags[] = { NETLINK_PKTINFO, NETLINK_BROADCAST_ERROR, NETLINK_NO_ENOBUFS,
				NETLINK_LISTEN_ALL_NSID, NETLINK_CAP_ACK, NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK };
#define NFLAGS (int)(sizeof(nl_flags) / sizeof(nl_flags[0]))
#define MAXGROUPS 1024

struct nl_sock {
	int type, proto;
	uint32_t portid;		/* 0: never bound */
	uint32_t dst_portid, dst_group;	/* connect() */
	uint32_t groups[MAXGROUPS / 32];
	int flags[NFLAGS];
	int rcvbuf, sndbuf;
};

static int sk_family(const struct fdump *d)
{
	int family = 0;
	socklen_t len = sizeof(family);
	if (!S_ISSOCK(d->st->st_mode))
		return -1;
	getsockopt(d->myfd, SOL_SOCKET, SO_DOMAIN, &family, &len);
	return family;
}

static int netlink_match(const struct fdump *d)
{
	return sk_family(d) == AF_NETLINK;
}

static int netlink_dump(struct fdump *d, struct ofile *of)
{
	struct nl_sock *n = of->priv = xzalloc(sizeof(*n));
	struct sockaddr_nl sa;
	socklen_t len = sizeof(int);
	struct netlink_diag_req rq = { .sdiag_family = AF_NETLINK, .sdiag_protocol = NDIAG_PROTO_ALL,
				       .ndiag_ino = of->ino, .ndiag_show = NDIAG_SHOW_FLAGS };
	char ans[4096], b;
	struct netlink_diag_msg *m = (void *)ans;
	int got, pid = d->ps->pid;

	if (getsockopt(d->myfd, SOL_SOCKET, SO_TYPE, &n->type, &len) < 0 ||
	    getsockopt(d->myfd, SOL_SOCKET, SO_PROTOCOL, &n->proto, &len) < 0)
		return fail_errno("pid %d: cannot read netlink socket fd %d", pid, d->fd);
	len = sizeof(sa);
	if (getsockname(d->myfd, (struct sockaddr *)&sa, &len) < 0)
		return fail_errno("pid %d: getsockname on netlink socket fd %d", pid, d->fd);
	n->portid = sa.nl_pid;
	len = sizeof(n->groups);
	if (getsockopt(d->myfd, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, n->groups, &len) < 0)
		return fail_errno("pid %d: cannot list the groups of netlink socket fd %d", pid, d->fd);
	if (len > sizeof(n->groups))
		return refuse(pid, "netlink socket fd %d is in groups beyond the %d ferry carries", d->fd, MAXGROUPS);
	for (int k = 0; k < NFLAGS; k++) {
		len = sizeof(int);
		if (getsockopt(d->myfd, SOL_NETLINK, nl_flags[k], &n->flags[k], &len) < 0)
			n->flags[k] = 0;	/* an older kernel without the flag */
	}
	len = sizeof(int);
	getsockopt(d->myfd, SOL_SOCKET, SO_RCVBUF, &n->rcvbuf, &len);
	len = sizeof(int);
	getsockopt(d->myfd, SOL_SOCKET, SO_SNDBUF, &n->sndbuf, &len);
	/* sock_diag has the peer and whether a dump is running; the socket is
	 * found by inode in the process's namespace (else it is another's).
	 * It lists bound sockets only; an unbound one has neither (sending
	 * or connecting binds it). */
	rq.sdiag_protocol = n->proto;
	if (!n->portid)
		goto queue;
	got = sock_diag_find(d->ps->hpid, &rq, sizeof(rq), offsetof(struct netlink_diag_msg, ndiag_ino), of->ino, ans,
			     sizeof(ans));
	if (got < 0)
		return refuse(pid, "netlink socket fd %d is not in the process's network namespace (or sock_diag "
			      "cannot see it)", d->fd);
	n->dst_portid = m->ndiag_dst_portid;
	n->dst_group = m->ndiag_dst_group;
	got -= sizeof(*m);
	for (struct rtattr *a = (void *)(m + 1); RTA_OK(a, got); a = RTA_NEXT(a, got))
		if (a->rta_type == NETLINK_DIAG_FLAGS && (*(uint32_t *)RTA_DATA(a) & NDIAG_FLAG_CB_RUNNING))
			return refuse(pid, "netlink socket fd %d is in the middle of a dump the kernel answers in "
				      "parts; its state is the kernel's", d->fd);
queue:
	if (recv(d->myfd, &b, 1, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC) >= 0)
		return refuse(pid, "netlink socket fd %d has messages from the kernel queued for reading, which "
			      "cannot be queued again", d->fd);
	return 0;
}

static void netlink_encode(const struct ofile *of, json_t *j)
{
	const struct nl_sock *n = of->priv;
	json_t *g = json_array(), *f = json_array();
	for (int k = 0; k < MAXGROUPS; k++)
		if (n->groups[k / 32] & (1u << (k % 32)))
			json_array_append_new(g, json_integer(k + 1));
	for (int k = 0; k < NFLAGS; k++)
		json_array_append_new(f, json_integer(n->flags[k]));
	json_object_set_new(j, "netlink", json_pack("{s:i,s:i,s:I,s:I,s:I,s:o,s:o,s:i,s:i}", "type", n->type,
						     "protocol", n->proto, "portid", (json_int_t)n->portid, "dst_portid",
						     (json_int_t)n->dst_portid, "dst_group", (json_int_t)n->dst_group,
						     "groups", g, "flags", f, "rcvbuf", n->rcvbuf, "sndbuf", n->sndbuf));
}

static int netlink_decode(json_t *j, struct ofile *of, const struct tree *t)
{
	struct nl_sock *n = of->priv = xzalloc(sizeof(*n));
	json_t *o = jget_obj(j, "netlink"), *g, *f, *v;
	json_int_t portid = 0, dp = 0, dg = 0;
	size_t i;
	(void)t;
	if (!o || json_unpack(o, "{s:i,s:i,s:I,s:I,s:I,s:o,s:o,s:i,s:i}", "type", &n->type, "protocol", &n->proto,
			      "portid", &portid, "dst_portid", &dp, "dst_group", &dg, "groups", &g, "flags", &f,
			      "rcvbuf", &n->rcvbuf, "sndbuf", &n->sndbuf) < 0 || !json_is_array(g) ||
	    !json_is_array(f) || json_array_size(f) != NFLAGS)
		return fail("image %s is corrupt: netlink socket", jctx);
	n->portid = portid, n->dst_portid = dp, n->dst_group = dg;
	json_array_foreach(g, i, v) {
		json_int_t k = json_integer_value(v);
		if (k < 1 || k > MAXGROUPS)
			return fail("image %s is corrupt: netlink group", jctx);
		n->groups[(k - 1) / 32] |= 1u << ((k - 1) % 32);
	}
	json_array_foreach(f, i, v)
		n->flags[i] = json_integer_value(v);
	return 0;
}

/* The buffer sizes as getsockopt gave them (the kernel doubles what is set). */
static int sock_set_bufs(int fd, int rcvbuf, int sndbuf)
{
	int cur = 0;
	socklen_t l = sizeof(cur);
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &cur, &l) == 0 && cur != rcvbuf) {
		int v = rcvbuf / 2;
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0)
			return -1;
	}
	l = sizeof(cur);
	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &cur, &l) == 0 && cur != sndbuf) {
		int v = sndbuf / 2;
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) < 0)
			return -1;
	}
	return 0;
}

static int netlink_prepare(struct tree *t, struct img *im, int i, enum file_pass pass)
{
	struct ofile *of = &t->files.of[i];
	const struct nl_sock *n = of->priv;
	const char *who = file_who(t, i);
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	(void)im, (void)pass;
	of->rfd = socket(AF_NETLINK, n->type | SOCK_CLOEXEC, n->proto);
	if (of->rfd < 0)
		return fail_errno("%s: cannot create a netlink socket of protocol %d", who, n->proto);
	for (int k = 0; k < NFLAGS; k++)
		if (n->flags[k] && setsockopt(of->rfd, SOL_NETLINK, nl_flags[k], &n->flags[k], sizeof(int)) < 0)
			return fail_errno("%s: cannot set netlink option %d", who, nl_flags[k]);
	if (sock_set_bufs(of->rfd, n->rcvbuf, n->sndbuf) < 0)
		return fail_errno("%s: cannot set the buffer sizes", who);
	if (n->portid) {
		sa.nl_pid = n->portid;
		sa.nl_groups = n->groups[0];
		if (bind(of->rfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			return fail_errno("%s: cannot bind the netlink socket to port %u again", who, n->portid);
	}
	/* bind takes the first 32 groups; the rest, or all when never bound, one by one */
	for (int k = n->portid ? 32 : 0; k < MAXGROUPS; k++)
		if (n->groups[k / 32] & (1u << (k % 32))) {
			int grp = k + 1;
			if (setsockopt(of->rfd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &grp, sizeof(grp)) < 0)
				return fail_errno("%s: cannot join netlink group %d", who, grp);
		}
	if (n->dst_portid || n->dst_group) {
		struct sockaddr_nl to = { .nl_family = AF_NETLINK, .nl_pid = n->dst_portid,
					  .nl_groups = n->dst_group ? 1u << (n->dst_group - 1) : 0 };
		if (connect(of->rfd, (struct sockaddr *)&to, sizeof(to)) < 0)
			return fail_errno("%s: cannot connect the netlink socket again", who);
	}
	return 0;
}

static void netlink_free(struct ofile *of)
{
	free(of->priv);
}

const struct file_ops netlink_ops = {
	.name = "netlink",
	.flags = FO_SETFL,
	.match = netlink_match,
	.dump = netlink_dump,
	.encode = netlink_encode,
	.decode = netlink_decode,
	.prepare = netlink_prepare,
	.free = netlink_free,
};
