/*
 * oom_score_adj of a process (/proc/PID/oom_score_adj).  Written by the new
 * process itself while it still has ferry's credentials: a value below its
 * parent's needs CAP_SYS_RESOURCE, which the restored program may lack.
 * (Written with that capability, the value also becomes the floor the
 * program may later lower it to without privilege, oom_score_adj_min, which
 * the kernel does not show.)
 */
#include <stdio.h>
#include <stdlib.h>

#include "image.h"
#include "log.h"
#include "pattrs.h"
#include "pstate.h"
#include "util.h"

static int dump(const struct proc_state *ps, pid_t tid, struct rsys *rs, void *st)
{
	char path[64], *s;
	(void)tid;
	(void)rs;
	snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", ps->hpid);
	if (!(s = read_file(path, NULL)))
		return fail_errno("cannot read %s", path);
	*(int *)st = atoi(s);
	free(s);
	return 0;
}

static json_t *encode(const void *st)
{
	return pattr_int(*(const int *)st);
}

static int decode(json_t *j, void *st)
{
	long long v;
	if (pattr_get_int(j, &v, "oom_score_adj") < 0)
		return -1;
	if (v < -1000 || v > 1000)
		return fail("image %s is corrupt: oom_score_adj %lld", jctx, v);
	*(int *)st = v;
	return 0;
}

static int restore_child(const struct proc_state *ps, const void *st)
{
	FILE *f = fopen("/proc/self/oom_score_adj", "w");
	int ok = f && fprintf(f, "%d", *(const int *)st) > 0;
	if (f && fclose(f) != 0)
		ok = 0;
	return ok ? 0 : fail_errno("pid %d: cannot set its oom_score_adj to %d", ps->pid, *(const int *)st);
}

const struct pattr attr_oom = {
	.key = "oom_score_adj",
	.size = sizeof(int),
	.dump = dump,
	.encode = encode,
	.decode = decode,
	.restore_child = restore_child,
};
