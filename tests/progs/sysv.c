/* sysv - SysV shared memory: a private segment shared by the process and
 * its child (attaches are inherited across fork), a keyed segment attached
 * read-only, and a segment already removed (IPC_RMID) but still attached.
 * Covers: contents, ids, keys and attach addresses kept; the child's writes
 * still reach the parent after restore (one segment, not two copies); the
 * read-only attach stays read-only; the removed segment stays removed. */
#include "common.h"
#include <setjmp.h>
#include <signal.h>
#include <sys/shm.h>
#include <sys/wait.h>

static sigjmp_buf jb;
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
		pa[1] = 42;
		_exit(0);
	}
	t_sleep_ms(100);
	void *at_a = (void *)pa, *at_k = (void *)pk;
	t_ready();
	t_wait_go();
	int st;
	T_SETUP(waitpid(c, &st, 0) == c);
	T_EQ("child exit", st, 0);
	T_CHECK(pa[0] > 10, "the child's counter %llu did not reach the parent", (unsigned long long)pa[0]);
	T_EQ("the child's last write", pa[1], 42);
	T_EQ("segment data", pa[100], 0xabcdef);
	T_CHECK(!strcmp((char *)pk, "keyed-segment"), "keyed segment holds \"%s\"", pk);
	T_CHECK(!strcmp((char *)pr, "removed-but-attached"), "removed segment holds \"%s\"", pr);
	struct shmid_ds ds;
	T_CHECK(shmctl(k, IPC_STAT, &ds) == 0 && ds.shm_perm.__key == key && (ds.shm_perm.mode & 0777) == 0640,
		"keyed segment %d: key 0x%x mode %o", k, ds.shm_perm.__key, ds.shm_perm.mode & 0777);
	T_EQ("keyed segment found by key", shmget(key, 0, 0), k);
	T_CHECK(shmctl(r, IPC_STAT, &ds) < 0 || (ds.shm_perm.mode & SHM_DEST), "the removed segment is back");
	T_EQ("attach address of the private segment", (uintptr_t)shmat(a, at_a, SHM_REMAP) == (uintptr_t)at_a, 1);
	(void)at_k;
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
