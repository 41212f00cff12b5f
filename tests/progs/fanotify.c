/* fanotify - a fanotify group with marks.
 * Setup: a group (FAN_CLASS_NOTIF, FAN_NONBLOCK) with an inode mark on
 * watched.txt (FAN_MODIFY | FAN_CLOSE_WRITE, and an ignore mask FAN_OPEN
 * surviving modification), a mount mark and a filesystem mark on WORKDIR's
 * mount (FAN_OPEN_EXEC, FAN_CLOSE_NOWRITE: events the runner's files are
 * not read for).
 * Covers: the group's flags and every mark line of fdinfo (mask, ignore
 * mask, mark flags, inode, device) as before; the marks work: writing
 * watched.txt brings FAN_MODIFY with an fd on that file. */
#include <poll.h>
#include <sys/fanotify.h>

#include "common.h"

/* The "fanotify" lines of fd's fdinfo, each sorted into out. */
static void marks(int fd, char *out, size_t cap)
{
	char path[64], buf[8192], *lines[64];
	int n = 0;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	out[0] = 0;
	if (t_read_file(path, buf, sizeof(buf)) < 0)
		return;
	for (char *l = strtok(buf, "\n"); l && n < 64; l = strtok(NULL, "\n"))
		if (!strncmp(l, "fanotify", 8))
			lines[n++] = l;
	for (int i = 0; i < n; i++)	/* order is the kernel's: sort */
		for (int k = i + 1; k < n; k++)
			if (strcmp(lines[i], lines[k]) > 0) {
				char *t = lines[i];
				lines[i] = lines[k];
				lines[k] = t;
			}
	for (int i = 0; i < n; i++)
		snprintf(out + strlen(out), cap - strlen(out), "%s\n", lines[i]);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	static char before[8192], after[8192];
	T_SETUP(t_write_file(t_path("watched.txt"), "w", 1) == 0);
	int g = fanotify_init(FAN_CLASS_NOTIF | FAN_NONBLOCK, O_RDONLY | O_LARGEFILE);
	T_SETUP(g >= 0);
	T_SETUP(fanotify_mark(g, FAN_MARK_ADD, FAN_MODIFY | FAN_CLOSE_WRITE, AT_FDCWD, t_path("watched.txt")) == 0);
	T_SETUP(fanotify_mark(g, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK | FAN_MARK_IGNORED_SURV_MODIFY, FAN_OPEN,
			      AT_FDCWD, t_path("watched.txt")) == 0);
	T_SETUP(fanotify_mark(g, FAN_MARK_ADD | FAN_MARK_MOUNT, FAN_OPEN_EXEC, AT_FDCWD, t_workdir) == 0);
	T_SETUP(fanotify_mark(g, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_CLOSE_NOWRITE, AT_FDCWD, t_workdir) == 0);
	marks(g, before, sizeof(before));
	int fl = fcntl(g, F_GETFL);
	t_ready();
	t_wait_go();

	marks(g, after, sizeof(after));
	T_STREQ("marks", after, before);
	T_EQ("file flags", fcntl(g, F_GETFL), fl);
	/* drain what the filesystem mark caught meanwhile */
	static char buf[8192] __attribute__((aligned(8)));
	for (ssize_t n; (n = read(g, buf, sizeof(buf))) > 0;)
		for (struct fanotify_event_metadata *m = (void *)buf; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n))
			if (m->fd >= 0)
				close(m->fd);
	int w = open(t_path("watched.txt"), O_WRONLY | O_APPEND);
	T_SETUP(w >= 0 && write(w, "x", 1) == 1);
	int found = 0;
	for (int tries = 0; tries < 50 && !found; tries++) {
		struct pollfd p = { g, POLLIN, 0 };
		if (poll(&p, 1, 100) != 1)
			continue;
		ssize_t n = read(g, buf, sizeof(buf));
		for (struct fanotify_event_metadata *m = (void *)buf; n > 0 && FAN_EVENT_OK(m, n);
		     m = FAN_EVENT_NEXT(m, n)) {
			struct stat a, b;
			if ((m->mask & FAN_MODIFY) && m->fd >= 0 && fstat(m->fd, &a) == 0 && fstat(w, &b) == 0 &&
			    a.st_ino == b.st_ino)
				found = 1;
			if (m->fd >= 0)
				close(m->fd);
		}
	}
	T_CHECK(found, "no FAN_MODIFY for watched.txt after restore");
	t_finish();
}
