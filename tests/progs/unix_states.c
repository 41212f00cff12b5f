/* unix_states - unix sockets in the states a server leaves them in.
 * Covers: a seqpacket connection made through an abstract listener with
 * messages queued both ways (boundaries kept); datagram sockets bound and
 * connected, one pair connected both ways, one connected one way with
 * datagrams queued from several senders (each keeps its source address);
 * abstract names on datagram sockets; shutdown states (SHUT_WR on a stream
 * and SHUT_RD on a seqpacket: the peers see EOF / EPIPE); a socket bound to
 * a path since deleted (the name stays, the path stays absent); a socket
 * bound with a relative path (getsockname gives the relative name, the file
 * is in the directory it was made in, with the mode it was given); and
 * connections waiting in a listener's queue, accepted after the restore in
 * the order they came (data sent on a connection not yet accepted cannot be
 * read without accepting it: that is refused, see sock_refuse "pending"). */
#include "common.h"
#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

static socklen_t addr(struct sockaddr_un *sa, const char *path, int abstract)
{
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	if (abstract) {
		snprintf(sa->sun_path + 1, sizeof sa->sun_path - 1, "%s", path);
		return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(path);
	}
	snprintf(sa->sun_path, sizeof sa->sun_path, "%s", path);
	return offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1;
}

static int sock_named(int type, struct sockaddr_un *sa, socklen_t l)
{
	int s = socket(AF_UNIX, type, 0);
	T_SETUP(s >= 0 && bind(s, (void *)sa, l) == 0);
	return s;
}

/* the name of s (or its peer), abstract shown as @name */
static const char *name_of(int s, int peer, char *buf)
{
	struct sockaddr_un n;
	socklen_t l = sizeof n;
	memset(&n, 0, sizeof n);
	if ((peer ? getpeername(s, (void *)&n, &l) : getsockname(s, (void *)&n, &l)) < 0)
		return strcpy(buf, "(error)");
	if (l <= offsetof(struct sockaddr_un, sun_path))
		return strcpy(buf, "(unnamed)");
	if (!n.sun_path[0])
		snprintf(buf, 120, "@%.*s", (int)(l - offsetof(struct sockaddr_un, sun_path) - 1), n.sun_path + 1);
	else
		snprintf(buf, 120, "%s", n.sun_path);
	return buf;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	struct sockaddr_un a1, a2, a3, a4, dp, lp, ab;
	socklen_t l1, l2, l3, l4, ldp, llp, lab;
	char pfx[64], nm[128], b[256], want[128];
	signal(SIGPIPE, SIG_IGN);
	snprintf(pfx, sizeof pfx, "ferry-st-%d", getpid());

	/* seqpacket through an abstract listener */
	snprintf(nm, sizeof nm, "%s-sq", pfx);
	lab = addr(&ab, nm, 1);
	int lq = sock_named(SOCK_SEQPACKET, &ab, lab);
	T_SETUP(listen(lq, 4) == 0);
	int sqc = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	T_SETUP(connect(sqc, (void *)&ab, lab) == 0);
	int sqs = accept(lq, NULL, NULL);
	T_SETUP(sqs >= 0);
	T_SETUP(send(sqc, "one", 3, 0) == 3 && send(sqc, "second", 6, 0) == 6 && send(sqc, "3", 1, 0) == 1);
	T_SETUP(send(sqs, "reply-1", 7, 0) == 7 && send(sqs, "r2", 2, 0) == 2);

	/* datagram: a pair bound to abstract names, connected both ways */
	snprintf(nm, sizeof nm, "%s-d1", pfx);
	l1 = addr(&a1, nm, 1);
	snprintf(nm, sizeof nm, "%s-d2", pfx);
	l2 = addr(&a2, nm, 1);
	int d1 = sock_named(SOCK_DGRAM, &a1, l1), d2 = sock_named(SOCK_DGRAM, &a2, l2);
	T_SETUP(connect(d1, (void *)&a2, l2) == 0 && connect(d2, (void *)&a1, l1) == 0);
	T_SETUP(send(d1, "d1-to-d2", 8, 0) == 8 && send(d2, "d2-to-d1", 8, 0) == 8);
	/* a receiver on a path; a sender bound and connected to it one way,
	 * another bound and unconnected, an unnamed one */
	l3 = addr(&a3, t_path("rx.sock"), 0);
	int rx = sock_named(SOCK_DGRAM, &a3, l3);
	snprintf(nm, sizeof nm, "%s-tx", pfx);
	l4 = addr(&a4, nm, 1);
	int tx = sock_named(SOCK_DGRAM, &a4, l4);
	T_SETUP(connect(tx, (void *)&a3, l3) == 0);
	int tx2 = socket(AF_UNIX, SOCK_DGRAM, 0);
	T_SETUP(send(tx, "from-tx", 7, 0) == 7);
	T_SETUP(sendto(tx2, "anon", 4, 0, (void *)&a3, l3) == 4);
	T_SETUP(send(tx, "tx-again", 8, 0) == 8);

	/* shutdown states */
	int sw[2], sr[2];
	T_SETUP(socketpair(AF_UNIX, SOCK_STREAM, 0, sw) == 0);
	T_SETUP(write(sw[0], "last-words", 10) == 10 && shutdown(sw[0], SHUT_WR) == 0);
	T_SETUP(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sr) == 0);
	T_SETUP(shutdown(sr[0], SHUT_RD) == 0);

	/* bound to a path since deleted */
	ldp = addr(&dp, t_path("gone.sock"), 0);
	int gone = sock_named(SOCK_DGRAM, &dp, ldp);
	T_SETUP(unlink(t_path("gone.sock")) == 0);

	/* bound with a relative path, in a directory that is not the cwd now */
	T_SETUP(mkdir(t_path("rel"), 0755) == 0 && chdir(t_path("rel")) == 0);
	struct sockaddr_un rp;
	socklen_t lrp = addr(&rp, "here.sock", 0);
	int rel = sock_named(SOCK_STREAM, &rp, lrp);
	T_SETUP(listen(rel, 2) == 0 && chmod("here.sock", 0600) == 0);
	T_SETUP(chdir("/") == 0);

	/* connections waiting to be accepted */
	llp = addr(&lp, t_path("pending.sock"), 0);
	int lis = sock_named(SOCK_STREAM, &lp, llp);
	T_SETUP(listen(lis, 8) == 0);
	int p1 = socket(AF_UNIX, SOCK_STREAM, 0), p2 = socket(AF_UNIX, SOCK_STREAM, 0),
	    p3 = socket(AF_UNIX, SOCK_STREAM, 0);
	T_SETUP(connect(p1, (void *)&lp, llp) == 0);
	T_SETUP(connect(p2, (void *)&lp, llp) == 0);
	T_SETUP(connect(p3, (void *)&lp, llp) == 0);

	t_ready();
	t_wait_go();

	/* seqpacket */
	T_EQ("seqpacket msg 1", recv(sqs, b, sizeof b, 0), 3);
	T_EQ("seqpacket msg 2", recv(sqs, b, sizeof b, 0), 6);
	T_CHECK(!memcmp(b, "second", 6), "seqpacket msg 2 is '%.6s'", b);
	T_EQ("seqpacket msg 3", recv(sqs, b, sizeof b, 0), 1);
	T_EQ("seqpacket reply 1", recv(sqc, b, sizeof b, 0), 7);
	T_EQ("seqpacket reply 2", recv(sqc, b, sizeof b, 0), 2);
	snprintf(want, sizeof want, "@%s-sq", pfx);
	T_STREQ("seqpacket accepted name", name_of(sqs, 0, nm), want);
	T_STREQ("seqpacket client's peer", name_of(sqc, 1, nm), want);
	T_CHECK(send(sqc, "more", 4, 0) == 4 && recv(sqs, b, sizeof b, 0) == 4, "seqpacket after restore: %s",
		strerror(errno));

	/* datagram pair */
	snprintf(want, sizeof want, "@%s-d1", pfx);
	T_STREQ("d1 name", name_of(d1, 0, nm), want);
	T_STREQ("d2 peer", name_of(d2, 1, nm), want);
	struct sockaddr_un from;
	socklen_t fl = sizeof from;
	memset(b, 0, sizeof b);
	T_EQ("d2 receives", recvfrom(d2, b, sizeof b, MSG_DONTWAIT, (void *)&from, &fl), 8);
	T_STREQ("d2 data", b, "d1-to-d2");
	T_EQ("d1 receives", recv(d1, b, sizeof b, MSG_DONTWAIT), 8);
	/* one-way connected sender: rx's queue keeps each source */
	const char *msgs[] = { "from-tx", "anon", "tx-again" };
	for (int i = 0; i < 3; i++) {
		memset(b, 0, sizeof b);
		fl = sizeof from;
		memset(&from, 0, sizeof from);
		ssize_t n = recvfrom(rx, b, sizeof b, MSG_DONTWAIT, (void *)&from, &fl);
		T_CHECK(n == (ssize_t)strlen(msgs[i]) && !strcmp(b, msgs[i]), "rx datagram %d: '%s' (%zd), expected '%s'",
			i, b, n, msgs[i]);
		if (i == 1)
			T_CHECK(fl == 0 || fl == offsetof(struct sockaddr_un, sun_path), "anonymous datagram came from a named sender");
		else
			T_CHECK(fl == l4 && !memcmp(&from, &a4, l4), "rx datagram %d: source address lost", i);
	}
	snprintf(want, sizeof want, "%s", t_path("rx.sock"));
	T_STREQ("tx peer", name_of(tx, 1, nm), want);
	T_CHECK(getpeername(rx, (void *)&from, &fl) < 0 && errno == ENOTCONN, "rx became connected");
	T_CHECK(send(tx, "live", 4, 0) == 4 && recv(rx, b, sizeof b, MSG_DONTWAIT) == 4, "tx -> rx after restore: %s",
		strerror(errno));

	/* shutdown */
	memset(b, 0, sizeof b);
	T_EQ("shut stream data", read(sw[1], b, sizeof b), 10);
	T_EQ("shut stream EOF", read(sw[1], b, sizeof b), 0);
	T_CHECK(write(sw[0], "x", 1) < 0 && errno == EPIPE, "write after SHUT_WR did not fail with EPIPE");
	T_CHECK(write(sw[1], "y", 1) == 1 && read(sw[0], b, 1) == 1, "the other way of the SHUT_WR pair is closed");
	T_CHECK(send(sr[1], "z", 1, 0) < 0 && errno == EPIPE, "send to a SHUT_RD seqpacket did not fail with EPIPE");
	T_EQ("SHUT_RD seqpacket reads EOF", recv(sr[0], b, 1, MSG_DONTWAIT), 0);
	T_CHECK(send(sr[0], "w", 1, 0) == 1 && recv(sr[1], b, 1, MSG_DONTWAIT) == 1, "SHUT_RD side cannot send");

	/* deleted path */
	struct stat st;
	T_STREQ("deleted socket's name", name_of(gone, 0, nm), t_path("gone.sock"));
	T_CHECK(lstat(t_path("gone.sock"), &st) < 0 && errno == ENOENT, "the deleted path exists again");

	/* relative */
	T_STREQ("relative name", name_of(rel, 0, nm), "here.sock");
	T_CHECK(lstat(t_path("rel/here.sock"), &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0600,
		"rel/here.sock missing or mode %o", st.st_mode & 07777);
	T_CHECK(lstat("/here.sock", &st) < 0, "/here.sock was created");
	struct sockaddr_un full;
	socklen_t lfull = addr(&full, t_path("rel/here.sock"), 0);
	int rc = socket(AF_UNIX, SOCK_STREAM, 0);
	T_CHECK(connect(rc, (void *)&full, lfull) == 0 && accept(rel, NULL, NULL) >= 0, "relative listener: %s",
		strerror(errno));

	/* pending connections: accepted in order, with their data */
	int q1 = accept(lis, NULL, NULL), q2 = accept(lis, NULL, NULL), q3 = accept(lis, NULL, NULL);
	T_CHECK(q1 >= 0 && q2 >= 0 && q3 >= 0, "accept of pending connections: %s", strerror(errno));
	T_EQ("pending 2 empty", recv(q2, b, sizeof b, MSG_DONTWAIT), -1);
	T_CHECK(write(p3, "3", 1) == 1 && read(q3, b, 1) == 1 && write(q3, "4", 1) == 1 && read(p3, b, 1) == 1,
		"pending 3 not connected to its client");
	T_CHECK(write(q2, "hey", 3) == 3 && read(p2, b, 3) == 3, "pending 2 not connected to its client");
	T_CHECK(write(p1, "+", 1) == 1 && read(q1, b, 1) == 1, "pending 1 not connected to its client");
	T_CHECK(fcntl(lis, F_SETFL, O_NONBLOCK) == 0 && accept(lis, NULL, NULL) < 0 && errno == EAGAIN,
		"a fourth connection was pending");
	t_finish();
}
