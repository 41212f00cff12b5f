/*
 * Remote syscalls: run a syscall inside a ptrace-stopped thread.
 *
 * Some state only the process itself can read or set (signal handlers, the
 * brk, its clear_child_tid address, its address space at restore), so ferry
 * makes the thread execute the syscall: point RIP at a `syscall` instruction
 * already present in the tracee (the vDSO has one), load the arguments,
 * and step with PTRACE_SYSCALL to the syscall-exit stop, where RAX holds the
 * result.  Nothing is written into the program's code, and because the
 * thread stops at syscall exit it never executes past the instruction, so
 * even a call that unmaps the memory around RIP is safe.
 *
 * Callers block all signals of the thread (PTRACE_SETSIGMASK) first, so a
 * signal cannot interrupt a remote call and run the program's handler.
 * Memory arguments live in a scratch area in the tracee (rsys->scratch).
 */
#ifndef FERRY_RSYS_H
#define FERRY_RSYS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

struct rsys {
	pid_t tid;
	uint64_t gadget;		/* address of a `syscall` (0f 05) in the tracee */
	struct user_regs_struct base;	/* template registers for each call */
	uint64_t scratch;		/* remote scratch memory, 0 if none */
	size_t scratch_len;
};

/* Finds `syscall` bytes in [start,end) of the tracee's memory; 0 if none. */
uint64_t rsys_find_gadget(pid_t pid, uint64_t start, uint64_t end);
/* Address of `syscall` in ferry's own vDSO, relative to the vDSO start. */
int64_t rsys_own_vdso_gadget(void);

/* Sets up for calls: reads the current registers as the template. */
int rsys_init(struct rsys *r, pid_t tid, uint64_t gadget);
/* *out: remote syscalls in thread tid of r's process (same gadget and
 * scratch, tid's own registers as the template). */
int rsys_for_thread(const struct rsys *r, pid_t tid, struct rsys *out);
/* Returns the raw kernel result (-errno on failure); on a ptrace failure
 * returns -ECHILD-ish values and records the error. */
long rsys_call(struct rsys *r, long nr, uint64_t a1, uint64_t a2, uint64_t a3,
	       uint64_t a4, uint64_t a5, uint64_t a6);
/* Like rsys_call but records "remote NAME in pid N failed: why" on error. */
long rsys_chk(struct rsys *r, const char *what, long nr, uint64_t a1, uint64_t a2,
	      uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6);
/* A SIGSTOP that reached thread tid during a remote call was held back:
 * 1 if so (take: and forget it).  The process counts as stopped by it; a
 * dump that lets it go sends it again. */
int rsys_stop_held(pid_t tid, int take);
/* Maps scratch memory in the tracee (at `hint` if non-zero, MAP_FIXED_NOREPLACE). */
int rsys_map_scratch(struct rsys *r, size_t len, uint64_t hint);
int rsys_unmap_scratch(struct rsys *r);

/* Tracee memory access; falls back to /proc/PID/mem for pages the
 * process itself could not read or write (PROT_NONE, read-only text). */
int mem_peek(pid_t pid, uint64_t addr, void *buf, size_t len);
int mem_poke(pid_t pid, uint64_t addr, const void *buf, size_t len);

#endif
