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
#include "pstate.h"
#include "util.h"

int epoll_dump(struct proc_state *ps, struct ofile *of, int fd)
{
	char path[64], *s, *p;
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", ps->pid, fd);
	if (!(s = read_file(path, NULL)))
		return fail_errno("cannot read %s", path);
	of->ep_owner = ps->pid;
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
		if (syscall(SYS_kcmp, ps->pid, ps->pid, KCMP_EPOLL_TFD, it.tfd, &slot) != 0) {
			free(s);
			return refuse(ps->pid, "epoll fd %d watches fd %d, which was closed or reused since; ferry "
					      "cannot restore that", fd, it.tfd);
		}
		of->ep = xrealloc(of->ep, (of->nep + 1) * sizeof(*of->ep));
		of->ep[of->nep++] = it;
	}
	free(s);
	return 0;
}

void epoll_encode(const struct ofile *of, json_t *j)
{
	json_t *arr = json_array();
	for (int i = 0; i < of->nep; i++)
		json_array_append_new(arr, json_pack("{s:i,s:o,s:o}", "fd", of->ep[i].tfd, "events",
						     jhex(of->ep[i].events), "data", jhex(of->ep[i].data)));
	json_object_set_new(j, "owner", json_integer(of->ep_owner));
	json_object_set_new(j, "items", arr);
}

int epoll_decode(json_t *j, struct ofile *of)
{
	json_t *arr = jget_arr(j, "items"), *o;
	long long owner;
	size_t i;
	if (!arr || jget_int(j, "owner", &owner) < 0)
		return -1;
	of->ep_owner = owner;
	of->nep = json_array_size(arr);
	of->ep = xzalloc((of->nep + 1) * sizeof(*of->ep));
	json_array_foreach(arr, i, o) {
		long long fd;
		uint64_t ev;
		if (jget_int(o, "fd", &fd) < 0 || jget_u64(o, "events", &ev) < 0 || jget_u64(o, "data", &of->ep[i].data) < 0)
			return -1;
		of->ep[i].tfd = fd;
		of->ep[i].events = ev;
	}
	return 0;
}

int epoll_prepare(struct ofile *of)
{
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
		int done = 0;
		if (of->kind != FK_EPOLL || of->ep_owner != ps->pid)
			continue;
		/* The same epoll fd may sit at several numbers: register once. */
		for (int k = 0; k < i; k++)
			done |= ps->fds.fds[k].ofile == ps->fds.fds[i].ofile;
		if (done)
			continue;
		for (int k = 0; k < of->nep; k++) {
			struct epoll_event ev = { .events = of->ep[k].events, .data.u64 = of->ep[k].data };
			if (epoll_ctl(ps->fds.fds[i].fd, EPOLL_CTL_ADD, of->ep[k].tfd, &ev) < 0)
				return fail_errno("pid %d: cannot add fd %d to epoll fd %d", ps->pid, of->ep[k].tfd,
						  ps->fds.fds[i].fd);
		}
	}
	return 0;
}
