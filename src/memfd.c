/*
 * memfd descriptions: the object itself (name, size, content, seals) is a
 * shared memory object of the tree (shmem.c), made before any file is
 * opened; each memfd description is another open of that object, with its
 * own flags and offset (files.c seeks).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileops.h"
#include "image.h"
#include "log.h"
#include "util.h"

struct memfd_file {
	int shm;		/* the object, in tree->shm */
};

static int memfd_match(const struct fdump *d)
{
	return S_ISREG(d->st->st_mode) && !strncmp(d->link, "/memfd:", 7);
}

static int memfd_dump(struct fdump *d, struct ofile *of)
{
	struct memfd_file *m;
	of->priv = m = xzalloc(sizeof(*m));
	if (shm_note(d->ps->tree, d->myfd, d->link, &m->shm) < 0)
		return -1;
	file_strip_deleted(d->link);
	of->path = xstrdup(d->link);
	return 0;
}

static void memfd_encode(const struct ofile *of, json_t *o)
{
	json_object_set_new(o, "shmem", json_integer(((const struct memfd_file *)of->priv)->shm));
}

static int memfd_decode(json_t *o, struct ofile *of, const struct tree *t)
{
	struct memfd_file *m;
	long long v;
	of->priv = m = xzalloc(sizeof(*m));
	if (jget_int(o, "shmem", &v) < 0)
		return -1;
	if (v < 0 || v >= t->nshm)
		return fail("image %s is corrupt: file %td names shared memory %lld", jctx, of - t->files.of, v);
	m->shm = v;
	return 0;
}

/* Another description of the object shmem.c made. */
static int memfd_prepare(struct tree *t, struct img *im, int i, enum file_pass pass)
{
	struct ofile *of = &t->files.of[i];
	char self[64];
	(void)im, (void)pass;
	snprintf(self, sizeof(self), "/proc/self/fd/%d", t->shm[((struct memfd_file *)of->priv)->shm].rfd);
	of->rfd = open(self, (of->flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_CLOEXEC);
	if (of->rfd < 0)
		return fail_errno("%s: cannot open memfd %s", file_who(t, i), of->path);
	return 0;
}

static void memfd_free(struct ofile *of)
{
	free(of->priv);
}

const struct file_ops memfd_ops = {
	.name = "memfd",
	.flags = FO_PATH | FO_SEEK | FO_LOCKABLE,
	.match = memfd_match,
	.dump = memfd_dump,
	.encode = memfd_encode,
	.decode = memfd_decode,
	.prepare = memfd_prepare,
	.free = memfd_free,
};
