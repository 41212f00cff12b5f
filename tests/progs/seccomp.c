/* seccomp - seccomp filters shared by every thread, and strict mode.
 * Run as: seccomp WORKDIR [filter|strict]
 * filter (default): the main thread installs filter A (getppid fails with
 * errno 77, with SECCOMP_FILTER_FLAG_LOG) and starts two threads, which
 * inherit it; then it installs filter B with TSYNC (getpgrp fails with
 * errno 78) on every thread.  After restore each thread finds both filters
 * at work (getppid, getpgrp), PR_GET_SECCOMP 2 and Seccomp_filters 2 in
 * /proc/thread-self/status; and the filters are still shared: a third
 * filter installed with TSYNC after restore (getsid fails with errno 79)
 * succeeds and reaches every thread.
 * strict: a thread enters strict mode (read, write, exit, sigreturn only)
 * and blocks in read on a pipe.  After restore /proc shows it in mode 1
 * (the main thread in mode 0); woken, it answers through another pipe with
 * write and leaves with exit. */
#include "common.h"
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/prctl.h>

static int install(int nr, int err, unsigned flags)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(code) / sizeof(code[0]), code };
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

#define NT 3
static volatile int go, done[NT], phase2;
static volatile int bad[NT];

static int fails_with(long nr, int err)
{
	errno = 0;
	long r = syscall(nr, 0);
	return r == -1 && errno == err;
}

static void check_self(int i, int third)
{
	char buf[64];
	if (!fails_with(SYS_getppid, 77)) { t_note("thread %d: getppid not filtered (errno %d)", i, errno); bad[i]++; }
	if (!fails_with(SYS_getpgrp, 78)) { t_note("thread %d: getpgrp not filtered (errno %d)", i, errno); bad[i]++; }
	if (third && !fails_with(SYS_getsid, 79)) { t_note("thread %d: getsid not filtered after TSYNC (errno %d)", i, errno); bad[i]++; }
	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != 2) { t_note("thread %d: PR_GET_SECCOMP is not 2", i); bad[i]++; }
	static char st[NT][8192];
	int fd = open("/proc/thread-self/status", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, st[i], sizeof st[i] - 1) : -1;
	if (fd >= 0)
		close(fd);
	st[i][n > 0 ? n : 0] = 0;
	snprintf(buf, sizeof buf, "Seccomp_filters:\t%d\n", third ? 3 : 2);
	if (!strstr(st[i], buf)) { t_note("thread %d: status lacks '%s'", i, buf); bad[i]++; }
}

static void *worker(void *arg)
{
	int i = (int)(intptr_t)arg;
	while (!go)
		t_sleep_ms(5);
	check_self(i, 0);
	done[i] = 1;
	while (!phase2)
		t_sleep_ms(5);
	if (phase2 == 1)
		check_self(i, 1);
	return NULL;
}

static int to_strict[2], from_strict[2];
static void *strict_worker(void *arg)
{
	(void)arg;
	char c;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0) < 0)
		syscall(SYS_exit, 1);
	done[1] = 1;
	if (syscall(SYS_read, to_strict[0], &c, 1) == 1)
		syscall(SYS_write, from_strict[1], "s", 1);
	syscall(SYS_exit, 0);
	return NULL;
}

static int status_seccomp(pid_t tid)
{
	char path[64], buf[4096], *p;
	snprintf(path, sizeof path, "/proc/self/task/%d/status", tid);
	if (t_read_file(path, buf, sizeof buf) <= 0 || !(p = strstr(buf, "\nSeccomp:")))
		return -1;
	return atoi(p + 9);
}

static volatile pid_t strict_tid;
static void *strict_start(void *arg)
{
	strict_tid = gettid();
	return strict_worker(arg);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	int strict = argc > 2 && !strcmp(argv[2], "strict");
	T_SETUP(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
	pthread_t th[NT];
	if (strict) {
		T_SETUP(pipe(to_strict) == 0 && pipe(from_strict) == 0);
		T_SETUP(pthread_create(&th[1], NULL, strict_start, NULL) == 0);
		while (!done[1])
			t_sleep_ms(5);
		t_ready();
		t_wait_go();
		T_EQ("strict thread: Seccomp in its status", status_seccomp(strict_tid), 1);
		T_EQ("main thread: Seccomp in its status", status_seccomp(gettid()), 0);
		char c = 0;
		T_SETUP(write(to_strict[1], "g", 1) == 1);
		T_CHECK(read(from_strict[0], &c, 1) == 1 && c == 's', "the strict thread did not answer");
		T_SETUP(pthread_join(th[1], NULL) == 0);
		t_finish();
	}
	T_SETUP(install(SYS_getppid, 77, SECCOMP_FILTER_FLAG_LOG) == 0);
	for (int i = 1; i < NT; i++)
		T_SETUP(pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i) == 0);
	T_SETUP(install(SYS_getpgrp, 78, SECCOMP_FILTER_FLAG_TSYNC) == 0);

	t_ready();
	t_wait_go();

	go = 1;
	check_self(0, 0);
	for (int i = 1; i < NT; i++)
		while (!done[i])
			t_sleep_ms(5);
	long r = install(SYS_getsid, 79, SECCOMP_FILTER_FLAG_TSYNC);
	T_CHECK(r == 0, "TSYNC after restore: %ld (%s): the threads' filters are no longer shared", r, strerror(errno));
	phase2 = r == 0 ? 1 : 2;
	if (r == 0)
		check_self(0, 1);
	for (int i = 1; i < NT; i++)
		T_SETUP(pthread_join(th[i], NULL) == 0);
	for (int i = 0; i < NT; i++)
		T_EQ("mismatches in thread", bad[i], 0);
	t_finish();
}
