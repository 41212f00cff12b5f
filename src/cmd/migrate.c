/*
 * ferry keygen / serve / migrate: live migration over the network.
 *
 * migrate runs on the source, serve on the destination.  The conversation,
 * over the authenticated, encrypted channel of core/chan.c:
 *                                     dest: INFO (its addresses, kernel, CPU,
 *                                           the address:port it was reached
 *                                           at: the first frame, so a wrong
 *                                           key or a redirected connection
 *                                           shows at the source at once)
 *   source: HELLO (authenticated: ends the destination's handshake deadline)
 *   source: PREFLIGHT (pids, files,   dest: VERDICT (ok, with the files it
 *           addresses, the ip map)            lacks, or why not)
 *   source: looks again at the files the destination lacks (check_missing)
 *   ... nothing is frozen before an ok verdict ...
 *   source: the image, file by file (frozen from the first byte)
 *   source: IMAGE_END (restore options)
 *                                     dest: ALIVE (4/s while it restores)
 *                                     dest: RESULT (restored and running, or why not)
 *   source: DONE (the source is gone)
 * The source is killed only after RESULT says the process runs; any failure
 * before that (refusal, restore error, a dead receiver, a cut network: the
 * socket has timeouts) resumes the source exactly as it was, and the source
 * tells the destination why (ABORT) when it can.  serve handles each
 * connection in a child process of its own (see serve_one): what a client
 * without the key can do is limited to one logged failure
 * (docs/migration.md, "Security").
 *
 * Memory goes from the source process into the channel without touching a
 * disk on either side: the destination keeps the image in a private tmpfs
 * directory (memory) while it arrives, restores from it and removes it.
 * The stream's frames name files and pieces of files, so later versions can
 * send pages while the source still runs (pre-copy) or on demand (post-copy)
 * without changing the channel.
 *
 * Limits: the destination stages the whole image before restoring (no
 * overlap of transfer and restore yet); no compression.
 */
#include <arpa/inet.h>
#include <poll.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/auxv.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "chan.h"
#include "fsutil.h"
#include "cmds.h"
#include "fault.h"
#include "image.h"
#include "vamap.h"
#include "events.h"
#include "hostport.h"
#include "ipmap.h"
#include "log.h"
#include "pstate.h"
#include "precopy.h"
#include "ptrace.h"
#include "util.h"

enum { F_INFO = 2, F_PREFLIGHT, F_VERDICT, F_IMAGE_END = 10, F_RESULT, F_DONE, F_ABORT, F_ALIVE, F_HELLO };

const char *serve_restore_exe;	/* libferry: the ferry binary (we may be another program) */
static int io_timeout = 15;	/* seconds without progress before giving up */
static int restore_timeout = 600;	/* seconds of ALIVE frames (queued or restoring) before giving up */

static int send_json(struct chan *c, uint8_t type, json_t *j, int final)
{
	char *s = json_dumps(j, JSON_COMPACT);
	int ret;
	json_decref(j);
	if (!s)
		return fail("internal: cannot encode a message");
	ret = chan_send(c, type, s, strlen(s), final);
	free(s);
	return ret;
}

/* The reason in an ABORT frame (a JSON object with "error"), into why. */
static const char *abort_reason(const void *buf, size_t len, char *why, size_t wlen)
{
	json_error_t e;
	json_t *j = json_loadb(buf, len, 0, &e);
	const char *r = json_string_value(json_object_get(j, "error"));
	snprintf(why, wlen, "%s", r ? r : "no reason given");
	json_decref(j);
	return why;
}

static json_t *recv_json(struct chan *c, uint8_t want)
{
	uint8_t type;
	void *buf;
	size_t len;
	json_t *j;
	json_error_t e;
	double t0 = mono_seconds();
	do {
		if (chan_recv(c, &type, &buf, &len) < 0)
			return NULL;
		if (type == F_ALIVE) {	/* still at work over there: wait on, within bounds */
			free(buf);
			if (mono_seconds() - t0 > restore_timeout) {
				fail("the destination has been at work for over %d s without an answer (--restore-timeout)",
				     restore_timeout);
				return NULL;
			}
		}
	} while (type == F_ALIVE);
	if (type == F_ABORT) {
		char why[512];
		fail("the other side gave up: %s", abort_reason(buf, len, why, sizeof(why)));
		free(buf);
		return NULL;
	}
	if (type != want) {
		free(buf);
		fail("migration protocol error: message %d where %d was expected", type, want);
		return NULL;
	}
	j = json_loadb(buf, len, 0, &e);
	free(buf);
	if (!j)
		fail("migration protocol error: bad message: %s", e.text);
	return j;
}

/* Socket timeouts: a cut network fails the migration instead of hanging it. */
static void set_timeouts(int fd)
{
	struct timeval tv = { io_timeout, 0 };
	unsigned ut = io_timeout * 1000;
	int buf = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, sizeof(ut));
	/* The freeze ends with small messages answering each other (image end,
	 * result): Nagle held each behind the peer's delayed ACK, ~40 ms. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
}

static int parse_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[128];
	const char *colon = strrchr(s, ':');
	struct ip_addr a;
	char *end;
	long port;
	size_t hl;
	if (!colon || colon == s)
		return -1;
	hl = colon - s;
	if (s[0] == '[' && colon[-1] == ']') {
		s++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = 0;
	port = strtol(colon + 1, &end, 10);
	if (*end || port <= 0 || port > 65535 || ip_parse(host, &a) < 0)
		return -1;
	*len = ip_to_sockaddr(&a, port, ss);
	return 0;
}

/* The local (or the peer's) end of a connected socket as "ADDR:PORT". */
static void sock_endpoint(int fd, int peer, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct ip_addr a;
	char b[64];
	int port;
	if ((peer ? getpeername(fd, (struct sockaddr *)&ss, &sl) : getsockname(fd, (struct sockaddr *)&ss, &sl)) < 0 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
		snprintf(buf, len, "?");
		return;
	}
	ip_from_sockaddr(&ss, &a, &port);
	a = ip_unmap(&a);	/* a serve on [::] sees a v4 client at ::ffff:a.b.c.d */
	snprintf(buf, len, a.family == AF_INET6 ? "[%s]:%d" : "%s:%d", ip_str(&a, b, sizeof(b)), port);
}

/* Whether two "ADDR:PORT" strings name the same endpoint. */
static int same_endpoint(const char *x, const char *y)
{
	struct sockaddr_storage sx, sy;
	socklen_t lx, ly;
	struct ip_addr ax, ay;
	int px, py;
	if (!x || !y || parse_hostport(x, &sx, &lx) < 0 || parse_hostport(y, &sy, &ly) < 0)
		return 0;
	ip_from_sockaddr(&sx, &ax, &px);
	ip_from_sockaddr(&sy, &ay, &py);
	return px == py && ip_equal(&ax, &ay);	/* ip_equal takes ::ffff:A as A */
}

/* Addresses of this network namespace, with prefix lengths. */
static json_t *own_addrs(void)
{
	struct ifaddrs *ifs, *i;
	json_t *arr = json_array();
	if (getifaddrs(&ifs) < 0)
		return arr;
	for (i = ifs; i; i = i->ifa_next) {
		struct ip_addr a, m;
		int port, prefix = 0;
		char buf[64];
		if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6) ||
		    !i->ifa_netmask)
			continue;
		ip_from_sockaddr(i->ifa_addr, &a, &port);
		ip_from_sockaddr(i->ifa_netmask, &m, &port);
		if (ip_is_loopback(&a) || (a.family == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(&a.v6)))
			continue;
		for (size_t k = 0; k < (a.family == AF_INET ? 4u : 16u); k++)
			prefix += __builtin_popcount(a.family == AF_INET ? ((uint8_t *)&m.v4)[k] : m.v6.s6_addr[k]);
		json_array_append_new(arr, json_pack("{s:s,s:i}", "addr", ip_str(&a, buf, sizeof(buf)), "prefix", prefix));
	}
	freeifaddrs(ifs);
	return arr;
}

static uint64_t own_vdso_hash(void)
{
	const void *v = (const void *)getauxval(AT_SYSINFO_EHDR);
	return v ? img_hash(v, 2 * PAGE_SIZE) : 0;
}

/* here: the address:port the connection reached us at (see same_endpoint). */
static json_t *host_info(const char *here)
{
	struct utsname u;
	uname(&u);
	return json_pack("{s:o,s:s,s:o,s:o,s:s}", "addrs", own_addrs(), "kernel", u.release, "xcr0", jhex(cpu_xcr0()),
			 "vdso", jhex(own_vdso_hash()), "dest", here);
}

/* ---- source side: what the destination must check before we freeze ---- */

static void add_unique(json_t *arr, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
		if (!strcmp(json_string_value(v), s))
			return;
	json_array_append_new(arr, json_string(s));
}

/* Notes which process holds path (the first one seen), for messages: fd
 * -1 stands for a mapping. */
static void add_holder(json_t *holders, const char *path, pid_t pid, int fd)
{
	char who[64];
	if (!holders || json_object_get(holders, path))
		return;
	if (fd < 0)
		snprintf(who, sizeof(who), "pid %d: a mapping", pid);
	else
		snprintf(who, sizeof(who), "pid %d: fd %d", pid, fd);
	json_object_set_new(holders, path, json_string(who));
}

/* The tree's pids, tids, files and the addresses its sockets are bound to,
 * read without stopping anything; holders (if not NULL) gets which process
 * holds each file. */
static int survey(pid_t root, json_t *pids, json_t *tids, json_t *files, json_t *addrs, json_t *holders)
{
	pid_t *list = xmalloc(sizeof(pid_t));
	int n = 1;
	list[0] = root;
	for (int i = 0; i < n; i++) {
		pid_t *kids, *t;
		int nk, nt;
		char path[64], *maps;
		int pidfd;
		json_array_append_new(pids, json_integer(list[i]));
		if (proc_tids(list[i], &t, &nt) == 0) {
			for (int k = 0; k < nt; k++)
				if (t[k] != list[i])
					json_array_append_new(tids, json_integer(t[k]));
			free(t);
		}
		snprintf(path, sizeof(path), "/proc/%d/maps", list[i]);
		if ((maps = read_file(path, NULL))) {
			for (char *l = strtok(maps, "\n"); l; l = strtok(NULL, "\n")) {
				char *p = strchr(l, '/');
				if (p && !strstr(p, " (deleted)") && strncmp(p, "/memfd:", 7) && strncmp(p, "/SYSV", 5)) {
					add_unique(files, p);
					add_holder(holders, p, list[i], -1);
				}
			}
			free(maps);
		}
		pidfd = syscall(SYS_pidfd_open, list[i], 0);
		for (int fd = 0; pidfd >= 0 && fd < 4096; fd++) {
			char lp[64], link[4096];
			ssize_t ln;
			snprintf(lp, sizeof(lp), "/proc/%d/fd/%d", list[i], fd);
			if ((ln = readlink(lp, link, sizeof(link) - 1)) <= 0)
				continue;
			link[ln] = 0;
			if (link[0] == '/' && !strstr(link, " (deleted)") && strncmp(link, "/memfd:", 7) &&
			    strncmp(link, "/dev/pts/", 9)) {
				add_unique(files, link);
				add_holder(holders, link, list[i], fd);
			}
			if (!strncmp(link, "socket:", 7)) {
				int s = syscall(SYS_pidfd_getfd, pidfd, fd, 0), type = 0, listening = 0;
				struct sockaddr_storage ss;
				socklen_t l = sizeof(ss), il = sizeof(int);
				if (s < 0)
					continue;
				getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &il);
				getsockopt(s, SOL_SOCKET, SO_ACCEPTCONN, &listening, &il);
				if (getsockname(s, (struct sockaddr *)&ss, &l) == 0 &&
				    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) && (listening || type == SOCK_DGRAM)) {
					struct ip_addr a;
					int port;
					char b[64];
					ip_from_sockaddr(&ss, &a, &port);
					if (!ip_is_any(&a) && !ip_is_loopback(&a))
						add_unique(addrs, ip_str(&a, b, sizeof(b)));
				}
				close(s);
			}
		}
		if (pidfd >= 0)
			close(pidfd);
		if (proc_children(list[i], &kids, &nk) == 0) {
			list = xrealloc(list, (n + nk) * sizeof(pid_t));
			memcpy(list + n, kids, nk * sizeof(pid_t));
			n += nk;
			free(kids);
		}
	}
	free(list);
	return 0;
}

/* The destination lacks these files.  Files come and go while the tree
 * runs (an sqlite journal): one the tree no longer holds is no reason to
 * refuse; one it still holds is refused now, before anything is frozen.
 * One taken again after this look is judged by the destination's restore,
 * which validates the image of the frozen tree before making anything. */
static int check_missing(pid_t root, json_t *missing)
{
	json_t *pids = json_array(), *tids = json_array(), *files = json_array(), *addrs = json_array(),
	       *holders = json_object(), *v;
	size_t i;
	int ret = survey(root, pids, tids, files, addrs, holders);
	json_array_foreach(missing, i, v) {
		const char *path = json_string_value(v), *who;
		if (ret < 0 || !path)
			break;
		if ((who = json_string_value(json_object_get(holders, path))))
			ret = fail("%s: file %s is missing at the destination; nothing was frozen or changed", who,
				   path);
		else
			pr_debug("%s is missing at the destination, but the tree holds it no more", path);
	}
	json_decref(pids);
	json_decref(tids);
	json_decref(files);
	json_decref(addrs);
	json_decref(holders);
	return ret;
}

/* Tests only: with FERRY_TEST_AFTER_SURVEY=FIFO, tell the reader of FIFO
 * that the survey is done ("s") and wait until it opens FIFO for writing
 * and closes it, so a test can change the tree exactly in between. */
static void test_after_survey(void)
{
	const char *fifo = getenv("FERRY_TEST_AFTER_SURVEY");
	char c;
	int fd;
	if (!fifo)
		return;
	if ((fd = open(fifo, O_WRONLY | O_CLOEXEC)) >= 0) {
		write_full(fd, "s", 1);
		close(fd);
	}
	if ((fd = open(fifo, O_RDONLY | O_CLOEXEC)) >= 0) {
		while (read(fd, &c, 1) > 0)
			;
		close(fd);
	}
}

/* The source's addresses with their prefixes, in the root's namespace. */
static json_t *source_addrs(pid_t pid)
{
	char path[64];
	int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), ns;
	json_t *a;
	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	ns = open(path, O_RDONLY | O_CLOEXEC);
	if (self < 0 || ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
		if (self >= 0)
			close(self);
		if (ns >= 0)
			close(ns);
		return json_array();
	}
	a = own_addrs();
	setns(self, CLONE_NEWNET);
	close(self);
	close(ns);
	return a;
}

/* --ip-map auto: each bound address to the destination's address chosen by
 * ipmap_auto_pick (same subnet, else its only address of that family; an
 * IPv4-mapped address maps within IPv4 and keeps the mapped form; never a
 * change of family). */
static int auto_map(struct ipmap *map, json_t *addrs, json_t *src, json_t *dst)
{
	size_t i, k, n = 0;
	json_t *a, *d, *s;
	struct ip_addr *cand = xmalloc((json_array_size(dst) + 1) * sizeof(*cand));
	json_array_foreach(dst, k, d)
		if (ip_parse(json_string_value(json_object_get(d, "addr")), &cand[n]) == 0)
			n++;
	json_array_foreach(addrs, i, a) {
		struct ip_addr from, to, x;
		int prefix = 0, r;
		char spec[160], err[200], b1[64], b2[64];
		if (ip_parse(json_string_value(a), &from) < 0)
			continue;
		from = ip_unmap(&from);
		if (ipmap_find(map, &from) >= 0)
			continue;	/* mapped already: by hand, or for another socket */
		json_array_foreach(src, k, s)
			if (ip_parse(json_string_value(json_object_get(s, "addr")), &x) == 0 && ip_equal(&x, &from))
				prefix = json_integer_value(json_object_get(s, "prefix"));
		r = ipmap_auto_pick(&from, prefix, cand, n, &to);
		if (r == AUTO_PRESENT)
			continue;
		if (r == AUTO_NO_FAMILY) {
			free(cand);
			return fail("--ip-map auto: a socket is bound to %s, and the destination has no %s address to move it "
				    "to (a socket never changes address family)",
				    json_string_value(a), from.family == AF_INET ? "IPv4" : "IPv6");
		}
		if (r == AUTO_AMBIGUOUS) {
			free(cand);
			return fail("--ip-map auto: no address of the destination fits %s (none on its subnet, and not "
				    "exactly one to choose)", json_string_value(a));
		}
		snprintf(spec, sizeof(spec), "%s=%s", ip_str(&from, b1, sizeof(b1)), ip_str(&to, b2, sizeof(b2)));
		if (ipmap_add(map, spec, err, sizeof(err)) < 0) {
			free(cand);
			return fail("%s", err);
		}
		if (strchr(json_string_value(a), ':') && from.family == AF_INET)
			pr_info("--ip-map auto: %s (%s moves to ::ffff:%s)", spec, json_string_value(a), b2);
		else
			pr_info("--ip-map auto: %s", spec);
	}
	free(cand);
	return 0;
}

static json_t *map_json(const struct ipmap *m)
{
	json_t *arr = json_array();
	for (int i = 0; i < m->n; i++) {
		char a[64], b[64], s[140];
		snprintf(s, sizeof(s), "%s=%s", ip_str(&m->e[i].from, a, sizeof(a)), ip_str(&m->e[i].to, b, sizeof(b)));
		json_array_append_new(arr, json_string(s));
	}
	return arr;
}

/* The destination's INFO names the address:port the connection reached it
 * at: it must be the one we dialled.  All hosts may share one key, so
 * without this an on-path attacker could send our migration to another of
 * them. */
static int check_dest(json_t *info, const char *want)
{
	const char *here = json_string_value(json_object_get(info, "dest"));
	if (!here)
		return fail("the destination does not say which address it was reached at (an older ferry?): "
			    "refusing, nothing was frozen");
	if (!same_endpoint(here, want))
		return fail("the destination says it was reached at %s, not at %s: the connection went to another "
			    "host (redirected?), nothing was frozen; if a proxy or NAT is in between on purpose, "
			    "name the destination's own address with --dest-addr", here, want);
	return 0;
}

/* Tells the other side why we give up, so its log says it (best effort:
 * never waits on a full or broken connection). */
static void tell_abort(struct chan *ch, const char *why)
{
	int fl = fcntl(ch->fd, F_GETFL);
	if (fl < 0 || fcntl(ch->fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return;
	send_json(ch, F_ABORT, json_pack("{s:s}", "error", why ? why : "failed"), 1);
}

/* Connects to the first of to's addresses that answers, in getaddrinfo's
 * order; ep gets the address reached (check_dest compares the
 * destination's word against it).  When none answers, the error names each
 * address with its reason. */
static int connect_any(const char *to, struct addrinfo *ai, char *ep, size_t eplen)
{
	char why[600] = "", a[80];
	size_t n = 0;
	for (; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		hostport_str(ai, a, sizeof(a));
		if (fd >= 0) {
			set_timeouts(fd);
			if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
				sock_endpoint(fd, 1, ep, eplen);
				pr_debug("connected to %s at %s", to, ep);
				return fd;
			}
			close(fd);
		}
		pr_debug("cannot connect to %s: %s", a, strerror(errno));
		if (n < sizeof(why))
			n += snprintf(why + n, sizeof(why) - n, "%s%s: %s", n ? "; " : "", a, strerror(errno));
	}
	return fail("cannot connect to %s (%s)", to, why);
}

static void migrate_usage(FILE *f)
{
	fprintf(f, "usage: ferry migrate -t|--pid PID --to HOST:PORT --key KEYFILE [--ip-map OLD=NEW|auto]...\n"
		   "                     [--tcp-established] [--tcp-close] [--no-pre-copy] [-j|--shell-job]\n"
		   "                     [--timeout SECONDS] [--restore-timeout SECONDS] [--dest-addr ADDR:PORT]\n"
		   "                     [--drain-timeout SECONDS] [--json] [-v]\n"
		   "  Moves the process tree rooted at PID to the `ferry serve` at HOST:PORT.  The source\n"
		   "  is killed only once the destination runs it; on any failure it runs on untouched.\n"
		   "  --to HOST:PORT    a host name (each of its addresses tried in order), an IPv4\n"
		   "                    address, or an IPv6 address in brackets: [fd00::2]:7777\n"
		   "  --ip-map auto     map each bound address to the destination's on the same subnet\n"
		   "  --no-pre-copy     freeze at once and send everything then (by default memory goes\n"
		   "                    while the process runs, and the freeze carries only what changed)\n"
		   "  -j, --shell-job   the tree shares a process group led from outside it (started\n"
		   "                    without setsid): restore it in the destination restore's group\n"
		   "  --timeout S       give up after S seconds without progress (default 15)\n"
		   "  --restore-timeout S  give up after S seconds of the destination saying it is at work\n"
		   "                    (queued behind another migration, or restoring; default 600)\n"
		   "  --dest-addr A:P   the address the destination's serve is reached at, when a proxy or\n"
		   "                    NAT is in between (default: the --to address); it must say the same\n"
		   "  --drain-timeout S a broken connection's peer gets up to S seconds (default 2) from the\n"
		   "                    end of the image to take the replies the process had written (while\n"
		   "                    the destination restores), then it is reset; 0 resets at once\n"
		   "  --json            events on stdout, one JSON object per line (started, connected,\n"
		   "                    progress, frozen, sent, restored, result, error)\n");
}

/*
 * Where the freeze went: the dump of what is left (the final dirty set and
 * the non-memory state) with its transfer, then the destination's share as
 * it reports it (indexing the pre-copied pages, `ferry restore`), and the
 * rest: frames still in flight when the source had written them all, the
 * last messages.  The two hosts' clocks are never compared.
 */
static void print_breakdown(json_t *result, uint64_t final_pages, double sent, double after)
{
	json_t *t = json_object_get(result, "timing");
	double idx = json_real_value(json_object_get(t, "index")), rest = json_real_value(json_object_get(t, "restore"));
	double other = after - idx - rest;
	fprintf(stderr,
		"  freeze breakdown\n"
		"    dump + send   %.3f s (%" PRIu64 " pages at the freeze, and the rest of the state)\n"
		"    index         %.3f s (destination: pre-copied pages matched to the image)\n"
		"    restore       %.3f s (destination: ferry restore until the process runs)\n"
		"    confirmation  %.3f s (the image's last frames in flight, the last messages)\n",
		sent, final_pages, idx, rest, other > 0 ? other : 0.0);
}

int cmd_migrate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, 0, 't' }, { "to", required_argument, 0, 'T' },
		{ "key", required_argument, 0, 'k' }, { "ip-map", required_argument, 0, 'm' },
		{ "tcp-established", no_argument, 0, 'E' }, { "tcp-close", no_argument, 0, 'C' },
		{ "timeout", required_argument, 0, 'O' }, { "pre-copy", no_argument, 0, 'P' },
		{ "no-pre-copy", no_argument, 0, 'N' }, { "drain-timeout", required_argument, 0, 'W' },
		{ "restore-timeout", required_argument, 0, 'R' }, { "dest-addr", required_argument, 0, 'D' },
		{ "shell-job", no_argument, 0, 'j' }, { "json", no_argument, 0, 'J' },
		{ "verbose", no_argument, 0, 'v' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	static struct ipmap map;
	uint8_t key[CHAN_KEY_BYTES];
	const char *to = NULL, *keyfile = NULL, *dest_addr = NULL;
	struct sockaddr_storage ss;
	socklen_t sl;
	struct addrinfo *to_ai = NULL;
	char to_ep[80];
	struct tree t = { .opt.drain_timeout = 2 };
	struct chan ch = { .fd = -1 };
	struct img im = { 0 };
	json_t *info = NULL, *verdict = NULL, *result = NULL, *pids, *tids, *files, *addrs, *srcaddrs;
	int c, fd = -1, autom = 0, frozen = 0, touched = 0, ret = 1, pre = 1, chan_up = 0;
	struct precopy pc = { 0 };
	uint64_t pre_pages = 0;
	long pid = 0;
	char *end, err[300];
	double t_freeze = 0, t_start, t_running, t_sent = 0;
	uint64_t pages = 0;

	map.n = 0;	/* libferry may run the command again */
	while ((c = getopt_long(argc, argv, "t:jvh", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			pid = strtol(optarg, &end, 10);
			if (*end || pid <= 0) {
				fprintf(stderr, "ferry migrate: bad pid '%s'\n", optarg);
				return 2;
			}
			break;
		case 'T': to = optarg; break;
		case 'k': keyfile = optarg; break;
		case 'm':
			if (!strcmp(optarg, "auto"))
				autom = 1;
			else if (ipmap_add(&map, optarg, err, sizeof(err)) < 0) {
				fprintf(stderr, "ferry migrate: %s\n", err);
				return 2;
			}
			break;
		case 'E': t.opt.tcp_established = 1; break;
		case 'C': t.opt.tcp_close = 1; break;
		case 'P': pre = 1; break;
		case 'N': pre = 0; break;
		case 'j':
			t.opt.shell_job = 1;
			t.opt.no_terminal = 1;	/* serve's restore has none to give */
			break;
		case 'O':
			io_timeout = atoi(optarg);
			if (io_timeout <= 0) {
				fprintf(stderr, "ferry migrate: bad --timeout '%s'\n", optarg);
				return 2;
			}
			break;
		case 'R':
			restore_timeout = atoi(optarg);
			if (restore_timeout <= 0) {
				fprintf(stderr, "ferry migrate: bad --restore-timeout '%s'\n", optarg);
				return 2;
			}
			break;
		case 'D':
			if (parse_hostport(optarg, &ss, &sl) < 0) {
				fprintf(stderr, "ferry migrate: --dest-addr wants ADDRESS:PORT, not '%s'\n", optarg);
				return 2;
			}
			dest_addr = optarg;
			break;
		case 'W':
			if (parse_seconds(optarg, &t.opt.drain_timeout) < 0) {
				fprintf(stderr, "ferry migrate: --drain-timeout wants seconds (0 to 86400), not '%s'\n", optarg);
				return 2;
			}
			break;
		case 'J': ev_set_sink(ev_stdout, NULL, "migrate"); break;
		case 'v': log_verbose = 1; break;
		case 'h': migrate_usage(stdout); return 0;
		default: migrate_usage(stderr); return 2;
		}
	}
	if (!pid || !to || !keyfile || optind != argc) {
		migrate_usage(stderr);
		return 2;
	}
	if ((c = hostport_resolve(to, 0, &to_ai, err, sizeof(err))) < 0) {
		fprintf(stderr, "ferry migrate: --to: %s%s\n", err, c == HOSTPORT_RESOLVE ? " (nothing was frozen)" : "");
		ev_error(err);
		return c == HOSTPORT_SYNTAX ? 2 : 1;
	}
	signal(SIGPIPE, SIG_IGN);
	t_start = mono_seconds();
	ev_emit("started", json_pack("{s:i,s:s}", "pid", (int)pid, "to", to));
	/* What the source alone can tell is refused before anyone is asked:
	 * its own key first (a usage error), then the tree. */
	if (chan_load_key(keyfile, key) < 0 || dump_survey(pid, &t.opt, NULL) != 0)	/* as dump --check */
		goto out;
	if ((fd = connect_any(to, to_ai, to_ep, sizeof(to_ep))) < 0)
		goto out;
	ev_emit("connected", json_pack("{s:s,s:s}", "to", to, "address", to_ep));
	if (chan_client(&ch, fd, key) < 0)
		goto out;
	chan_up = 1;
	if (!(info = recv_json(&ch, F_INFO)) || check_dest(info, dest_addr ? dest_addr : to_ep) < 0 ||
	    send_json(&ch, F_HELLO, json_object(), 0) < 0)
		goto out;

	/* Pre-flight: the destination checks everything before we freeze. */
	pids = json_array();
	tids = json_array();
	files = json_array();
	addrs = json_array();
	if (access("/proc", F_OK) < 0 || survey(pid, pids, tids, files, addrs, NULL) < 0) {
		json_decref(pids);
		json_decref(tids);
		json_decref(files);
		json_decref(addrs);
		goto out;
	}
	srcaddrs = source_addrs(pid);
	if (autom && auto_map(&map, addrs, srcaddrs, json_object_get(info, "addrs")) < 0) {
		json_decref(srcaddrs);
		json_decref(pids);
		json_decref(tids);
		json_decref(files);
		json_decref(addrs);
		goto out;
	}
	json_decref(srcaddrs);
	test_after_survey();
	if (send_json(&ch, F_PREFLIGHT,
		      json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:b}", "pids", pids, "tids", tids, "files", files, "addrs",
				addrs, "ipmap", map_json(&map), "xcr0", jhex(cpu_xcr0()), "vdso", jhex(own_vdso_hash()),
				"tcp_close", t.opt.tcp_close),
		      0) < 0 ||
	    !(verdict = recv_json(&ch, F_VERDICT)))
		goto out;
	if (!json_is_true(json_object_get(verdict, "ok"))) {
		fail("the destination refuses: %s (nothing was frozen)",
		     json_string_value(json_object_get(verdict, "error")) ?: "no reason given");
		goto out;
	}
	if (json_array_size(json_object_get(verdict, "missing")) &&
	    check_missing(pid, json_object_get(verdict, "missing")) < 0)
		goto out;
	FAULT_STEP("migrate.verdict");

	/* Pre-copy: memory goes while the tree runs, round after round, until
	 * what changes between rounds stops shrinking. */
	if (pre) {
		uint64_t last = UINT64_MAX, n;
		touched = 1;
		if (dump_precopy_arm(&pc, pid) < 0)
			goto out;
		if (isatty(2))
			ch.phase = "pre-copy while it runs";
		for (int r = 0; r < 8; r++) {
			if (precopy_round(&pc, &ch, &n) < 0)
				goto out;
			pr_debug("pre-copy round %d: %" PRIu64 " pages", r, n);
			FAULT_STEP("migrate.precopy");
			ev_emit("progress", json_pack("{s:s,s:i,s:I,s:I}", "phase", "pre-copy", "round", r + 1, "pages",
						      (json_int_t)pc.sent_pages, "bytes", (json_int_t)ch.bytes_out));
			if (r && (n < 1024 || n * 10 > last * 8))
				break;	/* small enough, or not shrinking */
			last = n;
		}
		pre_pages = pc.sent_pages;
		t.precopy = &pc;
		if (ch.phase)
			fputc('\n', stderr);
	}

	/* Freeze, and send the image as it is read. */
	if (isatty(2))
		fprintf(stderr, "ferry migrate: freezing pid %ld and sending it to %s...\n", pid, to);
	t_freeze = mono_seconds();
	img_create_stream(&im, &ch);
	if (isatty(2))
		ch.phase = "frozen, sending the image";
	touched = 1;
	if (dump_tree(&t, pid, &im) < 0) {
		if (ch.phase)
			fputc('\n', stderr);
		goto out;	/* dump_tree has resumed it */
	}
	frozen = 1;
	t_sent = mono_seconds();
	FAULT_STEP("migrate.image_sent");
	pr_debug("image sent in %.3f s (%.1f MiB on the wire)", t_sent - t_freeze, ch.bytes_out / 1048576.0);
	if (ch.phase) {
		fprintf(stderr, "\n  waiting for the destination to restore it...\n");
		ch.phase = NULL;
	}
	for (int i = 0; i < t.nprocs; i++)
		pages += t.procs[i].mm.npages;
	for (int i = 0; i < t.nshm; i++)
		pages += t.shm[i].npages;
	pages += pre_pages;
	ev_emit("sent", json_pack("{s:I,s:I,s:f}", "pages", (json_int_t)pages, "bytes", (json_int_t)ch.bytes_out,
				  "seconds", mono_seconds() - t_freeze));
	/* The image is complete: the locks pass to the destination (shared
	 * storage); dump_release takes them back if the source runs on. */
	if (locks_handover(&t) < 0)
		goto out;
	if (send_json(&ch, F_IMAGE_END, json_pack("{s:o,s:b,s:b}", "ipmap", map_json(&map), "tcp_close", t.opt.tcp_close,
					 "shell_job", t.opt.shell_job),
		      0) < 0 ||
	    !(result = recv_json(&ch, F_RESULT)))
		goto out;
	if (!json_is_true(json_object_get(result, "ok"))) {
		fail("the destination could not restore: %s", json_string_value(json_object_get(result, "error")) ?: "?");
		goto out;
	}
	FAULT_STEP("migrate.result");
	t_running = mono_seconds();
	pr_debug("restored and running after %.3f s", t_running - t_freeze);
	ev_emit("restored", json_pack("{s:s,s:I}", "to", to, "pid", json_integer_value(json_object_get(result, "pid"))));
	/* It runs there: the source goes. */
	dump_release(&t, 1);
	frozen = 0;
	send_json(&ch, F_DONE, json_object(), 1);
	{
		double xfer = t_running - t_freeze;
		fprintf(stderr,
			"ferry migrate: pid %ld now runs on %s (as pid %lld)\n"
			"  pages sent      %" PRIu64 " (%.1f MiB; %" PRIu64 " before the freeze in %d pre-copy rounds)\n"
			"  bytes on wire   %" PRIu64 " (%.1f MiB)\n"
			"  freeze time     %.3f s (the process's downtime)\n"
			"  throughput      %.1f MiB/s\n"
			"  total time      %.3f s\n",
			pid, to, (long long)json_integer_value(json_object_get(result, "pid")), pages,
			pages * 4096.0 / (1 << 20), pre_pages, (int)pc.rounds, ch.bytes_out + ch.bytes_in, (ch.bytes_out + ch.bytes_in) / 1048576.0,
			xfer, xfer > 0 ? ch.bytes_out / 1048576.0 / xfer : 0.0, mono_seconds() - t_start);
		print_breakdown(result, pages - pre_pages, t_sent - t_freeze, t_running - t_sent);
		ev_emit("result",
			json_pack("{s:b,s:i,s:s,s:s,s:I,s:I,s:I,s:i,s:I,s:f,s:f,s:f}", "ok", 1, "pid", (int)pid, "to", to,
				  "address", to_ep, "dest_pid", json_integer_value(json_object_get(result, "pid")),
				  "pages", (json_int_t)pages, "pages_before_freeze", (json_int_t)pre_pages,
				  "pre_copy_rounds", (int)pc.rounds, "bytes_on_wire", (json_int_t)(ch.bytes_out + ch.bytes_in),
				  "freeze_seconds", xfer, "throughput_mib_s", xfer > 0 ? ch.bytes_out / 1048576.0 / xfer : 0.0,
				  "total_seconds", mono_seconds() - t_start));
	}
	/* Only now, with the source gone for good (a failed migration resumes it
	 * with every connection as it was): the peers of broken connections take
	 * what the process had written, most of it while the destination
	 * restored, then they are reset. */
	inet_drain(&t);
	ret = 0;
out:
	if (frozen)
		dump_release(&t, 0);	/* it runs on, as before */
	if (ret && chan_up)
		tell_abort(&ch, fail_msg());
	if (ret)
		ev_error(fail_msg());
	if (ret && touched) {
		fprintf(stderr, "ferry migrate: %s; pid %ld runs on here as before\n", fail_msg() ? fail_msg() : "failed",
			pid);
	} else if (ret) {
		fprintf(stderr, "ferry migrate: %s\n", fail_msg() ? fail_msg() : "failed");
	}
	if (fd >= 0)
		close(fd);
	chan_free(&ch);
	json_decref(info);
	json_decref(verdict);
	json_decref(result);
	if (im.manifest)
		img_close(&im);
	t.precopy = NULL;
	dump_tree_free(&t);
	precopy_free(&pc);	/* ends the tracking: the source is gone, or runs on untracked */
	sodium_munlock(key, sizeof(key));	/* zeroes it */
	if (to_ai)
		freeaddrinfo(to_ai);
	return ret;
}

/* ---- destination side ---- */

/* Files missing here go to missing: the source judges them (check_missing). */
static int check_preflight(json_t *p, json_t *missing, char *why, size_t len)
{
	size_t i;
	json_t *v;
	struct ipmap map = { .n = 0 };
	struct ifaddrs *ifs = NULL;
	uint64_t need = 0, vd = 0;
	char err[200];

	json_array_foreach(json_object_get(p, "pids"), i, v) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%lld", (long long)json_integer_value(v));
		if (access(path, F_OK) == 0)
			return snprintf(why, len, "pid %lld is taken here by %s", (long long)json_integer_value(v),
					proc_describe(json_integer_value(v))), -1;
	}
	json_array_foreach(json_object_get(p, "tids"), i, v) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%lld", (long long)json_integer_value(v));
		if (access(path, F_OK) == 0)
			return snprintf(why, len, "thread id %lld is taken here by %s", (long long)json_integer_value(v),
					proc_describe(json_integer_value(v))), -1;
	}
	/* strings only: a key holder's (or a buggy source's) pre-flight may
	 * hold anything (fuzz/corpus/stream/regress-preflight-not-string) */
	json_array_foreach(json_object_get(p, "files"), i, v)
		if (!json_is_string(v))
			return snprintf(why, len, "the pre-flight is corrupt: a file name is not a string"), -1;
		else if (access(json_string_value(v), F_OK) < 0)
			json_array_append(missing, v);
	jctx = "pre-flight";
	if (jget_u64(p, "xcr0", &need) == 0 && (need & ~cpu_xcr0()))
		return snprintf(why, len, "this CPU lacks xsave features 0x%" PRIx64, need & ~cpu_xcr0()), -1;
	if (jget_u64(p, "vdso", &vd) == 0 && vd != own_vdso_hash())
		return snprintf(why, len, "this host runs another kernel build (its vDSO differs)"), -1;
	json_array_foreach(json_object_get(p, "ipmap"), i, v)
		if (!json_is_string(v))
			return snprintf(why, len, "the pre-flight is corrupt: an --ip-map entry is not a string"), -1;
		else if (ipmap_add(&map, json_string_value(v), err, sizeof(err)) < 0)
			return snprintf(why, len, "%s", err), -1;
	if (getifaddrs(&ifs) < 0)
		return snprintf(why, len, "cannot list this host's addresses"), -1;
	json_array_foreach(json_object_get(p, "addrs"), i, v) {
		struct ip_addr a, orig;
		char b[64];
		if (!json_is_string(v) || ip_parse(json_string_value(v), &a) < 0)
			continue;
		orig = a;
		ipmap_apply(&map, &a);
		if (!ip_on_host(&a, ifs)) {
			a = ip_unmap(&a);	/* named as a host has it */
			freeifaddrs(ifs);
			return snprintf(why, len, "a socket is bound to %s, which this host does not have%s%s; map it with "
					"--ip-map %s=NEW or --ip-map auto", ip_str(&a, b, sizeof(b)),
					ip_equal(&a, &orig) ? "" : " (mapped from ", ip_equal(&a, &orig) ? "" : "elsewhere)",
					json_string_value(v)), -1;
		}
	}
	freeifaddrs(ifs);
	return 0;
}

static uint64_t staging_limit;		/* bytes one migration may stage (serve --max-staging) */
static uint64_t staged;

/* Counts n more bytes staged; refuses beyond the limit (a peer must not
 * fill this host's memory). */
static int stage_bytes(size_t n)
{
	staged += n;
	if (staged > staging_limit)
		return fail("the image exceeds this host's staging limit of %" PRIu64 " MiB (serve --max-staging)",
			    staging_limit >> 20);
	return 0;
}

/* Pages pre-copied to us, per process: appended to prestore-PID.img as they
 * come (a page sent again is appended again), with the latest offset of
 * each address. */
struct pre_store {
	pid_t pid;
	int fd;
	uint64_t off;
	XXH3_state_t *hs;
	struct vamap at;	/* vaddr -> offset in the pre-copy file */
};
static struct pre_store *stores;
static int nstores;

static int store_pages(const char *dir, const uint8_t *buf, size_t len)
{
	struct {
		uint32_t pid, npages;
		uint64_t vaddr;
	} hdr;
	struct pre_store *st = NULL;
	if (len < sizeof(hdr))
		return fail("migration protocol error: short pre-copy frame");
	memcpy(&hdr, buf, sizeof(hdr));
	if (!hdr.npages || len != sizeof(hdr) + (size_t)hdr.npages * PAGE_SIZE || hdr.vaddr % PAGE_SIZE || !hdr.vaddr ||
	    hdr.vaddr + (uint64_t)hdr.npages * PAGE_SIZE < hdr.vaddr)
		return fail("migration protocol error: bad pre-copy frame");
	if (stage_bytes(len - sizeof(hdr)) < 0)
		return -1;
	for (int i = 0; i < nstores; i++)
		if (stores[i].pid == (pid_t)hdr.pid)
			st = &stores[i];
	if (!st) {
		char path[4200];
		stores = xrealloc(stores, (nstores + 1) * sizeof(*stores));
		st = &stores[nstores++];
		memset(st, 0, sizeof(*st));
		st->pid = hdr.pid;
		st->hs = XXH3_createState();
		XXH3_64bits_reset(st->hs);
		snprintf(path, sizeof(path), "%s/prestore-%d.img", dir, st->pid);
		if ((st->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
			return fail_errno("cannot create %s", path);
	}
	if (write_full(st->fd, buf + sizeof(hdr), len - sizeof(hdr)) < 0)
		return fail_errno("cannot store pre-copied pages");
	XXH3_64bits_update(st->hs, buf + sizeof(hdr), len - sizeof(hdr));
	for (uint32_t i = 0; i < hdr.npages; i++)
		vamap_put(&st->at, hdr.vaddr + (uint64_t)i * PAGE_SIZE, st->off + (uint64_t)i * PAGE_SIZE);
	st->off += len - sizeof(hdr);
	return 0;
}

/* The premap of pid lists pages pre-copied to us: more pages than we hold,
 * or runs that wrap, are a bogus stream (a loop over a peer's count must
 * end with what was really received). */
static int premap_check(const struct page_run *pm, size_t len, const struct vamap *at, pid_t pid)
{
	uint64_t total = 0;
	if (len % sizeof(*pm))
		return fail("migration protocol error: premap-%d.img is not a list of page runs", pid);
	for (size_t r = 0; r < len / sizeof(*pm); r++) {
		if (pm[r].vaddr % PAGE_SIZE || pm[r].npages > at->used ||
		    pm[r].vaddr + pm[r].npages * PAGE_SIZE < pm[r].vaddr)
			return fail("migration protocol error: premap-%d.img has a bad page run", pid);
		total += pm[r].npages;
		if (total > at->used)
			return fail("migration protocol error: premap-%d.img lists more pages than the %" PRIu64
				    " pre-copied", pid, at->used);
	}
	return 0;
}

/* The image names (premap-PID.img) the pages left to the store: index
 * them, and list the store and the index in the manifest. */
static int finish_stores(const char *dir)
{
	char path[4200];
	json_t *man;
	json_error_t e;
	int ret = -1;
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	if (!(man = json_load_file(path, 0, &e)))
		return fail("the received manifest is corrupt: %s", e.text);
	for (int i = 0; i < nstores; i++) {
		struct pre_store *st = &stores[i];
		struct pre_run *idx = NULL;
		size_t len, n = 0, cap = 0;
		char name[64];
		struct page_run *pm;
		snprintf(path, sizeof(path), "%s/premap-%d.img", dir, st->pid);
		if (!(pm = (struct page_run *)read_file(path, &len)))
			continue;	/* the process left the tree: its pages are not used */
		if (premap_check(pm, len, &st->at, st->pid) < 0) {
			free(pm);
			goto out;
		}
		for (size_t r = 0; r < len / sizeof(*pm); r++)
			for (uint64_t k = 0; k < pm[r].npages; k++) {
				uint64_t va = pm[r].vaddr + k * PAGE_SIZE;
				uint64_t at;
				if (!vamap_get(&st->at, va, &at))
					continue;	/* never sent: a page never written is zeros */
				if (n && idx[n - 1].vaddr + idx[n - 1].npages * PAGE_SIZE == va &&
				    idx[n - 1].offset + idx[n - 1].npages * PAGE_SIZE == (uint64_t)at) {
					idx[n - 1].npages++;
					continue;
				}
				if (n == cap) {	/* doubling: this runs inside the freeze */
					cap = cap ? 2 * cap : 1024;
					idx = xrealloc(idx, cap * sizeof(*idx));
				}
				idx[n++] = (struct pre_run){ va, 1, at };
			}
		free(pm);
		snprintf(name, sizeof(name), "preidx-%d.img", st->pid);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		{
			int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
			if (fd < 0 || write_full(fd, idx, n * sizeof(*idx)) < 0) {
				fail_errno("cannot write %s", path);
				free(idx);
				if (fd >= 0)
					close(fd);
				goto out;
			}
			close(fd);
		}
		json_object_set_new(json_object_get(man, "files"), name,
				    json_pack("{s:I,s:o}", "size", (json_int_t)(n * sizeof(*idx)), "xxh3",
					      json_sprintf("%016" PRIx64, img_hash(idx, n * sizeof(*idx)))));
		free(idx);
		snprintf(name, sizeof(name), "prestore-%d.img", st->pid);
		json_object_set_new(json_object_get(man, "files"), name,
				    json_pack("{s:I,s:o}", "size", (json_int_t)st->off, "xxh3",
					      json_sprintf("%016" PRIx64, (uint64_t)XXH3_64bits_digest(st->hs))));
	}
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	if (json_dump_file(man, path, JSON_INDENT(1)) < 0) {
		fail("cannot rewrite %s", path);
		goto out;
	}
	ret = 0;
out:
	json_decref(man);
	return ret;
}

static void free_stores(void)
{
	for (int i = 0; i < nstores; i++) {
		if (stores[i].fd >= 0)
			close(stores[i].fd);
		XXH3_freeState(stores[i].hs);
		vamap_free(&stores[i].at);
	}
	free(stores);
	stores = NULL;
	nstores = 0;
}

/* Receives the image files into dir; returns the IMAGE_END message. */
static json_t *receive_image(struct chan *c, const char *dir)
{
	int fd = -1;
	for (;;) {
		uint8_t type;
		const void *rbuf;
		void *buf;
		size_t len;
		if (chan_recv_inplace(c, &type, &rbuf, &len) < 0)
			goto err;
		if (type == PRE_F_PAGES) {
			if (store_pages(dir, rbuf, len) < 0)
				goto err;
			continue;
		}
		if (type == IMG_F_DATA) {
			if (fd < 0) {
				fail("migration protocol error: image data outside a file");
				goto err;
			}
			if (stage_bytes(len) < 0)
				goto err;
			if (write_full(fd, rbuf, len) < 0) {
				fail_errno("cannot store the image");
				goto err;
			}
			continue;
		}
		buf = xmalloc(len + 1);
		memcpy(buf, rbuf, len);
		((char *)buf)[len] = 0;
		if (type == F_IMAGE_END) {
			json_error_t e;
			json_t *j = json_loadb(buf, len, 0, &e);
			free(buf);
			if (fd >= 0)
				close(fd);
			if (!j)
				fail("migration protocol error: bad image end");
			return j;
		}
		if (type == IMG_F_BEGIN) {
			char path[4200];
			const char *name = buf;
			if (!len || name[len - 1] || !plain_name(name) || name[0] == '.') {
				free(buf);
				fail("migration protocol error: bad file name");
				goto err;
			}
			if (fd >= 0) {
				free(buf);
				fail("migration protocol error: a file begins before the last one ended");
				goto err;
			}
			/* a file costs a page at least: empty ones too, or a stream
			 * of them would fill /dev/shm with inodes */
			if (stage_bytes(PAGE_SIZE) < 0) {
				free(buf);
				goto err;
			}
			snprintf(path, sizeof(path), "%s/%s", dir, name);
			fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
			if (fd < 0) {
				fail_errno("cannot create %s", path);
				free(buf);
				goto err;
			}
		} else if (type == IMG_F_END) {
			if (fd >= 0)
				close(fd);
			fd = -1;
		} else if (type == F_ABORT) {
			char why[512];
			fail("the source gave up: %s", abort_reason(buf, len, why, sizeof(why)));
			free(buf);
			goto err;
		} else {
			free(buf);
			fail("migration protocol error: message %d in the image", type);
			goto err;
		}
		free(buf);
	}
err:
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* Kills the tree this serve just restored: the root is the pid our own
 * `ferry restore` reported (never a pid named by the peer). */
static void kill_restored(pid_t root)
{
	pid_t *list, *kids;
	int n = 1, nk;
	if (root <= 1) {
		pr_warn("the source did not get the result and runs on there, and the restored pid is unknown: "
			"stop the copy here by hand");
		return;
	}
	list = xmalloc(sizeof(*list));
	list[0] = root;
	for (int i = 0; i < n; i++)
		if (proc_children(list[i], &kids, &nk) == 0) {
			list = xrealloc(list, (n + nk) * sizeof(*list));
			memcpy(list + n, kids, nk * sizeof(*kids));
			n += nk;
			free(kids);
		}
	for (int i = 0; i < n; i++)
		kill(list[i], SIGKILL);
	free(list);
	pr_warn("the source did not get the result and runs on there: killed the %d restored process(es) here", n);
}

/* Runs `ferry restore -D dir -d` and reports its verdict.  While it runs,
 * tells the source four times a second that it is still at work: a restore slower
 * than the source's idle timeout must not look like a dead receiver (the
 * source would resume its copy while this one starts). */
static json_t *run_restore(struct chan *ch, const char *dir, json_t *end, const char *netns)
{
	char pidfile[4200], *argv[64], errbuf[2048] = "";
	size_t got = 0;
	int n = 0, p[2], st, source_gone = 0;
	size_t i;
	json_t *v;
	pid_t child;
	snprintf(pidfile, sizeof(pidfile), "%s/restored.pid", dir);
	argv[n++] = "ferry";
	argv[n++] = "restore";
	if (log_verbose)
		argv[n++] = "-v";
	argv[n++] = "-D";
	argv[n++] = (char *)dir;
	argv[n++] = "-d";
	argv[n++] = "--pidfile";
	argv[n++] = pidfile;
	if (netns) {
		argv[n++] = "--netns";
		argv[n++] = (char *)netns;
	}
	if (json_is_true(json_object_get(end, "tcp_close")))
		argv[n++] = "--tcp-close";
	if (json_is_true(json_object_get(end, "shell_job")))
		argv[n++] = "--shell-job";
	json_array_foreach(json_object_get(end, "ipmap"), i, v) {
		if (n > 60)
			break;
		if (!json_is_string(v))
			continue;
		argv[n++] = "--ip-map";
		argv[n++] = (char *)json_string_value(v);
	}
	argv[n] = NULL;
	if (pipe2(p, O_CLOEXEC) < 0)
		return json_pack("{s:b,s:s}", "ok", 0, "error", "cannot create a pipe");
	child = fork();
	if (child == 0) {
		/* its own group: a tree restored --shell-job joins it, not serve's */
		setpgid(0, 0);
		dup2(p[1], 2);
		execv(serve_restore_exe ? serve_restore_exe : "/proc/self/exe", argv);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		struct pollfd pfd = { p[0], POLLIN, 0 };
		char sink[512];
		ssize_t r;
		int k = poll(&pfd, 1, 250);	/* well inside any --timeout (>= 1 s) */
		if (k < 0 && errno == EINTR)
			continue;
		if (k == 0) {
			if (!source_gone && send_json(ch, F_ALIVE, json_object(), 0) < 0)
				source_gone = 1;	/* the RESULT will fail too, and say so */
			continue;
		}
		r = got < sizeof(errbuf) - 1 ? read(p[0], errbuf + got, sizeof(errbuf) - 1 - got) : read(p[0], sink, sizeof(sink));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (got < sizeof(errbuf) - 1)
			got += r;
	}
	errbuf[got] = 0;
	close(p[0]);
	while (waitpid(child, &st, 0) < 0 && errno == EINTR)
		;
	if (log_verbose)
		fputs(errbuf, stderr);
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		errbuf[strcspn(errbuf, "\n")] = 0;
		return json_pack("{s:b,s:s}", "ok", 0, "error", errbuf[0] ? errbuf : "ferry restore failed");
	} else {
		char *s = read_file(pidfile, NULL);
		long pid = s ? atol(s) : 0;
		free(s);
		return json_pack("{s:b,s:I}", "ok", 1, "pid", (json_int_t)pid);
	}
}

#define STAGE_DIR "/dev/shm"
#define STAGE_PREFIX "ferry-incoming."
#define STAGE_GLOB STAGE_DIR "/" STAGE_PREFIX

/* Whether /dev/shm/NAME is a staging directory a receiver of ours made:
 * a real directory (no link), ours, mode 0700, with our lock file in it.
 * /dev/shm is world-writable: anything else there is some user's, and none
 * of ours to open, lock or remove.  Returns the lock fd (to probe), or -1. */
static int stage_lock_of(int shm, const char *name)
{
	struct stat st;
	int dfd, lfd;
	dfd = openat(shm, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	if (fstat(dfd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 07777) != 0700) {
		close(dfd);
		return -1;
	}
	/* O_NONBLOCK: a FIFO planted there must not hang us (nor can it be
	 * planted: the directory is ours and 0700; this is the second lock). */
	lfd = openat(dfd, "lock", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	close(dfd);
	if (lfd < 0)
		return -1;
	if (fstat(lfd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
		close(lfd);
		return -1;
	}
	return lfd;
}

/* Staging directories of receivers that died (killed mid-migration): their
 * lock is free.  They hold a partial image in memory: sweep them.  Entries
 * that are not ours are left alone (see stage_lock_of). */
static void sweep_stale(void)
{
	int shm = open(STAGE_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	if (shm < 0 || !(d = fdopendir(shm))) {
		if (shm >= 0)
			close(shm);
		return;
	}
	while ((de = readdir(d))) {
		int lfd;
		if (strncmp(de->d_name, STAGE_PREFIX, strlen(STAGE_PREFIX)))
			continue;
		if ((lfd = stage_lock_of(dirfd(d), de->d_name)) < 0) {
			pr_debug("left alone: %s/%s (not a staging directory of ferry)", STAGE_DIR, de->d_name);
			continue;
		}
		if (flock(lfd, LOCK_EX | LOCK_NB) < 0) {
			close(lfd);
			continue;	/* a live receiver holds it */
		}
		fail_clear();
		if (rm_tree_at(dirfd(d), de->d_name) < 0) {
			pr_warn("cannot remove stale %s/%s: %s", STAGE_DIR, de->d_name, fail_msg());
			fail_clear();
		}
		close(lfd);
	}
	closedir(d);
}

static void rm_dir(const char *dir)
{
	fail_clear();	/* the caller has reported its own error */
	if (rm_tree(dir) < 0) {
		pr_warn("cannot remove %s: %s", dir, fail_msg());
		fail_clear();
	}
}

/* serve: the listening process forks one child per connection, at most
 * SERVE_MAX_CONN at once, so a client that connects and stalls or trickles
 * bytes holds only its own child, for at most handshake_timeout seconds (one
 * deadline for the whole handshake, up to the source's first authenticated
 * frame).  Once authenticated, migrations take turns (turn_fd): one restore
 * at a time on this host, the next one's source told it is queued.  A
 * child's exit status says whether its peer authenticated (--once counts
 * only those). */
#define SERVE_MAX_CONN 16
enum { SERVE_OK = 0, SERVE_FAILED = 1, SERVE_UNAUTH = 2 };
static int handshake_timeout = 10;
static int turn_fd = -1;		/* a memfd: each child flocks its own open of it */
static int serve_once;			/* --once: the memfd's size 1 says the migration came */
static char alarm_msg[256];

static void handshake_expired(int sig)
{
	(void)sig;
	if (write(2, alarm_msg, strlen(alarm_msg)) < 0) {
	}
	_exit(SERVE_UNAUTH);
}

/* Waits for this migration's turn to restore, telling the source we are
 * still here; returns the fd that holds the turn (closed when we end). */
static int wait_turn(struct chan *ch)
{
	char path[64];
	int fd, said = 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", turn_fd);
	if (turn_fd < 0 || (fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
		return fail_errno("cannot take a turn to restore (%s)", path);
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			fail_errno("cannot take a turn to restore");
			close(fd);
			return -1;
		}
		if (!said++)
			pr_info("another migration is restoring here: this one waits for its turn");
		if (send_json(ch, F_ALIVE, json_object(), 0) < 0) {
			close(fd);
			return -1;
		}
		poll(NULL, 0, 250);
	}
	return fd;
}

/* Default staging limit: half of the memory available now. */
static uint64_t default_staging_limit(void)
{
	char *m = read_file("/proc/meminfo", NULL);
	const char *v = m ? strstr(m, "MemAvailable:") : NULL;
	uint64_t kb = v ? strtoull(v + 13, NULL, 10) : 0;
	free(m);
	return kb ? kb * 1024 / 2 : (uint64_t)1 << 30;
}

static int serve_one(int fd, const uint8_t *key, const char *netns)
{
	struct chan ch = { .fd = -1 };
	json_t *hello = NULL, *pre = NULL, *end = NULL, *res = NULL, *missing = NULL;
	char why[1024], dir[] = STAGE_GLOB "XXXXXX", lock[600], here[80], peer[80];
	int ret = -1, have_dir = 0, lockfd = -1, turn = -1;
	sock_endpoint(fd, 0, here, sizeof(here));
	sock_endpoint(fd, 1, peer, sizeof(peer));
	snprintf(alarm_msg, sizeof(alarm_msg),
		 "ferry: connection from %s: no migration: the handshake did not finish within %d s\n", peer,
		 handshake_timeout);
	signal(SIGALRM, handshake_expired);
	alarm(handshake_timeout);
	set_timeouts(fd);
	if (chan_server(&ch, fd, key) < 0 || send_json(&ch, F_INFO, host_info(here), 0) < 0 ||
	    !(hello = recv_json(&ch, F_HELLO))) {
		alarm(0);
		pr_info("connection from %s: no migration: %s", peer, fail_msg() ? fail_msg() : "?");
		chan_free(&ch);
		fail_clear();
		return SERVE_UNAUTH;
	}
	alarm(0);
	pr_info("migration from %s: authenticated", peer);
	FAULT_STEP("serve.authenticated");
	if (!(pre = recv_json(&ch, F_PREFLIGHT)) || (turn = wait_turn(&ch)) < 0)
		goto out;
	if (serve_once) {
		struct stat ts;
		/* another authenticated migration came first: serve is ending */
		if (fstat(turn, &ts) == 0 && ts.st_size > 0) {
			send_json(&ch, F_VERDICT, json_pack("{s:b,s:s}", "ok", 0, "error",
							    "this serve (--once) has had its migration"), 1);
			close(turn);
			turn = -1;
			ret = 0;
			goto out;
		}
		if (ftruncate(turn, 1) < 0)
			pr_warn("cannot mark the --once migration: %s", strerror(errno));
	}
	missing = json_array();
	if (check_preflight(pre, missing, why, sizeof(why)) < 0) {
		pr_info("refused a migration: %s", why);
		ev_error(why);
		send_json(&ch, F_VERDICT, json_pack("{s:b,s:s}", "ok", 0, "error", why), 1);
		ret = 0;
		goto out;
	}
	fail_clear();	/* optional keys the pre-flight lacked are no error of this migration's */
	if (send_json(&ch, F_VERDICT, json_pack("{s:b,s:O}", "ok", 1, "missing", missing), 0) < 0)
		goto out;
	sweep_stale();
	if (!mkdtemp(dir)) {
		fail_errno("cannot create %s", dir);
		goto out;
	}
	have_dir = 1;
	/* Held while we live: a sweep by a later receiver leaves it alone. */
	snprintf(lock, sizeof(lock), "%s/lock", dir);
	lockfd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (lockfd < 0 || flock(lockfd, LOCK_EX) < 0) {
		fail_errno("cannot lock %s", lock);
		goto out;
	}
	/* Ours, made before the image comes: the peer cannot send a file by
	 * that name (ferry restore writes the pid it restored there). */
	snprintf(lock, sizeof(lock), "%s/restored.pid", dir);
	{
		int pf = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (pf < 0) {
			fail_errno("cannot create %s", lock);
			goto out;
		}
		close(pf);
	}
	FAULT_STEP("serve.receiving");
	if (!(end = receive_image(&ch, dir)))
		goto out;
	FAULT_STEP("serve.received");
	{
		double a = mono_seconds(), b, c;
		if (nstores && finish_stores(dir) < 0)
			goto out;
		b = mono_seconds();
		res = run_restore(&ch, dir, end, netns);
		c = mono_seconds();
		pr_debug("restore took %.3f s", c - b);
		/* for the source's breakdown of the freeze */
		json_object_set_new(res, "timing", json_pack("{s:f,s:f}", "index", b - a, "restore", c - b));
	}
	if (!json_is_true(json_object_get(res, "ok"))) {
		pr_info("restore failed: %s", json_string_value(json_object_get(res, "error")));
		ev_error(json_string_value(json_object_get(res, "error")));
	} else {
		pr_info("restored pid %lld", (long long)json_integer_value(json_object_get(res, "pid")));
		ev_emit("restored", json_pack("{s:s,s:I}", "from", peer, "pid", json_integer_value(json_object_get(res, "pid"))));
	}
	FAULT_STEP("serve.restored");
	if (send_json(&ch, F_RESULT, json_incref(res), 0) < 0) {
		/* The source never learns that the copy here runs, so it resumes
		 * its own: this one must go, or both would run. */
		if (json_is_true(json_object_get(res, "ok")))
			kill_restored(json_integer_value(json_object_get(res, "pid")));
		goto out;
	}
	FAULT_STEP("serve.result_sent");
	if (json_is_true(json_object_get(res, "ok"))) {
		json_t *done = recv_json(&ch, F_DONE);
		if (!done)
			pr_warn("the source did not confirm it is gone: %s", fail_msg() ? fail_msg() : "?");
		json_decref(done);
	}
	ret = 0;
out:
	if (ret < 0) {
		pr_info("migration failed: %s", fail_msg() ? fail_msg() : "?");
		ev_error(fail_msg());
	}
	free_stores();
	if (have_dir)
		rm_dir(dir);
	if (lockfd >= 0)
		close(lockfd);
	if (turn >= 0)
		close(turn);
	chan_free(&ch);
	json_decref(hello);
	json_decref(pre);
	json_decref(missing);
	json_decref(end);
	json_decref(res);
	fail_clear();
	return ret < 0 ? SERVE_FAILED : SERVE_OK;
}

static void serve_usage(FILE *f)
{
	fprintf(f, "usage: ferry serve --listen HOST:PORT --key KEYFILE [--netns PATH] [--once]\n"
		   "                   [--max-staging SIZE] [--handshake-timeout SECONDS] [--json] [-v]\n"
		   "  Receives migrations (from `ferry migrate`) and restores them here, one at a time.\n"
		   "  --listen HOST:PORT   a host name (its first address that binds), an IPv4 address,\n"
		   "                       or an IPv6 address in brackets: [::]:7777\n"
		   "  --netns PATH         listen and restore in that network namespace\n"
		   "  --once               exit after one authenticated migration (its result is the exit status)\n"
		   "  --max-staging SIZE   the largest image one migration may stage in memory, in bytes or\n"
		   "                       with K, M, G (default: half of the memory available at start)\n"
		   "  --handshake-timeout S  drop a connection that has not authenticated within S s (default 10)\n"
		   "  --json               events on stdout, one JSON object per line (started, then per\n"
		   "                       migration restored or error)\n");
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	int shift = 0;
	if (end == s || s[0] == '-')
		return -1;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	}
	if (*end || !v || v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

struct conns {
	pid_t pid[SERVE_MAX_CONN];
	int n;
};

/* Reaps the connection children that ended; with once, returns the exit
 * status of serve once an authenticated one ended (else -1). */
static int reap_conns(struct conns *cs, int once)
{
	pid_t p;
	int st, done = -1;
	while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
		for (int i = 0; i < cs->n; i++)
			if (cs->pid[i] == p) {
				cs->pid[i] = cs->pid[--cs->n];
				break;
			}
		if (WIFSIGNALED(st)) {
			pr_warn("the process serving a connection (pid %d) died of signal %d", p, WTERMSIG(st));
			/* its staging directory (its lock died with it) goes now, not
			 * at the next migration (tests/net/faults.sh) */
			sweep_stale();
		}
		else if (once && WIFEXITED(st) && WEXITSTATUS(st) != SERVE_UNAUTH && done < 0)
			done = WEXITSTATUS(st) == SERVE_OK ? 0 : 1;
	}
	return done;
}

/* Listens on the first of at's addresses that binds, in getaddrinfo's
 * order (resolved here, inside --netns); where gets it.  Prints why not. */
static int listen_any(const char *at, char *where, size_t len)
{
	char err[300], why[600] = "", a[80];
	struct addrinfo *ai, *i;
	size_t n = 0;
	int one = 1;
	if (hostport_resolve(at, 1, &ai, err, sizeof(err)) < 0) {
		fprintf(stderr, "ferry serve: --listen: %s\n", err);
		ev_error(err);
		return -1;
	}
	for (i = ai; i; i = i->ai_next) {
		int l = socket(i->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		hostport_str(i, a, sizeof(a));
		if (l >= 0 && setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
		    bind(l, i->ai_addr, i->ai_addrlen) == 0 && listen(l, 64) == 0) {
			snprintf(where, len, "%s", a);
			freeaddrinfo(ai);
			return l;
		}
		if (n < sizeof(why))
			n += snprintf(why + n, sizeof(why) - n, "%s%s: %s", n ? "; " : "", a, strerror(errno));
		if (l >= 0)
			close(l);
	}
	freeaddrinfo(ai);
	fprintf(stderr, "ferry serve: cannot listen on %s (%s)\n", at, why);
	ev_error(why);
	return -1;
}

int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, 0, 'l' }, { "key", required_argument, 0, 'k' },
		{ "netns", required_argument, 0, 'n' }, { "once", no_argument, 0, 'o' },
		{ "max-staging", required_argument, 0, 'S' }, { "handshake-timeout", required_argument, 0, 'H' },
		{ "json", no_argument, 0, 'J' },
		{ "verbose", no_argument, 0, 'v' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	const char *listen_at = NULL, *keyfile = NULL, *netns = NULL;
	uint8_t key[CHAN_KEY_BYTES];
	struct conns cs = { .n = 0 };
	char where[80];
	int c, l, once = 0, ret = 1;
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen_at = optarg; break;
		case 'k': keyfile = optarg; break;
		case 'n': netns = optarg; break;
		case 'o': once = serve_once = 1; break;
		case 'S':
			if (parse_size(optarg, &staging_limit) < 0) {
				fprintf(stderr, "ferry serve: bad --max-staging '%s' (bytes, or a number with K, M or G)\n",
					optarg);
				return 2;
			}
			break;
		case 'H':
			handshake_timeout = atoi(optarg);
			if (handshake_timeout <= 0) {
				fprintf(stderr, "ferry serve: bad --handshake-timeout '%s'\n", optarg);
				return 2;
			}
			break;
		case 'J': ev_set_sink(ev_stdout, NULL, "serve"); break;
		case 'v': log_verbose = 1; break;
		case 'h': serve_usage(stdout); return 0;
		default: serve_usage(stderr); return 2;
		}
	}
	if (!listen_at || !keyfile || optind != argc) {
		serve_usage(stderr);
		return 2;
	}
	{
		/* a syntax error is a usage error before anything; a name
		 * resolves only once inside --netns (its own /etc/hosts view
		 * is the same, but its addresses are what bind can take) */
		char err[300];
		struct addrinfo *ai;
		if (hostport_resolve(listen_at, 1, &ai, err, sizeof(err)) == HOSTPORT_SYNTAX) {
			fprintf(stderr, "ferry serve: --listen: %s\n", err);
			return 2;
		}
		if (ai)
			freeaddrinfo(ai);
	}
	if (!staging_limit)
		staging_limit = default_staging_limit();
	signal(SIGPIPE, SIG_IGN);
	if (chan_load_key(keyfile, key) < 0) {
		fprintf(stderr, "ferry serve: %s\n", fail_msg());
		return 1;
	}
	if (netns) {
		int nfd = open(netns, O_RDONLY | O_CLOEXEC);
		if (nfd < 0 || setns(nfd, CLONE_NEWNET) < 0) {
			fprintf(stderr, "ferry serve: cannot enter network namespace %s: %s\n", netns, strerror(errno));
			goto out;
		}
		close(nfd);
		netns = NULL;	/* we are in it: restores inherit it */
	}
	if ((turn_fd = memfd_create("ferry-serve-turn", MFD_CLOEXEC)) < 0) {
		fprintf(stderr, "ferry serve: cannot create a memfd: %s\n", strerror(errno));
		goto out;
	}
	if ((l = listen_any(listen_at, where, sizeof(where))) < 0)
		goto out;
	ev_emit("started", json_pack("{s:s,s:s}", "listen", listen_at, "address", where));
	if (strcmp(where, listen_at))
		pr_info("serving migrations on %s (%s)", listen_at, where);
	else
		pr_info("serving migrations on %s", listen_at);
	for (;;) {
		struct pollfd pfd = { l, POLLIN, 0 };
		int fd, done;
		pid_t p;
		if ((done = reap_conns(&cs, once)) >= 0) {
			ret = done;
			break;
		}
		/* At the cap, new connections wait in the backlog until a
		 * child ends (each within handshake_timeout, or authenticated). */
		if (cs.n >= SERVE_MAX_CONN || poll(&pfd, 1, 200) <= 0) {
			if (cs.n >= SERVE_MAX_CONN)
				poll(NULL, 0, 100);
			continue;
		}
		fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			/* never the end of serve: EMFILE, ENOBUFS, a connection
			 * reset before we took it... */
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
				pr_warn("accept on %s: %s (serving on)", listen_at, strerror(errno));
				poll(NULL, 0, 100);
			}
			continue;
		}
		p = fork();
		if (p < 0) {
			pr_warn("cannot fork for a connection: %s (dropped it)", strerror(errno));
			close(fd);
			continue;
		}
		if (p == 0) {
			close(l);
			c = serve_one(fd, key, netns);
			close(fd);
			sodium_munlock(key, sizeof(key));
			exit(c);
		}
		close(fd);
		cs.pid[cs.n++] = p;
	}
	/* --once: the connections still in their handshake, or queued, go */
	for (int i = 0; i < cs.n; i++)
		kill(cs.pid[i], SIGKILL);
	while (cs.n && waitpid(-1, NULL, 0) > 0)
		cs.n--;
out:
	sodium_munlock(key, sizeof(key));
	return ret;
}

static void keygen_usage(FILE *f)
{
	fprintf(f, "usage: ferry keygen -o KEYFILE    (or: ferry keygen > KEYFILE, then chmod 600 KEYFILE)\n"
		   "  Writes a new random key for serve/migrate to KEYFILE, a new file with mode 0600.\n"
		   "  serve and migrate refuse a key file that group or others can read.\n");
}

int cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, 0, 'o' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	const char *out = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'h': keygen_usage(stdout); return 0;
		default: keygen_usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		keygen_usage(stderr);
		return 2;
	}
	if (chan_keygen(out) < 0) {
		fprintf(stderr, "ferry keygen: %s\n", fail_msg());
		return 1;
	}
	return 0;
}
