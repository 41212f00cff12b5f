/*
 * Network lock (see netlock.h).  A table of our own, "inet ferry_lock_PID",
 * with input and output chains ahead of everything else that drop the
 * locked connections' packets both ways.  It is lifted by the restore that
 * brings the connections back, by a restore that breaks them (the peer's
 * next packet then meets a RST instead of silence), or by `ferry unlock`.
 * nft(8) does the work: it is the tool every admin can also use to look at
 * or delete the table by hand.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image.h"
#include "log.h"
#include "netlock.h"
#include "util.h"

/* Runs `nft -f -` with script on stdin inside the namespace nsfd. */
static int run_nft(int nsfd, const char *script, const char *what)
{
	int p[2], st;
	pid_t pid;
	if (pipe2(p, O_CLOEXEC) < 0)
		return fail_errno("cannot create a pipe");
	pid = fork();
	if (pid < 0)
		return fail_errno("cannot fork");
	if (pid == 0) {
		dup2(p[0], 0);
		if (setns(nsfd, CLONE_NEWNET) < 0)
			_exit(126);
		execlp("nft", "nft", "-f", "-", (char *)NULL);
		_exit(127);
	}
	close(p[0]);
	write_full(p[1], script, strlen(script));
	close(p[1]);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return fail_errno("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return fail("cannot %s: nft exited with status %d%s", what, WIFEXITED(st) ? WEXITSTATUS(st) : -1,
			    WIFEXITED(st) && WEXITSTATUS(st) == 127 ? " (is nftables installed?)" : "");
	return 0;
}

static void rule(char *buf, size_t len, size_t *off, const struct conn *c, int out)
{
	/* a dual-stack socket's IPv4-mapped connection is IPv4 on the wire */
	struct ip_addr la = ip_unmap(&c->laddr), ra = ip_unmap(&c->raddr);
	char l[64], r[64];
	const char *fam = la.family == AF_INET ? "ip" : "ip6";
	ip_str(&la, l, sizeof(l));
	ip_str(&ra, r, sizeof(r));
	if (out)
		*off += snprintf(buf + *off, len - *off, "  %s saddr %s %s daddr %s tcp sport %d tcp dport %d drop\n",
				 fam, l, fam, r, c->lport, c->rport);
	else
		*off += snprintf(buf + *off, len - *off, "  %s saddr %s %s daddr %s tcp sport %d tcp dport %d drop\n",
				 fam, r, fam, l, c->rport, c->lport);
}

int netlock_install(struct netlock *l, pid_t pid, const struct conn *c, int n)
{
	size_t len = 512 + n * 400, off = 0;
	char *s = xmalloc(len), path[64];
	struct stat st;
	int fd, ret;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		free(s);
		return fail_errno("cannot open the network namespace of pid %d", pid);
	}
	snprintf(l->table, sizeof(l->table), "ferry_lock_%d", pid);
	l->netns_dev = st.st_dev;
	l->netns_ino = st.st_ino;
	off += snprintf(s + off, len - off,
			"table inet %s {\n chain in {\n  type filter hook input priority -400; policy accept;\n",
			l->table);
	for (int i = 0; i < n; i++)
		rule(s, len, &off, &c[i], 0);
	off += snprintf(s + off, len - off,
			" }\n chain out {\n  type filter hook output priority -400; policy accept;\n");
	for (int i = 0; i < n; i++)
		rule(s, len, &off, &c[i], 1);
	snprintf(s + off, len - off, " }\n}\n");
	ret = run_nft(fd, s, "lock the network for the preserved connections");
	close(fd);
	free(s);
	if (ret == 0) {
		l->installed = 1;
		pr_debug("network lock %s installed for %d connection(s)", l->table, n);
	}
	return ret;
}

static int ns_matches(const char *path, const struct netlock *l)
{
	struct stat st;
	return stat(path, &st) == 0 && (uint64_t)st.st_ino == l->netns_ino && (uint64_t)st.st_dev == l->netns_dev;
}

/* Finds an fd for the lock's namespace: ours, a named one, any process's. */
static int find_ns(const struct netlock *l)
{
	char path[300];
	struct dirent *de;
	DIR *d;
	if (ns_matches("/proc/self/ns/net", l))
		return open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if ((d = opendir("/run/netns"))) {
		while ((de = readdir(d))) {
			snprintf(path, sizeof(path), "/run/netns/%s", de->d_name);
			if (de->d_name[0] != '.' && ns_matches(path, l)) {
				closedir(d);
				return open(path, O_RDONLY | O_CLOEXEC);
			}
		}
		closedir(d);
	}
	if ((d = opendir("/proc"))) {
		while ((de = readdir(d))) {
			if (de->d_name[0] < '0' || de->d_name[0] > '9')
				continue;
			snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name);
			if (ns_matches(path, l)) {
				closedir(d);
				return open(path, O_RDONLY | O_CLOEXEC);
			}
		}
		closedir(d);
	}
	return -1;
}

int netlock_remove(struct netlock *l)
{
	char s[192];
	int fd, ret;
	if (!l->installed)
		return 0;
	fd = find_ns(l);
	if (fd < 0) {
		l->installed = 0;	/* the namespace is gone, and the rules with it */
		return 0;
	}
	/* "add" first: deleting a table that is already gone (lifted by an
	 * earlier unlock or by hand) is then no error, and lifting stays
	 * idempotent (nft 1.0.6 has no "destroy") */
	snprintf(s, sizeof(s), "add table inet %s\ndelete table inet %s\n", l->table, l->table);
	ret = run_nft(fd, s, "lift the network lock");
	close(fd);
	if (ret == 0) {
		l->installed = 0;
		pr_debug("network lock %s lifted", l->table);
	}
	return ret;
}

json_t *netlock_encode(const struct netlock *l)
{
	if (!l->installed)
		return json_null();
	return json_pack("{s:s,s:I,s:I}", "table", l->table, "netns_dev", (json_int_t)l->netns_dev, "netns_ino",
			 (json_int_t)l->netns_ino);
}

int netlock_decode(json_t *j, struct netlock *l)
{
	const char *t;
	long long v;
	memset(l, 0, sizeof(*l));
	if (!j || json_is_null(j))
		return 0;
	if (jget_str(j, "table", &t) < 0 || strlen(t) >= sizeof(l->table) || strncmp(t, "ferry_lock_", 11))
		return fail("image %s is corrupt: network lock", jctx);
	strcpy(l->table, t);
	if (jget_int(j, "netns_dev", &v) < 0)
		return -1;
	l->netns_dev = v;
	if (jget_int(j, "netns_ino", &v) < 0)
		return -1;
	l->netns_ino = v;
	l->installed = 1;
	return 0;
}
