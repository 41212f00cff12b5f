/*
 * Fuzz target: ferry's parsers of /proc text: stat, status, smaps/maps,
 * limits, and the fdinfo of every kind of fd it reads (eventfd, signalfd,
 * timerfd, epoll, inotify with the mountinfo it then reads, lock lines).
 *
 * The input is [kind u8][text]; for the fdinfo parsers, which read the
 * file themselves, the link is made with --wrap=read_file and read_file
 * hands them the input for any /proc/.../fdinfo/... path (and the part
 * after a NUL, if any, for /proc/.../mountinfo).  The pid is our own, the
 * fd numbers real fds of ours, so kcmp and open_by_handle_at run for real.
 * The fdinfo kinds are called through their file_ops (fileops.h).
 * The kernel writes these files, so this is about robustness (a kernel
 * with another format, a field ferry does not expect) more than attack.
 */
#include <sys/epoll.h>
#include <sys/timerfd.h>

#include "fuzz.h"
#include "fileops.h"
#include "proc.h"
#include "pstate.h"

static const char *fdinfo_text, *mountinfo_text;

char *__real_read_file(const char *path, size_t *len);
char *__wrap_read_file(const char *path, size_t *len)
{
	const char *t = NULL;
	if (fdinfo_text && strstr(path, "/fdinfo/"))
		t = fdinfo_text;
	else if (mountinfo_text && strstr(path, "/mountinfo"))
		t = mountinfo_text;
	if (!t)
		return __real_read_file(path, len);
	if (len)
		*len = strlen(t);
	return xstrdup(t);
}

enum { P_STAT, P_STATUS, P_SMAPS, P_LIMITS, P_EVENTFD, P_SIGNALFD, P_TIMERFD, P_EPOLL, P_INOTIFY, P_LOCKS,
       P_MOUNTINFO, P_KINDS };

static int tfd, efd;

/* A kind's dump hook on fd (ferry's own: myfd), then its free. */
static void fd_kind(const struct file_ops *ops, struct proc_state *ps, int fd, int myfd, struct ofile *of)
{
	struct stat st;
	char link[] = "anon_inode:[fuzz]";
	struct fdump d = { .ps = ps, .fd = fd, .myfd = myfd, .link = link, .st = &st };
	fstat(myfd, &st);
	ops->dump(&d, of);
	if (ops->free)
		ops->free(of);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	efd = epoll_create1(EPOLL_CLOEXEC);
	if (tfd < 0 || efd < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ofile files[1];
	struct tree t = { .files = { .of = files, .n = 1 } };
	struct proc_state ps = { .pid = getpid(), .tree = &t };
	struct ofile of;
	char *text;
	int kind;

	if (!size)
		return 0;
	kind = data[0] % P_KINDS;
	text = xmalloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = 0;
	memset(&of, 0, sizeof(of));
	fdinfo_text = text;
	mountinfo_text = strlen(text) + 1 < size ? text + strlen(text) + 1 : "";
	switch (kind) {
	case P_STAT: {
		struct proc_stat st;
		proc_parse_stat(text, &st);
		break;
	}
	case P_STATUS: {
		struct proc_status st;
		proc_parse_status(text, &st);
		break;
	}
	case P_SMAPS: {
		struct proc_vma *v = NULL;
		int n = 0;
		if (proc_parse_smaps(text, &v, &n) == 0)
			proc_free_vmas(v, n);
		break;
	}
	case P_LIMITS: {
		struct rlimit lim[NR_RLIMITS];
		proc_parse_limits(text, lim);
		break;
	}
	case P_EVENTFD:
		fd_kind(&eventfd_ops, &ps, efd, efd, &of);
		break;
	case P_SIGNALFD:
		fd_kind(&signalfd_ops, &ps, efd, efd, &of);
		break;
	case P_TIMERFD:
		fd_kind(&timerfd_ops, &ps, tfd, tfd, &of);
		break;
	case P_EPOLL:
		fd_kind(&epoll_ops, &ps, efd, efd, &of);
		break;
	case P_INOTIFY:
	case P_MOUNTINFO:
		fd_kind(&inotify_ops, &ps, efd, efd, &of);
		break;
	case P_LOCKS:
		files[0].kind = FK_REG;
		locks_dump_fd(&ps, efd, 0, 0);
		free(t.locks.l);
		break;
	}
	fdinfo_text = mountinfo_text = NULL;
	free(text);
	fail_clear();
	return 0;
}
