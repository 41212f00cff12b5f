/* tcp_self - a process holding a TCP connection to itself over 127.0.0.1,
 * with unread data in the receive queue, a listener, and an epoll fd
 * watching the connection.
 * Covers: a connection with both ends in the dumped tree is preserved with
 * TCP repair (queued bytes kept, then 1 MiB more flows both ways byte-exact),
 * the listener still accepts, epoll's interest list (events and data) comes
 * back and reports the queued data. */
#include "common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#define BIG (1 << 20)
static char big[BIG], got[BIG], big2[BIG], got2[BIG];

int main(int argc, char **argv)
{
	t_init(argc, argv);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof a;
	int l, c, s, ep, one = 1;
	T_SETUP((l = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	T_SETUP(setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0);
	T_SETUP(bind(l, (void *)&a, sizeof a) == 0 && listen(l, 8) == 0);
	T_SETUP(getsockname(l, (void *)&a, &al) == 0);
	T_SETUP((c = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	T_SETUP(connect(c, (void *)&a, sizeof a) == 0);
	T_SETUP((s = accept(l, NULL, NULL)) >= 0);
	T_SETUP(write(c, "pending-in-queue", 16) == 16);
	T_SETUP((ep = epoll_create1(0)) >= 0);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0x1234abcdULL };
	T_SETUP(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) == 0);
	t_ready();
	t_wait_go();

	struct epoll_event out;
	T_EQ("epoll_wait events", epoll_wait(ep, &out, 1, 2000), 1);
	T_EQ("epoll data", out.data.u64, 0x1234abcdULL);
	char b[32] = "";
	T_EQ("queued bytes", read(s, b, 16), 16);
	T_STREQ("queued data", b, "pending-in-queue");
	/* 1 MiB each way at once: c -> s and s -> c */
	t_fill(big, BIG, 42);
	t_fill(big2, BIG, 43);
	size_t off = 0, roff = 0, off2 = 0, roff2 = 0;
	int64_t deadline = t_now_ns(CLOCK_MONOTONIC) + 10000000000LL;
	while ((roff < BIG || roff2 < BIG) && t_now_ns(CLOCK_MONOTONIC) < deadline) {
		ssize_t n;
		if (off < BIG && (n = send(c, big + off, BIG - off, MSG_DONTWAIT)) > 0)
			off += n;
		if (off2 < BIG && (n = send(s, big2 + off2, BIG - off2, MSG_DONTWAIT)) > 0)
			off2 += n;
		if (roff < BIG && (n = recv(s, got + roff, BIG - roff, MSG_DONTWAIT)) > 0)
			roff += n;
		if (roff2 < BIG && (n = recv(c, got2 + roff2, BIG - roff2, MSG_DONTWAIT)) > 0)
			roff2 += n;
	}
	T_EQ("bytes through the restored connection (c -> s)", roff, BIG);
	T_EQ("bad byte offset (c -> s)", t_verify(got, BIG, 42), -1);
	T_EQ("bytes through the restored connection (s -> c)", roff2, BIG);
	T_EQ("bad byte offset (s -> c)", t_verify(got2, BIG, 43), -1);
	/* the listener works too */
	int c2 = socket(AF_INET, SOCK_STREAM, 0);
	T_CHECK(connect(c2, (void *)&a, sizeof a) == 0, "connect to the restored listener: %s", strerror(errno));
	T_CHECK(accept(l, NULL, NULL) >= 0, "accept on the restored listener: %s", strerror(errno));
	t_finish();
}
