/* netutil.h - helpers shared by ferry's network test programs
 * (echo_server.c, client.c, selfconn.c): address parsing and printing,
 * clocks, small file writes. */
#ifndef FERRY_NETUTIL_H
#define FERRY_NETUTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *prog_name = "net";

__attribute__((format(printf, 1, 2), noreturn)) static inline void die(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* "ERRNONAME" for e (0 -> "0") */
static inline const char *errname(int e)
{
	if (e == 0)
		return "0";
	const char *n = strerrorname_np(e);
	return n ? n : "E?";
}

static inline long long now_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
static inline long long realtime_ns(void) { return now_ns(CLOCK_REALTIME); }
static inline long long mono_ms(void) { return now_ns(CLOCK_MONOTONIC) / 1000000LL; }

/* parse "A.B.C.D:PORT" or "[V6]:PORT" (also a bare v6 "X::Y:PORT" when
 * unambiguous is NOT accepted: use brackets).  Returns 0 or -1. */
static inline int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *port;
	memset(ss, 0, sizeof *ss);
	if (s[0] == '[') {
		const char *e = strchr(s, ']');
		if (!e || e[1] != ':' || (size_t)(e - s - 1) >= sizeof host)
			return -1;
		memcpy(host, s + 1, e - s - 1);
		host[e - s - 1] = 0;
		port = e + 2;
	} else {
		const char *c = strrchr(s, ':');
		if (!c || (size_t)(c - s) >= sizeof host)
			return -1;
		memcpy(host, s, c - s);
		host[c - s] = 0;
		port = c + 1;
	}
	char *end;
	long p = strtol(port, &end, 10);
	if (!*port || *end || p < 0 || p > 65535)
		return -1;
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((unsigned short)p);
		*len = sizeof *a4;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((unsigned short)p);
		*len = sizeof *a6;
		return 0;
	}
	return -1;
}

static inline void must_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	if (parse_addr(s, ss, len) < 0)
		die("bad address '%s' (want A.B.C.D:PORT or [V6]:PORT)", s);
}

/* "ADDR PORT" (space separated: easy to split in a shell) */
static inline const char *fmt_addr(const struct sockaddr_storage *ss, char *buf, size_t n)
{
	char h[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &a->sin_addr, h, sizeof h);
		port = ntohs(a->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &a->sin6_addr, h, sizeof h);
		port = ntohs(a->sin6_port);
	} else {
		snprintf(h, sizeof h, "family%d", ss->ss_family);
	}
	snprintf(buf, n, "%s %d", h, port);
	return buf;
}

/* write file DIR/NAME atomically (temp file + rename) */
__attribute__((format(printf, 3, 4))) static inline int write_file(const char *dir, const char *name,
							   const char *fmt, ...)
{
	char path[4096], tmp[4200], data[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(data, sizeof data, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof data)
		return -1;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	snprintf(tmp, sizeof tmp, "%s/.%s.tmp%d", dir, name, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (write(fd, data, n) != n) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* append one line to DIR/NAME (a single write with O_APPEND) */
__attribute__((format(printf, 3, 4))) static inline int append_file(const char *dir, const char *name,
							    const char *fmt, ...)
{
	char path[4096], data[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(data, sizeof data, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof data)
		return -1;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	int r = write(fd, data, n) == n ? 0 : -1;
	close(fd);
	return r;
}

static inline int file_exists(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* deterministic pseudo-random byte stream: byte number i of stream `seed`
 * (a hash of the 8-byte block index, so either side can compute any byte) */
static inline unsigned char stream_byte(unsigned long long seed, unsigned long long i)
{
	unsigned long long x = (i >> 3) * 0x9E3779B97F4A7C15ULL ^ seed;
	x ^= x >> 31;
	x *= 0xBF58476D1CE4E5B9ULL;
	x ^= x >> 29;
	x *= 0x94D049BB133111EBULL;
	x ^= x >> 32;
	return (unsigned char)(x >> ((i & 7) * 8));
}

static inline void fill_stream(unsigned long long seed, unsigned long long off, unsigned char *buf, size_t n)
{
	for (size_t k = 0; k < n; k++)
		buf[k] = stream_byte(seed, off + k);
}

/* index of the first byte of buf that differs from the stream, or -1 */
static inline long long check_stream(unsigned long long seed, unsigned long long off, const unsigned char *buf,
			      size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (buf[k] != stream_byte(seed, off + k))
			return (long long)(off + k);
	return -1;
}

#endif
