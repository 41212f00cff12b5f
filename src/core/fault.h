/*
 * Fault injection, for tests (tests/net/faults.sh, docs/faults.md).
 *
 * FERRY_FAULT=OP:N[:ERRNO][,OP:N...]  the Nth call (1-based, counted in each
 *     ferry process separately: a fork starts from its parent's counts) of
 *     OP fails with ERRNO (a number; default EIO).  OPs: write, read, pwrite,
 *     mmap, fsync, connect, send, recv, sendmsg, recvmsg, process_vm_readv,
 *     process_vm_writev, ptrace, clone3.  All but clone3 are caught at the
 *     link (-Wl,--wrap, see FAULT_WRAP in the Makefile) for calls from
 *     ferry's own code, not libc's internal ones (stdio's writes go on).
 * FERRY_FAULT_STEP=NAME  the process that reaches step NAME (a FAULT_STEP
 *     in the code; docs/faults.md lists them) kills itself with SIGKILL:
 *     no cleanup of its own runs, as when the OOM killer or a power cut
 *     takes it.
 *
 * Unset, each wrapped call costs one test of a global flag.  Limits: a
 * failed call does nothing (no partial write); clone3 is counted only
 * where restore creates processes (the threads' clone3 is raw assembly).
 */
#ifndef FERRY_FAULT_H
#define FERRY_FAULT_H

enum fault_op {
	FOP_WRITE, FOP_READ, FOP_PWRITE, FOP_MMAP, FOP_FSYNC, FOP_CONNECT, FOP_SEND, FOP_RECV, FOP_SENDMSG,
	FOP_RECVMSG, FOP_VM_READV, FOP_VM_WRITEV, FOP_PTRACE, FOP_CLONE3, FOP_COUNT
};

extern int fault_armed;		/* either variable was set */

/* Whether this call of op is the one to fail (errno set to the fault's). */
int fault_fail(enum fault_op op);
void fault_step(const char *name);

#define FAULT_FAIL(op) (__builtin_expect(fault_armed, 0) && fault_fail(op))
#define FAULT_STEP(name)                                                                                         \
	do {                                                                                                     \
		if (__builtin_expect(fault_armed, 0))                                                            \
			fault_step(name);                                                                        \
	} while (0)

#endif
