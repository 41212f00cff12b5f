/*
 * seccomp: strict mode and filters, per thread.
 *
 * Dump reads each thread's mode (/proc/PID/task/TID/status) and the filters
 * of a filtered thread with PTRACE_SECCOMP_GET_FILTER (their BPF code) and
 * PTRACE_SECCOMP_GET_METADATA (the LOG flag), oldest first.  ferry's own
 * remote syscalls must not meet them: ptrace suspends a traced thread's
 * seccomp (PTRACE_O_SUSPEND_SECCOMP, see pt_seize_suspend_seccomp), at dump
 * and at restore, so the filters are installed at restore like any other
 * attribute and only bite once ferry lets the process go.
 *
 * Filters belong to threads but are shared objects: threads created after
 * a filter, or synchronized with SECCOMP_FILTER_FLAG_TSYNC, share it (and a
 * later TSYNC needs that).  ferry cannot see that sharing, only the code;
 * it carries the two shapes it can rebuild exactly: every thread with the
 * same filters (installed once with TSYNC, so they are shared again), or a
 * single filtered thread.  Other mixes are refused, as is a filter that
 * cannot be read (no CONFIG_CHECKPOINT_RESTORE).  A user-notification
 * listener's fd is refused by the fd table (an unknown anonymous inode).
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>

#include "image.h"
#include "log.h"
#include "pattrs.h"
#include "pstate.h"
#include "util.h"

#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif
#ifndef PTRACE_SECCOMP_GET_METADATA
#define PTRACE_SECCOMP_GET_METADATA 0x420d
#endif
#define MAX_FILTERS 512

struct filter {
	uint64_t flags;
	struct sock_filter *code;
	int len;
};

struct seccomp {
	int nthreads;
	int *mode;		/* per thread (index as ps->threads): 0, SECCOMP_MODE_STRICT, SECCOMP_MODE_FILTER */
	struct filter *f;	/* oldest first: what every filtered thread has */
	int nf;
};

static void free_filters(struct filter *f, int n)
{
	for (int i = 0; i < n; i++)
		free(f[i].code);
	free(f);
}

static void free_st(void *st)
{
	struct seccomp *s = st;
	free(s->mode);
	free_filters(s->f, s->nf);
	memset(s, 0, sizeof(*s));
}

static int read_filters(const struct proc_state *ps, pid_t tid, struct filter **out, int *nout)
{
	struct filter *f = NULL;
	int n = 0;
	for (;; n++) {
		struct { uint64_t filter_off, flags; } md = { n, 0 };
		long len = ptrace(PTRACE_SECCOMP_GET_FILTER, tid, n, NULL);
		if (len < 0 && errno == ENOENT)
			break;
		if (len <= 0 || n >= MAX_FILTERS) {
			free_filters(f, n);
			return refuse(ps->pid, "cannot read seccomp filter %d of thread %d (%s)", n, tid,
				      len < 0 ? strerror(errno) : "too many");
		}
		f = xrealloc(f, (n + 1) * sizeof(*f));
		f[n].len = len;
		f[n].code = xmalloc(len * sizeof(struct sock_filter));
		if (ptrace(PTRACE_SECCOMP_GET_FILTER, tid, n, f[n].code) != len ||
		    ptrace(PTRACE_SECCOMP_GET_METADATA, tid, sizeof(md), &md) < 0) {
			free_filters(f, n + 1);
			return refuse(ps->pid, "cannot read seccomp filter %d of thread %d (%s)", n, tid, strerror(errno));
		}
		f[n].flags = md.flags;
	}
	/* the kernel lists the newest first */
	for (int i = 0; i < n / 2; i++) {
		struct filter t = f[i];
		f[i] = f[n - 1 - i];
		f[n - 1 - i] = t;
	}
	*out = f;
	*nout = n;
	return 0;
}

static int same_filters(const struct filter *a, int na, const struct filter *b, int nb)
{
	if (na != nb)
		return 0;
	for (int i = 0; i < na; i++)
		if (a[i].len != b[i].len || a[i].flags != b[i].flags ||
		    memcmp(a[i].code, b[i].code, a[i].len * sizeof(struct sock_filter)))
			return 0;
	return 1;
}

static int dump(const struct proc_state *ps, pid_t tid, struct rsys *rs, void *st)
{
	struct seccomp *s = st;
	int filtered = 0;
	(void)tid;
	(void)rs;
	s->nthreads = ps->nthreads;
	s->mode = xzalloc((ps->nthreads + 1) * sizeof(int));
	for (int i = 0; i < ps->nthreads; i++) {
		static struct proc_status pst;
		struct filter *f = NULL;
		int nf = 0;
		if (proc_status(ps->threads[i].htid, &pst) < 0)
			return -1;
		s->mode[i] = pst.seccomp;
		if (pst.seccomp != SECCOMP_MODE_FILTER)
			continue;
		if (read_filters(ps, ps->threads[i].htid, &f, &nf) < 0)
			return -1;
		if (filtered++ && !same_filters(f, nf, s->f, s->nf)) {
			free_filters(f, nf);
			return refuse(ps->pid, "its threads have different seccomp filters (thread %d's differ from "
					       "another's); ferry carries one set for all threads, or one filtered thread",
				      ps->threads[i].tid);
		}
		if (filtered > 1) {
			free_filters(f, nf);
			continue;
		}
		s->f = f;
		s->nf = nf;
	}
	if (filtered > 1 && filtered < ps->nthreads)
		return refuse(ps->pid, "%d of its %d threads have the same seccomp filters and the others none; ferry "
				       "cannot tell whether they share them", filtered, ps->nthreads);
	return 0;
}

static json_t *encode(const void *st)
{
	const struct seccomp *s = st;
	json_t *o, *modes = json_array(), *f = json_array();
	int any = 0;
	for (int i = 0; i < s->nthreads; i++) {
		json_array_append_new(modes, json_integer(s->mode[i]));
		any |= s->mode[i];
	}
	if (!any) {
		json_decref(modes);
		json_decref(f);
		return NULL;	/* (the usual case: no key) */
	}
	for (int i = 0; i < s->nf; i++)
		json_array_append_new(f, json_pack("{s:I,s:o}", "flags", (json_int_t)s->f[i].flags, "code",
						   jblob(s->f[i].code, s->f[i].len * sizeof(struct sock_filter))));
	o = json_pack("{s:o,s:o}", "modes", modes, "filters", f);
	return o;
}

static int decode(json_t *j, void *st)
{
	struct seccomp *s = st;
	json_t *modes = jget_arr(j, "modes"), *f = jget_arr(j, "filters"), *o;
	size_t i;
	if (!modes || !f)
		return -1;
	s->nthreads = json_array_size(modes);
	s->mode = xzalloc((s->nthreads + 1) * sizeof(int));
	json_array_foreach(modes, i, o) {
		if (!json_is_integer(o) || json_integer_value(o) < 0 || json_integer_value(o) > SECCOMP_MODE_FILTER)
			return fail("image %s is corrupt: seccomp mode", jctx);
		s->mode[i] = json_integer_value(o);
	}
	s->nf = json_array_size(f);
	s->f = xzalloc((s->nf + 1) * sizeof(*s->f));
	json_array_foreach(f, i, o) {
		long long fl;
		void *code;
		size_t len;
		if (jget_int(o, "flags", &fl) < 0 || jget_blobv(o, "code", &code, &len) < 0)
			return -1;
		s->f[i].flags = fl;
		s->f[i].code = code;
		s->f[i].len = len / sizeof(struct sock_filter);
		if (!len || len % sizeof(struct sock_filter) || s->f[i].len > BPF_MAXINSNS)
			return fail("image %s is corrupt: seccomp filter %zu", jctx, i);
	}
	return 0;
}

static int validate(const struct proc_state *ps, pid_t tid, const void *st)
{
	const struct seccomp *s = st;
	int filtered = 0;
	(void)tid;
	if (s->nthreads != ps->nthreads)
		return fail("image of pid %d is corrupt: seccomp modes for %d threads, it has %d", ps->pid, s->nthreads,
			    ps->nthreads);
	for (int i = 0; i < s->nthreads; i++)
		filtered += s->mode[i] == SECCOMP_MODE_FILTER;
	if (filtered && !s->nf)
		return fail("image of pid %d is corrupt: filtered threads without filters", ps->pid);
	return 0;
}

/* The filters, installed from one thread: with TSYNC when every thread has
 * them, so that they share them as they did. */
static int install_filters(const struct proc_state *ps, struct rsys *trs, const struct seccomp *s, int tsync)
{
	size_t max = 0;
	long area;
	int ret = 0;
	for (int i = 0; i < s->nf; i++)
		if ((size_t)s->f[i].len * sizeof(struct sock_filter) > max)
			max = s->f[i].len * sizeof(struct sock_filter);
	area = rsys_chk(trs, "mmap for seccomp filters", SYS_mmap, 0, max + 4096, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area < 0 && area > -4096)
		return -1;
	for (int i = 0; i < s->nf && !ret; i++) {
		struct sock_fprog prog = { s->f[i].len, (struct sock_filter *)(area + 4096) };
		long r;
		unsigned flags = (s->f[i].flags & SECCOMP_FILTER_FLAG_LOG) | (tsync ? SECCOMP_FILTER_FLAG_TSYNC : 0);
		if (mem_poke(ps->hpid, area, &prog, sizeof(prog)) < 0 ||
		    mem_poke(ps->hpid, area + 4096, s->f[i].code, s->f[i].len * sizeof(struct sock_filter)) < 0) {
			ret = -1;
			break;
		}
		r = rsys_call(trs, SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, area, 0, 0, 0);
		if (r != 0)
			ret = r < 0 ? fail("pid %d: cannot install seccomp filter %d: %s", ps->pid, i, strerror(-r))
				    : fail("pid %d: seccomp filter %d: thread %ld cannot be synchronized", ps->pid, i, r);
	}
	if (rsys_chk(trs, "munmap", SYS_munmap, area, max + 4096, 0, 0, 0, 0) < 0)
		ret = -1;
	return ret;
}

static int restore(const struct proc_state *ps, pid_t tid, struct rsys *rs, const void *st)
{
	const struct seccomp *s = st;
	int filtered = 0, first = -1;
	(void)tid;
	for (int i = 0; i < s->nthreads; i++)
		if (s->mode[i]) {
			if (!ps->seccomp_suspended)
				return fail("pid %d uses seccomp, and this kernel does not let ferry suspend it while it "
					    "works (CONFIG_CHECKPOINT_RESTORE)", ps->pid);
			if (s->mode[i] == SECCOMP_MODE_FILTER && !filtered++)
				first = i;
		}
	for (int i = 0; i < s->nthreads; i++) {
		struct rsys trs;
		if (s->mode[i] != SECCOMP_MODE_STRICT)
			continue;
		if (rsys_for_thread(rs, ps->threads[i].htid, &trs) < 0 ||
		    rsys_chk(&trs, "prctl(PR_SET_SECCOMP, strict)", SYS_prctl, PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0,
			     0, 0, 0) < 0)
			return -1;
	}
	if (filtered) {
		struct rsys trs;
		if (rsys_for_thread(rs, ps->threads[first].htid, &trs) < 0 ||
		    install_filters(ps, &trs, s, filtered > 1) < 0)
			return -1;
	}
	return 0;
}

static int survey(pid_t pid, pid_t tid, char *why, size_t len)
{
	pid_t *tids;
	int n, filtered = 0;
	(void)tid;
	if (proc_tids(pid, &tids, &n) < 0) {
		fail_clear();
		return 0;
	}
	for (int i = 0; i < n; i++) {
		static struct proc_status st;
		if (proc_status(tids[i], &st) == 0)
			filtered += st.seccomp == SECCOMP_MODE_FILTER;
		else
			fail_clear();
	}
	free(tids);
	if (filtered > 1 && filtered < n) {
		snprintf(why, len, "%d of its %d threads have seccomp filters and the others none; ferry cannot tell "
				   "whether they share them", filtered, n);
		return 1;
	}
	return 0;
}

const struct pattr attr_seccomp = {
	.key = "seccomp",
	.size = sizeof(struct seccomp),
	.dump = dump,
	.encode = encode,
	.decode = decode,
	.free = free_st,
	.validate = validate,
	.phase = PATTR_BEFORE_CREDS,
	.restore = restore,
	.survey = survey,
};
