/* common.h - shared helpers for ferry's checkpoint/restore test programs.
 *
 * Protocol (every program tests/progs/NAME.c, run as `tests/bin/NAME WORKDIR ...`):
 *   1. t_init(): setsid() (ferry restores sid == pid), remember WORKDIR,
 *      close inherited fds >= 3, refuse to run if WORKDIR/ready exists;
 *   2. set up the state under test, then t_ready(): WORKDIR/ready appears
 *      atomically (written as ready.tmp, renamed), it holds the pid;
 *   3. wait for the trigger: t_wait_go() polls WORKDIR/go every 10 ms with
 *      nanosleep (some programs use a FIFO or a signal instead);
 *   4. verify the whole state with T_CHECK(); t_finish() exits 0 if every
 *      check held, else 1 (every mismatch was printed to stderr).
 * Between 2 and 4 the runner dumps (source killed) and restores the process,
 * possibly several times.  stdout/stderr are WORKDIR/out (O_APPEND).
 *
 * Everything here is header-only (static inline) so each program is one file.
 */
#ifndef FERRY_TEST_COMMON_H
#define FERRY_TEST_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static const char *t_workdir;
static const char *t_prog = "test";
static int t_failures;
static int t_checks;

/* ---- checks ------------------------------------------------------------ */

/* Record a failed expectation; never aborts, so every mismatch is reported. */
#define T_CHECK(cond, ...)                                                    \
	do {                                                                  \
		t_checks++;                                                   \
		if (!(cond)) {                                                \
			t_failures++;                                         \
			fprintf(stderr, "%s: %s:%d: CHECK FAILED (%s): ",     \
				t_prog, __FILE__, __LINE__, #cond);            \
			fprintf(stderr, __VA_ARGS__);                         \
			fputc('\n', stderr);                                  \
		}                                                             \
	} while (0)

/* Equality of two integers, printing both values. */
#define T_EQ(what, got, exp)                                                  \
	T_CHECK((long long)(got) == (long long)(exp),                         \
		"%s: got %lld (0x%llx), expected %lld (0x%llx)", (what),      \
		(long long)(got), (unsigned long long)(got), (long long)(exp), \
		(unsigned long long)(exp))

/* Equality of two strings (NULL-safe). */
static inline int t_streq_(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}
static inline const char *t_nn_(const char *a)
{
	return a ? a : "(null)";
}
#define T_STREQ(what, got, exp)                                               \
	T_CHECK(t_streq_((got), (exp)), "%s: got \"%s\", expected \"%s\"",  \
		(what), t_nn_(got), t_nn_(exp))

/* A failure while setting up (before ready): report and exit at once. */
#define T_SETUP(cond)                                                         \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "%s: %s:%d: SETUP FAILED: %s: %s\n",  \
				t_prog, __FILE__, __LINE__, #cond,             \
				strerror(errno));                             \
			exit(1);                                              \
		}                                                             \
	} while (0)

static inline void t_note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", t_prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ---- paths ------------------------------------------------------------- */

/* WORKDIR/name in one of 8 rotating static buffers (no malloc). */
static inline const char *t_path(const char *name)
{
	static char bufs[8][PATH_MAX];
	static unsigned n;
	char *b = bufs[n++ % 8];
	snprintf(b, PATH_MAX, "%s/%s", t_workdir, name);
	return b;
}

/* ---- time -------------------------------------------------------------- */

static inline int64_t t_now_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline void t_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L }, rem;
	while (nanosleep(&ts, &rem) < 0 && errno == EINTR)
		ts = rem;
}

/* ---- protocol ---------------------------------------------------------- */

static inline void t_init(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s WORKDIR [args...]\n", argv[0]);
		exit(2);
	}
	t_prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	t_workdir = argv[1];
	/* unbuffered: output appears in WORKDIR/out at once, and stdio never
	 * mallocs a buffer behind a test's back */
	setvbuf(stdout, NULL, _IONBF, 0);
	setvbuf(stderr, NULL, _IONBF, 0);
	/* a deterministic fd table: only 0, 1, 2 survive from the launcher */
	for (int fd = 3; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0) {
			fprintf(stderr, "%s: note: closing inherited fd %d\n", t_prog, fd);
			close(fd);
		}
	/* setup runs once: a program started again (e.g. a "restore" that
	 * re-executed it) must not pass by redoing its setup and checks */
	char rd[PATH_MAX];
	snprintf(rd, sizeof rd, "%s/ready", t_workdir);
	if (access(rd, F_OK) == 0) {
		fprintf(stderr, "%s: %s exists: started again in a used WORKDIR\n", t_prog, rd);
		exit(1);
	}
	if (setsid() < 0 && getsid(0) != getpid()) {
		fprintf(stderr, "%s: setsid: %s\n", t_prog, strerror(errno));
		exit(1);
	}
}

/* WORKDIR/ready appears atomically, containing the pid. */
static inline void t_ready(void)
{
	char tmp[PATH_MAX], fin[PATH_MAX], buf[32];
	snprintf(tmp, sizeof tmp, "%s/ready.tmp", t_workdir);
	snprintf(fin, sizeof fin, "%s/ready", t_workdir);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	T_SETUP(fd >= 0);
	int n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
	T_SETUP(write(fd, buf, n) == n);
	T_SETUP(close(fd) == 0);
	T_SETUP(rename(tmp, fin) == 0);
}

static inline int t_go_exists(void)
{
	return access(t_path("go"), F_OK) == 0;
}

/* Poll WORKDIR/go every 10 ms.  Gives up (exit 3) if WORKDIR vanished (the
 * runner is gone) or after 20 minutes, so a stray test never lives forever. */
static inline void t_wait_go(void)
{
	char go[PATH_MAX];
	snprintf(go, sizeof go, "%s/go", t_workdir);
	for (long i = 0;; i++) {
		if (access(go, F_OK) == 0)
			return;
		if (i % 100 == 99 && access(t_workdir, F_OK) < 0 && errno == ENOENT)
			exit(3);
		if (i > 120000) {
			t_note("timed out waiting for %s", go);
			exit(3);
		}
		struct timespec ts = { 0, 10 * 1000000L };
		nanosleep(&ts, NULL);
	}
}

static inline void t_finish(void)
{
	if (t_failures) {
		fprintf(stderr, "%s: FAIL: %d of %d checks failed\n", t_prog,
			t_failures, t_checks);
		exit(1);
	}
	printf("%s: OK: %d checks passed\n", t_prog, t_checks);
	exit(0);
}

/* ---- files and /proc ---------------------------------------------------- */

/* Read a whole file (e.g. /proc/self/maps) into buf, NUL-terminated.
 * Returns the length, or -1. */
static inline ssize_t t_read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t len = 0;
	while (len + 1 < cap) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = 0;
	close(fd);
	return (ssize_t)len;
}

/* Write buf to a fresh file. */
static inline int t_write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n <= 0) {
			close(fd);
			return -1;
		}
		p += n;
		len -= n;
	}
	return close(fd);
}

/* Value of the "Key:" line of /proc/self/status, whitespace-trimmed, into out.
 * Returns 0, or -1 if not found. */
static inline int t_status_field(const char *key, char *out, size_t cap)
{
	static char buf[16384];
	if (t_read_file("/proc/self/status", buf, sizeof buf) < 0)
		return -1;
	size_t kl = strlen(key);
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, key, kl) == 0 && l[kl] == ':') {
			char *v = l + kl + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			size_t n = strcspn(v, "\n");
			if (n >= cap)
				n = cap - 1;
			memcpy(out, v, n);
			out[n] = 0;
			return 0;
		}
	}
	return -1;
}

/* The /proc/self/maps lines overlapping [lo, hi), reduced to
 * "start-end perms" (no offsets/inodes), newline-separated, into out. */
static inline void t_maps_range(uintptr_t lo, uintptr_t hi, char *out, size_t cap)
{
	static char buf[1 << 20];
	size_t o = 0;
	out[0] = 0;
	if (t_read_file("/proc/self/maps", buf, sizeof buf) < 0)
		return;
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		unsigned long s, e;
		char perms[8];
		if (sscanf(l, "%lx-%lx %7s", &s, &e, perms) != 3)
			continue;
		if (e <= lo || s >= hi)
			continue;
		int n = snprintf(out + o, cap - o, "%lx-%lx %s\n", s, e, perms);
		if (n < 0 || (size_t)n >= cap - o)
			break;
		o += n;
	}
}

/* Find the maps line whose path/name field equals name (e.g. "[vdso]");
 * returns 0 and fills start/end/perms, or -1. */
static inline int t_maps_find(const char *name, uintptr_t *start, uintptr_t *end, char perms[8])
{
	static char buf[1 << 20];
	if (t_read_file("/proc/self/maps", buf, sizeof buf) < 0)
		return -1;
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		unsigned long s, e, off, ino;
		char p[8], dev[16];
		int pos = 0;
		if (sscanf(l, "%lx-%lx %7s %lx %15s %lu %n", &s, &e, p, &off, dev, &ino, &pos) < 6 || !pos)
			continue;
		size_t n = strcspn(l + pos, "\n");
		if (n == strlen(name) && strncmp(l + pos, name, n) == 0) {
			if (start) *start = s;
			if (end) *end = e;
			if (perms) memcpy(perms, p, 8);
			return 0;
		}
	}
	return -1;
}

/* Field number `field` (1-based, as in proc(5)) of /proc/self/stat. */
static inline unsigned long long t_stat_field(int field)
{
	char buf[4096];
	if (t_read_file("/proc/self/stat", buf, sizeof buf) < 0)
		return ~0ULL;
	char *p = strrchr(buf, ')'); /* comm may contain spaces */
	if (!p)
		return ~0ULL;
	p += 2; /* now at field 3 */
	for (int f = 3; f < field; f++) {
		p = strchr(p, ' ');
		if (!p)
			return ~0ULL;
		p++;
	}
	return strtoull(p, NULL, 10);
}

/* ---- patterns ----------------------------------------------------------- */

/* A cheap, position-dependent byte pattern: different seeds give different
 * data, so swapped or shifted pages are detected. */
static inline uint8_t t_pat(uint64_t seed, uint64_t i)
{
	uint64_t x = (seed + 1) * 0x9E3779B97F4A7C15ULL ^ (i * 0xBF58476D1CE4E5B9ULL);
	x ^= x >> 31;
	x *= 0x94D049BB133111EBULL;
	x ^= x >> 29;
	return (uint8_t)x;
}

static inline void t_fill(void *p, size_t len, uint64_t seed)
{
	uint8_t *b = p;
	for (size_t i = 0; i < len; i++)
		b[i] = t_pat(seed, i);
}

/* Offset of the first byte differing from the pattern, or -1. */
static inline long t_verify(const void *p, size_t len, uint64_t seed)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < len; i++)
		if (b[i] != t_pat(seed, i))
			return (long)i;
	return -1;
}

/* Offset of the first non-zero byte, or -1. */
static inline long t_verify_zero(const void *p, size_t len)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < len; i++)
		if (b[i])
			return (long)i;
	return -1;
}

static inline uint64_t t_hash(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

/* ---- counter loop (counter, static_counter, sock_refuse) ----------------- */
#ifdef T_COUNTER /* define before including common.h to get it */

/* A counter kept in four places (.data, heap, stack frame of the loop, an
 * anonymous mapping) incremented together every ~1 ms until WORKDIR/go, with
 * CLOCK_MONOTONIC sampled each round, plus an 8 MiB .bss array whose
 * checksum is verified at the end. */
#define T_COUNTER_BIG (8u << 20)
static uint8_t t_counter_big[T_COUNTER_BIG];
static volatile uint64_t t_counter_data;

struct t_counter {
	volatile uint64_t *heap, *anon;
	uint64_t at_ready, at_go, rounds_mismatch, first_mismatch;
	uint64_t big_hash;
	int64_t max_gap_ns, went_back, t_ready_ns, t_go_ns;
};

static inline void t_counter_setup(struct t_counter *c)
{
	memset(c, 0, sizeof *c);
	c->heap = malloc(sizeof *c->heap);
	T_SETUP(c->heap != NULL);
	/* mmap without including sys/mman.h in every program */
	c->anon = (volatile uint64_t *)syscall(SYS_mmap, NULL, 4096, 3 /* PROT_READ|PROT_WRITE */,
					       0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */, -1, 0);
	T_SETUP((long)c->anon != -1);
	t_fill(t_counter_big, T_COUNTER_BIG, 4242);
	c->big_hash = t_hash(t_counter_big, T_COUNTER_BIG);
	t_counter_data = *c->heap = *c->anon = 1000;
}

/* Signals ready, then counts until WORKDIR/go exists. */
static inline void t_counter_run(struct t_counter *c)
{
	volatile uint64_t on_stack = t_counter_data;
	c->at_ready = t_counter_data;
	c->t_ready_ns = t_now_ns(CLOCK_MONOTONIC);
	t_ready();
	int64_t prev = t_now_ns(CLOCK_MONOTONIC);
	for (uint64_t i = 0;; i++) {
		t_counter_data++;
		(*c->heap)++;
		(*c->anon)++;
		on_stack++;
		if (t_counter_data != *c->heap || t_counter_data != *c->anon || t_counter_data != on_stack) {
			if (!c->rounds_mismatch++)
				c->first_mismatch = t_counter_data;
			/* resynchronise, to count every bad round */
			*c->heap = *c->anon = on_stack = t_counter_data;
		}
		int64_t now = t_now_ns(CLOCK_MONOTONIC);
		if (now < prev)
			c->went_back++;
		if (now - prev > c->max_gap_ns)
			c->max_gap_ns = now - prev;
		prev = now;
		if (i % 10 == 0 && t_go_exists())
			break;
		if (i % 1000 == 999 && access(t_workdir, F_OK) < 0 && errno == ENOENT)
			exit(3);
		struct timespec ts = { 0, 1000000L };
		nanosleep(&ts, NULL);
	}
	c->at_go = t_counter_data;
	c->t_go_ns = t_now_ns(CLOCK_MONOTONIC);
}

static inline void t_counter_verify(struct t_counter *c)
{
	T_CHECK(c->at_go >= c->at_ready + 10, "counter advanced only %llu -> %llu",
		(unsigned long long)c->at_ready, (unsigned long long)c->at_go);
	T_EQ("rounds where the 4 counter copies disagreed", c->rounds_mismatch, 0);
	if (c->rounds_mismatch)
		t_note("first disagreement at count %llu", (unsigned long long)c->first_mismatch);
	T_EQ("CLOCK_MONOTONIC went backwards (rounds)", c->went_back, 0);
	T_CHECK(c->t_go_ns > c->t_ready_ns, "no time passed between ready and go");
	uint64_t h = t_hash(t_counter_big, T_COUNTER_BIG);
	T_CHECK(h == c->big_hash, "8 MiB array checksum %#llx, expected %#llx", (unsigned long long)h,
		(unsigned long long)c->big_hash);
	long bad = t_verify(t_counter_big, T_COUNTER_BIG, 4242);
	T_CHECK(bad < 0, "8 MiB array differs at offset %ld", bad);
	t_note("counter %llu -> %llu, max gap %.3f s", (unsigned long long)c->at_ready,
	       (unsigned long long)c->at_go, c->max_gap_ns / 1e9);
}
#endif /* T_COUNTER */

#endif
