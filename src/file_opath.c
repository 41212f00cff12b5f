/*
 * O_PATH descriptors: a place in the tree, not an open file.  Whatever is
 * there (regular file, directory, symlink opened with O_NOFOLLOW, device,
 * FIFO, socket) is opened again by path with O_PATH and the same
 * O_DIRECTORY/O_NOFOLLOW; nothing is read or opened for I/O, so devices
 * and FIFOs are fine.  Dump checks the path (through the process's root)
 * still leads to that very inode; restore refuses, before anything is
 * made, a path that is missing or another kind of file.
 *
 * A removed directory or deleted regular file held with O_PATH is left to
 * file_deleted.c (made again, then reopened with O_PATH).  Limits: O_PATH
 * on any other deleted file is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileops.h"
#include "image.h"
#include "log.h"
#include "util.h"

static int opath_match(const struct fdump *d)
{
	size_t l = strlen(d->link);
	int fl = fcntl(d->myfd, F_GETFL);
	if (fl < 0 || !(fl & O_PATH))
		return 0;
	return !((S_ISREG(d->st->st_mode) || S_ISDIR(d->st->st_mode)) && l > 10 &&
		 !strcmp(d->link + l - 10, " (deleted)"));
}

static int opath_dump(struct fdump *d, struct ofile *of)
{
	char rp[4400];
	struct stat st2;
	if (d->link[0] != '/')
		return file_refuse(d, "an O_PATH descriptor without a path");
	if (file_strip_deleted(d->link) && !d->st->st_nlink)
		return refuse(d->ps->pid, "fd %d is an O_PATH descriptor of deleted %s, which ferry cannot "
					  "carry yet", d->fd, d->link);
	snprintf(rp, sizeof(rp), "%s%s", d->ps->root_prefix, d->link);
	if (lstat(rp, &st2) < 0 || st2.st_ino != d->st->st_ino || st2.st_dev != d->st->st_dev)
		return refuse(d->ps->pid, "fd %d is an O_PATH descriptor of %s, but that path now names "
					  "another file (or none)", d->fd, d->link);
	of->path = xstrdup(d->link);
	return 0;
}

static int opath_validate(const struct tree *t, int i)
{
	const struct ofile *of = &t->files.of[i];
	struct stat st;
	if (lstat(of->path, &st) < 0)
		return fail_errno("%s had %s open (O_PATH), which is missing here", file_who(t, i), of->path);
	if ((st.st_mode & S_IFMT) != (of->mode & S_IFMT))
		return fail("%s had %s open (O_PATH); it is now another kind of file", file_who(t, i), of->path);
	return 0;
}

static int opath_prepare(struct tree *t, struct img *im, int i, enum file_pass pass)
{
	struct ofile *of = &t->files.of[i];
	int fl = O_PATH | O_CLOEXEC | (of->flags & (O_DIRECTORY | O_NOFOLLOW));
	(void)im, (void)pass;
	/* The path names the symlink itself; it must not be followed. */
	if (S_ISLNK(of->mode))
		fl |= O_NOFOLLOW;
	if ((of->rfd = open(of->path, fl)) < 0)
		return fail_errno("%s: cannot open %s (O_PATH)", file_who(t, i), of->path);
	return 0;
}

const struct file_ops opath_ops = {
	.name = "o_path",
	.flags = FO_PATH,
	.match = opath_match,
	.dump = opath_dump,
	.validate = opath_validate,
	.prepare = opath_prepare,
};
