/* inotify_moved - inotify watches whose path changed after they were added.
 * Setup: watches on directory d1 (wd A) and file f1 (wd B), then d1 renamed
 * to d2 and f1 renamed to f2; a watch on gone.txt (wd C), which is then
 * unlinked while the program holds it open (fd g).
 * Covers: the watches keep their wds and follow the inodes (found again by
 * file handle): creating d2/x reports IN_CREATE on A, writing f2 reports
 * IN_MODIFY on B, writing through g reports IN_MODIFY on C (the deleted
 * file, recreated, is still watched). */
#include <poll.h>
#include <sys/inotify.h>

#include "common.h"

static int next_event(int in, int *wd, uint32_t *mask)
{
	static char buf[4096] __attribute__((aligned(8)));
	struct pollfd p = { in, POLLIN, 0 };
	if (poll(&p, 1, 5000) != 1 || read(in, buf, sizeof(buf)) < (ssize_t)sizeof(struct inotify_event))
		return -1;
	struct inotify_event *e = (struct inotify_event *)buf;
	*wd = e->wd;
	*mask = e->mask;
	return 0;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_SETUP(mkdir(t_path("d1"), 0755) == 0 && t_write_file(t_path("f1"), "f", 1) == 0);
	T_SETUP(t_write_file(t_path("gone.txt"), "g", 1) == 0);
	int in = inotify_init1(IN_NONBLOCK);
	T_SETUP(in >= 0);
	int a = inotify_add_watch(in, t_path("d1"), IN_CREATE);
	int b = inotify_add_watch(in, t_path("f1"), IN_MODIFY);
	int c = inotify_add_watch(in, t_path("gone.txt"), IN_MODIFY);
	T_SETUP(a > 0 && b > 0 && c > 0);
	int g = open(t_path("gone.txt"), O_WRONLY | O_APPEND);
	T_SETUP(g >= 0 && unlink(t_path("gone.txt")) == 0);
	T_SETUP(rename(t_path("d1"), t_path("d2")) == 0 && rename(t_path("f1"), t_path("f2")) == 0);
	/* drain IN_ATTRIB (link count) and the like */
	char drain[4096];
	while (read(in, drain, sizeof(drain)) > 0)
		;
	t_ready();
	t_wait_go();

	int wd;
	uint32_t mask;
	T_SETUP(t_write_file(t_path("d2/x"), "", 0) == 0);
	T_CHECK(next_event(in, &wd, &mask) == 0 && wd == a && (mask & IN_CREATE),
		"after creating d2/x: wd %d mask %#x, expected wd %d IN_CREATE", wd, mask, a);
	int f = open(t_path("f2"), O_WRONLY | O_APPEND);
	T_SETUP(f >= 0 && write(f, "x", 1) == 1);
	T_CHECK(next_event(in, &wd, &mask) == 0 && wd == b && (mask & IN_MODIFY),
		"after writing f2: wd %d mask %#x, expected wd %d IN_MODIFY", wd, mask, b);
	T_SETUP(write(g, "x", 1) == 1);
	T_CHECK(next_event(in, &wd, &mask) == 0 && wd == c && (mask & IN_MODIFY),
		"after writing the deleted file: wd %d mask %#x, expected wd %d IN_MODIFY", wd, mask, c);
	t_finish();
}
