/*
 * Terminals, for shell jobs: a process started from an interactive shell
 * has its stdio on the shell's terminal, which ferry cannot carry (the
 * other end is the terminal emulator).  With --shell-job, as users of other
 * checkpoint tools expect, the dump records those fds as "the terminal",
 * and the restore puts them on the terminal `ferry restore` itself runs on,
 * with the same file flags, and makes the restored job the terminal's
 * foreground group when ferry holds the foreground.  Without the flag the
 * dump refuses and says so.
 *
 * Limits: pseudo-terminal masters and a terminal that is not ferry's own
 * are refused; the terminal's settings (termios) are the new terminal's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "fileops.h"
#include "image.h"

static int tty_match(const struct fdump *d)
{
	unsigned maj = major(d->st->st_rdev);
	return S_ISCHR(d->st->st_mode) && !fdump_anon(d) && (maj == 4 || maj == 5 || (maj >= 136 && maj <= 143));
}

static int tty_dump(struct fdump *d, struct ofile *of)
{
	struct proc_state *ps = d->ps;
	const struct stat *st = d->st;
	const char *link = d->link;
	int fd = d->fd;
	if (major(st->st_rdev) == 5 && minor(st->st_rdev) == 2)
		return refuse(ps->pid, "fd %d is a pseudo-terminal master (%s), which ferry cannot checkpoint", fd,
			      link);
	if (ps->tree->opt.no_terminal)
		return refuse(ps->pid, "fd %d is a terminal (%s), which cannot go to another host", fd, link);
	if (!ps->tree->opt.shell_job)
		return refuse(ps->pid, "fd %d is a terminal (%s); dump with --shell-job to restore it onto the "
			      "terminal ferry restore runs on", fd, link);
	of->path = xstrdup(link);
	return 0;
}

/* ferry's own terminal: the first of its stdio fds that is one. */
static int own_tty(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (isatty(fd))
			return fd;
	return -1;
}

static int tty_validate(const struct tree *t, int i)
{
	if (!t->opt.shell_job)
		return fail("pid %d fd %d was on a terminal: restore with --shell-job to put it on this one",
			    t->files.of[i].owner_pid, t->files.of[i].owner_fd);
	if (own_tty() < 0)
		return fail("--shell-job: ferry restore must run on a terminal (none of its stdin, stdout, "
			    "stderr is one)");
	return 0;
}

static int tty_prepare(struct tree *t, struct img *im, int i, enum file_pass pass)
{
	struct ofile *of = &t->files.of[i];
	(void)im, (void)pass;
	/* ferry's own description of its terminal, as a job inherits its
	 * shell's; reopening would change the file flags (O_LARGEFILE). */
	of->rfd = fcntl(own_tty(), F_DUPFD_CLOEXEC, 3);
	if (of->rfd < 0)
		return fail_errno("cannot take ferry's terminal for pid %d fd %d", of->owner_pid, of->owner_fd);
	if (fcntl(of->rfd, F_SETFL, of->flags) < 0)
		return fail_errno("cannot set the file flags of ferry's terminal");
	return 0;
}

int tty_foreground(const struct tree *t)
{
	int fd = own_tty(), has = 0;
	pid_t pgid = t->procs[0].pgid;
	for (int i = 0; i < t->files.n; i++)
		has |= t->files.of[i].kind == FK_TTY;
	/* Only a job that has its own group, and only if ferry is in front. */
	if (!has || fd < 0 || pgid != t->procs[0].pid || tcgetpgrp(fd) != getpgrp())
		return 0;
	if (tcsetpgrp(fd, pgid) < 0)
		return fail_errno("cannot give the terminal to the restored job (group %d)", pgid);
	return 0;
}

const struct file_ops tty_ops = {
	.name = "tty",
	.flags = FO_PATH,
	.match = tty_match,
	.dump = tty_dump,
	.validate = tty_validate,
	.prepare = tty_prepare,
};
