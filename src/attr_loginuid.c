/*
 * The audit login uid (/proc/PID/loginuid).  Only a task itself may write
 * its own, so the new process writes it while it runs ferry's code, before
 * it creates its threads (which inherit it); that needs CAP_AUDIT_CONTROL
 * (ferry's) and a kernel whose loginuid is not made immutable once set.
 * The kernel gives the task a new audit session id (/proc/PID/sessionid)
 * when it does: that number is not carried.  Threads with login uids of
 * their own are refused.
 */
#include <stdio.h>
#include <stdlib.h>

#include "image.h"
#include "log.h"
#include "pattrs.h"
#include "pstate.h"
#include "util.h"

static int read_uid(const char *path, unsigned *v)
{
	char *s = read_file(path, NULL);
	if (!s)
		return fail_errno("cannot read %s", path);
	*v = strtoul(s, NULL, 10);
	free(s);
	return 0;
}

static int dump(const struct proc_state *ps, pid_t tid, struct rsys *rs, void *st)
{
	char path[96];
	(void)tid;
	(void)rs;
	snprintf(path, sizeof(path), "/proc/%d/loginuid", ps->hpid);
	if (read_uid(path, st) < 0)
		return -1;
	for (int i = 1; i < ps->nthreads; i++) {
		unsigned t = 0;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/loginuid", ps->hpid, ps->threads[i].htid);
		if (read_uid(path, &t) < 0)
			return -1;
		if (t != *(unsigned *)st)
			return refuse(ps->pid, "thread %d has its own audit login uid %u (the process has %u); "
					       "ferry restores one per process", ps->threads[i].tid, t, *(unsigned *)st);
	}
	return 0;
}

static int survey(pid_t pid, pid_t tid, char *why, size_t len)
{
	char path[96];
	unsigned p = 0, t = 0;
	(void)tid;
	snprintf(path, sizeof(path), "/proc/%d/loginuid", pid);
	if (read_uid(path, &p) < 0) {
		fail_clear();
		return 0;
	}
	pid_t *tids;
	int n;
	if (proc_tids(pid, &tids, &n) < 0) {
		fail_clear();
		return 0;
	}
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/loginuid", pid, tids[i]);
		if (read_uid(path, &t) < 0) {
			fail_clear();
			continue;
		}
		if (t != p) {
			snprintf(why, len, "thread %d has its own audit login uid %u (the process has %u)", tids[i], t, p);
			free(tids);
			return 1;
		}
	}
	free(tids);
	return 0;
}

static json_t *encode(const void *st)
{
	return pattr_int(*(const unsigned *)st);
}

static int decode(json_t *j, void *st)
{
	long long v;
	if (pattr_get_int(j, &v, "loginuid") < 0)
		return -1;
	*(unsigned *)st = v;
	return 0;
}

static int restore_child(const struct proc_state *ps, const void *st)
{
	unsigned want = *(const unsigned *)st, have = 0;
	FILE *f;
	int ok;
	if (read_uid("/proc/self/loginuid", &have) < 0)
		return -1;
	if (have == want)
		return 0;
	f = fopen("/proc/self/loginuid", "w");
	ok = f && fprintf(f, "%u", want) > 0;
	if (f && fclose(f) != 0)
		ok = 0;
	return ok ? 0
		  : fail_errno("pid %d: cannot set its audit login uid to %u (needs CAP_AUDIT_CONTROL, and a "
			       "loginuid that is not immutable)", ps->pid, want);
}

const struct pattr attr_loginuid = {
	.key = "loginuid",
	.size = sizeof(unsigned),
	.dump = dump,
	.encode = encode,
	.decode = decode,
	.restore_child = restore_child,
	.survey = survey,
};
