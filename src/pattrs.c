/*
 * The process attribute table and the loops the drivers run over it (see
 * pattrs.h).  The order of pattr_table is the order of restore within a
 * phase: affinity before the scheduling policy (SCHED_DEADLINE wants the
 * whole root domain), timer slack before it too (a real-time thread's
 * slack is forced to 0 by the kernel).
 */
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "log.h"
#include "pattrs.h"
#include "pstate.h"
#include "util.h"

extern const struct pattr attr_oom, attr_loginuid, attr_subreaper, attr_dumpable, attr_membarrier,
	attr_affinity, attr_ioprio, attr_timerslack, attr_sched, attr_seccomp, attr_cgroup;

const struct pattr *const pattr_table[] = {
	&attr_cgroup,	/* first: the new process joins it before anything is charged to it */
	&attr_oom,
	&attr_loginuid,
	&attr_subreaper,
	&attr_membarrier,
	&attr_dumpable,
	&attr_affinity,
	&attr_ioprio,
	&attr_timerslack,
	&attr_sched,
	&attr_seccomp,
	NULL,
};

static int count(const struct proc_state *ps, const struct pattr *a)
{
	return a->per_thread ? ps->nthreads : 1;
}

static void alloc_vals(struct proc_state *ps, int k)
{
	const struct pattr *a = pattr_table[k];
	ps->pattrs[k].st = xzalloc(count(ps, a) * a->size + 1);
	ps->pattrs[k].have = xzalloc(count(ps, a) + 1);
}

static void *val(const struct proc_state *ps, int k, int i)
{
	return (char *)ps->pattrs[k].st + i * pattr_table[k]->size;
}

int pattrs_dump(struct proc_state *ps)
{
	for (int k = 0; pattr_table[k]; k++) {
		const struct pattr *a = pattr_table[k];
		alloc_vals(ps, k);
		for (int i = 0; i < count(ps, a); i++) {
			struct rsys trs;
			if (rsys_for_thread(&ps->rs, ps->threads[i].htid, &trs) < 0 ||
			    a->dump(ps, ps->threads[i].htid, &trs, val(ps, k, i)) < 0)
				return -1;
			ps->pattrs[k].have[i] = 1;
		}
	}
	return 0;
}

void pattrs_encode(const struct proc_state *ps, json_t *core)
{
	json_t *threads = json_object_get(core, "threads");
	for (int k = 0; pattr_table[k]; k++) {
		const struct pattr *a = pattr_table[k];
		if (!ps->pattrs[k].st)
			continue;
		for (int i = 0; i < count(ps, a); i++) {
			json_t *o = a->per_thread ? json_array_get(threads, i) : core;
			json_t *v;
			if (ps->pattrs[k].have[i] && o && (v = a->encode(val(ps, k, i))))
				json_object_set_new(o, a->key, v);
		}
	}
}

int pattrs_decode(json_t *core, struct proc_state *ps)
{
	json_t *threads = json_object_get(core, "threads");
	for (int k = 0; pattr_table[k]; k++) {
		const struct pattr *a = pattr_table[k];
		alloc_vals(ps, k);
		for (int i = 0; i < count(ps, a); i++) {
			json_t *o = a->per_thread ? json_array_get(threads, i) : core;
			json_t *v = json_object_get(o, a->key);
			if (!v)
				continue;	/* an older image: left as the new process has it */
			if (a->decode(v, val(ps, k, i)) < 0)
				return -1;
			ps->pattrs[k].have[i] = 1;
		}
	}
	return 0;
}

int pattrs_validate(const struct proc_state *ps)
{
	for (int k = 0; pattr_table[k]; k++) {
		const struct pattr *a = pattr_table[k];
		for (int i = 0; a->validate && ps->pattrs[k].have && i < count(ps, a); i++)
			if (ps->pattrs[k].have[i] && a->validate(ps, ps->threads[i].htid, val(ps, k, i)) < 0)
				return -1;
	}
	return 0;
}

int pattrs_restore_child(const struct proc_state *ps)
{
	for (int k = 0; pattr_table[k]; k++) {
		const struct pattr *a = pattr_table[k];
		if (a->restore_child && ps->pattrs[k].have && ps->pattrs[k].have[0] && a->restore_child(ps, val(ps, k, 0)) < 0)
			return -1;
	}
	return 0;
}

int pattrs_restore(const struct proc_state *ps, struct rsys *rs, enum pattr_phase phase)
{
	for (int k = 0; pattr_table[k]; k++) {
		const struct pattr *a = pattr_table[k];
		if (!a->restore || a->phase != phase)
			continue;
		for (int i = 0; i < count(ps, a); i++) {
			struct rsys trs;
			if (!ps->pattrs[k].have[i])
				continue;
			if (rsys_for_thread(rs, ps->threads[i].htid, &trs) < 0 ||
			    a->restore(ps, ps->threads[i].htid, &trs, val(ps, k, i)) < 0)
				return -1;
		}
	}
	return 0;
}

void pattrs_free(struct proc_state *ps)
{
	for (int k = 0; pattr_table[k]; k++)
		for (int i = 0; pattr_table[k]->free && ps->pattrs[k].st && i < count(ps, pattr_table[k]); i++)
			pattr_table[k]->free(val(ps, k, i));
	for (int k = 0; k < PATTR_MAX; k++) {
		free(ps->pattrs[k].st);
		free(ps->pattrs[k].have);
		ps->pattrs[k].st = ps->pattrs[k].have = NULL;
	}
}

json_t *pattr_int(long long v)
{
	return json_integer(v);
}

int pattr_get_int(json_t *j, long long *v, const char *what)
{
	if (!json_is_integer(j))
		return fail("image %s is corrupt: %s is not an integer", jctx, what);
	*v = json_integer_value(j);
	return 0;
}
