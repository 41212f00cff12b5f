/*
 * File locks: POSIX record locks (fcntl F_SETLK), OFD locks (F_OFD_SETLK)
 * and flock() locks, each with its type, its range and its owner.
 *
 * Dump reads the `lock:` lines of /proc/PID/fdinfo/N.  The kernel prints
 * there the locks of that open file description whose owner is the reader's
 * view of the fd: POSIX locks of this process taken through this
 * description, and OFD and flock locks of the description itself.  So a
 * POSIX lock belongs to (process, fd) and the others to the description,
 * which files.c already shares between the fds and processes that share it
 * (kcmp).  /proc/locks then confirms that every POSIX lock of each process
 * was seen, and that none of them waits for a lock.  Leases (F_SETLEASE)
 * belong to the description too and are taken again on ferry's reference
 * to it, after every other file and lock (a reopen would break a write
 * lease); the owner lease breaks signal is the description's F_SETOWN,
 * which files.c carries.  A lease being broken, a lease on a file that also
 * has other locks (their stand-ins would break it), locks on anything but
 * regular files, directories, deleted files and memfds, and any kind of
 * lock ferry does not know make the dump refuse.  Mandatory
 * locks do not exist on the kernels ferry runs on.  A thread frozen while
 * it waits in F_SETLKW is no lock yet: its call is restarted (thread.c) and
 * waits again in the restored process.
 *
 * An OFD or flock lock whose description a process outside the tree shares
 * (a program run by flock(1)) stays with that process: refused too.
 *
 * Restore takes every lock back before any restored process runs, and
 * never waits: OFD locks on ferry's own reference to the description
 * (files_prepare), before any process exists; flock locks by the process
 * that held the description, while it runs ferry's code (ferry checks them
 * first, so /proc/locks names the process, not ferry); POSIX locks by
 * the process itself, with a remote fcntl once its address space is rebuilt
 * (its last close of a file — a mapped file's fd — would drop them
 * otherwise).  Until then ferry holds an OFD lock of the same type and
 * range on a description of its own in their place, so a conflict shows
 * before any process exists, and nobody can slip in meanwhile.  A lock
 * someone else holds fails the restore, naming the lock and the holder.
 *
 * migrate (hosts that share the files): the frozen source gives its locks
 * up once the image is complete, right before the destination restores
 * (locks_handover), and takes them back if it runs on (locks_take_back);
 * see docs/migration.md for the window in between.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/kcmp.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "image.h"
#include "log.h"
#include "proc.h"
#include "fileops.h"
#include "pstate.h"
#include "util.h"

static const char *const kind_names[] = { [LK_POSIX] = "posix", [LK_OFD] = "ofd", [LK_FLOCK] = "flock",
					   [LK_LEASE] = "lease" };

static const char *type_name(const struct file_lock *l)
{
	if (l->kind == LK_FLOCK)
		return l->type == F_WRLCK ? "exclusive" : "shared";
	return l->type == F_WRLCK ? "write" : "read";
}

/* "the POSIX write lock on bytes 0-9 of /path", for messages. */
static const char *describe(const struct tree *t, const struct file_lock *l)
{
	static char buf[4400], range[64];
	const char *path = t->files.of[l->file].path;
	if (l->kind == LK_FLOCK)
		snprintf(range, sizeof(range), "the whole file");
	else if (l->len)
		snprintf(range, sizeof(range), "bytes %" PRId64 "-%" PRId64, l->start, l->start + l->len - 1);
	else
		snprintf(range, sizeof(range), "bytes %" PRId64 " to the end", l->start);
	if (l->kind == LK_LEASE)
		snprintf(buf, sizeof(buf), "%s lease on %s", type_name(l), path ? path : "?");
	else
		snprintf(buf, sizeof(buf), "%s %s lock (%s) on %s", l->kind == LK_POSIX ? "POSIX" :
				  l->kind == LK_OFD ? "OFD" : "flock", type_name(l), range, path ? path : "?");
	return buf;
}

/* Files whose locks the restore can take again on the same file. */
static int lockable(enum file_kind k)
{
	return !!(file_kinds[k]->flags & FO_LOCKABLE);
}

static int refuse_lock(const struct proc_state *ps, int fd, const char *what, const char *line)
{
	return refuse(ps->pid, "fd %d holds %s, which ferry cannot carry (fdinfo: \"%s\")", fd, what, line);
}

static int has_lock(const struct tree *t, const struct file_lock *n)
{
	for (int i = 0; i < t->locks.n; i++) {
		const struct file_lock *l = &t->locks.l[i];
		if (l->kind == n->kind && l->pid == n->pid && l->file == n->file && l->start == n->start &&
		    l->len == n->len && l->type == n->type)
			return 1;
	}
	return 0;
}

/* A process outside the tree that shares pid's fd's description (so its
 * OFD and flock locks): *opid and *ofd, or 0. */
static int shared_outside(const struct tree *t, pid_t pid, int fd, pid_t *opid, int *ofd)
{
	char path[300];
	struct stat st;
	struct dirent *de;
	DIR *d;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
	if (stat(path, &st) < 0 || !(d = opendir("/proc")))
		return 0;
	*opid = 0;
	while (!*opid && (de = readdir(d))) {
		pid_t p = atoi(de->d_name);
		struct dirent *fe;
		DIR *fdd;
		int in_tree = 0;
		for (int i = 0; i < t->nprocs; i++)
			in_tree |= t->procs[i].hpid == p;
		if (p <= 0 || in_tree || p == getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd", p);
		if (!(fdd = opendir(path)))
			continue;
		while (!*opid && (fe = readdir(fdd))) {
			struct stat o;
			snprintf(path, sizeof(path), "/proc/%d/fd/%s", p, fe->d_name);
			if (fe->d_name[0] != '.' && stat(path, &o) == 0 && o.st_ino == st.st_ino && o.st_dev == st.st_dev &&
			    syscall(SYS_kcmp, p, pid, KCMP_FILE, atoi(fe->d_name), fd) == 0) {
				*opid = p;
				*ofd = atoi(fe->d_name);
			}
		}
		closedir(fdd);
	}
	closedir(d);
	return *opid != 0;
}

/* One fdinfo `lock:` line: "1: POSIX  ADVISORY  WRITE 123 fe:00:456 5 14". */
static int dump_line(struct proc_state *ps, int fd, int file, int new_desc, const char *line)
{
	struct tree *t = ps->tree;
	char kind[16], mode[16], type[16], end[32];
	long long start;
	struct file_lock l = { .file = file, .pid = ps->pid, .fd = fd, .hold = -1 };

	if (sscanf(line, "%*d: %15s %15s %15s %*d %*s %lld %31s", kind, mode, type, &start, end) != 5)
		return refuse_lock(ps, fd, "a lock ferry cannot read", line);
	if (!strcmp(kind, "DELEG"))
		return refuse_lock(ps, fd, "a delegation", line);
	if (!strcmp(kind, "LEASE") && strcmp(mode, "ACTIVE"))
		return refuse_lock(ps, fd, "a lease being broken", line);
	if (!strcmp(kind, "LEASE")) {
		l.kind = LK_LEASE;
		strcpy(mode, "ADVISORY");
	} else if (!strcmp(kind, "POSIX"))
		l.kind = LK_POSIX;
	else if (!strcmp(kind, "OFDLCK"))
		l.kind = LK_OFD;
	else if (!strcmp(kind, "FLOCK"))
		l.kind = LK_FLOCK;
	else
		return refuse_lock(ps, fd, "a kind of lock ferry does not know", line);
	if (strcmp(mode, "ADVISORY"))
		return refuse_lock(ps, fd, "a lock that is not advisory", line);
	if (!strcmp(type, "READ"))
		l.type = F_RDLCK;
	else if (!strcmp(type, "WRITE"))
		l.type = F_WRLCK;
	else
		return refuse_lock(ps, fd, "a lock of an unknown type", line);
	if (l.kind != LK_POSIX && !new_desc)
		return 0;	/* the description's: read with its first fd */
	if (!lockable(t->files.of[file].kind))
		return refuse_lock(ps, fd, "a lock on a file whose locks ferry cannot take again", line);
	if (l.kind != LK_POSIX) {
		pid_t opid;
		int ofd;
		if (shared_outside(t, ps->hpid, fd, &opid, &ofd))
			return refuse(ps->pid, "fd %d holds %s lock on %s, but its open file description is shared with "
				      "pid %d (fd %d, %s) outside the tree, which would keep the lock; ferry cannot carry it",
				      fd, l.kind == LK_OFD ? "an OFD" : l.kind == LK_LEASE ? "a lease (a)" : "a flock",
				      t->files.of[file].path, opid, ofd,
				      proc_describe(opid));
	}
	l.start = start;
	if (l.kind != LK_FLOCK && strcmp(end, "EOF")) {
		long long e = strtoll(end, NULL, 10);
		/* the kernel's ranges are within 0..LLONG_MAX; anything else is
		 * no range ferry can take again (nor compute a length of) */
		if (start < 0 || e < start || e - start == LLONG_MAX)
			return refuse_lock(ps, fd, "a lock with a range ferry cannot read", line);
		l.len = e - start + 1;
	}
	if (has_lock(t, &l))
		return 0;	/* the same POSIX lock, seen through a dup of the fd */
	for (int i = 0; i < t->locks.n; i++) {
		const struct ofile *a = &t->files.of[t->locks.l[i].file], *b = &t->files.of[file];
		if ((l.kind == LK_LEASE) != (t->locks.l[i].kind == LK_LEASE) && a->ino == b->ino && a->dev == b->dev)
			return refuse_lock(ps, fd, "a lease and another lock on one file, which ferry cannot take "
						   "again together", line);
	}
	t->locks.l = xrealloc(t->locks.l, (t->locks.n + 1) * sizeof(*t->locks.l));
	t->locks.l[t->locks.n++] = l;
	return 0;
}

int locks_dump_fd(struct proc_state *ps, int fd, int file, int new_desc)
{
	char path[64], *s, *p;
	int ret = 0;
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", ps->hpid, fd);
	if (!(s = read_file(path, NULL)))
		return fail_errno("cannot read %s", path);
	for (p = s; p && *p && ret == 0; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		char line[256];
		const char *v;
		/* past "lock:" only once it is there: p may be the last bytes */
		if (strncmp(p, "lock:", 5))
			continue;
		v = p + 5 + strspn(p + 5, " \t");
		snprintf(line, sizeof(line), "%.*s", (int)strcspn(v, "\n"), v);
		ret = dump_line(ps, fd, file, new_desc, line);
	}
	free(s);
	return ret;
}

int locks_dump_check(const struct proc_state *ps)
{
	char *s = read_file("/proc/locks", NULL), *p;
	int held = 0, seen = 0;
	if (!s)
		return fail_errno("cannot read /proc/locks");
	for (p = s; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		char kind[16];
		int pid, n = 0;
		/* "3: POSIX  ADVISORY  WRITE 123 ..." or a waiter "3: -> POSIX ..." */
		if (sscanf(p, "%*d: -> %15s %*s %*s %d%n", kind, &pid, &n) == 2 && n && pid == ps->hpid) {
			free(s);
			return refuse(ps->pid, "it waits for a %s lock (/proc/locks), which ferry cannot carry", kind);
		}
		if (sscanf(p, "%*d: %15s %*s %*s %d", kind, &pid) == 2 && !strcmp(kind, "POSIX") && pid == ps->hpid)
			held++;
	}
	free(s);
	for (int i = 0; i < ps->tree->locks.n; i++)
		seen += ps->tree->locks.l[i].kind == LK_POSIX && ps->tree->locks.l[i].pid == ps->pid;
	if (held != seen)
		return refuse(ps->pid, "it holds %d POSIX locks (/proc/locks) but ferry found %d through its fds; it "
			      "cannot carry the others", held, seen);
	return 0;
}

void locks_encode(const struct tree *t, json_t *j)
{
	json_t *a = json_array();
	for (int i = 0; i < t->locks.n; i++) {
		const struct file_lock *l = &t->locks.l[i];
		json_array_append_new(a, json_pack("{s:s,s:s,s:I,s:I,s:i,s:i,s:i}", "kind", kind_names[l->kind], "type",
						   type_name(l), "start", (json_int_t)l->start, "len",
						   (json_int_t)l->len, "file", l->file, "pid", l->pid, "fd", l->fd));
	}
	json_object_set_new(j, "locks", a);
}

int locks_decode(json_t *j, struct tree *t)
{
	json_t *a = json_object_get(j, "locks"), *o;
	size_t i;
	if (!a)
		return 0;	/* an image from before locks were carried */
	if (!json_is_array(a))
		return fail("image %s is corrupt: \"locks\" is not an array", jctx);
	t->locks.n = json_array_size(a);
	t->locks.l = xzalloc((t->locks.n + 1) * sizeof(*t->locks.l));
	json_array_foreach(a, i, o) {
		struct file_lock *l = &t->locks.l[i];
		const char *kind, *type;
		long long start, len, file, pid, fd;
		size_t k;
		l->hold = -1;
		if (jget_str(o, "kind", &kind) < 0 || jget_str(o, "type", &type) < 0 || jget_int(o, "start", &start) < 0 ||
		    jget_int(o, "len", &len) < 0 || jget_int(o, "file", &file) < 0 || jget_int(o, "pid", &pid) < 0 ||
		    jget_int(o, "fd", &fd) < 0)
			return -1;
		l->kind = (enum lock_kind)-1;
		for (k = 0; k < ARRAY_SIZE(kind_names); k++)
			if (!strcmp(kind, kind_names[k]))
				l->kind = k;
		if ((int)l->kind < 0)
			return fail("image %s is corrupt: lock %zu has unknown kind \"%s\"", jctx, i, kind);
		if (l->kind == LK_FLOCK ? !strcmp(type, "shared") : !strcmp(type, "read"))
			l->type = F_RDLCK;
		else if (l->kind == LK_FLOCK ? !strcmp(type, "exclusive") : !strcmp(type, "write"))
			l->type = F_WRLCK;
		else
			return fail("image %s is corrupt: lock %zu has unknown type \"%s\"", jctx, i, type);
		if (start < 0 || len < 0 || file < 0 || file >= t->files.n || pid <= 0 || fd < 0)
			return fail("image %s is corrupt: lock %zu", jctx, i);
		l->start = start;
		l->len = len;
		l->file = file;
		l->pid = pid;
		l->fd = fd;
	}
	return 0;
}

static const struct proc_state *proc_of(const struct tree *t, pid_t pid)
{
	for (int i = 0; i < t->nprocs; i++)
		if (t->procs[i].pid == pid)
			return &t->procs[i];
	return NULL;
}

int locks_validate(const struct tree *t)
{
	for (int i = 0; i < t->locks.n; i++) {
		const struct file_lock *l = &t->locks.l[i];
		const struct proc_state *ps = proc_of(t, l->pid);
		int found = 0;
		if (!lockable(t->files.of[l->file].kind))
			return fail("image is corrupt: lock %d is on a file of a kind ferry does not lock", i);
		if (!ps || ps->zombie)
			return fail("image is corrupt: lock %d belongs to pid %d, which is not a live process of the image", i,
				    l->pid);
		for (int k = 0; k < ps->fds.nfds; k++)
			found |= ps->fds.fds[k].fd == l->fd && ps->fds.fds[k].ofile == l->file;
		if (!found)
			return fail("image is corrupt: lock %d names fd %d of pid %d, which is not on its file", i, l->fd,
				    l->pid);
	}
	return 0;
}

static void fill(struct flock *fl, const struct file_lock *l, int type)
{
	memset(fl, 0, sizeof(*fl));
	fl->l_type = type;
	fl->l_whence = SEEK_SET;
	fl->l_start = l->start;
	fl->l_len = l->len;
}

/* Who holds what conflicts with l, seen from description fd. */
static const char *holder(int fd, const struct file_lock *l)
{
	static char buf[96];
	struct flock fl;
	if (l->kind == LK_FLOCK)
		return "another open file (flock)";
	fill(&fl, l, l->type);
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0 || fl.l_type == F_UNLCK)
		return "another process";
	if (fl.l_pid > 0)
		snprintf(buf, sizeof(buf), "pid %d (a POSIX lock)", fl.l_pid);
	else
		snprintf(buf, sizeof(buf), "another open file (an OFD lock)");
	return buf;
}

/* Takes l on description fd without waiting (a POSIX lock as an OFD one). */
static int take(int fd, const struct file_lock *l, int type)
{
	struct flock fl;
	if (l->kind == LK_FLOCK)
		return flock(fd, (type == F_UNLCK ? LOCK_UN : type == F_WRLCK ? LOCK_EX : LOCK_SH) | LOCK_NB);
	if (l->kind == LK_LEASE)
		return fcntl(fd, F_SETLEASE, type);
	fill(&fl, l, type);
	return fcntl(fd, F_OFD_SETLK, &fl);
}

static int taken_fail(const struct tree *t, const struct file_lock *l, int fd)
{
	int e = errno;
	if (e != EAGAIN && e != EACCES && e != EWOULDBLOCK) {
		errno = e;
		return fail_errno("pid %d fd %d: cannot take its %s", l->pid, l->fd, describe(t, l));
	}
	return fail("pid %d fd %d: its %s is held by %s (the source still runs, as after dump --leave-running, or "
		    "someone took it since the dump); nothing was restored", l->pid, l->fd, describe(t, l), holder(fd, l));
}

int locks_prepare(struct tree *t)
{
	for (int i = 0; i < t->locks.n; i++) {
		struct file_lock *l = &t->locks.l[i];
		const struct ofile *of = &t->files.of[l->file];
		int fd = of->rfd;
		if (l->kind == LK_LEASE)
			continue;	/* last, below */
		if (l->kind != LK_OFD) {
			/* POSIX: a stand-in; flock: a probe, the owner takes it (so
			 * /proc/locks names it, not ferry) in locks_restore_child. */
			char self[64];
			snprintf(self, sizeof(self), "/proc/self/fd/%d", of->rfd);
			l->hold = open(self, (of->flags & O_ACCMODE) | O_CLOEXEC | O_NOCTTY);
			if (l->hold < 0)
				return fail_errno("pid %d fd %d: cannot open %s again to check its %s", l->pid, l->fd,
						  of->path, describe(t, l));
			fd = l->hold;
		}
		if (take(fd, l, l->type) < 0)
			return taken_fail(t, l, fd);
		if (l->kind == LK_FLOCK) {
			close(l->hold);
			l->hold = -1;
		}
	}
	/* F_SETLEASE makes ferry the owner: files_restore_child gives the
	 * description its owner back. */
	for (int i = 0; i < t->locks.n; i++) {
		struct file_lock *l = &t->locks.l[i];
		if (l->kind == LK_LEASE && take(t->files.of[l->file].rfd, l, l->type) < 0)
			return taken_fail(t, l, t->files.of[l->file].rfd);
	}
	return 0;
}

int locks_restore_child(const struct proc_state *ps)
{
	const struct tree *t = ps->tree;
	for (int i = 0; i < t->locks.n; i++) {
		const struct file_lock *l = &t->locks.l[i];
		if (l->kind == LK_FLOCK && l->pid == ps->pid && take(l->fd, l, l->type) < 0)
			return taken_fail(t, l, l->fd);
		if (l->kind == LK_LEASE && l->pid == ps->pid) {
			/* Taken again through its own fd: the kernel names that fd as
			 * si_fd of a break, and makes the process the owner (then
			 * set back to the one the description had). */
			const struct ofile *of = &t->files.of[l->file];
			struct f_owner_ex ex = { of->sigio_type, of->sigio_id };
			if (take(l->fd, l, l->type) < 0)
				return taken_fail(t, l, l->fd);
			if (of->sigio_id && fcntl(l->fd, F_SETOWN_EX, &ex) < 0)
				return fail_errno("pid %d fd %d: cannot give back its owner", ps->pid, l->fd);
		}
	}
	return 0;
}

/* fcntl(fd, F_SETLK, {type, l's range}) inside the process; scratch mapped. */
static long remote_setlk(struct rsys *rs, pid_t pid, const struct file_lock *l, int type)
{
	struct flock fl;
	fill(&fl, l, type);
	if (mem_poke(pid, rs->scratch, &fl, sizeof(fl)) < 0)
		return -EFAULT;
	return rsys_call(rs, SYS_fcntl, l->fd, F_SETLK, rs->scratch, 0, 0, 0);
}

int locks_restore_remote(struct proc_state *ps, struct rsys *rs)
{
	struct tree *t = ps->tree;
	for (int i = 0; i < t->locks.n; i++) {
		struct file_lock *l = &t->locks.l[i];
		long r;
		if (l->kind != LK_POSIX || l->pid != ps->pid)
			continue;
		/* The stand-in goes a moment before the real lock comes. */
		if (l->hold >= 0)
			close(l->hold);
		l->hold = -1;
		if ((r = remote_setlk(rs, ps->hpid, l, l->type)) < 0) {
			char self[64];
			int fd, ret;
			snprintf(self, sizeof(self), "/proc/%d/fd/%d", ps->hpid, l->fd);
			fd = open(self, O_RDONLY | O_CLOEXEC | O_NOCTTY);
			errno = -r;
			ret = taken_fail(t, l, fd);
			if (fd >= 0)
				close(fd);
			return ret;
		}
	}
	return 0;
}

void locks_free(struct tree *t)
{
	for (int i = 0; i < t->locks.n; i++)
		if (t->locks.l[i].hold >= 0)
			close(t->locks.l[i].hold);
	free(t->locks.l);
	t->locks.l = NULL;
	t->locks.n = 0;
}

/* Sets l to type (F_UNLCK to give it up) on the frozen source's behalf. */
static int source_set(struct tree *t, struct file_lock *l, int type)
{
	struct proc_state *ps = NULL;
	int ret, fd;
	for (int i = 0; i < t->nprocs; i++)
		if (t->procs[i].pid == l->pid)
			ps = &t->procs[i];
	if (!ps)
		return fail("pid %d is not in the tree", l->pid);
	if (l->kind == LK_POSIX) {
		long r;
		if (rsys_map_scratch(&ps->rs, PAGE_SIZE, 0) < 0)
			return -1;
		r = remote_setlk(&ps->rs, ps->hpid, l, type);
		if (rsys_unmap_scratch(&ps->rs) < 0)
			return -1;
		errno = r < 0 ? -r : 0;
		return r < 0 ? -1 : 0;
	}
	/* OFD and flock locks and leases belong to the description: ferry's copy of it. */
	if ((fd = syscall(SYS_pidfd_getfd, ps->pidfd, l->fd, 0)) < 0)
		return -1;
	ret = take(fd, l, type);
	if (ret == 0 && l->kind == LK_LEASE && type != F_UNLCK) {
		/* F_SETLEASE made ferry the owner: the process's again */
		const struct ofile *of = &t->files.of[l->file];
		struct f_owner_ex ex = { of->sigio_type, of->sigio_id };
		ret = fcntl(fd, F_SETOWN_EX, &ex);
	}
	close(fd);
	return ret;
}

int locks_handover(struct tree *t)
{
	for (int i = 0; i < t->locks.n; i++) {
		struct file_lock *l = &t->locks.l[i];
		if (source_set(t, l, F_UNLCK) < 0)
			return fail_errno("pid %d fd %d: cannot give up its %s for the destination", l->pid, l->fd,
					  describe(t, l));
		l->released = 1;
		pr_debug("pid %d fd %d: %s given up for the destination", l->pid, l->fd, describe(t, l));
	}
	return 0;
}

/* A lock someone took while it was given up: the source stays frozen until
 * it is free again, rather than run on believing it holds it. */
void locks_take_back(struct tree *t)
{
	for (int i = 0; i < t->locks.n; i++) {
		struct file_lock *l = &t->locks.l[i];
		int warned = 0;
		while (l->released && source_set(t, l, l->type) < 0) {
			if (errno != EAGAIN && errno != EACCES && errno != EWOULDBLOCK) {
				pr_warn("LOCK LOST: pid %d fd %d runs on WITHOUT its %s: %s", l->pid, l->fd, describe(t, l),
					strerror(errno));
				break;
			}
			if (!warned++)
				pr_warn("pid %d fd %d: someone took its %s while the migration was under way; the process "
					"stays frozen until that lock is free again, and takes it back then", l->pid, l->fd,
					describe(t, l));
			usleep(100000);
		}
		l->released = 0;
	}
}
