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
#include "pstate.h"
#include "util.h"

int signalfd_dump(struct proc_state *ps, struct ofile *of, int fd)
{
	char path[64], *s;
	const char *p;
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", ps->pid, fd);
	if (!(s = read_file(path, NULL)))
		return fail_errno("cannot read %s", path);
	p = proc_field(s, "sigmask");
	if (!p) {
		free(s);
		return fail("pid %d: cannot read the mask of signalfd %d", ps->pid, fd);
	}
	of->sfd_mask = strtoull(p, NULL, 16);
	free(s);
	return 0;
}

void signalfd_encode(const struct ofile *of, json_t *j)
{
	json_object_set_new(j, "sigmask", jhex(of->sfd_mask));
}

int signalfd_decode(json_t *j, struct ofile *of)
{
	return jget_u64(j, "sigmask", &of->sfd_mask);
}

int signalfd_prepare(struct ofile *of)
{
	/* The raw syscall takes the kernel's 8-byte mask as is. */
	of->rfd = syscall(SYS_signalfd4, -1, &of->sfd_mask, 8, SFD_CLOEXEC);
	if (of->rfd < 0)
		return fail_errno("cannot create a signalfd");
	return 0;
}
