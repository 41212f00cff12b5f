/*
 * Remote syscalls (see rsys.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "ptrace.h"
#include "rsys.h"
#include "util.h"

int mem_peek(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec l = { buf, len }, r = { (void *)addr, len };
	char path[64];
	int fd;
	if (process_vm_readv(pid, &l, 1, &r, 1, 0) == (ssize_t)len)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail_errno("cannot open %s", path);
	if (pread_full(fd, buf, len, addr) != (ssize_t)len) {
		fail_errno("cannot read %zu bytes at 0x%lx in pid %d", len, (unsigned long)addr, pid);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int mem_poke(pid_t pid, uint64_t addr, const void *buf, size_t len)
{
	struct iovec l = { (void *)buf, len }, r = { (void *)addr, len };
	char path[64];
	int fd;
	if (process_vm_writev(pid, &l, 1, &r, 1, 0) == (ssize_t)len)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return fail_errno("cannot open %s", path);
	if (pwrite_full(fd, buf, len, addr) < 0) {
		fail_errno("cannot write %zu bytes at 0x%lx in pid %d", len, (unsigned long)addr, pid);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static uint64_t scan_syscall(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++)
		if (p[i] == 0x0f && p[i + 1] == 0x05)
			return i + 1;	/* offset + 1 so that 0 means "none" */
	return 0;
}

uint64_t rsys_find_gadget(pid_t pid, uint64_t start, uint64_t end)
{
	size_t len = end - start;
	unsigned char *buf;
	uint64_t off;
	if (!len || len > (64 << 20))
		return 0;
	buf = xmalloc(len);
	if (mem_peek(pid, start, buf, len) < 0) {
		free(buf);
		return 0;
	}
	off = scan_syscall(buf, len);
	free(buf);
	return off ? start + off - 1 : 0;
}

int64_t rsys_own_vdso_gadget(void)
{
	const unsigned char *vdso = (const void *)getauxval(AT_SYSINFO_EHDR);
	uint64_t off;
	/* The vDSO image is two pages on x86-64; its code never reaches past them. */
	if (!vdso)
		return -1;
	off = scan_syscall(vdso, 2 * PAGE_SIZE);
	return off ? (int64_t)off - 1 : -1;
}

int rsys_init(struct rsys *r, pid_t tid, uint64_t gadget)
{
	memset(r, 0, sizeof(*r));
	r->tid = tid;
	r->gadget = gadget;
	return pt_getregs(tid, &r->base);
}

int rsys_for_thread(const struct rsys *r, pid_t tid, struct rsys *out)
{
	*out = *r;
	out->tid = tid;
	return tid == r->tid ? 0 : pt_getregs(tid, &out->base);
}

static pid_t held[64];
static int nheld;

static void hold_stop(pid_t tid)
{
	for (int i = 0; i < nheld; i++)
		if (held[i] == tid)
			return;
	if (nheld < (int)(sizeof(held) / sizeof(held[0])))
		held[nheld++] = tid;
}

int rsys_stop_held(pid_t tid, int take)
{
	for (int i = 0; i < nheld; i++)
		if (held[i] == tid) {
			if (take)
				held[i] = held[--nheld];
			return 1;
		}
	return 0;
}

long rsys_call(struct rsys *r, long nr, uint64_t a1, uint64_t a2, uint64_t a3,
	       uint64_t a4, uint64_t a5, uint64_t a6)
{
	struct user_regs_struct regs = r->base;
	int st;

	regs.rip = r->gadget;
	regs.rax = nr;
	regs.orig_rax = (unsigned long)-1;	/* no syscall-restart games on resume */
	regs.rdi = a1;
	regs.rsi = a2;
	regs.rdx = a3;
	regs.r10 = a4;
	regs.r8 = a5;
	regs.r9 = a6;
	if (pt_setregs(r->tid, &regs) < 0)
		return -ESRCH;
	for (int stop = 0, early = 0; stop < 2;) {
		if (ptrace(PTRACE_SYSCALL, r->tid, 0, 0) < 0) {
			fail_errno("remote syscall %ld in pid %d: cannot resume", nr, r->tid);
			return -ESRCH;
		}
		if (pt_wait(r->tid, &st) < 0)
			return -ESRCH;
		/* A task that was stopped by job control when it was frozen still
		 * owes the interrupt trap: it shows (as a group-stop) before the
		 * call begins.  The call has not run: go on. */
		if ((st >> 16) == PTRACE_EVENT_STOP && stop == 0 && early++ < 4)
			continue;
		if (WSTOPSIG(st) == (SIGTRAP | 0x80)) {
			stop++;
			continue;
		}
		/* A SIGSTOP sent just before the freeze (it cannot be blocked)
		 * shows when the thread first runs for a call, before it: it is
		 * held back (resumed without it), and the caller gives it back
		 * (see rsys_stop_held). */
		if ((st >> 16) == 0 && WSTOPSIG(st) == SIGSTOP && stop == 0) {
			hold_stop(r->tid);
			continue;
		}
		{
			struct user_regs_struct now;
			ptrace(PTRACE_GETREGS, r->tid, 0, &now);
			fail("remote syscall %ld in pid %d: unexpected stop (signal %d, rip 0x%llx)",
			     nr, r->tid, WSTOPSIG(st) & 0x7f, now.rip);
			return -ESRCH;
		}
	}
	if (pt_getregs(r->tid, &regs) < 0)
		return -ESRCH;
	/* Between calls the thread holds its own registers again, not the
	 * gadget's: if ferry dies now (killed, crashed), the kernel detaches
	 * the thread and it resumes where it was, not at the gadget with a
	 * syscall's arguments in its registers (tests/net/faults.sh, dump
	 * killed after its image was written). */
	if (pt_setregs(r->tid, &r->base) < 0)
		return -ESRCH;
	return (long)regs.rax;
}

long rsys_chk(struct rsys *r, const char *what, long nr, uint64_t a1, uint64_t a2,
	      uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6)
{
	long ret = rsys_call(r, nr, a1, a2, a3, a4, a5, a6);
	if (ret < 0 && ret > -4096)
		fail("%s in pid %d failed: %s", what, r->tid, strerror((int)-ret));
	return ret;
}

int rsys_map_scratch(struct rsys *r, size_t len, uint64_t hint)
{
	long ret = rsys_chk(r, "mapping ferry's scratch page", SYS_mmap, hint, len,
			    PROT_READ | PROT_WRITE,
			    /* shared: never merges with the program's own VMAs */
			    MAP_SHARED | MAP_ANONYMOUS | (hint ? MAP_FIXED_NOREPLACE : 0), -1, 0);
	if (ret < 0 && ret > -4096)
		return -1;
	r->scratch = ret;
	r->scratch_len = len;
	return 0;
}

int rsys_unmap_scratch(struct rsys *r)
{
	if (!r->scratch)
		return 0;
	if (rsys_chk(r, "unmapping ferry's scratch page", SYS_munmap, r->scratch, r->scratch_len,
		     0, 0, 0, 0) < 0)
		return -1;
	r->scratch = 0;
	return 0;
}
