/*
 * Files reopened by path: regular files, directories and the memory
 * character devices (/dev/null, zero, full, random, urandom).  Dump checks
 * the path still leads to that very file (through the process's root), or
 * restore would open another; restore opens the path again with the same
 * flags and offset and refuses, before anything is made, a path that is
 * missing or now another kind of file (another device, for a chardev).
 *
 * Limits: other character devices are refused; so is a file reached by no
 * path (a file deleted under its name is file_deleted.c's).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fileops.h"
#include "image.h"
#include "log.h"
#include "util.h"

static int reg_match(const struct fdump *d)
{
	return S_ISREG(d->st->st_mode) && !fdump_anon(d);
}

static int dir_match(const struct fdump *d)
{
	return S_ISDIR(d->st->st_mode) && !fdump_anon(d);
}

static int chr_match(const struct fdump *d)
{
	return S_ISCHR(d->st->st_mode) && !fdump_anon(d);
}

static int path_dump(struct fdump *d, struct ofile *of)
{
	char rp[4400];
	struct stat st2;
	if (d->link[0] != '/')
		return file_refuse(d, "a file without a path");
	/* The path must lead to this very file, or restore would open another. */
	snprintf(rp, sizeof(rp), "%s%s", d->ps->root_prefix, d->link);
	if (stat(rp, &st2) < 0 || st2.st_ino != d->st->st_ino || st2.st_dev != d->st->st_dev)
		return refuse(d->ps->pid, "fd %d is %s, but that path now names another file (or none)", d->fd,
			      d->link);
	of->path = xstrdup(d->link);
	return 0;
}

static int chr_dump(struct fdump *d, struct ofile *of)
{
	dev_t r = d->st->st_rdev;
	if (major(r) != 1 || !minor(r) || !strchr("\x03\x05\x07\x08\x09", minor(r)))
		return file_refuse(d, "a character device");
	return path_dump(d, of);
}

static void chr_encode(const struct ofile *of, json_t *o)
{
	json_object_set_new(o, "rdev", jhex(of->rdev));
}

static int chr_decode(json_t *o, struct ofile *of, const struct tree *t)
{
	(void)t;
	return jget_u64(o, "rdev", &of->rdev);
}

int file_check_path(const struct tree *t, int i)
{
	const struct ofile *of = &t->files.of[i];
	struct stat st;
	if (stat(of->path, &st) < 0)
		return fail_errno("%s had %s open, which is missing here", file_who(t, i), of->path);
	if ((st.st_mode & S_IFMT) != (of->mode & S_IFMT))
		return fail("%s had %s open as a %s; it is now another kind of file", file_who(t, i), of->path,
			    file_kinds[of->kind]->name);
	if (of->kind == FK_CHR && st.st_rdev != of->rdev)
		return fail("%s had device %s open; here it is another device", file_who(t, i), of->path);
	return 0;
}

static int path_prepare(struct tree *t, struct img *im, int i, enum file_pass pass)
{
	struct ofile *of = &t->files.of[i];
	(void)im, (void)pass;
	of->rfd = open(of->path, (of->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY)) | O_CLOEXEC | O_NOCTTY);
	if (of->rfd < 0)
		return fail_errno("%s: cannot open %s", file_who(t, i), of->path);
	return 0;
}

const struct file_ops reg_ops = {
	.name = "file",
	.flags = FO_PATH | FO_SEEK | FO_LOCKABLE,
	.match = reg_match,
	.dump = path_dump,
	.validate = file_check_path,
	.prepare = path_prepare,
};

const struct file_ops dir_ops = {
	.name = "directory",
	.flags = FO_PATH | FO_SEEK | FO_LOCKABLE,
	.match = dir_match,
	.dump = path_dump,
	.validate = file_check_path,
	.prepare = path_prepare,
};

/* Not seeked: a chardev's offset means nothing to restore. */
const struct file_ops chr_ops = {
	.name = "chardev",
	.flags = FO_PATH,
	.match = chr_match,
	.dump = chr_dump,
	.encode = chr_encode,
	.decode = chr_decode,
	.validate = file_check_path,
	.prepare = path_prepare,
};
