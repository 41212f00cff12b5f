/*
 * Packet sockets (AF_PACKET, raw and datagram): the protocol, the
 * interface it is bound to (by index: the same network namespace, or one
 * with the same interfaces), the options (PACKET_VERSION, RESERVE,
 * AUXDATA, ORIGDEV, VNET_HDR, LOSS, TIMESTAMP, COPY_THRESH, QDISC_BYPASS,
 * IGNORE_OUTGOING), its memberships (PACKET_ADD_MEMBERSHIP, each as many
 * times as it was added), its fanout group, a classic BPF filter (and
 * SO_LOCK_FILTER) and the buffer sizes.
 *
 * Limits, refused at dump: mapped rings (PACKET_RX_RING, PACKET_TX_RING),
 * packets queued for reading, eBPF filters and fanout programs (they cannot
 * be read back), a socket whose protocol is set but that does not run (its
 * interface went away).  The statistics (PACKET_STATISTICS) start again at
 * zero: reading them would clear the source's.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <linux/packet_diag.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "diag.h"
#include "fileops.h"
#include "image.h"
#include "log.h"
#include "util.h"

#ifndef SO_LOCK_FILTER
#define SO_LOCK_FILTER 44
#endif
#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

/* Options read with getsockopt and set back the same way. */
static const int pk_opts[] = { PACKET_VERSION, PACKET_RESERVE, PACKET_AUXDATA, PACKET_ORIGDEV, PACKET_VNET_HDR,
			       PACKET_LOSS, PACKET_TIMESTAMP, PACKET_QDISC_BYPASS, PACKET_IGNORE_OUTGOING };
#define NOPTS (int)(sizeof(pk_opts) / sizeof(pk_opts[0]))
#define MAXMC 64

struct pk_sock {
	int type, proto, ifindex;
	int opts[NOPTS];
	unsigned copy_thresh;
	int fanout;		/* getsockopt(PACKET_FANOUT): id | type << 16 | flags << 24; 0 none */
	int nmc;
	struct packet_diag_mclist mc[MAXMC];
	int nfilter, lock_filter;
	struct sock_filter *filter;
	int rcvbuf, sndbuf;
};

static int packet_match(const struct fdump *d)
{
	int family = 0;
	socklen_t len = sizeof(family);
	if (!S_ISSOCK(d->st->st_mode))
		return 0;
	getsockopt(d->myfd, SOL_SOCKET, SO_DOMAIN, &family, &len);
	return family == AF_PACKET;
}

static int packet_dump(struct fdump *d, struct ofile *of)
{
	struct pk_sock *p = of->priv = xzalloc(sizeof(*p));
	struct packet_diag_req rq = { .sdiag_family = AF_PACKET, .pdiag_ino = of->ino,
				      .pdiag_show = PACKET_SHOW_INFO | PACKET_SHOW_MCLIST | PACKET_SHOW_RING_CFG };
	static char ans[16384];
	struct packet_diag_msg *m = (void *)ans;
	int pid = d->ps->pid, fd = d->fd, got, running = 0, ftype;
	socklen_t len = sizeof(int);
	char b;

	if (getsockopt(d->myfd, SOL_SOCKET, SO_TYPE, &p->type, &len) < 0)
		return fail_errno("pid %d: cannot read packet socket fd %d", pid, fd);
	for (int k = 0; k < NOPTS; k++) {
		len = sizeof(int);
		if (getsockopt(d->myfd, SOL_PACKET, pk_opts[k], &p->opts[k], &len) < 0)
			p->opts[k] = 0;
	}
	len = sizeof(int);
	if (getsockopt(d->myfd, SOL_PACKET, PACKET_FANOUT, &p->fanout, &len) < 0)
		p->fanout = 0;
	ftype = (p->fanout >> 16) & 0xff;
	if (p->fanout && (ftype == PACKET_FANOUT_CBPF || ftype == PACKET_FANOUT_EBPF))
		return refuse(pid, "packet socket fd %d is in a fanout group steered by a BPF program, which cannot "
			      "be read back", fd);
	len = sizeof(int);
	getsockopt(d->myfd, SOL_SOCKET, SO_RCVBUF, &p->rcvbuf, &len);
	len = sizeof(int);
	getsockopt(d->myfd, SOL_SOCKET, SO_SNDBUF, &p->sndbuf, &len);
	/* A classic filter reads back; an eBPF one gives EACCES. */
	len = 0;
	if (getsockopt(d->myfd, SOL_SOCKET, SO_GET_FILTER, NULL, &len) < 0)
		return refuse(pid, "packet socket fd %d has a filter that cannot be read back (eBPF)", fd);
	if (len) {
		p->nfilter = len;
		p->filter = xmalloc(len * sizeof(*p->filter));
		if (getsockopt(d->myfd, SOL_SOCKET, SO_GET_FILTER, p->filter, &len) < 0 || (int)len != p->nfilter)
			return fail_errno("pid %d: cannot read the filter of packet socket fd %d", pid, fd);
	}
	len = sizeof(int);
	getsockopt(d->myfd, SOL_SOCKET, SO_LOCK_FILTER, &p->lock_filter, &len);
	got = sock_diag_find(d->ps->hpid, &rq, sizeof(rq), offsetof(struct packet_diag_msg, pdiag_ino), of->ino, ans,
			     sizeof(ans));
	if (got < 0)
		return refuse(pid, "packet socket fd %d is not in the process's network namespace (or sock_diag "
			      "cannot see it)", fd);
	p->proto = m->pdiag_num;
	got -= sizeof(*m);
	for (struct rtattr *a = (void *)(m + 1); RTA_OK(a, got); a = RTA_NEXT(a, got)) {
		switch (a->rta_type) {
		case PACKET_DIAG_INFO: {
			struct packet_diag_info *i = RTA_DATA(a);
			p->ifindex = i->pdi_index;
			p->copy_thresh = i->pdi_copy_thresh;
			running = i->pdi_flags & PDI_RUNNING;
			break;
		}
		case PACKET_DIAG_MCLIST:
			p->nmc = RTA_PAYLOAD(a) / sizeof(struct packet_diag_mclist);
			if (p->nmc > MAXMC)
				return refuse(pid, "packet socket fd %d has more than %d memberships", fd, MAXMC);
			memcpy(p->mc, RTA_DATA(a), p->nmc * sizeof(struct packet_diag_mclist));
			break;
		case PACKET_DIAG_RX_RING:
		case PACKET_DIAG_TX_RING:
			return refuse(pid, "packet socket fd %d has a mapped %s ring (PACKET_%s_RING), which ferry "
				      "cannot carry", fd, a->rta_type == PACKET_DIAG_RX_RING ? "receive" : "transmit",
				      a->rta_type == PACKET_DIAG_RX_RING ? "RX" : "TX");
		}
	}
	if (p->proto && !running)
		return refuse(pid, "packet socket fd %d has protocol %#x but does not run (its interface went "
			      "away?); ferry cannot make that state again", fd, p->proto);
	if (recv(d->myfd, &b, 1, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC) >= 0)
		return refuse(pid, "packet socket fd %d has packets queued for reading, which cannot be queued "
			      "again", fd);
	return 0;
}

static void packet_encode(const struct ofile *of, json_t *j)
{
	const struct pk_sock *p = of->priv;
	json_t *o = json_object(), *a = json_array(), *mc = json_array(), *f = json_array();
	for (int k = 0; k < NOPTS; k++)
		json_array_append_new(a, json_integer(p->opts[k]));
	for (int k = 0; k < p->nmc; k++)
		json_array_append_new(mc, json_pack("{s:i,s:i,s:i,s:o}", "ifindex", p->mc[k].pdmc_index, "count",
						    p->mc[k].pdmc_count, "type", p->mc[k].pdmc_type, "addr",
						    jblob(p->mc[k].pdmc_addr, p->mc[k].pdmc_alen)));
	for (int k = 0; k < p->nfilter; k++)
		json_array_append_new(f, json_pack("[i,i,i,I]", p->filter[k].code, p->filter[k].jt, p->filter[k].jf,
						   (json_int_t)p->filter[k].k));
	json_object_set_new(o, "type", json_integer(p->type));
	json_object_set_new(o, "protocol", json_integer(p->proto));
	json_object_set_new(o, "ifindex", json_integer(p->ifindex));
	json_object_set_new(o, "options", a);
	json_object_set_new(o, "copy_thresh", json_integer(p->copy_thresh));
	json_object_set_new(o, "fanout", json_integer(p->fanout));
	json_object_set_new(o, "memberships", mc);
	json_object_set_new(o, "filter", f);
	json_object_set_new(o, "lock_filter", json_integer(p->lock_filter));
	json_object_set_new(o, "rcvbuf", json_integer(p->rcvbuf));
	json_object_set_new(o, "sndbuf", json_integer(p->sndbuf));
	json_object_set_new(j, "packet", o);
}

static int packet_decode(json_t *j, struct ofile *of, const struct tree *t)
{
	struct pk_sock *p = of->priv = xzalloc(sizeof(*p));
	json_t *o = jget_obj(j, "packet"), *a, *mc, *f, *v;
	json_int_t ct = 0;
	size_t i;
	(void)t;
	if (!o || json_unpack(o, "{s:i,s:i,s:i,s:o,s:I,s:i,s:o,s:o,s:i,s:i,s:i}", "type", &p->type, "protocol",
			      &p->proto, "ifindex", &p->ifindex, "options", &a, "copy_thresh", &ct, "fanout",
			      &p->fanout, "memberships", &mc, "filter", &f, "lock_filter", &p->lock_filter, "rcvbuf",
			      &p->rcvbuf, "sndbuf", &p->sndbuf) < 0 ||
	    !json_is_array(a) || json_array_size(a) != NOPTS || !json_is_array(mc) || json_array_size(mc) > MAXMC ||
	    !json_is_array(f) || json_array_size(f) > BPF_MAXINSNS)
		return fail("image %s is corrupt: packet socket", jctx);
	p->copy_thresh = ct;
	json_array_foreach(a, i, v)
		p->opts[i] = json_integer_value(v);
	p->nmc = json_array_size(mc);
	json_array_foreach(mc, i, v) {
		void *addr = NULL;
		size_t alen = 0;
		int idx = 0, cnt = 0, type = 0;
		if (json_unpack(v, "{s:i,s:i,s:i}", "ifindex", &idx, "count", &cnt, "type", &type) < 0 ||
		    jget_blobv(v, "addr", &addr, &alen) < 0 || alen > sizeof(p->mc[i].pdmc_addr)) {
			free(addr);
			return fail("image %s is corrupt: packet membership", jctx);
		}
		p->mc[i].pdmc_index = idx, p->mc[i].pdmc_count = cnt, p->mc[i].pdmc_type = type;
		p->mc[i].pdmc_alen = alen;
		memcpy(p->mc[i].pdmc_addr, addr, alen);
		free(addr);
	}
	p->nfilter = json_array_size(f);
	p->filter = xzalloc((p->nfilter + 1) * sizeof(*p->filter));
	json_array_foreach(f, i, v) {
		int code = 0, jt = 0, jf = 0;
		json_int_t k = 0;
		if (json_unpack(v, "[i,i,i,I]", &code, &jt, &jf, &k) < 0)
			return fail("image %s is corrupt: packet filter", jctx);
		p->filter[i] = (struct sock_filter){ code, jt, jf, k };
	}
	return 0;
}

static int set_buf(int fd, int opt, int force, int want)
{
	int cur = 0, v = want / 2;
	socklen_t l = sizeof(cur);
	if (getsockopt(fd, SOL_SOCKET, opt, &cur, &l) == 0 && cur == want)
		return 0;
	return setsockopt(fd, SOL_SOCKET, force, &v, sizeof(v));
}

static int packet_prepare(struct tree *t, struct img *im, int i, enum file_pass pass)
{
	struct ofile *of = &t->files.of[i];
	const struct pk_sock *p = of->priv;
	const char *who = file_who(t, i);
	(void)im, (void)pass;
	of->rfd = socket(AF_PACKET, p->type | SOCK_CLOEXEC, htons(p->proto));
	if (of->rfd < 0)
		return fail_errno("%s: cannot create a packet socket", who);
	/* The ring version and reserve first: both only before a bind. */
	for (int k = 0; k < NOPTS; k++)
		if (p->opts[k] && setsockopt(of->rfd, SOL_PACKET, pk_opts[k], &p->opts[k], sizeof(int)) < 0)
			return fail_errno("%s: cannot set packet option %d to %d", who, pk_opts[k], p->opts[k]);
	if (p->copy_thresh &&
	    setsockopt(of->rfd, SOL_PACKET, PACKET_COPY_THRESH, &p->copy_thresh, sizeof(p->copy_thresh)) < 0)
		return fail_errno("%s: cannot set PACKET_COPY_THRESH", who);
	if (set_buf(of->rfd, SO_RCVBUF, SO_RCVBUFFORCE, p->rcvbuf) < 0 ||
	    set_buf(of->rfd, SO_SNDBUF, SO_SNDBUFFORCE, p->sndbuf) < 0)
		return fail_errno("%s: cannot set the buffer sizes", who);
	if (p->ifindex) {
		struct sockaddr_ll sa = { .sll_family = AF_PACKET, .sll_protocol = htons(p->proto),
					  .sll_ifindex = p->ifindex };
		if (bind(of->rfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			return fail_errno("%s: cannot bind the packet socket to interface %d again", who, p->ifindex);
	}
	for (int k = 0; k < p->nmc; k++)
		for (unsigned c = 0; c < p->mc[k].pdmc_count; c++) {
			struct packet_mreq mr = { .mr_ifindex = p->mc[k].pdmc_index, .mr_type = p->mc[k].pdmc_type,
						  .mr_alen = p->mc[k].pdmc_alen };
			memcpy(mr.mr_address, p->mc[k].pdmc_addr,
			       p->mc[k].pdmc_alen < sizeof(mr.mr_address) ? p->mc[k].pdmc_alen : sizeof(mr.mr_address));
			if (setsockopt(of->rfd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0)
				return fail_errno("%s: cannot add a packet membership", who);
		}
	if (p->nfilter) {
		struct sock_fprog prog = { p->nfilter, p->filter };
		if (setsockopt(of->rfd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0)
			return fail_errno("%s: cannot attach the filter", who);
	}
	if (p->lock_filter && setsockopt(of->rfd, SOL_SOCKET, SO_LOCK_FILTER, &p->lock_filter, sizeof(int)) < 0)
		return fail_errno("%s: cannot lock the filter", who);
	if (p->fanout && setsockopt(of->rfd, SOL_PACKET, PACKET_FANOUT, &p->fanout, sizeof(int)) < 0)
		return fail_errno("%s: cannot join fanout group %d", who, p->fanout & 0xffff);
	return 0;
}

static void packet_free(struct ofile *of)
{
	struct pk_sock *p = of->priv;
	if (p)
		free(p->filter);
	free(p);
}

const struct file_ops packet_ops = {
	.name = "packet",
	.flags = FO_SETFL,
	.match = packet_match,
	.dump = packet_dump,
	.encode = packet_encode,
	.decode = packet_decode,
	.prepare = packet_prepare,
	.free = packet_free,
};
