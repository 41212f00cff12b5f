/* sock_refuse - holds something ferry does not support, so `ferry dump`
 * must refuse it and leave the process alone.
 * Usage: sock_refuse WORKDIR [KIND]   (default netlink)
 * KIND, held at fd 42 (seccomp: no fd):
 *   netlink   a NETLINK_ROUTE socket with an answer queued for reading
 *   packet    an AF_PACKET socket with a receive ring
 *   unix, inet  supported sockets (for checking the refusal of the others)
 *   rawq      a raw ICMP socket with packets queued for reading (its own
 *             echo request to 127.0.0.1 and the reply): still queued after
 *             the refused dump
 *   io_uring  an io_uring instance        inflight  a unix stream socket with an
 *             fd sent to it (SCM_RIGHTS) and not received yet
 *   pending   a unix listener with a connection waiting to be accepted
 *             that has data sent on it
 *   ptmx      a pseudo-terminal master    device  /dev/kmsg (a character
 *             device beyond the memory ones)
 *   userfaultfd  a userfaultfd            seccomp  an allow-all seccomp filter
 *   procout   /proc/1/status (a process outside the tree)
 *   utsns     a UTS namespace other than the host's (made by a child)
 *   aio       an io_setup context (no fd of its own: fd 42 is /dev/null)
 *   owner     /dev/null whose F_SETOWN owner is pid 1 (outside the tree)
 * The counter workload of counter.c runs alongside.  The runner expects dump
 * to exit 1 naming the pid, the fd and the kind, checks the process runs on
 * untraced, then creates WORKDIR/go.
 * Covers (here): the refused dump left the process alone: counters agree
 * and advanced, it is not traced afterwards (TracerPid 0), fd 42 is still
 * the same file (/proc/self/fd/42 and its kind), the seccomp filter is
 * still in force, and no signal arrived. */
#define T_COUNTER
#include "common.h"
#include <linux/io_uring.h>
#include <linux/filter.h>
#include <linux/icmp.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

static unsigned long aio_ctx;	/* kind aio */

/* the object of KIND (other than a socket family) at a new fd, or -1 */
static int make_other(const char *kind)
{
	if (!strcmp(kind, "io_uring")) {
		struct io_uring_params p;
		memset(&p, 0, sizeof p);
		return syscall(SYS_io_uring_setup, 4, &p);
	}
	if (!strcmp(kind, "inflight")) {
		int sv[2];
		T_SETUP(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
		char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
		struct iovec iov = { "x", 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &sv[0], sizeof(int));
		T_SETUP(sendmsg(sv[0], &m, 0) == 1);
		T_SETUP(close(sv[0]) == 0);
		return sv[1];
	}
	if (!strcmp(kind, "ownuts")) {	/* a hostname of its own */
		T_SETUP(unshare(CLONE_NEWUTS) == 0 && sethostname("ferry-own-uts", 13) == 0);
		return open("/dev/null", O_RDONLY);
	}
	if (!strcmp(kind, "pidns_children")) {	/* its children would be pid 1 of a new namespace */
		T_SETUP(unshare(CLONE_NEWPID) == 0);
		return open("/dev/null", O_RDONLY);
	}
	if (!strcmp(kind, "aio")) {
		T_SETUP(syscall(SYS_io_setup, 4, &aio_ctx) == 0);
		return open("/dev/null", O_RDONLY);
	}
	if (!strcmp(kind, "owner")) {
		int fd = open("/dev/null", O_RDONLY);
		T_SETUP(fd >= 0 && fcntl(fd, F_SETOWN, 1) == 0);
		return fd;
	}
	if (!strcmp(kind, "procout"))
		return open("/proc/1/status", O_RDONLY);
	if (!strcmp(kind, "utsns")) {
		int up[2], down[2], fd;	/* child -> parent, parent -> child */
		char path[64], c;
		T_SETUP(pipe(up) == 0 && pipe(down) == 0);
		pid_t ch = fork();
		T_SETUP(ch >= 0);
		if (ch == 0)	/* in its own namespace until the parent holds it */
			_exit(unshare(CLONE_NEWUTS) < 0 || write(up[1], "x", 1) != 1 || read(down[0], &c, 1) < 0);
		T_SETUP(read(up[0], &c, 1) == 1);
		snprintf(path, sizeof(path), "/proc/%d/ns/uts", ch);
		fd = open(path, O_RDONLY);
		T_SETUP(write(down[1], "x", 1) == 1 && waitpid(ch, NULL, 0) == ch);
		close(up[0]), close(up[1]), close(down[0]), close(down[1]);
		return fd;
	}
	if (!strcmp(kind, "pending")) {
		/* a connection waiting to be accepted, with data sent on it */
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int l = socket(AF_UNIX, SOCK_STREAM, 0), c = socket(AF_UNIX, SOCK_STREAM, 0);
		snprintf(sa.sun_path, sizeof sa.sun_path, "%s", t_path("pending.sock"));
		T_SETUP(l >= 0 && c >= 0 && bind(l, (void *)&sa, sizeof sa) == 0 && listen(l, 4) == 0);
		T_SETUP(connect(c, (void *)&sa, sizeof sa) == 0 && write(c, "hello", 5) == 5);
		return l;
	}
	if (!strcmp(kind, "ptmx"))
		return open("/dev/ptmx", O_RDWR | O_NOCTTY);
	if (!strcmp(kind, "device"))
		return open("/dev/kmsg", O_WRONLY);
	if (!strcmp(kind, "userfaultfd"))
		return syscall(SYS_userfaultfd, 0);
	return -2;
}

static volatile int sigs;
static void on_sig(int s)
{
	(void)s;
	sigs++;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	const char *kind = argc > 2 ? argv[2] : "netlink";
	int fam = AF_NETLINK, type = SOCK_RAW, proto = NETLINK_ROUTE;
	if (!strcmp(kind, "packet"))
		fam = AF_PACKET, type = SOCK_RAW, proto = 0; /* no protocol: receives nothing */
	else if (!strcmp(kind, "unix"))
		fam = AF_UNIX, type = SOCK_STREAM, proto = 0;
	else if (!strcmp(kind, "inet"))
		fam = AF_INET, type = SOCK_STREAM, proto = 0;
	else if (!strcmp(kind, "rawq"))
		fam = AF_INET, type = SOCK_RAW, proto = IPPROTO_ICMP;
	int seccomp = !strcmp(kind, "seccomp"), s = seccomp ? -1 : make_other(kind), sock = s == -2;
	char link42[256] = "";
	if (seccomp) {
		struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
		struct sock_fprog prog = { 1, &allow };
		T_SETUP(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
		T_SETUP(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0);
	} else {
		if (sock)
			s = socket(fam, type, proto);
		T_SETUP(s >= 0);
		if (!strcmp(kind, "rawq")) {
			/* an echo request to ourselves: the raw socket gets it and the reply */
			struct icmphdr ih = { .type = ICMP_ECHO };
			struct sockaddr_in lo = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
			ih.checksum = htons(0xf7ff);	/* ~0x0800: type 8, everything else 0 */
			T_SETUP(sendto(s, &ih, sizeof ih, 0, (void *)&lo, sizeof lo) == sizeof ih);
			t_sleep_ms(50);
		} else if (sock && fam == AF_NETLINK) {
			/* a request whose answer waits, unread */
			struct {
				struct nlmsghdr h;
				struct ifinfomsg i;
			} req = { { sizeof req, RTM_GETLINK, NLM_F_REQUEST, 1, 0 }, { .ifi_index = 1 } };
			T_SETUP(send(s, &req, sizeof req, 0) == sizeof req);
		} else if (sock && fam == AF_PACKET) {
			struct tpacket_req r = { 4096, 1, 2048, 2 };
			T_SETUP(setsockopt(s, SOL_PACKET, PACKET_RX_RING, &r, sizeof r) == 0);
		}
		T_SETUP(dup2(s, 42) == 42);
		T_SETUP(close(s) == 0);
		T_SETUP(readlink("/proc/self/fd/42", link42, sizeof link42 - 1) > 0);
	}
	/* count any catchable signal that might hit us */
	for (int i = 1; i < 32; i++)
		if (i != SIGKILL && i != SIGSTOP && i != SIGSEGV && i != SIGBUS && i != SIGFPE && i != SIGILL)
			signal(i, on_sig);

	struct t_counter c;
	t_counter_setup(&c);
	t_counter_run(&c);
	t_counter_verify(&c);
	char tp[32] = "?";
	t_status_field("TracerPid", tp, sizeof tp);
	T_STREQ("TracerPid", tp, "0");
	if (seccomp) {
		T_EQ("seccomp mode", prctl(PR_GET_SECCOMP, 0, 0, 0, 0), SECCOMP_MODE_FILTER);
	} else {
		char now[256] = "";
		T_CHECK(readlink("/proc/self/fd/42", now, sizeof now - 1) > 0 && !strcmp(now, link42),
			"fd 42 is '%s', was '%s'", now, link42);
	}
	int t = -1, dom = -1;
	socklen_t len = sizeof t;
	if (sock) {
		T_CHECK(getsockopt(42, SOL_SOCKET, SO_TYPE, &t, &len) == 0 && t == type,
			"fd 42: socket type %d, expected %d", t, type);
		len = sizeof dom;
		T_CHECK(getsockopt(42, SOL_SOCKET, SO_DOMAIN, &dom, &len) == 0 && dom == fam,
			"fd 42: socket family %d, expected %d", dom, fam);
	}
	if (!strcmp(kind, "rawq")) {
		char b[256];
		T_CHECK(recv(42, b, sizeof b, MSG_DONTWAIT) > 0, "the raw socket's packets are still queued");
	}
	T_EQ("signals received", sigs, 0);
	if (aio_ctx)
		T_EQ("io_destroy of the context", syscall(SYS_io_destroy, aio_ctx), 0);
	if (!strcmp(kind, "owner"))
		T_EQ("fd 42's owner", fcntl(42, F_GETOWN), 1);
	t_finish();
}
