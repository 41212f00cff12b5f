/*
 * Events for --json and libferry's callback (see events.h).  The error
 * event's pid, fd and object are read back from the message: every
 * failure in ferry is one line that names them the same way ("pid N: ...",
 * "fd N (kind)"), and that line is the one a user sees, so the two never
 * disagree.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "events.h"
#include "log.h"

static ev_sink sink;
static void *sink_arg;
static const char *command = "ferry";
static uint64_t img_bytes, img_pages;

static void warn_event(const char *msg)
{
	ev_emit("warning", json_pack("{s:s}", "message", msg));
}

void ev_set_sink(ev_sink fn, void *arg, const char *cmd)
{
	pr_warn_hook = fn ? warn_event : NULL;
	sink = fn;
	sink_arg = arg;
	command = cmd ? cmd : "ferry";
	img_bytes = img_pages = 0;
}

void ev_stdout(const char *line, const char *type, uint64_t bytes, uint64_t pages, void *arg)
{
	(void)type, (void)bytes, (void)pages, (void)arg;
	fputs(line, stdout);
	fputc('\n', stdout);
	fflush(stdout);	/* a reader acts on each event as it comes; children fork between them */
}

int ev_enabled(void)
{
	return sink != NULL;
}

static void emit(const char *type, json_t *fields, uint64_t bytes, uint64_t pages)
{
	struct timeval tv;
	json_t *o;
	char *line;
	if (!sink) {
		json_decref(fields);
		return;
	}
	gettimeofday(&tv, NULL);
	o = json_pack("{s:s,s:s,s:f}", "event", type, "command", command, "time", tv.tv_sec + tv.tv_usec / 1e6);
	if (fields) {
		json_object_update(o, fields);
		json_decref(fields);
	}
	line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (line) {
		sink(line, type, bytes, pages, sink_arg);
		free(line);
	}
}

void ev_emit(const char *type, json_t *fields)
{
	uint64_t bytes = 0, pages = 0;
	if (fields && !strcmp(type, "progress")) {
		bytes = json_integer_value(json_object_get(fields, "bytes"));
		pages = json_integer_value(json_object_get(fields, "pages"));
	}
	emit(type, fields, bytes, pages);
}

/* The number after the first "WORD " in s that starts a word (-1: none). */
static long find_num(const char *s, const char *word)
{
	char pattern[64];
	regex_t re;
	regmatch_t m[3];
	long v = -1;
	snprintf(pattern, sizeof(pattern), "(^|[^a-z])%s ([0-9]+)", word);
	if (regcomp(&re, pattern, REG_EXTENDED))
		return -1;
	if (regexec(&re, s, 3, m, 0) == 0)
		v = strtol(s + m[2].rm_so, NULL, 10);
	regfree(&re);
	return v;
}

void ev_error(const char *msg)
{
	json_t *f;
	regex_t re;
	regmatch_t m[3];
	long pid, fd;
	if (!sink)
		return;
	if (!msg)
		msg = "failed";
	f = json_pack("{s:s}", "message", msg);
	if ((pid = find_num(msg, "pid")) >= 0)
		json_object_set_new(f, "pid", json_integer(pid));
	if ((fd = find_num(msg, "fd")) >= 0)
		json_object_set_new(f, "fd", json_integer(fd));
	/* the object: "fd N" with what follows it up to the next ':' or ';' */
	if (regcomp(&re, "(^|[^a-z])(fd [0-9]+[^:;]*)", REG_EXTENDED) == 0) {
		if (regexec(&re, msg, 3, m, 0) == 0)
			json_object_set_new(f, "object", json_stringn(msg + m[2].rm_so, m[2].rm_eo - m[2].rm_so));
		regfree(&re);
	}
	emit("error", f, 0, 0);
}

void ev_image_file(const char *name, uint64_t size)
{
	img_bytes += size;
	if (!strncmp(name, "pages-", 6) || (!strncmp(name, "shmem-", 6) && strstr(name, ".img")))
		img_pages += size / 4096;
	if (sink)
		emit("progress", json_pack("{s:s,s:I,s:I,s:s}", "phase", "image", "bytes", (json_int_t)img_bytes, "pages",
					   (json_int_t)img_pages, "file", name),
		     img_bytes, img_pages);
}
