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
 * Datagram sockets are bound and connected each on its own (one way or
 * both), and each queued datagram is sent again from the socket whose name
 * it came from (or from an unnamed one), so recvfrom() gives the same source.
 * Shutdown states are set again after the queues are refilled.  A socket
 * bound to a path keeps the file's mode and owner; one whose path was
 * deleted since is bound again and its path removed; a relative bind is
 * made again from the directory the file is in (the owner's cwd at dump).
 * Connections waiting in a listener's queue come back in their order, by
 * connecting their clients again once every accepted connection is rebuilt.
 *
 * Limits and policy: a stream or seqpacket socket connected to a peer
 * outside the dumped tree is refused at dump, naming both ends (a datagram
 * socket connected to an outside *named* socket, like /dev/log, is simply
 * connected to that name again); so are datagrams queued from a named
 * sender outside the tree (their source would be lost), a pending
 * connection with data sent on it (it cannot be read without accepting it),
 * a path bind whose path now names another file, a relative bind whose
 * file's path no longer ends with its name, and file descriptors in flight
 * on a stream socket (see peek_queue).  The peer credentials (SO_PEERCRED)
 * of a rebuilt connection are ferry's.
 *
 * File descriptors in flight (SCM_RIGHTS) on datagram and seqpacket
 * sockets: a peek hands ferry its own references, the queue untouched;
 * dump_finish finds each in the table (kcmp) or dumps it as a description
 * only ferry holds (files_dump_held: its only reference was in flight), and
 * the refill sends the restored descriptions again with their message.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "diag.h"
#include "fileops.h"
#include "image.h"
#include "log.h"
#include "pstate.h"
#include "util.h"

#ifndef SIOCUNIXFILE
#define SIOCUNIXFILE (SIOCPROTOPRIVATE + 0)	/* linux/un.h, which clashes with sys/un.h */
#endif

#define PEEK_BUF (256 << 10)
#define ST_LISTEN 10

#define NAME_MAX_LEN ((int)sizeof(((struct sockaddr_un *)0)->sun_path))

struct unix_msg {
	uint8_t *data;
	size_t len;
	int has_cred;
	struct ucred cred;
	uint8_t from[NAME_MAX_LEN];	/* datagrams: the sender's name */
	int fromlen;
	int sender;			/* ofile it came from (dump_finish), -1 none/unnamed */
	int nfds;			/* SCM_RIGHTS: files in flight with it */
	int *fds;			/* dump: ferry's references (peeked), until dump_finish */
	int *refs;			/* their ofiles */
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
	int shutdown;			/* sk_shutdown bits: 1 receive, 2 send */
	int deleted;			/* bound to a path that is gone */
	char *dir;			/* a relative bind: the directory it was made in */
	int has_file;			/* bound to a path that is there: its file's attributes */
	unsigned mode, uid, gid;
	uint32_t *icons;		/* dump, listener: pending connections, in order */
	int nicons;
	int pending_on, pending_pos;	/* a client waiting in listener pending_on's queue */
	struct unix_msg *q;
	int nq;
	int made;			/* restore: created (pairs are made together) */
	pid_t holder;			/* dump: the process it was found in (in flight: in a queue of its) */
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

static int cmsg_rights(struct msghdr *mh, int **fds)
{
	int n = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			*fds = xrealloc(*fds, (n + k + 1) * sizeof(int));
			memcpy(*fds + n, CMSG_DATA(c), k * sizeof(int));
			n += k;
		}
	return n;
}

static void close_all(int *fds, int n)
{
	for (int k = 0; k < n; k++)
		close(fds[k]);
}

static struct unix_msg *new_msg(struct unix_sk *u, const uint8_t *data, size_t n)
{
	struct unix_msg *m;
	u->q = xrealloc(u->q, (u->nq + 1) * sizeof(*u->q));
	m = &u->q[u->nq++];
	memset(m, 0, sizeof(*m));
	m->data = xmalloc(n + 1);
	memcpy(m->data, data, n);
	m->len = n;
	m->sender = -1;
	return m;
}

/* Files in flight come out of a peek as new fds of ferry's (the queue is
 * untouched); they are kept until dump_finish finds or dumps them. */
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
		char cbuf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(253 * sizeof(int))];
		struct sockaddr_un from;
		struct iovec iov = { buf, PEEK_BUF };
		struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		struct unix_msg *m;
		int *fds = NULL, nfds;
		ssize_t n = recvmsg(myfd, &mh, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		/* 0 is EOF on a stream but an empty message on the others; the
		 * kernel marks an empty message peeked and steps over it next time.
		 * Once the receive side is shut, an empty queue reads 0 for ever:
		 * there 0 is the end (an empty message last in such a queue is
		 * not told apart from it). */
		if (n < 0 || (n == 0 && (u->type == SOCK_STREAM || (u->shutdown & 1) || u->ended)) || u->nq > 1000000)
			break;
		nfds = cmsg_rights(&mh, &fds);
		if (mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) {
			close_all(fds, nfds);
			free(fds);
			ret = refuse(ps->pid, "unix socket fd %d has a message, or files in flight or credentials "
				     "with one, larger than ferry's buffer", fd);
			break;
		}
		/* A stream peek glues the bytes before the segment that carries
		 * files to it, and no peek tells where that segment starts: sent
		 * again, the files would come with the bytes before. */
		if (nfds && u->type == SOCK_STREAM) {
			close_all(fds, nfds);
			free(fds);
			ret = refuse(ps->pid, "unix stream socket fd %d has file descriptors in flight (SCM_RIGHTS); "
				     "ferry cannot tell which bytes they were sent with (it carries them on datagram "
				     "and seqpacket sockets)", fd);
			break;
		}
		m = new_msg(u, buf, n);
		m->nfds = nfds;
		m->fds = fds;
		if (u->type == SOCK_DGRAM && mh.msg_namelen > offsetof(struct sockaddr_un, sun_path)) {
			m->fromlen = mh.msg_namelen - offsetof(struct sockaddr_un, sun_path);
			if (from.sun_path[0] && from.sun_path[m->fromlen - 1] == 0)
				m->fromlen = strnlen(from.sun_path, m->fromlen);
			memcpy(m->from, from.sun_path, m->fromlen);
		}
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
				memcpy(&m->cred, CMSG_DATA(c), sizeof(m->cred));
				m->has_cred = 1;
			}
	}
	setsockopt(myfd, SOL_SOCKET, SO_PEEK_OFF, &off0, sizeof(off0));
	free(buf);
	return ret;
}

/* A socket bound to a path: is the path still its file (mode and owner
 * kept), gone (bound again and removed at restore), or something else
 * (refused)?  SIOCUNIXFILE opens the file the bind made, wherever it is, so
 * a relative name is found whatever the process's cwd is now. */
static int dump_path(struct proc_state *ps, int fd, int myfd, struct unix_sk *u)
{
	char abs[PATH_MAX + 16], lnk[64], name[NAME_MAX_LEN + 2], a[200];
	struct stat st, now;
	int rel = u->name[0] != '/', deleted, pf;
	ssize_t n;
	size_t al, nl;
	snprintf(name, sizeof(name), "%.*s", u->namelen, u->name);
	pf = ioctl(myfd, SIOCUNIXFILE);
	if (pf < 0)
		return refuse(ps->pid, "unix socket fd %d is bound to %s, whose file the kernel does not open here "
			      "(SIOCUNIXFILE: %s)", fd, name, strerror(errno));
	snprintf(lnk, sizeof(lnk), "/proc/self/fd/%d", pf);
	n = readlink(lnk, abs, sizeof(abs) - 1);
	if (n <= 0 || fstat(pf, &st) < 0) {
		close(pf);
		return fail_errno("pid %d: cannot find the file of unix socket fd %d", ps->pid, fd);
	}
	close(pf);
	abs[n] = 0;
	deleted = file_strip_deleted(abs);
	al = strlen(abs);
	nl = strlen(name);
	/* A relative name is the end of the file's path: the rest is the
	 * directory it was made from (a name with ".." cannot be placed). */
	if (rel && (strstr(name, "..") || nl >= al || strcmp(abs + al - nl, name) || abs[al - nl - 1] != '/'))
		return refuse(ps->pid, "unix socket fd %d is bound to the relative path %s, now at %s; ferry "
			      "cannot tell where it was made", fd, name, abs);
	if (deleted) {
		if (rel)
			return refuse(ps->pid, "unix socket fd %d is bound to the relative path %s, deleted since",
				      fd, name);
		if (lstat(name, &now) == 0)
			return refuse(ps->pid, "unix socket fd %d is bound to %s, deleted since and now another "
				      "file; it could not be bound there again", fd,
				      uname_str(u->name, u->namelen, a, sizeof(a)));
		u->deleted = 1;
		return 0;
	}
	if (!rel && strcmp(abs, name))
		return refuse(ps->pid, "unix socket fd %d is bound to %s, whose file has moved to %s", fd, name, abs);
	u->has_file = 1;
	u->mode = st.st_mode & 07777;
	u->uid = st.st_uid;
	u->gid = st.st_gid;
	if (rel) {
		abs[al - nl - 1] = 0;
		u->dir = xstrdup(abs[0] ? abs : "/");
	}
	return 0;
}

int unix_dump(struct proc_state *ps, struct ofile *of, int fd, int myfd)
{
	struct unix_sk *u = xzalloc(sizeof(*u));
	struct sockaddr_un sa;
	struct unix_diag_info di;
	socklen_t len = sizeof(int);
	char a[200];

	of->unx = u;
	u->peer = u->accepted_from = u->pending_on = -1;
	u->holder = ps->pid;
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
	if (unix_diag_query(ps->hpid, of->ino, &di) < 0)
		return -1;
	u->state = di.state;
	u->peer_ino = di.peer;
	u->shutdown = di.shutdown;
	len = sizeof(int);
	getsockopt(myfd, SOL_SOCKET, SO_PASSCRED, &u->passcred, &len);
	if (u->namelen && u->name[0] && dump_path(ps, fd, myfd, u) < 0)
		return -1;
	if (u->state == ST_LISTEN) {
		u->backlog = di.wqueue;
		if (di.nicons > 256)
			return refuse(ps->pid, "unix socket fd %d (listening on %s) has %d connections waiting to be "
				      "accepted, more than the 256 ferry carries", fd,
				      uname_str(u->name, u->namelen, a, sizeof(a)), di.nicons);
		u->nicons = di.nicons;
		u->icons = xmalloc((di.nicons + 1) * sizeof(*u->icons));
		memcpy(u->icons, di.icons, di.nicons * sizeof(*u->icons));
		for (int k = 0; k < di.nicons; k++) {
			struct unix_diag_info ci;
			if (unix_diag_query(ps->hpid, di.icons[k], &ci) < 0)
				return -1;
			/* What a waiting client sent is queued on the socket accept() will
			 * return (charged to the client's send queue): it can only be read by
			 * accepting it, which the source would miss. */
			if (ci.wqueue)
				return refuse(ps->pid, "unix socket fd %d (listening on %s) has a connection waiting to be "
					      "accepted with data sent on it, which cannot be read without accepting it",
					      fd, uname_str(u->name, u->namelen, a, sizeof(a)));
		}
		return 0;
	}
	if (u->peer_ino) {
		struct pollfd p = { myfd, POLLRDHUP, 0 };
		poll(&p, 1, 0);
		u->ended = u->type != SOCK_DGRAM && (p.revents & (POLLRDHUP | POLLHUP));
	}
	return peek_queue(ps, fd, myfd, u);
}

static const char *type_str(int type)
{
	return type == SOCK_STREAM ? "stream" : type == SOCK_DGRAM ? "datagram" : "seqpacket";
}

/* The clients whose connections wait in a listener's queue: sock_diag
 * names them (the client sockets, not the ones accept() will return). */
static int find_pending(struct file_table *ft)
{
	char a[200];
	for (int k = 0; k < ft->n; k++) {
		struct unix_sk *l = ft->of[k].unx;
		if (ft->of[k].kind != FK_UNIX || l->state != ST_LISTEN)
			continue;
		for (int j = 0; j < l->nicons; j++) {
			int c = -1;
			for (int i = 0; i < ft->n && l->icons[j]; i++)
				if (ft->of[i].kind == FK_UNIX && ft->of[i].ino == l->icons[j])
					c = i;
			if (c < 0)
				return refuse(ft->of[k].owner_pid, "fd %d: unix socket listening on %s has a connection "
					      "waiting to be accepted from a socket outside the dumped tree; ferry "
					      "cannot carry it", ft->of[k].owner_fd,
					      uname_str(l->name, l->namelen, a, sizeof(a)));
			ft->of[c].unx->pending_on = k;
			ft->of[c].unx->pending_pos = j;
		}
	}
	return 0;
}

/* The datagrams queued on socket i: which socket of the tree each comes
 * from, so that it can be sent again from there. */
static int dgram_senders(struct file_table *ft, int i)
{
	struct ofile *of = &ft->of[i];
	struct unix_sk *u = of->unx;
	char a[200], b[200];
	for (int m = 0; m < u->nq; m++) {
		struct unix_msg *msg = &u->q[m];
		struct unix_sk *s;
		if (!msg->fromlen) {
			struct unix_sk *p = u->peer >= 0 ? ft->of[u->peer].unx : NULL;
			if (p && !p->namelen && p->peer == i)
				msg->sender = u->peer;	/* a socket pair */
			else if (!u->namelen)
				return refuse(of->owner_pid, "fd %d: unnamed unix datagram socket has a datagram from a "
					      "socket that is not its peer; it cannot be sent again", of->owner_fd);
			continue;
		}
		for (int k = 0; k < ft->n; k++) {
			struct unix_sk *c = ft->of[k].unx;
			if (ft->of[k].kind == FK_UNIX && c->type == SOCK_DGRAM && c->namelen == msg->fromlen &&
			    !memcmp(c->name, msg->from, msg->fromlen))
				msg->sender = k;
		}
		if (msg->sender < 0)
			return refuse(of->owner_pid, "fd %d: unix datagram socket %s has a datagram queued from %s, a "
				      "socket outside the dumped tree; sent again, it would lose its source", of->owner_fd,
				      uname_str(u->name, u->namelen, a, sizeof(a)),
				      uname_str(msg->from, msg->fromlen, b, sizeof(b)));
		s = ft->of[msg->sender].unx;
		/* A sender connected elsewhere cannot send to this socket. */
		if ((s->peer >= 0 && s->peer != i) || (s->peer < 0 && s->peer_namelen))
			return refuse(of->owner_pid, "fd %d: unix datagram socket %s has a datagram queued from %s, "
				      "which is now connected to another socket and cannot send it again", of->owner_fd,
				      uname_str(u->name, u->namelen, a, sizeof(a)),
				      uname_str(msg->from, msg->fromlen, b, sizeof(b)));
		if (s->peer != i && !u->namelen)
			return refuse(of->owner_pid, "fd %d: unnamed unix datagram socket has datagrams it cannot be "
				      "sent again", of->owner_fd);
	}
	return 0;
}

/* Each file in flight: the table's entry for it, dumped now if no process
 * holds it (its only reference is in flight).  Those may be unix sockets
 * with files in flight of their own: the table grows as it is walked. */
static int resolve_in_flight(struct tree *t, struct img *im)
{
	for (int i = 0; i < t->files.n; i++) {
		struct proc_state *ps = NULL;
		if (t->files.of[i].kind != FK_UNIX)
			continue;
		for (int k = 0; k < t->nprocs; k++)
			if (t->procs[k].pid == t->files.of[i].unx->holder)
				ps = &t->procs[k];
		for (int m = 0; m < t->files.of[i].unx->nq; m++) {
			struct unix_msg *msg = &t->files.of[i].unx->q[m];	/* of[] moves as it grows */
			if (!msg->nfds)
				continue;
			if (!ps)
				return fail("unix socket %d of the table has no process", i);
			msg->refs = xmalloc(msg->nfds * sizeof(int));
			for (int k = 0; k < msg->nfds; k++) {
				int fd = msg->fds[k], r;
				msg->fds[k] = -1;
				r = files_dump_held(ps, im, fd);
				msg = &t->files.of[i].unx->q[m];
				if (r < 0)
					return -1;
				msg->refs[k] = r;
			}
		}
	}
	return 0;
}

int unix_dump_finish(struct tree *t, struct img *im)
{
	struct file_table *ft = &t->files;
	if (resolve_in_flight(t, im) < 0 || find_pending(ft) < 0)
		return -1;
	/* A connection whose peer was closed has no peer left to name (its
	 * inode went with its file), and closing shut it both ways: what
	 * remains is its queue, then EOF.  One waiting in the queue of a
	 * listener outside has no peer inode either, and is not shut. */
	for (int i = 0; i < ft->n; i++) {
		struct unix_sk *u = ft->of[i].unx;
		char a[200];
		if (ft->of[i].kind != FK_UNIX || u->type == SOCK_DGRAM || u->state != 1 || u->peer_ino ||
		    u->pending_on >= 0)
			continue;
		if (u->shutdown != 3)
			return refuse(ft->of[i].owner_pid, "fd %d: unix %s socket is connected to %s, a listener "
				      "outside the dumped tree that has not accepted it yet; ferry cannot carry "
				      "that connection", ft->of[i].owner_fd, type_str(u->type),
				      uname_str(u->peer_name, u->peer_namelen, a, sizeof(a)));
		u->ended = 1;
	}
	for (int i = 0; i < ft->n; i++) {
		struct ofile *of = &ft->of[i];
		struct unix_sk *u = of->unx;
		char a[200], b[200];
		if (of->kind != FK_UNIX || !u->peer_ino || u->pending_on >= 0)
			continue;
		for (int k = 0; k < ft->n; k++)
			if (ft->of[k].kind == FK_UNIX && ft->of[k].ino == u->peer_ino)
				u->peer = k;
		if (u->peer >= 0) {
			struct unix_sk *p = ft->of[u->peer].unx;
			if (u->type == SOCK_DGRAM && !p->namelen && (p->peer_ino != of->ino || u->namelen))
				return refuse(of->owner_pid, "fd %d: unix datagram socket %s is connected to an unnamed "
					      "socket that is not its unnamed pair; that cannot be made again",
					      of->owner_fd, uname_str(u->name, u->namelen, a, sizeof(a)));
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
			      "tree; ferry cannot carry that connection", of->owner_fd, type_str(u->type),
			    uname_str(u->name, u->namelen, a, sizeof(a)),
			    uname_str(u->peer_name, u->peer_namelen, b, sizeof(b)));
	}
	for (int i = 0; i < ft->n; i++) {
		struct ofile *of = &ft->of[i];
		struct unix_sk *u = of->unx, *p;
		char a[200];
		if (of->kind != FK_UNIX)
			continue;
		if (u->type == SOCK_DGRAM && dgram_senders(ft, i) < 0)
			return -1;
		/* A connection is rebuilt through its listener, or as a pair of
		 * unnamed sockets; a pair one end of which was bound after
		 * socketpair() is neither. */
		p = u->peer >= 0 ? ft->of[u->peer].unx : NULL;
		if (p && u->type != SOCK_DGRAM && u->accepted_from < 0 && p->accepted_from < 0 &&
		    (u->namelen || p->namelen))
			return refuse(of->owner_pid, "fd %d: unix %s socket %s is one end of a pair bound after it "
				      "was made, which ferry cannot make again", of->owner_fd, type_str(u->type),
				      uname_str(u->name, u->namelen, a, sizeof(a)));
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
		if (u->q[i].nfds) {
			json_t *f = json_array();
			for (int k = 0; k < u->q[i].nfds; k++)
				json_array_append_new(f, json_integer(u->q[i].refs[k]));
			json_object_set_new(m, "files", f);
		}
		if (u->q[i].sender >= 0)
			json_object_set_new(m, "sender", json_integer(u->q[i].sender));
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
	json_object_set_new(o, "shutdown", json_integer(u->shutdown));
	if (u->deleted)
		json_object_set_new(o, "deleted", json_true());
	if (u->dir)
		json_object_set_new(o, "dir", json_string(u->dir));
	if (u->has_file)
		json_object_set_new(o, "file", json_pack("{s:i,s:i,s:i}", "mode", u->mode, "uid", u->uid, "gid", u->gid));
	if (u->pending_on >= 0)
		json_object_set_new(o, "pending", json_pack("[i,i]", u->pending_on, u->pending_pos));
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
	u->deleted = json_is_true(json_object_get(o, "deleted"));
	u->shutdown = json_integer_value(json_object_get(o, "shutdown")) & 3;
	u->pending_on = -1;
	if ((m = json_object_get(o, "dir"))) {
		if (!json_is_string(m) || json_string_value(m)[0] != '/')
			return fail("image %s is corrupt: unix socket directory", jctx);
		u->dir = xstrdup(json_string_value(m));
	}
	if ((m = json_object_get(o, "file"))) {
		u->has_file = 1;
		u->mode = json_integer_value(json_object_get(m, "mode")) & 07777;
		u->uid = json_integer_value(json_object_get(m, "uid"));
		u->gid = json_integer_value(json_object_get(m, "gid"));
	}
	if ((m = json_object_get(o, "pending"))) {
		u->pending_on = json_integer_value(json_array_get(m, 0));
		u->pending_pos = json_integer_value(json_array_get(m, 1));
		if (!json_is_array(m) || u->pending_on < 0 || u->pending_on >= nfiles)
			return fail("image %s is corrupt: unix pending connection", jctx);
	}
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
		json_t *c = json_object_get(m, "cred"), *snd = json_object_get(m, "sender"), *f;
		u->q[i].sender = snd ? json_integer_value(snd) : -1;
		if (u->q[i].sender < -1 || u->q[i].sender >= nfiles)
			return fail("image %s is corrupt: unix message sender", jctx);
		if ((f = json_object_get(m, "files"))) {
			size_t k;
			json_t *r;
			if (!json_is_array(f) || !json_array_size(f) || json_array_size(f) > 253)
				return fail("image %s is corrupt: unix message files", jctx);
			u->q[i].nfds = json_array_size(f);
			u->q[i].refs = xmalloc(u->q[i].nfds * sizeof(int));
			json_array_foreach(f, k, r) {
				u->q[i].refs[k] = json_integer_value(r);
				if (!json_is_integer(r) || u->q[i].refs[k] < 0 || u->q[i].refs[k] >= nfiles)
					return fail("image %s is corrupt: unix message file", jctx);
			}
		}
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
	for (int i = 0; i < of->unx->nq; i++) {
		struct unix_msg *m = &of->unx->q[i];
		for (int k = 0; m->fds && k < m->nfds; k++)
			if (m->fds[k] >= 0)
				close(m->fds[k]);
		free(m->fds);
		free(m->refs);
		free(m->data);
	}
	free(of->unx->q);
	free(of->unx->icons);
	free(of->unx->dir);
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

/* bind or connect fd to name as the process did it: a relative name from
 * the directory it was made in (ferry's cwd is put back after). */
static int name_op(int fd, const uint8_t *name, int len, const char *dir, int conn)
{
	struct sockaddr_un sa;
	socklen_t sl = mkaddr(&sa, name, len);
	int here = -1, ret, e;
	if (dir) {
		here = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (here < 0 || chdir(dir) < 0) {
			if (here >= 0)
				close(here);
			return -1;
		}
	}
	ret = conn ? connect(fd, (struct sockaddr *)&sa, sl) : bind(fd, (struct sockaddr *)&sa, sl);
	e = errno;
	if (here >= 0) {
		if (fchdir(here) < 0)
			ret = -1, e = errno;
		close(here);
	}
	errno = e;
	return ret;
}

static int bind_name(int fd, const struct unix_sk *u, const char *what)
{
	char a[200], path[PATH_MAX + NAME_MAX_LEN + 2];
	struct stat st;
	if (!u->namelen)
		return 0;
	if (u->name[0])
		snprintf(path, sizeof(path), "%s%s%.*s", u->dir ? u->dir : "", u->dir ? "/" : "", u->namelen, u->name);
	/* The dead source left its socket file behind; a socket file only.  A
	 * path deleted at dump must be free: something else made it since. */
	if (u->name[0] && !u->deleted && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	if (name_op(fd, u->name, u->namelen, u->dir, 0) < 0)
		return fail_errno("%s: cannot bind to %s%s", what, uname_str(u->name, u->namelen, a, sizeof(a)),
				  u->deleted ? " (deleted since the bind, and taken again here)" : "");
	if (u->deleted && unlink(path) < 0)
		return fail_errno("%s: cannot remove %s again", what, path);
	if (u->has_file && (chmod(path, u->mode) < 0 || lchown(path, u->uid, u->gid) < 0))
		return fail_errno("%s: cannot set the mode and owner of %s", what, path);
	return 0;
}

int unix_is_listener(const struct ofile *of)
{
	return of->unx->state == ST_LISTEN;
}

/* A datagram socket that is made on its own: bound in the first pass, so
 * that every name exists, and connected in the next. */
static int dgram_alone(const struct tree *t, const struct unix_sk *u)
{
	const struct unix_sk *p = u->peer >= 0 ? t->files.of[u->peer].unx : NULL;
	return u->type == SOCK_DGRAM && !(p && !u->namelen && !p->namelen);
}

/* Connects the clients waiting in listener l's queue, in their order. */
static int connect_pending(struct tree *t, int l, const char *what)
{
	struct ofile *lis = &t->files.of[l];
	char a[200];
	for (int pos = 0;; pos++) {
		int found = 0;
		for (int i = 0; i < t->files.n; i++) {
			struct ofile *of = &t->files.of[i];
			struct unix_sk *u = of->unx;
			if (of->kind != FK_UNIX || u->pending_on != l || u->pending_pos != pos)
				continue;
			found = 1;
			u->made = 1;
			of->rfd = socket(AF_UNIX, u->type | SOCK_CLOEXEC, 0);
			if (of->rfd < 0 || bind_name(of->rfd, u, what) < 0)
				return fail_errno("%s: cannot create the socket", what);
			if (name_op(of->rfd, lis->unx->name, lis->unx->namelen, lis->unx->dir, 1) < 0)
				return fail_errno("%s: cannot connect again to %s to wait in its queue", what,
						  uname_str(lis->unx->name, lis->unx->namelen, a, sizeof(a)));
		}
		if (!found)
			return 0;
	}
}

int unix_prepare(struct tree *t, int idx, const char *what)
{
	struct ofile *of = &t->files.of[idx], *pof;
	struct unix_sk *u = of->unx, *p;
	int sv[2];
	char a[200];

	if (u->made)
		return 0;
	u->made = 1;
	if (u->pending_on >= 0) {
		u->made = 0;	/* with the others of its listener, after the accepted ones */
		return 0;
	}
	if (dgram_alone(t, u)) {
		of->rfd = socket(AF_UNIX, u->type | SOCK_CLOEXEC, 0);
		if (of->rfd < 0)
			return fail_errno("%s: cannot create the socket", what);
		return bind_name(of->rfd, u, what);
	}
	if (u->peer < 0) {
		of->rfd = socket(AF_UNIX, u->type | SOCK_CLOEXEC, 0);
		if (of->rfd < 0)
			return fail_errno("%s: cannot create the socket", what);
		if (bind_name(of->rfd, u, what) < 0)
			return -1;
		if (u->state == ST_LISTEN && listen(of->rfd, u->backlog) < 0)
			return fail_errno("%s: cannot listen", what);
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
		if (name_op(cli->rfd, lis->unx->name, lis->unx->namelen, lis->unx->dir, 1) < 0)
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
	return fail("%s: a connected named %s pair without its listener cannot be rebuilt (%s)", what,
		    type_str(u->type), uname_str(u->name, u->namelen, a, sizeof(a)));
}

/* Second pass for a datagram socket made alone: connect it to its peer's
 * name (in the tree, or outside). */
static int dgram_connect(struct tree *t, int idx, const char *what)
{
	struct unix_sk *u = t->files.of[idx].unx;
	const uint8_t *name = u->peer_name;
	int len = u->peer_namelen;
	const char *dir = NULL;
	char a[200];
	if (u->peer >= 0) {
		struct unix_sk *p = t->files.of[u->peer].unx;
		name = p->name, len = p->namelen, dir = p->dir;
	}
	if (!len)
		return 0;
	if (name_op(t->files.of[idx].rfd, name, len, dir, 1) < 0)
		return fail_errno("%s: cannot connect again to %s", what, uname_str(name, len, a, sizeof(a)));
	return 0;
}

int unix_set_options(struct ofile *of)
{
	if (of->unx->passcred && setsockopt(of->rfd, SOL_SOCKET, SO_PASSCRED, &of->unx->passcred, sizeof(int)) < 0)
		return fail_errno("cannot set SO_PASSCRED");
	return 0;
}

static int send_msg(const struct tree *t, int from, const struct unix_msg *m, const struct sockaddr_un *to,
		    socklen_t tolen)
{
	char cbuf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(253 * sizeof(int))];
	struct iovec iov = { m->data, m->len };
	struct msghdr mh = { .msg_name = (void *)to, .msg_namelen = to ? tolen : 0, .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	memset(cbuf, 0, sizeof(cbuf));
	mh.msg_control = cbuf;
	mh.msg_controllen = (m->has_cred ? CMSG_SPACE(sizeof(struct ucred)) : 0) +
			    (m->nfds ? CMSG_SPACE(m->nfds * sizeof(int)) : 0);
	c = CMSG_FIRSTHDR(&mh);
	if (m->has_cred) {
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_CREDENTIALS;
		c->cmsg_len = CMSG_LEN(sizeof(struct ucred));
		memcpy(CMSG_DATA(c), &m->cred, sizeof(struct ucred));
		c = CMSG_NXTHDR(&mh, c);
	}
	if (m->nfds) {
		/* The files in flight, as ferry made them: the sent copies are the queue's. */
		int *fds = (int *)CMSG_DATA(c);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(m->nfds * sizeof(int));
		for (int k = 0; k < m->nfds; k++)
			fds[k] = t->files.of[m->refs[k]].rfd;
	}
	if (!mh.msg_controllen)
		mh.msg_control = NULL;
	return sendmsg(from, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)m->len ? 0 : -1;
}

/* A datagram socket's queue: each from the socket it came from; from an
 * unnamed socket of ferry's when it came from an unnamed one. */
static int refill_dgram(struct tree *t, int i)
{
	struct ofile *of = &t->files.of[i];
	struct unix_sk *u = of->unx;
	struct sockaddr_un sa;
	socklen_t sl = mkaddr(&sa, u->name, u->namelen);
	int anon = -1, ret = 0, here = -1;
	if (u->dir) {
		here = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (here < 0 || chdir(u->dir) < 0)
			ret = -1;
	}
	for (int k = 0; k < u->nq && !ret; k++) {
		struct unix_msg *m = &u->q[k];
		if (m->sender >= 0) {
			struct unix_sk *s = t->files.of[m->sender].unx;
			ret = send_msg(t, t->files.of[m->sender].rfd, m, s->peer == i ? NULL : &sa, sl);
			continue;
		}
		if (anon < 0 && (anon = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
			ret = -1;
			break;
		}
		ret = send_msg(t, anon, m, &sa, sl);
	}
	if (ret)
		fail_errno("pid %d fd %d: cannot refill the unix datagram socket's queue", of->owner_pid, of->owner_fd);
	if (anon >= 0)
		close(anon);
	if (here >= 0) {
		if (fchdir(here) < 0 && !ret)
			ret = fail_errno("cannot return to ferry's directory");
		close(here);
	}
	return ret;
}

/* Writes each socket's saved queue from its peer, credentials included,
 * then shuts what was shut. */
int unix_refill(struct tree *t)
{
	for (int i = 0; i < t->files.n; i++) {
		struct ofile *of = &t->files.of[i];
		struct unix_sk *u = of->unx;
		int from;
		if (of->kind != FK_UNIX || !u->nq)
			continue;
		if (u->type == SOCK_DGRAM) {
			if (refill_dgram(t, i) < 0)
				return -1;
			continue;
		}
		from = u->peer >= 0 ? t->files.of[u->peer].rfd : of->keep;
		if (from < 0) {
			pr_warn("unix socket of pid %d fd %d: %d queued message(s) from outside senders are dropped",
				of->owner_pid, of->owner_fd, u->nq);
			continue;
		}
		for (int k = 0; k < u->nq; k++)
			if (send_msg(t, from, &u->q[k], NULL, 0) < 0)
				return fail_errno("pid %d fd %d: cannot refill the unix socket's queue", of->owner_pid,
						  of->owner_fd);
	}
	for (int i = 0; i < t->files.n; i++) {
		struct ofile *of = &t->files.of[i];
		/* sk_shutdown bits 1 (receive) and 2 (send) are shutdown()'s how + 1. */
		if (of->kind == FK_UNIX && of->unx->shutdown && !of->unx->ended && of->rfd >= 0 &&
		    shutdown(of->rfd, of->unx->shutdown - 1) < 0)
			return fail_errno("pid %d fd %d: cannot shut the unix socket down again", of->owner_pid,
					  of->owner_fd);
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
	struct unix_sk *u = of->unx;
	int alone = dgram_alone(t, u);
	(void)im;
	if (pass == FP_SOCKOPT) {
		/* Clients waiting in a queue: once every accepted one is back. */
		if (u->pending_on >= 0 && !u->made && connect_pending(t, u->pending_on, file_who(t, i)) < 0)
			return -1;
		return unix_set_options(of);
	}
	if (pass == FP_CONNECT && alone)
		return dgram_connect(t, i, file_who(t, i));
	if ((pass == FP_LISTEN) != (unix_is_listener(of) || alone))
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
