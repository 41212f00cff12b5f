/*
 * File descriptors: the fd table with exact numbers and close-on-exec, and
 * the open file descriptions behind it (fds that share one — dup, inherited
 * — are restored sharing one, so offsets and flags stay linked).
 *
 * This file holds only what every description has (kind, status flags,
 * offset, mode, path, identity, the fds ferry holds for it) and the loops
 * that drive the kinds: each kind of file is a module behind a struct
 * file_ops (fileops.h, table in filekinds.c) with its own state in
 * of->priv.  Dump asks the kinds in table order which one an fd is; an fd
 * no kind takes (io_uring and other anonymous-inode files, block devices,
 * ...) makes the dump refuse with the pid, the fd and the kind, before
 * anything is changed.  File locks are locks.c's, table-wide.
 *
 * Restore: ferry opens every description itself before it creates the
 * process (in the kinds' passes: sockets that listen, then the others,
 * then the rest), so a missing file fails the restore before any process
 * exists; the new process inherits them, moves them to their numbers and
 * closes everything else, so no fd number is a stray hole or a leftover.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fileops.h"
#include "image.h"
#include "log.h"
#include "pstate.h"
#include "util.h"

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

static int list_fds(pid_t pid, int **fds, int *n)
{
	char path[64];
	struct dirent *de;
	int cap = 16, cnt = 0;
	DIR *d;
	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	if (!(d = opendir(path)))
		return fail_errno("cannot list %s", path);
	*fds = xmalloc(cap * sizeof(int));
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (cnt == cap)
			*fds = xrealloc(*fds, (cap *= 2) * sizeof(int));
		(*fds)[cnt++] = atoi(de->d_name);
	}
	closedir(d);
	qsort(*fds, cnt, sizeof(int), cmp_int);
	*n = cnt;
	return 0;
}

static int fd_link(pid_t pid, int fd, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
	n = readlink(path, buf, len - 1);
	if (n < 0)
		return fail_errno("pid %d: cannot read link of fd %d", pid, fd);
	buf[n] = 0;
	return 0;
}

static int fd_info(pid_t pid, int fd, uint64_t *pos, int *flags)
{
	char path[64], *s;
	const char *p;
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	if (!(s = read_file(path, NULL)))
		return fail_errno("cannot read %s", path);
	p = proc_field(s, "pos");
	*pos = p ? strtoull(p, NULL, 10) : 0;
	p = proc_field(s, "flags");
	*flags = p ? (int)strtoul(p, NULL, 8) : 0;
	free(s);
	return 0;
}

int file_refuse(const struct fdump *d, const char *what)
{
	return refuse(d->ps->pid, "fd %d is %s (%s), which ferry cannot checkpoint yet", d->fd, what, d->link);
}

int file_strip_deleted(char *link)
{
	size_t l = strlen(link);
	if (l > 10 && !strcmp(link + l - 10, " (deleted)")) {
		link[l - 10] = 0;
		return 1;
	}
	return 0;
}

static uint64_t mtime_ns(const struct stat *st)
{
	return (uint64_t)st->st_mtim.tv_sec * 1000000000ULL + st->st_mtim.tv_nsec;
}

/* F_SETOWN/F_SETOWN_EX and F_SETSIG, which every kind of file has (O_ASYNC
 * is in the flags).  The process that places the description sets them
 * again, so the owner must exist by then (file_pid_at_open). */
static int sigio_dump(const struct fdump *d, struct ofile *of)
{
	struct f_owner_ex ex;
	const struct proc_state *q = NULL;
	if (of->flags & O_PATH)
		return 0;	/* no owner, and fcntl refuses to say so */
	if (fcntl(d->myfd, F_GETOWN_EX, &ex) < 0 || (of->sigio_sig = fcntl(d->myfd, F_GETSIG)) < 0)
		return fail_errno("pid %d: cannot read the owner of fd %d", d->ps->pid, d->fd);
	of->sigio_type = ex.type;
	of->sigio_id = ex.pid;
	if (!ex.pid)
		return 0;
	for (int i = 0; i < d->ps->tree->nprocs; i++)
		if (ex.type == F_OWNER_PGRP ? d->ps->tree->procs[i].pgid == ex.pid : d->ps->tree->procs[i].pid == ex.pid)
			q = &d->ps->tree->procs[i];
	if (!q || (ex.type == F_OWNER_PGRP ? ex.pid != d->ps->pgid : !file_pid_at_open(d->ps, ex.pid)))
		return refuse(d->ps->pid, "fd %d (%s) signals %s %d (F_SETOWN), which is not %s; ferry cannot "
					  "carry that yet", d->fd, d->link, ex.type == F_OWNER_PGRP ? "process group" :
					  ex.type == F_OWNER_TID ? "thread" : "process", ex.pid,
			      ex.type == F_OWNER_PGRP ? "its own process group" :
							"itself, an ancestor or a child of it in the tree");
	return 0;
}

/* fd is pid's (ps->pid, or ferry's own for a file in flight, which only
 * the kinds in `kinds` can dump: the others read the fd's /proc files) */
static int dump_one(struct proc_state *ps, struct img *im, pid_t pid, int fd, struct ofile *of, int myfd,
		    unsigned kinds)
{
	char link[4200];
	struct stat st;
	struct fdump d = { ps, im, fd, myfd, link, &st };

	if (fd_link(pid, fd, link, sizeof(link)) < 0 || fd_info(pid, fd, &of->pos, &of->flags) < 0)
		return -1;
	if (fstat(myfd, &st) < 0)
		return fail_errno("pid %d: cannot stat fd %d", ps->pid, fd);
	of->flags &= ~O_CLOEXEC;
	of->ino = st.st_ino;
	of->rdev = st.st_rdev;
	of->size = st.st_size;
	of->mode = st.st_mode;
	of->mtime_ns = mtime_ns(&st);
	if (sigio_dump(&d, of) < 0)
		return -1;
	for (int k = 0; k < FK_NR; k++)
		if (file_kinds[k]->match(&d)) {
			of->kind = k;
			if (!(kinds & (1u << k)))
				return refuse(ps->pid, "a unix socket of its has a file in flight (%s, a %s) of a kind "
					      "ferry cannot carry in flight", link, file_kinds[k]->name);
			return file_kinds[k]->dump(&d, of);
		}
	if (fdump_anon(&d)) {
		const char *k = link + 11;
		return file_refuse(&d, k[0] == '[' ? k : "an anonymous-inode file");
	}
	return file_refuse(&d, "a file of a kind ferry does not know");
}

/* The open file description behind pid's fd, if the tree already has it. */
static int find_shared(const struct file_table *ft, pid_t pid, int fd, const struct stat *st)
{
	for (int k = 0; k < ft->n; k++) {
		const struct ofile *of = &ft->of[k];
		if (of->ino != st->st_ino || of->dev != st->st_dev)
			continue;
		if (syscall(SYS_kcmp, pid, of->owner_pid, KCMP_FILE, fd, of->owner_fd) == 0)
			return k;
	}
	return -1;
}

int files_dump(struct proc_state *ps, struct img *im)
{
	struct fd_state *fs = &ps->fds;
	struct file_table *ft = &ps->tree->files;
	int *fds = NULL, n = 0, ret = -1;

	if (list_fds(ps->hpid, &fds, &n) < 0)
		return -1;
	fs->fds = xzalloc((n + 1) * sizeof(*fs->fds));
	for (int i = 0; i < n; i++) {
		char path[64], *s;
		const char *p;
		struct stat st;
		int shared, myfd;
		struct ofile *of;

		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", ps->hpid, fds[i]);
		if (!(s = read_file(path, NULL))) {
			fail_errno("cannot read %s", path);
			goto out;
		}
		p = proc_field(s, "flags");
		fs->fds[i].fd = fds[i];
		fs->fds[i].cloexec = p && (strtoul(p, NULL, 8) & O_CLOEXEC);
		free(s);
		fs->nfds = i + 1;
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", ps->hpid, fds[i]);
		if (stat(path, &st) < 0) {
			fail_errno("pid %d: cannot stat fd %d", ps->pid, fds[i]);
			goto out;
		}
		if ((shared = find_shared(ft, ps->hpid, fds[i], &st)) >= 0) {
			fs->fds[i].ofile = shared;
			if (locks_dump_fd(ps, fds[i], shared, 0) < 0)
				goto out;
			continue;
		}
		myfd = syscall(SYS_pidfd_getfd, ps->pidfd, fds[i], 0);
		if (myfd < 0) {
			fail_errno("pid %d: cannot get a reference to fd %d (pidfd_getfd)", ps->pid, fds[i]);
			goto out;
		}
		ft->of = xrealloc(ft->of, (ft->n + 1) * sizeof(*ft->of));
		of = &ft->of[ft->n];
		memset(of, 0, sizeof(*of));
		of->owner_pid = ps->hpid;
		of->owner_fd = fds[i];
		of->dev = st.st_dev;
		of->kind = FK_REG;	/* until dump_one finds its kind: no state of its own */
		of->rfd = of->keep = -1;
		fs->fds[i].ofile = ft->n;
		/* Counted before it is filled: a half-dumped entry (a socket left
		 * in repair mode, buffers) is then undone and freed like the rest. */
		ft->n++;
		ret = dump_one(ps, im, ps->hpid, fds[i], of, myfd, ~0u);
		close(myfd);
		if (ret < 0)
			goto out;
		ret = -1;
		if (locks_dump_fd(ps, fds[i], ft->n - 1, 1) < 0)
			goto out;
	}
	ret = locks_dump_check(ps);
out:
	free(fds);
	return ret;
}

int files_dump_held(struct proc_state *ps, struct img *im, int myfd)
{
	struct file_table *ft = &ps->tree->files;
	struct ofile *of;
	struct stat st;
	int k;
	if (fstat(myfd, &st) < 0) {
		close(myfd);
		return fail_errno("pid %d: cannot stat a file in flight", ps->pid);
	}
	if ((k = find_shared(ft, getpid(), myfd, &st)) >= 0) {
		close(myfd);
		return k;
	}
	ft->of = xrealloc(ft->of, (ft->n + 1) * sizeof(*ft->of));
	of = &ft->of[ft->n];
	memset(of, 0, sizeof(*of));
	/* ferry is its holder: kcmp finds it by this fd, closed with the table */
	of->owner_pid = getpid();
	of->owner_fd = of->keep = myfd;
	of->dev = st.st_dev;
	of->kind = FK_REG;
	of->rfd = -1;
	k = ft->n++;
	return dump_one(ps, im, getpid(), myfd, of, myfd,
			(1u << FK_UNIX) | (1u << FK_MEMFD) | (1u << FK_DELETED) | (1u << FK_REG) | (1u << FK_DIR) |
				(1u << FK_PIPE) | (1u << FK_FIFO)) < 0 ? -1 : k;
}

void files_encode(const struct proc_state *ps, json_t *j)
{
	const struct fd_state *fs = &ps->fds;
	json_t *fds = json_array();
	for (int i = 0; i < fs->nfds; i++)
		json_array_append_new(fds, json_pack("{s:i,s:b,s:i}", "fd", fs->fds[i].fd, "cloexec",
						     fs->fds[i].cloexec, "file", fs->fds[i].ofile));
	json_object_set_new(j, "fds", fds);
}

void files_table_encode(const struct tree *t, json_t *j)
{
	const struct file_table *ft = &t->files;
	json_t *files = json_array();
	for (int i = 0; i < ft->n; i++) {
		const struct ofile *of = &ft->of[i];
		json_t *o = json_pack("{s:s,s:o,s:I,s:o,s:I,s:I}", "kind", file_kinds[of->kind]->name, "flags",
				      jhex(of->flags), "pos", (json_int_t)of->pos, "mode", jhex(of->mode), "size",
				      (json_int_t)of->size, "mtime_ns", (json_int_t)of->mtime_ns);
		if (of->path)
			json_object_set_new(o, "path", jstr(of->path));
		if (of->sigio_id || of->sigio_sig)
			json_object_set_new(o, "sigio", json_pack("{s:i,s:i,s:i}", "type", of->sigio_type, "id",
								  of->sigio_id, "sig", of->sigio_sig));
		if (file_kinds[of->kind]->encode)
			file_kinds[of->kind]->encode(of, o);
		json_array_append_new(files, o);
	}
	json_object_set_new(j, "files", files);
	locks_encode(t, j);
}

int files_table_decode(json_t *j, struct tree *t)
{
	struct file_table *ft = &t->files;
	json_t *files = jget_arr(j, "files"), *o;
	size_t i;
	if (!files)
		return -1;
	ft->n = json_array_size(files);
	ft->of = xzalloc((ft->n + 1) * sizeof(*ft->of));
	/* All of them first: a decode that fails half-way leaves entries
	 * files_table_free must not take fd 0 from. */
	for (int k = 0; k < ft->n; k++)
		ft->of[k].rfd = ft->of[k].keep = -1;
	json_array_foreach(files, i, o) {
		struct ofile *of = &ft->of[i];
		const char *kind, *path;
		uint64_t u;
		long long v;
		size_t k;
		if (jget_str(o, "kind", &kind) < 0 || jget_u64(o, "flags", &u) < 0)
			return -1;
		of->flags = u;
		for (k = 0; k < FK_NR && strcmp(kind, file_kinds[k]->name); k++)
			;
		if (k == FK_NR)
			return fail("image %s: unknown file kind \"%s\"", jctx, kind);
		of->kind = k;
		if (jget_int(o, "pos", &v) < 0)
			return -1;
		of->pos = v;
		if (jget_u64(o, "mode", &u) < 0)
			return -1;
		of->mode = u;
		if (jget_int(o, "size", &v) < 0)
			return -1;
		of->size = v;
		if (jget_int(o, "mtime_ns", &v) < 0)
			return -1;
		of->mtime_ns = v;
		if (json_object_get(o, "sigio") &&
		    json_unpack(json_object_get(o, "sigio"), "{s:i,s:i,s:i}", "type", &of->sigio_type, "id",
				&of->sigio_id, "sig", &of->sigio_sig) < 0)
			return fail("image %s is corrupt: sigio of file %zu", jctx, i);
		if (file_kinds[of->kind]->flags & FO_PATH) {
			if (jget_str(o, "path", &path) < 0)
				return -1;
			of->path = xstrdup(path);
		}
		if (file_kinds[of->kind]->decode && file_kinds[of->kind]->decode(o, of, t) < 0)
			return -1;
	}
	return locks_decode(j, t);
}

void files_table_free(struct tree *t)
{
	for (int i = 0; i < t->files.n; i++) {
		struct ofile *of = &t->files.of[i];
		free(of->path);
		if (file_kinds[of->kind]->free)
			file_kinds[of->kind]->free(of);
		of->priv = NULL;
		if (of->rfd >= 0)
			close(of->rfd);
		if (of->keep >= 0)
			close(of->keep);
	}
	free(t->files.of);
	t->files.of = NULL;
	t->files.n = 0;
	locks_free(t);
}

int files_decode(json_t *j, struct proc_state *ps)
{
	struct fd_state *fs = &ps->fds;
	json_t *fds = jget_arr(j, "fds"), *o;
	size_t i;
	if (!fds)
		return -1;
	fs->nfds = json_array_size(fds);
	fs->fds = xzalloc((fs->nfds + 1) * sizeof(*fs->fds));
	json_array_foreach(fds, i, o) {
		long long fd, f;
		if (jget_int(o, "fd", &fd) < 0 || jget_int(o, "file", &f) < 0)
			return -1;
		if (fd < 0 || fd > (1 << 20) || f < 0 || f >= ps->tree->files.n)
			return fail("image %s is corrupt: fd entry %zu", jctx, i);
		fs->fds[i].fd = fd;
		fs->fds[i].ofile = f;
		fs->fds[i].cloexec = json_is_true(json_object_get(o, "cloexec"));
		if (!ps->tree->files.of[f].owner_pid) {	/* for messages, and sigio_restore */
			ps->tree->files.of[f].owner_pid = ps->pid;
			ps->tree->files.of[f].owner_fd = fd;
		}
	}
	return 0;
}

int files_max_fd(const struct proc_state *ps)
{
	int m = -1;
	for (int i = 0; i < ps->fds.nfds; i++)
		if (ps->fds.fds[i].fd > m)
			m = ps->fds.fds[i].fd;
	return m;
}

const char *file_who(const struct tree *t, int i)
{
	static char buf[64];
	for (int p = 0; p < t->nprocs; p++)
		for (int k = 0; k < t->procs[p].fds.nfds; k++)
			if (t->procs[p].fds.fds[k].ofile == i) {
				snprintf(buf, sizeof(buf), "pid %d fd %d", t->procs[p].pid, t->procs[p].fds.fds[k].fd);
				return buf;
			}
	snprintf(buf, sizeof(buf), "file %d", i);
	return buf;
}

int files_validate(const struct tree *t)
{
	for (int i = 0; i < t->files.n; i++) {
		const struct file_ops *ops = file_kinds[t->files.of[i].kind];
		if (ops->validate && ops->validate(t, i) < 0)
			return -1;
	}
	for (int k = 0; k < FK_NR; k++)
		if (file_kinds[k]->validate_all && file_kinds[k]->validate_all(t) < 0)
			return -1;
	return locks_validate(t);
}

static unsigned passes(const struct file_ops *ops)
{
	return ops->passes ? ops->passes : FP_BIT(FP_FILES);
}

int files_prepare(struct tree *t, struct img *im)
{
	for (int pass = 0; pass < FP_NR; pass++)
		for (int i = 0; i < t->files.n; i++) {
			struct ofile *of = &t->files.of[i];
			const struct file_ops *ops = file_kinds[of->kind];
			unsigned p = passes(ops);
			if (!(p & FP_BIT(pass)))
				continue;
			if (ops->prepare(t, im, i, pass) < 0)
				return -1;
			if (p >> (pass + 1))
				continue;	/* not its last pass */
			if (of->flags & O_PATH)
				continue;	/* no flags to set, no offset */
			if ((ops->flags & FO_SETFL) && fcntl(of->rfd, F_SETFL, of->flags) < 0)
				return fail_errno("%s: cannot set the file flags", file_who(t, i));
			if ((ops->flags & FO_SEEK) && lseek(of->rfd, of->pos, SEEK_SET) < 0 && errno != ESPIPE) {
				fail_errno("%s: cannot seek %s to %" PRIu64, file_who(t, i), of->path, of->pos);
				close(of->rfd);
				of->rfd = -1;
				return -1;
			}
		}
	return locks_prepare(t);
}

static int used_by(const struct proc_state *ps, int ofile)
{
	for (int i = 0; i < ps->fds.nfds; i++)
		if (ps->fds.fds[i].ofile == ofile)
			return 1;
	return 0;
}

/* In the process that dumped it (owner_pid), once its fds are in place:
 * its owner exists now, and O_ASYNC is set through owner_fd, the number the
 * kernel reports as si_fd (it keeps the fd O_ASYNC was set through). */
static int sigio_restore(const struct proc_state *ps, const struct ofile *of)
{
	struct f_owner_ex ex = { of->sigio_type, of->sigio_id };
	int fd = of->owner_fd, fl;
	if (of->owner_pid != ps->pid || (of->flags & O_PATH))
		return 0;
	if (of->sigio_sig && fcntl(fd, F_SETSIG, of->sigio_sig) < 0)
		return fail_errno("pid %d: cannot set signal %d for fd %d", ps->pid, of->sigio_sig, fd);
	if (of->sigio_id && fcntl(fd, F_SETOWN_EX, &ex) < 0)
		return fail_errno("pid %d: cannot set fd %d's owner to %d", ps->pid, fd, of->sigio_id);
	if (!(of->flags & O_ASYNC))
		return 0;
	/* Off first: set elsewhere (ferry's own fd), the kernel keeps that number. */
	if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl & ~O_ASYNC) < 0 ||
	    fcntl(fd, F_SETFL, fl | O_ASYNC) < 0)
		return fail_errno("pid %d: cannot set O_ASYNC on fd %d", ps->pid, fd);
	return 0;
}

int files_restore_child(struct proc_state *ps, int *status_fd, int keep_fd)
{
	struct fd_state *fs = &ps->fds;
	struct file_table *ft = &ps->tree->files;
	int high = keep_fd + 64, *tmp, st;
	struct rlimit rl;

	/* Room for the temporary high fds. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* Park every description (and the status pipe) above all final numbers... */
	tmp = xmalloc((ft->n + 1) * sizeof(int));
	for (int i = 0; i < ft->n; i++) {
		tmp[i] = -1;
		if (!used_by(ps, i))
			continue;
		if (file_kinds[ft->of[i].kind]->open_child) {
			int f = file_kinds[ft->of[i].kind]->open_child(ps, i);
			if (f < 0)
				return -1;
			tmp[i] = fcntl(f, F_DUPFD_CLOEXEC, high);
			close(f);
		} else {
			tmp[i] = fcntl(ft->of[i].rfd, F_DUPFD_CLOEXEC, high);
		}
		if (tmp[i] < 0)
			return fail_errno("pid %d: cannot move file %d above fd %d", ps->pid, i, high);
	}
	/* Shared memory objects too: mem_restore_child maps them after this. */
	for (int i = 0; i < ps->tree->nshm; i++)
		if (ps->tree->shm[i].rfd >= 0 &&
		    (ps->tree->shm[i].rfd = fcntl(ps->tree->shm[i].rfd, F_DUPFD_CLOEXEC, high)) < 0)
			return fail_errno("pid %d: cannot move shared memory %d above fd %d", ps->pid, i, high);
	st = fcntl(*status_fd, F_DUPFD_CLOEXEC, high);
	if (st < 0)
		return fail_errno("pid %d: cannot move the status pipe", ps->pid);
	/* ...drop everything below: ferry's own fds, so holes stay holes... */
	if (syscall(SYS_close_range, 0, high - 1, 0) < 0)
		return fail_errno("pid %d: close_range", ps->pid);
	if (dup3(st, keep_fd, O_CLOEXEC) < 0)
		return fail_errno("pid %d: cannot place the status pipe at fd %d", ps->pid, keep_fd);
	*status_fd = keep_fd;
	/* ...put each fd at its number, and drop the parking area. */
	for (int i = 0; i < fs->nfds; i++) {
		const struct fd_entry *e = &fs->fds[i];
		if (dup3(tmp[e->ofile], e->fd, e->cloexec ? O_CLOEXEC : 0) < 0)
			return fail_errno("pid %d: cannot place fd %d", ps->pid, e->fd);
	}
	for (int i = 0; i < ft->n; i++)
		if (tmp[i] >= 0 && sigio_restore(ps, &ft->of[i]) < 0)
			return -1;
	free(tmp);
	return 0;
}

int files_drop_parking(const struct proc_state *ps, int keep_fd)
{
	if (syscall(SYS_close_range, keep_fd + 64, ~0U, 0) < 0)
		return fail_errno("pid %d: close_range", ps->pid);
	return 0;
}

void files_release(struct tree *t)
{
	for (int i = 0; i < t->files.n; i++)
		if (t->files.of[i].rfd >= 0) {
			close(t->files.of[i].rfd);
			t->files.of[i].rfd = -1;
		}
	for (int k = 0; k < FK_NR; k++)
		if (file_kinds[k]->release)
			file_kinds[k]->release();
}
