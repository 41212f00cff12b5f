/* caps - a multi-threaded process, run as uid 1000, whose five capability
 * sets all differ from root's (and ferry's) and from each other, so a
 * restore that leaves any of them as ferry set it up is caught.
 * Setup, as root: drops CAP_SYS_BOOT and CAP_MKNOD from the bounding set,
 * (of those it was given) keeps capabilities across setresuid(1000, 1000, 1000) (PR_SET_KEEPCAPS,
 * cleared again afterwards), then capset
 *   permitted   = CHOWN DAC_OVERRIDE KILL NET_BIND_SERVICE
 *   effective   = CHOWN KILL NET_BIND_SERVICE
 *   inheritable = CHOWN NET_BIND_SERVICE
 * and raises NET_BIND_SERVICE in the ambient set; then starts 3 threads
 * (which inherit all of it) that wait for go.
 * Covers: after restore, every thread (main and the 3 others) reads its own
 * uids, effective/permitted/inheritable sets (capget on itself), bounding
 * set (PR_CAPBSET_READ for every capability up to cap_last_cap), ambient set
 * (PR_CAP_AMBIENT_IS_SET) and keep-caps flag; and the main thread uses
 * CAP_CHOWN (effective) to give a file to uid 4242, which a uid-1000
 * process without it cannot do. */
#include "common.h"
#include <linux/capability.h>
#include <pthread.h>
#include <sys/prctl.h>

#define NT 4
#define BIT(c) (1ULL << (c))

static const uint64_t want_prm = BIT(CAP_CHOWN) | BIT(CAP_DAC_OVERRIDE) | BIT(CAP_KILL) | BIT(CAP_NET_BIND_SERVICE);
static const uint64_t want_eff = BIT(CAP_CHOWN) | BIT(CAP_KILL) | BIT(CAP_NET_BIND_SERVICE);
static const uint64_t want_inh = BIT(CAP_CHOWN) | BIT(CAP_NET_BIND_SERVICE);
static const uint64_t want_amb = BIT(CAP_NET_BIND_SERVICE);
static const uint64_t dropped_bnd = BIT(CAP_SYS_BOOT) | BIT(CAP_MKNOD);
static uint64_t want_bnd;
static int last_cap;

struct seen {
	uid_t uid[3];
	uint64_t eff, prm, inh, bnd, amb;
	int capget_ok, keepcaps;
};

static struct seen seen[NT];

/* The calling thread's sets, straight from the kernel (each call answers
 * for the calling thread only). */
static void look(struct seen *s)
{
	getresuid(&s->uid[0], &s->uid[1], &s->uid[2]);
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	s->capget_ok = syscall(SYS_capget, &hdr, d) == 0;
	s->eff = d[0].effective | (uint64_t)d[1].effective << 32;
	s->prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	s->inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
	s->bnd = s->amb = 0;
	for (int c = 0; c <= last_cap; c++) {
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1)
			s->bnd |= BIT(c);
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) == 1)
			s->amb |= BIT(c);
	}
	s->keepcaps = prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0);
}

static void *worker(void *arg)
{
	t_wait_go();
	look(arg);
	return NULL;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	char buf[32];
	T_SETUP(t_read_file("/proc/sys/kernel/cap_last_cap", buf, sizeof buf) > 0);
	last_cap = atoi(buf);
	T_SETUP(last_cap >= CAP_MKNOD && last_cap < 64);
	look(&seen[0]); /* the bounding set we were given (a container may lack some) */
	want_bnd = seen[0].bnd & ~dropped_bnd;
	T_SETUP((seen[0].bnd & dropped_bnd) == dropped_bnd);

	T_SETUP(chmod(t_workdir, 0777) == 0);
	T_SETUP(t_write_file(t_path("owned"), "x", 1) == 0);
	T_SETUP(prctl(PR_CAPBSET_DROP, CAP_SYS_BOOT, 0, 0, 0) == 0);
	T_SETUP(prctl(PR_CAPBSET_DROP, CAP_MKNOD, 0, 0, 0) == 0);
	T_SETUP(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == 0);
	T_SETUP(setresuid(1000, 1000, 1000) == 0);
	T_SETUP(prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) == 0);
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = {
		{ (uint32_t)want_eff, (uint32_t)want_prm, (uint32_t)want_inh },
		{ (uint32_t)(want_eff >> 32), (uint32_t)(want_prm >> 32), (uint32_t)(want_inh >> 32) },
	};
	T_SETUP(syscall(SYS_capset, &hdr, d) == 0);
	T_SETUP(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0) == 0);
	look(&seen[0]);
	T_SETUP(seen[0].prm == want_prm && seen[0].eff == want_eff && seen[0].inh == want_inh &&
		seen[0].amb == want_amb && seen[0].bnd == want_bnd);

	pthread_t th[NT];
	for (int i = 1; i < NT; i++)
		T_SETUP(pthread_create(&th[i], NULL, worker, &seen[i]) == 0);
	t_ready();
	t_wait_go();
	look(&seen[0]);
	for (int i = 1; i < NT; i++)
		T_SETUP(pthread_join(th[i], NULL) == 0);

	for (int i = 0; i < NT; i++) {
		const struct seen *s = &seen[i];
		T_CHECK(s->uid[0] == 1000 && s->uid[1] == 1000 && s->uid[2] == 1000,
			"thread %d: uids %u/%u/%u, expected 1000", i, s->uid[0], s->uid[1], s->uid[2]);
		T_CHECK(s->capget_ok, "thread %d: capget failed", i);
		T_CHECK(s->eff == want_eff, "thread %d: effective %#llx, expected %#llx", i,
			(unsigned long long)s->eff, (unsigned long long)want_eff);
		T_CHECK(s->prm == want_prm, "thread %d: permitted %#llx, expected %#llx", i,
			(unsigned long long)s->prm, (unsigned long long)want_prm);
		T_CHECK(s->inh == want_inh, "thread %d: inheritable %#llx, expected %#llx", i,
			(unsigned long long)s->inh, (unsigned long long)want_inh);
		T_CHECK(s->bnd == want_bnd, "thread %d: bounding %#llx, expected %#llx", i,
			(unsigned long long)s->bnd, (unsigned long long)want_bnd);
		T_CHECK(s->amb == want_amb, "thread %d: ambient %#llx, expected %#llx", i,
			(unsigned long long)s->amb, (unsigned long long)want_amb);
		T_EQ("keep-caps flag", s->keepcaps, 0);
	}
	/* the effective set is used, not only reported */
	T_CHECK(chown(t_path("owned"), 4242, -1) == 0, "chown to uid 4242 with CAP_CHOWN: %s", strerror(errno));
	t_finish();
}
