/* sysv - SysV shared memory: a private segment shared by the process and
 * its child (attaches are inherited across fork), a keyed segment attached
 * read-only, and a segment already removed (IPC_RMID) but still attached.
 * Covers: contents, ids, keys kept; each attach at its address, of its
 * segment (the /proc/self/maps line at that address has the segment id as
 * inode, its size and protections); after restore a value the parent writes
 * reaches the child, whose reply reaches the parent (one segment, not two
 * copies); the read-only attach stays read-only; the removed segment stays
 * removed. */
#include "common.h"
#include <setjmp.h>
#include <signal.h>
#include <sys/shm.h>
#include <sys/wait.h>

#define TOKEN 0x70617265ULL

static sigjmp_buf jb;

/* the /proc/self/maps line starting at `at` is SysV segment `id` (its
 * inode), `len` bytes, with protections `perms` */
static void check_attach(const char *what, const volatile void *at, int id, size_t len, const char *perms)
{
	static char buf[1 << 20];
	int found = 0;
	T_SETUP(t_read_file("/proc/self/maps", buf, sizeof buf) > 0);
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		unsigned long s, e, off, ino;
		char p[8], dev[16];
		if (sscanf(l, "%lx-%lx %7s %lx %15s %lu", &s, &e, p, &off, dev, &ino) != 6 || s != (uintptr_t)at)
			continue;
		found = 1;
		T_CHECK(ino == (unsigned long)id && e - s == len && !strcmp(p, perms),
			"%s at %p: maps has inode %lu, %lu bytes, %s; expected segment %d, %zu bytes, %s", what, at,
			ino, e - s, p, id, len, perms);
	}
	T_CHECK(found, "%s: nothing mapped at its address %p", what, at);
}
static void on_segv(int s)
{
	(void)s;
	siglongjmp(jb, 1);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	int a, k, r;
	key_t key = 0x5a000000 | (getpid() & 0xffff);
	volatile uint64_t *pa;
	volatile char *pk, *pr;
	/* a run that failed leaves its segments behind: one with our key that
	 * nobody has attached is such a leftover */
	struct shmid_ds stale;
	int old = shmget(key, 0, 0);
	if (old >= 0 && shmctl(old, IPC_STAT, &stale) == 0 && stale.shm_nattch == 0)
		shmctl(old, IPC_RMID, NULL);
	T_SETUP((a = shmget(IPC_PRIVATE, 65536, IPC_CREAT | 0600)) >= 0);
	T_SETUP((k = shmget(key, 8192, IPC_CREAT | IPC_EXCL | 0640)) >= 0);
	T_SETUP((r = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600)) >= 0);
	T_SETUP((pa = shmat(a, NULL, 0)) != (void *)-1);
	T_SETUP((pk = shmat(k, NULL, 0)) != (void *)-1);
	strcpy((char *)pk, "keyed-segment");
	T_SETUP(shmdt((void *)pk) == 0);
	T_SETUP((pk = shmat(k, NULL, SHM_RDONLY)) != (void *)-1);
	T_SETUP((pr = shmat(r, NULL, 0)) != (void *)-1);
	strcpy((char *)pr, "removed-but-attached");
	T_SETUP(shmctl(r, IPC_RMID, NULL) == 0);
	pa[0] = 0;
	pa[100] = 0xabcdef;
	pid_t c = fork();
	if (c == 0) {
		while (!t_go_exists()) {
			pa[0]++;
			t_sleep_ms(1);
		}
		/* after restore: the parent's value, then a reply */
		for (int i = 0; pa[2] != TOKEN && i < 30000; i++)
			t_sleep_ms(1);
		pa[1] = pa[2] + 1;
		_exit(0);
	}
	t_sleep_ms(100);
	static void *at_a, *at_k, *at_r; /* static: not clobbered by the longjmp below */
	at_a = (void *)pa, at_k = (void *)pk, at_r = (void *)pr;
	t_ready();
	t_wait_go();
	pa[2] = TOKEN;
	int st;
	T_SETUP(waitpid(c, &st, 0) == c);
	T_EQ("child exit", st, 0);
	T_EQ("the child's reply to a value written after restore", pa[1], TOKEN + 1);
	T_EQ("segment data", pa[100], 0xabcdef);
	T_CHECK(!strcmp((char *)pk, "keyed-segment"), "keyed segment holds \"%s\"", pk);
	T_CHECK(!strcmp((char *)pr, "removed-but-attached"), "removed segment holds \"%s\"", pr);
	struct shmid_ds ds;
	T_CHECK(shmctl(k, IPC_STAT, &ds) == 0 && ds.shm_perm.__key == key && (ds.shm_perm.mode & 0777) == 0640,
		"keyed segment %d: key 0x%x mode %o", k, ds.shm_perm.__key, ds.shm_perm.mode & 0777);
	T_EQ("keyed segment found by key", shmget(key, 0, 0), k);
	T_CHECK(shmctl(r, IPC_STAT, &ds) < 0 || (ds.shm_perm.mode & SHM_DEST), "the removed segment is back");
	check_attach("private segment", at_a, a, 65536, "rw-s");
	check_attach("keyed segment (read-only)", at_k, k, 8192, "r--s");
	check_attach("removed segment", at_r, r, 4096, "rw-s");
	/* read-only stays read-only */
	struct sigaction sa = { .sa_handler = on_segv };
	sigaction(SIGSEGV, &sa, NULL);
	int faulted = 0;
	if (sigsetjmp(jb, 1) == 0)
		pk[0] = 'X';
	else
		faulted = 1;
	T_CHECK(faulted, "writing the read-only attach did not fault");
	shmctl(a, IPC_RMID, NULL);
	shmctl(k, IPC_RMID, NULL);
	t_finish();
}
