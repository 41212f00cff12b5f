/*
 * Process attributes: name, cwd and root, umask, personality, credentials
 * (uids, gids, groups, capability sets), resource limits, no_new_privs,
 * session and process group.
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

/* The image holds one set of credentials per process.  Threads that
 * changed their own with raw syscalls (file servers do, per request) would
 * come back with the main thread's: refuse rather than restore them wrong. */
static int same_creds_in_threads(const struct proc_state *ps, const struct proc_status *main)
{
	for (int i = 1; i < ps->nthreads; i++) {
		static struct proc_status st;
		pid_t tid = ps->threads[i].tid;
		if (proc_status(tid, &st) < 0)
			return -1;
		if (memcmp(st.uid, main->uid, sizeof(st.uid)) || memcmp(st.gid, main->gid, sizeof(st.gid)) ||
		    st.ngroups != main->ngroups || memcmp(st.groups, main->groups, st.ngroups * sizeof(gid_t)) ||
		    st.cap_inh != main->cap_inh || st.cap_prm != main->cap_prm || st.cap_eff != main->cap_eff ||
		    st.cap_bnd != main->cap_bnd || st.cap_amb != main->cap_amb)
			return refuse(ps->pid, "thread %d runs with other credentials than the main thread (uid %u/%u, "
				      "gid %u/%u, or groups or capabilities differ); ferry restores one set per process",
				      tid, st.uid[1], main->uid[1], st.gid[1], main->gid[1]);
	}
	return 0;
}

int task_dump(struct proc_state *ps)
{
	struct task_attrs *t = &ps->task;
	struct proc_status st;
	struct proc_stat pst;
	char path[64], *s;

	if (proc_stat(ps->pid, &pst) < 0 || proc_status(ps->pid, &st) < 0)
		return -1;
	memcpy(t->comm, pst.comm, sizeof(t->comm) - 1);
	ps->ppid = pst.ppid;
	ps->sid = pst.sid;
	ps->pgid = pst.pgrp;
	if (!(t->cwd = proc_link(ps->pid, "cwd")) || !(t->root = proc_link(ps->pid, "root")))
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
	if (st.seccomp)
		return refuse(ps->pid, "it uses seccomp filters, which ferry cannot checkpoint");
	memcpy(t->uid, st.uid, sizeof(t->uid));
	memcpy(t->gid, st.gid, sizeof(t->gid));
	t->ngroups = st.ngroups;
	t->groups = xmalloc((st.ngroups + 1) * sizeof(gid_t));
	memcpy(t->groups, st.groups, st.ngroups * sizeof(gid_t));
	t->cap_inh = st.cap_inh;
	t->cap_prm = st.cap_prm;
	t->cap_eff = st.cap_eff;
	t->cap_bnd = st.cap_bnd;
	t->cap_amb = st.cap_amb;
	if (same_creds_in_threads(ps, &st) < 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/personality", ps->pid);
	if (!(s = read_file(path, NULL)))
		return fail_errno("cannot read %s", path);
	t->personality = strtoul(s, NULL, 16);
	free(s);
	return proc_limits(ps->pid, t->rlim);
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

void task_encode(const struct proc_state *ps, json_t *j)
{
	const struct task_attrs *t = &ps->task;
	json_t *groups, *lim;
	json_object_set_new(j, "pid", json_integer(ps->pid));
	json_object_set_new(j, "ppid", json_integer(ps->ppid));
	json_object_set_new(j, "sid", json_integer(ps->sid));
	json_object_set_new(j, "pgid", json_integer(ps->pgid));
	if (ps->zombie)
		return;	/* a zombie is only its ids and exit code */
	groups = json_array();
	lim = json_array();
	for (int i = 0; i < t->ngroups; i++)
		json_array_append_new(groups, json_integer(t->groups[i]));
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
	json_object_set_new(j, "creds",
			    json_pack("{s:[iiii],s:[iiii],s:o,s:o,s:o,s:o,s:o,s:o}", "uid", t->uid[0], t->uid[1],
				      t->uid[2], t->uid[3], "gid", t->gid[0], t->gid[1], t->gid[2], t->gid[3],
				      "groups", groups, "cap_inh", jhex(t->cap_inh), "cap_prm", jhex(t->cap_prm),
				      "cap_eff", jhex(t->cap_eff), "cap_bnd", jhex(t->cap_bnd), "cap_amb",
				      jhex(t->cap_amb)));
}

int task_decode(json_t *j, struct proc_state *ps)
{
	struct task_attrs *t = &ps->task;
	json_t *creds, *lim, *groups, *o;
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
	for (int k = 0; k < 4; k++) {
		json_t *u4 = json_array_get(json_object_get(creds, "uid"), k);
		json_t *g4 = json_array_get(json_object_get(creds, "gid"), k);
		if (!json_is_integer(u4) || !json_is_integer(g4))
			return fail("image %s is corrupt: creds uid/gid", jctx);
		t->uid[k] = json_integer_value(u4);
		t->gid[k] = json_integer_value(g4);
	}
	if (!(groups = jget_arr(creds, "groups")))
		return -1;
	t->ngroups = json_array_size(groups);
	t->groups = xmalloc((t->ngroups + 1) * sizeof(gid_t));
	json_array_foreach(groups, i, o) {
		if (!json_is_integer(o) || json_integer_value(o) < 0)
			return fail("image %s is corrupt: creds.groups[%zu] is not a group id", jctx, i);
		t->groups[i] = json_integer_value(o);
	}
	if (jget_u64(creds, "cap_inh", &t->cap_inh) < 0 || jget_u64(creds, "cap_prm", &t->cap_prm) < 0 ||
	    jget_u64(creds, "cap_eff", &t->cap_eff) < 0 || jget_u64(creds, "cap_bnd", &t->cap_bnd) < 0 ||
	    jget_u64(creds, "cap_amb", &t->cap_amb) < 0)
		return -1;
	return 0;
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
		if (prlimit(ps->pid, i, &ps->task.rlim[i], NULL) < 0)
			return fail_errno("pid %d: cannot set resource limit %d to %llu/%llu%s", ps->pid, i,
					  (unsigned long long)ps->task.rlim[i].rlim_cur,
					  (unsigned long long)ps->task.rlim[i].rlim_max,
					  errno == EPERM ? " (raising a hard limit needs CAP_SYS_RESOURCE)" : "");
	return 0;
}

/* One thread's credentials: it has ferry's, change only what differs. */
static int restore_creds(const struct proc_state *ps, struct rsys *rs, const struct proc_status *self)
{
	const struct task_attrs *t = &ps->task;
	int same_groups;

	same_groups = self->ngroups == t->ngroups && !memcmp(self->groups, t->groups, t->ngroups * sizeof(gid_t));
	if (!same_groups) {
		if (mem_poke(ps->pid, rs->scratch, t->groups, t->ngroups * sizeof(gid_t)) < 0)
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
	if (memcmp(self->uid, t->uid, sizeof(t->uid)) || self->cap_prm != t->cap_prm ||
	    self->cap_eff != t->cap_eff || self->cap_inh != t->cap_inh) {
		struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
		struct __user_cap_data_struct data[2] = {
			{ (uint32_t)t->cap_eff, (uint32_t)t->cap_prm, (uint32_t)t->cap_inh },
			{ (uint32_t)(t->cap_eff >> 32), (uint32_t)(t->cap_prm >> 32), (uint32_t)(t->cap_inh >> 32) },
		};
		/* Keep the permitted set across the uid change, then set it exactly. */
		if (rsys_chk(rs, "prctl(PR_SET_KEEPCAPS)", SYS_prctl, PR_SET_KEEPCAPS, 1, 0, 0, 0, 0) < 0)
			return -1;
		if (memcmp(self->uid, t->uid, sizeof(t->uid))) {
			if (rsys_chk(rs, "setresuid", SYS_setresuid, t->uid[0], t->uid[1], t->uid[2], 0, 0, 0) < 0)
				return -1;
			rsys_call(rs, SYS_setfsuid, t->uid[3], 0, 0, 0, 0, 0);
		}
		if (mem_poke(ps->pid, rs->scratch, &hdr, sizeof(hdr)) < 0 ||
		    mem_poke(ps->pid, rs->scratch + 64, data, sizeof(data)) < 0)
			return -1;
		if (rsys_chk(rs, "capset", SYS_capset, rs->scratch, rs->scratch + 64, 0, 0, 0, 0) < 0)
			return -1;
		if (rsys_chk(rs, "prctl(PR_SET_KEEPCAPS)", SYS_prctl, PR_SET_KEEPCAPS, 0, 0, 0, 0, 0) < 0)
			return -1;
	}
	for (int c = 0; c < 64; c++)
		if ((t->cap_amb >> c & 1) &&
		    rsys_chk(rs, "prctl(PR_CAP_AMBIENT_RAISE)", SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE,
			     c, 0, 0, 0) < 0)
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
		if (rsys_for_thread(rs, ps->threads[i].tid, &trs) < 0 || restore_creds(ps, &trs, &self) < 0)
			return -1;
	}
	return 0;
}
