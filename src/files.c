/*
 * File descriptors: the fd table with exact numbers and close-on-exec, and
 * the open file descriptions behind it (fds that share one — dup, inherited
 * — are restored sharing one, so offsets and flags stay linked).
 *
 * Kinds: regular files (path, flags, offset), files that are open but
 * deleted (their content travels in the image and comes back as an
 * unnamed O_TMPFILE in the same directory), directories, the memory
 * character devices (/dev/null, zero, full, random, urandom), and pipes and
 * FIFOs (pipes.c).  Anything else — sockets, anon-inode files such as
 * eventfd/epoll/io_uring, terminals, other devices — makes the dump refuse
 * with the pid, the fd and the kind, before anything is changed.
 *
 * Restore: ferry opens every description itself before it creates the
 * process, so a missing file fails the restore before any process exists;
 * the new process inherits them, moves them to their numbers and closes
 * everything else, so no fd number is a stray hole or a leftover.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/resource.h>
#include <unistd.h>

#include "image.h"
#include "log.h"
#include "pstate.h"
#include "util.h"

static const char *const kind_names[] = {
	[FK_REG] = "file", [FK_DIR] = "directory", [FK_CHR] = "chardev",
	[FK_DELETED] = "deleted-file", [FK_PIPE] = "pipe", [FK_FIFO] = "fifo", [FK_MEMFD] = "memfd",
	[FK_INET] = "inet", [FK_EPOLL] = "epoll", [FK_EVENTFD] = "eventfd", [FK_TIMERFD] = "timerfd",
	[FK_SIGNALFD] = "signalfd", [FK_INOTIFY] = "inotify", [FK_UNIX] = "unix", [FK_TTY] = "tty",
};

/* Kinds whose files have a path in the image. */
static int has_path(enum file_kind k)
{
	return k == FK_REG || k == FK_DIR || k == FK_CHR || k == FK_DELETED || k == FK_FIFO || k == FK_MEMFD ||
	       k == FK_TTY;
}

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

static int refuse_fd(pid_t pid, int fd, const char *what, const char *link)
{
	return refuse(pid, "fd %d is %s (%s), which ferry cannot checkpoint yet", fd, what, link);
}

static uint64_t mtime_ns(const struct stat *st)
{
	return (uint64_t)st->st_mtim.tv_sec * 1000000000ULL + st->st_mtim.tv_nsec;
}

/* Stores a deleted file's content as image blob file-N.img, once per file:
 * other descriptions of the same file share the blob (and restore makes
 * them descriptions of one new file).  The content is read through a new
 * read-only description, since the process's may be write-only. */
static int dump_deleted(struct proc_state *ps, struct img *im, struct ofile *of, int myfd, int fd)
{
	static int blobs;
	const struct file_table *ft = &ps->tree->files;
	char name[64], self[64];
	uint8_t *buf;
	int rfd;
	for (const struct ofile *k = ft->of; k < of; k++)
		if (k->kind == FK_DELETED && k->dev == of->dev && k->ino == of->ino) {
			of->blob = k->blob;
			return 0;
		}
	if (of->size > (1ULL << 32))
		return refuse(ps->pid, "fd %d is a deleted file of %" PRIu64 " bytes; too large to carry in the image",
			      fd, of->size);
	snprintf(self, sizeof(self), "/proc/self/fd/%d", myfd);
	if ((rfd = open(self, O_RDONLY | O_CLOEXEC)) < 0)
		return fail_errno("pid %d: cannot open deleted file behind fd %d for reading", ps->pid, fd);
	buf = xmalloc(of->size + 1);
	if (pread_full(rfd, buf, of->size, 0) != (ssize_t)of->size) {
		close(rfd);
		free(buf);
		return fail_errno("pid %d: cannot read deleted file behind fd %d", ps->pid, fd);
	}
	close(rfd);
	of->blob = blobs++;
	snprintf(name, sizeof(name), "file-%d.img", of->blob);
	if (img_write_blob(im, name, buf, of->size) < 0) {
		free(buf);
		return -1;
	}
	free(buf);
	return 0;
}

static int dump_one(struct proc_state *ps, struct img *im, int fd, struct ofile *of, int myfd)
{
	char link[4200], rp[4400];
	struct stat st, st2;
	size_t l;

	if (fd_link(ps->pid, fd, link, sizeof(link)) < 0 || fd_info(ps->pid, fd, &of->pos, &of->flags) < 0)
		return -1;
	if (fstat(myfd, &st) < 0)
		return fail_errno("pid %d: cannot stat fd %d", ps->pid, fd);
	of->flags &= ~O_CLOEXEC;
	of->ino = st.st_ino;
	of->rdev = st.st_rdev;
	of->size = st.st_size;
	of->mode = st.st_mode;
	of->mtime_ns = mtime_ns(&st);
	if (S_ISSOCK(st.st_mode)) {
		int family = 0;
		socklen_t len = sizeof(family);
		getsockopt(myfd, SOL_SOCKET, SO_DOMAIN, &family, &len);
		if (family == AF_UNIX) {
			of->kind = FK_UNIX;
			return unix_dump(ps, of, fd, myfd);
		}
		of->kind = FK_INET;
		return inet_dump(ps, of, fd, myfd);
	}
	if (!strcmp(link, "anon_inode:[eventpoll]")) {
		of->kind = FK_EPOLL;
		return epoll_dump(ps, of, fd);
	}
	if (!strcmp(link, "anon_inode:[eventfd]")) {
		of->kind = FK_EVENTFD;
		return eventfd_dump(ps, of, fd);
	}
	if (!strcmp(link, "anon_inode:[timerfd]")) {
		of->kind = FK_TIMERFD;
		return timerfd_dump(ps, of, fd, myfd);
	}
	if (!strcmp(link, "anon_inode:[signalfd]")) {
		of->kind = FK_SIGNALFD;
		return signalfd_dump(ps, of, fd);
	}
	if (!strcmp(link, "anon_inode:inotify")) {
		of->kind = FK_INOTIFY;
		return inotify_dump(ps, of, fd);
	}
	if (!strncmp(link, "anon_inode:", 11)) {
		const char *k = link + 11;
		return refuse_fd(ps->pid, fd, k[0] == '[' ? k : "an anonymous-inode file", link);
	}
	switch (st.st_mode & S_IFMT) {
	case S_IFREG:
		l = strlen(link);
		if (!strncmp(link, "/memfd:", 7)) {
			of->kind = FK_MEMFD;
			if (shm_note(ps->tree, myfd, link, &of->shm) < 0)
				return -1;
			if (l > 10 && !strcmp(link + l - 10, " (deleted)"))
				link[l - 10] = 0;
			of->path = xstrdup(link);
			return 0;
		}
		if (st.st_nlink == 0 || (l > 10 && !strcmp(link + l - 10, " (deleted)"))) {
			if (st.st_nlink)
				return refuse(ps->pid, "fd %d is %s, a file deleted under that name but still linked "
						       "elsewhere (%ju links); a copy would not be that other name's file",
					      fd, link, (uintmax_t)st.st_nlink);
			if (l > 10 && !strcmp(link + l - 10, " (deleted)"))
				link[l - 10] = 0;
			of->kind = FK_DELETED;
			of->path = xstrdup(link);
			return dump_deleted(ps, im, of, myfd, fd);
		}
		of->kind = FK_REG;
		break;
	case S_IFDIR:
		of->kind = FK_DIR;
		break;
	case S_IFCHR:
		if (tty_is_terminal(&st)) {
			if (tty_dump(ps, of, fd, link, &st) < 0)
				return -1;
			of->path = xstrdup(link);
			return 0;
		}
		if (major(st.st_rdev) != 1 || !minor(st.st_rdev) || !strchr("\x03\x05\x07\x08\x09", minor(st.st_rdev)))
			return refuse_fd(ps->pid, fd, "a character device", link);
		of->kind = FK_CHR;
		break;
	case S_IFIFO:
		of->kind = !strncmp(link, "pipe:", 5) ? FK_PIPE : FK_FIFO;
		if (of->kind == FK_FIFO)
			of->path = xstrdup(link);
		return pipe_dump(ps, of, fd, myfd);
	default:
		return refuse_fd(ps->pid, fd, "a file of a kind ferry does not know", link);
	}
	if (link[0] != '/')
		return refuse_fd(ps->pid, fd, "a file without a path", link);
	/* The path must lead to this very file, or restore would open another. */
	snprintf(rp, sizeof(rp), "%s%s", ps->root_prefix, link);
	if (stat(rp, &st2) < 0 || st2.st_ino != st.st_ino || st2.st_dev != st.st_dev)
		return refuse(ps->pid, "fd %d is %s, but that path now names another file (or none)", fd, link);
	of->path = xstrdup(link);
	return 0;
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

	if (list_fds(ps->pid, &fds, &n) < 0)
		return -1;
	fs->fds = xzalloc((n + 1) * sizeof(*fs->fds));
	for (int i = 0; i < n; i++) {
		char path[64], *s;
		const char *p;
		struct stat st;
		int shared, myfd;
		struct ofile *of;

		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", ps->pid, fds[i]);
		if (!(s = read_file(path, NULL))) {
			fail_errno("cannot read %s", path);
			goto out;
		}
		p = proc_field(s, "flags");
		fs->fds[i].fd = fds[i];
		fs->fds[i].cloexec = p && (strtoul(p, NULL, 8) & O_CLOEXEC);
		free(s);
		fs->nfds = i + 1;
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", ps->pid, fds[i]);
		if (stat(path, &st) < 0) {
			fail_errno("pid %d: cannot stat fd %d", ps->pid, fds[i]);
			goto out;
		}
		if ((shared = find_shared(ft, ps->pid, fds[i], &st)) >= 0) {
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
		of->owner_pid = ps->pid;
		of->owner_fd = fds[i];
		of->dev = st.st_dev;
		of->blob = of->rfd = of->keep = -1;
		fs->fds[i].ofile = ft->n;
		/* Counted before it is filled: a half-dumped entry (a socket left
		 * in repair mode, buffers) is then undone and freed like the rest. */
		ft->n++;
		ret = dump_one(ps, im, fds[i], of, myfd);
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
		json_t *o = json_pack("{s:s,s:o,s:I,s:o,s:I,s:I}", "kind", kind_names[of->kind], "flags",
				      jhex(of->flags), "pos", (json_int_t)of->pos, "mode", jhex(of->mode), "size",
				      (json_int_t)of->size, "mtime_ns", (json_int_t)of->mtime_ns);
		if (of->path)
			json_object_set_new(o, "path", jstr(of->path));
		if (of->kind == FK_CHR)
			json_object_set_new(o, "rdev", jhex(of->rdev));
		if (of->blob >= 0)
			json_object_set_new(o, "blob", json_integer(of->blob));
		if (of->kind == FK_MEMFD)
			json_object_set_new(o, "shmem", json_integer(of->shm));
		if (of->kind == FK_INET)
			inet_encode(of, o);
		if (of->kind == FK_EPOLL)
			epoll_encode(of, o);
		if (of->kind == FK_EVENTFD)
			eventfd_encode(of, o);
		if (of->kind == FK_TIMERFD)
			timerfd_encode(of, o);
		if (of->kind == FK_SIGNALFD)
			signalfd_encode(of, o);
		if (of->kind == FK_INOTIFY)
			inotify_encode(of, o);
		if (of->kind == FK_UNIX)
			unix_encode(of, o);
		if (of->kind == FK_PIPE || of->kind == FK_FIFO)
			pipe_encode(of, o);
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
	json_array_foreach(files, i, o) {
		struct ofile *of = &ft->of[i];
		const char *kind, *path;
		uint64_t u;
		long long v;
		size_t k;
		of->blob = -1;
		of->rfd = -1;
		of->keep = -1;
		if (jget_str(o, "kind", &kind) < 0 || jget_u64(o, "flags", &u) < 0)
			return -1;
		of->flags = u;
		of->kind = (enum file_kind)-1;
		for (k = 0; k < ARRAY_SIZE(kind_names); k++)
			if (!strcmp(kind, kind_names[k]))
				of->kind = k;
		if ((int)of->kind < 0)
			return fail("image %s: unknown file kind \"%s\"", jctx, kind);
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
		if (of->kind == FK_MEMFD) {
			if (jget_int(o, "shmem", &v) < 0)
				return -1;
			if (v < 0 || v >= t->nshm)
				return fail("image %s is corrupt: file %zu names shared memory %lld", jctx, i, v);
			of->shm = v;
		}
		if (of->kind == FK_INET && inet_decode(o, of) < 0)
			return -1;
		if ((of->kind == FK_EPOLL && epoll_decode(o, of) < 0) ||
		    (of->kind == FK_EVENTFD && eventfd_decode(o, of) < 0) ||
		    (of->kind == FK_TIMERFD && timerfd_decode(o, of) < 0) ||
		    (of->kind == FK_SIGNALFD && signalfd_decode(o, of) < 0) ||
		    (of->kind == FK_INOTIFY && inotify_decode(o, of) < 0) ||
		    (of->kind == FK_UNIX && unix_decode(o, of, ft->n) < 0))
			return -1;
		if (has_path(of->kind)) {
			if (jget_str(o, "path", &path) < 0)
				return -1;
			of->path = xstrdup(path);
		}
		if (of->kind == FK_CHR && jget_u64(o, "rdev", &of->rdev) < 0)
			return -1;
		if (of->kind == FK_DELETED) {
			if (jget_int(o, "blob", &v) < 0)
				return -1;
			of->blob = v;
		}
		if ((of->kind == FK_PIPE || of->kind == FK_FIFO) && pipe_decode(o, of) < 0)
			return -1;
	}
	return locks_decode(j, t);
}

void files_table_free(struct tree *t)
{
	for (int i = 0; i < t->files.n; i++) {
		struct ofile *of = &t->files.of[i];
		free(of->path);
		free(of->data);
		free(of->ep);
		for (int k = 0; k < of->niw; k++)
			free(of->iw[k].path);
		free(of->iw);
		inet_free(of);
		unix_free(of);
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
		if (!ps->tree->files.of[f].owner_pid) {	/* for messages */
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

/* "pid P fd F" of some fd using file description i, for messages. */
static const char *who(const struct tree *t, int i)
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
		const struct ofile *of = &t->files.of[i];
		struct stat st;
		char *dir;
		switch (of->kind) {
		case FK_REG:
		case FK_DIR:
		case FK_CHR:
		case FK_FIFO:
			if (stat(of->path, &st) < 0)
				return fail_errno("%s had %s open, which is missing here", who(t, i), of->path);
			if ((st.st_mode & S_IFMT) != (of->mode & S_IFMT))
				return fail("%s had %s open as a %s; it is now another kind of file", who(t, i), of->path,
					    kind_names[of->kind]);
			if (of->kind == FK_CHR && st.st_rdev != of->rdev)
				return fail("%s had device %s open; here it is another device", who(t, i), of->path);
			break;
		case FK_DELETED:
			dir = xstrdup(of->path);
			if (stat(dirname(dir), &st) < 0 || !S_ISDIR(st.st_mode)) {
				fail("%s had deleted file %s open; its directory is missing here", who(t, i), of->path);
				free(dir);
				return -1;
			}
			free(dir);
			break;
		case FK_INOTIFY:
			if (inotify_validate(of) < 0)
				return -1;
			break;
		case FK_PIPE:
		case FK_MEMFD:
		case FK_EPOLL:
		case FK_UNIX:
		case FK_TTY:
		case FK_EVENTFD:
		case FK_TIMERFD:
		case FK_SIGNALFD:
			break;
		case FK_INET:
			break;	/* inet_validate */
		}
	}
	return tty_validate(t) < 0 || locks_validate(t) < 0 ? -1 : inet_validate(t);
}

/* Recreates a deleted file as an unnamed file in the same directory, once
 * per file: a description sharing the blob of an earlier one is another
 * description of that new file. */
static int open_deleted(struct tree *t, struct img *im, int i)
{
	struct ofile *of = &t->files.of[i];
	char *dir, name[64], self[64];
	size_t len;
	void *data;
	int tfd, fd, own = 0;

	for (int k = 0; k < i; k++)
		if (t->files.of[k].kind == FK_DELETED && t->files.of[k].blob == of->blob && t->files.of[k].rfd >= 0) {
			tfd = t->files.of[k].rfd;
			goto reopen;
		}
	own = 1;
	dir = xstrdup(of->path);
	snprintf(name, sizeof(name), "file-%d.img", of->blob);
	tfd = open(dirname(dir), O_TMPFILE | O_RDWR | O_CLOEXEC, of->mode & 07777);
	free(dir);
	if (tfd < 0)
		return fail_errno("%s: cannot recreate deleted file %s in its directory", who(t, i), of->path);
	if (!(data = img_map(im, name, &len))) {
		close(tfd);
		return -1;
	}
	if (len != of->size || write_full(tfd, data, len) < 0) {
		img_unmap(im, data, len);
		close(tfd);
		return fail_errno("%s: cannot write recreated deleted file %s", who(t, i), of->path);
	}
	img_unmap(im, data, len);
reopen:
	snprintf(self, sizeof(self), "/proc/self/fd/%d", tfd);
	fd = open(self, (of->flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_CLOEXEC);
	if (own)
		close(tfd);
	if (fd < 0)
		return fail_errno("%s: cannot reopen recreated deleted file %s", who(t, i), of->path);
	return fd;
}

/* Sockets in an order where binds cannot collide: listeners first. */
static int prepare_sockets(struct tree *t)
{
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < t->files.n; i++) {
			struct ofile *of = &t->files.of[i];
			int listener;
			if (of->kind != FK_INET && of->kind != FK_UNIX)
				continue;
			listener = of->kind == FK_INET ? inet_is_listener(of) : unix_is_listener(of);
			if ((pass == 0) != listener)
				continue;
			if (of->kind == FK_INET ? inet_prepare(t, of) < 0 : unix_prepare(t, i, who(t, i)) < 0)
				return -1;
		}
	/* Flags last: a pair is made when its first end comes up. */
	for (int i = 0; i < t->files.n; i++) {
		struct ofile *of = &t->files.of[i];
		if (of->kind != FK_INET && of->kind != FK_UNIX)
			continue;
		if (of->kind == FK_UNIX && unix_set_options(of) < 0)
			return -1;
		if (fcntl(of->rfd, F_SETFL, of->flags) < 0)
			return fail_errno("%s: cannot set the socket's file flags", who(t, i));
	}
	return 0;
}

int files_prepare(struct tree *t, struct img *im)
{
	if (prepare_sockets(t) < 0)
		return -1;
	for (int i = 0; i < t->files.n; i++) {
		struct ofile *of = &t->files.of[i];
		int fd = -1;
		switch (of->kind) {
		case FK_INET:
		case FK_UNIX:
			continue;
		case FK_TTY:
			if (tty_prepare(of) < 0)
				return -1;
			continue;
		case FK_EPOLL:
		case FK_EVENTFD:
		case FK_TIMERFD:
		case FK_SIGNALFD:
		case FK_INOTIFY:
			if ((of->kind == FK_EPOLL ? epoll_prepare : of->kind == FK_EVENTFD ? eventfd_prepare
			     : of->kind == FK_TIMERFD ? timerfd_prepare : of->kind == FK_SIGNALFD ? signalfd_prepare
			     : inotify_prepare)(of) < 0)
				return -1;
			if (fcntl(of->rfd, F_SETFL, of->flags) < 0)
				return fail_errno("%s: cannot set file flags", who(t, i));
			continue;
		case FK_REG:
		case FK_DIR:
		case FK_CHR:
			fd = open(of->path, (of->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY)) | O_CLOEXEC | O_NOCTTY);
			if (fd < 0)
				return fail_errno("%s: cannot open %s", who(t, i), of->path);
			break;
		case FK_DELETED:
			if ((fd = open_deleted(t, im, i)) < 0)
				return -1;
			break;
		case FK_PIPE:
		case FK_FIFO:
			if (pipe_prepare(t, of) < 0)
				return -1;
			continue;
		case FK_MEMFD: {
			/* Another description of the object shmem.c made. */
			char self[64];
			snprintf(self, sizeof(self), "/proc/self/fd/%d", t->shm[of->shm].rfd);
			fd = open(self, (of->flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_CLOEXEC);
			if (fd < 0)
				return fail_errno("%s: cannot open memfd %s", who(t, i), of->path);
			break;
		}
		}
		if (of->kind != FK_CHR && lseek(fd, of->pos, SEEK_SET) < 0 && errno != ESPIPE) {
			close(fd);
			return fail_errno("%s: cannot seek %s to %" PRIu64, who(t, i), of->path, of->pos);
		}
		of->rfd = fd;
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
		tmp[i] = fcntl(ft->of[i].rfd, F_DUPFD_CLOEXEC, high);
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
	pipes_release();
}
