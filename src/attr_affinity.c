/*
 * CPU affinity of each thread (sched_getaffinity/sched_setaffinity from
 * ferry, on the thread id).
 *
 * A thread allowed on every CPU its host had online is recorded as "all"
 * and gets every CPU of the restore host, so an unbound program moves to a
 * host with fewer CPUs.  A bound thread keeps exactly its CPUs: the restore
 * refuses, before creating anything, if one of them is not online there,
 * and checks after setting it that no cpuset narrowed it.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "log.h"
#include "pattrs.h"
#include "pstate.h"
#include "util.h"

struct affinity {
	int all;
	cpu_set_t set;
};

/* The CPUs online here, from /sys (a list like "0-3,6"). */
static int parse_list(const char *s, cpu_set_t *set)
{
	CPU_ZERO(set);
	while (*s && *s != '\n') {
		char *end;
		long a = strtol(s, &end, 10), b = a;
		if (end == s || a < 0)
			return -1;
		if (*end == '-') {
			s = end + 1;
			b = strtol(s, &end, 10);
			if (end == s || b < a)
				return -1;
		}
		if (b >= CPU_SETSIZE)
			return -1;
		for (long c = a; c <= b; c++)
			CPU_SET(c, set);
		s = end;
		if (*s == ',')
			s++;
		else if (*s && *s != '\n')
			return -1;
	}
	return 0;
}

static int online(cpu_set_t *set)
{
	char *s = read_file("/sys/devices/system/cpu/online", NULL);
	int r;
	if (!s)
		return fail_errno("cannot read /sys/devices/system/cpu/online");
	r = parse_list(s, set);
	free(s);
	return r < 0 ? fail("cannot parse /sys/devices/system/cpu/online") : 0;
}

static void format_list(const cpu_set_t *set, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = 0;
	for (int c = 0; c < CPU_SETSIZE; c++) {
		int e = c;
		if (!CPU_ISSET(c, set))
			continue;
		while (e + 1 < CPU_SETSIZE && CPU_ISSET(e + 1, set))
			e++;
		if (o < len)
			o += snprintf(buf + o, len - o, e > c ? "%s%d-%d" : "%s%d", o ? "," : "", c, e);
		c = e;
	}
}

static int dump(const struct proc_state *ps, pid_t tid, struct rsys *rs, void *st)
{
	struct affinity *a = st;
	cpu_set_t on, both;
	(void)ps;
	(void)rs;
	if (sched_getaffinity(tid, sizeof(a->set), &a->set) < 0)
		return fail_errno("cannot read the CPU affinity of tid %d", tid);
	if (online(&on) < 0)
		return -1;
	CPU_AND(&both, &on, &a->set);
	a->all = CPU_EQUAL(&both, &on);
	return 0;
}

static json_t *encode(const void *st)
{
	const struct affinity *a = st;
	char buf[4096];
	if (a->all)
		return json_string("all");
	format_list(&a->set, buf, sizeof(buf));
	return json_string(buf);
}

static int decode(json_t *j, void *st)
{
	struct affinity *a = st;
	if (!json_is_string(j))
		return fail("image %s is corrupt: affinity is not a string", jctx);
	a->all = !strcmp(json_string_value(j), "all");
	if (!a->all && (parse_list(json_string_value(j), &a->set) < 0 || !CPU_COUNT(&a->set)))
		return fail("image %s is corrupt: bad affinity '%s'", jctx, json_string_value(j));
	return 0;
}

static int validate(const struct proc_state *ps, pid_t tid, const void *st)
{
	const struct affinity *a = st;
	cpu_set_t on, both;
	char want[4096], have[4096];
	if (a->all)
		return 0;
	if (online(&on) < 0)
		return -1;
	CPU_AND(&both, &on, &a->set);
	if (CPU_EQUAL(&both, &a->set))
		return 0;
	format_list(&a->set, want, sizeof(want));
	format_list(&on, have, sizeof(have));
	return fail("pid %d: tid %d is bound to CPUs %s, but only CPUs %s are online here", ps->pid, tid, want, have);
}

static int restore(const struct proc_state *ps, pid_t tid, struct rsys *rs, const void *st)
{
	const struct affinity *a = st;
	cpu_set_t want = a->set, got;
	char w[4096], g[4096];
	(void)rs;
	if (a->all && online(&want) < 0)
		return -1;
	if (sched_setaffinity(tid, sizeof(want), &want) < 0)
		return fail_errno("pid %d: cannot bind tid %d to its CPUs", ps->pid, tid);
	if (a->all)
		return 0;
	if (sched_getaffinity(tid, sizeof(got), &got) < 0)
		return fail_errno("cannot read the CPU affinity of tid %d", tid);
	if (CPU_EQUAL(&got, &want))
		return 0;
	format_list(&want, w, sizeof(w));
	format_list(&got, g, sizeof(g));
	return fail("pid %d: tid %d should run on CPUs %s, but its cpuset here allows only %s", ps->pid, tid, w, g);
}

const struct pattr attr_affinity = {
	.key = "affinity",
	.per_thread = 1,
	.size = sizeof(struct affinity),
	.dump = dump,
	.encode = encode,
	.decode = decode,
	.validate = validate,
	.phase = PATTR_BEFORE_CREDS,
	.restore = restore,
};
