/* shm_share - two processes that share memory three ways: a
 * MAP_SHARED|MAP_ANONYMOUS mapping and a memfd mapping, both made before
 * fork, and a SysV segment attached before fork (removed with IPC_RMID at
 * once, so a failed run leaves nothing behind).
 * A restore that gives each process its own copy of an object keeps every
 * byte written before the dump, so only writes made after the restore can
 * tell "one object" from "two copies".  The child blocks in read() on a pipe
 * from the parent across the dump.
 * Covers: after restore, for each object, a value the parent writes is seen
 * by the child, and a value the child writes in reply is seen by the parent
 * (ordered by pipe messages, no waiting on time); the data written before
 * the dump is intact in both.  The runner also checks that the image stores
 * each object once (shared.json) and both processes map those same objects. */
#include "common.h"
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>

#define NOBJ 3
static const char *const names[NOBJ] = { "MAP_SHARED|MAP_ANONYMOUS", "memfd", "SysV segment" };
#define PTOK(i) (0x5041524e00000000ULL | (uint64_t)(i)) /* parent's post-restore value */
#define CTOK(i) (0x4348494c00000000ULL | (uint64_t)(i)) /* child's reply */
#define SEED 777

/* slot 0: parent -> child, slot 1: child -> parent, bytes 4096..8191: pattern */
static volatile uint64_t *obj[NOBJ];

static int child(int rd, int wr)
{
	char c;
	uint8_t seen = 0;
	if (read(rd, &c, 1) != 1) /* blocks across the dump */
		return 10;
	for (int i = 0; i < NOBJ; i++) {
		if (obj[i][0] == PTOK(i))
			seen |= 1 << i;
		obj[i][1] = CTOK(i);
		if (t_verify((const uint8_t *)obj[i] + 4096, 4096, SEED + i) >= 0)
			seen |= 0x10 << i; /* pre-dump data damaged */
	}
	if (write(wr, &seen, 1) != 1)
		return 11;
	return 0;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	int p2c[2], c2p[2], mfd, sid;
	T_SETUP(pipe(p2c) == 0 && pipe(c2p) == 0);
	obj[0] = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	T_SETUP(obj[0] != MAP_FAILED);
	T_SETUP((mfd = memfd_create("ferry-shm-share", 0)) >= 0);
	T_SETUP(ftruncate(mfd, 8192) == 0);
	obj[1] = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	T_SETUP(obj[1] != MAP_FAILED);
	T_SETUP(close(mfd) == 0); /* held by the mappings only */
	T_SETUP((sid = shmget(IPC_PRIVATE, 8192, IPC_CREAT | 0600)) >= 0);
	obj[2] = shmat(sid, NULL, 0);
	T_SETUP(obj[2] != (void *)-1);
	T_SETUP(shmctl(sid, IPC_RMID, NULL) == 0);
	for (int i = 0; i < NOBJ; i++) {
		obj[i][0] = obj[i][1] = 0;
		t_fill((uint8_t *)obj[i] + 4096, 4096, SEED + i);
	}

	pid_t c = fork();
	T_SETUP(c >= 0);
	if (c == 0) {
		close(p2c[1]);
		close(c2p[0]);
		_exit(child(p2c[0], c2p[1]));
	}
	close(p2c[0]);
	close(c2p[1]);
	t_ready();
	t_wait_go();

	for (int i = 0; i < NOBJ; i++)
		obj[i][0] = PTOK(i);
	uint8_t seen = 0;
	T_SETUP(write(p2c[1], "x", 1) == 1);
	T_CHECK(read(c2p[0], &seen, 1) == 1, "no reply from the child");
	int st;
	T_SETUP(waitpid(c, &st, 0) == c);
	T_EQ("child exit status", st, 0);
	for (int i = 0; i < NOBJ; i++) {
		T_CHECK(seen & (1 << i), "%s: the parent's write after restore did not reach the child", names[i]);
		T_CHECK(obj[i][1] == CTOK(i), "%s: the child's write after restore did not reach the parent (%#llx)",
			names[i], (unsigned long long)obj[i][1]);
		T_CHECK(!(seen & (0x10 << i)), "%s: data written before the dump damaged in the child", names[i]);
		long bad = t_verify((const uint8_t *)obj[i] + 4096, 4096, SEED + i);
		T_CHECK(bad < 0, "%s: data written before the dump differs at %ld in the parent", names[i], bad);
	}
	t_finish();
}
