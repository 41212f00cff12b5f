/*
 * Logging and error reporting.
 *
 * ferry reports failures as one clear line: what failed, on which PID/fd/VMA,
 * and why.  Code deep in a module knows the details, so it records the error
 * with fail(); the first recorded error wins (later ones are usually fallout
 * of cleanup), and the command prints it once on exit.  Verbose mode (-v)
 * also prints progress and every recorded error as it happens.
 */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

#include <errno.h>
#include <string.h>
#include <sys/types.h>

extern int log_verbose;

void pr_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pr_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pr_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Also gets each warning, when set (events.c: the --json "warning" event;
 * a hook, so that log.c links alone into test programs). */
extern void (*pr_warn_hook)(const char *msg);

/* Record an error (if none is recorded yet) and return -1. */
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Same, appending ": strerror(errno)" (errno as it was at the call). */
int fail_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A dump refusing a piece of state it cannot carry exactly: records
 * "pid PID: <what>; nothing was changed".  what names the fd or object and
 * its kind.  Only for refusals made before the tree is released: dump
 * undoes everything on failure, so the processes run on as they were. */
int refuse(pid_t pid, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The recorded error, or NULL. */
const char *fail_msg(void);
void fail_clear(void);

#endif
