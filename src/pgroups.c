/*
 * Sessions and process groups: which shapes dump accepts, and the order in
 * which restore rebuilds them without waiting on anything.
 *
 * A session or group is "led from outside" when no process of the tree has
 * its id (and it is not a group whose leader exited, which a stand-in
 * recreates, see restore.c).  The root's session and group are its
 * caller's: restore gives the root the session and group of `ferry restore`
 * (a root that leads its own keeps leading it).  Other processes of the tree
 * inherit the root's session, which is rebuilt the same way; but a group led
 * from outside that the root shares with its descendants (`prog &` from a
 * script: the daemon and its workers sit in the script's group) cannot be
 * rebuilt with its id, so dump refuses it unless --shell-job says the tree is
 * a job: then the whole group becomes ferry restore's group, as the root's
 * does.  Any other group from outside is refused.
 *
 * Restore order: a process makes its own session or group before it creates
 * its children, so they inherit it; a parent sets the group of each child
 * that leads one (and of each stand-in) right after creating it, so a later
 * sibling can join it at once.  A process joining any other group of the
 * tree (a cousin's, say) joins with a remote setpgid once every process
 * exists.  An unreaped zombie cannot do that, so dump refuses a zombie whose
 * group is led by anything but a sibling made before it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "pstate.h"
#include "rsys.h"
#include "util.h"

static const struct proc_state *find(const struct tree *t, pid_t pid)
{
	for (int i = 0; i < t->nprocs; i++)
		if (t->procs[i].pid == pid)
			return &t->procs[i];
	return NULL;
}

/* Group pgid is made by a stand-in (its leader exited before the dump). */
static int stand_in_group(const struct tree *t, pid_t pgid)
{
	for (int i = 0; i < t->nprocs; i++)
		if (t->procs[i].pgid_helper && t->procs[i].pgid == pgid)
			return 1;
	return 0;
}

int pgroup_outside(const struct tree *t, pid_t pgid)
{
	return !find(t, pgid) && !stand_in_group(t, pgid);
}

/* ps joins a group that its parent makes before creating it: a stand-in, or
 * an older sibling that leads the group. */
static int joins_early(const struct tree *t, const struct proc_state *ps)
{
	for (const struct proc_state *k = t->procs; k < t->procs + t->nprocs; k++) {
		if (k == &t->procs[0] || k->ppid != ps->ppid)
			continue;
		if ((k->pgid_helper && k->pgid == ps->pgid) || (k < ps && k->pid == ps->pgid && k->pgid == k->pid))
			return 1;
	}
	return 0;
}

/* ps has to join its group once all processes exist: it neither leads it,
 * nor inherits it from a parent that is in it before creating children, nor
 * can join it early. */
static int joins_late(const struct tree *t, const struct proc_state *ps)
{
	const struct proc_state *parent = ps == &t->procs[0] ? NULL : find(t, ps->ppid);
	if (ps->sid == ps->pid || ps->pgid == ps->pid || pgroup_outside(t, ps->pgid))
		return 0;
	if (parent && parent->pgid == ps->pgid && !joins_late(t, parent))
		return 0;
	return !joins_early(t, ps);
}

/* The kernel drops SIGTSTP, SIGTTIN and SIGTTOU sent to a process whose
 * group is orphaned (no member has a parent in another group of its
 * session), so a process stopped by one can be stopped again only if its
 * group will not be orphaned after the restore.  Zombies do not count, as
 * for the kernel; the root's parent is ferry restore, which counts when the
 * root joins its session (not a session leader) or its group (--shell-job). */
static int group_has_outside_parent(const struct tree *t, pid_t pgid)
{
	for (int i = 0; i < t->nprocs; i++) {
		const struct proc_state *m = &t->procs[i], *parent;
		if (m->pgid != pgid || m->zombie)
			continue;
		if (i == 0) {
			if (t->opt.shell_job || m->sid != m->pid)
				return 1;
			continue;
		}
		parent = find(t, m->ppid);
		if (parent && parent->pgid != pgid && parent->sid == m->sid)
			return 1;
	}
	return 0;
}

static int check_stops(const struct tree *t)
{
	for (int i = 0; i < t->nprocs; i++) {
		const struct proc_state *ps = &t->procs[i];
		if (ps->stopped && ps->stopped != SIGSTOP && !group_has_outside_parent(t, ps->pgid))
			return refuse(ps->pid, "it is stopped by %s, but its process group %d would be orphaned after "
					       "a restore (the kernel ignores that signal then); --shell-job may help",
				      strsignal(ps->stopped), ps->pgid);
	}
	return 0;
}

int pgroup_check(struct tree *t)
{
	const struct proc_state *root = &t->procs[0];
	for (int i = 0; i < t->nprocs; i++) {
		struct proc_state *ps = &t->procs[i];
		const struct proc_state *parent = NULL;
		for (int k = 0; k < i; k++)
			if (t->procs[k].pid == ps->ppid)
				parent = &t->procs[k];
		if (i && !parent)
			return refuse(ps->pid, "its parent %d is not in the tree", ps->ppid);
		if (i && ps->sid != ps->pid && ps->sid != parent->sid)
			return refuse(ps->pid, "it is in session %d, neither its own nor its parent's; ferry cannot rebuild "
					       "that", ps->sid);
		if (ps->pgid == ps->pid || (i && ps->pgid == parent->pgid))
			continue;
		const struct proc_state *leader = find(t, ps->pgid);
		if (leader && leader->sid == ps->sid)
			continue;
		if (!i && !leader)
			continue;	/* the caller's group: ferry restore's */
		if (!leader && i && ps->sid == parent->sid) {
			char path[64];
			snprintf(path, sizeof(path), "/proc/%d", ps->pgid);
			if (stand_in_group(t, ps->pgid))
				continue;
			if (access(path, F_OK) < 0) {
				/* The group's leader exited: a stand-in recreates the group. */
				ps->pgid_helper = 1;
				continue;
			}
		}
		return refuse(ps->pid, "it is in process group %d, whose leader %d is outside the tree; ferry cannot "
				       "rebuild that", ps->pgid, ps->pgid);
	}
	for (int i = 1; i < t->nprocs; i++) {
		const struct proc_state *ps = &t->procs[i];
		if (ps->pgid != ps->pid && pgroup_outside(t, ps->pgid) && !t->opt.shell_job)
			return refuse(ps->pid, "it shares process group %d with the root %d, and that group is led from "
					       "outside the tree (a job started without setsid); dump with --shell-job to "
					       "restore the tree in ferry restore's process group", ps->pgid, root->pid);
		if (ps->zombie && joins_late(t, ps))
			return refuse(ps->pid, "it is an unreaped zombie in process group %d, which is led by neither "
					       "itself, its parent, nor an older sibling; ferry cannot rebuild that", ps->pgid);
	}
	return check_stops(t);
}

/* Without freezing, processes come and go: one that vanished between the
 * listing and the reading is simply not part of the tree any more (and
 * leaves no recorded error behind to stand for a later failure). */
int pgroup_survey(pid_t root, int shell_job)
{
	struct tree t = { .opt.shell_job = shell_job };
	int n = 1, ret = -1;
	t.procs = xzalloc(sizeof(*t.procs));
	t.procs[0].pid = root;
	for (int i = 0; i < n; i++) {
		pid_t pid = t.procs[i].pid, *kids;
		struct proc_stat st;
		char path[64], *s;
		int nk, had_error = fail_msg() != NULL;
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		if (!(s = read_file(path, NULL)) || proc_parse_stat(s, &st) < 0 || proc_children(pid, &kids, &nk) < 0) {
			free(s);
			if (!i) {
				fail("pid %d: cannot read its state from %s", root, path);
				goto out;
			}
			if (!had_error)
				fail_clear();
			continue;
		}
		free(s);
		/* (compacted: vanished ones leave no hole) */
		t.procs[t.nprocs++] = (struct proc_state){ .pid = pid, .ppid = st.ppid, .sid = st.sid, .pgid = st.pgrp,
							   .zombie = st.state == 'Z' };
		t.procs = xrealloc(t.procs, (n + nk) * sizeof(*t.procs));
		for (int k = 0; k < nk; k++) {
			memset(&t.procs[n + k], 0, sizeof(*t.procs));
			t.procs[n + k].pid = kids[k];
		}
		n += nk;
		free(kids);
	}
	ret = pgroup_check(&t);
out:
	free(t.procs);
	return ret;
}

int pgroup_validate(const struct tree *t)
{
	for (int i = 1; i < t->nprocs; i++) {
		const struct proc_state *ps = &t->procs[i];
		if (ps->pgid != ps->pid && pgroup_outside(t, ps->pgid) && !t->opt.shell_job)
			return fail("pid %d was in process group %d, led from outside the dumped tree: restore with "
				    "--shell-job to put the tree in ferry restore's process group", ps->pid, ps->pgid);
	}
	return 0;
}

int pgroup_set_own(const struct tree *t, const struct proc_state *ps)
{
	if (ps->sid == ps->pid) {
		if (setsid() < 0)
			return fail_errno("pid %d: cannot create its session", ps->pid);
	} else if (ps->pgid == ps->pid) {
		if (setpgid(0, 0) < 0)
			return fail_errno("pid %d: cannot create its process group", ps->pid);
	} else if (getpgrp() != ps->pgid && !pgroup_outside(t, ps->pgid) && joins_early(t, ps)) {
		if (setpgid(0, ps->pgid) < 0)
			return fail_errno("pid %d: cannot join process group %d", ps->pid, ps->pgid);
	}
	return 0;
}

int pgroup_set_child(const struct proc_state *child, pid_t pid)
{
	int leads = child ? child->pgid == child->pid && child->sid != child->pid : 1;
	if (leads && setpgid(pid, pid) < 0 && getpgid(pid) != pid)
		return fail_errno("cannot make process group %d for %s %d", pid, child ? "pid" : "the stand-in", pid);
	return 0;
}

int pgroup_join_remote(const struct tree *t, const struct proc_state *ps, struct rsys *rs)
{
	/* asked inside: its group id as it sees it */
	if (!joins_late(t, ps) || rsys_call(rs, SYS_getpgid, 0, 0, 0, 0, 0, 0) == ps->pgid)
		return 0;
	long r = rsys_call(rs, SYS_setpgid, 0, ps->pgid, 0, 0, 0, 0);
	if (r < 0) {
		errno = -r;
		return fail_errno("pid %d: cannot join process group %d", ps->pid, ps->pgid);
	}
	return 0;
}
