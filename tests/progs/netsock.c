/* netsock - netlink and packet sockets, checked from inside after restore.
 * Covers: a NETLINK_ROUTE socket bound by the kernel (port id kept) to two
 * groups of the first 32 and joined to one beyond them, with
 * NETLINK_NO_ENOBUFS, EXT_ACK and GET_STRICT_CHK set, which still answers a
 * request; an unbound NETLINK_GENERIC socket (still unbound); a raw packet
 * socket for a local ethertype bound to lo with TPACKET_V2, PACKET_AUXDATA,
 * a fanout group, a classic filter (dropping everything, so nothing queues)
 * and SO_LOCK_FILTER; an unbound datagram packet socket of protocol 0. */
#include "common.h"
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#ifndef SO_LOCK_FILTER
#define SO_LOCK_FILTER 44
#endif
#define ETHERTYPE 0x88b5	/* local experimental: nothing sends it */
#define FANOUT (77 | (PACKET_FANOUT_HASH << 16))

static int nlopt(int s, int opt)
{
	int v = -1;
	socklen_t l = sizeof v;
	return getsockopt(s, SOL_NETLINK, opt, &v, &l) < 0 ? -1 : v;
}

static int pkopt(int s, int opt)
{
	int v = -1;
	socklen_t l = sizeof v;
	return getsockopt(s, SOL_PACKET, opt, &v, &l) < 0 ? -1 : v;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	int one = 1, v2 = TPACKET_V2, grp = RTNLGRP_BRVLAN, fan = FANOUT;
	/* quiet groups: DECnet is long gone from the kernel */
	unsigned groups = RTMGRP_DECnet_IFADDR | RTMGRP_DECnet_ROUTE;
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK, .nl_groups = groups }, got;
	socklen_t l = sizeof got;

	int rt = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	T_SETUP(rt >= 0 && bind(rt, (void *)&nl, sizeof nl) == 0);
	T_SETUP(setsockopt(rt, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &grp, sizeof grp) == 0);
	T_SETUP(setsockopt(rt, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one) == 0);
	T_SETUP(setsockopt(rt, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one) == 0);
	T_SETUP(setsockopt(rt, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one) == 0);
	T_SETUP(getsockname(rt, (void *)&got, &l) == 0 && got.nl_pid != 0);
	uint32_t portid = got.nl_pid;
	int gen = socket(AF_NETLINK, SOCK_DGRAM, NETLINK_GENERIC);
	T_SETUP(gen >= 0);

	int pk = socket(AF_PACKET, SOCK_RAW, htons(ETHERTYPE));
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETHERTYPE), .sll_ifindex = 1 };
	struct sock_filter drop = BPF_STMT(BPF_RET | BPF_K, 0);
	struct sock_fprog prog = { 1, &drop };
	T_SETUP(pk >= 0 && setsockopt(pk, SOL_PACKET, PACKET_VERSION, &v2, sizeof v2) == 0);
	T_SETUP(setsockopt(pk, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) == 0);
	T_SETUP(bind(pk, (void *)&ll, sizeof ll) == 0);
	T_SETUP(setsockopt(pk, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) == 0);
	T_SETUP(setsockopt(pk, SOL_PACKET, PACKET_FANOUT, &fan, sizeof fan) == 0);
	T_SETUP(setsockopt(pk, SOL_SOCKET, SO_LOCK_FILTER, &one, sizeof one) == 0);
	int pd = socket(AF_PACKET, SOCK_DGRAM, 0);
	T_SETUP(pd >= 0);

	t_ready();
	t_wait_go();

	/* netlink route */
	l = sizeof got;
	memset(&got, 0, sizeof got);
	T_CHECK(getsockname(rt, (void *)&got, &l) == 0, "getsockname: %s", strerror(errno));
	T_EQ("route socket port id", got.nl_pid, portid);
	T_EQ("route socket groups", got.nl_groups, groups);
	uint32_t mem[4] = { 0 };
	l = sizeof mem;
	T_CHECK(getsockopt(rt, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, mem, &l) == 0, "list memberships");
	T_EQ("first 32 groups", mem[0], groups);
	T_EQ("group 33", mem[1], 1u << (RTNLGRP_BRVLAN - 33));
	T_EQ("NETLINK_NO_ENOBUFS", nlopt(rt, NETLINK_NO_ENOBUFS), 1);
	T_EQ("NETLINK_EXT_ACK", nlopt(rt, NETLINK_EXT_ACK), 1);
	T_EQ("NETLINK_GET_STRICT_CHK", nlopt(rt, NETLINK_GET_STRICT_CHK), 1);
	T_EQ("NETLINK_PKTINFO", nlopt(rt, NETLINK_PKTINFO), 0);
	struct {
		struct nlmsghdr h;
		struct ifinfomsg i;
	} req = { { sizeof req, RTM_GETLINK, NLM_F_REQUEST, 1, 0 }, { .ifi_family = AF_UNSPEC, .ifi_index = 1 } };
	char ans[8192];
	T_CHECK(send(rt, &req, sizeof req, 0) == sizeof req, "netlink request: %s", strerror(errno));
	ssize_t n = recv(rt, ans, sizeof ans, 0);
	T_CHECK(n > (ssize_t)NLMSG_HDRLEN && ((struct nlmsghdr *)ans)->nlmsg_type == RTM_NEWLINK &&
		((struct nlmsghdr *)ans)->nlmsg_pid == portid, "netlink answer: %zd bytes, type %d", n,
		n > 0 ? ((struct nlmsghdr *)ans)->nlmsg_type : -1);
	/* netlink generic, unbound */
	l = sizeof got;
	memset(&got, 0xff, sizeof got);
	T_CHECK(getsockname(gen, (void *)&got, &l) == 0 && got.nl_pid == 0, "generic socket port id %u", got.nl_pid);
	int t = -1, p = -1;
	socklen_t tl = sizeof t;
	getsockopt(gen, SOL_SOCKET, SO_PROTOCOL, &p, &tl);
	tl = sizeof t;
	getsockopt(gen, SOL_SOCKET, SO_TYPE, &t, &tl);
	T_CHECK(p == NETLINK_GENERIC && t == SOCK_DGRAM, "generic socket protocol %d type %d", p, t);

	/* packet */
	struct sockaddr_ll lg;
	l = sizeof lg;
	memset(&lg, 0, sizeof lg);
	T_CHECK(getsockname(pk, (void *)&lg, &l) == 0 && lg.sll_ifindex == 1 && lg.sll_protocol == htons(ETHERTYPE),
		"packet socket bound to ifindex %d protocol %#x", lg.sll_ifindex, ntohs(lg.sll_protocol));
	T_EQ("PACKET_VERSION", pkopt(pk, PACKET_VERSION), TPACKET_V2);
	T_EQ("PACKET_AUXDATA", pkopt(pk, PACKET_AUXDATA), 1);
	T_EQ("PACKET_FANOUT", pkopt(pk, PACKET_FANOUT), FANOUT);
	struct sock_filter f[4];
	socklen_t fl = 4;
	T_CHECK(getsockopt(pk, SOL_SOCKET, SO_GET_FILTER, f, &fl) == 0 && fl == 1 && f[0].code == (BPF_RET | BPF_K) &&
		f[0].k == 0, "filter: %u instructions", fl);
	int lk = 0;
	l = sizeof lk;
	T_CHECK(getsockopt(pk, SOL_SOCKET, SO_LOCK_FILTER, &lk, &l) == 0 && lk == 1, "SO_LOCK_FILTER %d", lk);
	T_CHECK(setsockopt(pk, SOL_SOCKET, SO_DETACH_FILTER, &one, sizeof one) < 0 && errno == EPERM,
		"the locked filter could be detached");
	tl = sizeof t;
	T_CHECK(getsockopt(pd, SOL_SOCKET, SO_TYPE, &t, &tl) == 0 && t == SOCK_DGRAM, "packet dgram type %d", t);
	l = sizeof lg;
	memset(&lg, 0xff, sizeof lg);
	T_CHECK(getsockname(pd, (void *)&lg, &l) == 0 && lg.sll_ifindex == 0 && lg.sll_protocol == 0,
		"unbound packet socket: ifindex %d protocol %#x", lg.sll_ifindex, lg.sll_protocol);
	t_finish();
}
