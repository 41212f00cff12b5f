/*
 * Machine-readable events: what `--json` prints (one JSON object per line
 * on stdout) and what libferry hands to a progress callback.  Commands say
 * what happens (started, progress, frozen, sent, restored, result, error)
 * through ev_emit; where it goes is the sink's business.  With no sink set
 * every call here costs a test and nothing else.
 *
 * Every event has "event" (its kind), "command" and "time" (seconds since
 * the epoch, with microseconds).  An error event has "message" (the one
 * line the command prints) and, when that line names them, "pid", "fd"
 * and "object" (the piece of state it is about: "fd 5 (a netlink socket)").
 */
#ifndef FERRY_EVENTS_H
#define FERRY_EVENTS_H

#include <jansson.h>
#include <stdint.h>

/* line: the event as one JSON text without a newline; type: its kind;
 * bytes, pages: of a progress event (0 otherwise). */
typedef void (*ev_sink)(const char *line, const char *type, uint64_t bytes, uint64_t pages, void *arg);

/* Sets where events go (NULL: nowhere) for the command named cmd; resets
 * the progress counters. */
void ev_set_sink(ev_sink fn, void *arg, const char *cmd);
/* The --json sink: lines on stdout, flushed at once. */
void ev_stdout(const char *line, const char *type, uint64_t bytes, uint64_t pages, void *arg);
int ev_enabled(void);
/* Sends an event of kind type with the fields of fields (stolen; NULL for
 * none). */
void ev_emit(const char *type, json_t *fields);
/* An error event for msg (NULL: "failed"). */
void ev_error(const char *msg);
/* Image progress: a file of the image is written (size bytes; pages is
 * the number of memory pages it holds).  Emits a progress event with the
 * totals so far. */
void ev_image_file(const char *name, uint64_t size);

#endif
