/* tcp_syn_sent - a TCP socket still connecting (SYN_SENT) to a listener of
 * the tree whose accept queue was full, so its SYN was dropped.
 * Covers: the socket comes back connecting (SYN_SENT) with its local port,
 * and its connection completes after the restore (the connection that
 * filled the queue was in flight, so it was not carried: the queue has room
 * now), the listener accepts it by its port and data flows.
 * One dump/restore cycle: after it the connection is established and sits
 * in the listener's accept queue, which a second dump would not carry. */
#include "common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

static int state(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof ti;
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0)
		return -1;
	return ti.tcpi_state;
}

static int port_of(int fd)
{
	struct sockaddr_in a;
	socklen_t l = sizeof a;
	getsockname(fd, (void *)&a, &l);
	return ntohs(a.sin_port);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof a;
	int l, cx, c;
	char b[8];

	T_SETUP((l = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	T_SETUP(bind(l, (void *)&a, sizeof a) == 0 && listen(l, 0) == 0);
	T_SETUP(getsockname(l, (void *)&a, &al) == 0);
	T_SETUP((cx = socket(AF_INET, SOCK_STREAM, 0)) >= 0 && connect(cx, (void *)&a, sizeof a) == 0);
	T_SETUP((c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) >= 0);
	T_SETUP(connect(c, (void *)&a, sizeof a) < 0 && errno == EINPROGRESS);
	t_sleep_ms(50);
	T_SETUP(state(c) == TCP_SYN_SENT);
	int cport = port_of(c);
	t_ready();
	t_wait_go();

	/* restored, its SYN went again and found room at once */
	T_CHECK(state(c) == TCP_SYN_SENT || state(c) == TCP_ESTABLISHED, "state %d, SYN_SENT expected", state(c));
	T_EQ("local port", port_of(c), cport);
	/* without a restore, make the room ourselves */
	struct sockaddr_in pa;
	socklen_t pl = sizeof pa;
	int s = -1;
	fcntl(l, F_SETFL, O_NONBLOCK);
	s = accept(l, (void *)&pa, &pl);
	if (s >= 0 && ntohs(pa.sin_port) != cport) {
		close(s);
		s = -1;
	}
	struct pollfd q = { c, POLLOUT, 0 };
	int err = -1;
	socklen_t el = sizeof err;
	T_EQ("connects", poll(&q, 1, 10000), 1);
	T_CHECK(getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0, "SO_ERROR %d", err);
	T_EQ("state then", state(c), TCP_ESTABLISHED);
	for (int i = 0; i < 200 && s < 0; i++) {
		pl = sizeof pa;
		s = accept(l, (void *)&pa, &pl);
		if (s < 0 || ntohs(pa.sin_port) != cport) {
			if (s >= 0)
				close(s);
			s = -1;
			t_sleep_ms(20);
		}
	}
	T_CHECK(s >= 0, "the listener accepts it (port %d)", cport);
	T_EQ("it writes", send(c, "z", 1, MSG_NOSIGNAL), 1);
	T_EQ("and its peer reads", s >= 0 ? recv(s, b, 1, 0) : -1, 1);
	t_finish();
}
