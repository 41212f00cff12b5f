/*
 * `ferry dump --check` and migrate's pre-flight: what dump would refuse,
 * read from /proc (and pidfd_getfd) without stopping or changing anything.
 *
 * It lists the tree as dump would and reports, one line each: a root that
 * is a zombie or exiting, a main thread that exited while others run,
 * session and process-group shapes (pgroups.c, the very check dump runs),
 * namespaces other than ferry's (namespaces.c), the attribute table's own checks
 * (pattrs.h survey hooks), and file descriptors of kinds dump refuses
 * (socket families no kind takes, inet sockets of protocols inet.c does
 * not carry, anonymous-inode files ferry does not know, devices other than
 * the memory ones, terminals without --shell-job).
 *
 * Limits: what only a frozen process shows is not surveyed (memory
 * mappings, POSIX timers, unix socket peers and queued descriptors, locks
 * shared outside the tree, the signal a stopped process is stopped by), so
 * a clean survey does not promise a dump succeeds; the processes also run
 * on and may change after it.  Which fds have a kind is asked of the kinds
 * themselves (file_ops.match, as files.c does); what a kind's dump then
 * refuses is repeated in survey_kind, and must follow it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "fileops.h"
#include "pattrs.h"
#include "pstate.h"
#include "util.h"

struct survey {
	FILE *out;		/* NULL: stop at the first problem, recorded as the failure */
	int n;
};

static void note(struct survey *s, pid_t pid, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note(struct survey *s, pid_t pid, const char *fmt, ...)
{
	char what[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (!s->n && !s->out)
		refuse(pid, "%s", what);
	if (s->out)
		fprintf(s->out, "pid %d: %s\n", pid, what);
	s->n++;
}

/* Refusals that a kind's dump makes on an fd its match accepted. */
static void survey_kind(struct survey *s, pid_t pid, const struct options *opt, enum file_kind k,
			const struct fdump *d)
{
	int fd = d->fd, family = 0, type = 0, proto = 0;
	unsigned maj = major(d->st->st_rdev), min = minor(d->st->st_rdev);
	socklen_t l = sizeof(int);
	switch (k) {
	case FK_INET:
		getsockopt(d->myfd, SOL_SOCKET, SO_DOMAIN, &family, &l);
		l = sizeof(int);
		getsockopt(d->myfd, SOL_SOCKET, SO_TYPE, &type, &l);
		l = sizeof(int);
		getsockopt(d->myfd, SOL_SOCKET, SO_PROTOCOL, &proto, &l);
		if (family != AF_INET && family != AF_INET6)
			note(s, pid, "fd %d is a socket of family %d (%s), which ferry cannot checkpoint yet", fd, family,
			     d->link);
		else if (!inet_carried(family, type, proto))
			note(s, pid, "fd %d is an inet socket of type %d protocol %d; ferry carries TCP, UDP, UDP-Lite, "
			     "ping and raw sockets", fd, type, proto);
		break;
	case FK_TTY:
		if (maj == 5 && min == 2)
			note(s, pid, "fd %d is a pseudo-terminal master (%s), which ferry cannot checkpoint", fd, d->link);
		else if (opt->no_terminal)
			note(s, pid, "fd %d is a terminal (%s), which cannot go to another host", fd, d->link);
		else if (!opt->shell_job)
			note(s, pid, "fd %d is a terminal (%s); dump with --shell-job", fd, d->link);
		break;
	case FK_CHR:
		if (maj != 1 || !min || !strchr("\x03\x05\x07\x08\x09", min))
			note(s, pid, "fd %d is a character device (%s), which ferry cannot checkpoint yet", fd, d->link);
		break;
	default:
		break;
	}
}

static void survey_fds(struct survey *s, pid_t pid, const struct options *opt)
{
	int pidfd = syscall(SYS_pidfd_open, pid, 0);
	char dir[64];
	int *fds = NULL, n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	if (pidfd < 0 || !(d = opendir(dir))) {
		if (pidfd >= 0)
			close(pidfd);
		return;	/* gone meanwhile */
	}
	while ((de = readdir(d)))
		if (de->d_name[0] != '.') {
			if (n == cap)
				fds = xrealloc(fds, (cap = cap * 2 + 16) * sizeof(int));
			fds[n++] = atoi(de->d_name);
		}
	closedir(d);
	for (int i = 0; i < n; i++) {
		char path[64], link[4200];
		struct stat st;
		struct fdump fdd = { .fd = fds[i], .link = link, .st = &st };
		ssize_t ln;
		int fd = fds[i], k;
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
		if ((ln = readlink(path, link, sizeof(link) - 1)) <= 0)
			continue;
		link[ln] = 0;
		if ((fdd.myfd = syscall(SYS_pidfd_getfd, pidfd, fd, 0)) < 0)
			continue;	/* closed meanwhile */
		if (fstat(fdd.myfd, &st) < 0) {
			close(fdd.myfd);
			continue;
		}
		/* the kinds' own tests, in their order, as files.c asks them */
		for (k = 0; k < FK_NR; k++)
			if (file_kinds[k] && file_kinds[k]->match && file_kinds[k]->match(&fdd))
				break;
		if (k == FK_NR)
			note(s, pid, "fd %d is %s, which ferry cannot checkpoint yet", fd,
			     !strncmp(link, "anon_inode:", 11) ? link + 11 : link);
		else
			survey_kind(s, pid, opt, k, &fdd);
		close(fdd.myfd);
	}
	free(fds);
	close(pidfd);
}

static void survey_proc(struct survey *s, pid_t pid, const struct options *opt)
{
	pid_t *tids;
	int nt;
	if (proc_tids(pid, &tids, &nt) < 0) {
		fail_clear();
		return;
	}
	{
		char why[256];
		if (ns_foreign(pid, why, sizeof(why)))
			note(s, pid, "%s", why);
	}
	for (int a = 0; pattr_table[a]; a++)
		for (int k = 0; pattr_table[a]->survey && k < (pattr_table[a]->per_thread ? nt : 1); k++) {
			char why[512];
			if (pattr_table[a]->survey(pid, pattr_table[a]->per_thread ? tids[k] : pid, why, sizeof(why)))
				note(s, pid, "%s", why);
		}
	free(tids);
	survey_fds(s, pid, opt);
}

int dump_survey(pid_t root, const struct options *opt, FILE *out)
{
	struct survey s = { out, 0 };
	pid_t *list = xmalloc(sizeof(pid_t));
	int n = 1;
	list[0] = root;
	for (int i = 0; i < n && (out || !s.n); i++) {
		struct proc_stat st;
		pid_t *kids, *tids;
		int nk, nt;
		if (proc_stat(list[i], &st) < 0) {
			if (!i) {
				free(list);
				return -1;
			}
			fail_clear();	/* gone meanwhile: not part of the tree any more */
			continue;
		}
		if (st.state == 'Z') {
			if (proc_tids(list[i], &tids, &nt) == 0) {
				free(tids);
				if (nt > 1)
					note(&s, list[i], "its main thread exited while %d other threads run on", nt - 1);
			}
			if (!i)
				note(&s, list[i], "it is a zombie; ferry dumps a tree from a living root");
			continue;
		}
		if (st.state == 'X') {
			note(&s, list[i], "it is exiting");
			continue;
		}
		survey_proc(&s, list[i], opt);
		if (proc_children(list[i], &kids, &nk) == 0) {
			list = xrealloc(list, (n + nk) * sizeof(pid_t));
			memcpy(list + n, kids, nk * sizeof(pid_t));
			n += nk;
			free(kids);
		} else {
			fail_clear();
		}
	}
	free(list);
	if ((out || !s.n) && pgroup_survey(root, opt->shell_job) < 0) {
		/* its message is a refusal already ("pid N: ...; nothing was changed") */
		if (out) {
			const char *m = fail_msg();
			const char *end = strstr(m, "; nothing was changed");
			fprintf(out, "%.*s\n", end ? (int)(end - m) : (int)strlen(m), m);
			fail_clear();
		}
		s.n++;
	}
	return s.n;
}
