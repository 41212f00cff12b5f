/* cgroup - cgroup v2 membership.
 * Run as: cgroup WORKDIR CGROUP_DIR   (a cgroup v2 directory, made by the runner)
 * Setup: moves itself into CGROUP_DIR, then starts a thread and forks a
 * child (both follow it there).
 * Covers, after restore: the process (/proc/self/cgroup), its thread
 * (/proc/thread-self/cgroup) and its child (/proc/CHILD/cgroup) are in the
 * same cgroup v2 as before, and CGROUP_DIR/cgroup.procs lists the process
 * and the child. */
#include "common.h"
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

static volatile int go;
static char thread_cg[512];

static void v2_line(const char *file, char *out, size_t len)
{
	char buf[4096], *p;
	out[0] = 0;
	if (t_read_file(file, buf, sizeof buf) <= 0)
		return;
	for (p = strtok(buf, "\n"); p; p = strtok(NULL, "\n"))
		if (!strncmp(p, "0::", 3))
			snprintf(out, len, "%s", p + 3);
}

static void *worker(void *arg)
{
	while (!go)
		t_sleep_ms(5);
	v2_line("/proc/thread-self/cgroup", thread_cg, sizeof thread_cg);
	return arg;
}

static int listed(const char *procs, pid_t pid)
{
	char buf[65536];
	if (t_read_file(procs, buf, sizeof buf) < 0)
		return 0;
	for (char *p = strtok(buf, "\n"); p; p = strtok(NULL, "\n"))
		if (atoi(p) == pid)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_SETUP(argc == 3);
	char procs[PATH_MAX], before[512], now[512], path[64];
	snprintf(procs, sizeof procs, "%s/cgroup.procs", argv[2]);
	T_SETUP(t_write_file(procs, "0", 1) == 0);
	v2_line("/proc/self/cgroup", before, sizeof before);
	T_SETUP(before[0] == '/' && strlen(before) > 1);
	pthread_t th;
	T_SETUP(pthread_create(&th, NULL, worker, NULL) == 0);
	pid_t kid = fork();
	T_SETUP(kid >= 0);
	if (kid == 0) {
		for (;;)
			t_sleep_ms(10);
	}

	t_ready();
	t_wait_go();

	go = 1;
	T_SETUP(pthread_join(th, NULL) == 0);
	v2_line("/proc/self/cgroup", now, sizeof now);
	T_STREQ("cgroup of the process", now, before);
	T_STREQ("cgroup of its thread", thread_cg, before);
	snprintf(path, sizeof path, "/proc/%d/cgroup", kid);
	v2_line(path, now, sizeof now);
	T_STREQ("cgroup of its child", now, before);
	T_CHECK(listed(procs, getpid()) && listed(procs, kid), "%s does not list pid %d and child %d", procs, getpid(), kid);
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	t_finish();
}
