/* mem_flags - mapping flags and memory attributes after restore.
 * Covers, each on its own mapping (guard gaps keep them apart): the
 * madvise flags MADV_DONTFORK, MADV_DONTDUMP, MADV_WIPEONFORK,
 * MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_MERGEABLE; MAP_DROPPABLE (6.11+);
 * MAP_GROWSDOWN; mlock, mlock2(MLOCK_ONFAULT) and MAP_LOCKED; mseal (a
 * sealed mapping stays sealed: mprotect fails with EPERM); the whole
 * VmFlags line of each mapping in /proc/self/smaps is compared with the one
 * before the dump, and so is its content and its "Locked:" size.  Process
 * wide: PR_SET_THP_DISABLE (prctl and "THP_enabled:" in /proc/self/status)
 * mlockall(MCL_FUTURE | MCL_ONFAULT) (a mapping made after the restore
 * comes out locked on fault) and PR_SET_MEMORY_MERGE (every mapping, and
 * one made after the restore, mergeable).  /dev/zero mapped MAP_SHARED stays shared
 * memory: a child forked after the restore writes, the parent sees it;
 * /dev/zero mapped MAP_PRIVATE stays private. */
#include "common.h"
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif
#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif

#define NPG 8
#define PG 4096UL
#define LEN (NPG * PG)

struct region {
	const char *what;
	uint8_t *p;
	size_t len;
	int fill;		/* pattern expected */
	char vmflags[256];
	char locked[64];
};

static struct region R[32];
static int nr;

/* The smaps entry starting at p: its VmFlags and Locked lines. */
static int smaps_of(void *p, char *vmflags, size_t vcap, char *locked, size_t lcap)
{
	static char buf[1 << 21];
	char head[32];
	int in = 0, found = 0;
	if (t_read_file("/proc/self/smaps", buf, sizeof buf) < 0)
		return -1;
	snprintf(head, sizeof head, "%lx-", (unsigned long)p);
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		size_t n = strcspn(l, "\n");
		if (!strncmp(l, head, strlen(head))) {
			in = 1;
			found = 1;
			continue;
		}
		if (!in)
			continue;
		if (!strncmp(l, "Locked:", 7))
			snprintf(locked, lcap, "%.*s", (int)n, l);
		if (!strncmp(l, "VmFlags:", 8)) {
			snprintf(vmflags, vcap, "%.*s", (int)n, l);
			break;
		}
	}
	return found ? 0 : -1;
}

static uint8_t *map_at_gap(size_t len, int prot, int flags, int fd)
{
	/* reserve len + 2 guard pages, then map inside, so no neighbour merges */
	uint8_t *g = mmap(NULL, len + 2 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	T_SETUP(g != MAP_FAILED);
	uint8_t *p = mmap(g + PG, len, prot, flags | MAP_FIXED, fd, 0);
	T_SETUP(p == g + PG);
	return p;
}

static struct region *add(const char *what, uint8_t *p, size_t len, int fill)
{
	struct region *r = &R[nr++];
	r->what = what;
	r->p = p;
	r->len = len;
	r->fill = fill;
	if (fill)
		t_fill(p, len, nr);
	return r;
}

static void snap(struct region *r)
{
	T_SETUP(smaps_of(r->p, r->vmflags, sizeof r->vmflags, r->locked, sizeof r->locked) == 0);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *what;
		int advice;
		const char *flag;
	} adv[] = {
		{ "MADV_DONTFORK", MADV_DONTFORK, "dc" }, { "MADV_DONTDUMP", MADV_DONTDUMP, "dd" },
		{ "MADV_WIPEONFORK", MADV_WIPEONFORK, "wf" }, { "MADV_HUGEPAGE", MADV_HUGEPAGE, "hg" },
		{ "MADV_NOHUGEPAGE", MADV_NOHUGEPAGE, "nh" }, { "MADV_MERGEABLE", MADV_MERGEABLE, "mg" },
	};
	t_init(argc, argv);

	for (size_t i = 0; i < sizeof adv / sizeof adv[0]; i++) {
		uint8_t *p = map_at_gap(LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
		T_SETUP(madvise(p, LEN, adv[i].advice) == 0);
		add(adv[i].what, p, LEN, 1);
	}
	{
		uint8_t *p = map_at_gap(LEN, PROT_READ | PROT_WRITE, MAP_DROPPABLE | MAP_ANONYMOUS, -1);
		/* droppable pages may be dropped under pressure: only the flag is checked */
		add("MAP_DROPPABLE", p, LEN, 0);
	}
	{
		uint8_t *p = map_at_gap(LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN, -1);
		add("MAP_GROWSDOWN", p, LEN, 1);
	}
	{
		uint8_t *p = map_at_gap(LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
		add("mlock", p, LEN, 1);
		T_SETUP(mlock(p, LEN) == 0);
	}
	{
		uint8_t *p = map_at_gap(LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
		T_SETUP(syscall(SYS_mlock2, p, LEN, MLOCK_ONFAULT) == 0);
		/* half of it faulted in: locked on fault means the rest stays out */
		t_fill(p, LEN / 2, 99);
		add("mlock2 MLOCK_ONFAULT", p, LEN, 0);
	}
	{
		uint8_t *p = map_at_gap(LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1);
		add("MAP_LOCKED", p, LEN, 1);
	}
	struct region *sealed;
	{
		uint8_t *p = map_at_gap(LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
		sealed = add("mseal", p, LEN, 1);
		T_SETUP(syscall(462 /* mseal */, p, LEN, 0) == 0);
	}
	int zfd = open("/dev/zero", O_RDWR | O_CLOEXEC);
	T_SETUP(zfd >= 0);
	struct region *zs = add("/dev/zero MAP_SHARED",
				map_at_gap(LEN, PROT_READ | PROT_WRITE, MAP_SHARED, zfd), LEN, 1);
	struct region *zp = add("/dev/zero MAP_PRIVATE",
				map_at_gap(LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE, zfd), LEN, 1);
	close(zfd);

	T_SETUP(prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0);
	T_SETUP(mlockall(MCL_FUTURE | MCL_ONFAULT) == 0);
	T_SETUP(prctl(67 /* PR_SET_MEMORY_MERGE */, 1, 0, 0, 0) == 0);
	{
		/* what a mapping made now looks like: the reference for after */
		uint8_t *p = map_at_gap(LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
		p[0] = 1;
		add("after mlockall(MCL_FUTURE|MCL_ONFAULT)", p, LEN, 0);
	}
	for (int i = 0; i < nr; i++)
		snap(&R[i]);
	for (int i = 0; i < nr; i++)
		if (!strcmp(R[i].what, "MAP_DROPPABLE") && !strstr(R[i].vmflags, " dp"))
			t_note("note: this kernel shows no dp flag for MAP_DROPPABLE: %s", R[i].vmflags);
	char thp0[64] = "";
	t_status_field("THP_enabled", thp0, sizeof thp0);
	T_SETUP(!strcmp(thp0, "0"));

	t_ready();
	t_wait_go();

	for (int i = 0; i < nr; i++) {
		struct region *r = &R[i];
		char vf[256] = "", lk[64] = "";
		long bad;
		T_CHECK(smaps_of(r->p, vf, sizeof vf, lk, sizeof lk) == 0, "%s: no mapping at %p", r->what, (void *)r->p);
		T_STREQ(r->what, vf, r->vmflags);
		T_STREQ(r->what, lk, r->locked);
		if (r->fill && (bad = t_verify(r->p, r->len, i + 1)) >= 0)
			T_CHECK(0, "%s: content differs at offset %ld", r->what, bad);
	}
	{
		struct region *r = &R[nr - 1];
		char vf[256] = "", lk[64] = "";
		uint8_t *p = map_at_gap(LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
		p[0] = 1;
		T_CHECK(smaps_of(p, vf, sizeof vf, lk, sizeof lk) == 0, "new mapping not in smaps");
		T_STREQ("a mapping made after the restore (mlockall MCL_FUTURE)", vf, r->vmflags);
		T_STREQ("a mapping made after the restore (mlockall MCL_FUTURE), Locked", lk, r->locked);
	}
	errno = 0;
	T_CHECK(mprotect(sealed->p, LEN, PROT_READ) < 0 && errno == EPERM, "mprotect of a sealed mapping: %s",
		strerror(errno));
	{
		char thp[64] = "";
		T_EQ("prctl(PR_GET_THP_DISABLE)", prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0), 1);
		T_EQ("prctl(PR_GET_MEMORY_MERGE)", prctl(68 /* PR_GET_MEMORY_MERGE */, 0, 0, 0, 0), 1);
		t_status_field("THP_enabled", thp, sizeof thp);
		T_STREQ("THP_enabled in /proc/self/status", thp, "0");
	}
	{
		/* shared stays shared, private stays private */
		pid_t c = fork();
		int st;
		T_CHECK(c >= 0, "fork: %s", strerror(errno));
		if (c == 0) {
			zs->p[5] = 0xa5;
			zp->p[5] = 0xa5;
			_exit(0);
		}
		T_CHECK(waitpid(c, &st, 0) == c && WIFEXITED(st) && !WEXITSTATUS(st), "child failed");
		T_EQ("/dev/zero MAP_SHARED byte written by a child", zs->p[5], 0xa5);
		T_CHECK(zp->p[5] != 0xa5, "/dev/zero MAP_PRIVATE changed by a child");
	}
	t_finish();
}
