/* tcp_states - TCP connections in the closing states and SYN_SENT, both
 * ends in the tree (so they are repaired without --tcp-established).
 * Covers, after restore, from inside:
 *   P1 a1 wrote "Hello World!" and shut down writing (FIN_WAIT2), b1 has
 *      not read it (CLOSE_WAIT): b1 reads exactly "Hello World!" then EOF,
 *      b1's reply reaches a1, b1's shutdown gives a1 EOF, a1 cannot write;
 *   P2 a2 filled b2's window and shut down writing (FIN_WAIT1, the FIN
 *      queued behind unsent data): b2 reads every byte in order, then EOF;
 *   P3 a3 shut down writing, then b3 filled a3's window and shut down too
 *      (LAST_ACK with the FIN unsent; a3 in FIN_WAIT2): a3 reads every byte
 *      then EOF, b3 reads EOF;
 *   P4 a4 shut down reading only: it still reads EOF at once (poll:
 *      POLLRDHUP) and still writes to b4;
 *   P6 P1 over IPv6 (::1): the peer's FIN handed back as an IPv6 segment.
 * Each socket's TCP state (TCP_INFO) is checked as it was at the dump. */
#include "common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#define BUF 65536
static char pat2[16 << 20], pat3[16 << 20], got[16 << 20];

static int state(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof ti;
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0)
		return -1;
	return ti.tcpi_state;
}

static int wait_state(int fd, int st)
{
	for (int i = 0; i < 500; i++) {
		if (state(fd) == st)
			return 1;
		t_sleep_ms(10);
	}
	return 0;
}

static void pair(int l, struct sockaddr_in *a, int *c, int *s)
{
	T_SETUP((*c = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	T_SETUP(connect(*c, (void *)a, sizeof *a) == 0);
	T_SETUP((*s = accept(l, NULL, NULL)) >= 0);
}

/* writes until the peer's window and our buffer are full */
static size_t fill(int fd, const char *p, size_t cap)
{
	size_t off = 0;
	int idle = 0;
	while (off < cap && idle < 20) {
		ssize_t n = send(fd, p + off, cap - off, MSG_DONTWAIT);
		if (n > 0) {
			off += n;
			idle = 0;
		} else {
			idle++;
			t_sleep_ms(10);
		}
	}
	return off;
}

/* reads until EOF (or 10 s); returns the byte count */
static size_t drain(int fd, char *buf, size_t cap)
{
	size_t off = 0;
	int64_t deadline = t_now_ns(CLOCK_MONOTONIC) + 10000000000LL;
	while (off < cap && t_now_ns(CLOCK_MONOTONIC) < deadline) {
		ssize_t n = recv(fd, buf + off, cap - off, MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n > 0)
			off += n;
		else
			t_sleep_ms(5);
	}
	return off;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof a;
	int l, a1, b1, a2, b2, a3, b3, a4, b4, buf = BUF;
	char b[64] = "";

	T_SETUP((l = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	/* small buffers, inherited by accepted sockets: windows fill quickly */
	T_SETUP(setsockopt(l, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf) == 0);
	T_SETUP(setsockopt(l, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf) == 0);
	T_SETUP(bind(l, (void *)&a, sizeof a) == 0 && listen(l, 8) == 0);
	T_SETUP(getsockname(l, (void *)&a, &al) == 0);

	pair(l, &a, &a1, &b1);
	T_SETUP(write(a1, "Hello World!", 12) == 12);
	T_SETUP(shutdown(a1, SHUT_WR) == 0);

	pair(l, &a, &a2, &b2);
	T_SETUP(setsockopt(a2, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf) == 0);
	t_fill(pat2, sizeof pat2, 2);
	size_t n2 = fill(a2, pat2, sizeof pat2);
	T_SETUP(n2 > 0 && n2 < sizeof pat2);
	T_SETUP(shutdown(a2, SHUT_WR) == 0);

	pair(l, &a, &a3, &b3);
	T_SETUP(shutdown(a3, SHUT_WR) == 0);
	T_SETUP(wait_state(b3, TCP_CLOSE_WAIT));
	t_fill(pat3, sizeof pat3, 3);
	size_t n3 = fill(b3, pat3, sizeof pat3);
	T_SETUP(n3 > 0 && n3 < sizeof pat3);
	T_SETUP(shutdown(b3, SHUT_WR) == 0);

	pair(l, &a, &a4, &b4);
	T_SETUP(shutdown(a4, SHUT_RD) == 0);

	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	socklen_t sl6 = sizeof s6;
	int l6, a6, b6;
	T_SETUP((l6 = socket(AF_INET6, SOCK_STREAM, 0)) >= 0);
	T_SETUP(bind(l6, (void *)&s6, sizeof s6) == 0 && listen(l6, 4) == 0);
	T_SETUP(getsockname(l6, (void *)&s6, &sl6) == 0);
	T_SETUP((a6 = socket(AF_INET6, SOCK_STREAM, 0)) >= 0 && connect(a6, (void *)&s6, sizeof s6) == 0);
	T_SETUP((b6 = accept(l6, NULL, NULL)) >= 0);
	T_SETUP(write(a6, "Hello v6", 8) == 8 && shutdown(a6, SHUT_WR) == 0);
	T_SETUP(wait_state(a6, TCP_FIN_WAIT2) && wait_state(b6, TCP_CLOSE_WAIT));

	T_SETUP(wait_state(a1, TCP_FIN_WAIT2) && wait_state(b1, TCP_CLOSE_WAIT));
	T_SETUP(wait_state(a2, TCP_FIN_WAIT1) && wait_state(b2, TCP_ESTABLISHED));
	T_SETUP(wait_state(a3, TCP_FIN_WAIT2) && wait_state(b3, TCP_LAST_ACK));
	t_ready();
	t_wait_go();

	T_EQ("a1 state (FIN_WAIT2)", state(a1), TCP_FIN_WAIT2);
	T_EQ("b1 state (CLOSE_WAIT)", state(b1), TCP_CLOSE_WAIT);
	/* a restored receive queue may take less memory than the original:
	 * the window can open at once, and the FIN follow the data */
	T_CHECK(state(a2) == TCP_FIN_WAIT1 || state(a2) == TCP_FIN_WAIT2, "a2 state %d, FIN_WAIT1 expected", state(a2));
	T_CHECK(state(b2) == TCP_ESTABLISHED || state(b2) == TCP_CLOSE_WAIT, "b2 state %d, ESTABLISHED expected", state(b2));
	/* a3's window may open at once (see a2): then b3's data and FIN go,
	 * a3 acknowledges, b3 closes and a3 goes through TIME_WAIT (CLOSE) */
	T_CHECK(state(a3) == TCP_FIN_WAIT2 || state(a3) == TCP_CLOSE, "a3 state %d, FIN_WAIT2 expected", state(a3));
	T_CHECK(state(b3) == TCP_LAST_ACK || state(b3) == TCP_CLOSE, "b3 state %d, LAST_ACK expected", state(b3));
	T_EQ("a4 state (ESTABLISHED)", state(a4), TCP_ESTABLISHED);

	/* P1 */
	memset(b, 0, sizeof b);
	T_EQ("b1 reads the queued bytes", recv(b1, b, sizeof b, MSG_DONTWAIT), 12);
	T_STREQ("b1 data", b, "Hello World!");
	T_EQ("b1 then reads EOF", recv(b1, b, sizeof b, MSG_DONTWAIT), 0);
	T_EQ("b1 replies", send(b1, "reply", 5, MSG_NOSIGNAL), 5);
	memset(b, 0, sizeof b);
	T_EQ("a1 gets the reply", drain(a1, b, 5), 5);
	T_STREQ("a1 reply", b, "reply");
	T_EQ("a1 cannot write", send(a1, "x", 1, MSG_NOSIGNAL), -1);
	T_EQ("b1 shuts down", shutdown(b1, SHUT_WR), 0);
	T_EQ("a1 reads EOF", drain(a1, b, sizeof b), 0);

	/* P2 */
	T_EQ("b2 reads every byte, then EOF", drain(b2, got, sizeof got), n2);
	T_EQ("b2 bad byte offset", t_verify(got, n2, 2), -1);
	T_CHECK(wait_state(a2, TCP_FIN_WAIT2), "a2 reaches FIN_WAIT2 (state %d)", state(a2));

	/* P3 */
	T_EQ("a3 reads every byte, then EOF", drain(a3, got, sizeof got), n3);
	T_EQ("a3 bad byte offset", t_verify(got, n3, 3), -1);
	T_EQ("b3 reads EOF", recv(b3, b, sizeof b, MSG_DONTWAIT), 0);
	T_CHECK(wait_state(b3, TCP_CLOSE), "b3 closes once a3 acknowledged its FIN (state %d)", state(b3));

	/* P6 */
	T_EQ("b6 state (CLOSE_WAIT)", state(b6), TCP_CLOSE_WAIT);
	T_EQ("a6 state (FIN_WAIT2)", state(a6), TCP_FIN_WAIT2);
	memset(b, 0, sizeof b);
	T_EQ("b6 reads the queued bytes then EOF", drain(b6, b, sizeof b), 8);
	T_STREQ("b6 data", b, "Hello v6");
	T_EQ("b6 replies", send(b6, "r6", 2, MSG_NOSIGNAL), 2);
	T_EQ("b6 shuts down", shutdown(b6, SHUT_WR), 0);
	memset(b, 0, sizeof b);
	T_EQ("a6 gets the reply then EOF", drain(a6, b, sizeof b), 2);

	/* P4 */
	struct pollfd p = { a4, POLLIN | POLLRDHUP, 0 };
	T_EQ("a4 poll", poll(&p, 1, 0), 1);
	T_CHECK(p.revents & POLLRDHUP, "a4 POLLRDHUP (revents %#x)", p.revents);
	T_EQ("a4 reads EOF", recv(a4, b, sizeof b, MSG_DONTWAIT), 0);
	T_EQ("a4 still writes", send(a4, "y", 1, MSG_NOSIGNAL), 1);
	memset(b, 0, sizeof b);
	T_EQ("b4 gets it", drain(b4, b, 1), 1);
	T_STREQ("b4 data", b, "y");

	t_finish();
}
