/*
 * Unit tests for regs_fixup_restart (core/ptrace.c): a thread frozen inside
 * an interrupted syscall must re-enter it when it runs again.
 */
#include <sys/syscall.h>
#include <sys/user.h>

#include "ptrace.h"
#include "unit.h"

#define RIP 0x7f0011223344ULL

static struct user_regs_struct regs_in(uint64_t orig_rax, int64_t rax)
{
	struct user_regs_struct r;
	memset(&r, 0x5a, sizeof(r));	/* every other register: a recognisable value */
	r.orig_rax = orig_rax;
	r.rax = (uint64_t)rax;
	r.rip = RIP;
	return r;
}

/* Only rax, orig_rax and rip may change. */
static int others_same(const struct user_regs_struct *a, const struct user_regs_struct *b)
{
	struct user_regs_struct x = *a, y = *b;
	x.rax = y.rax = 0;
	x.orig_rax = y.orig_rax = 0;
	x.rip = y.rip = 0;
	return !memcmp(&x, &y, sizeof(x));
}

static void reenters(uint64_t nr, int64_t err, int live, uint64_t want_rax)
{
	struct user_regs_struct in = regs_in(nr, err), r = in;
	char ctx[96];
	snprintf(ctx, sizeof(ctx), "orig_rax=%" PRIu64 " rax=%" PRId64 " live=%d", nr, err, live);
	unit_ctx = ctx;
	regs_fixup_restart(&r, live);
	CHECK_U64(r.rip, RIP - 2);
	CHECK_U64(r.rax, want_rax);
	CHECK_U64(r.orig_rax, (uint64_t)-1);
	CHECK(others_same(&in, &r));
	/* Applying it again does nothing more (orig_rax is now -1). */
	in = r;
	regs_fixup_restart(&r, live);
	CHECK(!memcmp(&in, &r, sizeof(r)));
	unit_ctx = NULL;
}

static void unchanged(uint64_t nr, int64_t rax, int live)
{
	struct user_regs_struct in = regs_in(nr, rax), r = in;
	char ctx[96];
	snprintf(ctx, sizeof(ctx), "orig_rax=%" PRId64 " rax=%" PRId64 " live=%d", (int64_t)nr, rax, live);
	unit_ctx = ctx;
	regs_fixup_restart(&r, live);
	CHECK(!memcmp(&in, &r, sizeof(r)));
	unit_ctx = NULL;
}

int main(void)
{
	for (int live = 0; live <= 1; live++) {
		/* -ERESTARTSYS, -ERESTARTNOINTR, -ERESTARTNOHAND: the same call again. */
		for (int64_t e = 512; e <= 514; e++) {
			reenters(SYS_read, -e, live, SYS_read);	/* orig_rax 0 is a real syscall */
			reenters(SYS_pause, -e, live, SYS_pause);
			reenters(SYS_select, -e, live, SYS_select);
			reenters(SYS_wait4, -e, live, SYS_wait4);
		}
		/* -ERESTART_RESTARTBLOCK: restart_syscall only while the kernel's
		 * restart block is still valid; otherwise the original call. */
		reenters(SYS_nanosleep, -516, live, live ? SYS_restart_syscall : SYS_nanosleep);
		reenters(SYS_clock_nanosleep, -516, live, live ? SYS_restart_syscall : SYS_clock_nanosleep);
		reenters(SYS_read, -516, live, live ? SYS_restart_syscall : SYS_read);

		/* Finished or failed syscalls stay as they are. */
		unchanged(SYS_read, -4, live);	/* EINTR: reported to the program */
		unchanged(SYS_read, -11, live);	/* EAGAIN */
		unchanged(SYS_read, -515, live);	/* ENOIOCTLCMD is not a restart code */
		unchanged(SYS_read, -517, live);
		unchanged(SYS_read, -4095, live);
		unchanged(SYS_read, 0, live);
		unchanged(SYS_read, 42, live);
		unchanged(SYS_write, 512, live);	/* a positive 512 is a byte count */
		unchanged(SYS_mmap, (int64_t)0x7f0000000000LL, live);
		/* Not in a syscall: orig_rax is -1, whatever rax holds. */
		unchanged((uint64_t)-1, -512, live);
		unchanged((uint64_t)-1, -513, live);
		unchanged((uint64_t)-1, -514, live);
		unchanged((uint64_t)-1, -516, live);
		unchanged((uint64_t)-1, 0, live);
	}
	return unit_done("unit-restart");
}
