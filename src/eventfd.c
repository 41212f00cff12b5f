/*
 * eventfd: the counter and the semaphore flag, from /proc/PID/fdinfo.
 * Restored by creating an eventfd at 0 and writing the count into it (the
 * count is 64-bit, eventfd()'s initial value only 32).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "image.h"
#include "log.h"
#include "fileops.h"
#include "util.h"

struct eventfd_file {
	uint64_t count;
	int sem;
};

static int eventfd_match(const struct fdump *d)
{
	return !strcmp(d->link, "anon_inode:[eventfd]");
}

static int eventfd_dump(struct fdump *d, struct ofile *of)
{
	struct proc_state *ps = d->ps;
	struct eventfd_file *e = of->priv = xzalloc(sizeof(*e));
	int fd = d->fd;
	char path[64], *s;
	const char *p;
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", ps->hpid, fd);
	if (!(s = read_file(path, NULL)))
		return fail_errno("cannot read %s", path);
	if (!(p = proc_field(s, "eventfd-count"))) {
		free(s);
		return fail("pid %d: cannot read the count of eventfd %d", ps->pid, fd);
	}
	e->count = strtoull(p, NULL, 16);
	p = proc_field(s, "eventfd-semaphore");
	e->sem = p && atoi(p);
	free(s);
	return 0;
}

static void eventfd_encode(const struct ofile *of, json_t *j)
{
	const struct eventfd_file *e = of->priv;
	json_object_set_new(j, "count", jhex(e->count));
	json_object_set_new(j, "semaphore", json_boolean(e->sem));
}

static int eventfd_decode(json_t *j, struct ofile *of, const struct tree *t)
{
	struct eventfd_file *e = of->priv = xzalloc(sizeof(*e));
	(void)t;
	if (jget_u64(j, "count", &e->count) < 0)
		return -1;
	if (e->count == UINT64_MAX)
		return fail("image %s is corrupt: eventfd count", jctx);
	e->sem = json_is_true(json_object_get(j, "semaphore"));
	return 0;
}

static int eventfd_prepare(struct tree *t, struct img *im, int i, enum file_pass pass)
{
	struct ofile *of = &t->files.of[i];
	const struct eventfd_file *e = of->priv;
	(void)im, (void)pass;
	of->rfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | (e->sem ? EFD_SEMAPHORE : 0));
	if (of->rfd < 0)
		return fail_errno("cannot create an eventfd");
	if (e->count && write(of->rfd, &e->count, 8) != 8)
		return fail_errno("cannot set an eventfd's count to %" PRIu64, e->count);
	return 0;
}

static void eventfd_free(struct ofile *of)
{
	free(of->priv);
}

const struct file_ops eventfd_ops = {
	.name = "eventfd",
	.flags = FO_SETFL,
	.match = eventfd_match,
	.dump = eventfd_dump,
	.encode = eventfd_encode,
	.decode = eventfd_decode,
	.prepare = eventfd_prepare,
	.free = eventfd_free,
};
