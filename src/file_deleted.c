/*
 * Files open but deleted (no link left): their content travels in the
 * image, as blob file-N.img stored once per file, and restore recreates
 * the file as an unnamed O_TMPFILE in the same directory, with the same
 * permission bits, then opens each description of it with its flags and
 * offset (files.c seeks).  Descriptions that shared the deleted file share
 * the new one.
 *
 * Limits: a file deleted under one name but still linked under another is
 * refused (a copy would not be that other name's file); files over 4 GiB
 * are refused; holes are not kept (the blob holds the apparent size).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileops.h"
#include "image.h"
#include "log.h"
#include "util.h"

struct deleted_file {
	int blob;		/* image file-N.img */
};

static int blob_of(const struct ofile *of)
{
	return ((const struct deleted_file *)of->priv)->blob;
}

static int deleted_match(const struct fdump *d)
{
	size_t l = strlen(d->link);
	return S_ISREG(d->st->st_mode) && !fdump_anon(d) &&
	       (d->st->st_nlink == 0 || (l > 10 && !strcmp(d->link + l - 10, " (deleted)")));
}

/* Stores the content once per file: other descriptions of the same file
 * share the blob (and restore makes them descriptions of one new file).
 * The content is read through a new read-only description, since the
 * process's may be write-only. */
static int deleted_dump(struct fdump *d, struct ofile *of)
{
	static int blobs;
	struct proc_state *ps = d->ps;
	const struct file_table *ft = &ps->tree->files;
	struct deleted_file *df;
	char name[64], self[64];
	uint8_t *buf;
	int rfd;

	if (d->st->st_nlink)
		return refuse(ps->pid, "fd %d is %s, a file deleted under that name but still linked "
				       "elsewhere (%ju links); a copy would not be that other name's file",
			      d->fd, d->link, (uintmax_t)d->st->st_nlink);
	file_strip_deleted(d->link);
	of->path = xstrdup(d->link);
	of->priv = df = xzalloc(sizeof(*df));
	for (const struct ofile *k = ft->of; k < of; k++)
		if (k->kind == FK_DELETED && k->dev == of->dev && k->ino == of->ino) {
			df->blob = blob_of(k);
			return 0;
		}
	if (of->size > (1ULL << 32))
		return refuse(ps->pid, "fd %d is a deleted file of %" PRIu64 " bytes; too large to carry in the image",
			      d->fd, of->size);
	snprintf(self, sizeof(self), "/proc/self/fd/%d", d->myfd);
	if ((rfd = open(self, O_RDONLY | O_CLOEXEC)) < 0)
		return fail_errno("pid %d: cannot open deleted file behind fd %d for reading", ps->pid, d->fd);
	buf = xmalloc(of->size + 1);
	if (pread_full(rfd, buf, of->size, 0) != (ssize_t)of->size) {
		close(rfd);
		free(buf);
		return fail_errno("pid %d: cannot read deleted file behind fd %d", ps->pid, d->fd);
	}
	close(rfd);
	df->blob = blobs++;
	snprintf(name, sizeof(name), "file-%d.img", df->blob);
	if (img_write_blob(d->im, name, buf, of->size) < 0) {
		free(buf);
		return -1;
	}
	free(buf);
	return 0;
}

static void deleted_encode(const struct ofile *of, json_t *o)
{
	json_object_set_new(o, "blob", json_integer(blob_of(of)));
}

static int deleted_decode(json_t *o, struct ofile *of, const struct tree *t)
{
	struct deleted_file *df;
	long long v;
	(void)t;
	of->priv = df = xzalloc(sizeof(*df));
	if (jget_int(o, "blob", &v) < 0)
		return -1;
	df->blob = v;
	return 0;
}

static int deleted_validate(const struct tree *t, int i)
{
	const struct ofile *of = &t->files.of[i];
	char *dir = xstrdup(of->path);
	struct stat st;
	if (stat(dirname(dir), &st) < 0 || !S_ISDIR(st.st_mode)) {
		fail("%s had deleted file %s open; its directory is missing here", file_who(t, i), of->path);
		free(dir);
		return -1;
	}
	free(dir);
	return 0;
}

/* Recreates the file once: a description sharing the blob of an earlier
 * one is another description of that new file. */
static int deleted_prepare(struct tree *t, struct img *im, int i, enum file_pass pass)
{
	struct ofile *of = &t->files.of[i];
	char *dir, name[64], self[64];
	size_t len;
	void *data;
	int tfd, own = 0;

	(void)pass;
	for (int k = 0; k < i; k++)
		if (t->files.of[k].kind == FK_DELETED && blob_of(&t->files.of[k]) == blob_of(of) &&
		    t->files.of[k].rfd >= 0) {
			tfd = t->files.of[k].rfd;
			goto reopen;
		}
	own = 1;
	dir = xstrdup(of->path);
	snprintf(name, sizeof(name), "file-%d.img", blob_of(of));
	tfd = open(dirname(dir), O_TMPFILE | O_RDWR | O_CLOEXEC, of->mode & 07777);
	free(dir);
	if (tfd < 0)
		return fail_errno("%s: cannot recreate deleted file %s in its directory", file_who(t, i), of->path);
	if (!(data = img_map(im, name, &len))) {
		close(tfd);
		return -1;
	}
	if (len != of->size || write_full(tfd, data, len) < 0) {
		img_unmap(im, data, len);
		close(tfd);
		return fail_errno("%s: cannot write recreated deleted file %s", file_who(t, i), of->path);
	}
	img_unmap(im, data, len);
reopen:
	snprintf(self, sizeof(self), "/proc/self/fd/%d", tfd);
	of->rfd = open(self, (of->flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_CLOEXEC);
	if (own)
		close(tfd);
	if (of->rfd < 0)
		return fail_errno("%s: cannot reopen recreated deleted file %s", file_who(t, i), of->path);
	return 0;
}

static void deleted_free(struct ofile *of)
{
	free(of->priv);
}

const struct file_ops deleted_ops = {
	.name = "deleted-file",
	.flags = FO_PATH | FO_SEEK | FO_LOCKABLE,
	.match = deleted_match,
	.dump = deleted_dump,
	.encode = deleted_encode,
	.decode = deleted_decode,
	.validate = deleted_validate,
	.prepare = deleted_prepare,
	.free = deleted_free,
};
