/*
 * Minimal unit-test support: CHECK macros that count passes and print one
 * line per failed assertion, a crash guard that runs a statement in a child
 * process first, and the final summary line.
 */
#ifndef FERRY_UNIT_H
#define FERRY_UNIT_H

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int unit_passed, unit_failed;
/* Optional context printed with each failure (e.g. the input being tried). */
static const char *unit_ctx;

static inline int __attribute__((format(printf, 4, 5))) unit_check(int ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	if (ok) {
		unit_passed++;
		return 1;
	}
	unit_failed++;
	fflush(stdout);
	fprintf(stderr, "%s:%d: FAILED: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (unit_ctx)
		fprintf(stderr, " [%s]", unit_ctx);
	fputc('\n', stderr);
	return 0;
}

#define CHECK(c) unit_check(!!(c), __FILE__, __LINE__, "%s", #c)
#define CHECK_U64(a, b)                                                                                   \
	({                                                                                                \
		uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                                          \
		unit_check(a_ == b_, __FILE__, __LINE__, "%s == %s (0x%" PRIx64 " != 0x%" PRIx64 ")", #a, \
			   #b, a_, b_);                                                                   \
	})
#define CHECK_STR(a, b)                                                                            \
	({                                                                                         \
		const char *a_ = (a), *b_ = (b);                                                   \
		unit_check(a_ && b_ && !strcmp(a_, b_), __FILE__, __LINE__, "%s == %s (\"%s\" != \"%s\")", \
			   #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");                        \
	})
#define CHECK_MEM(a, b, n) unit_check(!memcmp((a), (b), (n)), __FILE__, __LINE__, "memcmp(%s, %s, %s)", #a, #b, #n)
/* The text s (e.g. fail_msg()) exists and contains needle. */
#define CHECK_HAS(s, needle)                                                                          \
	({                                                                                            \
		const char *s_ = (s), *n_ = (needle);                                                 \
		unit_check(s_ && strstr(s_, n_), __FILE__, __LINE__, "%s mentions \"%s\" (it is: %s)", #s, \
			   n_, s_ ? s_ : "(null)");                                                   \
	})

/* Runs stmt in a forked child first.  Returns 1 (and records a failure) if it
 * crashed or hung there, so the caller can skip running it for real. */
#define CRASHES(stmt)                                        \
	({                                                   \
		pid_t p_;                                    \
		fflush(NULL);                                \
		p_ = fork();                                 \
		if (p_ == 0) {                               \
			alarm(10);                           \
			stmt;                                \
			_exit(0);                            \
		}                                            \
		unit_reap(p_, __FILE__, __LINE__, #stmt);    \
	})

static inline int unit_reap(pid_t pid, const char *file, int line, const char *what)
{
	int st = 0;
	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			perror("waitpid");
			exit(2);
		}
	if (WIFSIGNALED(st))
		return !unit_check(0, file, line, "`%s` crashed (signal %d: %s)", what, WTERMSIG(st),
				   strsignal(WTERMSIG(st)));
	return !unit_check(WIFEXITED(st) && WEXITSTATUS(st) == 0, file, line, "`%s` exited %d", what,
			   WEXITSTATUS(st));
}

static inline int unit_done(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, unit_passed, unit_failed);
	return unit_failed ? 1 : 0;
}

#endif
