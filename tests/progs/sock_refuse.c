/* sock_refuse - holds a socket of a kind ferry does not support, so
 * `ferry dump` must refuse it.
 * Usage: sock_refuse WORKDIR [netlink|packet|unix|inet]   (default netlink)
 * The socket sits at fd 42: by default a NETLINK_ROUTE socket (TCP, UDP and
 * unix sockets are supported by ferry, netlink and packet ones are not; pick
 * another kind with argv[2] if that changes); the counter workload of
 * counter.c runs alongside.  The runner expects dump to exit 1 naming the
 * pid, fd 42 and "socket", then creates WORKDIR/go.
 * Covers (here): the refused dump left the process alone: it was never
 * stopped for long (largest gap between 1 ms rounds < 2 s), counters agree
 * and advanced, it is not traced afterwards (TracerPid 0), the socket is
 * still fd 42 with its family and type, and no signal arrived. */
#define T_COUNTER
#include "common.h"
#include <linux/netlink.h>
#include <signal.h>
#include <sys/socket.h>

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
	int s = socket(fam, type, proto);
	T_SETUP(s >= 0);
	T_SETUP(dup2(s, 42) == 42);
	T_SETUP(close(s) == 0);
	/* count any catchable signal that might hit us */
	for (int i = 1; i < 32; i++)
		if (i != SIGKILL && i != SIGSTOP && i != SIGSEGV && i != SIGBUS && i != SIGFPE && i != SIGILL)
			signal(i, on_sig);

	struct t_counter c;
	t_counter_setup(&c);
	t_counter_run(&c);
	t_counter_verify(&c);
	T_CHECK(c.max_gap_ns < 2000000000LL, "the process was stopped for %.3f s", c.max_gap_ns / 1e9);
	char tp[32] = "?";
	t_status_field("TracerPid", tp, sizeof tp);
	T_STREQ("TracerPid", tp, "0");
	int t = -1, dom = -1;
	socklen_t len = sizeof t;
	T_CHECK(getsockopt(42, SOL_SOCKET, SO_TYPE, &t, &len) == 0 && t == type, "fd 42: socket type %d, expected %d",
		t, type);
	len = sizeof dom;
	T_CHECK(getsockopt(42, SOL_SOCKET, SO_DOMAIN, &dom, &len) == 0 && dom == fam,
		"fd 42: socket family %d, expected %d", dom, fam);
	T_EQ("signals received", sigs, 0);
	t_finish();
}
