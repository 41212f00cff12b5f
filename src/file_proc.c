/*
 * /proc files held open, and namespace files.
 *
 * A file or directory under /proc/PID of a process of the tree (its own,
 * or another's) names that process, which restore makes again with the same
 * PID; it is opened in the new process itself, once it exists, just before
 * its fds are put in place, with the same flags and offset.  Then the
 * process itself, its ancestors in the tree and its children exist (a
 * child is made before its parent places its fds; grandchildren and the
 * threads other than the main one are not yet): dump refuses /proc files
 * of any other process, of a thread other than a main thread, of another
 * proc mount, and a /proc description that several processes share (each
 * opens its own).  /proc files of no process (meminfo, sys/...) are plain
 * files (file_reg.c).
 *
 * A namespace file (/proc/PID/ns/TYPE, link "TYPE:[INODE]") of one of
 * ferry's own (the host's) namespaces is opened again as ferry's; one of
 * any other namespace is refused until ferry carries namespaces.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/kcmp.h>

#include "fileops.h"
#include "image.h"
#include "log.h"
#include "util.h"

/* The pid in /proc/PID/..., else 0; *tid the one in .../task/TID (or PID). */
static pid_t proc_pid_of(const char *path, pid_t *tid)
{
	char *end;
	long pid, t;
	if (strncmp(path, "/proc/", 6) || path[6] < '1' || path[6] > '9')
		return 0;
	pid = strtol(path + 6, &end, 10);
	if (*end && *end != '/')
		return 0;
	t = pid;
	if (!strncmp(end, "/task/", 6) && end[6] >= '1' && end[6] <= '9')
		t = strtol(end + 6, NULL, 10);
	*tid = t;
	return pid;
}

static const struct proc_state *tree_proc(const struct tree *t, pid_t pid)
{
	for (int i = 0; i < t->nprocs; i++)
		if (t->procs[i].pid == pid)
			return &t->procs[i];
	return NULL;
}

int file_pid_at_open(const struct proc_state *ps, pid_t pid)
{
	const struct tree *t = ps->tree;
	const struct proc_state *q = tree_proc(t, pid);
	if (!q)
		return 0;
	for (const struct proc_state *a = ps; a; a = a->pid == a->ppid ? NULL : tree_proc(t, a->ppid))
		if (a->pid == pid)
			return 1;
	return q->ppid == ps->pid;
}

static int procfile_match(const struct fdump *d)
{
	pid_t tid;
	return (S_ISREG(d->st->st_mode) || S_ISDIR(d->st->st_mode)) && proc_pid_of(d->link, &tid);
}

/* Does another process of the tree hold this very description? */
pid_t file_shared_in_tree(const struct fdump *d)
{
	const struct tree *t = d->ps->tree;
	for (int i = 0; i < t->nprocs; i++) {
		pid_t p = t->procs[i].hpid, found = 0;
		struct dirent *de;
		char path[64];
		DIR *dp;
		if (p == d->ps->hpid || t->procs[i].zombie)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd", p);
		if (!(dp = opendir(path)))
			continue;
		while (!found && (de = readdir(dp)))
			if (de->d_name[0] != '.' &&
			    syscall(SYS_kcmp, d->ps->hpid, p, KCMP_FILE, d->fd, atoi(de->d_name)) == 0)
				found = p;
		closedir(dp);
		if (found)
			return t->procs[i].pid;
	}
	return 0;
}

static int procfile_dump(struct fdump *d, struct ofile *of)
{
	const struct tree *t = d->ps->tree;
	struct stat pst;
	pid_t pid, tid, other;

	pid = proc_pid_of(d->link, &tid);
	if (stat("/proc/self", &pst) < 0 || pst.st_dev != d->st->st_dev)
		return file_refuse(d, "a file of another proc mount");
	if (!tree_proc(t, pid))
		return refuse(d->ps->pid, "fd %d is %s, a /proc file of process %d, which is not in the dumped "
					  "tree; ferry cannot carry it", d->fd, d->link, pid);
	if (tid != pid)
		return refuse(d->ps->pid, "fd %d is %s, a /proc file of thread %d; ferry carries /proc files of "
					  "processes only", d->fd, d->link, tid);
	if (!file_pid_at_open(d->ps, pid))
		return refuse(d->ps->pid, "fd %d is %s, a /proc file of process %d, neither an ancestor nor a "
					  "child of it; ferry cannot carry it yet", d->fd, d->link, pid);
	if ((other = file_shared_in_tree(d)))
		return refuse(d->ps->pid, "fd %d is %s, a /proc file whose open description pid %d shares; ferry "
					  "cannot carry that yet", d->fd, d->link, other);
	of->path = xstrdup(d->link);
	return 0;
}

static int procfile_validate(const struct tree *t, int i)
{
	pid_t tid, pid = proc_pid_of(t->files.of[i].path, &tid);
	if (!pid || !tree_proc(t, pid))
		return fail("image %s is corrupt: %s holds %s, no process of the tree's", jctx, file_who(t, i),
			    t->files.of[i].path);
	return 0;
}

/* Nothing to do here: the process opens it (procfile_open_child). */
static int procfile_prepare(struct tree *t, struct img *im, int i, enum file_pass pass)
{
	(void)t, (void)im, (void)i, (void)pass;
	return 0;
}

static int procfile_open_child(const struct proc_state *ps, int i)
{
	const struct ofile *of = &ps->tree->files.of[i];
	int fd = open(of->path, (of->flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_CLOEXEC);
	if (fd < 0)
		return fail_errno("pid %d: cannot open %s", ps->pid, of->path);
	if (lseek(fd, of->pos, SEEK_SET) < 0 && errno != ESPIPE && of->pos) {
		fail_errno("pid %d: cannot seek %s", ps->pid, of->path);
		close(fd);
		return -1;
	}
	return fd;
}

const struct file_ops procfile_ops = {
	.name = "procfile",
	.flags = FO_PATH,
	.match = procfile_match,
	.dump = procfile_dump,
	.validate = procfile_validate,
	.prepare = procfile_prepare,
	.open_child = procfile_open_child,
};

/* ---- namespace files ---- */

static const char *const ns_types[] = { "cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts" };

static const char *ns_type(const char *link)
{
	for (size_t i = 0; i < sizeof(ns_types) / sizeof(ns_types[0]); i++) {
		size_t l = strlen(ns_types[i]);
		if (!strncmp(link, ns_types[i], l) && !strncmp(link + l, ":[", 2))
			return ns_types[i];
	}
	return NULL;
}

static int nsfile_match(const struct fdump *d)
{
	struct stat st;
	/* nsfs: the same device as ferry's own namespace files */
	return ns_type(d->link) && stat("/proc/self/ns/net", &st) == 0 && st.st_dev == d->st->st_dev;
}

static int nsfile_dump(struct fdump *d, struct ofile *of)
{
	const char *type = ns_type(d->link);
	char path[64];
	struct stat st;
	snprintf(path, sizeof(path), "/proc/self/ns/%s", type);
	if (stat(path, &st) < 0 || st.st_ino != d->st->st_ino || st.st_dev != d->st->st_dev)
		return refuse(d->ps->pid, "fd %d is %s, a %s namespace other than the host's; ferry does not "
					  "carry namespaces yet", d->fd, d->link, type);
	of->path = xstrdup(path);
	return 0;
}

static int nsfile_validate(const struct tree *t, int i)
{
	const char *p = t->files.of[i].path;
	int ok = 0;
	for (size_t k = 0; k < sizeof(ns_types) / sizeof(ns_types[0]); k++)
		ok |= !strncmp(p, "/proc/self/ns/", 14) && !strcmp(p + 14, ns_types[k]);
	if (!ok)
		return fail("image %s is corrupt: %s holds namespace file %s", jctx, file_who(t, i), p);
	return 0;
}

/* The host's namespace is ferry's own here. */
static int nsfile_prepare(struct tree *t, struct img *im, int i, enum file_pass pass)
{
	struct ofile *of = &t->files.of[i];
	(void)im, (void)pass;
	if ((of->rfd = open(of->path, O_RDONLY | O_CLOEXEC)) < 0)
		return fail_errno("%s: cannot open %s", file_who(t, i), of->path);
	return 0;
}

const struct file_ops nsfile_ops = {
	.name = "nsfile",
	.flags = FO_PATH,
	.match = nsfile_match,
	.dump = nsfile_dump,
	.validate = nsfile_validate,
	.prepare = nsfile_prepare,
};
