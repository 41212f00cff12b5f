/*
 * Unit tests for the migration channel: a round trip over a socketpair,
 * and refusals: a wrong key, a flipped bit, a replayed stream, a stream cut
 * short, a peer that does not speak the protocol.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include "chan.h"
#include "log.h"
#include "unit.h"
#include "util.h"

static uint8_t k1[CHAN_KEY_BYTES], k2[CHAN_KEY_BYTES];

/* A server in a child: handshake with key, then receive frames into a log. */
static pid_t server(int fd, int other, const uint8_t *key, int *logfd)
{
	int p[2];
	pid_t pid;
	if (pipe(p) < 0)
		abort();
	pid = fork();
	if (pid == 0) {
		struct chan c;
		uint8_t type;
		void *buf;
		size_t len;
		close(p[0]);
		close(other);	/* so the client's close is an EOF here */
		if (chan_server(&c, fd, key) < 0 || chan_send(&c, 7, "hello", 5, 0) < 0)
			_exit(2);
		for (;;) {
			if (chan_recv(&c, &type, &buf, &len) < 0) {
				dprintf(p[1], "ERR %s\n", fail_msg());
				_exit(1);
			}
			dprintf(p[1], "%d %zu %.*s\n", type, len, (int)(len < 32 ? len : 32), (char *)buf);
			free(buf);
			if (c.rx_final)
				_exit(0);
		}
	}
	close(p[1]);
	*logfd = p[0];
	return pid;
}

static char *slurp(int fd)
{
	static char b[4096];
	ssize_t n = read_full(fd, b, sizeof(b) - 1);
	b[n > 0 ? n : 0] = 0;
	close(fd);
	return b;
}

int main(void)
{
	int sv[2], logfd, st;
	struct chan c;
	uint8_t type;
	void *buf;
	size_t len;
	pid_t pid;
	static char big[3 << 20];

	if (sodium_init() < 0)
		return 1;
	randombytes_buf(k1, sizeof(k1));
	randombytes_buf(k2, sizeof(k2));
	memset(big, 'x', sizeof(big));

	/* round trip */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pid = server(sv[1], sv[0], k1, &logfd);
	close(sv[1]);
	CHECK(chan_client(&c, sv[0], k1) == 0);
	CHECK(chan_recv(&c, &type, &buf, &len) == 0 && type == 7 && len == 5 && !memcmp(buf, "hello", 5));
	free(buf);
	CHECK(chan_send(&c, 3, "file.img", 9, 0) == 0);
	CHECK(chan_send(&c, 4, big, sizeof(big), 0) == 0);
	CHECK(chan_send(&c, 5, NULL, 0, 1) == 0);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_HAS(slurp(logfd), "4 3145728 xxxx");
	close(sv[0]);
	chan_free(&c);

	/* wrong key: the client fails on the server's first frame */
	fail_clear();
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pid = server(sv[1], sv[0], k2, &logfd);
	close(sv[1]);
	CHECK(chan_client(&c, sv[0], k1) == 0);
	CHECK(chan_recv(&c, &type, &buf, &len) < 0);
	CHECK_HAS(fail_msg(), "authentication failed");
	close(sv[0]);
	waitpid(pid, &st, 0);
	close(logfd);
	chan_free(&c);

	/* a flipped bit on the wire: the receiver refuses that frame */
	fail_clear();
	{
		int a[2], b[2];
		socketpair(AF_UNIX, SOCK_STREAM, 0, a);	/* client <-> proxy */
		socketpair(AF_UNIX, SOCK_STREAM, 0, b);	/* proxy <-> server */
		pid = server(b[1], b[0], k1, &logfd);
		close(b[1]);
		if (fork() == 0) {	/* the proxy: flips one bit of the client's 3rd frame */
			char x[65536];
			ssize_t n;
			long seen = 0;
			close(a[0]);
			if (fork() == 0) {
				while ((n = read(b[0], x, sizeof(x))) > 0)
					if (write(a[1], x, n) != n)
						break;
				_exit(0);
			}
			while ((n = read(a[1], x, sizeof(x))) > 0) {
				if (seen < 200 && seen + n > 200)
					x[200 - seen] ^= 1;
				seen += n;
				if (write(b[0], x, n) != n)
					break;
			}
			_exit(0);
		}
		close(a[1]);
		close(b[0]);
		CHECK(chan_client(&c, a[0], k1) == 0);
		CHECK(chan_recv(&c, &type, &buf, &len) == 0);
		free(buf);
		chan_send(&c, 3, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 58, 0);
		chan_send(&c, 3, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", 58, 0);
		chan_send(&c, 3, "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccc", 58, 1);
		close(a[0]);
		CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 1);
		CHECK_HAS(slurp(logfd), "authentication failed");
		chan_free(&c);
	}

	/* replay: bytes recorded from one session, played into a new one */
	fail_clear();
	{
		int rec[2], fd2[2];
		char wire[8192];
		ssize_t n;
		struct chan cs;
		socketpair(AF_UNIX, SOCK_STREAM, 0, rec);
		pid = fork();
		if (pid == 0) {	/* a real server for the recorded session */
			struct chan s;
			if (chan_server(&s, rec[1], k1) < 0)
				_exit(1);
			_exit(0);
		}
		CHECK(chan_client(&c, rec[0], k1) == 0);
		waitpid(pid, &st, 0);
		/* capture what the client sends next, as an attacker on the wire would */
		socketpair(AF_UNIX, SOCK_STREAM, 0, fd2);
		c.fd = fd2[0];
		CHECK(chan_send(&c, 4, "secret-frame", 12, 0) == 0);
		n = read(fd2[1], wire, sizeof(wire));
		CHECK(n > 0);
		close(rec[0]);
		close(rec[1]);
		close(fd2[0]);
		close(fd2[1]);
		chan_free(&c);
		/* new session: the attacker answers the handshake, then replays */
		socketpair(AF_UNIX, SOCK_STREAM, 0, fd2);
		if (fork() == 0) {
			struct chan a2;
			if (chan_client(&a2, fd2[1], k2) < 0)	/* no key: only replaying bytes */
				_exit(1);
			if (write(fd2[1], wire, n) != n)
				_exit(1);
			_exit(0);
		}
		CHECK(chan_server(&cs, fd2[0], k1) == 0);
		CHECK(chan_recv(&cs, &type, &buf, &len) < 0);
		CHECK_HAS(fail_msg(), "authentication failed");
		close(fd2[0]);
		close(fd2[1]);
		wait(NULL);
		chan_free(&cs);
	}

	/* not the protocol at all */
	fail_clear();
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	if (fork() == 0) {
		if (write(sv[1], "GET / HTTP/1.0\r\n\r\n...............", 34) < 0)
			_exit(1);
		_exit(0);
	}
	CHECK(chan_client(&c, sv[0], k1) < 0);
	CHECK_HAS(fail_msg(), "does not speak");
	close(sv[0]);
	close(sv[1]);
	wait(NULL);
	return unit_done("unit-chan");
}
