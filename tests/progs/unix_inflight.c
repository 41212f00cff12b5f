/* unix_inflight - file descriptors in flight (SCM_RIGHTS) in unix sockets.
 * Covers: a seqpacket socket with a message queued, then one carrying a
 * regular file (its offset and flags) and the write end of a pipe whose
 * only references are in flight, then another (the files arrive with their
 * own message, not with the one before); a datagram carrying a file
 * the process still holds at an fd (the same description: offsets shared);
 * a seqpacket socket sent over itself and closed, so that its only
 * reference is in flight in its peer's queue (it still works as the peer's
 * other end once received); a socket in flight that has a file in flight of
 * its own, whose peer is closed (it reads its queue, then EOF); and
 * SCM_CREDENTIALS together with SCM_RIGHTS.  (Files in flight on a stream
 * socket are refused: see neg_inflight.) */
#include "common.h"
#include <sys/socket.h>
#include <sys/wait.h>

static int send_fds(int s, const char *data, const int *fds, int n, int cred)
{
	char cbuf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(8 * sizeof(int))];
	struct iovec iov = { (void *)data, strlen(data) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf };
	struct cmsghdr *c;
	memset(cbuf, 0, sizeof cbuf);
	m.msg_controllen = CMSG_SPACE(n * sizeof(int)) + (cred ? CMSG_SPACE(sizeof(struct ucred)) : 0);
	c = CMSG_FIRSTHDR(&m);
	if (cred) {
		struct ucred u = { getpid(), getuid(), getgid() };
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_CREDENTIALS;
		c->cmsg_len = CMSG_LEN(sizeof u);
		memcpy(CMSG_DATA(c), &u, sizeof u);
		c = CMSG_NXTHDR(&m, c);
	}
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	return sendmsg(s, &m, 0) == (ssize_t)strlen(data) ? 0 : -1;
}

/* receives up to len bytes; the files that came with them into fds, their count returned in *n */
static ssize_t recv_fds(int s, char *buf, size_t len, int *fds, int *n, int flags, struct ucred *cr)
{
	char cbuf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(8 * sizeof(int))];
	struct iovec iov = { buf, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
	ssize_t r;
	memset(buf, 0, len);
	*n = 0;
	r = recvmsg(s, &m, flags);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); r >= 0 && c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_type == SCM_RIGHTS) {
			*n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			memcpy(fds, CMSG_DATA(c), *n * sizeof(int));
		} else if (c->cmsg_type == SCM_CREDENTIALS && cr) {
			memcpy(cr, CMSG_DATA(c), sizeof *cr);
		}
	}
	return r;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	int st[2], dg[2], sq[2], in[2], pp[2], one = 1, fds[8], n;
	char b[256];

	/* messages, one with a file at offset 3 and a pipe's write end */
	T_SETUP(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, st) == 0);
	int f = open(t_path("data"), O_RDWR | O_CREAT | O_APPEND, 0600);
	T_SETUP(f >= 0 && write(f, "0123456789", 10) == 10 && lseek(f, 3, SEEK_SET) == 3);
	T_SETUP(pipe(pp) == 0);
	T_SETUP(write(st[0], "before", 6) == 6);
	int two[2] = { f, pp[1] };
	T_SETUP(send_fds(st[0], "FILES", two, 2, 0) == 0);
	T_SETUP(write(st[0], "after", 5) == 5);
	T_SETUP(close(f) == 0 && close(pp[1]) == 0);

	/* datagram: a file the process still holds */
	T_SETUP(socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) == 0);
	int held = open(t_path("held"), O_RDWR | O_CREAT, 0600);
	T_SETUP(held >= 0 && write(held, "abcdef", 6) == 6 && lseek(held, 2, SEEK_SET) == 2);
	T_SETUP(send_fds(dg[0], "dgram", &held, 1, 0) == 0);

	/* seqpacket sent over itself and closed: only in flight; with credentials */
	T_SETUP(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sq) == 0);
	T_SETUP(setsockopt(sq[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one) == 0);
	T_SETUP(send_fds(sq[0], "self", &sq[0], 1, 1) == 0);
	T_SETUP(close(sq[0]) == 0);

	/* a socket in flight with a file in flight of its own: in[1] holds a
	 * message carrying the pipe's read end; in[1] is sent over dg */
	T_SETUP(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, in) == 0);
	T_SETUP(send_fds(in[0], "nested", &pp[0], 1, 0) == 0);
	T_SETUP(send_fds(dg[0], "sock", &in[1], 1, 0) == 0);
	T_SETUP(close(in[1]) == 0 && close(pp[0]) == 0 && close(in[0]) == 0);

	t_ready();
	t_wait_go();

	/* stream */
	T_EQ("seqpacket: bytes before the files", recv_fds(st[1], b, sizeof b, fds, &n, 0, NULL), 6);
	T_EQ("seqpacket: no files with the bytes before", n, 0);
	T_EQ("seqpacket: the files' segment", recv_fds(st[1], b, sizeof b, fds, &n, 0, NULL), 5);
	T_STREQ("seqpacket: the files' segment data", b, "FILES");
	T_EQ("seqpacket: files in flight", n, 2);
	int rf = fds[0], wp = fds[1];
	T_EQ("seqpacket: the rest", recv_fds(st[1], b, sizeof b, fds, &n, 0, NULL), 5);
	T_STREQ("seqpacket: the rest data", b, "after");
	T_EQ("file in flight: offset", lseek(rf, 0, SEEK_CUR), 3);
	T_CHECK(fcntl(rf, F_GETFL) & O_APPEND, "file in flight lost O_APPEND");
	T_EQ("file in flight: read", read(rf, b, 4), 4);
	T_CHECK(!memcmp(b, "3456", 4), "file in flight read '%.4s'", b);

	/* datagram: the held file, same description */
	T_EQ("dgram with a file", recv_fds(dg[1], b, sizeof b, fds, &n, MSG_DONTWAIT, NULL), 5);
	T_EQ("dgram: files", n, 1);
	T_CHECK(n == 1 && lseek(fds[0], 4, SEEK_SET) == 4 && lseek(held, 0, SEEK_CUR) == 4,
		"the file in flight is not the description the process holds");

	/* the socket in flight with its own file in flight: the pipe's read end */
	T_EQ("dgram with a socket", recv_fds(dg[1], b, sizeof b, fds, &n, MSG_DONTWAIT, NULL), 4);
	T_EQ("dgram: sockets", n, 1);
	int nested = fds[0];
	T_EQ("nested message", recv_fds(nested, b, sizeof b, fds, &n, MSG_DONTWAIT, NULL), 6);
	T_STREQ("nested data", b, "nested");
	T_EQ("nested: files", n, 1);
	T_EQ("nested: EOF after its queue", recv(nested, b, sizeof b, MSG_DONTWAIT), 0);
	int rp = fds[0];
	T_CHECK(write(wp, "pipe!", 5) == 5 && read(rp, b, 5) == 5 && !memcmp(b, "pipe!", 5),
		"the pipe's ends in flight are not one pipe");
	close(wp);
	T_EQ("pipe EOF once its write end is closed", read(rp, b, 1), 0);

	/* seqpacket over itself */
	struct ucred cr = { 0, 0, 0 };
	T_EQ("seqpacket self", recv_fds(sq[1], b, sizeof b, fds, &n, MSG_DONTWAIT, &cr), 4);
	T_EQ("seqpacket: files", n, 1);
	T_EQ("seqpacket: credentials' pid", cr.pid, getpid());
	int self = fds[0];
	T_CHECK(send(self, "loop", 4, 0) == 4 && recv(sq[1], b, sizeof b, MSG_DONTWAIT) == 4,
		"the socket in flight is not its peer's other end");
	t_finish();
}
