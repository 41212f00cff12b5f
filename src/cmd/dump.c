/*
 * ferry dump: freeze a process tree, write its image, then kill it (or let
 * it run on with --leave-running).
 *
 * Every thread of every process is seized and interrupted with ptrace
 * before anything is read, top-down so that no process can fork or clone
 * behind ferry's back; zombies are recorded as zombies.  Any failure undoes
 * everything ferry did (scratch memory, registers, signal masks) and
 * detaches: the tree runs on as before.  The image is complete and fsynced
 * before the source is killed; then its broken connections deliver what it
 * had written (bounded by --drain-timeout) and their peers are reset.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "cmds.h"
#include "fault.h"
#include "image.h"
#include "log.h"
#include "pstate.h"
#include "precopy.h"
#include "ptrace.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: ferry dump -t|--pid PID -D|--dir DIR [-R|--leave-running] [--tcp-established]\n"
		   "                  [--tcp-close] [--drain-timeout SECONDS] [--skip-in-flight] [-j|--shell-job]\n"
		   "                  [--json] [-v|--verbose]\n"
		   "       ferry dump --check -t|--pid PID [-j|--shell-job]\n"
		   "  Freezes the process tree rooted at PID, writes its image to DIR, then kills it.\n"
		   "  -R, --leave-running   resume the processes untouched instead of killing them\n"
		   "  --tcp-established     preserve established TCP connections (TCP repair + network lock);\n"
		   "                        they survive a restore that keeps the local address\n"
		   "  --tcp-close           break every established connection (peers are reset)\n"
		   "  --drain-timeout S     a broken connection's peer gets up to S seconds (default 2) after\n"
		   "                        the image is written to take the replies the process had written,\n"
		   "                        then it is reset; 0 resets at once\n"
		   "  --skip-in-flight      accepted for CRIU users; in-flight connections are always skipped\n"
		   "  -j, --shell-job       a job: its terminal fds go onto ferry restore's terminal, and a\n"
		   "                        process group led from outside the tree becomes ferry restore's\n"
		   "  --check               only survey the tree, without stopping it: print what dump would\n"
		   "                        refuse, one line each; exit 0 when nothing (no -D needed)\n"
		   "  --json                events on stdout, one JSON object per line (started, frozen,\n"
		   "                        progress, result, error)\n");
}

/* Finds a `syscall` instruction in the process: the vDSO has one at the
 * same offset as ferry's own (same kernel), else any executable mapping. */
static uint64_t find_gadget(pid_t pid)
{
	struct proc_vma *v;
	int n;
	uint64_t g = 0;
	int64_t own = rsys_own_vdso_gadget();
	unsigned char b[2];
	if (proc_vmas(pid, &v, &n) < 0)
		return 0;
	for (int i = 0; i < n && !g; i++)
		if (!strcmp(v[i].path, "[vdso]") && own >= 0 &&
		    mem_peek(pid, v[i].start + own, b, 2) == 0 && b[0] == 0x0f && b[1] == 0x05)
			g = v[i].start + own;
	for (int i = 0; i < n && !g; i++)
		if (v[i].perms[2] == 'x' && v[i].perms[0] == 'r' && strcmp(v[i].path, "[vsyscall]"))
			g = rsys_find_gadget(pid, v[i].start, v[i].end);
	proc_free_vmas(v, n);
	if (!g)
		refuse(pid, "no syscall instruction found in its memory (ferry runs its remote syscalls through one)");
	return g;
}

static int has_tid(const struct proc_state *ps, pid_t tid)
{
	for (int i = 0; i < ps->nthreads; i++)
		if (ps->threads[i].htid == tid)
			return 1;
	return 0;
}

/* Seizes every thread; a running thread may clone, so list until stable. */
static int thread_exists(pid_t pid, pid_t tid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d", pid, tid);
	return access(path, F_OK) == 0;
}

static int freeze_threads(struct proc_state *ps)
{
	for (int changed = 1; changed;) {
		pid_t *tids;
		int n;
		changed = 0;
		if (proc_tids(ps->hpid, &tids, &n) < 0)
			return -1;
		for (int i = 0; i < n; i++) {
			if (has_tid(ps, tids[i]))
				continue;
			int gone = 0, suspended;
			if ((suspended = pt_seize_suspend_seccomp(tids[i], PTRACE_O_TRACESYSGOOD)) < 0) {
				/* a thread that is exiting: ESRCH, or EPERM once it let go of its mm */
				if (errno == ESRCH || (errno == EPERM && tids[i] != ps->hpid && !thread_exists(ps->hpid, tids[i])))
					continue;
				fail_errno("cannot seize tid %d of pid %d", tids[i], ps->pid);
				free(tids);
				return -1;
			}
			if (tids[i] == ps->hpid ? pt_interrupt_stopsig(tids[i], NULL, &ps->stopped) < 0
					       : pt_interrupt_or_gone(tids[i], &gone) < 0) {
				ptrace(PTRACE_DETACH, tids[i], 0, 0);
				free(tids);
				return -1;
			}
			changed = 1;
			if (gone)	/* a thread that exited meanwhile: nothing to keep */
				continue;
			/* ferry's remote syscalls must not meet the program's filters */
			if (!suspended) {
				static struct proc_status st;
				if (proc_status(tids[i], &st) == 0 && st.seccomp) {
					ptrace(PTRACE_DETACH, tids[i], 0, 0);
					free(tids);
					return refuse(ps->pid, "thread %d uses seccomp, and this kernel does not let ferry "
							       "suspend it while it works (CONFIG_CHECKPOINT_RESTORE)", tids[i]);
				}
			}
			ps->threads = xrealloc(ps->threads, (ps->nthreads + 1) * sizeof(*ps->threads));
			memset(&ps->threads[ps->nthreads], 0, sizeof(*ps->threads));
			ps->threads[ps->nthreads].htid = tids[i];
			ps->threads[ps->nthreads++].tid = tids[i];
		}
		free(tids);
	}
	/* The main thread first: remote syscalls run there. */
	for (int i = 1; i < ps->nthreads; i++)
		if (ps->threads[i].htid == ps->hpid) {
			struct thread_state t = ps->threads[0];
			ps->threads[0] = ps->threads[i];
			ps->threads[i] = t;
		}
	return ps->nthreads && ps->threads[0].htid == ps->hpid ? 0 : fail("pid %d: main thread not found", ps->pid);
}

static struct proc_state *add_proc(struct tree *t, pid_t pid)
{
	struct proc_state *ps;
	t->procs = xrealloc(t->procs, (t->nprocs + 1) * sizeof(*t->procs));
	ps = &t->procs[t->nprocs++];
	memset(ps, 0, sizeof(*ps));
	ps->pid = ps->hpid = pid;
	ps->tree = t;
	ps->pidfd = -1;
	ps->root_prefix = task_root_prefix(pid);
	return ps;
}

/* Freezes the whole tree, parents before children (a frozen parent cannot
 * fork any more, so the list of its children is final). */
static int freeze_tree(struct tree *t, pid_t root)
{
	add_proc(t, root);
	for (int i = 0; i < t->nprocs; i++) {
		struct proc_state *ps = &t->procs[i];
		struct proc_stat st;
		pid_t *kids;
		int nkids;
		if (proc_stat(ps->hpid, &st) < 0)
			return -1;
		ps->exit_signal = st.exit_signal;
		ps->ppid = st.ppid;
		ps->sid = st.sid;
		ps->pgid = st.pgrp;
		if (st.state == 'Z') {
			pid_t *tids;
			int ntids;
			/* A main thread that exited shows Z while the other threads run on. */
			if (proc_tids(ps->hpid, &tids, &ntids) < 0)
				return -1;
			free(tids);
			if (ntids > 1)
				return refuse(ps->pid, "its main thread exited while %d other threads run on; ferry cannot "
						      "checkpoint that", ntids - 1);
			if (i == 0)
				return refuse(ps->pid, "it is a zombie; ferry dumps a tree from a living root");
			ps->zombie = 1;
			ps->exit_code = st.exit_code;
			continue;
		}
		if (st.state == 'X')
			return refuse(ps->pid, "it is exiting");
		/* Job-control stopped: it comes back stopped by the same signal
		 * (freeze_threads reads it from the group-stop ptrace reports; a
		 * dump that leaves it be needs nothing: detaching puts it back
		 * into the stop). */
		{
			char why[256];
			if (ns_foreign(ps->hpid, why, sizeof(why)))
				return refuse(ps->pid, "%s", why);
		}
		if ((ps->pidfd = syscall(SYS_pidfd_open, ps->hpid, 0)) < 0)
			return fail_errno("cannot open pid %d", ps->pid);
		if (freeze_threads(ps) < 0)
			return -1;
		/* Read again now that it is frozen: it may have called setsid or
		 * setpgid since (pgroup_check judges the tree by these). */
		if (proc_stat(ps->hpid, &st) < 0)
			return -1;
		ps->ppid = st.ppid;
		ps->sid = st.sid;
		ps->pgid = st.pgrp;
		if (proc_children(ps->hpid, &kids, &nkids) < 0)
			return -1;
		for (int k = 0; k < nkids; k++)
			add_proc(t, kids[k]);
		free(kids);
		ps = &t->procs[i];	/* add_proc may have moved the array */
	}
	return 0;
}

/* Everything read from one frozen process. */
static int collect(struct proc_state *ps, struct img *im)
{
	uint64_t gadget, allsigs = ~0ULL;

	if (ps->zombie)
		return 0;
	/* Registers first: remote syscalls change them. */
	if (thread_dump_regs(ps) < 0)
		return -1;
	for (int i = 0; i < ps->nthreads; i++)
		if (ptrace(PTRACE_SETSIGMASK, ps->threads[i].htid, sizeof(allsigs), &allsigs) < 0)
			return fail_errno("cannot block signals of tid %d", ps->threads[i].tid);
	if (!(gadget = find_gadget(ps->hpid)) || rsys_init(&ps->rs, ps->hpid, gadget) < 0)
		return -1;
	if (rsys_map_scratch(&ps->rs, PAGE_SIZE, 0) < 0)
		return -1;
	if (rsys_chk(&ps->rs, "prctl(PR_GET_PDEATHSIG)", SYS_prctl, PR_GET_PDEATHSIG, ps->rs.scratch, 0, 0, 0, 0) < 0 ||
	    mem_peek(ps->hpid, ps->rs.scratch, &ps->pdeathsig, sizeof(int)) < 0)
		return -1;
	if (task_dump(ps) < 0 || thread_dump(ps) < 0 || pattrs_dump(ps) < 0 || sig_dump(ps) < 0 || timers_dump(ps) < 0 || mem_dump(ps, im) < 0 ||
	    files_dump(ps, im) < 0)
		return -1;
	if (rsys_unmap_scratch(&ps->rs) < 0)
		return -1;
	/* a SIGSTOP that was on its way: it is stopped by it */
	for (int i = 0; i < ps->nthreads; i++)
		if (!ps->stopped && rsys_stop_held(ps->threads[i].htid, 0))
			ps->stopped = SIGSTOP;
	return 0;
}

static json_t *host_json(const struct tree *t)
{
	struct utsname u;
	uname(&u);
	return json_pack("{s:s,s:s,s:o,s:I}", "kernel", u.release, "machine", u.machine, "xcr0", jhex(cpu_xcr0()),
			 "xsave_size", (json_int_t)cpu_xstate_size());
	(void)t;
}

static int write_image(struct tree *t, struct img *im)
{
	json_t *pids = json_array(), *shared = json_object(), *meta;
	int ret;
	for (int i = 0; i < t->nprocs; i++) {
		const struct proc_state *ps = &t->procs[i];
		json_t *core = pstate_encode(ps);
		char name[64];
		snprintf(name, sizeof(name), "core-%d.json", ps->pid);
		ret = img_write_json(im, name, core);
		json_decref(core);
		if (ret < 0) {
			json_decref(pids);
			json_decref(shared);
			return -1;
		}
		json_array_append_new(pids, json_integer(ps->pid));
	}
	files_table_encode(t, shared);
	shm_encode(t, shared);
	json_object_set_new(shared, "netlock", netlock_encode(&t->lock));
	json_object_set_new(shared, "tcp_options", inet_encode_options(t));
	ret = img_write_json(im, "shared.json", shared);
	json_decref(shared);
	if (ret < 0) {
		json_decref(pids);
		return -1;
	}
	meta = json_pack("{s:i,s:o,s:o,s:I}", "root_pid", t->procs[0].pid, "pids", pids, "host", host_json(t),
			 "created", (json_int_t)time(NULL));
	ret = img_finish(im, meta);
	json_decref(meta);
	return ret;
}

/* Puts every process back as it was and lets it go. */
static void resume_all(struct tree *t)
{
	for (int p = 0; p < t->nprocs; p++) {
		struct proc_state *ps = &t->procs[p];
		if (ps->rs.scratch)
			rsys_unmap_scratch(&ps->rs);
		for (int i = 0; i < ps->nthreads; i++) {
			struct thread_state *th = &ps->threads[i];
			if (th->xstate) {
				struct user_regs_struct regs = th->regs;
				regs_fixup_restart(&regs, 1);
				pt_setregs(th->htid, &regs);
				ptrace(PTRACE_SETSIGMASK, th->htid, sizeof(uint64_t), &th->sigmask);
			}
			/* a SIGSTOP held back during a remote call goes back */
			if (rsys_stop_held(th->htid, 1))
				kill(ps->hpid, SIGSTOP);
			ptrace(PTRACE_DETACH, th->htid, 0, 0);
		}
	}
}

static long rcall(void *rs, long nr, uint64_t a1, uint64_t a2)
{
	return rsys_call(rs, nr, a1, a2, 0, 0, 0, 0);
}

int dump_precopy_arm(struct precopy *pc, pid_t pid)
{
	struct tree t = { 0 };
	uint64_t allsigs = ~0ULL;
	int ret = -1;
	if (freeze_tree(&t, pid) < 0)
		goto out;
	for (int i = 0; i < t.nprocs; i++) {
		struct proc_state *ps = &t.procs[i];
		uint64_t gadget;
		if (ps->zombie)
			continue;
		if (thread_dump_regs(ps) < 0)
			goto out;
		for (int k = 0; k < ps->nthreads; k++)
			if (ptrace(PTRACE_SETSIGMASK, ps->threads[k].htid, sizeof(allsigs), &allsigs) < 0) {
				fail_errno("cannot block signals of tid %d", ps->threads[k].tid);
				goto out;
			}
		if (!(gadget = find_gadget(ps->hpid)) || rsys_init(&ps->rs, ps->hpid, gadget) < 0 ||
		    precopy_arm_one(pc, ps->pid, ps->hpid, ps->pidfd, rcall, &ps->rs) < 0)
			goto out;
	}
	ret = 0;
out:
	resume_all(&t);
	dump_tree_free(&t);
	return ret;
}

int dump_tree(struct tree *t, pid_t pid, struct img *im)
{
	if (freeze_tree(t, pid) < 0 || pgroup_check(t) < 0)
		goto undo;
	FAULT_STEP("dump.frozen");
	if (ev_enabled()) {
		int threads = 0;
		for (int i = 0; i < t->nprocs; i++)
			threads += t->procs[i].nthreads;
		ev_emit("frozen", json_pack("{s:i,s:i,s:i}", "pid", (int)pid, "processes", t->nprocs, "threads", threads));
	}
	for (int i = 0; i < t->nprocs; i++)
		if (collect(&t->procs[i], im) < 0)
			goto undo;
	if (unix_dump_finish(t, im) < 0)	/* may add files in flight: before the pipe check */
		goto undo;
	pipes_check_ends(t);
	if (inet_dump_finish(t, im) < 0 || shm_dump(t, im) < 0 || write_image(t, im) < 0)
		goto undo;
	FAULT_STEP("dump.written");
	inet_report(t);
	t->drain_deadline = mono_seconds() + t->opt.drain_timeout;
	return 0;
undo:
	inet_dump_undo(t);
	resume_all(t);
	return -1;
}

void dump_release(struct tree *t, int kill_it)
{
	if (!kill_it) {
		inet_dump_undo(t);
		locks_take_back(t);	/* before the threads go: POSIX ones are taken from inside */
		resume_all(t);
		return;
	}
	/* ferry's references keep the broken connections alive: inet_drain ends them */
	for (int i = 0; i < t->nprocs; i++)
		if (!t->procs[i].zombie)
			kill(t->procs[i].hpid, SIGKILL);
	/* Their exits are reported to us, the tracer, first: until we take
	 * them the parents cannot reap them, and their PIDs stay taken.  The
	 * command exits soon after anyway; a libferry caller lives on (and
	 * may restore them at once).  Bounded: a kill is certain, a wait that
	 * never ends would not be. */
	for (int i = 0; i < t->nprocs; i++)
		for (int k = 0; !t->procs[i].zombie && k < t->procs[i].nthreads; k++)
			for (int n = 0; n < 500; n++) {
				pid_t r = waitpid(t->procs[i].threads[k].htid, NULL, __WALL | WNOHANG);
				if (r != 0)
					break;	/* taken, or not ours to take (ECHILD) */
				usleep(2000);
			}
}

void dump_tree_free(struct tree *t)
{
	for (int i = 0; i < t->nprocs; i++) {
		if (t->procs[i].pidfd >= 0)
			close(t->procs[i].pidfd);
		pstate_free(&t->procs[i]);
	}
	free(t->procs);
	files_table_free(t);
	shm_free(t);
}

int cmd_dump(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, 0, 't' }, { "dir", required_argument, 0, 'D' },
		{ "leave-running", no_argument, 0, 'R' }, { "verbose", no_argument, 0, 'v' },
		{ "tcp-established", no_argument, 0, 'E' }, { "tcp-close", no_argument, 0, 'C' },
		{ "skip-in-flight", no_argument, 0, 'S' }, { "shell-job", no_argument, 0, 'j' },
		{ "drain-timeout", required_argument, 0, 'W' }, { "check", no_argument, 0, 'K' },
		{ "json", no_argument, 0, 'J' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	struct tree t = { .opt.drain_timeout = 2 };
	const char *dir = NULL;
	int leave = 0, check = 0, c, ret = 1;
	struct img im = { 0 };
	uint64_t pages = 0;
	char *end;
	long pid = 0;

	while ((c = getopt_long(argc, argv, "t:D:Rjvh", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			pid = strtol(optarg, &end, 10);
			if (*end || pid <= 0) {
				fprintf(stderr, "ferry dump: bad pid '%s'\n", optarg);
				return 2;
			}
			break;
		case 'D': dir = optarg; break;
		case 'R': leave = 1; break;
		case 'E': t.opt.tcp_established = 1; break;
		case 'C': t.opt.tcp_close = 1; break;
		case 'S': break;
		case 'W':
			if (parse_seconds(optarg, &t.opt.drain_timeout) < 0) {
				fprintf(stderr, "ferry dump: --drain-timeout wants seconds (0 to 86400), not '%s'\n", optarg);
				return 2;
			}
			break;
		case 'j': t.opt.shell_job = 1; break;
		case 'K': check = 1; break;
		case 'J': ev_set_sink(ev_stdout, NULL, "dump"); break;
		case 'v': log_verbose = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!pid || (!dir && !check) || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (check) {
		int n = dump_survey(pid, &t.opt, stdout);
		if (n < 0)
			fprintf(stderr, "ferry dump: %s\n", fail_msg() ? fail_msg() : "cannot survey the tree");
		return n ? 1 : 0;
	}
	if (pid == getpid()) {
		fprintf(stderr, "ferry dump: cannot dump ferry itself\n");
		return 1;
	}
	ev_emit("started", json_pack("{s:i,s:s}", "pid", (int)pid, "dir", dir));
	if (img_create(&im, dir) < 0)
		goto err;
	if (dump_tree(&t, pid, &im) < 0)
		goto err;
	for (int i = 0; i < t.nprocs; i++)
		pages += t.procs[i].mm.npages;
	if (ev_enabled()) {
		json_int_t bytes = 0;
		const char *k;
		json_t *v;
		json_object_foreach(im.files, k, v)
			bytes += json_integer_value(json_object_get(v, "size"));
		ev_emit("result", json_pack("{s:b,s:i,s:s,s:i,s:I,s:I,s:b}", "ok", 1, "pid", (int)pid, "dir", dir,
					    "processes", t.nprocs, "pages", (json_int_t)pages, "bytes", bytes,
					    "left_running", leave));
	}
	/* The image is on disk: the source may go (or run on). */
	dump_release(&t, !leave);
	if (!leave)
		inet_drain(&t);
	pr_debug("pid %ld dumped to %s: %d processes, %" PRIu64 " pages", pid, dir, t.nprocs, pages);
	ret = 0;
	goto out;
err:
	fprintf(stderr, "ferry dump: %s\n", fail_msg() ? fail_msg() : "failed");
	ev_error(fail_msg());
out:
	img_close(&im);
	dump_tree_free(&t);
	return ret;
}
