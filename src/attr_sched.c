/*
 * Scheduling policy, priority and nice value of each thread: every policy
 * sched_setattr offers (OTHER, BATCH, IDLE, FIFO, RR, DEADLINE with its
 * runtime/deadline/period), the reset-on-fork flag, the DEADLINE flags
 * (reclaim, overrun), and utilization clamps when set.
 *
 * Read and set from ferry with sched_getattr/sched_setattr on the thread id
 * (ferry is root).  A real-time or deadline thread keeps a nice value of its
 * own (it counts again if it goes back to SCHED_OTHER), which sched_setattr
 * only takes for OTHER and BATCH: it is set first under SCHED_OTHER (IDLE
 * is the same).  Under a fair policy the kernel reports an EEVDF time
 * slice as sched_runtime; whether it was the default or set by the program
 * cannot be told apart, and the thread gets the default slice back.  Restored
 * last (see pattrs.c).  A DEADLINE thread needs the kernel's admission
 * control to accept its bandwidth on the restore host; if it does not, the
 * restore fails naming the thread.
 */
#include <errno.h>
#include <linux/sched.h>
#include <linux/sched/types.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "image.h"
#include "log.h"
#include "pattrs.h"
#include "pstate.h"

#define KEPT_FLAGS (SCHED_FLAG_RESET_ON_FORK | SCHED_FLAG_RECLAIM | SCHED_FLAG_DL_OVERRUN)
#define UCLAMP_MAX_DEFAULT 1024	/* SCHED_CAPACITY_SCALE */

static int fair(int policy)
{
	return policy == SCHED_NORMAL || policy == SCHED_BATCH;
}

static int dump(const struct proc_state *ps, pid_t tid, struct rsys *rs, void *st)
{
	struct sched_attr *a = st;
	(void)ps;
	(void)rs;
	memset(a, 0, sizeof(*a));
	if (syscall(SYS_sched_getattr, tid, a, sizeof(*a), 0) < 0)
		return fail_errno("cannot read the scheduling policy of tid %d", tid);
	a->sched_flags &= KEPT_FLAGS;
	/* sched_getattr shows the nice value only under OTHER and BATCH; the
	 * others keep one too (getpriority shows it) */
	errno = 0;
	a->sched_nice = getpriority(PRIO_PROCESS, tid);
	if (errno)
		return fail_errno("cannot read the nice value of tid %d", tid);
	/* under a fair policy sched_runtime is the EEVDF slice, custom or not (not carried) */
	if (a->sched_policy != SCHED_DEADLINE)
		a->sched_runtime = a->sched_deadline = a->sched_period = 0;
	return 0;
}

static json_t *encode(const void *st)
{
	const struct sched_attr *a = st;
	json_t *o = json_pack("{s:i,s:I,s:i,s:i}", "policy", (int)a->sched_policy, "flags",
			      (json_int_t)a->sched_flags, "nice", a->sched_nice, "priority", (int)a->sched_priority);
	if (a->sched_policy == SCHED_DEADLINE)
		json_object_update_new(o, json_pack("{s:I,s:I,s:I}", "runtime", (json_int_t)a->sched_runtime,
						    "deadline", (json_int_t)a->sched_deadline, "period",
						    (json_int_t)a->sched_period));
	if (a->sched_util_min || (a->sched_util_max && a->sched_util_max != UCLAMP_MAX_DEFAULT))
		json_object_update_new(o, json_pack("{s:i,s:i}", "util_min", (int)a->sched_util_min, "util_max",
						    (int)a->sched_util_max));
	return o;
}

static int get(json_t *o, const char *key, long long *v, int optional)
{
	json_t *x = json_object_get(o, key);
	if (!x && optional) {
		*v = 0;
		return 0;
	}
	return pattr_get_int(x, v, key);
}

static int decode(json_t *j, void *st)
{
	struct sched_attr *a = st;
	long long pol, fl, nice, prio, rt, dl, per, umin, umax;
	if (get(j, "policy", &pol, 0) < 0 || get(j, "flags", &fl, 0) < 0 || get(j, "nice", &nice, 0) < 0 ||
	    get(j, "priority", &prio, 0) < 0 || get(j, "runtime", &rt, 1) < 0 || get(j, "deadline", &dl, 1) < 0 ||
	    get(j, "period", &per, 1) < 0 || get(j, "util_min", &umin, 1) < 0 || get(j, "util_max", &umax, 1) < 0)
		return -1;
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->sched_policy = pol;
	a->sched_flags = fl & KEPT_FLAGS;
	a->sched_nice = nice;
	a->sched_priority = prio;
	a->sched_runtime = rt;
	a->sched_deadline = dl;
	a->sched_period = per;
	a->sched_util_min = umin;
	a->sched_util_max = json_object_get(j, "util_max") ? umax : UCLAMP_MAX_DEFAULT;
	if (json_object_get(j, "util_min"))
		a->sched_flags |= SCHED_FLAG_UTIL_CLAMP;
	return 0;
}

static const char *policy_name(int p)
{
	static const char *const n[] = { "SCHED_OTHER", "SCHED_FIFO", "SCHED_RR", "SCHED_BATCH", "?", "SCHED_IDLE",
					 "SCHED_DEADLINE" };
	return p >= 0 && p < 7 ? n[p] : "an unknown policy";
}

static int restore(const struct proc_state *ps, pid_t tid, struct rsys *rs, const void *st)
{
	struct sched_attr a = *(const struct sched_attr *)st;
	(void)rs;
	a.size = sizeof(a);
	if (!fair(a.sched_policy)) {
		struct sched_attr n = { .size = sizeof(n), .sched_policy = SCHED_NORMAL, .sched_nice = a.sched_nice };
		if (syscall(SYS_sched_setattr, tid, &n, 0) < 0)
			return fail_errno("pid %d: cannot set the nice value %d of tid %d", ps->pid, a.sched_nice, tid);
	}
	if (syscall(SYS_sched_setattr, tid, &a, 0) < 0)
		return fail_errno("pid %d: cannot give tid %d its scheduling policy %s (priority %u, nice %d%s)%s",
				  ps->pid, tid, policy_name(a.sched_policy), a.sched_priority, a.sched_nice,
				  a.sched_flags & SCHED_FLAG_RESET_ON_FORK ? ", reset-on-fork" : "",
				  errno == EBUSY && a.sched_policy == SCHED_DEADLINE
					  ? ": the kernel's admission control refuses its bandwidth here"
					  : "");
	return 0;
}

const struct pattr attr_sched = {
	.key = "sched",
	.per_thread = 1,
	.size = sizeof(struct sched_attr),
	.dump = dump,
	.encode = encode,
	.decode = decode,
	.phase = PATTR_AFTER_CREDS,
	.restore = restore,
};
