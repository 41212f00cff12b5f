/*
 * ferry dump: freeze a process, write its image, then kill it (or let it
 * run on with --leave-running).
 *
 * The process is seized and interrupted with ptrace, so it never runs while
 * ferry reads it.  Any failure undoes everything ferry did (scratch memory,
 * registers, signal mask) and detaches: the process runs on as before.
 * The image is complete and fsynced before the source is killed.
 */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmds.h"
#include "image.h"
#include "log.h"
#include "pstate.h"
#include "ptrace.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: ferry dump -t|--pid PID -D|--dir DIR [-R|--leave-running] [-v|--verbose]\n"
		   "  Freezes PID, writes its image to DIR, then kills it (SIGKILL).\n"
		   "  -R, --leave-running   resume the process untouched instead of killing it\n");
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
		fail("pid %d: no syscall instruction found in its memory", pid);
	return g;
}

static json_t *host_json(const struct proc_state *ps)
{
	struct utsname u;
	uname(&u);
	return json_pack("{s:s,s:s,s:o,s:I}", "kernel", u.release, "machine", u.machine, "xcr0", jhex(cpu_xcr0()),
			 "xsave_size", (json_int_t)ps->threads[0].xstate_len);
}

static int write_image(struct proc_state *ps, struct img *im)
{
	json_t *core = json_object(), *meta;
	char name[64];
	int ret;
	task_encode(ps, core);
	thread_encode(ps, core);
	sig_encode(ps, core);
	mem_encode(ps, core);
	files_encode(ps, core);
	snprintf(name, sizeof(name), "core-%d.json", ps->pid);
	ret = img_write_json(im, name, core);
	json_decref(core);
	if (ret < 0)
		return -1;
	meta = json_pack("{s:i,s:[i],s:o,s:I}", "root_pid", ps->pid, "pids", ps->pid, "host", host_json(ps),
			 "created", (json_int_t)time(NULL));
	ret = img_finish(im, meta);
	json_decref(meta);
	return ret;
}

/* Everything that needs the process frozen. */
static int collect(struct proc_state *ps, struct img *im)
{
	struct proc_stat st;
	pid_t *kids;
	int nkids;
	uint64_t gadget, allsigs = ~0ULL;

	if (proc_stat(ps->pid, &st) < 0)
		return -1;
	if (st.num_threads != 1)
		return fail("pid %d has %d threads; this ferry checkpoints single-threaded processes", ps->pid,
			    st.num_threads);
	if (proc_children(ps->pid, &kids, &nkids) < 0)
		return -1;
	free(kids);
	if (nkids)
		return fail("pid %d has %d child process(es); this ferry checkpoints single processes", ps->pid, nkids);
	if (st.state == 'Z' || st.state == 'X')
		return fail("pid %d is a zombie", ps->pid);

	ps->nthreads = 1;
	ps->threads = xzalloc(sizeof(*ps->threads));
	ps->threads[0].tid = ps->pid;
	/* Registers first: remote syscalls change them. */
	if (thread_dump_regs(ps) < 0)
		return -1;
	if (ptrace(PTRACE_SETSIGMASK, ps->pid, sizeof(allsigs), &allsigs) < 0)
		return fail_errno("cannot block signals of pid %d", ps->pid);
	if (!(gadget = find_gadget(ps->pid)) || rsys_init(&ps->rs, ps->pid, gadget) < 0)
		return -1;
	if (rsys_map_scratch(&ps->rs, PAGE_SIZE, 0) < 0)
		return -1;
	if (task_dump(ps) < 0 || thread_dump(ps) < 0 || sig_dump(ps) < 0 || mem_dump(ps, im) < 0 ||
	    files_dump(ps, im) < 0)
		return -1;
	if (rsys_unmap_scratch(&ps->rs) < 0)
		return -1;
	return write_image(ps, im);
}

/* Puts the process back as it was and lets it go. */
static void resume(struct proc_state *ps)
{
	if (ps->rs.scratch)
		rsys_unmap_scratch(&ps->rs);
	if (ps->nthreads && ps->threads[0].xstate) {
		struct user_regs_struct regs = ps->threads[0].regs;
		regs_fixup_restart(&regs, 1);
		pt_setregs(ps->pid, &regs);
		ptrace(PTRACE_SETSIGMASK, ps->pid, sizeof(uint64_t), &ps->threads[0].sigmask);
	}
	pt_detach(ps->pid, 0);
}

int cmd_dump(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, 0, 't' }, { "dir", required_argument, 0, 'D' },
		{ "leave-running", no_argument, 0, 'R' }, { "verbose", no_argument, 0, 'v' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	struct proc_state ps = { 0 };
	const char *dir = NULL;
	int leave = 0, c, ret = 1;
	struct img im;
	char *end;
	long pid = 0;

	while ((c = getopt_long(argc, argv, "t:D:Rvh", opts, NULL)) != -1) {
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
		case 'v': log_verbose = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!pid || !dir || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (pid == getpid()) {
		fprintf(stderr, "ferry dump: cannot dump ferry itself\n");
		return 1;
	}
	ps.pid = pid;
	ps.root_prefix = xasprintf("/proc/%ld/root", pid);
	if (img_create(&im, dir) < 0)
		goto err;
	ps.pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (ps.pidfd < 0) {
		fail_errno("cannot open pid %ld", pid);
		goto err;
	}
	if (pt_seize(pid, PTRACE_O_TRACESYSGOOD) < 0)
		goto err;
	if (pt_interrupt(pid) < 0) {
		pt_detach(pid, 0);
		goto err;
	}
	if (collect(&ps, &im) < 0) {
		resume(&ps);
		goto err;
	}
	if (leave) {
		resume(&ps);
	} else {
		/* The image is on disk: the source may go. */
		kill(pid, SIGKILL);
	}
	pr_debug("pid %ld dumped to %s: %" PRIu64 " pages, %d fds", pid, dir, ps.mm.npages, ps.fds.nfds);
	ret = 0;
	goto out;
err:
	fprintf(stderr, "ferry dump: %s\n", fail_msg() ? fail_msg() : "failed");
out:
	if (ps.pidfd > 0)
		close(ps.pidfd);
	img_close(&im);
	pstate_free(&ps);
	return ret;
}
