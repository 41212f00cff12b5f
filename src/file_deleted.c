/*
 * Files and directories open but deleted.
 *
 * A regular file with no link left travels in the image: only its data
 * (the extents SEEK_DATA/SEEK_HOLE find), as blob file-N.img stored once
 * per file, with the extents' offsets; restore makes it again under its
 * name and unlinks it at once (under a name of ferry's next to it if that
 * name is taken again, as after a log rotation), of the same apparent size, writes the
 * extents back (the holes stay holes), gives it its owner, mode and
 * access/modification times, then opens each description of it with its
 * flags and offset (files.c seeks).  Descriptions that shared the deleted
 * file share the new one.
 *
 * A file deleted under the name it was opened by but still linked under
 * another one in the same directory is not copied: dump finds that other
 * name and the description becomes a regular file reopened through it.
 *
 * A directory removed while held open comes back as a removed directory:
 * restore makes a directory of that owner, mode and times next to where it
 * was, opens it and removes it again.
 *
 * Limits: a file still linked only in another directory is refused (dump
 * cannot find the name); more than 4 GiB of data is refused; the change
 * time (ctime) is the restore's.
 */
#include <dirent.h>
#include <errno.h>
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

struct extent {
	uint64_t off, len;
};

struct deleted_file {
	int blob;		/* image file-N.img; deleted-dir: the id of the directory */
	struct fattr attr;
	struct extent *ext;	/* the data in the blob, in order (the blob's first description only) */
	int next;
};

static struct deleted_file *df_of(const struct ofile *of)
{
	return of->priv;
}

/* ---- what a recreated file gets back (also pipes.c's deleted FIFOs) ---- */

void fattr_note(const struct stat *st, struct fattr *a)
{
	a->uid = st->st_uid;
	a->gid = st->st_gid;
	a->atime_ns = (uint64_t)st->st_atim.tv_sec * 1000000000ULL + st->st_atim.tv_nsec;
	a->known = 1;
}

void fattr_encode(const struct fattr *a, json_t *o)
{
	json_object_set_new(o, "uid", json_integer(a->uid));
	json_object_set_new(o, "gid", json_integer(a->gid));
	json_object_set_new(o, "atime_ns", json_integer((json_int_t)a->atime_ns));
}

int fattr_decode(json_t *o, struct fattr *a)
{
	long long u, g, at;
	a->known = 0;
	if (!json_object_get(o, "uid"))
		return 0;	/* an image from before they were carried */
	if (jget_int(o, "uid", &u) < 0 || jget_int(o, "gid", &g) < 0 || jget_int(o, "atime_ns", &at) < 0)
		return -1;
	a->uid = u;
	a->gid = g;
	a->atime_ns = at;
	a->known = 1;
	return 0;
}

/* Owner before mode (chown clears set-id bits), times last (the writes
 * before it moved mtime). */
int fattr_apply(int fd, const struct ofile *of, const struct fattr *a)
{
	struct timespec ts[2] = {
		{ a->atime_ns / 1000000000ULL, a->atime_ns % 1000000000ULL },
		{ of->mtime_ns / 1000000000ULL, of->mtime_ns % 1000000000ULL },
	};
	if (!a->known)
		return fchmod(fd, of->mode & 07777) < 0 ? fail_errno("cannot set the mode of %s", of->path) : 0;
	if (fchown(fd, a->uid, a->gid) < 0)
		return fail_errno("cannot give recreated %s its owner %u:%u", of->path, a->uid, a->gid);
	if (fchmod(fd, of->mode & 07777) < 0)
		return fail_errno("cannot give recreated %s its mode %o", of->path, of->mode & 07777);
	if (futimens(fd, ts) < 0)
		return fail_errno("cannot give recreated %s its times", of->path);
	return 0;
}

int file_parent_exists(const struct tree *t, int i)
{
	const struct ofile *of = &t->files.of[i];
	char *dir = xstrdup(of->path);
	struct stat st;
	int ret = 0;
	if (stat(dirname(dir), &st) < 0 || !S_ISDIR(st.st_mode))
		ret = fail("%s had deleted %s open; its directory is missing here", file_who(t, i), of->path);
	free(dir);
	return ret;
}

/* ---- deleted regular files ---- */

static int deleted_match(const struct fdump *d)
{
	size_t l = strlen(d->link);
	return S_ISREG(d->st->st_mode) && !fdump_anon(d) &&
	       (d->st->st_nlink == 0 || (l > 10 && !strcmp(d->link + l - 10, " (deleted)")));
}

/* The other name, in the directory of the deleted one, of the file behind
 * d (as the process sees it), or NULL. */
static char *other_name(const struct fdump *d)
{
	char *dir = xstrdup(d->link), *found = NULL, *full;
	struct dirent *de;
	DIR *dp;
	full = xasprintf("%s%s", d->ps->root_prefix, dirname(dir));
	if ((dp = opendir(full))) {
		while (!found && (de = readdir(dp))) {
			struct stat st;
			if (fstatat(dirfd(dp), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    st.st_ino == d->st->st_ino && st.st_dev == d->st->st_dev && S_ISREG(st.st_mode))
				found = xasprintf("%s/%s", strcmp(dir, "/") ? dir : "", de->d_name);
		}
		closedir(dp);
	}
	free(full);
	free(dir);
	return found;
}

/* The data of the file behind d: its extents and their bytes. */
static int read_extents(struct fdump *d, struct deleted_file *df, uint8_t **bufp, size_t *lenp)
{
	char self[64];
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	off_t off = 0, end;
	int rfd;

	/* A new read-only description: the process's may be write-only.
	 * O_NOATIME: the access time is part of what is carried. */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", d->myfd);
	if ((rfd = open(self, O_RDONLY | O_CLOEXEC | O_NOATIME)) < 0)
		return fail_errno("pid %d: cannot open deleted file behind fd %d for reading", d->ps->pid, d->fd);
	while (off < d->st->st_size) {
		off = lseek(rfd, off, SEEK_DATA);
		if (off < 0 && errno == ENXIO)
			break;	/* a hole to the end */
		if (off < 0 || (end = lseek(rfd, off, SEEK_HOLE)) < 0)
			goto err;
		if (end > d->st->st_size)
			end = d->st->st_size;
		if (len + (end - off) > (1ULL << 32)) {
			close(rfd);
			free(buf);
			return refuse(d->ps->pid, "fd %d is deleted file %s with more than 4 GiB of data; too large "
						  "to carry in the image", d->fd, d->link);
		}
		if (len + (end - off) > cap)
			buf = xrealloc(buf, (cap = len + (end - off)) + 1);
		if (pread_full(rfd, buf + len, end - off, off) != end - off)
			goto err;
		df->ext = xrealloc(df->ext, (df->next + 1) * sizeof(*df->ext));
		df->ext[df->next++] = (struct extent){ off, end - off };
		len += end - off;
		off = end;
	}
	close(rfd);
	*bufp = buf;
	*lenp = len;
	return 0;
err:
	fail_errno("pid %d: cannot read deleted file behind fd %d", d->ps->pid, d->fd);
	close(rfd);
	free(buf);
	return -1;
}

/* Stores the content once per file: other descriptions of the same file
 * share the blob (and restore makes them descriptions of one new file). */
static int deleted_dump(struct fdump *d, struct ofile *of)
{
	static int blobs;
	struct proc_state *ps = d->ps;
	const struct file_table *ft = &ps->tree->files;
	struct deleted_file *df;
	char name[64];
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret;

	file_strip_deleted(d->link);
	if (d->st->st_nlink) {
		char *other = other_name(d);
		if (!other)
			return refuse(ps->pid, "fd %d is %s, a file deleted under that name but still linked "
					       "elsewhere (%ju links) under a name ferry could not find in its "
					       "directory; a copy would not be that other name's file",
				      d->fd, d->link, (uintmax_t)d->st->st_nlink);
		/* Not a copy: the description comes back through that name. */
		of->kind = FK_REG;
		of->path = other;
		return 0;
	}
	of->path = xstrdup(d->link);
	of->priv = df = xzalloc(sizeof(*df));
	fattr_note(d->st, &df->attr);
	for (const struct ofile *k = ft->of; k < of; k++)
		if (k->kind == FK_DELETED && k->dev == of->dev && k->ino == of->ino) {
			df->blob = df_of(k)->blob;
			return 0;
		}
	if (read_extents(d, df, &buf, &len) < 0)
		return -1;
	df->blob = blobs++;
	snprintf(name, sizeof(name), "file-%d.img", df->blob);
	ret = img_write_blob(d->im, name, buf ? buf : (uint8_t *)"", len);
	free(buf);
	return ret;
}

static void deleted_encode(const struct ofile *of, json_t *o)
{
	const struct deleted_file *df = of->priv;
	json_object_set_new(o, "blob", json_integer(df->blob));
	fattr_encode(&df->attr, o);
	if (df->ext) {
		json_t *a = json_array();
		for (int i = 0; i < df->next; i++)
			json_array_append_new(a, json_pack("[I,I]", (json_int_t)df->ext[i].off,
							   (json_int_t)df->ext[i].len));
		json_object_set_new(o, "extents", a);
	}
}

static int deleted_decode(json_t *o, struct ofile *of, const struct tree *t)
{
	struct deleted_file *df;
	json_t *a, *e;
	long long v;
	size_t i;
	(void)t;
	of->priv = df = xzalloc(sizeof(*df));
	if (jget_int(o, "blob", &v) < 0 || fattr_decode(o, &df->attr) < 0)
		return -1;
	df->blob = v;
	if (!(a = json_object_get(o, "extents")))
		return 0;
	df->ext = xzalloc((json_array_size(a) + 1) * sizeof(*df->ext));
	json_array_foreach(a, i, e) {
		json_int_t off, len;
		if (json_unpack(e, "[I,I]", &off, &len) < 0 || off < 0 || len < 0 || (uint64_t)(off + len) > of->size)
			return fail("image %s is corrupt: extent %zu of file %td", jctx, i, of - t->files.of);
		df->ext[df->next++] = (struct extent){ off, len };
	}
	return 0;
}

static int fill(int tfd, const struct ofile *of, struct img *im)
{
	const struct deleted_file *df = of->priv;
	char name[64];
	uint64_t total = 0;
	size_t len;
	uint8_t *data;

	if (ftruncate(tfd, of->size) < 0)
		return fail_errno("cannot size recreated deleted file %s", of->path);
	snprintf(name, sizeof(name), "file-%d.img", df->blob);
	if (!(data = img_map(im, name, &len)))
		return -1;
	if (!df->ext) {	/* no data, or an image from before extents: the whole file */
		int r = len ? pwrite_full(tfd, data, len, 0) : 0;
		img_unmap(im, data, len);
		if (r < 0)
			return fail_errno("cannot write recreated deleted file %s", of->path);
		return fattr_apply(tfd, of, &df->attr);
	}
	for (int k = 0; k < df->next; k++)
		total += df->ext[k].len;
	if (total != len) {
		img_unmap(im, data, len);
		return fail("image: %s holds %zu bytes, its extents %" PRIu64, name, len, total);
	}
	total = 0;
	for (int k = 0; k < df->next; k++) {
		const struct extent *e = &df->ext[k];
		if (pwrite_full(tfd, data + total, e->len, e->off) < 0) {
			img_unmap(im, data, len);
			return fail_errno("cannot write recreated deleted file %s", of->path);
		}
		total += e->len;
	}
	img_unmap(im, data, len);
	return fattr_apply(tfd, of, &df->attr);
}

/* Recreates the file once: a description sharing the blob of an earlier
 * one is another description of that new file. */
static int deleted_prepare(struct tree *t, struct img *im, int i, enum file_pass pass)
{
	struct ofile *of = &t->files.of[i];
	char *dir, self[64];
	int tfd, own = 0;

	(void)pass;
	for (int k = 0; k < i; k++)
		if (t->files.of[k].kind == FK_DELETED && df_of(&t->files.of[k])->blob == df_of(of)->blob &&
		    t->files.of[k].rfd >= 0) {
			tfd = t->files.of[k].rfd;
			goto reopen;
		}
	own = 1;
	if ((tfd = file_make_removed(of, NULL, 0)) < 0) {
		dir = xstrdup(of->path);
		tfd = open(dirname(dir), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		free(dir);
	}
	if (tfd < 0)
		return fail_errno("%s: cannot recreate deleted file %s in its directory", file_who(t, i), of->path);
	if (fill(tfd, of, im) < 0) {
		close(tfd);
		return fail("%s: deleted file %s not recreated", file_who(t, i), of->path);
	}
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
	struct deleted_file *df = of->priv;
	if (df)
		free(df->ext);
	free(df);
}

const struct file_ops deleted_ops = {
	.name = "deleted-file",
	.flags = FO_PATH | FO_SEEK | FO_LOCKABLE,
	.match = deleted_match,
	.dump = deleted_dump,
	.encode = deleted_encode,
	.decode = deleted_decode,
	.validate = file_parent_exists,
	.prepare = deleted_prepare,
	.free = deleted_free,
};

/* ---- directories removed while held ---- */

static int deleted_dir_match(const struct fdump *d)
{
	size_t l = strlen(d->link);
	return S_ISDIR(d->st->st_mode) && !fdump_anon(d) && l > 10 && !strcmp(d->link + l - 10, " (deleted)");
}

static int deleted_dir_dump(struct fdump *d, struct ofile *of)
{
	const struct file_table *ft = &d->ps->tree->files;
	struct deleted_file *df;
	static int ids;
	file_strip_deleted(d->link);
	if (d->link[0] != '/')
		return file_refuse(d, "a removed directory without a path");
	of->path = xstrdup(d->link);
	of->priv = df = xzalloc(sizeof(*df));
	fattr_note(d->st, &df->attr);
	for (const struct ofile *k = ft->of; k < of; k++)
		if (k->kind == FK_DELETED_DIR && k->dev == of->dev && k->ino == of->ino) {
			df->blob = df_of(k)->blob;
			return 0;
		}
	df->blob = ids++;
	return 0;
}

static void deleted_dir_encode(const struct ofile *of, json_t *o)
{
	json_object_set_new(o, "dir_id", json_integer(df_of(of)->blob));
	fattr_encode(&df_of(of)->attr, o);
}

static int deleted_dir_decode(json_t *o, struct ofile *of, const struct tree *t)
{
	struct deleted_file *df;
	long long v;
	(void)t;
	of->priv = df = xzalloc(sizeof(*df));
	if (jget_int(o, "dir_id", &v) < 0 || fattr_decode(o, &df->attr) < 0)
		return -1;
	df->blob = v;
	return 0;
}

/* Made under the removed one's own name when it is free, so /proc shows
 * the same "PATH (deleted)"; else under a name of ferry's next to it. */
static int make_and_remove(const char *path, int kind)
{
	static const int oflags[] = { O_RDWR | O_CREAT | O_EXCL, O_RDONLY | O_DIRECTORY, O_RDWR | O_NONBLOCK };
	int fd;
	if ((kind == 1 && mkdir(path, 0700) < 0) || (kind == 2 && mkfifo(path, 0600) < 0))
		return -1;
	fd = open(path, oflags[kind] | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		if (kind)	/* made by us just now; O_EXCL made nothing */
			(void)(kind == 1 ? rmdir(path) : unlink(path));
		errno = e;
		return -1;
	}
	if ((kind == 1 ? rmdir(path) : unlink(path)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int file_make_removed(const struct ofile *of, const struct fattr *a, int kind)
{
	char *dir = xstrdup(of->path), *tmp;
	int fd = make_and_remove(of->path, kind);
	for (int n = 0; fd < 0 && errno == EEXIST && n < 100; n++) {
		tmp = xasprintf("%s/.ferry-removed-%d-%d", dirname(dir), (int)getpid(), n);
		fd = make_and_remove(tmp, kind);
		free(tmp);
	}
	free(dir);
	if (fd < 0)
		return fail_errno("cannot make %s again (removed)", of->path);
	if (a && fattr_apply(fd, of, a) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int deleted_dir_prepare(struct tree *t, struct img *im, int i, enum file_pass pass)
{
	struct ofile *of = &t->files.of[i];
	char self[64];
	int dfd = -1, own = 0;
	(void)im, (void)pass;
	for (int k = 0; k < i && dfd < 0; k++)
		if (t->files.of[k].kind == FK_DELETED_DIR && df_of(&t->files.of[k])->blob == df_of(of)->blob &&
		    t->files.of[k].rfd >= 0)
			dfd = t->files.of[k].rfd;
	if (dfd < 0) {
		own = 1;
		if ((dfd = file_make_removed(of, &df_of(of)->attr, 1)) < 0)
			return fail("%s: removed directory %s not recreated", file_who(t, i), of->path);
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", dfd);
	of->rfd = open(self, (of->flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_CLOEXEC);
	if (own)
		close(dfd);
	if (of->rfd < 0)
		return fail_errno("%s: cannot reopen recreated removed directory %s", file_who(t, i), of->path);
	return 0;
}

int deleted_dir_note(struct proc_state *ps, const char *which, int *file)
{
	struct file_table *ft = &ps->tree->files;
	char path[64], link[4200];
	struct stat st;
	struct fdump d = { ps, NULL, -1, -1, link, &st };
	struct ofile *of;
	ssize_t n;
	int fd, ret;

	snprintf(path, sizeof(path), "/proc/%d/%s", ps->hpid, which);
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return fail_errno("pid %d: cannot open its %s", ps->pid, which);
	if (fstat(fd, &st) < 0 || (n = readlink(path, link, sizeof(link) - 1)) < 0) {
		close(fd);
		return fail_errno("pid %d: cannot read its %s", ps->pid, which);
	}
	link[n] = 0;
	for (int k = 0; k < ft->n; k++)
		if (ft->of[k].kind == FK_DELETED_DIR && ft->of[k].dev == st.st_dev && ft->of[k].ino == st.st_ino) {
			close(fd);
			*file = k;
			return 0;
		}
	ft->of = xrealloc(ft->of, (ft->n + 1) * sizeof(*ft->of));
	of = &ft->of[ft->n];
	memset(of, 0, sizeof(*of));
	of->kind = FK_DELETED_DIR;
	of->flags = fcntl(fd, F_GETFL) & ~O_CLOEXEC;
	close(fd);
	/* No fd holds it: kcmp never finds it shared (fd -1), the entry with
	 * the same dir_id does. */
	of->owner_pid = ps->hpid;
	of->owner_fd = -1;
	of->dev = st.st_dev;
	of->ino = st.st_ino;
	of->mode = st.st_mode;
	of->mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000ULL + st.st_mtim.tv_nsec;
	of->rfd = of->keep = -1;
	*file = ft->n++;
	d.fd = -1;
	ret = deleted_dir_dump(&d, of);
	return ret;
}

const struct file_ops deleted_dir_ops = {
	.name = "deleted-dir",
	.flags = FO_PATH | FO_SEEK | FO_LOCKABLE,
	.match = deleted_dir_match,
	.dump = deleted_dir_dump,
	.encode = deleted_dir_encode,
	.decode = deleted_dir_decode,
	.validate = file_parent_exists,
	.prepare = deleted_dir_prepare,
	.free = deleted_free,
};
