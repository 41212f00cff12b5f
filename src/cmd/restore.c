/*
 * ferry restore: recreate a process tree from an image.
 *
 * Everything is read and validated first (checksums, version, CPU
 * features, files, every PID and TID; the page files' checksums as they
 * are copied, before any process runs); only then are processes created,
 * with clone3 and set_tid so they get their original PIDs.  ferry creates
 * the root; each new process, while it still runs ferry's code, creates its
 * own children (so parenthood, sessions and groups come out right), takes
 * its cwd, umask and fds, creates its threads, reports on a status pipe
 * and parks in pause().  ferry then seizes every thread, rebuilds memory,
 * registers and the rest with remote syscalls, and lets them all go.
 *
 * If anything fails, every process made so far is killed: ferry traces
 * them with PTRACE_O_EXITKILL and each has PR_SET_PDEATHSIG(SIGKILL) until
 * it is complete, so even a crash of ferry leaves nothing behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "cmds.h"
#include "fault.h"
#include "image.h"
#include "log.h"
#include "pstate.h"
#include "ptrace.h"
#include "util.h"

#define SETUP_TIMEOUT_MS 30000

/* Seconds since the first call, for -v. */
static double elapsed(void)
{
	static struct timespec t0;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!t0.tv_sec)
		t0 = now;
	return (now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: ferry restore -D|--dir DIR [-d|--detach] [--pidfile FILE] [--ip-map OLD=NEW]...\n"
		   "                     [--netns PATH] [--tcp-established] [--tcp-close] [--skip-in-flight]\n"
		   "                     [-j|--shell-job] [--json] [-v|--verbose]\n"
		   "  Recreates the processes in DIR with their original PIDs and resumes them.\n"
		   "  Without -d ferry waits for the root process and exits with its exit status\n"
		   "  (128+signal if it was killed).\n"
		   "  -d, --detach      exit as soon as the processes run\n"
		   "  --pidfile FILE    write the restored root PID to FILE\n"
		   "  --ip-map OLD=NEW  sockets bound to OLD get NEW (IPv4 or IPv6; repeatable); a\n"
		   "                    dual-stack socket on ::ffff:OLD gets ::ffff:NEW\n"
		   "  --netns PATH      restore into that network namespace (e.g. /run/netns/hostb)\n"
		   "  --tcp-established restore the connections preserved by dump --tcp-established (the\n"
		   "                    default; refused if the dump broke connections to outside peers)\n"
		   "  --tcp-close       break every preserved TCP connection instead of restoring it\n"
		   "  --skip-in-flight  accepted for CRIU users; in-flight connections are never carried\n"
		   "  -j, --shell-job   put the processes' terminal fds on ferry's own terminal, and a\n"
		   "                    process group led from outside the tree into ferry's own group\n"
		   "  --json            events on stdout, one JSON object per line (started, restored,\n"
		   "                    result with the root's exit status, error)\n");
}

struct child_status {
	pid_t pid;
	int ok;
	char msg[1000];
};

/* A thread that parks in pause() until the tracer takes it over.  It runs
 * on no stack at all, so it needs none of ferry's memory. */
long spawn_parked(struct clone_args *args, size_t size);
__asm__(".text\n"
	".globl spawn_parked\n"
	".type spawn_parked,@function\n"
	"spawn_parked:\n"
	"	mov $435, %eax\n"	/* clone3 */
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 1f\n"
	"2:	mov $34, %eax\n"	/* pause */
	"	syscall\n"
	"	jmp 2b\n"
	"1:	ret\n");

/* Everything made from here on (sockets, processes) lives in that namespace. */
static int enter_netns(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail_errno("cannot open network namespace %s", path);
	if (setns(fd, CLONE_NEWNET) < 0) {
		close(fd);
		return fail_errno("cannot enter network namespace %s", path);
	}
	close(fd);
	return 0;
}

static int load(struct img *im, struct tree *t)
{
	json_t *pids, *pid, *shared;
	size_t i;

	if (img_verify_early(im, 1) < 0)	/* page files: as they are copied (mem.c) */
		return -1;
	jctx = "manifest.json";
	if (!(pids = jget_arr(im->manifest, "pids")) || !json_array_size(pids))
		return fail("image %s is corrupt: no processes", im->dir);
	if (!(shared = img_read_json(im, "shared.json")))
		return -1;
	if (shm_decode(shared, t) < 0 || files_table_decode(shared, t) < 0 ||
	    netlock_decode(json_object_get(shared, "netlock"), &t->lock) < 0 ||
	    inet_check_restore_options(json_object_get(shared, "tcp_options"), t) < 0) {
		json_decref(shared);
		return -1;
	}
	json_decref(shared);
	t->nprocs = json_array_size(pids);
	t->procs = xzalloc(t->nprocs * sizeof(*t->procs));
	json_array_foreach(pids, i, pid) {
		struct proc_state *ps = &t->procs[i];
		char name[64];
		json_t *core;
		int ret;
		ps->tree = t;
		snprintf(name, sizeof(name), "core-%lld.json", (long long)json_integer_value(pid));
		if (!(core = img_read_json(im, name)))
			return -1;
		ret = pstate_decode(core, ps);
		json_decref(core);
		if (ret < 0)
			return -1;
		if (ps->pid != json_integer_value(pid))
			return fail("image %s is corrupt: %s describes pid %d", im->dir, name, ps->pid);
		if (i && !ps->ppid)
			return fail("image %s is corrupt: pid %d has no parent", im->dir, ps->pid);
		/* Restored in ferry's own PID namespace: the ids are the host's. */
		ps->hpid = ps->pid;
		for (int k = 0; k < ps->nthreads; k++)
			ps->threads[k].htid = ps->threads[k].tid;
	}
	return 0;
}

static int id_free(pid_t pid, pid_t tid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d", tid);
	if (access(path, F_OK) == 0) {
		if (tid == pid)
			return fail("pid %d is taken here by %s; cannot restore with the original pid", pid,
				    proc_describe(tid));
		return fail("tid %d (a thread of pid %d) is taken here by %s", tid, pid, proc_describe(tid));
	}
	return 0;
}

static int validate(struct img *im, struct tree *t)
{
	for (int i = 0; i < t->nprocs; i++) {
		const struct proc_state *ps = &t->procs[i];
		if (id_free(ps->pid, ps->pid) < 0)
			return -1;
		if (ps->zombie)
			continue;
		for (int k = 1; k < ps->nthreads; k++)
			if (id_free(ps->pid, ps->threads[k].tid) < 0)
				return -1;
		if (thread_validate(ps) < 0 || pattrs_validate(ps) < 0 || mem_validate(ps, im) < 0)
			return -1;
	}
	return pgroup_validate(t) < 0 ? -1 : files_validate(t);
}

static void report(int status_fd, pid_t pid, int ok)
{
	struct child_status cs = { .pid = pid, .ok = ok };
	if (!ok)
		snprintf(cs.msg, sizeof(cs.msg), "%s", fail_msg() ? fail_msg() : "setup failed");
	write_full(status_fd, &cs, sizeof(cs));
}

static pid_t clone_with_pid(pid_t want, int exit_signal, unsigned long flags)
{
	struct clone_args args = {
		.flags = flags,
		.exit_signal = exit_signal,
		.set_tid = (uintptr_t)&want,
		.set_tid_size = 1,
	};
	pid_t pid = FAULT_FAIL(FOP_CLONE3) ? -1 : syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0)
		fail_errno("cannot create pid %d (clone3 with set_tid)%s", want,
			   errno == EEXIST ? ": it was taken meanwhile" : "");
	return pid;
}

static void proc_child(struct tree *t, int idx, int status_fd);

/* Zombies come back as processes that exit the way the originals did. */
static void become_zombie(const struct proc_state *ps)
{
	if (WIFSIGNALED(ps->exit_code)) {
		sigset_t s;
		signal(WTERMSIG(ps->exit_code), SIG_DFL);
		sigemptyset(&s);
		sigaddset(&s, WTERMSIG(ps->exit_code));
		sigprocmask(SIG_UNBLOCK, &s, NULL);
		syscall(SYS_kill, syscall(SYS_getpid), WTERMSIG(ps->exit_code));
	}
	_exit(WEXITSTATUS(ps->exit_code));
}

/* Stands in for a group leader that had exited: makes the group, waits to
 * be killed once the members joined, and is reaped by its parent.  It dies
 * with its parent (a failed restore), and holds none of ferry's files. */
static void group_stand_in(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	syscall(SYS_close_range, 0, ~0U, 0);
	setpgid(0, 0);
	for (;;)
		syscall(SYS_pause);
}

static int make_children(struct tree *t, const struct proc_state *ps, int status_fd)
{
	for (int i = 0; i < t->nprocs; i++) {
		pid_t pid;
		if (t->procs[i].ppid != ps->pid || !t->procs[i].pgid_helper || i == 0)
			continue;
		pid = clone_with_pid(t->procs[i].pgid, SIGCHLD, 0);
		if (pid < 0)
			return -1;
		if (pid == 0)
			group_stand_in(ps->pid);
		if (pgroup_set_child(NULL, pid) < 0)
			return -1;
	}
	for (int i = 0; i < t->nprocs; i++) {
		pid_t pid;
		if (t->procs[i].ppid != ps->pid || &t->procs[i] == ps || i == 0)
			continue;
		fflush(NULL);
		pid = clone_with_pid(t->procs[i].pid, t->procs[i].exit_signal, 0);
		if (pid < 0)
			return -1;
		if (pid == 0)
			proc_child(t, i, status_fd);
		/* before the next sibling, which may join its group */
		if (pgroup_set_child(&t->procs[i], pid) < 0)
			return -1;
	}
	return 0;
}

static int make_threads(const struct proc_state *ps)
{
	for (int i = 1; i < ps->nthreads; i++) {
		pid_t want = ps->threads[i].tid;
		struct clone_args args = {
			.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM,
			.set_tid = (uintptr_t)&want,
			.set_tid_size = 1,
			.stack = (uintptr_t)xmalloc(4096),
			.stack_size = 4096,
		};
		long r = spawn_parked(&args, sizeof(args));
		if (r < 0) {
			errno = -r;
			return fail_errno("pid %d: cannot create thread %d", ps->pid, want);
		}
	}
	return 0;
}

/* Where a new process keeps its status pipe while it sets itself up: above
 * its final fds and the memory files mem_assign_fds numbered after them. */
static int status_fd_of(const struct proc_state *ps)
{
	return files_max_fd(ps) + 1 + ps->mm.nfiles;
}

static pid_t ferry_pid;	/* the root's parent while it is set up */

/* Runs in each new process, on ferry's code.  Never returns. */
static void proc_child(struct tree *t, int idx, int status_fd)
{
	struct proc_state *ps = &t->procs[idx];
	sigset_t all;
	int keep;

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != (idx ? ps->ppid : ferry_pid))	/* it died before we armed pdeathsig */
		_exit(1);
	if (ps->zombie) {
		/* An unreaped zombie keeps its session and group alive, and members
		 * may be waiting to join them: make them before exiting. */
		if (pgroup_set_own(t, ps) < 0) {
			report(status_fd, ps->pid, 0);
			_exit(1);
		}
		become_zombie(ps);
	}
	keep = status_fd_of(ps);
	/* Children first, while every file ferry opened is still inherited. */
	/* memory shared with the children before they are forked (mem.c) */
	if (pgroup_set_own(t, ps) < 0 || pty_restore_session(t, ps) < 0 || mem_cow_place(t, ps) < 0 ||
	    make_children(t, ps, status_fd) < 0 || task_restore_child(ps) < 0 || pattrs_restore_child(ps) < 0 ||
	    files_restore_child(ps, &status_fd, keep) < 0 || locks_restore_child(ps) < 0 || epoll_restore_child(ps) < 0 ||
	    mem_restore_child(ps) < 0 || task_restore_root(ps) < 0 ||
	    files_drop_parking(ps, keep) < 0 || make_threads(ps) < 0) {
		report(status_fd, ps->pid, 0);
		_exit(1);
	}
	report(status_fd, ps->pid, 1);
	close(status_fd);
	for (;;)
		syscall(SYS_pause);
}

static struct proc_state *find_proc(struct tree *t, pid_t pid)
{
	for (int i = 0; i < t->nprocs; i++)
		if (t->procs[i].pid == pid)
			return &t->procs[i];
	return NULL;
}

/* The same, by the pid ferry sees (its own namespace's). */
static struct proc_state *find_hproc(struct tree *t, pid_t hpid)
{
	for (int i = 0; i < t->nprocs; i++)
		if (t->procs[i].hpid == hpid)
			return &t->procs[i];
	return NULL;
}

static int seize_proc(struct proc_state *ps)
{
	for (int i = 0; i < ps->nthreads; i++) {
		pid_t tid = ps->threads[i].htid;
		/* (seccomp suspended: attr_seccomp.c installs filters before ferry is done) */
		int suspended = pt_seize_suspend_seccomp(tid, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL);
		if (suspended < 0)
			return fail_errno("cannot seize pid %d with ptrace", tid);
		ps->seccomp_suspended = suspended;
		if (pt_interrupt(tid) < 0)
			return -1;
	}
	return 0;
}

/* A zombie child of a restored process: its pidfd turns readable once it
 * has exited (a pidfd works for any process, not only ferry's children). */
static int wait_zombie(pid_t pid)
{
	int fd = syscall(SYS_pidfd_open, pid, 0), r;
	struct pollfd pfd = { fd, POLLIN, 0 };
	if (fd < 0)
		return fail_errno("cannot open pid %d to wait for it to exit", pid);
	while ((r = poll(&pfd, 1, SETUP_TIMEOUT_MS)) < 0 && errno == EINTR)
		;
	close(fd);
	return r > 0 ? 0 : fail("pid %d did not become a zombie", pid);
}

/* Creates every process, and takes each over once it is set up. */
static int create_all(struct tree *t)
{
	int st[2], waiting = 0;
	pid_t root;

	for (int i = 0; i < t->nprocs; i++) {
		mem_assign_fds(&t->procs[i], files_max_fd(&t->procs[i]) + 1);
		waiting += !t->procs[i].zombie;
	}
	if (pipe2(st, O_CLOEXEC) < 0)
		return fail_errno("cannot create a pipe");
	fflush(NULL);
	ferry_pid = getpid();
	root = clone_with_pid(t->procs[0].pid, SIGCHLD, 0);
	if (root < 0) {
		close(st[0]);
		close(st[1]);
		return -1;
	}
	if (root == 0) {
		close(st[0]);
		proc_child(t, 0, st[1]);
	}
	close(st[1]);
	while (waiting) {
		struct pollfd pfd = { st[0], POLLIN, 0 };
		struct child_status cs;
		struct proc_state *ps;
		int r = poll(&pfd, 1, SETUP_TIMEOUT_MS);
		if (r <= 0 || read_full(st[0], &cs, sizeof(cs)) != sizeof(cs)) {
			close(st[0]);
			return fail("the restored processes did not finish setting up (%d missing)", waiting);
		}
		if (!cs.ok) {
			close(st[0]);
			return fail("%s", cs.msg);
		}
		if (!(ps = find_proc(t, cs.pid)) || seize_proc(ps) < 0) {
			close(st[0]);
			return ps ? -1 : fail("unexpected status from pid %d", cs.pid);
		}
		waiting--;
	}
	close(st[0]);
	for (int i = 0; i < t->nprocs; i++)
		if (t->procs[i].zombie && wait_zombie(t->procs[i].hpid) < 0)
			return -1;
	/* Every member joined its group: the stand-ins can go. */
	for (int i = 0; i < t->nprocs; i++)
		if (t->procs[i].pgid_helper)
			kill(t->procs[i].pgid, SIGKILL);
	return 0;
}

static int rebuild(struct proc_state *ps, struct img *im)
{
	struct rsys rs;
	uint64_t vdso;
	int64_t off = rsys_own_vdso_gadget();

	/* The new process is a copy of ferry: its vDSO is where ours is. */
	vdso = getauxval(AT_SYSINFO_EHDR);
	if (off < 0 || !vdso)
		return fail("no syscall instruction in this kernel's vDSO");
	if (rsys_init(&rs, ps->hpid, vdso + off) < 0)
		return -1;
	/* The process closes its status pipe right after reporting, but ferry
	 * may have seized it in between: a pipe the image never had would stay
	 * at that fd.  Closing it again is harmless (EBADF). */
	rsys_call(&rs, SYS_close, status_fd_of(ps), 0, 0, 0, 0, 0);
	/* Every process exists now, and every group it could join. */
	if (pgroup_join_remote(ps->tree, ps, &rs) < 0)
		return -1;
	/* Reap the group stand-ins this process made (killed by now). */
	for (int i = 0; i < ps->tree->nprocs; i++)
		if (ps->tree->procs[i].ppid == ps->pid && ps->tree->procs[i].pgid_helper &&
		    rsys_chk(&rs, "wait4 for a group stand-in", SYS_wait4, ps->tree->procs[i].pgid, 0, __WALL, 0, 0,
			     0) < 0)
			return -1;
	if (mem_restore_remote(ps, &rs, im) < 0 || mem_restore_finish(ps, &rs) < 0 || locks_restore_remote(ps, &rs) < 0 ||
	    sig_restore_remote(ps, &rs) < 0 || thread_restore_remote(ps, &rs) < 0 || timers_restore_remote(ps, &rs) < 0 ||
	    pattrs_restore(ps, &rs, PATTR_BEFORE_CREDS) < 0 || task_restore_remote(ps, &rs) < 0 ||
	    pattrs_restore(ps, &rs, PATTR_AFTER_CREDS) < 0)
		return -1;
	/* The root's parent-death signal was about a parent that is not
	 * restored; with --detach its parent is ferry, which exits at once and
	 * would kill it.  (Without, ferry waits for it: the signal then means
	 * what it meant, should ferry die.) */
	int pdeathsig = ps->pdeathsig;
	if (pdeathsig && ps == &ps->tree->procs[0] && ps->tree->opt.detach) {
		pr_warn("pid %d had parent-death signal %d; its parent is not restored, so it is not re-armed",
			ps->pid, pdeathsig);
		pdeathsig = 0;
	}
	/* (this also disarms the SIGKILL the process armed while ferry set it up) */
	if (rsys_chk(&rs, "prctl(PR_SET_PDEATHSIG)", SYS_prctl, PR_SET_PDEATHSIG, pdeathsig, 0, 0, 0, 0) < 0)
		return -1;
	if (rsys_unmap_scratch(&rs) < 0 || mem_restore_last(ps, &rs) < 0)
		return -1;
	return thread_restore_regs(ps);
}

static void kill_all(struct tree *t)
{
	for (int i = t->nprocs - 1; i >= 0; i--) {
		struct proc_state *ps = &t->procs[i];
		char path[64], *s;
		struct proc_stat st;
		/* Only processes this restore made: children of ferry or of them. */
		snprintf(path, sizeof(path), "/proc/%d/stat", ps->hpid);
		if (!(s = read_file(path, NULL)))
			continue;
		if (proc_parse_stat(s, &st) == 0 && (i == 0 ? st.ppid == getpid() : !!find_hproc(t, st.ppid)))
			kill(ps->hpid, SIGKILL);
		free(s);
		/* and the stand-in for its group's leader, made by its parent */
		snprintf(path, sizeof(path), "/proc/%d/stat", ps->pgid);
		if (ps->pgid_helper && (s = read_file(path, NULL))) {
			if (proc_parse_stat(s, &st) == 0 && find_proc(t, ps->ppid) &&
			    st.ppid == find_proc(t, ps->ppid)->hpid)
				kill(ps->pgid, SIGKILL);
			free(s);
		}
	}
	/* Until the root is reaped, reaping whatever ends: its other threads
	 * are traced by us, and a thread group leader is reported only once
	 * its tracer reaped every other thread, so waiting for the root alone
	 * would wait forever (found by tests/net/faults.sh: a failure after
	 * the threads were created hung restore). */
	for (;;) {
		pid_t w = waitpid(-1, NULL, __WALL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 || !t->nprocs || w == t->procs[0].hpid)
			break;
	}
	while (waitpid(-1, NULL, __WALL | WNOHANG) > 0)
		;
}

int cmd_restore(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, 0, 'D' }, { "detach", no_argument, 0, 'd' },
		{ "pidfile", required_argument, 0, 'p' }, { "verbose", no_argument, 0, 'v' },
		{ "ip-map", required_argument, 0, 'm' }, { "netns", required_argument, 0, 'n' },
		{ "tcp-close", no_argument, 0, 'C' }, { "shell-job", no_argument, 0, 'j' },
		{ "tcp-established", no_argument, 0, 'E' }, { "skip-in-flight", no_argument, 0, 'S' },
		{ "json", no_argument, 0, 'J' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	static struct ipmap map;
	struct tree t = { 0 };
	const char *dir = NULL, *pidfile = NULL, *netns = NULL;
	char err[300];
	int detach = 0, c, st, created = 0, nprocs = 0;
	struct img im = { 0 };
	pid_t root;

	map.n = 0;	/* libferry may run the command again */
	while ((c = getopt_long(argc, argv, "D:djvh", opts, NULL)) != -1) {
		switch (c) {
		case 'D': dir = optarg; break;
		case 'd': detach = t.opt.detach = 1; break;
		case 'p': pidfile = optarg; break;
		case 'v': log_verbose = 1; break;
		case 'm':
			if (ipmap_add(&map, optarg, err, sizeof(err)) < 0) {
				fprintf(stderr, "ferry restore: %s\n", err);
				return 2;
			}
			break;
		case 'n': netns = optarg; break;
		case 'C': t.opt.tcp_close = 1; break;
		case 'E': t.opt.tcp_established = 1; break;
		case 'S': break;	/* ferry never carries in-flight connections */
		case 'j': t.opt.shell_job = 1; break;
		case 'J': ev_set_sink(ev_stdout, NULL, "restore"); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!dir || optind != argc) {
		usage(stderr);
		return 2;
	}
	t.opt.ipmap = &map;
	ev_emit("started", json_pack("{s:s}", "dir", dir));
	elapsed();
	if (netns && enter_netns(netns) < 0)
		goto err;
	if (img_open(&im, dir) < 0 || load(&im, &t) < 0 || validate(&im, &t) < 0 || mem_cow_prepare(&t, &im) < 0 ||
	    shm_prepare(&t, &im) < 0 ||
	    files_prepare(&t, &im) < 0)
		goto err;
	FAULT_STEP("restore.checked");
	pr_debug("image read and checked: %.3f s", elapsed());
	created = 1;
	if (create_all(&t) < 0 || unix_refill(&t) < 0)
		goto err;
	FAULT_STEP("restore.created");
	pr_debug("processes created: %.3f s", elapsed());
	files_release(&t);
	shm_release(&t);
	for (int i = 0; i < t.nprocs; i++)
		if (!t.procs[i].zombie && rebuild(&t.procs[i], &im) < 0)
			goto err;
	FAULT_STEP("restore.rebuilt");
	pr_debug("memory and state rebuilt: %.3f s", elapsed());
	if (inet_restore_finish(&t, &im) < 0 || tty_foreground(&t) < 0)
		goto err;
	shm_finish(&t);
	/* Stopped ones stop again, by the same signal, before they run a single
	 * instruction: it waits in their queue until the detach below (their
	 * handler for it is the default one: they could not have stopped
	 * otherwise; pgroup_check made sure their group is not orphaned, or
	 * the kernel would drop SIGTSTP & co). */
	for (int i = 0; i < t.nprocs; i++)
		if (!t.procs[i].zombie && t.procs[i].stopped && kill(t.procs[i].hpid, t.procs[i].stopped) < 0) {
			fail_errno("cannot stop pid %d again", t.procs[i].pid);
			goto err;
		}
	/* All ready: let them all go at once. */
	for (int i = 0; i < t.nprocs; i++)
		for (int k = 0; k < t.procs[i].nthreads; k++)
			if (!t.procs[i].zombie && pt_detach(t.procs[i].threads[k].htid, 0) < 0)
				goto err;
	root = t.procs[0].hpid;
	FAULT_STEP("restore.released");
	if (pidfile) {
		/* no link followed: pid files often live in world-writable /tmp or /run */
		int pf = open(pidfile, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
		char line[16];
		int n = snprintf(line, sizeof(line), "%d\n", root);
		if (pf < 0 || write_full(pf, line, n) < 0)
			pr_warn("cannot write pid file %s: %s", pidfile, strerror(errno));
		if (pf >= 0)
			close(pf);
	}
	pr_debug("%d processes restored from %s, root pid %d", t.nprocs, dir, root);
	ev_emit("restored", json_pack("{s:i,s:i,s:s}", "pid", root, "processes", t.nprocs, "dir", dir));
	nprocs = t.nprocs;
	img_close(&im);
	for (int i = 0; i < t.nprocs; i++)
		pstate_free(&t.procs[i]);
	free(t.procs);
	files_table_free(&t);
	shm_free(&t);
	if (detach) {
		ev_emit("result", json_pack("{s:b,s:i,s:i,s:b}", "ok", 1, "pid", root, "processes", nprocs, "detached", 1));
		return 0;
	}
	while (waitpid(root, &st, 0) < 0)
		if (errno != EINTR)
			return 1;
	st = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	ev_emit("result", json_pack("{s:b,s:i,s:i,s:b,s:i}", "ok", 1, "pid", root, "processes", nprocs, "detached", 0,
				    "exit_status", st));
	return st;
err:
	if (created)
		kill_all(&t);
	files_release(&t);
	fprintf(stderr, "ferry restore: %s\n", fail_msg() ? fail_msg() : "failed");
	ev_error(fail_msg());
	img_close(&im);
	for (int i = 0; i < t.nprocs; i++)
		pstate_free(&t.procs[i]);
	free(t.procs);
	files_table_free(&t);
	shm_free(&t);
	return 1;
}
