/*
 * /proc parsing (see proc.h).
 */
#include <ctype.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"
#include "util.h"

int proc_parse_stat(const char *text, struct proc_stat *st)
{
	const char *lp = strchr(text, '('), *rp = strrchr(text, ')');
	unsigned long long v[52];
	const char *p;
	int n = 0;
	size_t clen;

	memset(st, 0, sizeof(*st));
	if (!lp || !rp || rp < lp)
		return -1;
	clen = rp - lp - 1;
	if (clen >= sizeof(st->comm))
		clen = sizeof(st->comm) - 1;
	memcpy(st->comm, lp + 1, clen);
	p = rp + 1;
	while (*p == ' ')
		p++;
	if (!*p)
		return -1;
	st->state = *p++;
	/* Fields from 4 (ppid) on are numbers; v[i] holds field i+4. */
	while (n < 49 && *p) {
		char *end;
		while (*p == ' ')
			p++;
		if (!*p || *p == '\n')
			break;
		v[n++] = strtoull(p, &end, 10);
		if (end == p)
			v[n - 1] = strtoll(p, &end, 10);
		if (end == p)
			return -1;
		p = end;
	}
	if (n < 48)
		return -1;
#define F(i) v[(i) - 4]
	st->ppid = F(4);
	st->pgrp = F(5);
	st->sid = F(6);
	st->num_threads = F(20);
	st->start_code = F(26);
	st->end_code = F(27);
	st->start_stack = F(28);
	st->start_data = F(45);
	st->end_data = F(46);
	st->start_brk = F(47);
	st->arg_start = F(48);
	st->arg_end = F(49);
	st->env_start = F(50);
	st->env_end = F(51);
	st->exit_signal = F(38);
	st->exit_code = n >= 49 ? (int)F(52) : 0;
#undef F
	return 0;
}

const char *proc_field(const char *text, const char *key)
{
	size_t klen = strlen(key);
	const char *p = text;
	while (p && *p) {
		if (!strncmp(p, key, klen) && p[klen] == ':') {
			p += klen + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

int proc_parse_status(const char *text, struct proc_status *st)
{
	const char *p;
	memset(st, 0, sizeof(*st));
	if (!(p = proc_field(text, "Tgid")))
		return -1;
	st->tgid = atoi(p);
	if (!(p = proc_field(text, "Uid")) ||
	    sscanf(p, "%u %u %u %u", &st->uid[0], &st->uid[1], &st->uid[2], &st->uid[3]) != 4)
		return -1;
	if (!(p = proc_field(text, "Gid")) ||
	    sscanf(p, "%u %u %u %u", &st->gid[0], &st->gid[1], &st->gid[2], &st->gid[3]) != 4)
		return -1;
	if ((p = proc_field(text, "Groups"))) {
		while (*p && *p != '\n' && st->ngroups < (int)ARRAY_SIZE(st->groups)) {
			char *end;
			unsigned long g = strtoul(p, &end, 10);
			if (end == p)
				break;
			st->groups[st->ngroups++] = g;
			p = end;
			while (*p == ' ')
				p++;
		}
	}
	if ((p = proc_field(text, "CapInh")))
		st->cap_inh = strtoull(p, NULL, 16);
	if ((p = proc_field(text, "CapPrm")))
		st->cap_prm = strtoull(p, NULL, 16);
	if ((p = proc_field(text, "CapEff")))
		st->cap_eff = strtoull(p, NULL, 16);
	if ((p = proc_field(text, "CapBnd")))
		st->cap_bnd = strtoull(p, NULL, 16);
	if ((p = proc_field(text, "CapAmb")))
		st->cap_amb = strtoull(p, NULL, 16);
	if ((p = proc_field(text, "NoNewPrivs")))
		st->no_new_privs = atoi(p);
	if ((p = proc_field(text, "Seccomp")))
		st->seccomp = atoi(p);
	if ((p = proc_field(text, "Umask")))
		st->umask = strtoul(p, NULL, 8);
	if ((p = proc_field(text, "Threads")))
		st->threads = atoi(p);
	return 0;
}

static int is_vma_header(const char *line)
{
	/* "start-end perms ..." : hex digits up to '-' */
	const char *p = line;
	if (!isxdigit((unsigned char)*p))
		return 0;
	while (isxdigit((unsigned char)*p))
		p++;
	return *p == '-';
}

int proc_parse_smaps(const char *text, struct proc_vma **vmas, int *n)
{
	const char *line = text;
	int cap = 64, cnt = 0;
	struct proc_vma *v = xzalloc(cap * sizeof(*v));

	while (line && *line) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		if (is_vma_header(line)) {
			struct proc_vma *m;
			unsigned long long s, e, off, ino;
			int pos = 0;
			if (cnt == cap)
				v = xrealloc(v, (cap *= 2) * sizeof(*v));
			m = &v[cnt];
			memset(m, 0, sizeof(*m));
			if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu %n", &s, &e, m->perms, &off,
				   &m->dev_major, &m->dev_minor, &ino, &pos) < 7) {
				proc_free_vmas(v, cnt);
				return -1;
			}
			m->start = s;
			m->end = e;
			m->pgoff = off;
			m->ino = ino;
			if (pos > 0 && (size_t)pos <= len) {
				size_t plen = len - pos;
				m->path = xmalloc(plen + 1);
				memcpy(m->path, line + pos, plen);
				m->path[plen] = 0;
			} else {
				m->path = xstrdup("");
			}
			cnt++;
		} else if (cnt && !strncmp(line, "VmFlags:", 8)) {
			size_t fl = len - 8;
			const char *f = line + 8;
			while (fl && *f == ' ')
				f++, fl--;
			if (fl >= sizeof(v[cnt - 1].vmflags))
				fl = sizeof(v[cnt - 1].vmflags) - 1;
			memcpy(v[cnt - 1].vmflags, f, fl);
			v[cnt - 1].vmflags[fl] = 0;
		}
		line = eol ? eol + 1 : NULL;
	}
	*vmas = v;
	*n = cnt;
	return 0;
}

void proc_free_vmas(struct proc_vma *vmas, int n)
{
	for (int i = 0; i < n; i++)
		free(vmas[i].path);
	free(vmas);
}

static const char *const limit_names[NR_RLIMITS] = {
	[RLIMIT_CPU] = "Max cpu time", [RLIMIT_FSIZE] = "Max file size",
	[RLIMIT_DATA] = "Max data size", [RLIMIT_STACK] = "Max stack size",
	[RLIMIT_CORE] = "Max core file size", [RLIMIT_RSS] = "Max resident set",
	[RLIMIT_NPROC] = "Max processes", [RLIMIT_NOFILE] = "Max open files",
	[RLIMIT_MEMLOCK] = "Max locked memory", [RLIMIT_AS] = "Max address space",
	[RLIMIT_LOCKS] = "Max file locks", [RLIMIT_SIGPENDING] = "Max pending signals",
	[RLIMIT_MSGQUEUE] = "Max msgqueue size", [RLIMIT_NICE] = "Max nice priority",
	[RLIMIT_RTPRIO] = "Max realtime priority", [RLIMIT_RTTIME] = "Max realtime timeout",
};

static int limit_value(const char **p, rlim_t *out)
{
	char *end;
	while (**p == ' ')
		(*p)++;
	if (!strncmp(*p, "unlimited", 9)) {
		*out = RLIM_INFINITY;
		*p += 9;
		return 0;
	}
	*out = strtoull(*p, &end, 10);
	if (end == *p)
		return -1;
	*p = end;
	return 0;
}

int proc_parse_limits(const char *text, struct rlimit lim[NR_RLIMITS])
{
	int found = 0;
	for (int i = 0; i < NR_RLIMITS; i++) {
		const char *p = strstr(text, limit_names[i]);
		if (!p || strnlen(p, 26) < 26)
			return -1;
		/* The name column is 26 characters wide. */
		p += 26;
		if (limit_value(&p, &lim[i].rlim_cur) < 0 || limit_value(&p, &lim[i].rlim_max) < 0)
			return -1;
		found++;
	}
	return found == NR_RLIMITS ? 0 : -1;
}

static char *read_proc(pid_t pid, const char *name)
{
	char path[64];
	char *s;
	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	s = read_file(path, NULL);
	if (!s)
		fail_errno("cannot read %s", path);
	return s;
}

int proc_stat(pid_t pid, struct proc_stat *st)
{
	char *s = read_proc(pid, "stat");
	int ret;
	if (!s)
		return -1;
	ret = proc_parse_stat(s, st);
	free(s);
	return ret < 0 ? fail("cannot parse /proc/%d/stat", pid) : 0;
}

int proc_status(pid_t pid, struct proc_status *st)
{
	char *s = read_proc(pid, "status");
	int ret;
	if (!s)
		return -1;
	ret = proc_parse_status(s, st);
	free(s);
	return ret < 0 ? fail("cannot parse /proc/%d/status", pid) : 0;
}

int proc_vmas(pid_t pid, struct proc_vma **vmas, int *n)
{
	char *s = read_proc(pid, "smaps");
	int ret;
	if (!s)
		return -1;
	ret = proc_parse_smaps(s, vmas, n);
	free(s);
	return ret < 0 ? fail("cannot parse /proc/%d/smaps", pid) : 0;
}

int proc_limits(pid_t pid, struct rlimit lim[NR_RLIMITS])
{
	char *s = read_proc(pid, "limits");
	int ret;
	if (!s)
		return -1;
	ret = proc_parse_limits(s, lim);
	free(s);
	return ret < 0 ? fail("cannot parse /proc/%d/limits", pid) : 0;
}

char *proc_link(pid_t pid, const char *name)
{
	char path[96], buf[4096];
	ssize_t n;
	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n < 0) {
		fail_errno("cannot read link %s", path);
		return NULL;
	}
	buf[n] = 0;
	return xstrdup(buf);
}

static int cmp_pid(const void *a, const void *b)
{
	return *(const pid_t *)a - *(const pid_t *)b;
}

int proc_tids(pid_t pid, pid_t **tids, int *n)
{
	char path[64];
	struct dirent *de;
	int cap = 8, cnt = 0;
	DIR *d;
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return fail_errno("cannot list %s", path);
	*tids = xmalloc(cap * sizeof(pid_t));
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (cnt == cap)
			*tids = xrealloc(*tids, (cap *= 2) * sizeof(pid_t));
		(*tids)[cnt++] = atoi(de->d_name);
	}
	closedir(d);
	qsort(*tids, cnt, sizeof(pid_t), cmp_pid);
	*n = cnt;
	return 0;
}

int proc_children(pid_t pid, pid_t **kids, int *n)
{
	pid_t *tids;
	int nt, cap = 8, cnt = 0;
	if (proc_tids(pid, &tids, &nt) < 0)
		return -1;
	*kids = xmalloc(cap * sizeof(pid_t));
	for (int i = 0; i < nt; i++) {
		char path[96], *s, *p;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, tids[i]);
		s = read_file(path, NULL);
		if (!s)
			continue;
		for (p = s; *p;) {
			char *end;
			long k = strtol(p, &end, 10);
			if (end == p)
				break;
			if (cnt == cap)
				*kids = xrealloc(*kids, (cap *= 2) * sizeof(pid_t));
			(*kids)[cnt++] = k;
			p = end;
		}
		free(s);
	}
	free(tids);
	*n = cnt;
	return 0;
}

const char *proc_describe(pid_t pid)
{
	static char buf[128];
	struct proc_stat st;
	char path[64], *s;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	s = read_file(path, NULL);
	if (!s || proc_parse_stat(s, &st) < 0) {
		free(s);
		snprintf(buf, sizeof(buf), "pid %d", pid);
		return buf;
	}
	free(s);
	snprintf(buf, sizeof(buf), "pid %d \"%s\" (state %c, parent %d)", pid, st.comm, st.state, st.ppid);
	return buf;
}
