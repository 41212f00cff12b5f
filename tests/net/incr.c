/*
 * incr: the INCR client of the drain tests (tests/net/incr.sh, issue 18).
 * It sends "INCR KEY" to a kvserver (demo/kvserver.c) as fast as it can,
 * with at most WINDOW requests unanswered, and checks that every reply is
 * the previous one plus one (one client, one key: a lost or repeated reply
 * shows).  Its receive buffer is small, and after PAUSE_AFTER replies it
 * stops reading: it fills its window, creates DIR/paused and reads again
 * only once DIR/resume exists (then with a larger buffer, at full speed),
 * so that the server's replies wait in the server's send queue meanwhile.
 * Then it goes on until the connection ends and prints "last N got G sent
 * S": N is the last value it received.
 * Usage: incr ADDR:PORT KEY WINDOW PAUSE_AFTER DIR
 * Exit: 0 once the connection ended (EOF or reset) after the pause; 1 on a
 * wrong reply or an end before the pause; 2 on bad usage; 3 after 120 s.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char dir[512];

static int exists(const char *name)
{
	char p[600];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

static void touch(const char *name)
{
	char p[600];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0)
		close(fd);
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char host[64], *colon, req[128], out[65536], in[8192];
	size_t reqlen, outlen = 0, outoff = 0, inlen = 0;
	long long sent = 0, got = 0, last = 0, window, pause_after;
	int fd, rcv = 1024, paused = 0, wdead = 0;

	if (argc != 6 || !(colon = strrchr(argv[1], ':'))) {
		fprintf(stderr, "usage: incr ADDR:PORT KEY WINDOW PAUSE_AFTER DIR\n");
		return 2;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - argv[1]), argv[1]);
	sa.sin_port = htons(atoi(colon + 1));
	window = atoll(argv[3]);
	pause_after = atoll(argv[4]);
	snprintf(dir, sizeof(dir), "%s", argv[5]);
	reqlen = snprintf(req, sizeof(req), "INCR %s\n", argv[2]);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 || window <= 0 || reqlen >= sizeof(req)) {
		fprintf(stderr, "incr: bad arguments\n");
		return 2;
	}
	alarm(120);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	/* small, so that the server's replies soon wait on its side */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("incr: connect");
		return 1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	for (;;) {
		while (!wdead && sent - got < window && outlen + reqlen <= sizeof(out)) {
			memcpy(out + outlen, req, reqlen);
			outlen += reqlen;
			sent++;
		}
		if (paused == 1 && (outoff == outlen || wdead)) {
			/* window full and on its way: wait for the word */
			if (!exists("paused"))
				touch("paused");
			if (!exists("resume")) {
				poll(NULL, 0, 10);
				continue;
			}
			paused = 2;
			/* at full speed again: a buffer this small stalls TCP on
			 * zero-window probes */
			rcv = 1 << 16;
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
		}
		struct pollfd p = { fd, 0, 0 };
		if (outoff < outlen && !wdead)
			p.events |= POLLOUT;
		if (paused != 1)
			p.events |= POLLIN;
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			return 1;
		if (p.revents & POLLOUT) {
			ssize_t n = send(fd, out + outoff, outlen - outoff, MSG_NOSIGNAL);
			if (n > 0)
				outoff += n;
			else if (n < 0 && errno != EAGAIN)
				wdead = 1;	/* the end shows on the read side */
			if (outoff == outlen)
				outoff = outlen = 0;
		}
		if (!(p.events & POLLIN) || !(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		ssize_t n = read(fd, in + inlen, sizeof(in) - inlen);
		if (n < 0 && errno == EAGAIN)
			continue;
		if (n <= 0) {
			printf("last %lld got %lld sent %lld\n", last, got, sent);
			if (paused != 2) {
				fprintf(stderr, "incr: the connection ended before the pause (%s)\n",
					n ? strerror(errno) : "EOF");
				return 1;
			}
			return 0;
		}
		inlen += n;
		char *s = in, *nl;
		while ((nl = memchr(s, '\n', in + inlen - s))) {
			long long v;
			*nl = 0;
			if (sscanf(s, "VALUE %lld", &v) != 1 || v != last + 1) {
				fprintf(stderr, "incr: reply '%s' after %lld\n", s, last);
				return 1;
			}
			last = v;
			got++;
			s = nl + 1;
		}
		inlen -= s - in;
		memmove(in, s, inlen);
		if (!paused && got >= pause_after)
			paused = 1;
	}
}
