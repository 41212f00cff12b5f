/*
 * Timer slack of each thread (prctl PR_GET/SET_TIMERSLACK, made by the
 * thread itself over a remote syscall).
 *
 * A real-time or deadline thread's slack is 0, forced by the kernel when
 * its policy is set (attr_sched.c, restored after this one); it is not set
 * here (PR_SET_TIMERSLACK with 0 means "back to the default").  A fair
 * thread with a slack of 0 cannot be given it back that way: dump refuses.
 * The default slack a thread's children start with is not readable and
 * comes back as the thread's current slack.
 */
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "image.h"
#include "log.h"
#include "pattrs.h"
#include "pstate.h"

static int dump(const struct proc_state *ps, pid_t tid, struct rsys *rs, void *st)
{
	long v = rsys_chk(rs, "prctl(PR_GET_TIMERSLACK)", SYS_prctl, PR_GET_TIMERSLACK, 0, 0, 0, 0, 0);
	if (v < 0 && v > -4096)
		return -1;
	if (v == 0) {
		int pol = sched_getscheduler(tid);
		if (pol == SCHED_OTHER || pol == SCHED_BATCH || pol == SCHED_IDLE)
			return refuse(ps->pid, "tid %d has a timer slack of 0 under a fair scheduling policy, which "
					       "prctl cannot set again", tid);
	}
	*(long *)st = v;
	return 0;
}

static json_t *encode(const void *st)
{
	return pattr_int(*(const long *)st);
}

static int decode(json_t *j, void *st)
{
	long long v;
	if (pattr_get_int(j, &v, "timer_slack_ns") < 0)
		return -1;
	*(long *)st = v;
	return 0;
}

static int restore(const struct proc_state *ps, pid_t tid, struct rsys *rs, const void *st)
{
	long v = *(const long *)st;
	(void)ps;
	(void)tid;
	if (!v)
		return 0;
	return rsys_chk(rs, "prctl(PR_SET_TIMERSLACK)", SYS_prctl, PR_SET_TIMERSLACK, v, 0, 0, 0, 0) < 0 ? -1 : 0;
}

const struct pattr attr_timerslack = {
	.key = "timer_slack_ns",
	.per_thread = 1,
	.size = sizeof(long),
	.dump = dump,
	.encode = encode,
	.decode = decode,
	.phase = PATTR_BEFORE_CREDS,
	.restore = restore,
};
