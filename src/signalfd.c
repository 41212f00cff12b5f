/*
 * signalfd: its signal mask, from /proc/PID/fdinfo.  The signals it would
 * read are the process's pending signals, which signals.c carries.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "image.h"
#include "log.h"
#include "fileops.h"
#include "util.h"

struct signalfd_file {
	uint64_t mask;
};

static int signalfd_match(const struct fdump *d)
{
	return !strcmp(d->link, "anon_inode:[signalfd]");
}

static int signalfd_dump(struct fdump *d, struct ofile *of)
{
	struct proc_state *ps = d->ps;
	struct signalfd_file *sf = of->priv = xzalloc(sizeof(*sf));
	int fd = d->fd;
	char path[64], *s;
	const char *p;
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", ps->hpid, fd);
	if (!(s = read_file(path, NULL)))
		return fail_errno("cannot read %s", path);
	p = proc_field(s, "sigmask");
	if (!p) {
		free(s);
		return fail("pid %d: cannot read the mask of signalfd %d", ps->pid, fd);
	}
	sf->mask = strtoull(p, NULL, 16);
	free(s);
	return 0;
}

static void signalfd_encode(const struct ofile *of, json_t *j)
{
	const struct signalfd_file *sf = of->priv;
	json_object_set_new(j, "sigmask", jhex(sf->mask));
}

static int signalfd_decode(json_t *j, struct ofile *of, const struct tree *t)
{
	struct signalfd_file *sf = of->priv = xzalloc(sizeof(*sf));
	(void)t;
	return jget_u64(j, "sigmask", &sf->mask);
}

static int signalfd_prepare(struct tree *t, struct img *im, int i, enum file_pass pass)
{
	struct ofile *of = &t->files.of[i];
	struct signalfd_file *sf = of->priv;
	(void)im, (void)pass;
	/* The raw syscall takes the kernel's 8-byte mask as is. */
	of->rfd = syscall(SYS_signalfd4, -1, &sf->mask, 8, SFD_CLOEXEC);
	if (of->rfd < 0)
		return fail_errno("cannot create a signalfd");
	return 0;
}

static void signalfd_free(struct ofile *of)
{
	free(of->priv);
}

const struct file_ops signalfd_ops = {
	.name = "signalfd",
	.flags = FO_SETFL,
	.match = signalfd_match,
	.dump = signalfd_dump,
	.encode = signalfd_encode,
	.decode = signalfd_decode,
	.prepare = signalfd_prepare,
	.free = signalfd_free,
};
