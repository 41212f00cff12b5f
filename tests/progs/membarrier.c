/* membarrier - membarrier registrations of the process.
 * Covers: after REGISTER_PRIVATE_EXPEDITED and REGISTER_GLOBAL_EXPEDITED,
 * the restored process can still issue PRIVATE_EXPEDITED and
 * GLOBAL_EXPEDITED barriers (unregistered they fail with EPERM), a command
 * it never registered (PRIVATE_EXPEDITED_SYNC_CORE) still fails with
 * EPERM, and MEMBARRIER_CMD_GET_REGISTRATIONS (Linux 6.3) reports the same
 * set as before. */
#include "common.h"
#include <linux/membarrier.h>

#define GET_REGISTRATIONS (1 << 9)

static long mb(int cmd)
{
	return syscall(SYS_membarrier, cmd, 0, 0);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	long avail = mb(MEMBARRIER_CMD_QUERY);
	T_SETUP(avail > 0 && (avail & MEMBARRIER_CMD_PRIVATE_EXPEDITED) && (avail & MEMBARRIER_CMD_GLOBAL_EXPEDITED));
	T_SETUP(mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED) < 0 && errno == EPERM);
	T_SETUP(mb(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0);
	T_SETUP(mb(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0);
	T_SETUP(mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0);
	long regs = mb(GET_REGISTRATIONS);
	T_SETUP(regs > 0);

	t_ready();
	t_wait_go();

	errno = 0;
	long r = mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
	T_CHECK(r == 0, "PRIVATE_EXPEDITED barrier: %ld (%s)", r, strerror(errno));
	errno = 0;
	r = mb(MEMBARRIER_CMD_GLOBAL_EXPEDITED);
	T_CHECK(r == 0, "GLOBAL_EXPEDITED barrier: %ld (%s)", r, strerror(errno));
	errno = 0;
	r = mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE);
	T_CHECK(r < 0 && errno == EPERM, "unregistered SYNC_CORE barrier: %ld (%s), expected EPERM", r,
		strerror(errno));
	T_EQ("registrations", mb(GET_REGISTRATIONS), regs);
	t_finish();
}
