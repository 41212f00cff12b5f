/*
 * Pseudo-terminals with both ends in the dumped tree: the master (/dev/ptmx)
 * with its index, lock and packet mode; each slave (/dev/pts/N) with the
 * terminal's settings (termios, window size).  The restore opens /dev/ptmx
 * until the kernel hands out the same index (so /dev/pts/N and ttyname()
 * stay the same; the restore fails if another terminal holds it now), opens
 * the slave through its master (TIOCGPTPEER: a locked slave too) and sets
 * it up again.
 *
 * A slave that is a session's controlling terminal is taken again by the
 * session's leader, and the foreground group put in front; /dev/tty opened
 * by the session's processes (a shell's job control) is opened again by the
 * leader then, over a stand-in fd, before it makes its children
 * (pty_restore_session, in each new process).  tmux with its panes' shells
 * is such a tree (tests/real/tmux.sh).
 *
 * Limits, refused at dump: the controlling terminal of a session whose
 * leader is outside the tree or holds no fd of it, a foreground group with
 * no leader in the tree, data
 * queued in either direction (a terminal's queues cannot be read without
 * consuming them), a master whose slave no process of the tree holds, and
 * a slave whose master is outside the tree (that is a shell job's
 * terminal: tty.c, --shell-job).  A partly typed line of a terminal in
 * canonical mode is not seen (no ioctl tells its length).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <asm/termbits.h>
#include <unistd.h>
#include <dirent.h>
#include <poll.h>

#include "fileops.h"
#include "image.h"
#include "log.h"
#include "util.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

static int tcsetpgrp_fd(int fd, pid_t pgrp)
{
	return ioctl(fd, TIOCSPGRP, &pgrp);
}

struct pty_file {
	int master;		/* 1 master, 0 slave */
	int index;
	int locked, packet;	/* master */
	struct termios2 tio;	/* slave */
	struct winsize ws;
	pid_t ctty_sid;		/* slave: the session it is the controlling terminal of, 0 none */
	pid_t fg;		/* and that session's foreground group */
	int devtty;		/* /dev/tty of a process whose controlling terminal is slave `index` */
};

static int is_ptmx(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && major(st->st_rdev) == 5 && minor(st->st_rdev) == 2;
}

static int is_pts(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && major(st->st_rdev) >= 136 && major(st->st_rdev) <= 143;
}

static int pts_index(const struct stat *st)
{
	return (major(st->st_rdev) - 136) * 256 + minor(st->st_rdev);
}

/* Does a process of the tree hold the master of pty `index`?  Its fdinfo
 * names the index; nothing is opened. */
static int master_in_tree(const struct tree *t, int index)
{
	for (int p = 0; p < t->nprocs; p++) {
		char path[64];
		struct dirent *de;
		DIR *d;
		snprintf(path, sizeof(path), "/proc/%d/fdinfo", t->procs[p].hpid);
		if (!(d = opendir(path)))
			continue;
		while ((de = readdir(d))) {
			char f[320], *s;
			const char *v;
			if (de->d_name[0] == '.')
				continue;
			snprintf(f, sizeof(f), "/proc/%d/fdinfo/%s", t->procs[p].hpid, de->d_name);
			if (!(s = read_file(f, NULL)))
				continue;
			v = proc_field(s, "tty-index");
			if (v && atoi(v) == index) {
				snprintf(f, sizeof(f), "/proc/%d/fd/%s", t->procs[p].hpid, de->d_name);
				struct stat st;
				if (stat(f, &st) == 0 && is_ptmx(&st)) {
					free(s);
					closedir(d);
					return 1;
				}
			}
			free(s);
		}
		closedir(d);
	}
	return 0;
}

/* Does process `pid` hold an fd on slave `index`? */
static int holds(pid_t pid, int index)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int found = 0;
	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	if (!(d = opendir(path)))
		return 0;
	while (!found && (de = readdir(d))) {
		char f[320];
		struct stat st;
		snprintf(f, sizeof(f), "/proc/%d/fd/%s", pid, de->d_name);
		found = de->d_name[0] != '.' && stat(f, &st) == 0 && is_pts(&st) && pts_index(&st) == index;
	}
	closedir(d);
	return found;
}

static int slave_in_tree(const struct tree *t, int index)
{
	for (int p = 0; p < t->nprocs; p++)
		if (holds(t->procs[p].hpid, index))
			return 1;
	return 0;
}

/* pid's session and the pts index of its controlling terminal (-1 none). */
static int ctty_index(pid_t pid, pid_t *sid)
{
	char path[64], *s, *e;
	int tty_nr = 0, idx = -1, psid = 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (!(s = read_file(path, NULL)))
		return -1;
	e = strrchr(s, ')');
	if (e && sscanf(e + 1, " %*c %*d %*d %d %d", &psid, &tty_nr) == 2 && major((dev_t)tty_nr) >= 136 &&
	    major((dev_t)tty_nr) <= 143)
		idx = (major((dev_t)tty_nr) - 136) * 256 + minor((dev_t)tty_nr);
	free(s);
	*sid = psid;
	return idx;
}

static int is_devtty(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && major(st->st_rdev) == 5 && minor(st->st_rdev) == 0;
}

static int pty_match(const struct fdump *d)
{
	pid_t sid;
	int idx;
	if (fdump_anon(d))
		return 0;
	if (is_ptmx(d->st))
		return 1;
	if (is_devtty(d->st))	/* /dev/tty: which terminal it is depends on the holder */
		return (idx = ctty_index(d->ps->hpid, &sid)) >= 0 && master_in_tree(d->ps->tree, idx);
	return is_pts(d->st) && master_in_tree(d->ps->tree, pts_index(d->st));
}

/* The session pts `rdev` is the controlling terminal of: its leader, which
 * must be in the tree (0 if none), and the foreground group (tpgid). */
static int ctty_of(const struct tree *t, dev_t rdev, pid_t *sid, pid_t *fg)
{
	*sid = *fg = 0;
	for (int p = 0; p < t->nprocs; p++) {
		char path[64], *s, *e;
		int tty_nr = 0, psid = 0, tpgid = 0;
		snprintf(path, sizeof(path), "/proc/%d/stat", t->procs[p].hpid);
		if (!(s = read_file(path, NULL)))
			continue;
		e = strrchr(s, ')');
		if (e && sscanf(e + 1, " %*c %*d %*d %d %d %d", &psid, &tty_nr, &tpgid) == 3 && tty_nr &&
		    major((dev_t)tty_nr) == major(rdev) && minor((dev_t)tty_nr) == minor(rdev)) {
			*sid = psid;
			*fg = tpgid;
		}
		free(s);
		if (*sid)
			break;
	}
	if (!*sid)
		return 0;
	for (int p = 0; p < t->nprocs; p++)
		if (t->procs[p].pid == *sid)
			return 1;
	return -1;
}

static int in_tree(const struct tree *t, pid_t pid)
{
	for (int p = 0; p < t->nprocs; p++)
		if (t->procs[p].pid == pid)
			return 1;
	return 0;
}

static int pty_dump(struct fdump *d, struct ofile *of)
{
	struct pty_file *p = of->priv = xzalloc(sizeof(*p));
	int pid = d->ps->pid, fd = d->fd, n = 0;
	int leader;
	p->master = is_ptmx(d->st);
	if (p->master) {
		if (ioctl(d->myfd, TIOCGPTN, &p->index) < 0 || ioctl(d->myfd, TIOCGPTLCK, &p->locked) < 0 ||
		    ioctl(d->myfd, TIOCGPKT, &p->packet) < 0)
			return fail_errno("pid %d: cannot read pseudo-terminal master fd %d", pid, fd);
		if (!slave_in_tree(d->ps->tree, p->index))
			return refuse(pid, "fd %d is a pseudo-terminal master (%s) whose terminal /dev/pts/%d no process "
				      "of the tree holds; ferry carries a pseudo-terminal with both ends in the tree",
				      fd, d->link, p->index);
		struct pollfd pf = { d->myfd, POLLPRI, 0 };
		if (p->packet && poll(&pf, 1, 0) == 1 && (pf.revents & POLLPRI))
			return refuse(pid, "fd %d is a pseudo-terminal master (%s) in packet mode with a status change "
				      "waiting to be read", fd, d->link);
		if (ioctl(d->myfd, FIONREAD, &n) == 0 && n)
			return refuse(pid, "fd %d is a pseudo-terminal master (%s, /dev/pts/%d) with %d bytes of "
				      "output waiting to be read, which cannot be read without consuming them", fd,
				      d->link, p->index, n);
		return 0;
	}
	if (is_devtty(d->st)) {
		/* Opened again by the session's leader once it has the terminal back. */
		p->devtty = 1;
		p->index = ctty_index(d->ps->hpid, &p->ctty_sid);
		if (!in_tree(d->ps->tree, p->ctty_sid) || !holds(p->ctty_sid, p->index))
			return refuse(pid, "fd %d is /dev/tty, /dev/pts/%d here, whose session %d has no leader in the "
				      "tree holding it", fd, p->index, p->ctty_sid);
		return 0;
	}
	p->index = pts_index(d->st);
	if (ioctl(d->myfd, TCGETS2, &p->tio) < 0 || ioctl(d->myfd, TIOCGWINSZ, &p->ws) < 0)
		return fail_errno("pid %d: cannot read the settings of terminal fd %d", pid, fd);
	if (ioctl(d->myfd, FIONREAD, &n) == 0 && n)
		return refuse(pid, "fd %d is a pseudo-terminal (%s) with %d bytes of input waiting to be read, which "
			      "cannot be read without consuming them", fd, d->link, n);
	if (ioctl(d->myfd, TIOCOUTQ, &n) == 0 && n)
		return refuse(pid, "fd %d is a pseudo-terminal (%s) with %d bytes of output not yet passed on", fd,
			      d->link, n);
	if ((leader = ctty_of(d->ps->tree, d->st->st_rdev, &p->ctty_sid, &p->fg)) < 0)
		return refuse(pid, "fd %d is a pseudo-terminal (%s), the controlling terminal of session %d, whose "
			      "leader is outside the tree", fd, d->link, p->ctty_sid);
	/* The leader takes it again with an fd of its own; the group made
	 * foreground must be one whose leader is in the tree. */
	if (p->ctty_sid && !holds(p->ctty_sid, p->index))
		return refuse(pid, "fd %d is a pseudo-terminal (%s), the controlling terminal of session %d, whose "
			      "leader holds no fd of it", fd, d->link, p->ctty_sid);
	if (p->ctty_sid && p->fg > 0 && !in_tree(d->ps->tree, p->fg))
		return refuse(pid, "fd %d is a pseudo-terminal (%s) whose foreground process group %d has no "
			      "leader in the tree", fd, d->link, p->fg);
	return 0;
}

static void pty_encode(const struct ofile *of, json_t *j)
{
	const struct pty_file *p = of->priv;
	json_t *o = json_pack("{s:b,s:i}", "master", p->master, "index", p->index);
	if (p->devtty) {
		json_object_set_new(o, "devtty", json_pack("{s:i}", "sid", p->ctty_sid));
	} else if (p->master) {
		json_object_set_new(o, "locked", json_integer(p->locked));
		json_object_set_new(o, "packet", json_integer(p->packet));
	} else {
		json_object_set_new(o, "termios", jblob(&p->tio, sizeof(p->tio)));
		json_object_set_new(o, "winsize", json_pack("[i,i,i,i]", p->ws.ws_row, p->ws.ws_col, p->ws.ws_xpixel,
							     p->ws.ws_ypixel));
		if (p->ctty_sid)
			json_object_set_new(o, "session", json_pack("{s:i,s:i}", "sid", p->ctty_sid, "fg", p->fg));
	}
	json_object_set_new(j, "pty", o);
}

static int pty_decode(json_t *j, struct ofile *of, const struct tree *t)
{
	struct pty_file *p = of->priv = xzalloc(sizeof(*p));
	json_t *o = jget_obj(j, "pty");
	int m = 0;
	(void)t;
	if (!o || json_unpack(o, "{s:b,s:i}", "master", &m, "index", &p->index) < 0 || p->index < 0)
		return fail("image %s is corrupt: pseudo-terminal", jctx);
	p->master = m;
	if (json_object_get(o, "devtty")) {
		p->devtty = 1;
		if (json_unpack(json_object_get(o, "devtty"), "{s:i}", "sid", &p->ctty_sid) < 0 || p->ctty_sid <= 0)
			return fail("image %s is corrupt: /dev/tty", jctx);
	} else if (m) {
		if (json_unpack(o, "{s:i,s:i}", "locked", &p->locked, "packet", &p->packet) < 0)
			return fail("image %s is corrupt: pseudo-terminal master", jctx);
	} else {
		void *tio = NULL;
		size_t n = 0;
		int r = 0, c = 0, x = 0, y = 0;
		if (jget_blobv(o, "termios", &tio, &n) < 0 || n != sizeof(p->tio) ||
		    json_unpack(json_object_get(o, "winsize"), "[i,i,i,i]", &r, &c, &x, &y) < 0) {
			free(tio);
			return fail("image %s is corrupt: terminal settings", jctx);
		}
		memcpy(&p->tio, tio, n);
		free(tio);
		if (json_object_get(o, "session") &&
		    json_unpack(json_object_get(o, "session"), "{s:i,s:i}", "sid", &p->ctty_sid, "fg", &p->fg) < 0)
			return fail("image %s is corrupt: terminal session", jctx);
		p->ws = (struct winsize){ r, c, x, y };
	}
	return 0;
}

static int find_master(const struct tree *t, int index)
{
	for (int k = 0; k < t->files.n; k++) {
		const struct pty_file *q = t->files.of[k].priv;
		if (t->files.of[k].kind == FK_PTY && q->master && q->index == index)
			return k;
	}
	return -1;
}

static int pty_validate(const struct tree *t, int i)
{
	const struct pty_file *p = t->files.of[i].priv;
	if (!p->master && find_master(t, p->index) < 0)
		return fail("image: %s is /dev/pts/%d without its master", file_who(t, i), p->index);
	return 0;
}

/* /dev/ptmx until the kernel gives index `want` (it gives the lowest free). */
static int open_index(int want, const char *who)
{
	int held[64], nh = 0, fd = -1, idx = -1;
	while (nh < 64) {
		fd = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fd < 0 || ioctl(fd, TIOCGPTN, &idx) < 0) {
			fail_errno("%s: cannot open a pseudo-terminal", who);
			break;
		}
		if (idx == want)
			break;
		held[nh++] = fd;
		fd = -1;
		if (idx > want) {
			fail("%s: /dev/pts/%d is in use here; the restored terminal needs that name", who, want);
			break;
		}
	}
	while (nh--)
		close(held[nh]);
	return idx == want ? fd : -1;
}

/* The master, then every slave of it in the table (through the master:
 * the slave must be unlocked to open), then the lock as it was. */
static int make_master(struct tree *t, int i)
{
	struct ofile *of = &t->files.of[i];
	const struct pty_file *p = of->priv;
	int unlock = 0;
	if (of->rfd >= 0)
		return 0;
	if ((of->rfd = open_index(p->index, file_who(t, i))) < 0)
		return -1;
	if (ioctl(of->rfd, TIOCSPTLCK, &unlock) < 0)
		return fail_errno("%s: cannot unlock the pseudo-terminal", file_who(t, i));
	for (int k = 0; k < t->files.n; k++) {
		struct ofile *s = &t->files.of[k];
		const struct pty_file *q = s->priv;
		if (s->kind != FK_PTY || q->master || q->devtty || q->index != p->index)
			continue;
		s->rfd = ioctl(of->rfd, TIOCGPTPEER, (s->flags & O_ACCMODE) | O_NOCTTY | O_CLOEXEC);
		if (s->rfd < 0)
			return fail_errno("%s: cannot open /dev/pts/%d", file_who(t, k), q->index);
		if (ioctl(s->rfd, TCSETS2, &q->tio) < 0 || ioctl(s->rfd, TIOCSWINSZ, &q->ws) < 0)
			return fail_errno("%s: cannot set the terminal's settings", file_who(t, k));
	}
	/* Packet mode after the settings: setting them would queue a status. */
	if (p->packet && ioctl(of->rfd, TIOCPKT, &p->packet) < 0)
		return fail_errno("%s: cannot set packet mode", file_who(t, i));
	if (p->locked && ioctl(of->rfd, TIOCSPTLCK, &p->locked) < 0)
		return fail_errno("%s: cannot lock the pseudo-terminal again", file_who(t, i));
	return 0;
}

static int pty_prepare(struct tree *t, struct img *im, int i, enum file_pass pass)
{
	const struct pty_file *p = t->files.of[i].priv;
	(void)im, (void)pass;
	if (make_master(t, p->master ? i : find_master(t, p->index)) < 0)
		return -1;
	/* /dev/tty: a stand-in until the leader opens the real one over it */
	if (p->devtty && (t->files.of[i].rfd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
		return fail_errno("%s: cannot open /dev/null", file_who(t, i));
	return 0;
}

/* In each restored process, on ferry's code, once it made its own session
 * or group and before it makes its children (so that they inherit the
 * terminal): a session leader takes its controlling terminal again, the
 * leader of the foreground group puts its group in front.  The files are
 * still ferry's fds, inherited.  SIGTTOU is blocked here, as every signal. */
int pty_restore_session(const struct tree *t, const struct proc_state *ps)
{
	for (int k = 0; k < t->files.n; k++) {
		const struct ofile *of = &t->files.of[k];
		const struct pty_file *p = of->priv;
		if (of->kind != FK_PTY || p->master || p->devtty || !p->ctty_sid)
			continue;
		if (ps->pid == p->ctty_sid && ioctl(of->rfd, TIOCSCTTY, 0) < 0)
			return fail_errno("pid %d: cannot take /dev/pts/%d as its controlling terminal", ps->pid,
					  p->index);
		if (ps->pid == p->fg && ps->sid == p->ctty_sid && tcsetpgrp_fd(of->rfd, ps->pid) < 0)
			return fail_errno("pid %d: cannot make its group the foreground of /dev/pts/%d", ps->pid,
					  p->index);
	}
	/* The session's /dev/tty files, now that /dev/tty is its terminal; its
	 * members made from here on inherit them. */
	for (int k = 0; k < t->files.n; k++) {
		const struct ofile *of = &t->files.of[k];
		const struct pty_file *p = of->priv;
		int fd;
		if (of->kind != FK_PTY || !p->devtty || p->ctty_sid != ps->pid)
			continue;
		fd = open("/dev/tty", (of->flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_NOCTTY | O_CLOEXEC);
		if (fd < 0 || dup3(fd, of->rfd, O_CLOEXEC) < 0)
			return fail_errno("pid %d: cannot open /dev/tty again", ps->pid);
		close(fd);
	}
	return 0;
}

static void pty_free(struct ofile *of)
{
	free(of->priv);
}

const struct file_ops pty_ops = {
	.name = "pty",
	.flags = FO_SETFL,
	.match = pty_match,
	.dump = pty_dump,
	.encode = pty_encode,
	.decode = pty_decode,
	.validate = pty_validate,
	.prepare = pty_prepare,
	.free = pty_free,
};
