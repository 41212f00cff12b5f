/*
 * `ferry check`: tells whether this kernel and these privileges can run
 * ferry, by exercising each interface the dump and restore paths rely on
 * (ptrace regsets, pidfd_getfd, process_vm_*, pagemap, clone3 set_tid,
 * PR_SET_MM_MAP, vdso mremap, ...) against short-lived children rather than
 * by reading the kernel config, which can lie or be absent.  One line per
 * feature; the exit status is 0 when every essential feature works.
 *
 * Limits: the probes run in the caller's namespaces, cgroup and seccomp
 * context, so a pass says nothing about a target living elsewhere (another
 * pid or net namespace, a stricter LSM profile).  x86-64 only.  Every child
 * forked here is SIGKILLed and reaped before its probe returns; the probes
 * briefly create pipes, memfds and sockets but change no system state.
 */
#if !defined(__x86_64__)
#error "ferry check probes x86-64 specifics (xgetbv, NT_X86_XSTATE)"
#endif

#include <cpuid.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <asm/prctl.h>
#include <linux/capability.h>
#include <linux/inet_diag.h>
#include <linux/kcmp.h>
#include <linux/netlink.h>
#include <linux/sched.h>
#include <linux/sock_diag.h>
#include <linux/userfaultfd.h>

#include "events.h"
#include "cmds.h"

/* Which failures make ferry unusable.  Everything else only degrades it
 * (no lazy pages, no TCP, no network namespaces...), so it prints "warn". */
#define ESSENTIAL true
#define OPTIONAL  false

enum verdict { V_OK, V_WARN, V_FAIL };

static int n_fail, n_warn;

static void vsay(enum verdict v, const char *feature, const char *fmt, va_list ap)
{
	static const char *const tag[] = { "ok  ", "warn", "FAIL" };

	if (v == V_FAIL)
		n_fail++;
	else if (v == V_WARN)
		n_warn++;
	if (ev_enabled()) {
		static const char *const status[] = { "ok", "warn", "fail" };
		char detail[1024];
		vsnprintf(detail, sizeof detail, fmt, ap);
		ev_emit("check", json_pack("{s:s,s:s,s:s}", "feature", feature, "status", status[v], "detail", detail));
		return;
	}
	printf("%s %s: ", tag[v], feature);
	vprintf(fmt, ap);
	putchar('\n');
	/* Children are forked between lines; an unflushed buffer would be
	 * duplicated by any child that exits through stdio. */
	fflush(stdout);
}

__attribute__((format(printf, 3, 4)))
static void say(enum verdict v, const char *feature, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(v, feature, fmt, ap);
	va_end(ap);
}

/* A probe failed: FAIL if ferry cannot work without it, warn otherwise. */
__attribute__((format(printf, 3, 4)))
static void miss(bool essential, const char *feature, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(essential ? V_FAIL : V_WARN, feature, fmt, ap);
	va_end(ap);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* waitpid() with a deadline, so a wedged probe child cannot hang `ferry
 * check`.  __WALL because some children are ptrace-attached. */
static int wait_timeout(pid_t pid, int *status, long ms)
{
	for (long waited = 0;; waited++) {
		pid_t r = waitpid(pid, status, WNOHANG | __WALL);

		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
		if (waited >= ms) {
			errno = ETIMEDOUT;
			return -1;
		}
		sleep_ms(1);
	}
}

static void reap(pid_t pid)
{
	int st;

	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	wait_timeout(pid, &st, 5000);
}

static pid_t fork_flushed(void)
{
	fflush(NULL);
	return fork();
}

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t off = 0;

	if (fd < 0)
		return -1;
	while (off + 1 < len) {
		ssize_t n = read(fd, buf + off, len - 1 - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			close(fd);
			errno = e;
			return -1;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	buf[off] = '\0';
	close(fd);
	return (int)off;
}

static int read_long(const char *path, long *out)
{
	char buf[64], *end;

	if (read_file(path, buf, sizeof buf) < 0)
		return -1;
	errno = 0;
	*out = strtol(buf, &end, 10);
	if (errno || end == buf) {
		errno = errno ? errno : EINVAL;
		return -1;
	}
	return 0;
}

/* --- kernel, credentials ------------------------------------------------ */

static void probe_kernel(void)
{
	struct utsname u;

	if (uname(&u)) {
		say(V_WARN, "kernel", "uname failed (%s)", strerror(errno));
		return;
	}
	say(V_OK, "kernel", "%s %s %s", u.sysname, u.release, u.machine);
}

static bool cap_has(const struct __user_cap_data_struct *d, int cap)
{
	return d[cap / 32].effective & (1u << (cap % 32));
}

static void probe_caps(void)
{
	static const struct { int cap; const char *name; } caps[] = {
		{ CAP_SYS_ADMIN, "CAP_SYS_ADMIN" },
		{ CAP_SYS_PTRACE, "CAP_SYS_PTRACE" },
		{ CAP_CHECKPOINT_RESTORE, "CAP_CHECKPOINT_RESTORE" },
		{ CAP_NET_ADMIN, "CAP_NET_ADMIN" },
	};
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
	char have[160] = "", lack[160] = "", map[128];
	const char *userns = "";

	if (syscall(SYS_capget, &hdr, d)) {
		say(V_FAIL, "privileges", "capget failed (%s)", strerror(errno));
		return;
	}
	for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
		char *dst = cap_has(d, caps[i].cap) ? have : lack;

		snprintf(dst + strlen(dst), sizeof have - strlen(dst), " %s", caps[i].name);
	}
	/* Capabilities inside a user namespace only reach that namespace's
	 * resources, which is easy to mistake for full root. */
	if (read_file("/proc/self/uid_map", map, sizeof map) > 0 &&
	    !strstr(map, "4294967295"))
		userns = "; inside a user namespace, capabilities are namespace-local";

	/* The kernel accepts CAP_SYS_ADMIN wherever it asks for
	 * CAP_CHECKPOINT_RESTORE, so lacking only the latter is fine; the
	 * reverse is not (pagemap PFNs, for one, need CAP_SYS_ADMIN). */
	bool admin = cap_has(d, CAP_SYS_ADMIN);
	bool cr = cap_has(d, CAP_CHECKPOINT_RESTORE);
	bool ptr = cap_has(d, CAP_SYS_PTRACE);

	if (admin && ptr)
		say(V_OK, "privileges", "euid %u, effective%s%s%s%s", (unsigned)geteuid(), have,
		    *lack ? "; missing" : "", lack, userns);
	else if (cr && ptr)
		say(V_WARN, "privileges", "euid %u, effective%s; missing%s (partial checkpoint/restore rights)%s",
		    (unsigned)geteuid(), have, lack, userns);
	else
		say(V_FAIL, "privileges", "euid %u, missing%s (run as root)%s",
		    (unsigned)geteuid(), lack, userns);
}

/* --- the victim: one child several probes inspect ----------------------- */

#define VICTIM_PAGES 4
#define VICTIM_MAGIC "ferry"

struct victim {
	pid_t pid;
	int fd;           /* pipe read end only the victim has, holding VICTIM_MAGIC */
	int other_fd;     /* its write end: a different file, for kcmp */
	uintptr_t buf;    /* filled after fork, so the pages are the victim's own */
	size_t len;
};

static uint8_t pattern(size_t i, unsigned salt)
{
	return (uint8_t)(i * 131u + salt * 17u + (i >> 12));
}

static int victim_start(struct victim *v)
{
	int p[2];
	pid_t pid;

	memset(v, 0, sizeof *v);
	if (pipe2(p, O_CLOEXEC))
		return -1;
	pid = fork_flushed();
	if (pid < 0) {
		int e = errno;

		close(p[0]);
		close(p[1]);
		errno = e;
		return -1;
	}
	if (pid == 0) {
		struct victim me = { .pid = getpid() };
		long page = sysconf(_SC_PAGESIZE);
		int q[2];
		uint8_t *b;

		close(p[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		me.len = (size_t)page * VICTIM_PAGES;
		b = mmap(NULL, me.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (b == MAP_FAILED || pipe(q))
			_exit(1);
		for (size_t i = 0; i < me.len; i++)
			b[i] = pattern(i, 1);
		if (write(q[1], VICTIM_MAGIC, strlen(VICTIM_MAGIC)) < 0)
			_exit(1);
		me.buf = (uintptr_t)b;
		me.fd = q[0];
		me.other_fd = q[1];
		if (write(p[1], &me, sizeof me) != (ssize_t)sizeof me)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	/* The victim either reports or dies (EOF); it cannot block earlier. */
	ssize_t n;
	do
		n = read(p[0], v, sizeof *v);
	while (n < 0 && errno == EINTR);
	close(p[0]);
	if (n != (ssize_t)sizeof *v) {
		reap(pid);
		memset(v, 0, sizeof *v);
		errno = ECHILD;
		return -1;
	}
	return 0;
}

/* --- ptrace ------------------------------------------------------------- */

static size_t xstate_regset_size;

static void probe_ptrace(const struct victim *v)
{
	const char *F = "ptrace";
	static uint8_t xs[64 * 1024] __attribute__((aligned(64)));
	struct __ptrace_rseq_configuration rs;
	struct iovec iov = { xs, sizeof xs };
	char why[200] = "";
	uint64_t sigmask;
	int st, e = 0;
	long ret;

	if (ptrace(PTRACE_SEIZE, v->pid, NULL, NULL)) {
		long scope;

		e = errno;
		if (read_long("/proc/sys/kernel/yama/ptrace_scope", &scope) == 0)
			snprintf(why, sizeof why, ", yama ptrace_scope=%ld", scope);
		miss(ESSENTIAL, F, "PTRACE_SEIZE of pid %d failed (%s)%s", v->pid, strerror(e), why);
		return;
	}
	if (ptrace(PTRACE_INTERRUPT, v->pid, NULL, NULL)) {
		e = errno;
		snprintf(why, sizeof why, "PTRACE_INTERRUPT failed (%s)", strerror(e));
		goto detach;
	}
	if (wait_timeout(v->pid, &st, 2000)) {
		e = errno;
		snprintf(why, sizeof why, "waiting for the interrupt stop failed (%s)", strerror(e));
		goto detach;
	}
	if (!WIFSTOPPED(st) || (st >> 16) != PTRACE_EVENT_STOP) {
		e = EPROTO;
		snprintf(why, sizeof why, "unexpected wait status 0x%x after PTRACE_INTERRUPT", st);
		goto detach;
	}
	if (ptrace(PTRACE_GETREGSET, v->pid, (void *)(uintptr_t)NT_X86_XSTATE, &iov)) {
		e = errno;
		snprintf(why, sizeof why, "PTRACE_GETREGSET NT_X86_XSTATE failed (%s)", strerror(e));
		goto detach;
	}
	xstate_regset_size = iov.iov_len;
	ret = ptrace(PTRACE_GET_RSEQ_CONFIGURATION, v->pid, (void *)sizeof rs, &rs);
	if (ret < 0) {
		e = errno;
		snprintf(why, sizeof why, "PTRACE_GET_RSEQ_CONFIGURATION failed (%s)", strerror(e));
		goto detach;
	}
	if (ptrace(PTRACE_GETSIGMASK, v->pid, (void *)sizeof sigmask, &sigmask)) {
		e = errno;
		snprintf(why, sizeof why, "PTRACE_GETSIGMASK failed (%s)", strerror(e));
		goto detach;
	}

detach:
	if (ptrace(PTRACE_DETACH, v->pid, NULL, NULL) && !e) {
		e = errno;
		snprintf(why, sizeof why, "PTRACE_DETACH failed (%s)", strerror(e));
	}
	if (e) {
		miss(ESSENTIAL, F, "%s", why);
		return;
	}
	say(V_OK, F, "seize, interrupt, xstate regset (%zu bytes), rseq config (%s), sigmask, detach",
	    xstate_regset_size,
	    rs.rseq_abi_pointer ? "rseq registered" : "no rseq registered");
}

/* --- pidfd_getfd, kcmp -------------------------------------------------- */

/* Returns our copy of the victim's fd, or -1; kcmp compares it later. */
static int probe_pidfd(const struct victim *v)
{
	const char *F = "pidfd_getfd";
	char buf[16] = "";
	int pfd, fd;
	ssize_t n;

	pfd = (int)syscall(SYS_pidfd_open, v->pid, 0);
	if (pfd < 0) {
		miss(ESSENTIAL, F, "pidfd_open(%d) failed (%s)", v->pid, strerror(errno));
		return -1;
	}
	fd = (int)syscall(SYS_pidfd_getfd, pfd, v->fd, 0);
	if (fd < 0) {
		miss(ESSENTIAL, F, "pidfd_getfd(pid %d, fd %d) failed (%s)", v->pid, v->fd, strerror(errno));
		close(pfd);
		return -1;
	}
	close(pfd);
	/* Reading what only the victim wrote proves we got its file, not a
	 * same-numbered one of ours; non-blocking so a miss cannot hang. */
	fcntl(fd, F_SETFL, O_NONBLOCK);
	n = read(fd, buf, sizeof buf - 1);
	if (n != (ssize_t)strlen(VICTIM_MAGIC) || memcmp(buf, VICTIM_MAGIC, (size_t)n)) {
		miss(ESSENTIAL, F, "fd copied from pid %d does not hold the victim's data (%s)",
		     v->pid, n < 0 ? strerror(errno) : "short read");
		close(fd);
		return -1;
	}
	say(V_OK, F, "pidfd_open + pidfd_getfd copied fd %d of pid %d", v->fd, v->pid);
	return fd;
}

static long kcmp(pid_t a, pid_t b, int type, unsigned long x, unsigned long y)
{
	return syscall(SYS_kcmp, a, b, type, x, y);
}

static void probe_kcmp(const struct victim *v, int ourcopy)
{
	const char *F = "kcmp";
	long same, diff, cross = -2;

	same = kcmp(v->pid, v->pid, KCMP_FILE, (unsigned long)v->fd, (unsigned long)v->fd);
	if (same < 0) {
		miss(OPTIONAL, F, "kcmp(KCMP_FILE) failed (%s)", strerror(errno));
		return;
	}
	diff = kcmp(v->pid, v->pid, KCMP_FILE, (unsigned long)v->fd, (unsigned long)v->other_fd);
	if (ourcopy >= 0)
		cross = kcmp(getpid(), v->pid, KCMP_FILE, (unsigned long)ourcopy, (unsigned long)v->fd);
	if (same != 0 || diff <= 0 || (ourcopy >= 0 && cross != 0)) {
		miss(OPTIONAL, F, "KCMP_FILE gave wrong answers (same=%ld different=%ld cross=%ld)",
		     same, diff, cross);
		return;
	}
	say(V_OK, F, "KCMP_FILE tells shared from distinct files%s",
	    ourcopy >= 0 ? ", across processes too" : "");
}

/* --- process_vm_readv/writev, pagemap ----------------------------------- */

static void probe_process_vm(const struct victim *v)
{
	const char *F = "process_vm";
	uint8_t *b = malloc(v->len);
	struct iovec l = { b, v->len }, r = { (void *)v->buf, v->len };
	size_t i;
	ssize_t n;

	if (!b) {
		miss(ESSENTIAL, F, "out of memory");
		return;
	}
	n = process_vm_readv(v->pid, &l, 1, &r, 1, 0);
	if (n != (ssize_t)v->len) {
		miss(ESSENTIAL, F, "process_vm_readv of pid %d returned %zd (%s)", v->pid, n,
		     n < 0 ? strerror(errno) : "short read");
		goto out;
	}
	for (i = 0; i < v->len && b[i] == pattern(i, 1); i++)
		;
	if (i < v->len) {
		miss(ESSENTIAL, F, "process_vm_readv returned wrong data at offset %zu", i);
		goto out;
	}
	for (i = 0; i < v->len; i++)
		b[i] = pattern(i, 2);
	n = process_vm_writev(v->pid, &l, 1, &r, 1, 0);
	if (n != (ssize_t)v->len) {
		miss(ESSENTIAL, F, "process_vm_writev to pid %d returned %zd (%s)", v->pid, n,
		     n < 0 ? strerror(errno) : "short write");
		goto out;
	}
	memset(b, 0, v->len);
	n = process_vm_readv(v->pid, &l, 1, &r, 1, 0);
	for (i = 0; n == (ssize_t)v->len && i < v->len && b[i] == pattern(i, 2); i++)
		;
	if (i < v->len) {
		miss(ESSENTIAL, F, "data written with process_vm_writev did not read back");
		goto out;
	}
	say(V_OK, F, "process_vm_readv + process_vm_writev of %zu bytes round-trip", v->len);
out:
	free(b);
}

#define PM_PFN_MASK    ((UINT64_C(1) << 55) - 1)
#define PM_SOFT_DIRTY  (UINT64_C(1) << 55)
#define PM_EXCLUSIVE   (UINT64_C(1) << 56)
#define PM_PRESENT     (UINT64_C(1) << 63)

static void probe_pagemap(const struct victim *v)
{
	const char *F = "pagemap";
	long page = sysconf(_SC_PAGESIZE);
	size_t pages = v->len / (size_t)page, soft_dirty = 0;
	char path[64];
	int fd;

	snprintf(path, sizeof path, "/proc/%d/pagemap", v->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		miss(ESSENTIAL, F, "open %s failed (%s)", path, strerror(errno));
		return;
	}
	for (size_t i = 0; i < pages; i++) {
		uint64_t e;
		off_t off = (off_t)((v->buf / (uintptr_t)page + i) * sizeof e);

		if (pread(fd, &e, sizeof e, off) != (ssize_t)sizeof e) {
			miss(ESSENTIAL, F, "read of %s failed (%s)", path, strerror(errno));
			goto out;
		}
		if (!(e & PM_PRESENT)) {
			miss(ESSENTIAL, F, "a page the child wrote shows as not present (entry 0x%" PRIx64 ")", e);
			goto out;
		}
		/* The kernel zeroes PFNs for readers without CAP_SYS_ADMIN;
		 * without them shared pages cannot be told apart. */
		if (!(e & PM_PFN_MASK)) {
			miss(ESSENTIAL, F, "PFNs are hidden (Operation not permitted: needs CAP_SYS_ADMIN)");
			goto out;
		}
		if (!(e & PM_EXCLUSIVE)) {
			miss(ESSENTIAL, F, "exclusive-mapping bit 56 missing on a private page (entry 0x%" PRIx64 ")", e);
			goto out;
		}
		if (e & PM_SOFT_DIRTY)
			soft_dirty++;
	}
	say(V_OK, F, "present, PFN and exclusive bits visible; soft-dirty %s",
	    soft_dirty ? "bits set (incremental dumps possible)" : "bits never set (CONFIG_MEM_SOFT_DIRTY off?)");
out:
	close(fd);
}

/* --- clone3 with set_tid ----------------------------------------------- */

static bool pid_in_use(pid_t p)
{
	char path[32];

	snprintf(path, sizeof path, "/proc/%d", p);
	/* /proc/<tid> of a non-leader thread resolves though unlisted. */
	if (access(path, F_OK) == 0)
		return true;
	return kill(p, 0) == 0 || errno != ESRCH;
}

static void probe_clone3(void)
{
	const char *F = "clone3 set_tid";
	long last, max = 32768;

	if (read_long("/proc/sys/kernel/ns_last_pid", &last)) {
		miss(ESSENTIAL, F, "cannot read /proc/sys/kernel/ns_last_pid (%s)", strerror(errno));
		return;
	}
	read_long("/proc/sys/kernel/pid_max", &max);
	/* Far enough above ns_last_pid that ordinary forks are unlikely to
	 * take it first; EEXIST just means another try. */
	for (int attempt = 0; attempt < 8; attempt++) {
		long cand = last + 200 + attempt * 97;
		struct clone_args ca;
		pid_t want;
		long r;
		int st;

		if (cand >= max)
			cand = 300 + cand % (max > 600 ? max - 300 : 300);
		want = (pid_t)cand;
		if (pid_in_use(want))
			continue;
		memset(&ca, 0, sizeof ca);
		ca.exit_signal = SIGCHLD;
		ca.set_tid = (uintptr_t)&want;
		ca.set_tid_size = 1;
		fflush(NULL);
		r = syscall(SYS_clone3, &ca, sizeof ca);
		if (r == 0)
			_exit(0);
		if (r < 0 && errno == EEXIST)
			continue;
		if (r < 0) {
			miss(ESSENTIAL, F, "clone3 with set_tid=%d failed (%s)", want, strerror(errno));
			return;
		}
		if (wait_timeout((pid_t)r, &st, 2000))
			reap((pid_t)r);
		if (r != want) {
			miss(ESSENTIAL, F, "asked for pid %d, got %ld", want, r);
			return;
		}
		say(V_OK, F, "child created with chosen pid %d (ns_last_pid was %ld)", want, last);
		return;
	}
	miss(ESSENTIAL, F, "no free pid found or every try raced (File exists)");
}

/* --- probes that must run in a throwaway child ------------------------- */

typedef int (*child_fn)(char *msg, size_t len);

/* Runs fn in a forked child, because these probes rewrite the child's own
 * mm; returns fn's result (0 = worked) and its explanation in msg. */
static int in_child(child_fn fn, char *msg, size_t len)
{
	int p[2], st;
	pid_t pid;
	ssize_t n;

	if (pipe2(p, O_CLOEXEC)) {
		snprintf(msg, len, "pipe failed (%s)", strerror(errno));
		return -1;
	}
	pid = fork_flushed();
	if (pid < 0) {
		snprintf(msg, len, "fork failed (%s)", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		char m[256] = "";
		int r;

		close(p[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		r = fn(m, sizeof m);
		if (write(p[1], m, strlen(m)) < 0)
			r = r ? r : 1;
		_exit(r > 0 && r < 256 ? r : (r ? 255 : 0));
	}
	close(p[1]);
	if (wait_timeout(pid, &st, 5000)) {
		reap(pid);
		close(p[0]);
		snprintf(msg, len, "probe child did not finish (%s)", strerror(ETIMEDOUT));
		return -1;
	}
	/* The child has exited, so its short message is all in the pipe. */
	n = read(p[0], msg, len - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(p[0]);
	if (WIFSIGNALED(st)) {
		snprintf(msg, len, "probe child killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
		return -1;
	}
	if (!*msg)
		snprintf(msg, len, "probe child exited %d without explanation", WEXITSTATUS(st));
	return WEXITSTATUS(st);
}

static int mm_map_child(char *msg, size_t len)
{
	static char stat[4096];
	static uint64_t auxv[256];
	unsigned long long f[64] = { 0 };
	struct prctl_mm_map m;
	char *p;
	int n, fd, e;

	if (read_file("/proc/self/stat", stat, sizeof stat) < 0 || !(p = strrchr(stat, ')'))) {
		e = errno ? errno : EINVAL;
		snprintf(msg, len, "cannot read /proc/self/stat (%s)", strerror(e));
		return e;
	}
	/* Fields after "comm)" start at 3; non-numeric ones parse as 0. */
	p++;
	for (int i = 3; i < 64 && *p; i++) {
		while (*p == ' ')
			p++;
		f[i] = strtoull(p, NULL, 10);
		p = strchr(p, ' ');
		if (!p)
			break;
	}
	n = read_file("/proc/self/auxv", (char *)auxv, sizeof auxv);
	if (n <= 0) {
		e = errno ? errno : EINVAL;
		snprintf(msg, len, "cannot read /proc/self/auxv (%s)", strerror(e));
		return e;
	}
	memset(&m, 0, sizeof m);
	m.start_code = f[26];
	m.end_code = f[27];
	m.start_stack = f[28];
	m.start_data = f[45];
	m.end_data = f[46];
	m.start_brk = f[47];
	m.arg_start = f[48];
	m.arg_end = f[49];
	m.env_start = f[50];
	m.env_end = f[51];
	m.brk = (uint64_t)syscall(SYS_brk, 0);
	m.auxv = (__u64 *)auxv;
	m.auxv_size = (__u32)(n / sizeof(uint64_t) * sizeof(uint64_t));
	m.exe_fd = (__u32)-1;
	/* Re-installing the child's own layout exercises the same kernel
	 * validation a restore goes through, without harming anything. */
	if (prctl(PR_SET_MM, PR_SET_MM_MAP, &m, sizeof m, 0)) {
		e = errno;
		snprintf(msg, len, "PR_SET_MM_MAP with the child's own layout failed (%s)", strerror(e));
		return e;
	}
	/* Restore also points /proc/PID/exe at the original binary. */
	fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(msg, len, "PR_SET_MM_MAP ok; cannot open /proc/self/exe to test exe_fd (%s)",
			 strerror(errno));
		return 0;
	}
	m.exe_fd = (__u32)fd;
	if (prctl(PR_SET_MM, PR_SET_MM_MAP, &m, sizeof m, 0) == 0) {
		snprintf(msg, len, "PR_SET_MM_MAP (size %zu) with auxv and exe_fd accepted", sizeof m);
		return 0;
	}
	e = errno;
	/* EBUSY is the kernel's last check, made after the capability and
	 * file checks passed: the old exe is still mapped, as it must be
	 * here (a restorer unmaps it first). */
	if (e == EBUSY) {
		snprintf(msg, len, "PR_SET_MM_MAP (size %zu) with auxv accepted; exe_fd passed the permission "
			 "checks (EBUSY only because the probe's binary is mapped)", sizeof m);
		return 0;
	}
	snprintf(msg, len, "PR_SET_MM_MAP works but replacing exe_fd failed (%s)", strerror(e));
	return e;
}

static void probe_mm_map(void)
{
	const char *F = "PR_SET_MM_MAP";
	unsigned int size = 0;
	char msg[256];

	if (prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE, &size, 0, 0)) {
		int e = errno;

		miss(ESSENTIAL, F, "PR_SET_MM_MAP_SIZE failed (%s)%s", strerror(e),
		     e == EINVAL ? "; kernel built without CONFIG_CHECKPOINT_RESTORE" : "");
		return;
	}
	if (size != sizeof(struct prctl_mm_map)) {
		miss(ESSENTIAL, F, "kernel expects a %u-byte prctl_mm_map, ferry was built with %zu",
		     size, sizeof(struct prctl_mm_map));
		return;
	}
	if (in_child(mm_map_child, msg, sizeof msg))
		miss(ESSENTIAL, F, "%s", msg);
	else
		say(V_OK, F, "%s", msg);
}

struct span { uintptr_t lo, hi; };

static bool find_mapping(const char *name, struct span *s)
{
	char line[512];
	bool found = false;
	FILE *f = fopen("/proc/self/maps", "re");

	if (!f)
		return false;
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		char *nm = strchr(line, '[');

		if (!nm || strncmp(nm, name, strlen(name)) || nm[strlen(name)] != '\n')
			continue;
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2) {
			s->lo = lo;
			s->hi = hi;
			found = true;
			break;
		}
	}
	fclose(f);
	return found;
}

/* The child must not use the vdso (time functions) once it moved. */
static int vdso_child(char *msg, size_t len)
{
	static const char *const names[] = { "[vvar]", "[vvar_vclock]", "[vdso]" };
	struct span s[3], block = { UINTPTR_MAX, 0 };
	bool have[3];
	char stayed[96] = "";
	uint8_t *dst;

	for (int i = 0; i < 3; i++) {
		have[i] = find_mapping(names[i], &s[i]);
		if (have[i]) {
			block.lo = s[i].lo < block.lo ? s[i].lo : block.lo;
			block.hi = s[i].hi > block.hi ? s[i].hi : block.hi;
		}
	}
	if (!have[2]) {
		snprintf(msg, len, "no [vdso] mapping (booted with vdso=0?)");
		return ENOENT;
	}
	/* Keep the vvar pages at the same offset from the vdso: its code
	 * finds them PC-relative, as a restored process's vdso will. */
	dst = mmap(NULL, block.hi - block.lo, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (dst == MAP_FAILED) {
		int e = errno;

		snprintf(msg, len, "cannot reserve a destination (%s)", strerror(e));
		return e;
	}
	for (int i = 2; i >= 0; i--) {
		size_t sz;
		void *to, *r;

		if (!have[i])
			continue;
		sz = s[i].hi - s[i].lo;
		to = dst + (s[i].lo - block.lo);
		r = mremap((void *)s[i].lo, sz, sz, MREMAP_MAYMOVE | MREMAP_FIXED, to);
		if (r == MAP_FAILED && i == 2) {
			int e = errno;

			snprintf(msg, len, "mremap of [vdso] failed (%s)", strerror(e));
			return e;
		}
		if (r == MAP_FAILED)
			snprintf(stayed + strlen(stayed), sizeof stayed - strlen(stayed), "; %s did not move (%s)",
				 names[i], strerror(errno));
	}
	struct span now;
	if (!find_mapping("[vdso]", &now) || now.lo != (uintptr_t)dst + (s[2].lo - block.lo)) {
		snprintf(msg, len, "mremap of [vdso] returned but /proc/self/maps shows it elsewhere");
		return EPROTO;
	}
	snprintf(msg, len, "[vdso] (%zu bytes) moved in a child%s%s", s[2].hi - s[2].lo,
		 have[0] || have[1] ? " together with its vvar pages" : "", stayed);
	return 0;
}

static void probe_vdso(void)
{
	char msg[256];

	if (in_child(vdso_child, msg, sizeof msg))
		miss(ESSENTIAL, "mremap vdso", "%s", msg);
	else
		say(strstr(msg, "did not move") ? V_WARN : V_OK, "mremap vdso", "%s", msg);
}

/* --- memfd, userfaultfd ------------------------------------------------- */

static void probe_memfd(void)
{
	const char *F = "memfd_create";
	long page = sysconf(_SC_PAGESIZE);
	int fd = memfd_create("ferry-check", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	void *p;

	if (fd < 0) {
		miss(OPTIONAL, F, "memfd_create failed (%s)", strerror(errno));
		return;
	}
	if (ftruncate(fd, page)) {
		miss(OPTIONAL, F, "ftruncate of a memfd failed (%s)", strerror(errno));
		close(fd);
		return;
	}
	p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		miss(OPTIONAL, F, "mmap of a memfd failed (%s)", strerror(errno));
		close(fd);
		return;
	}
	memset(p, 0x5a, (size_t)page);
	munmap(p, (size_t)page);
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW))
		say(V_OK, F, "memfd works, sealing failed (%s)", strerror(errno));
	else
		say(V_OK, F, "created, sized, mapped and sealed");
	close(fd);
}

static void probe_userfaultfd(void)
{
	const char *F = "userfaultfd";
	struct uffdio_api api = { .api = UFFD_API };
	const char *via = "syscall";
	int fd, e;

	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		int dev;

		e = errno;
		dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
		if (dev >= 0) {
			fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
			close(dev);
			via = "/dev/userfaultfd";
		}
		if (fd < 0) {
			miss(OPTIONAL, F, "userfaultfd failed (%s); lazy restore unavailable", strerror(e));
			return;
		}
	}
	if (ioctl(fd, UFFDIO_API, &api)) {
		miss(OPTIONAL, F, "UFFDIO_API handshake failed (%s); lazy restore unavailable", strerror(errno));
		close(fd);
		return;
	}
	say(V_OK, F, "via %s, features 0x%llx", via, (unsigned long long)api.features);
	close(fd);
}

/* --- networking -------------------------------------------------------- */

static void probe_sock_diag(void)
{
	const char *F = "sock_diag";
	struct {
		struct nlmsghdr nh;
		struct inet_diag_req_v2 r;
	} req;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct timeval tv = { 2, 0 };
	static char buf[32768] __attribute__((aligned(NLMSG_ALIGNTO)));
	int fd, socks = 0;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0) {
		miss(OPTIONAL, F, "NETLINK_SOCK_DIAG socket failed (%s); sockets cannot be dumped", strerror(errno));
		return;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	memset(&req, 0, sizeof req);
	req.nh.nlmsg_len = sizeof req;
	req.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nh.nlmsg_seq = 1;
	req.r.sdiag_family = AF_INET;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = ~0u;
	if (sendto(fd, &req, sizeof req, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
		miss(OPTIONAL, F, "sending the inet_diag request failed (%s)", strerror(errno));
		goto out;
	}
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		struct nlmsghdr *h;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			miss(OPTIONAL, F, "inet_diag dump ended without NLMSG_DONE (%s)",
			     n < 0 ? strerror(errno) : "EOF");
			goto out;
		}
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				int err = h->nlmsg_len >= NLMSG_LENGTH(sizeof(int)) ? *(int *)NLMSG_DATA(h) : 0;

				if (err < 0)
					miss(OPTIONAL, F, "inet_diag dump failed (%s)", strerror(-err));
				else
					say(V_OK, F, "inet_diag TCP dump completed (%d socket%s)", socks, socks == 1 ? "" : "s");
				goto out;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *ne = NLMSG_DATA(h);

				miss(OPTIONAL, F, "inet_diag dump refused (%s); inet_diag/tcp_diag module missing?",
				     strerror(-ne->error));
				goto out;
			}
			socks++;
		}
	}
out:
	close(fd);
}

static void probe_tcp_repair(void)
{
	const char *F = "tcp repair";
	int one = 1, zero = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		miss(OPTIONAL, F, "AF_INET socket failed (%s)", strerror(errno));
		return;
	}
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &one, sizeof one))
		miss(OPTIONAL, F, "setsockopt TCP_REPAIR failed (%s); established TCP connections cannot be dumped",
		     strerror(errno));
	else if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &zero, sizeof zero))
		miss(OPTIONAL, F, "leaving TCP repair mode failed (%s)", strerror(errno));
	else
		say(V_OK, F, "TCP_REPAIR can be switched on and off");
	close(fd);
}

static bool find_in_path(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH");
	char *copy, *dir, *save = NULL;
	bool found = false;

	if (!path || !*path)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	copy = strdup(path);
	if (!copy)
		return false;
	for (dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		snprintf(out, len, "%s/%s", *dir ? dir : ".", name);
		if (access(out, X_OK) == 0) {
			found = true;
			break;
		}
	}
	free(copy);
	return found;
}

static void probe_nft(void)
{
	const char *F = "nftables";
	char path[PATH_MAX], out[256] = "";
	size_t got = 0;
	int p[2], st;
	pid_t pid;

	if (!find_in_path("nft", path, sizeof path)) {
		miss(OPTIONAL, F, "nft not found in PATH; network locking during dump unavailable");
		return;
	}
	if (pipe2(p, O_CLOEXEC)) {
		miss(OPTIONAL, F, "pipe failed (%s)", strerror(errno));
		return;
	}
	pid = fork_flushed();
	if (pid < 0) {
		miss(OPTIONAL, F, "fork failed (%s)", strerror(errno));
		close(p[0]);
		close(p[1]);
		return;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		dup2(devnull, 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		execl(path, "nft", "--version", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	/* Bounded read: a misbehaving nft must not hang the check. */
	for (;;) {
		struct pollfd pfd = { p[0], POLLIN, 0 };
		ssize_t n;

		if (poll(&pfd, 1, 3000) <= 0)
			break;
		n = read(p[0], out + got, sizeof out - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof out - 1)
			break;
	}
	close(p[0]);
	out[got] = '\0';
	out[strcspn(out, "\n")] = '\0';
	if (wait_timeout(pid, &st, 3000)) {
		reap(pid);
		miss(OPTIONAL, F, "%s --version did not finish (%s)", path, strerror(ETIMEDOUT));
		return;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		miss(OPTIONAL, F, "%s --version failed (status 0x%x): %s", path, st, out);
	else
		say(V_OK, F, "%s (%s)", out, path);
}

/* --- xsave -------------------------------------------------------------- */

static void probe_xsave(void)
{
	static const struct { uint64_t mask; const char *name; } groups[] = {
		{ 1ull << 0, "x87" },
		{ 1ull << 1, "SSE" },
		{ 1ull << 2, "AVX" },
		{ 3ull << 3, "MPX" },
		{ 7ull << 5, "AVX-512" },
		{ 1ull << 9, "PKRU" },
		{ 1ull << 11, "CET_U" },
		{ 3ull << 17, "AMX" },
		{ 1ull << 19, "APX" },
	};
	unsigned a, b, c, d;
	uint32_t lo, hi;
	uint64_t xcr0, known = 0, supp = 0, perm = 0;
	char names[256] = "", extra[160] = "";

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) {
		say(V_WARN, "xsave", "XSAVE not enabled by the OS; only legacy FPU state is handled");
		return;
	}
	/* xgetbv faults unless OSXSAVE is set, hence the check above. */
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	xcr0 = (uint64_t)hi << 32 | lo;
	for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
		uint64_t m = groups[i].mask;

		known |= m;
		if ((xcr0 & m) == 0)
			continue;
		snprintf(names + strlen(names), sizeof names - strlen(names), " %s%s", groups[i].name,
			 (xcr0 & m) == m ? "" : "(partial)");
	}
	for (int bit = 0; bit < 64; bit++)
		if ((xcr0 & ~known) >> bit & 1)
			snprintf(names + strlen(names), sizeof names - strlen(names), " bit%d", bit);
	__get_cpuid_count(0xd, 0, &a, &b, &c, &d);
	/* AMX tile data is permission-gated per process; a restore must
	 * re-request it before the tile state can be loaded. */
	if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_SUPP, &supp) == 0 &&
	    syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &perm) == 0 && (supp & ~perm))
		snprintf(extra, sizeof extra, "; features 0x%" PRIx64 " need ARCH_REQ_XCOMP_PERM", supp & ~perm);
	say(V_OK, "xsave", "XCR0=0x%" PRIx64 " (%s), xsave area %u bytes, ptrace regset %zu bytes%s",
	    xcr0, names + 1, b, xstate_regset_size, extra);
}

/* --- command ------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ferry check [--json] [--help]\n"
		"\n"
		"Probes whether this kernel and these privileges support ferry and prints\n"
		"one line per feature: \"ok\", \"warn\" (optional feature missing) or \"FAIL\"\n"
		"(ferry cannot work).  Exit status: 0 if every essential feature works,\n"
		"1 if one is missing, 2 on bad usage.\n"
		"  --json   one JSON object per line instead: a \"check\" event per feature\n"
		"           (feature, status ok/warn/fail, detail), then a \"result\"\n");
}

int cmd_check(int argc, char **argv)
{
	struct victim v;
	int ourcopy = -1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--json")) {
			ev_set_sink(ev_stdout, NULL, "check");
			continue;
		}
		fprintf(stderr, "ferry check: unexpected argument '%s'\n", argv[i]);
		usage(stderr);
		return 2;
	}
	n_fail = n_warn = 0;

	probe_kernel();
	probe_caps();
	if (victim_start(&v) == 0) {
		probe_ptrace(&v);
		ourcopy = probe_pidfd(&v);
		probe_process_vm(&v);
		probe_pagemap(&v);
		probe_kcmp(&v, ourcopy);
		if (ourcopy >= 0)
			close(ourcopy);
		reap(v.pid);
	} else {
		const char *why = strerror(errno);

		miss(ESSENTIAL, "ptrace", "cannot start a probe child (%s)", why);
		miss(ESSENTIAL, "pidfd_getfd", "cannot start a probe child (%s)", why);
		miss(ESSENTIAL, "process_vm", "cannot start a probe child (%s)", why);
		miss(ESSENTIAL, "pagemap", "cannot start a probe child (%s)", why);
		miss(OPTIONAL, "kcmp", "cannot start a probe child (%s)", why);
	}
	probe_clone3();
	probe_mm_map();
	probe_vdso();
	probe_memfd();
	probe_userfaultfd();
	probe_sock_diag();
	probe_tcp_repair();
	probe_nft();
	probe_xsave();

	if (ev_enabled())
		ev_emit("result", json_pack("{s:b,s:i,s:i}", "ok", !n_fail, "missing", n_fail, "warnings", n_warn));
	else if (n_fail)
		printf("ferry check: %d essential feature%s missing, %d warning%s\n",
		       n_fail, n_fail == 1 ? "" : "s", n_warn, n_warn == 1 ? "" : "s");
	else
		printf("ferry check: all essential features present, %d warning%s\n",
		       n_warn, n_warn == 1 ? "" : "s");
	fflush(stdout);
	return n_fail ? 1 : 0;
}
