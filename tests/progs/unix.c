/* unix - unix sockets of every kind a server keeps, with queued data.
 * Covers: a stream listener on a path and a seqpacket listener on an
 * abstract name (both still accept), a connect/accept pair through the path
 * listener (names kept on both ends: getsockname/getpeername), socketpairs
 * of stream, datagram and seqpacket type with data queued in both
 * directions (message boundaries kept), a message sent with SO_PASSCRED
 * credentials of another process of the tree (the child), a pair connecting
 * parent and child processes, and a datagram socket bound to a path. */
#include "common.h"
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

static socklen_t addr(struct sockaddr_un *sa, const char *path, int abstract)
{
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	if (abstract) {
		snprintf(sa->sun_path + 1, sizeof sa->sun_path - 1, "%s", path);
		return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(path);
	}
	snprintf(sa->sun_path, sizeof sa->sun_path, "%s", path);
	return sizeof *sa;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	struct sockaddr_un lp, la, sa;
	socklen_t lpl, lal, sl;
	int ls, lq, cli, srv, st[2], dg[2], sq[2], pc[2], dgb, one = 1;
	char abs_name[64], b[256];

	lpl = addr(&lp, t_path("srv.sock"), 0);
	snprintf(abs_name, sizeof abs_name, "ferry-test-%d", getpid());
	lal = addr(&la, abs_name, 1);
	T_SETUP((ls = socket(AF_UNIX, SOCK_STREAM, 0)) >= 0 && bind(ls, (void *)&lp, lpl) == 0 && listen(ls, 8) == 0);
	T_SETUP((lq = socket(AF_UNIX, SOCK_SEQPACKET, 0)) >= 0 && bind(lq, (void *)&la, lal) == 0 && listen(lq, 4) == 0);
	T_SETUP((cli = socket(AF_UNIX, SOCK_STREAM, 0)) >= 0 && connect(cli, (void *)&lp, lpl) == 0);
	T_SETUP((srv = accept(ls, NULL, NULL)) >= 0);
	T_SETUP(write(cli, "to-server", 9) == 9 && write(srv, "to-client", 9) == 9);

	T_SETUP(socketpair(AF_UNIX, SOCK_STREAM, 0, st) == 0);
	T_SETUP(write(st[0], "stream-a", 8) == 8 && write(st[0], "stream-b", 8) == 8 && write(st[1], "back", 4) == 4);
	T_SETUP(socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) == 0);
	T_SETUP(send(dg[0], "d1", 2, 0) == 2 && send(dg[0], "dgram-2", 7, 0) == 7 && send(dg[0], "", 0, 0) == 0);
	T_SETUP(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sq) == 0);
	T_SETUP(send(sq[1], "pkt-one", 7, 0) == 7 && send(sq[1], "pkt-two!", 8, 0) == 8);
	T_SETUP((dgb = socket(AF_UNIX, SOCK_DGRAM, 0)) >= 0);
	sl = addr(&sa, t_path("dgram.sock"), 0);
	T_SETUP(bind(dgb, (void *)&sa, sl) == 0);

	/* a pair between parent and child; the child's message carries its creds */
	T_SETUP(socketpair(AF_UNIX, SOCK_STREAM, 0, pc) == 0);
	T_SETUP(setsockopt(pc[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one) == 0);
	pid_t child = fork();
	if (child == 0) {
		close(pc[0]);
		T_SETUP(write(pc[1], "from-child", 10) == 10);
		while (!t_go_exists())
			t_sleep_ms(5);
		T_SETUP(write(pc[1], "after-go", 8) == 8);
		_exit(0);
	}
	close(pc[1]);
	t_sleep_ms(200);
	t_ready();
	t_wait_go();

	/* names */
	struct sockaddr_un n;
	socklen_t nl = sizeof n;
	T_CHECK(getsockname(srv, (void *)&n, &nl) == 0 && !strcmp(n.sun_path, t_path("srv.sock")),
		"accepted socket's name is \"%s\"", n.sun_path);
	nl = sizeof n;
	T_CHECK(getpeername(cli, (void *)&n, &nl) == 0 && !strcmp(n.sun_path, t_path("srv.sock")),
		"client's peer name is \"%s\"", n.sun_path);
	/* queued data, boundaries */
	memset(b, 0, sizeof b);
	T_EQ("bytes at the server", read(srv, b, sizeof b), 9);
	T_STREQ("data at the server", b, "to-server");
	memset(b, 0, sizeof b);
	T_EQ("bytes at the client", read(cli, b, sizeof b), 9);
	memset(b, 0, sizeof b);
	T_EQ("stream pair bytes", read(st[1], b, sizeof b), 16);
	T_STREQ("stream pair data", b, "stream-astream-b");
	memset(b, 0, sizeof b);
	T_EQ("stream pair reverse", read(st[0], b, sizeof b), 4);
	T_EQ("datagram 1", recv(dg[1], b, sizeof b, 0), 2);
	T_EQ("datagram 2", recv(dg[1], b, sizeof b, 0), 7);
	T_EQ("empty datagram", recv(dg[1], b, sizeof b, MSG_DONTWAIT), 0);
	T_EQ("seqpacket 1", recv(sq[0], b, sizeof b, 0), 7);
	T_EQ("seqpacket 2", recv(sq[0], b, sizeof b, 0), 8);
	/* the child's message with its credentials */
	char cbuf[CMSG_SPACE(sizeof(struct ucred))];
	struct iovec iov = { b, 10 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
	memset(b, 0, sizeof b);
	T_EQ("child message", recvmsg(pc[0], &mh, 0), 10);
	T_STREQ("child message data", b, "from-child");
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	T_CHECK(c && c->cmsg_type == SCM_CREDENTIALS && ((struct ucred *)CMSG_DATA(c))->pid == child,
		"the child's message lost its credentials (pid %d expected)", child);
	memset(b, 0, sizeof b);
	T_EQ("child message after go", read(pc[0], b, 8), 8);
	T_STREQ("child data after go", b, "after-go");
	int wst;
	T_CHECK(waitpid(child, &wst, 0) == child && WIFEXITED(wst) && !WEXITSTATUS(wst), "child status %#x", wst);
	/* datagram socket bound to a path receives; listeners accept */
	int tx = socket(AF_UNIX, SOCK_DGRAM, 0);
	T_CHECK(sendto(tx, "hi", 2, 0, (void *)&sa, sl) == 2, "send to the bound datagram socket: %s", strerror(errno));
	T_EQ("bound datagram socket receives", recv(dgb, b, sizeof b, MSG_DONTWAIT), 2);
	int c2 = socket(AF_UNIX, SOCK_STREAM, 0), c3 = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	T_CHECK(connect(c2, (void *)&lp, lpl) == 0 && accept(ls, NULL, NULL) >= 0, "path listener: %s", strerror(errno));
	T_CHECK(connect(c3, (void *)&la, lal) == 0 && accept(lq, NULL, NULL) >= 0, "abstract listener: %s",
		strerror(errno));
	t_finish();
}
