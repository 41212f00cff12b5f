/* locks - file locks of every kind, with their types, ranges and owners.
 * Setup: WORKDIR/posix.dat: the parent holds POSIX locks read [0,10),
 * write [20,30) (taken with SEEK_CUR from offset 10) and write [80,EOF);
 * a forked child holds its own POSIX write lock [70,75) through the
 * description it shares with the parent.  WORKDIR/ofd.dat: OFD write
 * [5,15) and OFD read [40,EOF) on one description.  WORKDIR/sh.dat: flock
 * LOCK_SH.  WORKDIR/ex.dat: flock LOCK_EX on a description shared with the
 * child.  A second child waits in F_SETLKW for a write lock on [0,10)
 * (a waiter, no lock yet): after restore it waits again, and gets the lock
 * once the parent lets its read lock go, at the very end.
 * After restore: a helper forked then (a new process, fresh descriptions)
 * finds exactly those locks with F_GETLK, F_OFD_GETLK and flock LOCK_NB,
 * with the right types, ranges and owner pids; the parent sees the child's
 * POSIX lock as the child's, the child the parent's; both can still take
 * the shared description's flock (they own it); /proc/locks lists exactly
 * these locks on these files. */
#include "common.h"
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>

static int fd_posix, fd_ofd, fd_sh, fd_ex;
static pid_t parent, child, waiter;

static void setlk(int fd, int cmd, int type, int whence, off_t start, off_t len)
{
	struct flock fl = { .l_type = type, .l_whence = whence, .l_start = start, .l_len = len };
	T_SETUP(fcntl(fd, cmd, &fl) == 0);
}

/* What a write (or read) request on [start, start+len) of fd runs into. */
static struct flock probe(int fd, int cmd, int type, off_t start, off_t len)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
	if (fcntl(fd, cmd, &fl) < 0) {
		T_CHECK(0, "fcntl GETLK [%ld,+%ld): %s", (long)start, (long)len, strerror(errno));
		fl.l_type = -1;
	}
	return fl;
}

static void expect(const char *what, int fd, int cmd, int want_type, off_t start, off_t len, int type, pid_t pid)
{
	struct flock fl = probe(fd, cmd, want_type, start, len);
	char w[160];
	snprintf(w, sizeof w, "%s: type", what);
	T_EQ(w, fl.l_type, type);
	if (type == F_UNLCK || fl.l_type != type)
		return;
	snprintf(w, sizeof w, "%s: start", what);
	T_EQ(w, fl.l_start, start);
	snprintf(w, sizeof w, "%s: len", what);
	T_EQ(w, fl.l_len, len);
	snprintf(w, sizeof w, "%s: owner pid", what);
	T_EQ(w, fl.l_pid, pid);
}

static int try_flock(const char *name, int op)
{
	int fd = open(t_path(name), O_RDONLY | O_CLOEXEC), r;
	T_CHECK(fd >= 0, "open %s: %s", name, strerror(errno));
	r = flock(fd, op | LOCK_NB);
	if (r < 0)
		r = -errno;
	close(fd);
	return r;
}

/* A process that did not exist at dump time looks at the locks. */
static void helper(void)
{
	int p = open(t_path("posix.dat"), O_RDWR | O_CLOEXEC), o = open(t_path("ofd.dat"), O_RDWR | O_CLOEXEC);
	T_CHECK(p >= 0 && o >= 0, "helper: open: %s", strerror(errno));
	/* POSIX: types, ranges (whence made absolute), owners */
	expect("posix read lock [0,10)", p, F_GETLK, F_WRLCK, 0, 10, F_RDLCK, parent);
	expect("posix read lock [0,10) vs a reader", p, F_GETLK, F_RDLCK, 0, 10, F_UNLCK, 0);
	expect("posix gap [10,20)", p, F_GETLK, F_WRLCK, 10, 10, F_UNLCK, 0);
	expect("posix write lock [20,30)", p, F_GETLK, F_RDLCK, 20, 10, F_WRLCK, parent);
	expect("posix gap [30,70)", p, F_GETLK, F_WRLCK, 30, 40, F_UNLCK, 0);
	expect("child's posix write lock [70,75)", p, F_GETLK, F_RDLCK, 70, 5, F_WRLCK, child);
	expect("posix write lock [80,EOF)", p, F_GETLK, F_RDLCK, 80, 0, F_WRLCK, parent);
	/* OFD: owned by the description, so no pid */
	expect("ofd write lock [5,15)", o, F_OFD_GETLK, F_RDLCK, 5, 10, F_WRLCK, -1);
	expect("ofd gap [15,40)", o, F_OFD_GETLK, F_WRLCK, 15, 25, F_UNLCK, 0);
	expect("ofd read lock [40,EOF)", o, F_OFD_GETLK, F_WRLCK, 40, 0, F_RDLCK, -1);
	expect("ofd read lock [40,EOF) vs a reader", o, F_OFD_GETLK, F_RDLCK, 40, 0, F_UNLCK, 0);
	/* flock */
	T_EQ("flock LOCK_EX on sh.dat (held shared)", try_flock("sh.dat", LOCK_EX), -EWOULDBLOCK);
	T_EQ("flock LOCK_SH on sh.dat (held shared)", try_flock("sh.dat", LOCK_SH), 0);
	T_EQ("flock LOCK_SH on ex.dat (held exclusive)", try_flock("ex.dat", LOCK_SH), -EWOULDBLOCK);
	close(p);
	close(o);
	exit(t_failures ? 1 : 0);
}

static int run_helper(void)
{
	int st;
	pid_t h = fork();
	T_CHECK(h >= 0, "fork helper: %s", strerror(errno));
	if (h == 0)
		helper();
	T_CHECK(waitpid(h, &st, 0) == h, "waitpid helper");
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Lines of /proc/locks for a request of pid that waits ("N: -> POSIX ..."). */
static int waiting(pid_t pid)
{
	static char buf[1 << 20];
	int n = 0;
	if (t_read_file("/proc/locks", buf, sizeof buf) < 0)
		return -1;
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		int p;
		if (sscanf(l, "%*d: -> POSIX %*s %*s %d", &p) == 1 && p == pid)
			n++;
	}
	return n;
}

static int wait_waiting(pid_t pid)
{
	for (int i = 0; i < 3000; i++) {
		if (waiting(pid) == 1)
			return 1;
		t_sleep_ms(10);
	}
	return 0;
}

static void waiter_main(void)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
	int r;
	while ((r = fcntl(fd_posix, F_SETLKW, &fl)) < 0 && errno == EINTR)
		;
	exit(r == 0 ? 0 : 1);
}

/* Locks on each of our files in /proc/locks, by kind. */
static void proc_locks(void)
{
	static char buf[1 << 20];
	const char *names[] = { "posix.dat", "ofd.dat", "sh.dat", "ex.dat" };
	const char *kinds[] = { "POSIX", "OFDLCK", "FLOCK", "FLOCK" };
	const int want[] = { 4, 2, 1, 1 };
	T_CHECK(t_read_file("/proc/locks", buf, sizeof buf) >= 0, "read /proc/locks");
	for (int i = 0; i < 4; i++) {
		struct stat st;
		int n = 0, other = 0;
		char w[96];
		T_CHECK(stat(t_path(names[i]), &st) == 0, "stat %s", names[i]);
		for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
			char kind[16], dev[64];
			unsigned long ino;
			if (sscanf(l, "%*d: %15s %*s %*s %*d %63s", kind, dev) != 2 || !strcmp(kind, "->"))
				continue;	/* (the waiter) */
			ino = strtoul(strrchr(dev, ':') + 1, NULL, 10);
			if (ino != st.st_ino)
				continue;
			if (!strcmp(kind, kinds[i]))
				n++;
			else
				other++;
		}
		snprintf(w, sizeof w, "%s locks on %s in /proc/locks", kinds[i], names[i]);
		T_EQ(w, n, want[i]);
		snprintf(w, sizeof w, "other locks on %s in /proc/locks", names[i]);
		T_EQ(w, other, 0);
	}
}

static void child_main(void)
{
	setlk(fd_posix, F_SETLK, F_WRLCK, SEEK_SET, 70, 5);
	t_wait_go();
	/* the parent's locks are another owner's */
	expect("child sees parent's posix read lock", fd_posix, F_GETLK, F_WRLCK, 0, 10, F_RDLCK, parent);
	expect("child sees parent's posix write lock", fd_posix, F_GETLK, F_RDLCK, 20, 10, F_WRLCK, parent);
	/* the shared description's flock is the child's too */
	T_EQ("child: flock LOCK_EX again on the shared description", flock(fd_ex, LOCK_EX | LOCK_NB), 0);
	/* hold the lock until the parent counted it */
	for (int i = 0; i < 3000 && access(t_path("counted"), F_OK) < 0; i++)
		t_sleep_ms(10);
	exit(t_failures ? 1 : 0);
}

int main(int argc, char **argv)
{
	char zeros[100] = { 0 };
	int st;
	t_init(argc, argv);
	parent = getpid();
	T_SETUP(t_write_file(t_path("posix.dat"), zeros, sizeof zeros) == 0);
	T_SETUP(t_write_file(t_path("ofd.dat"), zeros, sizeof zeros) == 0);
	T_SETUP(t_write_file(t_path("sh.dat"), "s", 1) == 0);
	T_SETUP(t_write_file(t_path("ex.dat"), "e", 1) == 0);
	T_SETUP((fd_posix = open(t_path("posix.dat"), O_RDWR)) >= 0);
	T_SETUP((fd_ofd = open(t_path("ofd.dat"), O_RDWR)) >= 0);
	T_SETUP((fd_sh = open(t_path("sh.dat"), O_RDONLY)) >= 0);
	T_SETUP((fd_ex = open(t_path("ex.dat"), O_RDONLY)) >= 0);

	setlk(fd_posix, F_SETLK, F_RDLCK, SEEK_SET, 0, 10);
	T_SETUP(lseek(fd_posix, 10, SEEK_SET) == 10);
	setlk(fd_posix, F_SETLK, F_WRLCK, SEEK_CUR, 10, 10);	/* [20,30) */
	setlk(fd_posix, F_SETLK, F_WRLCK, SEEK_SET, 80, 0);
	setlk(fd_ofd, F_OFD_SETLK, F_WRLCK, SEEK_SET, 5, 10);
	setlk(fd_ofd, F_OFD_SETLK, F_RDLCK, SEEK_SET, 40, 0);
	T_SETUP(flock(fd_sh, LOCK_SH) == 0);
	T_SETUP(flock(fd_ex, LOCK_EX) == 0);
	child = fork();
	T_SETUP(child >= 0);
	if (child == 0)
		child_main();
	/* ready once the child holds its lock */
	for (int i = 0; i < 500; i++) {
		struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 70, .l_len = 5 };
		T_SETUP(fcntl(fd_posix, F_GETLK, &fl) == 0);
		if (fl.l_type == F_WRLCK)
			break;
		t_sleep_ms(10);
	}
	waiter = fork();
	T_SETUP(waiter >= 0);
	if (waiter == 0)
		waiter_main();
	T_SETUP(wait_waiting(waiter));
	T_CHECK(run_helper(), "the helper found the locks wrong before the dump");
	t_ready();
	t_wait_go();

	T_CHECK(run_helper(), "the helper found the locks wrong after the restore");
	expect("parent sees the child's posix lock as the child's", fd_posix, F_GETLK, F_RDLCK, 70, 5, F_WRLCK, child);
	/* the parent still owns its own locks: re-taking them does not conflict */
	{
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 10 };
		T_EQ("parent: OFD write lock taken again on its description", fcntl(fd_ofd, F_OFD_SETLK, &fl), 0);
	}
	T_EQ("parent: flock LOCK_EX again on the shared description", flock(fd_ex, LOCK_EX | LOCK_NB), 0);
	T_EQ("parent: flock LOCK_SH again", flock(fd_sh, LOCK_SH | LOCK_NB), 0);
	proc_locks();
	T_CHECK(t_write_file(t_path("counted"), "", 0) == 0, "write counted");
	T_CHECK(waitpid(child, &st, 0) == child, "waitpid child");
	T_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child's checks failed (status %#x)", st);
	/* the waiter waits again, and gets the lock once it is free */
	T_CHECK(wait_waiting(waiter), "the waiter does not wait for its lock after the restore (%d)", waiting(waiter));
	{
		struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
		T_CHECK(fcntl(fd_posix, F_SETLK, &fl) == 0, "unlock [0,10): %s", strerror(errno));
	}
	T_CHECK(waitpid(waiter, &st, 0) == waiter, "waitpid waiter");
	T_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the waiter did not get its lock (status %#x)", st);
	t_finish();
}
