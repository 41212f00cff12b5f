/* thread_creds - a multi-threaded process that runs as an ordinary user.
 * Credentials belong to each thread in the kernel (glibc's setuid makes
 * every thread change them), so a restore that sets them on the main thread
 * only leaves the other threads with ferry's root credentials.
 * Setup: as root, makes WORKDIR writable for anyone, takes supplementary
 * groups {7, 8}, gid 1001 and uid 1000 (real, effective, saved), which
 * drops every capability; then starts 3 threads that wait for go.
 * Covers: after restore, each thread (main and the 3 others) asks the
 * kernel for its own real/effective/saved uid and gid, fsuid/fsgid,
 * supplementary groups and capability sets (all empty).
 * With argv[2] "mixed": nothing is dropped, but thread 1 alone changes its
 * uids to 1000 with the raw syscall, as file servers do per request (which
 * empties its permitted and effective capability sets); after restore
 * thread 1 finds uid 1000 and no capabilities, every other thread uid 0
 * and the capabilities it had. */
#include "common.h"
#include <grp.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sys/fsuid.h>
#include <sys/stat.h>

#define NT 4

struct seen {
	uid_t uid[3], fsuid;
	gid_t gid[3], fsgid;
	int ngroups;
	gid_t groups[8];
	uint32_t eff, prm, inh;
	int capget_ok;
};

static struct seen seen[NT], before;

/* What the calling thread's credentials are, straight from the kernel
 * (each of these calls answers for the calling thread only). */
static void look(struct seen *s)
{
	getresuid(&s->uid[0], &s->uid[1], &s->uid[2]);
	getresgid(&s->gid[0], &s->gid[1], &s->gid[2]);
	s->fsuid = setfsuid(-1);
	s->fsgid = setfsgid(-1);
	s->ngroups = getgroups(8, s->groups);
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	s->capget_ok = syscall(SYS_capget, &hdr, data) == 0;
	s->eff = data[0].effective | data[1].effective;
	s->prm = data[0].permitted | data[1].permitted;
	s->inh = data[0].inheritable | data[1].inheritable;
}

static volatile int mixed, switched;

static void *worker(void *arg)
{
	if (mixed && arg == &seen[1]) {
		/* this thread only (glibc's setresuid would change them all) */
		T_SETUP(syscall(SYS_setresuid, 1000, 1000, 1000) == 0);
		switched = 1;
	}
	t_wait_go();
	look(arg);
	return NULL;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	static const gid_t groups[] = { 7, 8 };
	mixed = argc > 2 && !strcmp(argv[2], "mixed");
	if (!mixed) {
		T_SETUP(chmod(t_workdir, 0777) == 0);
		T_SETUP(setgroups(2, groups) == 0);
		T_SETUP(setresgid(1001, 1001, 1001) == 0);
		T_SETUP(setresuid(1000, 1000, 1000) == 0);
	}

	pthread_t th[NT];
	for (int i = 1; i < NT; i++)
		T_SETUP(pthread_create(&th[i], NULL, worker, &seen[i]) == 0);
	while (mixed && !switched)
		t_sleep_ms(1);
	look(&before);
	t_ready();
	t_wait_go();
	look(&seen[0]);
	for (int i = 1; i < NT; i++)
		T_SETUP(pthread_join(th[i], NULL) == 0);

	for (int i = 0; mixed && i < NT; i++) {
		uid_t want = i == 1 ? 1000 : 0;
		T_CHECK(seen[i].uid[0] == want && seen[i].uid[1] == want && seen[i].uid[2] == want,
			"thread %d: uids %u/%u/%u, expected %u", i, seen[i].uid[0], seen[i].uid[1], seen[i].uid[2], want);
		if (i == 1)
			T_CHECK(seen[i].capget_ok && !seen[i].eff && !seen[i].prm,
				"thread 1: capabilities eff %#x prm %#x, expected none", seen[i].eff, seen[i].prm);
		else
			T_CHECK(seen[i].capget_ok && seen[i].prm && seen[i].eff == before.eff && seen[i].prm == before.prm,
				"thread %d: capabilities eff %#x prm %#x, expected %#x %#x", i, seen[i].eff, seen[i].prm,
				before.eff, before.prm);
	}
	for (int i = 0; !mixed && i < NT; i++) {
		const struct seen *s = &seen[i];
		T_CHECK(s->uid[0] == 1000 && s->uid[1] == 1000 && s->uid[2] == 1000 && s->fsuid == 1000,
			"thread %d: uids %u/%u/%u fs %u, expected 1000", i, s->uid[0], s->uid[1], s->uid[2], s->fsuid);
		T_CHECK(s->gid[0] == 1001 && s->gid[1] == 1001 && s->gid[2] == 1001 && s->fsgid == 1001,
			"thread %d: gids %u/%u/%u fs %u, expected 1001", i, s->gid[0], s->gid[1], s->gid[2], s->fsgid);
		T_CHECK(s->ngroups == 2 && s->groups[0] == 7 && s->groups[1] == 8,
			"thread %d: %d supplementary groups (first %u), expected {7, 8}", i, s->ngroups,
			s->ngroups > 0 ? s->groups[0] : 0);
		T_CHECK(s->capget_ok && !s->eff && !s->prm && !s->inh,
			"thread %d: capabilities eff %#x prm %#x inh %#x, expected none", i, s->eff, s->prm, s->inh);
	}
	t_finish();
}
