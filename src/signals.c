/*
 * Signals: handlers (with flags, restorer and mask), the per-thread blocked
 * mask and sigaltstack, and pending signals, both process-wide and
 * thread-directed, with their full siginfo (sigqueue values survive).
 *
 * Handlers and sigaltstack can only be read and set by the process (the
 * thread) itself, so both directions use remote syscalls.  Pending signals
 * are queued by the process to itself, the only way the kernel accepts a
 * siginfo with the sender's si_code.  All signals stay blocked until the
 * very end, when each thread gets its saved mask back.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "image.h"
#include "log.h"
#include "pstate.h"
#include "ptrace.h"
#include "util.h"

#ifndef PTRACE_PEEKSIGINFO_SHARED
#define PTRACE_PEEKSIGINFO_SHARED 1
#endif

struct kernel_sigaction {
	uint64_t handler, flags, restorer, mask;
};

struct kernel_stack {
	uint64_t sp;
	int32_t flags;
	int32_t pad;
	uint64_t size;
};

static int unblockable(int sig)
{
	return sig == SIGKILL || sig == SIGSTOP;
}

static int peek_pending(pid_t tid, int shared, struct sig_queue *q)
{
	struct __ptrace_peeksiginfo_args a = { .off = 0, .flags = shared ? PTRACE_PEEKSIGINFO_SHARED : 0,
					      .nr = 32 };
	siginfo_t buf[32];
	for (;;) {
		long n = ptrace(PTRACE_PEEKSIGINFO, tid, &a, buf);
		if (n < 0)
			return fail_errno("cannot read pending signals of tid %d", tid);
		if (n == 0)
			return 0;
		q->q = xrealloc(q->q, (q->n + n) * sizeof(*q->q));
		for (long i = 0; i < n; i++)
			q->q[q->n++].info = buf[i];
		a.off += n;
	}
}

int sig_dump(struct proc_state *ps)
{
	struct rsys *rs = &ps->rs;
	for (int sig = 1; sig <= 64; sig++) {
		struct kernel_sigaction ka;
		if (unblockable(sig))
			continue;
		if (rsys_chk(rs, "rt_sigaction (read)", SYS_rt_sigaction, sig, 0, rs->scratch, 8, 0, 0) < 0)
			return -1;
		if (mem_peek(ps->hpid, rs->scratch, &ka, sizeof(ka)) < 0)
			return -1;
		ps->act[sig - 1] = (struct sig_action){ ka.handler, ka.flags, ka.restorer, ka.mask };
	}
	for (int i = 0; i < ps->nthreads; i++) {
		struct thread_state *t = &ps->threads[i];
		struct kernel_stack ks;
		struct rsys trs;
		/* sigaltstack reads the calling thread's own. */
		if (rsys_for_thread(rs, t->htid, &trs) < 0)
			return -1;
		if (rsys_chk(&trs, "sigaltstack (read)", SYS_sigaltstack, 0, trs.scratch, 0, 0, 0, 0) < 0)
			return -1;
		if (mem_peek(ps->hpid, trs.scratch, &ks, sizeof(ks)) < 0)
			return -1;
		t->ss_sp = ks.sp;
		t->ss_size = ks.size;
		t->ss_flags = ks.flags;
		if (peek_pending(t->htid, 0, &t->pending) < 0)
			return -1;
	}
	return peek_pending(ps->hpid, 1, &ps->shared_pending);
}

static json_t *queue_json(const struct sig_queue *q)
{
	json_t *arr = json_array();
	for (int i = 0; i < q->n; i++)
		json_array_append_new(arr, json_pack("{s:i,s:o}", "signo", q->q[i].info.si_signo, "siginfo",
						     jblob(&q->q[i].info, sizeof(siginfo_t))));
	return arr;
}

static int queue_decode(json_t *arr, struct sig_queue *q)
{
	json_t *o;
	size_t i;
	if (!arr)
		return -1;
	q->n = json_array_size(arr);
	q->q = xzalloc((q->n + 1) * sizeof(*q->q));
	json_array_foreach(arr, i, o) {
		if (jget_blob(o, "siginfo", &q->q[i].info, sizeof(siginfo_t)) < 0)
			return -1;
		if (q->q[i].info.si_signo < 1 || q->q[i].info.si_signo > 64)
			return fail("image %s is corrupt: pending signal %d", jctx, q->q[i].info.si_signo);
	}
	return 0;
}

void sig_encode(const struct proc_state *ps, json_t *j)
{
	json_t *acts = json_array();
	for (int sig = 1; sig <= 64; sig++) {
		const struct sig_action *a = &ps->act[sig - 1];
		if (unblockable(sig) || (a->handler == 0 && a->flags == 0 && a->mask == 0))
			continue;	/* SIG_DFL with nothing else: the default */
		json_array_append_new(acts, json_pack("{s:i,s:o,s:o,s:o,s:o}", "signo", sig, "handler",
						      jhex(a->handler), "flags", jhex(a->flags), "restorer",
						      jhex(a->restorer), "mask", jhex(a->mask)));
	}
	json_object_set_new(j, "sigactions", acts);
	json_object_set_new(j, "shared_pending", queue_json(&ps->shared_pending));
	for (int i = 0; i < ps->nthreads; i++) {
		json_t *t = json_array_get(json_object_get(j, "threads"), i);
		if (t)
			json_object_set_new(t, "pending", queue_json(&ps->threads[i].pending));
	}
}

int sig_decode(json_t *j, struct proc_state *ps)
{
	json_t *acts = jget_arr(j, "sigactions"), *o;
	size_t i;
	if (!acts)
		return -1;
	json_array_foreach(acts, i, o) {
		long long sig;
		struct sig_action *a;
		if (jget_int(o, "signo", &sig) < 0)
			return -1;
		if (sig < 1 || sig > 64 || unblockable(sig))
			return fail("image %s is corrupt: sigaction for signal %lld", jctx, sig);
		a = &ps->act[sig - 1];
		if (jget_u64(o, "handler", &a->handler) < 0 || jget_u64(o, "flags", &a->flags) < 0 ||
		    jget_u64(o, "restorer", &a->restorer) < 0 || jget_u64(o, "mask", &a->mask) < 0)
			return -1;
	}
	if (queue_decode(jget_arr(j, "shared_pending"), &ps->shared_pending) < 0)
		return -1;
	for (int t = 0; t < ps->nthreads; t++)
		if (queue_decode(jget_arr(json_array_get(json_object_get(j, "threads"), t), "pending"),
				 &ps->threads[t].pending) < 0)
			return -1;
	return 0;
}

static int queue_restore(const struct proc_state *ps, struct rsys *rs, pid_t tid, const struct sig_queue *q)
{
	for (int i = 0; i < q->n; i++) {
		const siginfo_t *si = &q->q[i].info;
		long r;
		if (mem_poke(ps->hpid, rs->scratch, si, sizeof(*si)) < 0)
			return -1;
		if (tid)
			r = rsys_chk(rs, "queueing a pending signal", SYS_rt_tgsigqueueinfo, ps->pid, tid,
				     si->si_signo, rs->scratch, 0, 0);
		else
			r = rsys_chk(rs, "queueing a pending signal", SYS_rt_sigqueueinfo, ps->pid,
				     si->si_signo, rs->scratch, 0, 0, 0);
		if (r < 0)
			return -1;
	}
	return 0;
}

int sig_restore_remote(const struct proc_state *ps, struct rsys *rs)
{
	/* Setting an action to SIG_IGN discards what is pending for it: signals
	 * the restore itself raised (a child's exit) go before the saved ones
	 * come back. */
	for (int sig = 1; sig <= 64; sig++) {
		const struct sig_action *a = &ps->act[sig - 1];
		struct kernel_sigaction ign = { (uint64_t)SIG_IGN, 0, 0, 0 }, ka = { a->handler, a->flags, a->restorer,
										       a->mask };
		if (unblockable(sig))
			continue;
		if (mem_poke(ps->hpid, rs->scratch, &ign, sizeof(ign)) < 0 ||
		    mem_poke(ps->hpid, rs->scratch + 64, &ka, sizeof(ka)) < 0)
			return -1;
		if (rsys_chk(rs, "rt_sigaction", SYS_rt_sigaction, sig, rs->scratch, 0, 8, 0, 0) < 0 ||
		    rsys_chk(rs, "rt_sigaction", SYS_rt_sigaction, sig, rs->scratch + 64, 0, 8, 0, 0) < 0)
			return -1;
	}
	return queue_restore(ps, rs, 0, &ps->shared_pending);
}

int sig_restore_thread(const struct proc_state *ps, const struct thread_state *t, struct rsys *trs)
{
	if (!(t->ss_flags & SS_DISABLE)) {
		struct kernel_stack ks = { t->ss_sp, t->ss_flags & ~SS_ONSTACK, 0, t->ss_size };
		if (mem_poke(ps->hpid, trs->scratch, &ks, sizeof(ks)) < 0)
			return -1;
		if (rsys_chk(trs, "sigaltstack", SYS_sigaltstack, trs->scratch, 0, 0, 0, 0, 0) < 0)
			return -1;
	}
	return queue_restore(ps, trs, t->tid, &t->pending);
}
