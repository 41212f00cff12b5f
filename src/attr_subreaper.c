/*
 * The child-subreaper flag (prctl PR_SET_CHILD_SUBREAPER): read by the
 * process over a remote syscall, set again by the new process itself while
 * it runs ferry's code.
 */
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "image.h"
#include "log.h"
#include "pattrs.h"
#include "pstate.h"

static int dump(const struct proc_state *ps, pid_t tid, struct rsys *rs, void *st)
{
	(void)tid;
	if (rsys_chk(rs, "prctl(PR_GET_CHILD_SUBREAPER)", SYS_prctl, PR_GET_CHILD_SUBREAPER, rs->scratch, 0, 0, 0,
		     0) < 0)
		return -1;
	return mem_peek(ps->hpid, rs->scratch, st, sizeof(int));
}

static json_t *encode(const void *st)
{
	return json_boolean(*(const int *)st);
}

static int decode(json_t *j, void *st)
{
	if (!json_is_boolean(j))
		return fail("image %s is corrupt: child_subreaper is not a boolean", jctx);
	*(int *)st = json_is_true(j);
	return 0;
}

static int restore_child(const struct proc_state *ps, const void *st)
{
	if (prctl(PR_SET_CHILD_SUBREAPER, *(const int *)st, 0, 0, 0) < 0)
		return fail_errno("pid %d: cannot set its child-subreaper flag", ps->pid);
	return 0;
}

const struct pattr attr_subreaper = {
	.key = "child_subreaper",
	.size = sizeof(int),
	.dump = dump,
	.encode = encode,
	.decode = decode,
	.restore_child = restore_child,
};
