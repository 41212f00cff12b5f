/*
 * The process attribute table: one entry per attribute a process or thread
 * carries (scheduling, affinity, I/O priority, timer slack, oom_score_adj,
 * loginuid, child-subreaper, dumpable, membarrier registrations, ...), each
 * in its own file src/attr_NAME.c.  The drivers (cmd/dump.c, cmd/restore.c,
 * pstate.c) only walk the table (pattrs.c); adding an attribute is one new
 * file and one line in pattr_table[].  Table order is restore order within
 * a phase (see pattrs.c).
 *
 * An attribute's state is a small struct of `size` bytes, one per process or
 * (per_thread) one per thread.  It lives in core-PID.json under `key`, in the
 * process's object or in each thread's; an image without the key (made
 * before the attribute was carried) restores without touching it.
 */
#ifndef FERRY_PATTRS_H
#define FERRY_PATTRS_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

struct proc_state;
struct rsys;

enum pattr_phase {
	PATTR_BEFORE_CREDS,	/* restored while the process still has ferry's (root) credentials */
	PATTR_AFTER_CREDS,	/* restored after them (a credential change resets it, as dumpable) */
};

struct pattr {
	const char *key;	/* in core-PID.json: the process object, or each thread object */
	int per_thread;
	size_t size;		/* of one state */
	/* Dump, the process frozen: rs runs remote syscalls in thread tid
	 * (scratch memory included).  Fills st, or refuses. */
	int (*dump)(const struct proc_state *ps, pid_t tid, struct rsys *rs, void *st);
	json_t *(*encode)(const void *st);	/* NULL: no key (nothing worth a key) */
	int (*decode)(json_t *j, void *st);
	void (*free)(void *st);		/* (optional) what dump or decode allocated */
	/* Restore, before anything is created (optional): can it be given back here? */
	int (*validate)(const struct proc_state *ps, pid_t tid, const void *st);
	/* Restore, inside the new process while it runs ferry's code (optional;
	 * per-process attributes only). */
	int (*restore_child)(const struct proc_state *ps, const void *st);
	/* Restore, from ferry over remote syscalls in thread tid (optional). */
	enum pattr_phase phase;
	int (*restore)(const struct proc_state *ps, pid_t tid, struct rsys *rs, const void *st);
	/* dump --check and migrate's pre-flight (survey.c): would dump refuse
	 * it?  Read without stopping anything (optional): 1 and why, else 0. */
	int (*survey)(pid_t pid, pid_t tid, char *why, size_t len);
};

/* One attribute's values in a process: st[i * size], have[i] when known. */
struct pattr_vals {
	void *st;
	unsigned char *have;
};
#define PATTR_MAX 24

/* pattrs.c: the table and the loops the drivers call */
extern const struct pattr *const pattr_table[];
int pattrs_dump(struct proc_state *ps);
void pattrs_encode(const struct proc_state *ps, json_t *core);	/* after thread_encode */
int pattrs_decode(json_t *core, struct proc_state *ps);		/* after thread_decode */
int pattrs_validate(const struct proc_state *ps);
int pattrs_restore_child(const struct proc_state *ps);
int pattrs_restore(const struct proc_state *ps, struct rsys *rs, enum pattr_phase phase);
void pattrs_free(struct proc_state *ps);

/* Helpers for the attribute files. */
json_t *pattr_int(long long v);
int pattr_get_int(json_t *j, long long *v, const char *what);

#endif
