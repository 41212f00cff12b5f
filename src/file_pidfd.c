/*
 * pidfds (pidfd_open, clone with CLONE_PIDFD): of a process of the tree,
 * which restore makes again with the same PID, the restored process opens
 * one again once that process exists (its own, an ancestor's, a child's;
 * see file_proc.c), with PIDFD_NONBLOCK if it had it.  A pidfd of a process
 * that has exited and been reaped (fdinfo "Pid: -1") comes back as a pidfd
 * of a process that has exited: ferry starts one that exits at once, and
 * hands out that description.
 *
 * Limits: pidfds of processes outside the tree, of grandchildren, of
 * threads (PIDFD_THREAD), of other pid namespaces, and a pidfd of a live
 * process whose description several processes share, are refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileops.h"
#include "image.h"
#include "log.h"
#include "util.h"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

struct pidfd_file {
	pid_t pid;		/* -1: exited */
};

static pid_t pid_of(const struct ofile *of)
{
	return ((const struct pidfd_file *)of->priv)->pid;
}

static int pidfd_match(const struct fdump *d)
{
	return !strcmp(d->link, "anon_inode:[pidfd]") || !strncmp(d->link, "pidfd:", 6);
}

static int pidfd_dump(struct fdump *d, struct ofile *of)
{
	struct pidfd_file *p;
	char path[64], *s;
	const char *v;
	pid_t other;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", d->ps->hpid, d->fd);
	if (!(s = read_file(path, NULL)))
		return fail_errno("cannot read %s", path);
	v = proc_field(s, "Pid");
	of->priv = p = xzalloc(sizeof(*p));
	p->pid = v ? atoi(v) : 0;
	free(s);
	if (of->flags & PIDFD_THREAD)
		return refuse(d->ps->pid, "fd %d is a pidfd of a thread (PIDFD_THREAD); ferry cannot carry it yet",
			      d->fd);
	if (p->pid == 0 || p->pid < -1)
		return refuse(d->ps->pid, "fd %d is a pidfd of a process in another pid namespace; ferry cannot "
					  "carry it", d->fd);
	if (p->pid == -1)
		return 0;
	if (!file_pid_at_open(d->ps, p->pid))
		return refuse(d->ps->pid, "fd %d is a pidfd of process %d, which is not the process itself, an "
					  "ancestor or a child in the dumped tree; ferry cannot carry it", d->fd, p->pid);
	if ((other = file_shared_in_tree(d)))
		return refuse(d->ps->pid, "fd %d is a pidfd of process %d whose open description pid %d shares; "
					  "ferry cannot carry that yet", d->fd, p->pid, other);
	return 0;
}

static void pidfd_encode(const struct ofile *of, json_t *o)
{
	json_object_set_new(o, "pid", json_integer(pid_of(of)));
}

static int pidfd_decode(json_t *o, struct ofile *of, const struct tree *t)
{
	struct pidfd_file *p;
	long long v;
	of->priv = p = xzalloc(sizeof(*p));
	if (jget_int(o, "pid", &v) < 0)
		return -1;
	(void)t;	/* the processes are decoded after the files: validate checks */
	p->pid = v;
	return 0;
}

static int pidfd_validate(const struct tree *t, int i)
{
	pid_t pid = pid_of(&t->files.of[i]);
	if (pid == -1)
		return 0;
	for (int k = 0; k < t->nprocs; k++)
		if (t->procs[k].pid == pid)
			return 0;
	return fail("image %s is corrupt: %s is a pidfd of %d, no process of the tree", jctx, file_who(t, i), pid);
}

/* An exited process: a child that exits at once, without a signal to
 * ferry, reaped through its pidfd. */
static int pidfd_prepare(struct tree *t, struct img *im, int i, enum file_pass pass)
{
	struct ofile *of = &t->files.of[i];
	siginfo_t si;
	int pfd = -1;
	long r;
	(void)im, (void)pass;
	if (pid_of(of) != -1)
		return 0;	/* the process opens it (pidfd_open_child) */
	r = syscall(SYS_clone, CLONE_PIDFD, NULL, &pfd, NULL, 0);
	if (r < 0)
		return fail_errno("%s: cannot start a process for a pidfd of an exited one", file_who(t, i));
	if (r == 0)
		syscall(SYS_exit, 0);
	if (waitid(P_PIDFD, pfd, &si, WEXITED | __WALL) < 0) {
		close(pfd);
		return fail_errno("%s: cannot reap the process of a pidfd", file_who(t, i));
	}
	if (fcntl(pfd, F_SETFD, FD_CLOEXEC) < 0 || fcntl(pfd, F_SETFL, of->flags & O_NONBLOCK) < 0) {
		close(pfd);
		return fail_errno("%s: cannot set a pidfd's flags", file_who(t, i));
	}
	of->rfd = pfd;
	return 0;
}

static int pidfd_open_child(const struct proc_state *ps, int i)
{
	const struct ofile *of = &ps->tree->files.of[i];
	int fd;
	if (pid_of(of) == -1)
		return fcntl(of->rfd, F_DUPFD_CLOEXEC, 0);
	fd = syscall(SYS_pidfd_open, pid_of(of), of->flags & O_NONBLOCK);
	if (fd < 0)
		return fail_errno("pid %d: cannot open a pidfd of %d", ps->pid, pid_of(of));
	return fd;
}

static void pidfd_free(struct ofile *of)
{
	free(of->priv);
}

const struct file_ops pidfd_ops = {
	.name = "pidfd",
	.match = pidfd_match,
	.dump = pidfd_dump,
	.encode = pidfd_encode,
	.decode = pidfd_decode,
	.validate = pidfd_validate,
	.prepare = pidfd_prepare,
	.open_child = pidfd_open_child,
	.free = pidfd_free,
};
