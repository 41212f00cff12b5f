/*
 * fanotify groups and their marks.  fdinfo gives the group's init flags
 * and event file flags, and each mark: on an inode (a file handle, opened
 * to learn its path as inotify.c does), on a mount (its id, whose mount
 * point /proc/PID/mountinfo gives) or on a filesystem (its device: a mount
 * point of it), with its mask, ignore mask and mark flags.  Restore makes
 * the group with the same flags and adds the marks again by path.
 *
 * Limits: events queued but not yet read are lost; groups of the
 * permission classes (FAN_CLASS_CONTENT, FAN_CLASS_PRE_CONTENT) are refused
 * (a pending permission event blocks its process); so is a mark whose
 * inode was deleted or that ferry cannot reach by path.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileops.h"
#include "image.h"
#include "log.h"
#include "util.h"

#ifndef FAN_MARK_IGNORE
#define FAN_MARK_IGNORE 0x400
#endif
#ifndef FAN_MARK_EVICTABLE
#define FAN_MARK_EVICTABLE 0x200
#endif

struct fan_mark {
	unsigned type;		/* 0 (inode), FAN_MARK_MOUNT or FAN_MARK_FILESYSTEM */
	unsigned mflags;
	uint64_t mask, ignored;
	char *path;
};

struct fan_group {
	unsigned flags, event_flags;
	struct fan_mark *m;
	int n;
};

static int fanotify_match(const struct fdump *d)
{
	return !strcmp(d->link, "anon_inode:[fanotify]");
}

/* The mount point of the mount with id mnt_id (or, mnt_id < 0, of some mount
 * of kernel device sdev) in pid's mount table, from ferry's root. */
static char *mount_point(pid_t pid, int mnt_id, unsigned sdev)
{
	char path[64], *s, *line, *found = NULL, *sp;
	snprintf(path, sizeof(path), "/proc/%d/mountinfo", pid);
	if (!(s = read_file(path, NULL)))
		return NULL;
	for (line = strtok_r(s, "\n", &sp); line && !found; line = strtok_r(NULL, "\n", &sp)) {
		unsigned id, a, b;
		char mnt[4096];
		if (sscanf(line, "%u %*d %u:%u %*s %4095s", &id, &a, &b, mnt) != 4)
			continue;
		if (mnt_id >= 0 ? (int)id == mnt_id : (a == sdev >> 20 && b == (sdev & 0xfffff)))
			found = xstrdup(mnt);
	}
	free(s);
	return found;
}

static int fanotify_dump(struct fdump *d, struct ofile *of)
{
	struct proc_state *ps = d->ps;
	struct fan_group *g = of->priv = xzalloc(sizeof(*g));
	char path[64], *s, *line, *sp;
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", ps->hpid, d->fd);
	if (!(s = read_file(path, NULL)))
		return fail_errno("cannot read %s", path);
	/* strtok_r: file_handle_path uses strtok */
	for (line = strtok_r(s, "\n", &sp); line; line = strtok_r(NULL, "\n", &sp)) {
		struct fan_mark *m;
		unsigned long long mask, ign;
		unsigned mnt, sdev, mflags, bytes;
		unsigned long ino;
		int type;
		char hex[260];
		if (sscanf(line, "fanotify flags:%x event-flags:%x", &g->flags, &g->event_flags) == 2)
			continue;
		if (strncmp(line, "fanotify ", 9))
			continue;
		g->m = xrealloc(g->m, (g->n + 1) * sizeof(*g->m));
		m = &g->m[g->n++];
		memset(m, 0, sizeof(*m));
		if (sscanf(line, "fanotify ino:%lx sdev:%x mflags:%x mask:%llx ignored_mask:%llx fhandle-bytes:%x "
				 "fhandle-type:%x f_handle:%259s", &ino, &sdev, &mflags, &mask, &ign, &bytes, &type,
			   hex) == 8) {
			m->path = file_handle_path(ps->hpid, sdev, type, hex);
		} else if (sscanf(line, "fanotify mnt_id:%x mflags:%x mask:%llx ignored_mask:%llx", &mnt, &mflags,
				  &mask, &ign) == 4) {
			m->type = FAN_MARK_MOUNT;
			m->path = mount_point(ps->hpid, mnt, 0);
		} else if (sscanf(line, "fanotify sdev:%x mflags:%x mask:%llx ignored_mask:%llx", &sdev, &mflags,
				  &mask, &ign) == 4) {
			m->type = FAN_MARK_FILESYSTEM;
			m->path = mount_point(ps->hpid, -1, sdev);
		} else {
			free(s);
			return fail("pid %d: cannot parse the marks of fanotify fd %d", ps->pid, d->fd);
		}
		m->mflags = mflags;
		m->mask = mask;
		m->ignored = ign;
		if (!m->path) {
			free(s);
			return refuse(ps->pid, "fanotify fd %d has a mark (%s) ferry cannot reach by path (deleted?); "
					       "it cannot carry it", d->fd, line + 9);
		}
	}
	free(s);
	if (g->flags & (FAN_CLASS_CONTENT | FAN_CLASS_PRE_CONTENT))
		return refuse(ps->pid, "fanotify fd %d is of a permission class (flags %#x), which ferry cannot "
				       "checkpoint yet", d->fd, g->flags);
	return 0;
}

static void fanotify_encode(const struct ofile *of, json_t *o)
{
	const struct fan_group *g = of->priv;
	json_t *a = json_array();
	for (int i = 0; i < g->n; i++)
		json_array_append_new(a, json_pack("{s:i,s:i,s:o,s:o,s:s}", "type", g->m[i].type, "mflags",
						   g->m[i].mflags, "mask", jhex(g->m[i].mask), "ignored",
						   jhex(g->m[i].ignored), "path", g->m[i].path));
	json_object_set_new(o, "init_flags", jhex(g->flags));
	json_object_set_new(o, "event_flags", jhex(g->event_flags));
	json_object_set_new(o, "marks", a);
}

static int fanotify_decode(json_t *o, struct ofile *of, const struct tree *t)
{
	struct fan_group *g = of->priv = xzalloc(sizeof(*g));
	json_t *a = jget_arr(o, "marks"), *e;
	uint64_t u;
	size_t i;
	(void)t;
	if (!a || jget_u64(o, "init_flags", &u) < 0)
		return -1;
	g->flags = u;
	if (jget_u64(o, "event_flags", &u) < 0)
		return -1;
	g->event_flags = u;
	g->m = xzalloc((json_array_size(a) + 1) * sizeof(*g->m));
	json_array_foreach(a, i, e) {
		struct fan_mark *m = &g->m[g->n];
		long long type, mflags;
		const char *p;
		if (jget_int(e, "type", &type) < 0 || jget_int(e, "mflags", &mflags) < 0 ||
		    jget_u64(e, "mask", &m->mask) < 0 || jget_u64(e, "ignored", &m->ignored) < 0 ||
		    jget_str(e, "path", &p) < 0)
			return -1;
		m->type = type;
		m->mflags = mflags;
		m->path = xstrdup(p);
		g->n++;
	}
	return 0;
}

static int fanotify_validate(const struct tree *t, int i)
{
	const struct fan_group *g = t->files.of[i].priv;
	for (int k = 0; k < g->n; k++)
		if (access(g->m[k].path, F_OK) < 0)
			return fail_errno("%s: a fanotify mark needs %s, which is missing here", file_who(t, i),
					  g->m[k].path);
	return 0;
}

static int fanotify_prepare(struct tree *t, struct img *im, int i, enum file_pass pass)
{
	struct ofile *of = &t->files.of[i];
	const struct fan_group *g = of->priv;
	(void)im, (void)pass;
	/* The flags as they were (the group keeps FAN_CLOEXEC among them):
	 * close-on-exec for ferry's copy set apart. */
	if ((of->rfd = fanotify_init(g->flags, g->event_flags)) < 0)
		return fail_errno("%s: cannot make a fanotify group (flags %#x)", file_who(t, i), g->flags);
	if (fcntl(of->rfd, F_SETFD, FD_CLOEXEC) < 0)
		return fail_errno("%s: cannot set close-on-exec on a fanotify group", file_who(t, i));
	for (int k = 0; k < g->n; k++) {
		const struct fan_mark *m = &g->m[k];
		unsigned ign = m->mflags & FAN_MARK_IGNORE ? FAN_MARK_IGNORE : FAN_MARK_IGNORED_MASK;
		unsigned keep = m->mflags & (FAN_MARK_IGNORED_SURV_MODIFY | FAN_MARK_EVICTABLE);
		if (m->mask && fanotify_mark(of->rfd, FAN_MARK_ADD | m->type | (m->mflags & FAN_MARK_EVICTABLE),
					     m->mask, AT_FDCWD, m->path) < 0)
			return fail_errno("%s: cannot mark %s for fanotify", file_who(t, i), m->path);
		if (m->ignored &&
		    fanotify_mark(of->rfd, FAN_MARK_ADD | m->type | ign | keep, m->ignored, AT_FDCWD, m->path) < 0)
			return fail_errno("%s: cannot give %s its fanotify ignore mask", file_who(t, i), m->path);
	}
	return 0;
}

static void fanotify_free(struct ofile *of)
{
	struct fan_group *g = of->priv;
	if (!g)
		return;
	for (int k = 0; k < g->n; k++)
		free(g->m[k].path);
	free(g->m);
	free(g);
}

const struct file_ops fanotify_ops = {
	.name = "fanotify",
	.flags = FO_SETFL,
	.match = fanotify_match,
	.dump = fanotify_dump,
	.encode = fanotify_encode,
	.decode = fanotify_decode,
	.validate = fanotify_validate,
	.prepare = fanotify_prepare,
	.free = fanotify_free,
};
