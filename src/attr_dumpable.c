/*
 * The dumpable flag (prctl PR_GET/SET_DUMPABLE), which decides core dumps,
 * who may ptrace the process and who owns its /proc files.  Set after the
 * credentials: the kernel resets it whenever a process's credentials
 * change.  Value 2 (SUID_DUMP_ROOT, left by an exec of a set-uid program
 * under fs.suid_dumpable=2) cannot be set by prctl: dump refuses it.
 */
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "image.h"
#include "log.h"
#include "pattrs.h"
#include "pstate.h"

static int dump(const struct proc_state *ps, pid_t tid, struct rsys *rs, void *st)
{
	long v = rsys_chk(rs, "prctl(PR_GET_DUMPABLE)", SYS_prctl, PR_GET_DUMPABLE, 0, 0, 0, 0, 0);
	(void)tid;
	if (v < 0)
		return -1;
	if (v != 0 && v != 1)
		return refuse(ps->pid, "its dumpable flag is %ld (suid_dumpable), which prctl cannot set again", v);
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
	if (pattr_get_int(j, &v, "dumpable") < 0)
		return -1;
	if (v != 0 && v != 1)
		return fail("image %s is corrupt: dumpable %lld", jctx, v);
	*(int *)st = v;
	return 0;
}

static int restore(const struct proc_state *ps, pid_t tid, struct rsys *rs, const void *st)
{
	(void)ps;
	(void)tid;
	return rsys_chk(rs, "prctl(PR_SET_DUMPABLE)", SYS_prctl, PR_SET_DUMPABLE, *(const int *)st, 0, 0, 0, 0) < 0
		       ? -1
		       : 0;
}

const struct pattr attr_dumpable = {
	.key = "dumpable",
	.size = sizeof(int),
	.dump = dump,
	.encode = encode,
	.decode = decode,
	.phase = PATTR_AFTER_CREDS,
	.restore = restore,
};
