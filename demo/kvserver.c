/*
 * kvserver: the example key-value server of `make demo` and the migration
 * tests.  One process, an epoll loop over non-blocking sockets, data in
 * memory only, so a migration that loses a byte of its memory shows.
 * Protocol, one line each way:
 *   SET key value  -> OK        GET key -> VALUE value | NONE
 *   INCR key       -> VALUE n   (the value as an integer, plus one; a missing key is 0)
 *   COUNT          -> COUNT n   STATS   -> STATS keys=n conns=n closed=n
 * A reply that does not fit in the socket's send buffer is dropped, and
 * said so on stderr (clients of the tests keep fewer requests in flight).
 * Usage: kvserver ADDR:PORT [READYFILE [BALLAST_MIB]]  (ballast: memory it
 * touches and keeps, so a migration has something to carry)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXKEYS 100000

struct kv {
	char *k, *v;
};
static struct kv table[MAXKEYS];
static int nkeys, nconns, nclosed;

struct conn {
	int fd;
	char buf[4096];
	size_t len;
};

static struct kv *find(const char *k)
{
	for (int i = 0; i < nkeys; i++)
		if (!strcmp(table[i].k, k))
			return &table[i];
	return NULL;
}

static void reply(int fd, const char *s)
{
	ssize_t n = write(fd, s, strlen(s));
	if (n < 0 && errno != EAGAIN)
		perror("kvserver: write");
	else if (n < (ssize_t)strlen(s))
		fprintf(stderr, "kvserver: reply on fd %d dropped: the send buffer is full\n", fd);
}

static struct kv *find_or_add(const char *k)
{
	struct kv *e = find(k);
	if (!e && nkeys < MAXKEYS) {
		e = &table[nkeys++];
		e->k = strdup(k);
		e->v = NULL;
	}
	return e;
}

static void handle(struct conn *c, char *line)
{
	char out[4200], *k, *v, *save;
	char *cmd = strtok_r(line, " ", &save);
	if (!cmd)
		return;
	if (!strcmp(cmd, "SET") && (k = strtok_r(NULL, " ", &save)) && (v = strtok_r(NULL, "", &save))) {
		struct kv *e = find_or_add(k);
		if (e) {
			free(e->v);
			e->v = strdup(v);
		}
		reply(c->fd, e ? "OK\n" : "FULL\n");
	} else if (!strcmp(cmd, "GET") && (k = strtok_r(NULL, " ", &save))) {
		struct kv *e = find(k);
		snprintf(out, sizeof(out), e ? "VALUE %s\n" : "NONE\n", e ? e->v : "");
		reply(c->fd, out);
	} else if (!strcmp(cmd, "INCR") && (k = strtok_r(NULL, " ", &save))) {
		struct kv *e = find_or_add(k);
		if (e) {
			snprintf(out, sizeof(out), "%lld", (e->v ? atoll(e->v) : 0) + 1);
			free(e->v);
			e->v = strdup(out);
			snprintf(out, sizeof(out), "VALUE %s\n", e->v);
		}
		reply(c->fd, e ? out : "FULL\n");
	} else if (!strcmp(cmd, "COUNT")) {
		snprintf(out, sizeof(out), "COUNT %d\n", nkeys);
		reply(c->fd, out);
	} else if (!strcmp(cmd, "STATS")) {
		snprintf(out, sizeof(out), "STATS keys=%d conns=%d closed=%d\n", nkeys, nconns, nclosed);
		reply(c->fd, out);
	} else {
		reply(c->fd, "ERROR\n");
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;
	char host[128], *colon;
	int l, ep, one = 1;
	if (argc < 2 || !(colon = strrchr(argv[1], ':'))) {
		fprintf(stderr, "usage: kvserver ADDR:PORT [READYFILE]\n");
		return 2;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - argv[1]), argv[1]);
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons(atoi(colon + 1));
		sl = sizeof(struct sockaddr_in);
	} else {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(atoi(colon + 1));
		if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) != 1) {
			fprintf(stderr, "kvserver: bad address %s\n", host);
			return 2;
		}
		sl = sizeof(struct sockaddr_in6);
	}
	setsid();
	signal(SIGPIPE, SIG_IGN);	/* a broken connection fails a write with EPIPE */
	if (argc > 3) {
		size_t n = (size_t)atoi(argv[3]) << 20;
		char *b = malloc(n);
		for (size_t i = 0; b && i < n; i += 4096)
			b[i] = (char)i;
	}
	l = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l < 0 || bind(l, (struct sockaddr *)&ss, sl) < 0 || listen(l, 64) < 0) {
		perror("kvserver: listen");
		return 1;
	}
	ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
	if (argc > 2) {
		FILE *f = fopen(argv[2], "w");
		if (f)
			fclose(f);
	}
	for (;;) {
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, -1);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (!c) {
				int fd = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
				if (fd < 0)
					continue;
				c = calloc(1, sizeof(*c));
				c->fd = fd;
				nconns++;
				struct epoll_event cev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };
				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
				continue;
			}
			ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
			if (r <= 0 && !(r < 0 && errno == EAGAIN)) {
				/* EOF, reset, or a broken connection after a migration */
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				free(c);
				nclosed++;
				continue;
			}
			if (r < 0)
				continue;
			c->len += r;
			c->buf[c->len] = 0;
			char *nl;
			while ((nl = strchr(c->buf, '\n'))) {
				*nl = 0;
				handle(c, c->buf);
				memmove(c->buf, nl + 1, c->len - (nl + 1 - c->buf) + 1);
				c->len -= nl + 1 - c->buf;
			}
			if (c->len == sizeof(c->buf) - 1)
				c->len = 0;	/* a line too long: drop it */
		}
	}
}
