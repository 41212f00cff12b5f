/*
 * ptrace control (see ptrace.h).
 */
#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/syscall.h>

#include "log.h"
#include "ptrace.h"

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

#define ERESTARTSYS 512
#define ERESTARTNOINTR 513
#define ERESTARTNOHAND 514
#define ERESTART_RESTARTBLOCK 516

int pt_seize(pid_t tid, unsigned long options)
{
	if (ptrace(PTRACE_SEIZE, tid, 0, options) < 0)
		return fail_errno("cannot seize pid %d with ptrace", tid);
	return 0;
}

#ifndef PTRACE_O_SUSPEND_SECCOMP
#define PTRACE_O_SUSPEND_SECCOMP (1 << 21)
#endif

int pt_seize_suspend_seccomp(pid_t tid, unsigned long options)
{
	static int unsupported;
	if (!unsupported) {
		if (ptrace(PTRACE_SEIZE, tid, 0, options | PTRACE_O_SUSPEND_SECCOMP) == 0)
			return 1;
		if (errno != EINVAL && errno != EPERM)
			return -1;
		unsupported = 1;	/* (EPERM: not for this tracee either; try plainly) */
	}
	return ptrace(PTRACE_SEIZE, tid, 0, options) == 0 ? 0 : -1;
}

/* waitpid on tid: 0 when it stopped, 1 when it exited (status in *status) */
static int wait_tid(pid_t tid, int *status)
{
	for (;;) {
		pid_t r = waitpid(tid, status, __WALL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return fail_errno("waitpid on pid %d", tid);
		return WIFEXITED(*status) || WIFSIGNALED(*status);
	}
}

static int exited_under_us(pid_t tid, int st)
{
	if (WIFEXITED(st))
		return fail("pid %d exited (status %d) while ferry worked on it", tid, WEXITSTATUS(st));
	return fail("pid %d was killed by signal %d (%s) while ferry worked on it", tid, WTERMSIG(st),
		    strsignal(WTERMSIG(st)));
}

int pt_wait(pid_t tid, int *status)
{
	int r = wait_tid(tid, status);
	return r > 0 ? exited_under_us(tid, *status) : r;
}

int pt_interrupt(pid_t tid)
{
	return pt_interrupt_or_gone(tid, NULL);
}

int pt_interrupt_or_gone(pid_t tid, int *gone)
{
	return pt_interrupt_stopsig(tid, gone, NULL);
}

int pt_interrupt_stopsig(pid_t tid, int *gone, int *stopsig)
{
	int st, r;
	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0)
		return fail_errno("cannot interrupt pid %d", tid);
	for (;;) {
		if ((r = wait_tid(tid, &st)) < 0)
			return -1;
		if (r) {
			if (!gone)
				return exited_under_us(tid, st);
			*gone = 1;
			return 0;
		}
		/* The interrupt's stop, or a group-stop (the task was stopped by
		 * SIGSTOP & co): either way it is stopped. */
		if ((st >> 16) == PTRACE_EVENT_STOP) {
			/* a group-stop reports the signal that stopped it */
			if (stopsig)
				*stopsig = WSTOPSIG(st) == SIGTRAP ? 0 : WSTOPSIG(st);
			return 0;
		}
		/* A signal-delivery stop: let the signal through and wait again. */
		if (ptrace(PTRACE_CONT, tid, 0, WSTOPSIG(st)) < 0)
			return fail_errno("cannot resume pid %d to deliver signal %d", tid, WSTOPSIG(st));
	}
}

int pt_detach(pid_t tid, int sig)
{
	if (ptrace(PTRACE_DETACH, tid, 0, sig) < 0)
		return fail_errno("cannot detach from pid %d", tid);
	return 0;
}

int pt_getregs(pid_t tid, struct user_regs_struct *regs)
{
	if (ptrace(PTRACE_GETREGS, tid, 0, regs) < 0)
		return fail_errno("cannot read registers of pid %d", tid);
	return 0;
}

int pt_setregs(pid_t tid, const struct user_regs_struct *regs)
{
	if (ptrace(PTRACE_SETREGS, tid, 0, regs) < 0)
		return fail_errno("cannot set registers of pid %d", tid);
	return 0;
}

int pt_get_xstate(pid_t tid, void *buf, size_t *len)
{
	struct iovec iov = { buf, *len };
	if (ptrace(PTRACE_GETREGSET, tid, NT_X86_XSTATE, &iov) < 0)
		return fail_errno("cannot read xsave state of pid %d", tid);
	*len = iov.iov_len;
	return 0;
}

int pt_set_xstate(pid_t tid, const void *buf, size_t len)
{
	struct iovec iov = { (void *)buf, len };
	if (ptrace(PTRACE_SETREGSET, tid, NT_X86_XSTATE, &iov) < 0)
		return fail_errno("cannot set xsave state of pid %d (%zu bytes)", tid, len);
	return 0;
}

void regs_fixup_restart(struct user_regs_struct *regs, int live)
{
	long rax = (long)regs->rax;
	if ((long)regs->orig_rax < 0)
		return;
	switch (-rax) {
	case ERESTARTSYS:
	case ERESTARTNOINTR:
	case ERESTARTNOHAND:
		regs->rax = regs->orig_rax;
		regs->rip -= 2;
		break;
	case ERESTART_RESTARTBLOCK:
		/* The kernel keeps the remaining time of an interrupted sleep in
		 * the task; a restored task has lost it, so the call starts over
		 * with its original arguments (it then sleeps at least as long as
		 * asked, which is what the caller was promised). */
		regs->rax = live ? SYS_restart_syscall : regs->orig_rax;
		regs->rip -= 2;
		break;
	default:
		return;
	}
	regs->orig_rax = (unsigned long)-1;
}

uint64_t cpu_xcr0(void)
{
	uint32_t eax, edx;
	__asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
	return (uint64_t)edx << 32 | eax;
}

size_t cpu_xstate_size(void)
{
	uint32_t eax, ebx, ecx, edx;
	__asm__ volatile("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(0xd), "c"(0));
	return ebx;
}
