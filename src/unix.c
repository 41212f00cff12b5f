/*
 * Unix sockets: stream, datagram and seqpacket; listening on a path or an
 * abstract name; connected pairs inside the tree (socketpair, or
 * connect/accept — rebuilt through the restored listener, so both ends get
 * their names back) with the data queued in them, message boundaries and
 * passed credentials (SCM_CREDENTIALS) included.
 *
 * The peer of a connected socket is known only to the kernel's tables, so
 * ferry asks sock_diag (core/diag.c).  Queued data is peeked with
 * SO_PEEK_OFF, which walks the queue without consuming it, and written back
 * from the peer once every restored process exists (a credential names a
 * process, and the kernel checks that it exists).
 *
 * Limits and policy: a stream or seqpacket socket connected to a peer
 * outside the dumped tree is refused at dump, naming both ends (a datagram
 * socket connected to an outside *named* socket, like /dev/log, is simply
 * connected to that name again); connections waiting in a listener's queue
 * and file descriptors in flight (SCM_RIGHTS) are refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "diag.h"
#include "image.h"
#include "log.h"
#include "pstate.h"
#include "util.h"

#define PEEK_BUF (256 << 10)
#define ST_LISTEN 10

struct unix_msg {
	uint8_t *data;
	size_t len;
	int has_cred;
	struct ucred cred;
};

struct unix_sk {
	int type, state;
	uint8_t name[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int namelen;			/* bytes of sun_path used; 0 unnamed */
	uint8_t peer_name[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int peer_namelen;
	uint32_t peer_ino;
	int peer;			/* ofile of the peer in the tree, -1 if none */
	int accepted_from;		/* ofile of the listener it came from, -1 */
	int ended;			/* its peer closed: reads give the queue, then EOF */
	int backlog, passcred;
	struct unix_msg *q;
	int nq;
	int made;			/* restore: created (pairs are made together) */
};

static const char *uname_str(const uint8_t *n, int len, char *buf, size_t blen)
{
	if (!len)
		snprintf(buf, blen, "unnamed");
	else if (!n[0])
		snprintf(buf, blen, "@%.*s", len - 1, n + 1);
	else
		snprintf(buf, blen, "%.*s", len, n);
	return buf;
}

static int peek_queue(struct proc_state *ps, int fd, int myfd, struct unix_sk *u)
{
	int off0 = -1, zero = 0, ret = 0;
	socklen_t l = sizeof(off0);
	uint8_t *buf = xmalloc(PEEK_BUF);
	getsockopt(myfd, SOL_SOCKET, SO_PEEK_OFF, &off0, &l);
	if (setsockopt(myfd, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero)) < 0) {
		free(buf);
		return fail_errno("pid %d: cannot peek unix socket fd %d", ps->pid, fd);
	}
	for (;;) {
		char cbuf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(64 * sizeof(int))];
		struct iovec iov = { buf, PEEK_BUF };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		struct unix_msg *m;
		ssize_t n = recvmsg(myfd, &mh, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		/* 0 is EOF on a stream but an empty message on the others; the
		 * kernel marks an empty message peeked and steps over it next time. */
		if (n < 0 || (n == 0 && u->type == SOCK_STREAM) || u->nq > 1000000)
			break;
		u->q = xrealloc(u->q, (u->nq + 1) * sizeof(*u->q));
		m = &u->q[u->nq++];
		memset(m, 0, sizeof(*m));
		m->data = xmalloc(n);
		memcpy(m->data, buf, n);
		m->len = n;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
				memcpy(&m->cred, CMSG_DATA(c), sizeof(m->cred));
				m->has_cred = 1;
			} else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
				int *fds = (int *)CMSG_DATA(c);
				for (size_t k = 0; k < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); k++)
					close(fds[k]);
				ret = refuse(ps->pid, "unix socket fd %d has file descriptors in flight (SCM_RIGHTS), which "
					     "ferry cannot checkpoint yet", fd);
			}
		}
		if (ret)
			break;
	}
	setsockopt(myfd, SOL_SOCKET, SO_PEEK_OFF, &off0, sizeof(off0));
	free(buf);
	return ret;
}

int unix_dump(struct proc_state *ps, struct ofile *of, int fd, int myfd)
{
	struct unix_sk *u = xzalloc(sizeof(*u));
	struct sockaddr_un sa;
	struct unix_diag_info di;
	socklen_t len = sizeof(int);
	char a[200];

	of->unx = u;
	u->peer = u->accepted_from = -1;
	if (getsockopt(myfd, SOL_SOCKET, SO_TYPE, &u->type, &len) < 0)
		return fail_errno("pid %d: cannot read the type of unix socket fd %d", ps->pid, fd);
	len = sizeof(sa);
	if (getsockname(myfd, (struct sockaddr *)&sa, &len) < 0)
		return fail_errno("pid %d: getsockname on unix socket fd %d", ps->pid, fd);
	u->namelen = len > offsetof(struct sockaddr_un, sun_path) ? (int)(len - offsetof(struct sockaddr_un, sun_path)) : 0;
	if (u->namelen && sa.sun_path[0] && sa.sun_path[u->namelen - 1] == 0)
		u->namelen = strlen(sa.sun_path);	/* a path: without its NUL */
	memcpy(u->name, sa.sun_path, u->namelen);
	len = sizeof(sa);
	if (getpeername(myfd, (struct sockaddr *)&sa, &len) == 0 && len > offsetof(struct sockaddr_un, sun_path)) {
		u->peer_namelen = len - offsetof(struct sockaddr_un, sun_path);
		if (sa.sun_path[0] && sa.sun_path[u->peer_namelen - 1] == 0)
			u->peer_namelen = strlen(sa.sun_path);
		memcpy(u->peer_name, sa.sun_path, u->peer_namelen);
	}
	if (unix_diag_query(ps->pid, of->ino, &di) < 0)
		return -1;
	u->state = di.state;
	u->peer_ino = di.peer;
	len = sizeof(int);
	getsockopt(myfd, SOL_SOCKET, SO_PASSCRED, &u->passcred, &len);
	if (u->state == ST_LISTEN) {
		u->backlog = di.wqueue;
		if (di.nicons)
			return refuse(ps->pid, "unix socket fd %d (listening on %s) has %d connection(s) waiting to be "
				      "accepted; ferry cannot carry those yet", fd,
				    uname_str(u->name, u->namelen, a, sizeof(a)), di.nicons);
		return 0;
	}
	if (u->peer_ino) {
		struct pollfd p = { myfd, POLLRDHUP, 0 };
		poll(&p, 1, 0);
		u->ended = u->type != SOCK_DGRAM && (p.revents & (POLLRDHUP | POLLHUP));
	}
	return peek_queue(ps, fd, myfd, u);
}

int unix_dump_finish(struct tree *t)
{
	struct file_table *ft = &t->files;
	for (int i = 0; i < ft->n; i++) {
		struct ofile *of = &ft->of[i];
		struct unix_sk *u = of->unx;
		char a[200], b[200];
		if (of->kind != FK_UNIX || !u->peer_ino)
			continue;
		for (int k = 0; k < ft->n; k++)
			if (ft->of[k].kind == FK_UNIX && ft->of[k].ino == u->peer_ino)
				u->peer = k;
		if (u->peer >= 0) {
			/* An accepted connection carries its listener's name. */
			for (int k = 0; k < ft->n && u->namelen; k++) {
				struct unix_sk *l = ft->of[k].unx;
				if (ft->of[k].kind == FK_UNIX && l->state == ST_LISTEN && l->type == u->type &&
				    l->namelen == u->namelen && !memcmp(l->name, u->name, u->namelen))
					u->accepted_from = k;
			}
			continue;
		}
		if (u->type == SOCK_DGRAM && u->peer_namelen)
			continue;	/* connected to an outside name: connect to it again */
		if (u->ended) {
			u->peer_ino = 0;	/* its peer is gone: only the queue and EOF remain */
			continue;
		}
		return refuse(of->owner_pid, "fd %d: unix %s socket %s is connected to %s, a socket outside the dumped "
			      "tree; ferry cannot carry that connection", of->owner_fd,
			    u->type == SOCK_STREAM ? "stream" : u->type == SOCK_DGRAM ? "datagram" : "seqpacket",
			    uname_str(u->name, u->namelen, a, sizeof(a)),
			    uname_str(u->peer_name, u->peer_namelen, b, sizeof(b)));
	}
	return 0;
}

/* ---- encode / decode ---- */

void unix_encode(const struct ofile *of, json_t *j)
{
	const struct unix_sk *u = of->unx;
	json_t *o = json_object(), *q = json_array();
	for (int i = 0; i < u->nq; i++) {
		json_t *m = json_pack("{s:o}", "data", jblob(u->q[i].data, u->q[i].len));
		if (u->q[i].has_cred)
			json_object_set_new(m, "cred", json_pack("[i,i,i]", u->q[i].cred.pid, u->q[i].cred.uid,
								 u->q[i].cred.gid));
		json_array_append_new(q, m);
	}
	json_object_set_new(o, "type", json_integer(u->type));
	json_object_set_new(o, "state", json_integer(u->state));
	json_object_set_new(o, "name", jblob(u->name, u->namelen));
	json_object_set_new(o, "peer_name", jblob(u->peer_name, u->peer_namelen));
	json_object_set_new(o, "peer", json_integer(u->peer));
	json_object_set_new(o, "accepted_from", json_integer(u->accepted_from));
	json_object_set_new(o, "ended", json_boolean(u->ended));
	json_object_set_new(o, "backlog", json_integer(u->backlog));
	json_object_set_new(o, "passcred", json_integer(u->passcred));
	json_object_set_new(o, "queue", q);
	json_object_set_new(j, "unix", o);
}

static int get_name(json_t *o, const char *key, uint8_t *buf, int *len)
{
	void *d;
	size_t n;
	if (jget_blobv(o, key, &d, &n) < 0)
		return -1;
	if (n > sizeof(((struct sockaddr_un *)0)->sun_path)) {
		free(d);
		return fail("image %s is corrupt: unix name too long", jctx);
	}
	memcpy(buf, d, n);
	*len = n;
	free(d);
	return 0;
}

int unix_decode(json_t *j, struct ofile *of, int nfiles)
{
	struct unix_sk *u = xzalloc(sizeof(*u));
	json_t *o = jget_obj(j, "unix"), *q, *m;
	long long v;
	size_t i;
	of->unx = u;
	if (!o)
		return -1;
#define I(k, f) do { if (jget_int(o, k, &v) < 0) return -1; u->f = v; } while (0)
	I("type", type);
	I("state", state);
	I("peer", peer);
	I("accepted_from", accepted_from);
	I("backlog", backlog);
	I("passcred", passcred);
#undef I
	u->ended = json_is_true(json_object_get(o, "ended"));
	if (u->peer >= nfiles || u->accepted_from >= nfiles || u->peer < -1 || u->accepted_from < -1)
		return fail("image %s is corrupt: unix socket peer", jctx);
	if (u->type != SOCK_STREAM && u->type != SOCK_DGRAM && u->type != SOCK_SEQPACKET)
		return fail("image %s is corrupt: unix socket type %d", jctx, u->type);
	if (get_name(o, "name", u->name, &u->namelen) < 0 || get_name(o, "peer_name", u->peer_name, &u->peer_namelen) < 0)
		return -1;
	if (!(q = jget_arr(o, "queue")))
		return -1;
	u->nq = json_array_size(q);
	u->q = xzalloc((u->nq + 1) * sizeof(*u->q));
	json_array_foreach(q, i, m) {
		void *d;
		json_t *c = json_object_get(m, "cred");
		if (jget_blobv(m, "data", &d, &u->q[i].len) < 0)
			return -1;
		u->q[i].data = d;
		if (c) {
			if (!json_is_array(c) || json_array_size(c) != 3)
				return fail("image %s is corrupt: unix message credentials", jctx);
			u->q[i].has_cred = 1;
			u->q[i].cred.pid = json_integer_value(json_array_get(c, 0));
			u->q[i].cred.uid = json_integer_value(json_array_get(c, 1));
			u->q[i].cred.gid = json_integer_value(json_array_get(c, 2));
		}
	}
	return 0;
}

void unix_free(struct ofile *of)
{
	if (!of->unx)
		return;
	for (int i = 0; i < of->unx->nq; i++)
		free(of->unx->q[i].data);
	free(of->unx->q);
	free(of->unx);
	of->unx = NULL;
}

/* ---- restore ---- */

static socklen_t mkaddr(struct sockaddr_un *sa, const uint8_t *name, int len)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, name, len);
	return offsetof(struct sockaddr_un, sun_path) + len + (len && name[0] ? 1 : 0);
}

static int bind_name(int fd, const struct unix_sk *u, const char *what)
{
	struct sockaddr_un sa;
	socklen_t len;
	struct stat st;
	char a[200];
	if (!u->namelen)
		return 0;
	len = mkaddr(&sa, u->name, u->namelen);
	/* The dead source left its socket file behind; a socket file only. */
	if (u->name[0] && lstat(sa.sun_path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(sa.sun_path);
	if (bind(fd, (struct sockaddr *)&sa, len) < 0)
		return fail_errno("%s: cannot bind to %s", what, uname_str(u->name, u->namelen, a, sizeof(a)));
	return 0;
}

int unix_is_listener(const struct ofile *of)
{
	return of->unx->state == ST_LISTEN;
}

int unix_prepare(struct tree *t, int idx, const char *what)
{
	struct ofile *of = &t->files.of[idx], *pof;
	struct unix_sk *u = of->unx, *p;
	int sv[2];
	struct sockaddr_un sa;
	socklen_t len;
	char a[200];

	if (u->made)
		return 0;
	u->made = 1;
	if (u->peer < 0) {
		of->rfd = socket(AF_UNIX, u->type | SOCK_CLOEXEC, 0);
		if (of->rfd < 0)
			return fail_errno("%s: cannot create the socket", what);
		if (bind_name(of->rfd, u, what) < 0)
			return -1;
		if (u->state == ST_LISTEN && listen(of->rfd, u->backlog) < 0)
			return fail_errno("%s: cannot listen", what);
		if (u->type == SOCK_DGRAM && u->peer_namelen) {
			len = mkaddr(&sa, u->peer_name, u->peer_namelen);
			if (connect(of->rfd, (struct sockaddr *)&sa, len) < 0)
				return fail_errno("%s: cannot connect again to %s", what,
						  uname_str(u->peer_name, u->peer_namelen, a, sizeof(a)));
		}
		if (u->ended) {
			/* The peer is gone: a pair whose other end is dropped after the refill. */
			if (socketpair(AF_UNIX, u->type | SOCK_CLOEXEC, 0, sv) < 0)
				return fail_errno("%s: cannot create a socket pair", what);
			close(of->rfd);
			of->rfd = sv[0];
			of->keep = sv[1];
		}
		return 0;
	}
	pof = &t->files.of[u->peer];
	p = pof->unx;
	p->made = 1;
	if (u->accepted_from >= 0 || p->accepted_from >= 0) {
		/* connect/accept through the restored listener: names come back too */
		struct ofile *srv = u->accepted_from >= 0 ? of : pof, *cli = srv == of ? pof : of;
		struct ofile *lis = &t->files.of[srv->unx->accepted_from];
		if (lis->rfd < 0)
			return fail("%s: its listener is not ready", what);
		cli->rfd = socket(AF_UNIX, cli->unx->type | SOCK_CLOEXEC, 0);
		if (cli->rfd < 0 || bind_name(cli->rfd, cli->unx, what) < 0)
			return fail_errno("%s: cannot create the socket", what);
		len = mkaddr(&sa, lis->unx->name, lis->unx->namelen);
		if (connect(cli->rfd, (struct sockaddr *)&sa, len) < 0)
			return fail_errno("%s: cannot connect to its restored listener", what);
		srv->rfd = accept4(lis->rfd, NULL, NULL, SOCK_CLOEXEC);
		if (srv->rfd < 0)
			return fail_errno("%s: cannot accept from its restored listener", what);
		return 0;
	}
	if (!u->namelen && !p->namelen) {
		if (socketpair(AF_UNIX, u->type | SOCK_CLOEXEC, 0, sv) < 0)
			return fail_errno("%s: cannot create a socket pair", what);
		of->rfd = sv[0];
		pof->rfd = sv[1];
		return 0;
	}
	/* Named ends connected to each other (datagram sockets, mostly). */
	of->rfd = socket(AF_UNIX, u->type | SOCK_CLOEXEC, 0);
	pof->rfd = socket(AF_UNIX, p->type | SOCK_CLOEXEC, 0);
	if (of->rfd < 0 || pof->rfd < 0 || bind_name(of->rfd, u, what) < 0 || bind_name(pof->rfd, p, what) < 0)
		return -1;
	if (u->type != SOCK_DGRAM)
		return fail("%s: a connected named %s pair without its listener cannot be rebuilt", what,
			    u->type == SOCK_STREAM ? "stream" : "seqpacket");
	len = mkaddr(&sa, p->name, p->namelen);
	if (p->namelen && connect(of->rfd, (struct sockaddr *)&sa, len) < 0)
		return fail_errno("%s: cannot connect to its peer", what);
	len = mkaddr(&sa, u->name, u->namelen);
	if (u->namelen && connect(pof->rfd, (struct sockaddr *)&sa, len) < 0)
		return fail_errno("%s: cannot connect its peer back", what);
	return 0;
}

int unix_set_options(struct ofile *of)
{
	if (of->unx->passcred && setsockopt(of->rfd, SOL_SOCKET, SO_PASSCRED, &of->unx->passcred, sizeof(int)) < 0)
		return fail_errno("cannot set SO_PASSCRED");
	return 0;
}

/* Writes each socket's saved queue from its peer, credentials included. */
int unix_refill(struct tree *t)
{
	for (int i = 0; i < t->files.n; i++) {
		struct ofile *of = &t->files.of[i];
		struct unix_sk *u = of->unx;
		int from;
		if (of->kind != FK_UNIX || !u->nq)
			continue;
		from = u->peer >= 0 ? t->files.of[u->peer].rfd : of->keep;
		if (from < 0) {
			pr_warn("unix socket of pid %d fd %d: %d queued message(s) from outside senders are dropped",
				of->owner_pid, of->owner_fd, u->nq);
			continue;
		}
		for (int k = 0; k < u->nq; k++) {
			char cbuf[CMSG_SPACE(sizeof(struct ucred))];
			struct iovec iov = { u->q[k].data, u->q[k].len };
			struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
			if (u->q[k].has_cred) {
				struct cmsghdr *c;
				mh.msg_control = cbuf;
				mh.msg_controllen = sizeof(cbuf);
				c = CMSG_FIRSTHDR(&mh);
				c->cmsg_level = SOL_SOCKET;
				c->cmsg_type = SCM_CREDENTIALS;
				c->cmsg_len = CMSG_LEN(sizeof(struct ucred));
				memcpy(CMSG_DATA(c), &u->q[k].cred, sizeof(struct ucred));
			}
			if (sendmsg(from, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)u->q[k].len)
				return fail_errno("pid %d fd %d: cannot refill the unix socket's queue", of->owner_pid,
						  of->owner_fd);
		}
	}
	/* Ended connections: now the other end goes, so reads end in EOF. */
	for (int i = 0; i < t->files.n; i++)
		if (t->files.of[i].kind == FK_UNIX && t->files.of[i].unx->ended && t->files.of[i].keep >= 0) {
			close(t->files.of[i].keep);
			t->files.of[i].keep = -1;
		}
	return 0;
}

/* ---- the file kind (fileops.h): thin adapters over the functions above ---- */
#include "fileops.h"

static int unix_match(const struct fdump *d)
{
	int family = 0;
	socklen_t len = sizeof(family);
	if (!S_ISSOCK(d->st->st_mode))
		return 0;
	getsockopt(d->myfd, SOL_SOCKET, SO_DOMAIN, &family, &len);
	return family == AF_UNIX;
}

static int unix_ops_dump(struct fdump *d, struct ofile *of)
{
	return unix_dump(d->ps, of, d->fd, d->myfd);
}

static int unix_ops_decode(json_t *o, struct ofile *of, const struct tree *t)
{
	return unix_decode(o, of, t->files.n);
}

/* Listeners first (a connection is rebuilt through its listener), then
 * the others, then the options; the file flags are files.c's, last. */
static int unix_ops_prepare(struct tree *t, struct img *im, int i, enum file_pass pass)
{
	struct ofile *of = &t->files.of[i];
	(void)im;
	if (pass == FP_SOCKOPT)
		return unix_set_options(of);
	if ((pass == FP_LISTEN) != unix_is_listener(of))
		return 0;
	return unix_prepare(t, i, file_who(t, i));
}

const struct file_ops unix_ops = {
	.name = "unix",
	.flags = FO_SETFL,
	.passes = FP_SOCKETS,
	.match = unix_match,
	.dump = unix_ops_dump,
	.encode = unix_encode,
	.decode = unix_ops_decode,
	.prepare = unix_ops_prepare,
	.free = unix_free,
};
