/*
 * ferry restore: recreate a process from an image.
 *
 * Everything is read and validated first (checksums, version, CPU
 * features, files, the PID); only then is the process created, with clone3
 * and set_tid so it gets its original PID.  It starts as a copy of ferry:
 * while still running ferry's code it takes its session, cwd, umask, fds
 * and signal handlers, then stops; ferry, as its tracer, rebuilds its
 * memory and registers with remote syscalls and lets it go.  If anything
 * fails, the half-made process is killed (ferry also traces it with
 * PTRACE_O_EXITKILL, so even a crash of ferry leaves nothing behind).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmds.h"
#include "image.h"
#include "log.h"
#include "pstate.h"
#include "ptrace.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: ferry restore -D|--dir DIR [-d|--detach] [--pidfile FILE] [-v|--verbose]\n"
		   "  Recreates the process in DIR with its original PID and resumes it.\n"
		   "  Without -d ferry waits for it and exits with its exit status (128+signal if killed).\n"
		   "  -d, --detach      exit as soon as the process runs\n"
		   "  --pidfile FILE    write the restored PID to FILE\n");
}

struct child_status {
	int ok;
	char msg[1000];
};

static int load(struct img *im, struct proc_state *ps)
{
	long long root;
	json_t *core;
	char name[64];
	int ret;

	if (img_verify_all(im) < 0)
		return -1;
	jctx = "manifest.json";
	if (jget_int(im->manifest, "root_pid", &root) < 0)
		return -1;
	snprintf(name, sizeof(name), "core-%lld.json", root);
	if (!(core = img_read_json(im, name)))
		return -1;
	ret = task_decode(core, ps) < 0 || thread_decode(core, ps) < 0 || sig_decode(core, ps) < 0 ||
			      mem_decode(core, ps) < 0 || files_decode(core, ps) < 0
		      ? -1
		      : 0;
	json_decref(core);
	if (ret == 0 && ps->pid != root)
		return fail("image %s is corrupt: core file of pid %d under root pid %lld", im->dir, ps->pid, root);
	return ret;
}

static int pid_free(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d", pid);
	if (access(path, F_OK) == 0)
		return fail("pid %d is taken here by %s; cannot restore with the original pid", pid, proc_describe(pid));
	return 0;
}

static int validate(struct img *im, struct proc_state *ps)
{
	return pid_free(ps->pid) < 0 || thread_validate(ps) < 0 || mem_validate(ps, im) < 0 ||
			       files_validate(ps, im) < 0
		       ? -1
		       : 0;
}

/* Runs in the new process, on ferry's code. Never returns. */
static void child(struct proc_state *ps, int go_fd, int status_fd)
{
	struct child_status cs = { 0 };
	sigset_t all;
	char c;
	int keep;

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	if (read(go_fd, &c, 1) != 1)
		_exit(1);	/* ferry went away */
	close(go_fd);
	keep = files_max_fd(ps) + 1 + ps->mm.nfiles;
	if (task_restore_child(ps) < 0 || files_restore_child(ps, &status_fd, keep) < 0 ||
	    mem_restore_child(ps) < 0 || sig_restore_child(ps) < 0) {
		snprintf(cs.msg, sizeof(cs.msg), "%s", fail_msg() ? fail_msg() : "setup failed");
		write_full(status_fd, &cs, sizeof(cs));
		_exit(1);
	}
	cs.ok = 1;
	write_full(status_fd, &cs, sizeof(cs));
	close(status_fd);
	syscall(SYS_kill, syscall(SYS_getpid), SIGSTOP);
	_exit(1);	/* not reached: the tracer rebuilds us while stopped */
}

static pid_t create(struct proc_state *ps)
{
	pid_t want = ps->pid;
	struct clone_args args = {
		.exit_signal = SIGCHLD,
		.set_tid = (uintptr_t)&want,
		.set_tid_size = 1,
	};
	struct child_status cs;
	int go[2], st[2], wst;
	pid_t pid;
	char c = 1;

	mem_assign_fds(ps, files_max_fd(ps) + 1);
	if (pipe2(go, O_CLOEXEC) < 0 || pipe2(st, O_CLOEXEC) < 0)
		return fail_errno("cannot create pipes");
	fflush(NULL);
	pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0)
		return fail_errno("cannot create pid %d (clone3 with set_tid)%s", want,
				  errno == EEXIST ? ": it was taken meanwhile" : "");
	if (pid == 0) {
		close(go[1]);
		close(st[0]);
		child(ps, go[0], st[1]);
	}
	close(go[0]);
	close(st[1]);
	if (pt_seize(pid, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL) < 0 || write(go[1], &c, 1) != 1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(go[1]);
		close(st[0]);
		return -1;
	}
	close(go[1]);
	{
		ssize_t n = read_full(st[0], &cs, sizeof(cs));
		close(st[0]);
		if (n != sizeof(cs) || !cs.ok) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, __WALL);
			return fail("%s", n == sizeof(cs) && cs.msg[0] ? cs.msg : "the new process failed to set up");
		}
	}
	/* Wait for its SIGSTOP (a signal-delivery stop: we are its tracer). */
	if (pt_wait(pid, &wst) < 0)
		return -1;
	if (WSTOPSIG(wst) != SIGSTOP) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, __WALL);
		return fail("pid %d stopped with signal %d during setup", pid, WSTOPSIG(wst));
	}
	return pid;
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
	if (rsys_init(&rs, ps->pid, vdso + off) < 0)
		return -1;
	if (mem_restore_remote(ps, &rs, im) < 0 || mem_restore_finish(ps, &rs) < 0 ||
	    thread_restore_remote(ps, &rs) < 0 || sig_restore_remote(ps, &rs) < 0 ||
	    task_restore_remote(ps, &rs) < 0 || rsys_unmap_scratch(&rs) < 0)
		return -1;
	if (thread_restore_regs(ps) < 0)
		return -1;
	return pt_detach(ps->pid, 0);
}

int cmd_restore(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, 0, 'D' }, { "detach", no_argument, 0, 'd' },
		{ "pidfile", required_argument, 0, 'p' }, { "verbose", no_argument, 0, 'v' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	struct proc_state ps = { 0 };
	const char *dir = NULL, *pidfile = NULL;
	int detach = 0, c, ret = 1, st;
	struct img im = { 0 };
	pid_t pid = 0;

	while ((c = getopt_long(argc, argv, "D:dvh", opts, NULL)) != -1) {
		switch (c) {
		case 'D': dir = optarg; break;
		case 'd': detach = 1; break;
		case 'p': pidfile = optarg; break;
		case 'v': log_verbose = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!dir || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (img_open(&im, dir) < 0 || load(&im, &ps) < 0 || validate(&im, &ps) < 0)
		goto err;
	if (files_prepare(&ps, &im) < 0)
		goto err;
	if ((pid = create(&ps)) < 0) {
		pid = 0;
		goto err;
	}
	files_release(&ps);
	if (rebuild(&ps, &im) < 0)
		goto err;
	if (pidfile) {
		FILE *f = fopen(pidfile, "w");
		if (!f || fprintf(f, "%d\n", pid) < 0 || fclose(f) != 0)
			pr_warn("cannot write pid file %s: %s", pidfile, strerror(errno));
	}
	pr_debug("pid %d restored from %s", pid, dir);
	img_close(&im);
	if (detach) {
		pstate_free(&ps);
		return 0;
	}
	pstate_free(&ps);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
err:
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, __WALL);
	}
	files_release(&ps);
	fprintf(stderr, "ferry restore: %s\n", fail_msg() ? fail_msg() : "failed");
	img_close(&im);
	pstate_free(&ps);
	return ret;
}
