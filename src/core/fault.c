/*
 * Fault injection (see fault.h): the environment is read once, before
 * main; the wrapped calls below stand between ferry's code and libc.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fault.h"

int fault_armed;

static const char *const names[FOP_COUNT] = {
	[FOP_WRITE] = "write", [FOP_READ] = "read", [FOP_PWRITE] = "pwrite", [FOP_MMAP] = "mmap",
	[FOP_FSYNC] = "fsync", [FOP_CONNECT] = "connect", [FOP_SEND] = "send", [FOP_RECV] = "recv",
	[FOP_SENDMSG] = "sendmsg", [FOP_RECVMSG] = "recvmsg", [FOP_VM_READV] = "process_vm_readv",
	[FOP_VM_WRITEV] = "process_vm_writev", [FOP_PTRACE] = "ptrace", [FOP_CLONE3] = "clone3",
};
static struct {
	unsigned long calls, fail_at;	/* fail_at 0: never */
	int err;
} ops[FOP_COUNT];
static char step_name[128];

__attribute__((constructor)) static void fault_init(void)
{
	const char *f = getenv("FERRY_FAULT"), *s = getenv("FERRY_FAULT_STEP");
	if (s && *s) {
		strncpy(step_name, s, sizeof(step_name) - 1);
		fault_armed = 1;
	}
	while (f && *f) {
		size_t len = strcspn(f, ":");
		char *end;
		for (int i = 0; i < FOP_COUNT; i++)
			if (strlen(names[i]) == len && !strncmp(f, names[i], len) && f[len] == ':') {
				ops[i].fail_at = strtoul(f + len + 1, &end, 10);
				ops[i].err = *end == ':' ? (int)strtol(end + 1, &end, 10) : EIO;
				fault_armed = 1;
			}
		f = strchr(f, ',');
		f = f ? f + 1 : NULL;
	}
}

int fault_fail(enum fault_op op)
{
	if (!ops[op].fail_at || ++ops[op].calls != ops[op].fail_at)
		return 0;
	errno = ops[op].err;
	return 1;
}

void fault_step(const char *name)
{
	if (step_name[0] && !strcmp(name, step_name))
		syscall(SYS_kill, syscall(SYS_getpid), SIGKILL);
}

/* ---- the wrapped calls (-Wl,--wrap=NAME sends ferry's calls here) ---- */

ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
	return FAULT_FAIL(FOP_WRITE) ? -1 : __real_write(fd, buf, n);
}
ssize_t __real_read(int fd, void *buf, size_t n);
ssize_t __wrap_read(int fd, void *buf, size_t n)
{
	return FAULT_FAIL(FOP_READ) ? -1 : __real_read(fd, buf, n);
}
ssize_t __real_pwrite(int fd, const void *buf, size_t n, off_t off);
ssize_t __wrap_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	return FAULT_FAIL(FOP_PWRITE) ? -1 : __real_pwrite(fd, buf, n, off);
}
void *__real_mmap(void *a, size_t n, int prot, int flags, int fd, off_t off);
void *__wrap_mmap(void *a, size_t n, int prot, int flags, int fd, off_t off)
{
	return FAULT_FAIL(FOP_MMAP) ? MAP_FAILED : __real_mmap(a, n, prot, flags, fd, off);
}
int __real_fsync(int fd);
int __wrap_fsync(int fd)
{
	return FAULT_FAIL(FOP_FSYNC) ? -1 : __real_fsync(fd);
}
int __real_connect(int fd, const struct sockaddr *sa, socklen_t len);
int __wrap_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	return FAULT_FAIL(FOP_CONNECT) ? -1 : __real_connect(fd, sa, len);
}
ssize_t __real_send(int fd, const void *buf, size_t n, int flags);
ssize_t __wrap_send(int fd, const void *buf, size_t n, int flags)
{
	return FAULT_FAIL(FOP_SEND) ? -1 : __real_send(fd, buf, n, flags);
}
ssize_t __real_recv(int fd, void *buf, size_t n, int flags);
ssize_t __wrap_recv(int fd, void *buf, size_t n, int flags)
{
	return FAULT_FAIL(FOP_RECV) ? -1 : __real_recv(fd, buf, n, flags);
}
ssize_t __real_sendmsg(int fd, const struct msghdr *m, int flags);
ssize_t __wrap_sendmsg(int fd, const struct msghdr *m, int flags)
{
	return FAULT_FAIL(FOP_SENDMSG) ? -1 : __real_sendmsg(fd, m, flags);
}
ssize_t __real_recvmsg(int fd, struct msghdr *m, int flags);
ssize_t __wrap_recvmsg(int fd, struct msghdr *m, int flags)
{
	return FAULT_FAIL(FOP_RECVMSG) ? -1 : __real_recvmsg(fd, m, flags);
}
ssize_t __real_process_vm_readv(pid_t pid, const struct iovec *l, unsigned long ln, const struct iovec *r,
				unsigned long rn, unsigned long flags);
ssize_t __wrap_process_vm_readv(pid_t pid, const struct iovec *l, unsigned long ln, const struct iovec *r,
				unsigned long rn, unsigned long flags)
{
	return FAULT_FAIL(FOP_VM_READV) ? -1 : __real_process_vm_readv(pid, l, ln, r, rn, flags);
}
ssize_t __real_process_vm_writev(pid_t pid, const struct iovec *l, unsigned long ln, const struct iovec *r,
				 unsigned long rn, unsigned long flags);
ssize_t __wrap_process_vm_writev(pid_t pid, const struct iovec *l, unsigned long ln, const struct iovec *r,
				 unsigned long rn, unsigned long flags)
{
	return FAULT_FAIL(FOP_VM_WRITEV) ? -1 : __real_process_vm_writev(pid, l, ln, r, rn, flags);
}
/* glibc's ptrace takes its three arguments after the request as varargs
 * and always reads all three: so does this. */
long __real_ptrace(enum __ptrace_request req, ...);
long __wrap_ptrace(enum __ptrace_request req, ...)
{
	va_list ap;
	pid_t pid;
	void *addr, *data;
	va_start(ap, req);
	pid = va_arg(ap, pid_t);
	addr = va_arg(ap, void *);
	data = va_arg(ap, void *);
	va_end(ap);
	return FAULT_FAIL(FOP_PTRACE) ? -1 : __real_ptrace(req, pid, addr, data);
}
