/*
 * cgroup v2 membership: the process goes back into the same cgroup (its
 * path in the unified hierarchy, as /proc/PID/cgroup shows it from ferry's
 * cgroup namespace).  The new process moves itself there (cgroup.procs)
 * while it runs ferry's code, before it makes its threads, which follow it;
 * its children move themselves the same way.  Nothing is done when ferry
 * already is in that cgroup.
 *
 * If the cgroup does not exist on the restore host (or no cgroup2 is
 * mounted there), restore refuses before creating anything and says which:
 * create it, or restore from a shell in the cgroup you want.  Limits: a
 * process whose threads sit in different cgroups (threaded cgroups) is
 * refused; membership in cgroup v1 hierarchies is not carried.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image.h"
#include "log.h"
#include "pattrs.h"
#include "pstate.h"
#include "util.h"

struct cgroup {
	char path[PATH_MAX];	/* "" when the process showed no cgroup v2 line */
};

/* The "0::PATH" line of a cgroup file; 0 with path "" when there is none. */
static int read_v2(const char *file, char *path, size_t len)
{
	char *s = read_file(file, NULL);
	path[0] = 0;
	if (!s)
		return fail_errno("cannot read %s", file);
	for (char *l = strtok(s, "\n"); l; l = strtok(NULL, "\n"))
		if (!strncmp(l, "0::", 3)) {
			snprintf(path, len, "%s", l + 3);
			break;
		}
	free(s);
	return 0;
}

/* Where cgroup2 is mounted here (mountinfo: "... - cgroup2 ..."), or NULL. */
static const char *v2_mount(void)
{
	static char mnt[PATH_MAX];
	static int done;
	char *s, *l;
	if (done)
		return mnt[0] ? mnt : NULL;
	done = 1;
	if (!(s = read_file("/proc/self/mountinfo", NULL)))
		return NULL;
	for (l = strtok(s, "\n"); l; l = strtok(NULL, "\n")) {
		char root[PATH_MAX], point[PATH_MAX];
		const char *sep = strstr(l, " - ");
		if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
			continue;
		if (sscanf(l, "%*d %*d %*s %4095s %4095s", root, point) == 2 && !strcmp(root, "/")) {
			snprintf(mnt, sizeof(mnt), "%s", point);
			break;
		}
	}
	free(s);
	return mnt[0] ? mnt : NULL;
}

static int dump(const struct proc_state *ps, pid_t tid, struct rsys *rs, void *st)
{
	struct cgroup *c = st;
	char file[96];
	(void)tid;
	(void)rs;
	snprintf(file, sizeof(file), "/proc/%d/cgroup", ps->hpid);
	if (read_v2(file, c->path, sizeof(c->path)) < 0)
		return -1;
	for (int i = 1; i < ps->nthreads && c->path[0]; i++) {
		char other[PATH_MAX];
		snprintf(file, sizeof(file), "/proc/%d/task/%d/cgroup", ps->hpid, ps->threads[i].htid);
		if (read_v2(file, other, sizeof(other)) < 0)
			return -1;
		if (strcmp(other, c->path))
			return refuse(ps->pid, "thread %d is in cgroup %s, the process in %s (threaded cgroups are not "
					       "carried)", ps->threads[i].tid, other, c->path);
	}
	return 0;
}

static json_t *encode(const void *st)
{
	const struct cgroup *c = st;
	return c->path[0] ? jstr(c->path) : NULL;
}

static int decode(json_t *j, void *st)
{
	struct cgroup *c = st;
	if (!json_is_string(j) || json_string_value(j)[0] != '/' || strstr(json_string_value(j), "/../") ||
	    strlen(json_string_value(j)) >= sizeof(c->path))
		return fail("image %s is corrupt: bad cgroup path", jctx);
	snprintf(c->path, sizeof(c->path), "%s", json_string_value(j));
	return 0;
}

static int here(const struct cgroup *c, char *own, size_t len)
{
	if (read_v2("/proc/self/cgroup", own, len) < 0)
		return -1;
	return !strcmp(own, c->path);
}

static int validate(const struct proc_state *ps, pid_t tid, const void *st)
{
	const struct cgroup *c = st;
	char own[PATH_MAX], dir[2 * PATH_MAX + 32];
	const char *mnt = v2_mount();
	int r;
	(void)tid;
	if ((r = here(c, own, sizeof(own))) != 0)
		return r < 0 ? -1 : 0;
	if (!mnt)
		return fail("pid %d was in cgroup %s, but no cgroup2 is mounted here (ferry is in %s)", ps->pid,
			    c->path, own[0] ? own : "no cgroup v2");
	snprintf(dir, sizeof(dir), "%s%s/cgroup.procs", mnt, c->path);
	if (access(dir, W_OK) < 0)
		return fail("pid %d was in cgroup %s, which does not exist here (%s: %s); create it, or restore from "
			    "the cgroup it should join", ps->pid, c->path, dir, strerror(errno));
	return 0;
}

static int restore_child(const struct proc_state *ps, const void *st)
{
	const struct cgroup *c = st;
	char own[PATH_MAX], file[2 * PATH_MAX + 32];
	const char *mnt = v2_mount();
	FILE *f;
	int ok, r;
	if ((r = here(c, own, sizeof(own))) != 0)
		return r < 0 ? -1 : 0;
	if (!mnt)
		return fail("pid %d: no cgroup2 is mounted here", ps->pid);
	snprintf(file, sizeof(file), "%s%s/cgroup.procs", mnt, c->path);
	f = fopen(file, "w");
	ok = f && fprintf(f, "0") > 0;
	if (f && fclose(f) != 0)
		ok = 0;
	return ok ? 0 : fail_errno("pid %d: cannot join cgroup %s (%s)", ps->pid, c->path, file);
}

const struct pattr attr_cgroup = {
	.key = "cgroup",
	.size = sizeof(struct cgroup),
	.dump = dump,
	.encode = encode,
	.decode = decode,
	.validate = validate,
	.restore_child = restore_child,
};
