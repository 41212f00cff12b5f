/*
 * ptrace control: seizing, interrupting, waiting, registers and xstate.
 *
 * Every stop ferry relies on is explicit here so that the rest of the code
 * never interprets raw wait statuses.  Limits: x86-64 only.
 */
#ifndef FERRY_PTRACE_H
#define FERRY_PTRACE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#define XSTATE_MAX 16384

int pt_seize(pid_t tid, unsigned long options);
/* PTRACE_SEIZE asking, when the kernel allows it (CONFIG_CHECKPOINT_RESTORE
 * and CAP_SYS_ADMIN), that the tracee's seccomp filters be suspended while
 * ferry traces it: its remote syscalls must not be filtered.  Returns 1 if
 * they are suspended, 0 if seized without, -1 (errno kept) on failure. */
int pt_seize_suspend_seccomp(pid_t tid, unsigned long options);
/* PTRACE_INTERRUPT and wait for the interrupt stop.  Signals that arrive
 * meanwhile are delivered (they would have been anyway), not lost. */
int pt_interrupt(pid_t tid);
/* Like pt_interrupt, but a task that exits meanwhile sets *gone (if gone
 * is not NULL) instead of being an error. */
int pt_interrupt_or_gone(pid_t tid, int *gone);
/* Same; *stopsig: the signal of a job-control stop it is in (SIGSTOP,
 * SIGTSTP, SIGTTIN, SIGTTOU), else 0. */
int pt_interrupt_stopsig(pid_t tid, int *gone, int *stopsig);
/* Waits for tid to stop; returns the wait status or -1 (error recorded). */
int pt_wait(pid_t tid, int *status);
int pt_detach(pid_t tid, int sig);
int pt_getregs(pid_t tid, struct user_regs_struct *regs);
int pt_setregs(pid_t tid, const struct user_regs_struct *regs);
/* Whole xsave area; *len in: buffer size, out: bytes used. */
int pt_get_xstate(pid_t tid, void *buf, size_t *len);
int pt_set_xstate(pid_t tid, const void *buf, size_t len);

/* A thread stopped inside a syscall shows RAX = -ERESTART*; make the saved
 * registers re-enter that syscall when the thread runs again.  `live` says
 * the kernel's restart_block is still valid (same task, not restored). */
void regs_fixup_restart(struct user_regs_struct *regs, int live);

/* XCR0 of this CPU (the xsave features the kernel enabled). */
uint64_t cpu_xcr0(void);
/* Size of the xsave area for the features this CPU has enabled. */
size_t cpu_xstate_size(void);

#endif
