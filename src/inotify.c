/*
 * inotify: the watches (path, mask) and their watch descriptors.
 *
 * fdinfo names each watched inode by a file handle and its filesystem's
 * device; ferry opens the handle (open_by_handle_at through a mount of
 * that device in the process's mount table) to learn the path.  At restore
 * the watches are added again in wd order; the kernel hands out wds in
 * increasing order, so a wd that would come out too small is removed and
 * added again until it is the original number.
 *
 * A watched path renamed since is found again by the handle.  A watched
 * file or directory deleted since, but held open by a process of the tree,
 * is watched again on the file restore made again for that fd (through
 * /proc/self/fd): inotify descriptions are prepared in a pass after the
 * other files (FP_LATE) for that.
 *
 * Limits: events queued but not yet read are lost; a watched file deleted
 * and held by no process of the tree (or unreachable by path) makes the
 * dump refuse.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "image.h"
#include "log.h"
#include "fileops.h"
#include "util.h"

struct ino_watch {
	int wd;
	uint32_t mask;
	char *path;		/* NULL: a deleted file, held by fd `fd` of process `pid` */
	pid_t pid;
	int fd;
};

struct inotify_file {
	struct ino_watch *iw;
	int niw;
};

/* A directory fd on a mount of filesystem sdev in pid's mount table. */
static int mount_fd(pid_t pid, unsigned sdev)
{
	char path[64], *s, *line;
	unsigned maj = sdev >> 20, min = sdev & 0xfffff;
	int fd = -1;
	snprintf(path, sizeof(path), "/proc/%d/mountinfo", pid);
	if (!(s = read_file(path, NULL)))
		return -1;
	for (line = strtok(s, "\n"); line && fd < 0; line = strtok(NULL, "\n")) {
		unsigned a, b;
		char root[4096], mnt[4096], full[8300];
		if (sscanf(line, "%*d %*d %u:%u %4095s %4095s", &a, &b, root, mnt) != 4 || a != maj || b != min)
			continue;
		snprintf(full, sizeof(full), "/proc/%d/root%s", pid, mnt);
		fd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	free(s);
	return fd;
}

char *file_handle_path(pid_t pid, unsigned sdev, int type, const char *hex)
{
	size_t n = strlen(hex) / 2;
	struct file_handle *fh = xzalloc(sizeof(*fh) + n + 1);
	char self[64], buf[4096];
	int mfd, fd;
	ssize_t len;
	fh->handle_bytes = n;
	fh->handle_type = type;
	if (hex_decode(hex, fh->f_handle, n) < 0 || (mfd = mount_fd(pid, sdev)) < 0) {
		free(fh);
		return NULL;
	}
	fd = open_by_handle_at(mfd, fh, O_PATH | O_CLOEXEC);
	close(mfd);
	free(fh);
	if (fd < 0)
		return NULL;
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	len = readlink(self, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return NULL;
	buf[len] = 0;
	if (strstr(buf, " (deleted)"))
		return NULL;
	return xstrdup(buf);
}

/* An fd of a process of the tree on the (deleted) inode ino of sdev. */
static int held_by(const struct tree *t, unsigned sdev, unsigned long ino, pid_t *pid, int *fd)
{
	dev_t dev = makedev(sdev >> 20, sdev & 0xfffff);
	for (int i = 0; i < t->nprocs; i++) {
		char path[300];
		struct dirent *de;
		struct stat st;
		DIR *dp;
		if (t->procs[i].zombie)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd", t->procs[i].hpid);
		if (!(dp = opendir(path)))
			continue;
		while ((de = readdir(dp))) {
			snprintf(path, sizeof(path), "/proc/%d/fd/%s", t->procs[i].hpid, de->d_name);
			if (de->d_name[0] != '.' && stat(path, &st) == 0 && st.st_ino == ino && st.st_dev == dev) {
				*pid = t->procs[i].pid;
				*fd = atoi(de->d_name);
				closedir(dp);
				return 0;
			}
		}
		closedir(dp);
	}
	return -1;
}

static int cmp_wd(const void *a, const void *b)
{
	return ((const struct ino_watch *)a)->wd - ((const struct ino_watch *)b)->wd;
}

static int inotify_match(const struct fdump *d)
{
	return !strcmp(d->link, "anon_inode:inotify");
}

static int inotify_dump(struct fdump *d, struct ofile *of)
{
	struct proc_state *ps = d->ps;
	struct inotify_file *in = of->priv = xzalloc(sizeof(*in));
	int fd = d->fd;
	char path[64], *s, *p;
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", ps->hpid, fd);
	if (!(s = read_file(path, NULL)))
		return fail_errno("cannot read %s", path);
	for (p = s; (p = strstr(p, "inotify wd:")); p++) {
		unsigned wd, sdev, mask, ign, bytes;
		int type;
		unsigned long ino;
		char hex[260];
		struct ino_watch *w;
		if (sscanf(p, "inotify wd:%x ino:%lx sdev:%x mask:%x ignored_mask:%x fhandle-bytes:%x fhandle-type:%x "
			      "f_handle:%259s", &wd, &ino, &sdev, &mask, &ign, &bytes, &type, hex) != 8) {
			free(s);
			return fail("pid %d: cannot parse the watches of inotify fd %d", ps->pid, fd);
		}
		in->iw = xrealloc(in->iw, (in->niw + 1) * sizeof(*in->iw));
		w = &in->iw[in->niw++];
		w->wd = wd;
		w->mask = mask;
		w->path = file_handle_path(ps->hpid, sdev, type, hex);
		if (!w->path && held_by(ps->tree, sdev, ino, &w->pid, &w->fd) < 0) {
			free(s);
			return refuse(ps->pid, "inotify fd %d watches inode %lu (wd %u), which ferry cannot reach by "
					      "path (deleted, and held by no process of the tree?)", fd, ino, wd);
		}
	}
	free(s);
	/* fdinfo lists newest first; restore adds them in wd order (none: in->iw
	 * is NULL, which qsort must not get) */
	if (in->niw)
		qsort(in->iw, in->niw, sizeof(*in->iw), cmp_wd);
	return 0;
}

static void inotify_encode(const struct ofile *of, json_t *j)
{
	const struct inotify_file *in = of->priv;
	json_t *arr = json_array();
	for (int i = 0; i < in->niw; i++) {
		json_t *o = json_pack("{s:i,s:o}", "wd", in->iw[i].wd, "mask", jhex(in->iw[i].mask));
		if (in->iw[i].path)
			json_object_set_new(o, "path", jstr(in->iw[i].path));
		else
			json_object_set_new(o, "held", json_pack("{s:i,s:i}", "pid", in->iw[i].pid, "fd", in->iw[i].fd));
		json_array_append_new(arr, o);
	}
	json_object_set_new(j, "watches", arr);
}

static int inotify_decode(json_t *j, struct ofile *of, const struct tree *t)
{
	struct inotify_file *in = of->priv = xzalloc(sizeof(*in));
	(void)t;
	json_t *arr = jget_arr(j, "watches"), *o;
	size_t i;
	if (!arr)
		return -1;
	in->niw = json_array_size(arr);
	in->iw = xzalloc((in->niw + 1) * sizeof(*in->iw));
	json_array_foreach(arr, i, o) {
		long long wd;
		uint64_t mask;
		const char *p = NULL;
		int pid = 0, fd = -1;
		if (jget_int(o, "wd", &wd) < 0 || jget_u64(o, "mask", &mask) < 0)
			return -1;
		if (json_object_get(o, "held") ? json_unpack(json_object_get(o, "held"), "{s:i,s:i}", "pid", &pid,
							     "fd", &fd) < 0 : jget_str(o, "path", &p) < 0)
			return fail("image %s is corrupt: inotify watch %zu", jctx, i);
		if (wd <= 0 || (i && wd <= in->iw[i - 1].wd))
			return fail("image %s is corrupt: inotify watch %zu", jctx, i);
		in->iw[i] = (struct ino_watch){ wd, mask, p ? xstrdup(p) : NULL, pid, fd };
	}
	return 0;
}

/* The deleted file (or removed directory) restore makes for w, or -1. */
static int held_file(const struct tree *t, const struct ino_watch *w)
{
	for (int p = 0; p < t->nprocs; p++)
		for (int k = 0; t->procs[p].pid == w->pid && k < t->procs[p].fds.nfds; k++)
			if (t->procs[p].fds.fds[k].fd == w->fd) {
				int f = t->procs[p].fds.fds[k].ofile;
				enum file_kind kind = t->files.of[f].kind;
				return kind == FK_DELETED || kind == FK_DELETED_DIR ? f : -1;
			}
	return -1;
}

static int inotify_validate(const struct tree *t, int idx)
{
	const struct inotify_file *in = t->files.of[idx].priv;
	for (int i = 0; i < in->niw; i++)
		if (!in->iw[i].path) {
			if (held_file(t, &in->iw[i]) < 0)
				return fail("image %s is corrupt: inotify watch %d on pid %d fd %d, no deleted file",
					    jctx, in->iw[i].wd, in->iw[i].pid, in->iw[i].fd);
		} else if (access(in->iw[i].path, F_OK) < 0)
			return fail_errno("an inotify watch (wd %d) needs %s, which is missing here", in->iw[i].wd,
					  in->iw[i].path);
	return 0;
}

static int inotify_prepare(struct tree *t, struct img *im, int idx, enum file_pass pass)
{
	struct ofile *of = &t->files.of[idx];
	const struct inotify_file *in = of->priv;
	(void)im, (void)pass;
	of->rfd = inotify_init1(IN_CLOEXEC);
	if (of->rfd < 0)
		return fail_errno("cannot create an inotify fd");
	for (int i = 0; i < in->niw; i++) {
		const struct ino_watch *w = &in->iw[i];
		char self[64];
		const char *path = w->path;
		int wd;
		if (!path) {	/* prepared in an earlier pass: its rfd is there */
			snprintf(self, sizeof(self), "/proc/self/fd/%d", t->files.of[held_file(t, w)].rfd);
			path = self;
		}
		for (;;) {
			wd = inotify_add_watch(of->rfd, path, w->mask);
			if (wd < 0)
				return fail_errno("cannot watch %s with inotify", path);
			if (wd >= w->wd)
				break;
			inotify_rm_watch(of->rfd, wd);	/* too small: the next one is larger */
		}
		if (wd != w->wd)
			return fail("cannot give the inotify watch of %s its number %d (got %d)", path, w->wd, wd);
	}
	return 0;
}

static void inotify_free(struct ofile *of)
{
	struct inotify_file *in = of->priv;
	if (!in)
		return;
	for (int k = 0; k < in->niw; k++)
		free(in->iw[k].path);
	free(in->iw);
	free(in);
}

const struct file_ops inotify_ops = {
	.name = "inotify",
	.flags = FO_SETFL,
	.passes = FP_BIT(FP_LATE),
	.match = inotify_match,
	.dump = inotify_dump,
	.encode = inotify_encode,
	.decode = inotify_decode,
	.validate = inotify_validate,
	.prepare = inotify_prepare,
	.free = inotify_free,
};
