/*
 * Process timers: the three interval timers (setitimer: REAL, VIRTUAL,
 * PROF) and POSIX timers (timer_create) with their ids, clocks, how they
 * notify (signal, thread-directed signal, none) and the value they carry.
 *
 * Both are read and set by the process itself (remote syscalls).  POSIX
 * timers keep their ids through PR_TIMER_CREATE_RESTORE_IDS, with which
 * timer_create takes the id it is given.  As for timerfd, the time left is
 * restored as time left: the process did not run while frozen.
 *
 * A timer that signals one thread (SIGEV_THREAD_ID) signals the same thread
 * again: its id is kept.  Limits: a timer's pending overrun count is not
 * carried; a timer on the CPU-time clock of its creating thread
 * (CLOCK_THREAD_CPUTIME_ID) in a process of several threads is refused (the
 * creator cannot be read; one thread's clock named by id, as from
 * pthread_getcpuclockid, is fine).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "image.h"
#include "log.h"
#include "pstate.h"
#include "util.h"

#ifndef PR_TIMER_CREATE_RESTORE_IDS
#define PR_TIMER_CREATE_RESTORE_IDS 77
#define PR_TIMER_CREATE_RESTORE_IDS_OFF 0
#define PR_TIMER_CREATE_RESTORE_IDS_ON 1
#endif
#ifndef SIGEV_THREAD_ID
#define SIGEV_THREAD_ID 4
#endif

/* The kernel's struct sigevent, as timer_create takes it. */
struct ksigevent {
	uint64_t value;
	int32_t signo;
	int32_t notify;
	int32_t tid;
	int32_t pad[11];
};

static int parse_timers(struct proc_state *ps, const char *text)
{
	const char *p = text;
	while ((p = strstr(p, "ID: "))) {
		struct ptimer t = { 0 };
		char how[16] = "", kind[8] = "";
		unsigned long long val;
		int n = 0;
		if (sscanf(p, "ID: %d\nsignal: %d/%llx\nnotify: %15[a-z]/%7[a-z].%d\nClockID: %d%n", &t.id, &t.signo, &val,
			   how, kind, &t.tid, &t.clock, &n) != 7)
			return fail("pid %d: cannot parse /proc/%d/timers", ps->pid, ps->pid);
		t.value = val;
		/* "signal/tid.N" is SIGEV_SIGNAL | SIGEV_THREAD_ID (= SIGEV_THREAD_ID): a
		 * signal to thread N; "/pid.N", to the process */
		if (!strcmp(how, "signal"))
			t.notify = SIGEV_SIGNAL;
		else if (!strcmp(how, "none"))
			t.notify = SIGEV_NONE;
		else
			return refuse(ps->pid, "POSIX timer %d notifies by \"%s\", which ferry does not know", t.id, how);
		if (!strcmp(kind, "tid"))
			t.notify |= SIGEV_THREAD_ID;
		else if (strcmp(kind, "pid"))
			return refuse(ps->pid, "POSIX timer %d notifies \"%s\" %d, which ferry does not know", t.id, kind,
				      t.tid);
		/* A CPU-time clock of "the calling thread" belongs to the thread that
		 * created the timer, which /proc does not tell. */
		if (t.clock < 0 && (t.clock & 7) >= 4 && (t.clock >> 3) == -1 && ps->nthreads > 1)
			return refuse(ps->pid, "POSIX timer %d counts the CPU time of the thread that created it "
					       "(CLOCK_THREAD_CPUTIME_ID), and which of its %d threads that was cannot be "
					       "read", t.id, ps->nthreads);
		ps->timers = xrealloc(ps->timers, (ps->ntimers + 1) * sizeof(*ps->timers));
		ps->timers[ps->ntimers++] = t;
		p += n;
	}
	return 0;
}

int timers_dump(struct proc_state *ps)
{
	struct rsys *rs = &ps->rs;
	char path[64], *s;
	int ret;
	for (int w = 0; w < 3; w++)
		if (rsys_chk(rs, "getitimer", SYS_getitimer, w, rs->scratch, 0, 0, 0, 0) < 0 ||
		    mem_peek(ps->hpid, rs->scratch, &ps->itimer[w], sizeof(ps->itimer[w])) < 0)
			return -1;
	snprintf(path, sizeof(path), "/proc/%d/timers", ps->hpid);
	if (!(s = read_file(path, NULL)))
		return fail_errno("cannot read %s", path);
	ret = parse_timers(ps, s);
	free(s);
	for (int i = 0; i < ps->ntimers && !ret; i++)
		if (rsys_chk(rs, "timer_gettime", SYS_timer_gettime, ps->timers[i].id, rs->scratch, 0, 0, 0, 0) < 0 ||
		    mem_peek(ps->hpid, rs->scratch, &ps->timers[i].val, sizeof(ps->timers[i].val)) < 0)
			ret = -1;
	return ret;
}

static json_t *jtv(const struct timeval *tv)
{
	return json_pack("[I,I]", (json_int_t)tv->tv_sec, (json_int_t)tv->tv_usec);
}

static json_t *jts(const struct timespec *ts)
{
	return json_pack("[I,I]", (json_int_t)ts->tv_sec, (json_int_t)ts->tv_nsec);
}

void timers_encode(const struct proc_state *ps, json_t *j)
{
	json_t *it = json_array(), *pt = json_array();
	for (int w = 0; w < 3; w++)
		json_array_append_new(it, json_pack("{s:o,s:o}", "value", jtv(&ps->itimer[w].it_value), "interval",
						    jtv(&ps->itimer[w].it_interval)));
	for (int i = 0; i < ps->ntimers; i++) {
		const struct ptimer *t = &ps->timers[i];
		json_array_append_new(pt, json_pack("{s:i,s:i,s:i,s:o,s:i,s:i,s:o,s:o}", "id", t->id, "clock", t->clock,
						    "signo", t->signo, "sigev_value", jhex(t->value), "notify",
						    t->notify, "tid", t->tid, "value", jts(&t->val.it_value),
						    "interval", jts(&t->val.it_interval)));
	}
	json_object_set_new(j, "itimers", it);
	json_object_set_new(j, "posix_timers", pt);
}

static int pair(json_t *o, const char *key, long long *a, long long *b, long long bmax)
{
	json_t *x = jget_arr(o, key);
	if (!x || json_array_size(x) != 2 || !json_is_integer(json_array_get(x, 0)) ||
	    !json_is_integer(json_array_get(x, 1)))
		return fail("image %s is corrupt: timer %s", jctx, key);
	*a = json_integer_value(json_array_get(x, 0));
	*b = json_integer_value(json_array_get(x, 1));
	if (*a < 0 || *b < 0 || *b >= bmax)
		return fail("image %s is corrupt: timer %s", jctx, key);
	return 0;
}

int timers_decode(json_t *j, struct proc_state *ps)
{
	json_t *it = jget_arr(j, "itimers"), *pt = jget_arr(j, "posix_timers"), *o;
	size_t i;
	long long a, b;
	if (!it || !pt || json_array_size(it) != 3)
		return fail("image %s is corrupt: timers", jctx);
	json_array_foreach(it, i, o) {
		if (pair(o, "value", &a, &b, 1000000) < 0)
			return -1;
		ps->itimer[i].it_value = (struct timeval){ a, b };
		if (pair(o, "interval", &a, &b, 1000000) < 0)
			return -1;
		ps->itimer[i].it_interval = (struct timeval){ a, b };
	}
	ps->ntimers = json_array_size(pt);
	ps->timers = xzalloc((ps->ntimers + 1) * sizeof(*ps->timers));
	json_array_foreach(pt, i, o) {
		struct ptimer *t = &ps->timers[i];
		long long v;
		if (jget_int(o, "id", &v) < 0)
			return -1;
		t->id = v;
		if (jget_int(o, "clock", &v) < 0)
			return -1;
		t->clock = v;
		if (jget_int(o, "signo", &v) < 0)
			return -1;
		t->signo = v;
		if (jget_int(o, "notify", &v) < 0)
			return -1;
		t->notify = v;
		if (jget_int(o, "tid", &v) < 0)
			return -1;
		t->tid = v;
		if (jget_u64(o, "sigev_value", &t->value) < 0)
			return -1;
		if (pair(o, "value", &a, &b, 1000000000) < 0)
			return -1;
		t->val.it_value = (struct timespec){ a, b };
		if (pair(o, "interval", &a, &b, 1000000000) < 0)
			return -1;
		t->val.it_interval = (struct timespec){ a, b };
	}
	return 0;
}

int timers_restore_remote(const struct proc_state *ps, struct rsys *rs)
{
	if (ps->ntimers) {
		if (rsys_chk(rs, "prctl(PR_TIMER_CREATE_RESTORE_IDS)", SYS_prctl, PR_TIMER_CREATE_RESTORE_IDS,
			     PR_TIMER_CREATE_RESTORE_IDS_ON, 0, 0, 0, 0) < 0)
			return -1;
		for (int i = 0; i < ps->ntimers; i++) {
			const struct ptimer *t = &ps->timers[i];
			struct ksigevent se = { .value = t->value, .signo = t->signo, .notify = t->notify, .tid = t->tid };
			int32_t id = t->id;
			if (mem_poke(ps->hpid, rs->scratch, &se, sizeof(se)) < 0 ||
			    mem_poke(ps->hpid, rs->scratch + 128, &id, sizeof(id)) < 0 ||
			    mem_poke(ps->hpid, rs->scratch + 256, &t->val, sizeof(t->val)) < 0)
				return -1;
			if (rsys_chk(rs, "timer_create", SYS_timer_create, t->clock, rs->scratch, rs->scratch + 128, 0, 0,
				     0) < 0)
				return -1;
			if (mem_peek(ps->hpid, rs->scratch + 128, &id, sizeof(id)) < 0)
				return -1;
			if (id != t->id)
				return fail("pid %d: POSIX timer %d came back as %d", ps->pid, t->id, id);
			if ((t->val.it_value.tv_sec || t->val.it_value.tv_nsec) &&
			    rsys_chk(rs, "timer_settime", SYS_timer_settime, id, 0, rs->scratch + 256, 0, 0, 0) < 0)
				return -1;
		}
		if (rsys_chk(rs, "prctl(PR_TIMER_CREATE_RESTORE_IDS)", SYS_prctl, PR_TIMER_CREATE_RESTORE_IDS,
			     PR_TIMER_CREATE_RESTORE_IDS_OFF, 0, 0, 0, 0) < 0)
			return -1;
	}
	for (int w = 0; w < 3; w++) {
		if (!ps->itimer[w].it_value.tv_sec && !ps->itimer[w].it_value.tv_usec)
			continue;
		if (mem_poke(ps->hpid, rs->scratch, &ps->itimer[w], sizeof(ps->itimer[w])) < 0 ||
		    rsys_chk(rs, "setitimer", SYS_setitimer, w, rs->scratch, 0, 0, 0, 0) < 0)
			return -1;
	}
	return 0;
}
