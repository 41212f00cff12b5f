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
#include "pstate.h"
#include "util.h"

int eventfd_dump(struct proc_state *ps, struct ofile *of, int fd)
{
	char path[64], *s;
	const char *p;
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", ps->pid, fd);
	if (!(s = read_file(path, NULL)))
		return fail_errno("cannot read %s", path);
	if (!(p = proc_field(s, "eventfd-count"))) {
		free(s);
		return fail("pid %d: cannot read the count of eventfd %d", ps->pid, fd);
	}
	of->efd_count = strtoull(p, NULL, 16);
	p = proc_field(s, "eventfd-semaphore");
	of->efd_sem = p && atoi(p);
	free(s);
	return 0;
}

void eventfd_encode(const struct ofile *of, json_t *j)
{
	json_object_set_new(j, "count", jhex(of->efd_count));
	json_object_set_new(j, "semaphore", json_boolean(of->efd_sem));
}

int eventfd_decode(json_t *j, struct ofile *of)
{
	if (jget_u64(j, "count", &of->efd_count) < 0)
		return -1;
	if (of->efd_count == UINT64_MAX)
		return fail("image %s is corrupt: eventfd count", jctx);
	of->efd_sem = json_is_true(json_object_get(j, "semaphore"));
	return 0;
}

int eventfd_prepare(struct ofile *of)
{
	of->rfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | (of->efd_sem ? EFD_SEMAPHORE : 0));
	if (of->rfd < 0)
		return fail_errno("cannot create an eventfd");
	if (of->efd_count && write(of->rfd, &of->efd_count, 8) != 8)
		return fail_errno("cannot set an eventfd's count to %" PRIu64, of->efd_count);
	return 0;
}
