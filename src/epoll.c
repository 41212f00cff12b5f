/*
 * epoll: an epoll fd and its interest list (fd, events, data, and the
 * EPOLLET / EPOLLONESHOT / EPOLLEXCLUSIVE flags, which live in events).
 *
 * The list comes from /proc/PID/fdinfo.  An epoll item is keyed by the file
 * and the fd number it was added with, so at restore the registrations are
 * made inside the process that owns them, after its fds are at their
 * numbers: a socket that became a closed stub is registered like any other
 * fd, and the event loop gets its EPOLLHUP at once.
 *
 * Limits: an item whose fd was closed (or reused for another file) after it
 * was added cannot be re-added under its old number and makes the dump
 * refuse.  Readiness already consumed by an edge-triggered loop may be
 * reported once more after restore.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "image.h"
#include "log.h"
#include "fileops.h"
#include "util.h"

struct epoll_item {
	int tfd;
	uint32_t events;
	uint64_t data;
};

struct epoll_file {
	struct epoll_item *ep;	/* the interest list, registered by owner */
	int nep;
	pid_t owner;
};

static int epoll_match(const struct fdump *d)
{
	return !strcmp(d->link, "anon_inode:[eventpoll]");
}

static int epoll_dump(struct fdump *d, struct ofile *of)
{
	struct proc_state *ps = d->ps;
	struct epoll_file *e = of->priv = xzalloc(sizeof(*e));
	int fd = d->fd;
	char path[64], *s, *p;
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", ps->hpid, fd);
	if (!(s = read_file(path, NULL)))
		return fail_errno("cannot read %s", path);
	e->owner = ps->pid;
	for (p = s; (p = strstr(p, "tfd:")); p++) {
		struct epoll_item it;
		unsigned long long data;
		struct kcmp_epoll_slot slot;
		if (sscanf(p, "tfd: %d events: %x data: %llx", &it.tfd, &it.events, &data) != 3) {
			free(s);
			return fail("pid %d: cannot parse the epoll items of fd %d", ps->pid, fd);
		}
		it.data = data;
		/* The item must still be the file at that fd, or it cannot be re-added. */
		slot = (struct kcmp_epoll_slot){ fd, it.tfd, 0 };
		if (syscall(SYS_kcmp, ps->hpid, ps->hpid, KCMP_EPOLL_TFD, it.tfd, &slot) != 0) {
			free(s);
			return refuse(ps->pid, "epoll fd %d watches fd %d, which was closed or reused since; ferry "
					      "cannot restore that", fd, it.tfd);
		}
		e->ep = xrealloc(e->ep, (e->nep + 1) * sizeof(*e->ep));
		e->ep[e->nep++] = it;
	}
	free(s);
	return 0;
}

static void epoll_encode(const struct ofile *of, json_t *j)
{
	const struct epoll_file *e = of->priv;
	json_t *arr = json_array();
	for (int i = 0; i < e->nep; i++)
		json_array_append_new(arr, json_pack("{s:i,s:o,s:o}", "fd", e->ep[i].tfd, "events",
						     jhex(e->ep[i].events), "data", jhex(e->ep[i].data)));
	json_object_set_new(j, "owner", json_integer(e->owner));
	json_object_set_new(j, "items", arr);
}

static int epoll_decode(json_t *j, struct ofile *of, const struct tree *t)
{
	struct epoll_file *e = of->priv = xzalloc(sizeof(*e));
	json_t *arr = jget_arr(j, "items"), *o;
	long long owner;
	size_t i;
	(void)t;
	if (!arr || jget_int(j, "owner", &owner) < 0)
		return -1;
	e->owner = owner;
	e->nep = json_array_size(arr);
	e->ep = xzalloc((e->nep + 1) * sizeof(*e->ep));
	json_array_foreach(arr, i, o) {
		long long fd;
		uint64_t ev;
		if (jget_int(o, "fd", &fd) < 0 || jget_u64(o, "events", &ev) < 0 || jget_u64(o, "data", &e->ep[i].data) < 0)
			return -1;
		e->ep[i].tfd = fd;
		e->ep[i].events = ev;
	}
	return 0;
}

static int epoll_prepare(struct tree *t, struct img *im, int i, enum file_pass pass)
{
	struct ofile *of = &t->files.of[i];
	(void)im, (void)pass;
	of->rfd = epoll_create1(EPOLL_CLOEXEC);
	if (of->rfd < 0)
		return fail_errno("cannot create an epoll fd");
	return 0;
}

int epoll_restore_child(const struct proc_state *ps)
{
	const struct file_table *ft = &ps->tree->files;
	for (int i = 0; i < ps->fds.nfds; i++) {
		const struct ofile *of = &ft->of[ps->fds.fds[i].ofile];
		const struct epoll_file *e = of->priv;
		int done = 0;
		if (of->kind != FK_EPOLL || e->owner != ps->pid)
			continue;
		/* The same epoll fd may sit at several numbers: register once. */
		for (int k = 0; k < i; k++)
			done |= ps->fds.fds[k].ofile == ps->fds.fds[i].ofile;
		if (done)
			continue;
		for (int k = 0; k < e->nep; k++) {
			struct epoll_event ev = { .events = e->ep[k].events, .data.u64 = e->ep[k].data };
			if (epoll_ctl(ps->fds.fds[i].fd, EPOLL_CTL_ADD, e->ep[k].tfd, &ev) < 0)
				return fail_errno("pid %d: cannot add fd %d to epoll fd %d", ps->pid, e->ep[k].tfd,
						  ps->fds.fds[i].fd);
		}
	}
	return 0;
}

static void epoll_free(struct ofile *of)
{
	struct epoll_file *e = of->priv;
	if (!e)
		return;
	free(e->ep);
	free(e);
}

const struct file_ops epoll_ops = {
	.name = "epoll",
	.flags = FO_SETFL,
	.match = epoll_match,
	.dump = epoll_dump,
	.encode = epoll_encode,
	.decode = epoll_decode,
	.prepare = epoll_prepare,
	.free = epoll_free,
};
