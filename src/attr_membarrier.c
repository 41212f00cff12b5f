/*
 * membarrier registrations of a process (the REGISTER_* commands it ran:
 * global, private expedited, sync-core, rseq), read with
 * MEMBARRIER_CMD_GET_REGISTRATIONS (Linux 6.3) and registered again by the
 * restored process over remote syscalls.  On an older kernel there is no
 * way to read them: dump says so (a warning naming the pid) and records
 * none, so a program that relied on one would find membarrier failing with
 * EPERM after the restore.
 */
#include <errno.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>

#include "image.h"
#include "log.h"
#include "pattrs.h"
#include "pstate.h"

#define CMD_GET_REGISTRATIONS (1 << 9)
#define REGISTER_CMDS                                                                                          \
	(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED |                \
	 MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ)

static int dump(const struct proc_state *ps, pid_t tid, struct rsys *rs, void *st)
{
	long v = rsys_call(rs, SYS_membarrier, CMD_GET_REGISTRATIONS, 0, 0, 0, 0, 0);
	(void)tid;
	if (v == -EINVAL || v == -ENOSYS) {
		pr_warn("pid %d: this kernel cannot tell its membarrier registrations (Linux 6.3 can); none are "
			"carried", ps->pid);
		v = 0;
	} else if (v < 0 && v > -4096) {
		errno = -v;
		return fail_errno("cannot read the membarrier registrations of pid %d", ps->pid);
	} else if (v & ~REGISTER_CMDS) {
		return refuse(ps->pid, "it has membarrier registrations 0x%lx ferry does not know", v & ~REGISTER_CMDS);
	}
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
	if (pattr_get_int(j, &v, "membarrier") < 0)
		return -1;
	if (v & ~REGISTER_CMDS)
		return fail("image %s is corrupt: membarrier registrations 0x%llx", jctx, v);
	*(int *)st = v;
	return 0;
}

static int restore(const struct proc_state *ps, pid_t tid, struct rsys *rs, const void *st)
{
	int v = *(const int *)st;
	(void)tid;
	for (int b = 0; b < 31; b++)
		if ((v >> b & 1) && rsys_call(rs, SYS_membarrier, 1 << b, 0, 0, 0, 0, 0) != 0)
			return fail("pid %d: cannot register membarrier command 0x%x again", ps->pid, 1 << b);
	return 0;
}

const struct pattr attr_membarrier = {
	.key = "membarrier",
	.size = sizeof(int),
	.dump = dump,
	.encode = encode,
	.decode = decode,
	.phase = PATTR_BEFORE_CREDS,
	.restore = restore,
};
