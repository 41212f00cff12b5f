/* signals - signal dispositions, mask, pending signals, alternate stack.
 * Covers: kernel sigactions of all signals 1..64 (handler, flags incl.
 * SA_SIGINFO|SA_RESTART|SA_ONSTACK, SA_RESETHAND|SA_NODEFER, SIG_IGN,
 * sa_restorer, sa_mask) read with raw rt_sigaction and equal after restore;
 * the blocked mask (raw rt_sigprocmask, 64 bits) equal; pending signals:
 * SIGUSR1 (kill, process-directed), SIGRTMIN+3 queued twice with values 7
 * and 8 (sigqueue, process-directed), SIGUSR2 thread-directed (tgkill), all
 * blocked: sigpending(), /proc/self/status SigPnd (thread) and ShdPnd
 * (process) equal, SigBlk/SigIgn/SigCgt equal; sigaltstack equal.  Then
 * everything is unblocked: each handler runs exactly once (RT twice, values
 * 7 then 8, si_code SI_QUEUE / SI_USER / SI_TKILL, si_pid == our pid) on the
 * alternate stack, with its sa_mask applied, and the SA_RESETHAND handler's
 * disposition is SIG_DFL afterwards.  No signal is lost or duplicated. */
#include "common.h"
#include <signal.h>

struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

#define NSIG_K 64
#define SIGRT3 (SIGRTMIN + 3)
#define ALTSZ (64 * 1024)

static struct ksigaction ks_before[NSIG_K + 1];
static int ks_valid[NSIG_K + 1];
static char *alt;

struct hit {
	int sig, code, pid, value;
	uintptr_t local;
	sigset_t mask_in_handler;
};
static volatile int nhits;
static struct hit hits[16];

static void record(int sig, siginfo_t *si)
{
	volatile int local = 0;
	if (nhits < 16) {
		struct hit *h = &hits[nhits];
		h->sig = sig;
		h->code = si->si_code;
		h->pid = si->si_pid;
		h->value = si->si_value.sival_int;
		h->local = (uintptr_t)&local;
		sigprocmask(SIG_BLOCK, NULL, &h->mask_in_handler);
	}
	nhits++;
}

static void h_usr1(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	record(sig, si);
}
static void h_usr2(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	record(sig, si);
}
static void h_rt(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	record(sig, si);
}
static void h_alrm(int sig)
{
	(void)sig;
}

static int k_sigaction(int sig, struct ksigaction *old)
{
	return (int)syscall(SYS_rt_sigaction, sig, NULL, old, 8);
}

static uint64_t k_mask(void)
{
	uint64_t m = 0;
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &m, 8);
	return m;
}

static uint64_t bit(int sig)
{
	return 1ULL << (sig - 1);
}

static void status_fields(char out[6][64])
{
	static const char *const keys[6] = { "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt", "SigQ" };
	for (int i = 0; i < 6; i++)
		if (t_status_field(keys[i], out[i], 64) < 0)
			strcpy(out[i], "?");
	/* SigQ is queued/limit for the whole user: keep only the limit */
	char *slash = strchr(out[5], '/');
	if (slash)
		memmove(out[5], slash, strlen(slash) + 1);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);

	alt = malloc(ALTSZ);
	T_SETUP(alt);
	stack_t ss = { .ss_sp = alt, .ss_size = ALTSZ, .ss_flags = 0 };
	T_SETUP(sigaltstack(&ss, NULL) == 0);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = h_usr1;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGWINCH);
	sigaddset(&sa.sa_mask, SIGRTMIN + 7);
	T_SETUP(sigaction(SIGUSR1, &sa, NULL) == 0);

	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = h_usr2;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	T_SETUP(sigaction(SIGUSR2, &sa, NULL) == 0);

	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = h_rt;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGTERM);
	T_SETUP(sigaction(SIGRT3, &sa, NULL) == 0);

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = h_alrm; /* plain handler, no SA_SIGINFO, mask of several */
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGHUP);
	sigaddset(&sa.sa_mask, SIGCHLD);
	sigaddset(&sa.sa_mask, SIGRTMAX);
	T_SETUP(sigaction(SIGALRM, &sa, NULL) == 0);

	signal(SIGPIPE, SIG_IGN);
	signal(SIGTSTP, SIG_IGN);
	signal(SIGRTMIN + 10, SIG_IGN);

	sigset_t blk;
	sigemptyset(&blk);
	sigaddset(&blk, SIGUSR1);
	sigaddset(&blk, SIGUSR2);
	sigaddset(&blk, SIGRT3);
	sigaddset(&blk, SIGINT);
	sigaddset(&blk, SIGTERM);
	sigaddset(&blk, SIGRTMAX);
	T_SETUP(sigprocmask(SIG_BLOCK, &blk, NULL) == 0);

	pid_t me = getpid();
	T_SETUP(kill(me, SIGUSR1) == 0);
	T_SETUP(sigqueue(me, SIGRT3, (union sigval){ .sival_int = 7 }) == 0);
	T_SETUP(sigqueue(me, SIGRT3, (union sigval){ .sival_int = 8 }) == 0);
	T_SETUP(syscall(SYS_tgkill, me, (pid_t)syscall(SYS_gettid), SIGUSR2) == 0);

	/* record the state as the kernel sees it */
	for (int s = 1; s <= NSIG_K; s++)
		ks_valid[s] = k_sigaction(s, &ks_before[s]) == 0;
	uint64_t mask_before = k_mask();
	sigset_t pend_before;
	sigpending(&pend_before);
	char st_before[6][64];
	status_fields(st_before);
	stack_t ss_before;
	sigaltstack(NULL, &ss_before);
	T_SETUP(mask_before & bit(SIGUSR1));
	T_SETUP(sigismember(&pend_before, SIGUSR1) && sigismember(&pend_before, SIGUSR2) &&
		sigismember(&pend_before, SIGRT3));

	t_ready();
	t_wait_go();

	/* --- verify (signals still blocked) ------------------------------ */
	for (int s = 1; s <= NSIG_K; s++) {
		struct ksigaction k;
		int ok = k_sigaction(s, &k) == 0;
		T_CHECK(ok == ks_valid[s], "rt_sigaction(%d) validity changed", s);
		if (!ok || !ks_valid[s])
			continue;
		T_CHECK(k.handler == ks_before[s].handler, "sig %d handler %p, expected %p", s, k.handler,
			ks_before[s].handler);
		T_CHECK(k.flags == ks_before[s].flags, "sig %d flags %#lx, expected %#lx", s, k.flags,
			ks_before[s].flags);
		T_CHECK(k.restorer == ks_before[s].restorer, "sig %d restorer %p, expected %p", s, k.restorer,
			ks_before[s].restorer);
		T_CHECK(k.mask == ks_before[s].mask, "sig %d sa_mask %#llx, expected %#llx", s,
			(unsigned long long)k.mask, (unsigned long long)ks_before[s].mask);
	}
	uint64_t mask_after = k_mask();
	T_CHECK(mask_after == mask_before, "blocked mask %#llx, expected %#llx", (unsigned long long)mask_after,
		(unsigned long long)mask_before);
	sigset_t pend_after;
	sigpending(&pend_after);
	for (int s = 1; s <= NSIG_K; s++)
		if (s != 32 && s != 33)
			T_CHECK(sigismember(&pend_after, s) == sigismember(&pend_before, s),
				"signal %d pending=%d, expected %d", s, sigismember(&pend_after, s),
				sigismember(&pend_before, s));
	char st_after[6][64];
	status_fields(st_after);
	static const char *const keys[6] = { "SigPnd (thread)", "ShdPnd (process)", "SigBlk", "SigIgn", "SigCgt",
					     "SigQ limit" };
	for (int i = 0; i < 6; i++)
		T_CHECK(strcmp(st_after[i], st_before[i]) == 0, "/proc/self/status %s: %s, expected %s", keys[i],
			st_after[i], st_before[i]);
	stack_t ss_after;
	T_CHECK(sigaltstack(NULL, &ss_after) == 0, "sigaltstack");
	T_CHECK(ss_after.ss_sp == ss_before.ss_sp && ss_after.ss_size == ss_before.ss_size &&
			ss_after.ss_flags == ss_before.ss_flags,
		"sigaltstack %p/%zu/%d, expected %p/%zu/%d", ss_after.ss_sp, ss_after.ss_size, ss_after.ss_flags,
		ss_before.ss_sp, ss_before.ss_size, ss_before.ss_flags);
	T_EQ("handlers run before unblocking", nhits, 0);

	/* --- deliver ---------------------------------------------------------- */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	T_EQ("handler invocations (USR1, USR2, RT 7, RT 8)", nhits, 4);
	int seen_usr1 = 0, seen_usr2 = 0, rt_idx = 0;
	int rt_vals[4] = { -1, -1, -1, -1 };
	for (int i = 0; i < nhits && i < 16; i++) {
		struct hit *h = &hits[i];
		T_CHECK(h->local >= (uintptr_t)alt && h->local < (uintptr_t)alt + ALTSZ,
			"handler for %d ran at %#lx, not on the alt stack %p..+%d", h->sig, (unsigned long)h->local,
			(void *)alt, ALTSZ);
		T_CHECK(h->pid == me, "signal %d si_pid %d, expected %d", h->sig, h->pid, me);
		if (h->sig == SIGUSR1) {
			seen_usr1++;
			T_EQ("SIGUSR1 si_code (SI_USER)", h->code, SI_USER);
			T_CHECK(sigismember(&h->mask_in_handler, SIGWINCH) &&
					sigismember(&h->mask_in_handler, SIGRTMIN + 7) &&
					sigismember(&h->mask_in_handler, SIGUSR1),
				"SIGUSR1 handler ran without its sa_mask/own signal blocked");
		} else if (h->sig == SIGUSR2) {
			seen_usr2++;
			T_EQ("SIGUSR2 si_code (SI_TKILL)", h->code, SI_TKILL);
			T_CHECK(!sigismember(&h->mask_in_handler, SIGUSR2), "SA_NODEFER: SIGUSR2 blocked in its handler");
		} else if (h->sig == SIGRT3) {
			T_EQ("SIGRTMIN+3 si_code (SI_QUEUE)", h->code, SI_QUEUE);
			T_CHECK(sigismember(&h->mask_in_handler, SIGTERM), "RT handler ran without SIGTERM in its mask");
			if (rt_idx < 4)
				rt_vals[rt_idx++] = h->value;
		} else
			T_CHECK(0, "unexpected signal %d delivered", h->sig);
	}
	T_EQ("SIGUSR1 deliveries", seen_usr1, 1);
	T_EQ("SIGUSR2 deliveries", seen_usr2, 1);
	T_EQ("SIGRTMIN+3 deliveries", rt_idx, 2);
	T_CHECK(rt_vals[0] == 7 && rt_vals[1] == 8, "SIGRTMIN+3 values in order %d, %d; expected 7, 8", rt_vals[0],
		rt_vals[1]);
	sigpending(&pend_after);
	T_CHECK(sigisemptyset(&pend_after), "signals still pending after unblocking");

	/* SA_RESETHAND: SIGUSR2 is back to SIG_DFL; the others kept their handler */
	struct sigaction cur;
	sigaction(SIGUSR2, NULL, &cur);
	T_CHECK(cur.sa_handler == SIG_DFL, "SA_RESETHAND: SIGUSR2 handler not reset");
	sigaction(SIGUSR1, NULL, &cur);
	T_CHECK(cur.sa_sigaction == h_usr1, "SIGUSR1 handler lost after delivery");

	/* signals still work end to end after restore */
	nhits = 0;
	raise(SIGUSR1);
	sigqueue(me, SIGRT3, (union sigval){ .sival_int = 99 });
	T_EQ("fresh deliveries", nhits, 2);
	T_CHECK(hits[1].sig == SIGRT3 && hits[1].value == 99, "fresh RT signal value %d", hits[1].value);
	t_finish();
}
