/*
 * libferry: checkpoint/restore and live migration of Linux process trees,
 * as a C library (the `ferry` command is a client of it).  Link with
 * `pkg-config --cflags --libs ferry`.
 *
 * Each call does what the command of the same name does, in the calling
 * process, which must be root (ptrace, CAP_SYS_ADMIN, CAP_NET_ADMIN).
 * Options are a structure: zero it, then set what you need (a zero field
 * means the command's default).  A call returns FERRY_OK or an error code,
 * and fills *err (when not NULL) with the one-line message the command
 * prints and, when the message names them, the pid and fd it is about.
 * Progress comes through a callback: each event is one JSON object (the
 * same objects `--json` prints, see ferry(8)) with its kind, bytes and
 * pages split out for convenience.
 *
 * Limits: calls are not thread-safe (ferry keeps one recorded error and
 * ptraces from the calling thread); the command's messages still go to
 * stderr; serve runs the restore as `ferry restore` from FERRY_PATH (the
 * installed binary) in a child.
 */
#ifndef FERRY_H
#define FERRY_H

#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FERRY_API_VERSION 1

enum ferry_status {
	FERRY_OK = 0,
	FERRY_ERR_FAILED = 1,	/* it failed; err->message says what and why */
	FERRY_ERR_USAGE = 2,	/* the options are wrong */
	FERRY_ERR_REFUSED = 3,	/* dump/migrate refused state it cannot carry exactly: nothing was changed */
};

struct ferry_error {
	int code;		/* the enum ferry_status returned */
	char message[1024];	/* one line, "" on success */
	pid_t pid;		/* the process the message names, or 0 */
	int fd;			/* the file descriptor it names, or -1 */
};

struct ferry_event {
	const char *type;	/* "started", "progress", "frozen", "sent", "restored", "result", "error", ... */
	const char *json;	/* the whole event, one JSON object */
	uint64_t bytes;		/* progress: bytes so far (0 for other kinds) */
	uint64_t pages;		/* progress: memory pages so far */
};

typedef void (*ferry_progress_fn)(const struct ferry_event *ev, void *arg);

struct ferry_dump_opts {
	pid_t pid;			/* root of the tree */
	const char *dir;		/* image directory */
	int leave_running;		/* resume it instead of killing it */
	int tcp_established;		/* preserve established TCP connections */
	int tcp_close;			/* break them */
	double drain_timeout;		/* seconds; < 0 resets at once, 0 = default (2) */
	int shell_job;
	int verbose;
	ferry_progress_fn progress;
	void *progress_arg;
};

struct ferry_restore_opts {
	const char *dir;
	int detach;			/* return once it runs (else wait for the root: *exit_status) */
	const char *pidfile;
	const char *const *ip_map;	/* "OLD=NEW" strings, NULL-terminated, or NULL */
	const char *netns;		/* network namespace path, or NULL */
	int tcp_close;
	int shell_job;
	int verbose;
	ferry_progress_fn progress;
	void *progress_arg;
};

struct ferry_migrate_opts {
	pid_t pid;
	const char *to;			/* HOST:PORT of a ferry serve */
	const char *key_file;
	const char *const *ip_map;	/* "OLD=NEW" strings, NULL-terminated, or NULL */
	int ip_map_auto;
	int tcp_established;
	int tcp_close;
	int no_pre_copy;
	int shell_job;
	int timeout;			/* seconds without progress (0 = 15) */
	int restore_timeout;		/* seconds (0 = 600) */
	const char *dest_addr;		/* ADDR:PORT behind a relay, or NULL */
	double drain_timeout;		/* as in ferry_dump_opts */
	int verbose;
	ferry_progress_fn progress;
	void *progress_arg;
};

struct ferry_serve_opts {
	const char *listen;		/* HOST:PORT */
	const char *key_file;
	const char *netns;		/* or NULL */
	uint64_t max_staging;		/* bytes (0 = half the available memory) */
	int handshake_timeout;		/* seconds (0 = 10) */
	int verbose;
	ferry_progress_fn progress;
	void *progress_arg;
};

const char *ferry_version(void);
int ferry_dump(const struct ferry_dump_opts *o, struct ferry_error *err);
/* exit_status (may be NULL): without detach, the root's exit status
 * (128+signal if killed). */
int ferry_restore(const struct ferry_restore_opts *o, int *exit_status, struct ferry_error *err);
int ferry_migrate(const struct ferry_migrate_opts *o, struct ferry_error *err);
/* Serves until one authenticated migration has been handled (serve --once). */
int ferry_serve_one(const struct ferry_serve_opts *o, struct ferry_error *err);
/* Probes the kernel; progress gets one "check" event per feature. */
int ferry_check(ferry_progress_fn progress, void *progress_arg, struct ferry_error *err);
/* The command line: ferry_main(argc, argv) is `ferry`. */
int ferry_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif
