/*
 * libferry (include/ferry.h): the commands as a C API, and the command
 * dispatch that the `ferry` binary runs (ferry_main).  An API call builds
 * the command line its options mean and runs the command in-process, so
 * the library and the command can never disagree on what an option does;
 * the events of --json reach the caller's callback instead of stdout, and
 * the error event fills struct ferry_error.
 *
 * Limits: not thread-safe (one recorded error, getopt's state, ptrace from
 * the calling thread); each call resets getopt and the recorded error,
 * but serve's and migrate's tunables given once stay as given for later
 * calls in the same process.
 */
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../include/ferry.h"
#include "cmds.h"
#include "events.h"
#include "log.h"

#define EXPORT __attribute__((visibility("default")))

/* ---- the command line ---- */

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
} cmds[] = {
	{ "dump", cmd_dump, "freeze a process and write its image" },
	{ "restore", cmd_restore, "recreate a process from an image" },
	{ "show", cmd_show, "print a summary of an image" },
	{ "check", cmd_check, "check that this kernel and these privileges support ferry" },
	{ "unlock", cmd_unlock, "lift the network lock of an image dumped with --tcp-established" },
	{ "keygen", cmd_keygen, "print a new key for migrations" },
	{ "serve", cmd_serve, "receive migrations and restore them here" },
	{ "migrate", cmd_migrate, "move a running process tree to a `ferry serve`" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: ferry COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].help);
	fprintf(f, "\n'ferry COMMAND --help' describes a command's options.\n");
}

EXPORT const char *ferry_version(void)
{
	return FERRY_VERSION;
}

EXPORT int ferry_main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("ferry %s\n", FERRY_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "ferry: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}

/* ---- the API ---- */

struct call {
	char *argv[64];
	char buf[16][64];	/* numbers formatted for argv */
	int argc, nbuf;
	ferry_progress_fn progress;
	void *progress_arg;
	struct ferry_error *err;
};

static void arg(struct call *c, const char *s)
{
	if (c->argc < (int)(sizeof(c->argv) / sizeof(c->argv[0])) - 1)
		c->argv[c->argc++] = (char *)s;
}

static void argf(struct call *c, const char *opt, const char *fmt, double v)
{
	if (c->nbuf >= (int)(sizeof(c->buf) / sizeof(c->buf[0])))
		return;
	snprintf(c->buf[c->nbuf], sizeof(c->buf[0]), fmt, v);
	arg(c, opt);
	arg(c, c->buf[c->nbuf++]);
}

/* Every event goes through here: the error one fills err, then the
 * caller's callback sees it. */
static void sink(const char *line, const char *type, uint64_t bytes, uint64_t pages, void *a)
{
	struct call *c = a;
	if (!strcmp(type, "error") && c->err && !c->err->message[0]) {
		json_t *o = json_loads(line, 0, NULL);
		const char *m = json_string_value(json_object_get(o, "message"));
		snprintf(c->err->message, sizeof(c->err->message), "%s", m ? m : "failed");
		if (json_object_get(o, "pid"))
			c->err->pid = json_integer_value(json_object_get(o, "pid"));
		if (json_object_get(o, "fd"))
			c->err->fd = json_integer_value(json_object_get(o, "fd"));
		json_decref(o);
	}
	if (c->progress) {
		struct ferry_event ev = { type, line, bytes, pages };
		c->progress(&ev, c->progress_arg);
	}
}

static int run(struct call *c, const char *cmd, int (*fn)(int, char **), int *status)
{
	int r;
	c->argv[c->argc] = NULL;
	if (c->err) {
		memset(c->err, 0, sizeof(*c->err));
		c->err->fd = -1;
	}
	optind = 0;	/* getopt starts afresh */
	fail_clear();
	log_verbose = 0;
	for (int i = 1; i < c->argc; i++)
		if (!strcmp(c->argv[i], "-v"))
			log_verbose = 1;
	signal(SIGCHLD, SIG_DFL);	/* as the command needs it (see main.c) */
	ev_set_sink(sink, c, cmd);
	r = fn(c->argc, c->argv);
	ev_set_sink(NULL, NULL, NULL);
	if (status)
		*status = r;
	if (!strcmp(cmd, "restore") && !status)
		r = r ? FERRY_ERR_FAILED : FERRY_OK;
	if (r == 0)
		return FERRY_OK;
	if (r == 2 && c->err && !c->err->message[0]) {
		r = FERRY_ERR_USAGE;
		snprintf(c->err->message, sizeof(c->err->message), "invalid options for %s", cmd);
	} else if (r != 2) {
		r = FERRY_ERR_FAILED;
		if (c->err && !c->err->message[0])
			snprintf(c->err->message, sizeof(c->err->message), "%s", fail_msg() ? fail_msg() : "failed");
		if (c->err && (strstr(c->err->message, "nothing was changed") || strstr(c->err->message, "nothing was frozen")))
			r = FERRY_ERR_REFUSED;
	} else {
		r = FERRY_ERR_USAGE;
	}
	if (c->err)
		c->err->code = r;
	return r;
}

static void drain(struct call *c, double t)
{
	if (t < 0)
		argf(c, "--drain-timeout", "%g", 0);
	else if (t > 0)
		argf(c, "--drain-timeout", "%g", t);
}

EXPORT int ferry_dump(const struct ferry_dump_opts *o, struct ferry_error *err)
{
	struct call c = { .argc = 0, .progress = o->progress, .progress_arg = o->progress_arg, .err = err };
	arg(&c, "dump");
	argf(&c, "--pid", "%.0f", o->pid);
	if (o->dir) {
		arg(&c, "--dir");
		arg(&c, o->dir);
	}
	if (o->leave_running)
		arg(&c, "--leave-running");
	if (o->tcp_established)
		arg(&c, "--tcp-established");
	if (o->tcp_close)
		arg(&c, "--tcp-close");
	drain(&c, o->drain_timeout);
	if (o->shell_job)
		arg(&c, "--shell-job");
	if (o->verbose)
		arg(&c, "-v");
	return run(&c, "dump", cmd_dump, NULL);
}

static void ipmaps(struct call *c, const char *const *m)
{
	for (; m && *m; m++) {
		arg(c, "--ip-map");
		arg(c, *m);
	}
}

EXPORT int ferry_restore(const struct ferry_restore_opts *o, int *exit_status, struct ferry_error *err)
{
	struct call c = { .argc = 0, .progress = o->progress, .progress_arg = o->progress_arg, .err = err };
	int st = 0, r;
	arg(&c, "restore");
	if (o->dir) {
		arg(&c, "--dir");
		arg(&c, o->dir);
	}
	if (o->detach)
		arg(&c, "--detach");
	if (o->pidfile) {
		arg(&c, "--pidfile");
		arg(&c, o->pidfile);
	}
	ipmaps(&c, o->ip_map);
	if (o->netns) {
		arg(&c, "--netns");
		arg(&c, o->netns);
	}
	if (o->tcp_close)
		arg(&c, "--tcp-close");
	if (o->shell_job)
		arg(&c, "--shell-job");
	if (o->verbose)
		arg(&c, "-v");
	r = run(&c, "restore", cmd_restore, &st);
	/* without detach the status is the root's own: a restore that
	 * failed said so with an error event */
	if (exit_status)
		*exit_status = st;
	if (!o->detach && (!err || !err->message[0]) && r != FERRY_ERR_USAGE) {
		if (err)
			err->code = FERRY_OK;
		return FERRY_OK;
	}
	return r;
}

EXPORT int ferry_migrate(const struct ferry_migrate_opts *o, struct ferry_error *err)
{
	struct call c = { .argc = 0, .progress = o->progress, .progress_arg = o->progress_arg, .err = err };
	arg(&c, "migrate");
	argf(&c, "--pid", "%.0f", o->pid);
	if (o->to) {
		arg(&c, "--to");
		arg(&c, o->to);
	}
	if (o->key_file) {
		arg(&c, "--key");
		arg(&c, o->key_file);
	}
	ipmaps(&c, o->ip_map);
	if (o->ip_map_auto) {
		arg(&c, "--ip-map");
		arg(&c, "auto");
	}
	if (o->tcp_established)
		arg(&c, "--tcp-established");
	if (o->tcp_close)
		arg(&c, "--tcp-close");
	if (o->no_pre_copy)
		arg(&c, "--no-pre-copy");
	if (o->shell_job)
		arg(&c, "--shell-job");
	argf(&c, "--timeout", "%.0f", o->timeout > 0 ? o->timeout : 15);
	argf(&c, "--restore-timeout", "%.0f", o->restore_timeout > 0 ? o->restore_timeout : 600);
	if (o->dest_addr) {
		arg(&c, "--dest-addr");
		arg(&c, o->dest_addr);
	}
	drain(&c, o->drain_timeout);
	if (o->verbose)
		arg(&c, "-v");
	return run(&c, "migrate", cmd_migrate, NULL);
}

EXPORT int ferry_serve_one(const struct ferry_serve_opts *o, struct ferry_error *err)
{
	struct call c = { .argc = 0, .progress = o->progress, .progress_arg = o->progress_arg, .err = err };
	arg(&c, "serve");
	arg(&c, "--once");
	if (o->listen) {
		arg(&c, "--listen");
		arg(&c, o->listen);
	}
	if (o->key_file) {
		arg(&c, "--key");
		arg(&c, o->key_file);
	}
	if (o->netns) {
		arg(&c, "--netns");
		arg(&c, o->netns);
	}
	if (o->max_staging)
		argf(&c, "--max-staging", "%.0f", (double)o->max_staging);
	argf(&c, "--handshake-timeout", "%.0f", o->handshake_timeout > 0 ? o->handshake_timeout : 10);
	if (o->verbose)
		arg(&c, "-v");
	/* the restore runs as `ferry restore` in a child: the binary, not us */
	serve_restore_exe = getenv("FERRY_PATH") ? getenv("FERRY_PATH") : FERRY_PATH;
	return run(&c, "serve", cmd_serve, NULL);
}

EXPORT int ferry_check(ferry_progress_fn progress, void *progress_arg, struct ferry_error *err)
{
	struct call c = { .argc = 0, .progress = progress, .progress_arg = progress_arg, .err = err };
	int r;
	arg(&c, "check");
	/* check prints its lines unless events go somewhere: here they do */
	r = run(&c, "check", cmd_check, NULL);
	if (r && err && !strcmp(err->message, "failed"))
		snprintf(err->message, sizeof(err->message), "an essential kernel feature is missing (see the check events)");
	return r;
}
