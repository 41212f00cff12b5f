/* proc_attrs - per-process (and per-thread credential) attributes.
 * Covers, checked from inside after restore: oom_score_adj 345 (and
 * /proc/self/oom_adj agreeing), audit loginuid 4321, the child-subreaper
 * flag, no_new_privs, dumpable 0, securebits KEEP_CAPS | NO_SETUID_FIXUP |
 * NOROOT | NO_CAP_AMBIENT_RAISE (per thread: a second thread has
 * NOROOT only), and ambient capabilities CAP_NET_BIND_SERVICE and
 * CAP_SYS_NICE (with those in the inheritable set).
 * Runs as root; the loginuid needs CAP_AUDIT_CONTROL. */
#include "common.h"
#include <linux/capability.h>
#include <linux/securebits.h>
#include <pthread.h>
#include <sys/prctl.h>

#define SB_MAIN (SECBIT_KEEP_CAPS | SECBIT_NO_SETUID_FIXUP | SECBIT_NOROOT | SECBIT_NO_CAP_AMBIENT_RAISE)
#define SB_THREAD SECBIT_NOROOT

static volatile int go, thread_ready, thread_sb = -1;

static void *worker(void *arg)
{
	(void)arg;
	/* raw prctl: this thread only */
	if (prctl(PR_SET_SECUREBITS, SB_THREAD, 0, 0, 0) < 0)
		thread_ready = -1;
	else
		thread_ready = 1;
	while (!go)
		t_sleep_ms(5);
	thread_sb = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
	return NULL;
}

static int read_int(const char *path)
{
	char buf[64];
	if (t_read_file(path, buf, sizeof buf) <= 0)
		return -99999;
	return (int)strtol(buf, NULL, 10);
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = write(fd, s, strlen(s)) == (ssize_t)strlen(s) ? 0 : -1;
	close(fd);
	return r;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_SETUP(write_str("/proc/self/oom_score_adj", "345") == 0);
	T_SETUP(write_str("/proc/self/loginuid", "4321") == 0);
	T_SETUP(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0);
	T_SETUP(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);

	/* ambient: the capabilities must be permitted and inheritable */
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	T_SETUP(syscall(SYS_capget, &hdr, data) == 0);
	data[0].inheritable |= 1u << CAP_NET_BIND_SERVICE | 1u << CAP_SYS_NICE;
	T_SETUP(syscall(SYS_capset, &hdr, data) == 0);
	T_SETUP(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0) == 0);
	T_SETUP(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SYS_NICE, 0, 0) == 0);

	pthread_t th;
	T_SETUP(pthread_create(&th, NULL, worker, NULL) == 0);
	while (!thread_ready)
		t_sleep_ms(5);
	T_SETUP(thread_ready > 0);
	T_SETUP(prctl(PR_SET_SECUREBITS, SB_MAIN, 0, 0, 0) == 0);
	T_SETUP(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0);
	char amb_before[64], inh_before[64];
	T_SETUP(t_status_field("CapAmb", amb_before, sizeof amb_before) == 0);
	T_SETUP(t_status_field("CapInh", inh_before, sizeof inh_before) == 0);

	t_ready();
	t_wait_go();

	go = 1;
	T_SETUP(pthread_join(th, NULL) == 0);
	T_EQ("oom_score_adj", read_int("/proc/self/oom_score_adj"), 345);
	T_EQ("oom_adj (345 * 17 / 1000)", read_int("/proc/self/oom_adj"), 345 * 17 / 1000);
	T_EQ("loginuid", read_int("/proc/self/loginuid"), 4321);
	int sub = -1;
	T_CHECK(prctl(PR_GET_CHILD_SUBREAPER, &sub, 0, 0, 0) == 0 && sub == 1, "child subreaper %d, expected 1", sub);
	T_EQ("no_new_privs", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 1);
	T_EQ("dumpable", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
	T_EQ("securebits (main thread)", prctl(PR_GET_SECUREBITS, 0, 0, 0, 0), SB_MAIN);
	T_EQ("securebits (second thread)", thread_sb, SB_THREAD);
	T_EQ("ambient CAP_NET_BIND_SERVICE", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_BIND_SERVICE, 0, 0), 1);
	T_EQ("ambient CAP_SYS_NICE", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_SYS_NICE, 0, 0), 1);
	T_EQ("ambient CAP_SYS_ADMIN", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_SYS_ADMIN, 0, 0), 0);
	char amb[64], inh[64];
	T_SETUP(t_status_field("CapAmb", amb, sizeof amb) == 0);
	T_SETUP(t_status_field("CapInh", inh, sizeof inh) == 0);
	T_STREQ("CapAmb", amb, amb_before);
	T_STREQ("CapInh", inh, inh_before);
	t_finish();
}
