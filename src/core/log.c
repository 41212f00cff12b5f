/*
 * Logging and the single recorded error (see log.h for the policy).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

int log_verbose;
void (*pr_warn_hook)(const char *msg);
static char err_buf[1024];
static int err_set;

static void vlog(const char *tag, const char *fmt, va_list ap)
{
	fprintf(stderr, "ferry: %s", tag);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void pr_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("", fmt, ap);
	va_end(ap);
}

void pr_debug(const char *fmt, ...)
{
	va_list ap;
	if (!log_verbose)
		return;
	va_start(ap, fmt);
	vlog("", fmt, ap);
	va_end(ap);
}

void pr_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("warning: ", fmt, ap);
	va_end(ap);
	if (pr_warn_hook) {
		char msg[1024];
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		pr_warn_hook(msg);
	}
}

static int record(const char *suffix, const char *fmt, va_list ap)
{
	char buf[sizeof(err_buf)];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	if (suffix && n >= 0 && (size_t)n < sizeof(buf))
		snprintf(buf + n, sizeof(buf) - n, ": %s", suffix);
	if (log_verbose)
		fprintf(stderr, "ferry: error: %s\n", buf);
	if (!err_set) {
		memcpy(err_buf, buf, sizeof(buf));
		err_set = 1;
	}
	return -1;
}

int fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	record(NULL, fmt, ap);
	va_end(ap);
	return -1;
}

int fail_errno(const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	va_start(ap, fmt);
	record(strerror(e), fmt, ap);
	va_end(ap);
	errno = e;
	return -1;
}

int refuse(pid_t pid, const char *fmt, ...)
{
	char what[sizeof(err_buf)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return fail("pid %d: %s; nothing was changed", pid, what);
}

const char *fail_msg(void)
{
	return err_set ? err_buf : NULL;
}

void fail_clear(void)
{
	err_set = 0;
	err_buf[0] = 0;
}
