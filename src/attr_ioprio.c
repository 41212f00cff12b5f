/*
 * I/O priority of each thread (ioprio_get/ioprio_set with
 * IOPRIO_WHO_PROCESS on the thread id, from ferry).  A thread that never
 * set one reports class NONE (its priority then follows its nice value),
 * which is given back as such.
 */
#include <sys/syscall.h>
#include <unistd.h>

#include "image.h"
#include "log.h"
#include "pattrs.h"
#include "pstate.h"

#define IOPRIO_WHO_PROCESS 1

static int dump(const struct proc_state *ps, pid_t tid, struct rsys *rs, void *st)
{
	long v = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, tid);
	(void)ps;
	(void)rs;
	if (v < 0)
		return fail_errno("cannot read the I/O priority of tid %d", tid);
	*(int *)st = v;
	return 0;
}

static json_t *encode(const void *st)
{
	return pattr_int(*(const int *)st);
}

static int decode(json_t *j, void *st)
{
	long long v;
	if (pattr_get_int(j, &v, "ioprio") < 0)
		return -1;
	*(int *)st = v;
	return 0;
}

static int restore(const struct proc_state *ps, pid_t tid, struct rsys *rs, const void *st)
{
	int v = *(const int *)st;
	(void)rs;
	if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, tid, v) < 0)
		return fail_errno("pid %d: cannot set the I/O priority of tid %d to class %d level %d", ps->pid, tid,
				  v >> 13, v & 0xff);
	return 0;
}

const struct pattr attr_ioprio = {
	.key = "ioprio",
	.per_thread = 1,
	.size = sizeof(int),
	.dump = dump,
	.encode = encode,
	.decode = decode,
	.phase = PATTR_BEFORE_CREDS,
	.restore = restore,
};
