/* thread_state - per-thread kernel state glibc relies on.
 * Covers: rseq registration (glibc's __rseq_size > 0; after restore the
 * kernel still has exactly glibc's area/length/signature registered: a
 * second rseq() registration with the same arguments fails with EBUSY; the
 * area's cpu_id is a valid CPU and tracks the CPU (matches getcpu()) and
 * sched_getcpu() works); get_robust_list() head/len unchanged;
 * PR_GET_TID_ADDRESS (set_tid_address) unchanged; gettid() == getpid() and
 * glibc's cached tid works (pthread_kill(pthread_self())); the FS base
 * (thread pointer, ARCH_GET_FS) and GS base unchanged, %fs:0 points to
 * itself; __thread variables (initialised and zero-initialised TLS) intact.
 * Two more threads (not the main one: each thread has its own) check their
 * own rseq registration (EBUSY on re-registering glibc's area, cpu_id
 * valid), robust list head/len, clear_child_tid address (glibc's tid field
 * of the thread, holding its tid) and FS base after restore. */
#include "common.h"
#include <asm/prctl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/rseq.h>

#ifndef RSEQ_SIG
#define RSEQ_SIG 0x53053053
#endif

static __thread int tls_init[64] = { 1, 2, 3, 4, 5, 6, 7, 8 };
static __thread uint64_t tls_zero[512];
static __thread char tls_str[32] = "thread-local";
static volatile int usr1_hits;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_hits++;
}

static struct rseq *rseq_area(void)
{
	return (struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
}

/* 0 = registered exactly like that (EBUSY), else errno (0 if it got
 * registered now, i.e. was not registered). */
static int rseq_probe(uint32_t len)
{
	long r = syscall(SYS_rseq, rseq_area(), len, 0, RSEQ_SIG);
	if (r == 0)
		return -1; /* was not registered: now it is */
	return errno == EBUSY ? 0 : errno;
}

static uint64_t arch_get(int code)
{
	unsigned long v = 0;
	if (syscall(SYS_arch_prctl, code, &v) < 0)
		return ~0ULL;
	return v;
}

static int sys_getcpu(void)
{
	unsigned cpu = ~0u;
	if (syscall(SYS_getcpu, &cpu, NULL, NULL) < 0)
		return -1;
	return (int)cpu;
}

/* the per-thread kernel state of a thread other than the main one */
#define NOTHER 2
static pthread_mutex_t check_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t main_rlen;
static int others_set; /* threads that have read their state */

static void *other(void *arg)
{
	int idx = (int)(intptr_t)arg;
	void *rh = NULL, *rh1 = NULL;
	size_t rl = 0, rl1 = 0;
	int *ta = NULL, *ta1 = NULL;
	T_SETUP(syscall(SYS_get_robust_list, 0, &rh, &rl) == 0 && rh != NULL);
	T_SETUP(prctl(PR_GET_TID_ADDRESS, &ta) == 0 && ta != NULL);
	T_SETUP(rseq_probe(main_rlen) == 0);
	uint64_t fs = arch_get(ARCH_GET_FS);
	pid_t tid = gettid();
	__atomic_add_fetch(&others_set, 1, __ATOMIC_SEQ_CST);
	t_wait_go();
	int pr = rseq_probe(main_rlen);
	int32_t cpu_id = (int32_t)rseq_area()->cpu_id;
	int ok_rl = syscall(SYS_get_robust_list, 0, &rh1, &rl1) == 0;
	int ok_ta = prctl(PR_GET_TID_ADDRESS, &ta1) == 0;
	pthread_mutex_lock(&check_lock); /* T_CHECK counts without atomics */
	T_CHECK(pr == 0, "thread %d: rseq: glibc's area (len %u) is not registered after restore (%s)", idx,
		main_rlen, pr < 0 ? "re-registration succeeded" : strerror(pr));
	T_CHECK(cpu_id >= 0, "thread %d: rseq cpu_id %d", idx, cpu_id);
	T_CHECK(ok_rl && rh1 == rh && rl1 == rl, "thread %d: robust list %p/%zu, expected %p/%zu", idx, rh1, rl1,
		rh, rl);
	T_CHECK(ok_ta && ta1 == ta, "thread %d: clear_child_tid address %p, expected %p", idx, (void *)ta1,
		(void *)ta);
	T_CHECK(!ta1 || *ta1 == tid, "thread %d: *clear_child_tid %d, expected its tid %d", idx, ta1 ? *ta1 : 0,
		tid);
	T_CHECK(arch_get(ARCH_GET_FS) == fs, "thread %d: FS base changed", idx);
	pthread_mutex_unlock(&check_lock);
	return NULL;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);

	for (int i = 0; i < 64; i++)
		tls_init[i] = i * 31 + 7;
	for (int i = 0; i < 512; i++)
		tls_zero[i] = (uint64_t)i * 0x100000001ULL;
	strcpy(tls_str, "tls-before-dump");

	T_SETUP(__rseq_size > 0);
	/* find the registration length glibc used (EBUSY only on exact match) */
	uint32_t rlen = 0;
	const uint32_t lens[] = { __rseq_size, 32, sizeof(struct rseq) };
	for (size_t i = 0; i < 3 && !rlen; i++)
		if (rseq_probe(lens[i]) == 0)
			rlen = lens[i];
	T_SETUP(rlen != 0);
	T_SETUP((int32_t)rseq_area()->cpu_id >= 0);
	main_rlen = rlen;
	pthread_t others[NOTHER];
	for (int i = 0; i < NOTHER; i++)
		T_SETUP(pthread_create(&others[i], NULL, other, (void *)(intptr_t)(i + 1)) == 0);

	void *robust_head = NULL;
	size_t robust_len = 0;
	T_SETUP(syscall(SYS_get_robust_list, 0, &robust_head, &robust_len) == 0);
	T_SETUP(robust_head != NULL);
	int *tid_addr = NULL;
	int have_tid_addr = prctl(PR_GET_TID_ADDRESS, &tid_addr) == 0;
	uint64_t fs = arch_get(ARCH_GET_FS), gs = arch_get(ARCH_GET_GS);
	T_SETUP(fs == (uintptr_t)__builtin_thread_pointer());
	uintptr_t tp = (uintptr_t)__builtin_thread_pointer();
	pthread_t self = pthread_self();

	struct sigaction sa = { .sa_handler = on_usr1 };
	sigemptyset(&sa.sa_mask);
	T_SETUP(sigaction(SIGUSR1, &sa, NULL) == 0);

	while (__atomic_load_n(&others_set, __ATOMIC_SEQ_CST) < NOTHER)
		t_sleep_ms(1);
	t_ready();
	t_wait_go();
	for (int i = 0; i < NOTHER; i++)
		T_SETUP(pthread_join(others[i], NULL) == 0);

	/* --- verify ------------------------------------------------------- */
	T_EQ("FS base (ARCH_GET_FS)", arch_get(ARCH_GET_FS), fs);
	T_EQ("GS base (ARCH_GET_GS)", arch_get(ARCH_GET_GS), gs);
	T_EQ("thread pointer", (uintptr_t)__builtin_thread_pointer(), tp);
	uintptr_t fs0;
	__asm__ volatile("mov %%fs:0, %0" : "=r"(fs0));
	T_EQ("%fs:0 self pointer", fs0, tp);
	T_CHECK(pthread_equal(pthread_self(), self), "pthread_self changed");

	int pr = rseq_probe(rlen);
	T_CHECK(pr == 0, "rseq: glibc's area (len %u) is not registered after restore (%s)", rlen,
		pr < 0 ? "re-registration succeeded" : strerror(pr));
	int32_t cpu_id = (int32_t)rseq_area()->cpu_id;
	T_CHECK(cpu_id >= 0 && cpu_id < ncpu, "rseq cpu_id %d not a valid cpu (ncpu %ld)", cpu_id, ncpu);
	int sc = sched_getcpu();
	T_CHECK(sc >= 0 && sc < ncpu, "sched_getcpu() = %d", sc);
	/* the kernel keeps cpu_id current: it matches getcpu() (retry: we may
	 * migrate between the two reads) */
	int match = 0;
	for (int i = 0; i < 200 && !match; i++) {
		int a = sys_getcpu();
		int b = (int32_t)rseq_area()->cpu_id;
		int c = sys_getcpu();
		match = a == b && b == c;
		if (!match)
			sched_yield();
	}
	T_CHECK(match, "rseq cpu_id never matched getcpu()");

	void *rh = NULL;
	size_t rl = 0;
	T_CHECK(syscall(SYS_get_robust_list, 0, &rh, &rl) == 0, "get_robust_list: %s", strerror(errno));
	T_CHECK(rh == robust_head, "robust list head %p, expected %p", rh, robust_head);
	T_EQ("robust list len", rl, robust_len);
	if (have_tid_addr) {
		int *ta = NULL;
		T_CHECK(prctl(PR_GET_TID_ADDRESS, &ta) == 0, "PR_GET_TID_ADDRESS: %s", strerror(errno));
		T_CHECK(ta == tid_addr, "clear_child_tid address %p, expected %p", (void *)ta, (void *)tid_addr);
		if (ta)
			T_EQ("*clear_child_tid", *ta, getpid());
	} else
		T_CHECK(0, "PR_GET_TID_ADDRESS unavailable (a kernel without CONFIG_CHECKPOINT_RESTORE, which ferry needs)");

	T_EQ("gettid() == getpid()", gettid(), getpid());
	T_EQ("raw gettid", syscall(SYS_gettid), getpid());
	usr1_hits = 0;
	T_EQ("pthread_kill(self)", pthread_kill(pthread_self(), SIGUSR1), 0);
	T_EQ("SIGUSR1 via pthread_kill delivered", usr1_hits, 1);

	int bad = 0;
	for (int i = 0; i < 64; i++)
		bad += tls_init[i] != i * 31 + 7;
	for (int i = 0; i < 512; i++)
		bad += tls_zero[i] != (uint64_t)i * 0x100000001ULL;
	T_EQ("TLS words wrong", bad, 0);
	T_STREQ("TLS string", tls_str, "tls-before-dump");
	t_finish();
}
