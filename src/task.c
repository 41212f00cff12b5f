/*
 * Process attributes: name, cwd and root, umask, personality, credentials
 * (uids, gids, groups, capability sets, securebits; per thread: a thread
 * that changed its own with raw syscalls keeps them), resource limits,
 * no_new_privs, session and process group.  (The attributes of the table
 * in pattrs.h live in src/attr_*.c.)
 *
 * Paths are recorded as /proc shows them to ferry: from ferry's root for a
 * process in ferry's mount namespace, even one that chrooted (restore moves
 * into its cwd first and chroots last, once its files and mappings are
 * open); from the namespace's root otherwise.  Sessions
 * and groups are rebuilt by the restore driver (cmd/restore.c) as it
 * creates the tree; a root that does not lead its own session or group
 * joins ferry's, as a job started by ferry would.  Resource limits are read from /proc/PID/limits because prlimit on
 * another user's process needs CAP_SYS_RESOURCE; raising a hard limit above
 * ferry's own needs it too, and is reported as an error.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "image.h"
#include "log.h"
#include "pstate.h"
#include "util.h"

/* A thread's credentials as /proc shows them, and its securebits, which
 * only the thread itself can read (prctl over a remote syscall). */
static int read_creds(struct proc_state *ps, pid_t tid, struct creds *c)
{
	static struct proc_status st;
	struct rsys trs;
	long sb;
	if (proc_status(tid, &st) < 0)
		return -1;
	memcpy(c->uid, st.uid, sizeof(c->uid));
	memcpy(c->gid, st.gid, sizeof(c->gid));
	c->ngroups = st.ngroups;
	c->groups = xmalloc((st.ngroups + 1) * sizeof(gid_t));
	memcpy(c->groups, st.groups, st.ngroups * sizeof(gid_t));
	c->cap_inh = st.cap_inh;
	c->cap_prm = st.cap_prm;
	c->cap_eff = st.cap_eff;
	c->cap_bnd = st.cap_bnd;
	c->cap_amb = st.cap_amb;
	if (rsys_for_thread(&ps->rs, tid, &trs) < 0)
		return -1;
	sb = rsys_chk(&trs, "prctl(PR_GET_SECUREBITS)", SYS_prctl, PR_GET_SECUREBITS, 0, 0, 0, 0, 0);
	if (sb < 0)
		return -1;
	c->securebits = sb;
	return 0;
}

static int same_creds(const struct creds *a, const struct creds *b)
{
	return !memcmp(a->uid, b->uid, sizeof(a->uid)) && !memcmp(a->gid, b->gid, sizeof(a->gid)) &&
	       a->ngroups == b->ngroups && !memcmp(a->groups, b->groups, a->ngroups * sizeof(gid_t)) &&
	       a->cap_inh == b->cap_inh && a->cap_prm == b->cap_prm && a->cap_eff == b->cap_eff &&
	       a->cap_bnd == b->cap_bnd && a->cap_amb == b->cap_amb && a->securebits == b->securebits;
}

static void free_creds(struct creds *c)
{
	if (c)
		free(c->groups);
	free(c);
}

void task_free_creds(struct proc_state *ps)
{
	free(ps->task.cr.groups);
	ps->task.cr.groups = NULL;
	for (int i = 0; i < ps->nthreads; i++) {
		free_creds(ps->threads[i].cr);
		ps->threads[i].cr = NULL;
	}
}

/* Threads that changed their own credentials with raw syscalls (file
 * servers do, per request) keep them: each thread's are recorded when
 * they differ from the main thread's. */
static int dump_thread_creds(struct proc_state *ps)
{
	for (int i = 1; i < ps->nthreads; i++) {
		struct creds *c = xzalloc(sizeof(*c));
		if (read_creds(ps, ps->threads[i].htid, c) < 0) {
			free_creds(c);
			return -1;
		}
		if (same_creds(c, &ps->task.cr)) {
			free_creds(c);
			continue;
		}
		pr_debug("pid %d: thread %d has credentials of its own (uid %u, gid %u)", ps->pid, ps->threads[i].tid,
			 c->uid[1], c->gid[1]);
		ps->threads[i].cr = c;
	}
	return 0;
}

int task_dump(struct proc_state *ps)
{
	struct task_attrs *t = &ps->task;
	struct proc_status st;
	struct proc_stat pst;
	char path[64], *s;

	if (proc_stat(ps->hpid, &pst) < 0 || proc_status(ps->hpid, &st) < 0)
		return -1;
	memcpy(t->comm, pst.comm, sizeof(t->comm) - 1);
	ps->ppid = pst.ppid;
	ps->sid = pst.sid;
	ps->pgid = pst.pgrp;
	if (!(t->cwd = proc_link(ps->hpid, "cwd")) || !(t->root = proc_link(ps->hpid, "root")))
		return -1;
	t->cwd_file = 0;
	if (strstr(t->root, " (deleted)"))
		return refuse(ps->pid, "its root directory %s was removed; ferry cannot carry that", t->root);
	if (strstr(t->cwd, " (deleted)")) {
		/* A removed cwd is a removed directory of the file table, made
		 * again before the process, which moves into it. */
		int f;
		if (deleted_dir_note(ps, "cwd", &f) < 0)
			return -1;
		t->cwd_file = 1 + f;
		*strstr(t->cwd, " (deleted)") = 0;
	}
	t->umask = st.umask;
	t->no_new_privs = st.no_new_privs;
	if (read_creds(ps, ps->hpid, &t->cr) < 0 || dump_thread_creds(ps) < 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/personality", ps->hpid);
	if (!(s = read_file(path, NULL)))
		return fail_errno("cannot read %s", path);
	t->personality = strtoul(s, NULL, 16);
	free(s);
	return proc_limits(ps->hpid, t->rlim);
}

static json_t *jrlim(rlim_t v)
{
	if (v == RLIM_INFINITY)
		return json_string("unlimited");
	return v > INT64_MAX ? jhex(v) : json_integer((json_int_t)v);
}

static int get_rlim(json_t *o, const char *key, rlim_t *v)
{
	json_t *x = json_object_get(o, key);
	if (json_is_string(x) && !strcmp(json_string_value(x), "unlimited")) {
		*v = RLIM_INFINITY;
		return 0;
	}
	if (json_is_integer(x) && json_integer_value(x) >= 0) {
		*v = json_integer_value(x);
		return 0;
	}
	if (json_is_string(x) && !strncmp(json_string_value(x), "0x", 2)) {
		*v = strtoull(json_string_value(x), NULL, 16);
		return 0;
	}
	return fail("image %s is corrupt: bad rlimit %s", jctx, key);
}

static json_t *creds_encode(const struct creds *c)
{
	json_t *groups = json_array();
	json_t *o;
	for (int i = 0; i < c->ngroups; i++)
		json_array_append_new(groups, json_integer(c->groups[i]));
	o = json_pack("{s:[iiii],s:[iiii],s:o,s:o,s:o,s:o,s:o,s:o}", "uid", c->uid[0], c->uid[1], c->uid[2],
		      c->uid[3], "gid", c->gid[0], c->gid[1], c->gid[2], c->gid[3], "groups", groups, "cap_inh",
		      jhex(c->cap_inh), "cap_prm", jhex(c->cap_prm), "cap_eff", jhex(c->cap_eff), "cap_bnd",
		      jhex(c->cap_bnd), "cap_amb", jhex(c->cap_amb));
	if (c->securebits >= 0)
		json_object_set_new(o, "securebits", json_integer(c->securebits));
	return o;
}

static int creds_decode(json_t *creds, struct creds *c)
{
	json_t *groups, *o;
	long long v;
	size_t i;
	for (int k = 0; k < 4; k++) {
		json_t *u4 = json_array_get(json_object_get(creds, "uid"), k);
		json_t *g4 = json_array_get(json_object_get(creds, "gid"), k);
		if (!json_is_integer(u4) || !json_is_integer(g4))
			return fail("image %s is corrupt: creds uid/gid", jctx);
		c->uid[k] = json_integer_value(u4);
		c->gid[k] = json_integer_value(g4);
	}
	if (!(groups = jget_arr(creds, "groups")))
		return -1;
	c->ngroups = json_array_size(groups);
	c->groups = xmalloc((c->ngroups + 1) * sizeof(gid_t));
	json_array_foreach(groups, i, o) {
		if (!json_is_integer(o) || json_integer_value(o) < 0)
			return fail("image %s is corrupt: creds.groups[%zu] is not a group id", jctx, i);
		c->groups[i] = json_integer_value(o);
	}
	if (jget_u64(creds, "cap_inh", &c->cap_inh) < 0 || jget_u64(creds, "cap_prm", &c->cap_prm) < 0 ||
	    jget_u64(creds, "cap_eff", &c->cap_eff) < 0 || jget_u64(creds, "cap_bnd", &c->cap_bnd) < 0 ||
	    jget_u64(creds, "cap_amb", &c->cap_amb) < 0)
		return -1;
	c->securebits = -1;	/* older images: not recorded */
	if (json_object_get(creds, "securebits")) {
		if (jget_int(creds, "securebits", &v) < 0)
			return -1;
		if (v < 0 || v > 0xffff)
			return fail("image %s is corrupt: securebits 0x%llx", jctx, v);
		c->securebits = v;
	}
	return 0;
}

void task_encode_threads(const struct proc_state *ps, json_t *core)
{
	json_t *threads = json_object_get(core, "threads");
	for (int i = 0; i < ps->nthreads; i++)
		if (ps->threads[i].cr && json_array_get(threads, i))
			json_object_set_new(json_array_get(threads, i), "creds", creds_encode(ps->threads[i].cr));
}

int task_decode_threads(json_t *core, struct proc_state *ps)
{
	json_t *threads = json_object_get(core, "threads");
	for (int i = 0; i < ps->nthreads; i++) {
		json_t *c = json_object_get(json_array_get(threads, i), "creds");
		if (!c)
			continue;
		ps->threads[i].cr = xzalloc(sizeof(struct creds));
		if (creds_decode(c, ps->threads[i].cr) < 0)
			return -1;
	}
	return 0;
}

void task_encode(const struct proc_state *ps, json_t *j)
{
	const struct task_attrs *t = &ps->task;
	json_t *lim;
	json_object_set_new(j, "pid", json_integer(ps->pid));
	json_object_set_new(j, "ppid", json_integer(ps->ppid));
	json_object_set_new(j, "sid", json_integer(ps->sid));
	json_object_set_new(j, "pgid", json_integer(ps->pgid));
	if (ps->zombie)
		return;	/* a zombie is only its ids and exit code */
	lim = json_array();
	for (int i = 0; i < NR_RLIMITS; i++)
		json_array_append_new(lim, json_pack("{s:o,s:o}", "cur", jrlim(t->rlim[i].rlim_cur),
						     "max", jrlim(t->rlim[i].rlim_max)));
	json_object_set_new(j, "comm", jstr(t->comm));
	json_object_set_new(j, "cwd", jstr(t->cwd));
	if (t->cwd_file)
		json_object_set_new(j, "cwd_file", json_integer(t->cwd_file - 1));
	json_object_set_new(j, "root", jstr(t->root));
	json_object_set_new(j, "umask", json_integer(t->umask));
	json_object_set_new(j, "personality", jhex(t->personality));
	json_object_set_new(j, "no_new_privs", json_integer(t->no_new_privs));
	json_object_set_new(j, "rlimits", lim);
	json_object_set_new(j, "creds", creds_encode(&t->cr));
}

int task_decode(json_t *j, struct proc_state *ps)
{
	struct task_attrs *t = &ps->task;
	json_t *creds, *lim, *o;
	const char *s;
	long long v;
	uint64_t u;
	size_t i;

	if (jget_int(j, "pid", &v) < 0)
		return -1;
	ps->pid = v;
	if (jget_int(j, "ppid", &v) < 0)
		return -1;
	ps->ppid = v;
	if (jget_int(j, "sid", &v) < 0)
		return -1;
	ps->sid = v;
	if (jget_int(j, "pgid", &v) < 0)
		return -1;
	ps->pgid = v;
	if (ps->zombie)
		return 0;
	if (jget_str(j, "comm", &s) < 0)
		return -1;
	snprintf(t->comm, sizeof(t->comm), "%s", s);
	if (jget_str(j, "cwd", &s) < 0)
		return -1;
	t->cwd = xstrdup(s);
	t->cwd_file = 0;
	if (json_object_get(j, "cwd_file")) {
		if (jget_int(j, "cwd_file", &v) < 0)
			return -1;
		if (v < 0 || v >= ps->tree->files.n || ps->tree->files.of[v].kind != FK_DELETED_DIR)
			return fail("image %s is corrupt: cwd_file %lld is no removed directory", jctx, v);
		t->cwd_file = 1 + v;
	}
	if (jget_str(j, "root", &s) < 0)
		return -1;
	t->root = xstrdup(s);
	if (jget_int(j, "umask", &v) < 0)
		return -1;
	t->umask = v;
	if (jget_u64(j, "personality", &u) < 0)
		return -1;
	t->personality = u;
	if (jget_int(j, "no_new_privs", &v) < 0)
		return -1;
	t->no_new_privs = v;
	if (!(lim = jget_arr(j, "rlimits")))
		return -1;
	if (json_array_size(lim) != NR_RLIMITS)
		return fail("image %s is corrupt: %zu rlimits", jctx, json_array_size(lim));
	json_array_foreach(lim, i, o)
		if (get_rlim(o, "cur", &t->rlim[i].rlim_cur) < 0 || get_rlim(o, "max", &t->rlim[i].rlim_max) < 0)
			return -1;
	if (!(creds = jget_obj(j, "creds")))
		return -1;
	return creds_decode(creds, &t->cr);
}

/* A process that chrooted, in ferry's mount namespace: /proc shows ferry
 * the paths it uses (fds, maps, cwd, root) from ferry's root, so no prefix;
 * in another mount namespace they are from that namespace's root, which
 * /proc/PID/root reaches. */
char *task_root_prefix(pid_t pid)
{
	struct stat a, b;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", pid);
	if (stat("/proc/self/ns/mnt", &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
		return xstrdup("");
	return xasprintf("/proc/%d/root", pid);
}

/* Last of what the process does on ferry's code: the paths it opened until
 * now (files, mappings) and its cwd are ferry's view; chroot keeps the cwd. */
int task_restore_root(const struct proc_state *ps)
{
	const struct task_attrs *t = &ps->task;
	if (strcmp(t->root, "/") && chroot(t->root) < 0)
		return fail_errno("pid %d: cannot chroot to %s", ps->pid, t->root);
	return 0;
}

int task_restore_child(const struct proc_state *ps)
{
	const struct task_attrs *t = &ps->task;
	if (personality(t->personality) < 0)
		return fail_errno("pid %d: cannot set personality 0x%lx", ps->pid, t->personality);
	umask(t->umask);
	/* A removed cwd: ferry's description of it is still open here (files
	 * are put in place after this). */
	if (t->cwd_file ? fchdir(ps->tree->files.of[t->cwd_file - 1].rfd) < 0 : chdir(t->cwd) < 0)
		return fail_errno("pid %d: cannot change directory to %s", ps->pid, t->cwd);
	if (prctl(PR_SET_NAME, t->comm) < 0)
		return fail_errno("pid %d: cannot set its name", ps->pid);
	if (t->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail_errno("pid %d: cannot set no_new_privs", ps->pid);
	return 0;
}

static int restore_rlimits(const struct proc_state *ps)
{
	for (int i = 0; i < NR_RLIMITS; i++)
		if (prlimit(ps->hpid, i, &ps->task.rlim[i], NULL) < 0)
			return fail_errno("pid %d: cannot set resource limit %d to %llu/%llu%s", ps->pid, i,
					  (unsigned long long)ps->task.rlim[i].rlim_cur,
					  (unsigned long long)ps->task.rlim[i].rlim_max,
					  errno == EPERM ? " (raising a hard limit needs CAP_SYS_RESOURCE)" : "");
	return 0;
}

#define CAP_SETPCAP_BIT (1ULL << CAP_SETPCAP)

static int capset_remote(const struct proc_state *ps, struct rsys *rs, uint64_t prm, uint64_t eff, uint64_t inh)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2] = {
		{ (uint32_t)eff, (uint32_t)prm, (uint32_t)inh },
		{ (uint32_t)(eff >> 32), (uint32_t)(prm >> 32), (uint32_t)(inh >> 32) },
	};
	if (mem_poke(ps->hpid, rs->scratch, &hdr, sizeof(hdr)) < 0 ||
	    mem_poke(ps->hpid, rs->scratch + 64, data, sizeof(data)) < 0)
		return -1;
	return rsys_chk(rs, "capset", SYS_capset, rs->scratch, rs->scratch + 64, 0, 0, 0, 0) < 0 ? -1 : 0;
}

/* One thread's credentials: it has ferry's, change only what differs.
 * The order matters: the bounding set, groups and gids need
 * CAP_SETPCAP/CAP_SETGID, so they go first; the uid change keeps every
 * capability (SECBIT_NO_SETUID_FIXUP for the moment), CAP_SETPCAP stays
 * effective until the securebits are set (ambient capabilities are raised
 * before, as SECBIT_NO_CAP_AMBIENT_RAISE may forbid it after), and the
 * exact capability sets come last. */
static int restore_creds(const struct proc_state *ps, struct rsys *rs, const struct proc_status *self,
			 const struct creds *t)
{
	int same_groups, same_uid, same_caps;
	long sb;

	same_groups = self->ngroups == t->ngroups && !memcmp(self->groups, t->groups, t->ngroups * sizeof(gid_t));
	same_uid = !memcmp(self->uid, t->uid, sizeof(t->uid));
	same_caps = self->cap_prm == t->cap_prm && self->cap_eff == t->cap_eff && self->cap_inh == t->cap_inh;
	if (!same_groups) {
		if (mem_poke(ps->hpid, rs->scratch, t->groups, t->ngroups * sizeof(gid_t)) < 0)
			return -1;
		if (rsys_chk(rs, "setgroups", SYS_setgroups, t->ngroups, rs->scratch, 0, 0, 0, 0) < 0)
			return -1;
	}
	for (int c = 0; c < 64; c++)
		if ((self->cap_bnd >> c & 1) && !(t->cap_bnd >> c & 1) &&
		    rsys_chk(rs, "prctl(PR_CAPBSET_DROP)", SYS_prctl, PR_CAPBSET_DROP, c, 0, 0, 0, 0) < 0)
			return -1;
	if (memcmp(self->gid, t->gid, sizeof(t->gid))) {
		if (rsys_chk(rs, "setresgid", SYS_setresgid, t->gid[0], t->gid[1], t->gid[2], 0, 0, 0) < 0)
			return -1;
		rsys_call(rs, SYS_setfsgid, t->gid[3], 0, 0, 0, 0, 0);
	}
	if ((sb = rsys_chk(rs, "prctl(PR_GET_SECUREBITS)", SYS_prctl, PR_GET_SECUREBITS, 0, 0, 0, 0, 0)) < 0)
		return -1;
	if (!same_uid || !same_caps) {
		uint64_t keep = self->cap_prm & CAP_SETPCAP_BIT;
		if (rsys_chk(rs, "prctl(PR_SET_SECUREBITS)", SYS_prctl, PR_SET_SECUREBITS,
			     sb | SECBIT_NO_SETUID_FIXUP, 0, 0, 0, 0) < 0)
			return -1;
		if (!same_uid) {
			if (rsys_chk(rs, "setresuid", SYS_setresuid, t->uid[0], t->uid[1], t->uid[2], 0, 0, 0) < 0)
				return -1;
			rsys_call(rs, SYS_setfsuid, t->uid[3], 0, 0, 0, 0, 0);
		}
		if (capset_remote(ps, rs, t->cap_prm | keep, t->cap_eff | keep, t->cap_inh) < 0)
			return -1;
	}
	for (int c = 0; c < 64; c++)
		if ((t->cap_amb >> c & 1) &&
		    rsys_chk(rs, "prctl(PR_CAP_AMBIENT_RAISE)", SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE,
			     c, 0, 0, 0) < 0)
			return -1;
	/* an older image without securebits: what ferry's had */
	if (rsys_chk(rs, "prctl(PR_SET_SECUREBITS)", SYS_prctl, PR_SET_SECUREBITS, t->securebits >= 0 ? t->securebits : sb,
		     0, 0, 0, 0) < 0)
		return -1;
	if ((!same_uid || !same_caps) && capset_remote(ps, rs, t->cap_prm, t->cap_eff, t->cap_inh) < 0)
		return -1;
	return 0;
}

int task_restore_remote(const struct proc_state *ps, struct rsys *rs)
{
	struct proc_status self;

	if (restore_rlimits(ps) < 0)
		return -1;
	if (proc_status(getpid(), &self) < 0)
		return -1;
	/* Credentials belong to each thread (glibc's setuid makes every thread
	 * change them): each thread, created with ferry's, changes its own. */
	for (int i = 0; i < ps->nthreads; i++) {
		struct rsys trs;
		const struct creds *c = ps->threads[i].cr ? ps->threads[i].cr : &ps->task.cr;
		if (rsys_for_thread(rs, ps->threads[i].htid, &trs) < 0 || restore_creds(ps, &trs, &self, c) < 0)
			return -1;
	}
	return 0;
}
