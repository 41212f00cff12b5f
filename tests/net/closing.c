/* closing.c - TCP connections in closing states across a dump with
 * --tcp-established and a restore on the same host, peers outside the tree
 * (issue 10: "a peer reading from a connection restored from FIN_WAIT1
 * got `P` where it expected `Hello World!`").
 *
 *   closing server ADDR:PORT DIR   listens; accepts c1, c2, c3; once
 *       DIR/c2-blocked exists writes "Hello World!" on c2 and shuts it down
 *       for writing (the client's host drops c2's and c3's packets by then,
 *       so c2 stays in FIN_WAIT1 with data and FIN unacknowledged), writes
 *       "bye" on c3 and shuts it down too, tells the client (DIR/c3-shut),
 *       whose FIN on c3 then crosses ours (the runner passes DIR/c3-shut
 *       on to the client): c3 in CLOSING; waits until c1
 *       is in CLOSE_WAIT (the client sent "request" and shut down);
 *       writes "c1 STATE c2 STATE c3 STATE" to DIR/states.  Then, once DIR/go
 *       exists (after the restore), checks from inside: c1 still in
 *       CLOSE_WAIT, reads exactly "request" then EOF, answers "response"
 *       and closes; c2 in FIN_WAIT1 (or FIN_WAIT2: the client acknowledged
 *       meanwhile), cannot write (EPIPE); c3 in CLOSING (or past it: the
 *       client acknowledged), reads EOF at once.  DIR/result: "ok" or
 *       "FAIL ...".
 *   closing client ADDR:PORT DIR   connects c1, c2, c3, writes c2's and
 *       c3's local ports to DIR/c2port, sends "request" on c1 and shuts it
 *       down; shuts c3 down once the server did (DIR/c3-shut); once
 *       DIR/read exists reads c2 to EOF (must be exactly "Hello World!"),
 *       c3 to EOF ("bye") and c1 to EOF (must be "response").  DIR/result: "ok" or "FAIL ...".
 */
#include "netutil.h"
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>

static int state(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof ti;
	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0 ? -1 : ti.tcpi_state;
}

static const char *sname(int s)
{
	static const char *n[] = { "?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
				   "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING" };
	return s > 0 && s < 12 ? n[s] : "?";
}

static void wait_for(const char *dir, const char *name)
{
	while (!file_exists(dir, name))
		usleep(10000);
}

/* reads fd to EOF within 60 s into buf (NUL-terminated); returns bytes or -errno */
static int read_all(int fd, char *buf, size_t cap)
{
	size_t off = 0;
	long long end = mono_ms() + 60000;
	while (off + 1 < cap && mono_ms() < end) {
		struct pollfd p = { fd, POLLIN, 0 };
		if (poll(&p, 1, 1000) <= 0)
			continue;
		ssize_t n = read(fd, buf + off, cap - 1 - off);
		if (n == 0)
			break;
		if (n < 0)
			return -errno;
		off += n;
	}
	buf[off] = 0;
	return off;
}

static int fail(const char *dir, const char *what)
{
	write_file(dir, "result", "FAIL %s\n", what);
	return 1;
}

static int server(const struct sockaddr_storage *ss, socklen_t sl, const char *dir)
{
	int l = socket(ss->ss_family, SOCK_STREAM, 0), one = 1, c1, c2, c3;
	char buf[256], msg[400];
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (l < 0 || bind(l, (void *)ss, sl) < 0 || listen(l, 4) < 0)
		die("cannot listen: %s", strerror(errno));
	write_file(dir, "ready", "%d\n", getpid());
	if ((c1 = accept(l, NULL, NULL)) < 0 || (c2 = accept(l, NULL, NULL)) < 0 || (c3 = accept(l, NULL, NULL)) < 0)
		die("accept: %s", strerror(errno));
	wait_for(dir, "c2-blocked");
	if (write(c2, "Hello World!", 12) != 12 || shutdown(c2, SHUT_WR) < 0)
		die("write/shutdown c2: %s", strerror(errno));
	if (write(c3, "bye", 3) != 3 || shutdown(c3, SHUT_WR) < 0)
		die("write/shutdown c3: %s", strerror(errno));
	write_file(dir, "c3-shut", "1\n");
	for (int i = 0; i < 500 && state(c3) != TCP_CLOSING; i++)
		usleep(10000);
	for (int i = 0; i < 500 && state(c1) != TCP_CLOSE_WAIT; i++)
		usleep(10000);
	usleep(200000);	/* c2's FIN sent (and dropped) */
	write_file(dir, "states", "c1 %s c2 %s c3 %s\n", sname(state(c1)), sname(state(c2)), sname(state(c3)));
	wait_for(dir, "go");
	if (state(c1) != TCP_CLOSE_WAIT) {
		snprintf(msg, sizeof msg, "c1 in %s after the restore, expected CLOSE_WAIT", sname(state(c1)));
		return fail(dir, msg);
	}
	if (state(c2) != TCP_FIN_WAIT1 && state(c2) != TCP_FIN_WAIT2) {
		snprintf(msg, sizeof msg, "c2 in %s after the restore, expected FIN_WAIT1", sname(state(c2)));
		return fail(dir, msg);
	}
	if (state(c3) != TCP_CLOSING && state(c3) != TCP_CLOSE) {
		snprintf(msg, sizeof msg, "c3 in %s after the restore, expected CLOSING", sname(state(c3)));
		return fail(dir, msg);
	}
	if (recv(c3, buf, sizeof buf, MSG_DONTWAIT) != 0)
		return fail(dir, "c3 does not read EOF");
	if (read_all(c1, buf, sizeof buf) != 7 || strcmp(buf, "request")) {
		snprintf(msg, sizeof msg, "c1 read '%s', expected 'request' then EOF", buf);
		return fail(dir, msg);
	}
	signal(SIGPIPE, SIG_IGN);
	if (write(c2, "x", 1) != -1 || errno != EPIPE)
		return fail(dir, "c2 could write after its shutdown");
	if (write(c1, "response", 8) != 8)
		return fail(dir, "c1 cannot answer");
	close(c1);
	write_file(dir, "result", "ok\n");
	pause();
	return 0;
}

static int client(const struct sockaddr_storage *ss, socklen_t sl, const char *dir)
{
	int c1 = socket(ss->ss_family, SOCK_STREAM, 0), c2 = socket(ss->ss_family, SOCK_STREAM, 0), n;
	int c3 = socket(ss->ss_family, SOCK_STREAM, 0);
	struct sockaddr_storage me3;
	socklen_t ml3 = sizeof me3;
	struct sockaddr_storage me;
	socklen_t ml = sizeof me;
	char buf[256], msg[400];
	if (connect(c1, (void *)ss, sl) < 0 || connect(c2, (void *)ss, sl) < 0 || connect(c3, (void *)ss, sl) < 0)
		die("connect: %s", strerror(errno));
	getsockname(c2, (void *)&me, &ml);
	getsockname(c3, (void *)&me3, &ml3);
	write_file(dir, "c2port", "%d, %d\n", ntohs(((struct sockaddr_in *)&me)->sin_port),
		   ntohs(((struct sockaddr_in *)&me3)->sin_port));
	if (write(c1, "request", 7) != 7 || shutdown(c1, SHUT_WR) < 0)
		die("c1: %s", strerror(errno));
	write_file(dir, "connected", "1\n");
	wait_for(dir, "c3-shut");
	usleep(100000);	/* the server's FIN is out (and dropped) */
	if (shutdown(c3, SHUT_WR) < 0)
		die("c3: %s", strerror(errno));
	wait_for(dir, "read");
	if ((n = read_all(c2, buf, sizeof buf)) != 12 || strcmp(buf, "Hello World!")) {
		snprintf(msg, sizeof msg, "c2 read %d byte(s) '%s', expected 'Hello World!' then EOF", n, buf);
		return fail(dir, msg);
	}
	if ((n = read_all(c3, buf, sizeof buf)) != 3 || strcmp(buf, "bye")) {
		snprintf(msg, sizeof msg, "c3 read %d byte(s) '%s', expected 'bye' then EOF", n, buf);
		return fail(dir, msg);
	}
	if ((n = read_all(c1, buf, sizeof buf)) != 8 || strcmp(buf, "response")) {
		snprintf(msg, sizeof msg, "c1 read %d byte(s) '%s', expected 'response' then EOF", n, buf);
		return fail(dir, msg);
	}
	write_file(dir, "result", "ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	prog_name = "closing";
	if (argc != 4)
		die("usage: closing server|client ADDR:PORT DIR");
	must_parse(argv[2], &ss, &sl);
	if (!strcmp(argv[1], "server"))
		return server(&ss, sl, argv[3]);
	if (!strcmp(argv[1], "client"))
		return client(&ss, sl, argv[3]);
	die("unknown mode %s", argv[1]);
}
