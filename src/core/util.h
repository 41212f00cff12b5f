/*
 * Small helpers: allocation that cannot fail silently, whole-file reads,
 * full reads/writes that survive EINTR and short counts.
 */
#ifndef FERRY_UTIL_H
#define FERRY_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#undef PAGE_SIZE /* <sys/user.h> has an int one */
#define PAGE_SIZE 4096UL
#define PAGE_ALIGN_UP(x) (((x) + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))

void *xmalloc(size_t n);
void *xzalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reads a whole (small, e.g. /proc) file; NUL-terminated; NULL+errno on failure. */
char *read_file(const char *path, size_t *len);
char *read_fileat(int dirfd, const char *path, size_t *len);
ssize_t read_full(int fd, void *buf, size_t len);
int write_full(int fd, const void *buf, size_t len);
ssize_t pread_full(int fd, void *buf, size_t len, off_t off);
int pwrite_full(int fd, const void *buf, size_t len, off_t off);

/* Seconds on CLOCK_MONOTONIC, for deadlines. */
double mono_seconds(void);
/* A command-line duration: seconds >= 0, decimals allowed, at most a day; -1 if not one. */
int parse_seconds(const char *s, double *out);

/* Lowercase hex encoding/decoding for binary blobs stored in JSON. */
char *hex_encode(const void *buf, size_t len);
int hex_decode(const char *s, void *buf, size_t len);

#endif
