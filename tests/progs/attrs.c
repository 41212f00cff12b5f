/* attrs - process attributes.
 * Run as: attrs WORKDIR alpha "two words" ""   with FERRY_TEST_ENV=hello-attrs
 * Covers: cwd (WORKDIR/sub, relative open works), root, umask 027, all 16
 * rlimits (NOFILE 200/4096, CORE 0, STACK soft lowered), comm "ferry-attrs"
 * (prctl and /proc/self/comm), personality (ADDR_COMPAT_LAYOUT |
 * ADDR_NO_RANDOMIZE added), sid == pgid == pid, /proc/self/cmdline equal to
 * argv (incl. a space and an empty argument), /proc/self/environ and the env
 * var, getauxval(AT_PAGESZ/AT_PHDR/AT_ENTRY/AT_RANDOM...) and the kernel's
 * /proc/self/auxv byte-exact, /proc/self/exe, no_new_privs, dumpable,
 * securebits, uid/gid (resgid 4/0/0) and supplementary groups {5,6},
 * capability sets, and /proc/self/stat start_code, end_code, start_stack,
 * start_data, end_data, start_brk, arg_start, arg_end, env_start, env_end. */
#include "common.h"
#include <grp.h>
#include <sys/auxv.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#define NRL 16

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_SETUP(argc == 5 && strcmp(argv[2], "alpha") == 0 && strcmp(argv[3], "two words") == 0 && argv[4][0] == 0);
	T_SETUP(getenv("FERRY_TEST_ENV") && strcmp(getenv("FERRY_TEST_ENV"), "hello-attrs") == 0);

	char sub[PATH_MAX];
	snprintf(sub, sizeof sub, "%s/sub", t_workdir);
	T_SETUP(mkdir(sub, 0755) == 0);
	T_SETUP(chdir(sub) == 0);
	T_SETUP(t_write_file("rel.txt", "relative-content", 16) == 0);
	char cwd_before[PATH_MAX];
	T_SETUP(getcwd(cwd_before, sizeof cwd_before));

	umask(027);

	struct rlimit rl;
	T_SETUP(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	rl.rlim_cur = 200;
	rl.rlim_max = 4096;
	T_SETUP(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	T_SETUP(getrlimit(RLIMIT_CORE, &rl) == 0);
	rl.rlim_cur = 0;
	T_SETUP(setrlimit(RLIMIT_CORE, &rl) == 0);
	T_SETUP(getrlimit(RLIMIT_STACK, &rl) == 0);
	rl.rlim_cur = 6 << 20;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < rl.rlim_cur)
		rl.rlim_cur = rl.rlim_max;
	T_SETUP(setrlimit(RLIMIT_STACK, &rl) == 0);
	T_SETUP(getrlimit(RLIMIT_MSGQUEUE, &rl) == 0);
	rl.rlim_cur = 12345;
	T_SETUP(setrlimit(RLIMIT_MSGQUEUE, &rl) == 0);
	struct rlimit rl_before[NRL];
	for (int i = 0; i < NRL; i++)
		T_SETUP(getrlimit(i, &rl_before[i]) == 0);

	T_SETUP(prctl(PR_SET_NAME, "ferry-attrs", 0, 0, 0) == 0);
	int pers = personality(0xffffffff);
	T_SETUP(pers != -1);
	T_SETUP(personality(pers | ADDR_COMPAT_LAYOUT | ADDR_NO_RANDOMIZE) != -1);
	int pers_before = personality(0xffffffff);
	T_SETUP(pers_before == (pers | ADDR_COMPAT_LAYOUT | ADDR_NO_RANDOMIZE));

	T_SETUP(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
	int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	int secbits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);

	const gid_t groups[2] = { 5, 6 };
	T_SETUP(setgroups(2, groups) == 0);
	T_SETUP(setresgid(4, 0, 0) == 0);
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	T_SETUP(getresuid(&ru, &eu, &su) == 0 && getresgid(&rg, &eg, &sg) == 0);

	static char cmdline_before[8192], environ_before[65536], auxv_before[4096];
	ssize_t cmdline_len = t_read_file("/proc/self/cmdline", cmdline_before, sizeof cmdline_before);
	ssize_t environ_len = t_read_file("/proc/self/environ", environ_before, sizeof environ_before);
	ssize_t auxv_len = t_read_file("/proc/self/auxv", auxv_before, sizeof auxv_before);
	T_SETUP(cmdline_len > 0 && environ_len > 0 && auxv_len > 0);
	char exe_before[PATH_MAX] = { 0 };
	T_SETUP(readlink("/proc/self/exe", exe_before, sizeof exe_before - 1) > 0);

	static const unsigned long auxkeys[] = { AT_PAGESZ, AT_PHDR, AT_PHENT, AT_PHNUM, AT_ENTRY, AT_BASE,
						  AT_RANDOM, AT_EXECFN, AT_SYSINFO_EHDR, AT_HWCAP, AT_CLKTCK, AT_UID };
	const int nauxk = sizeof auxkeys / sizeof auxkeys[0];
	unsigned long aux_before[32];
	for (int i = 0; i < nauxk; i++)
		aux_before[i] = getauxval(auxkeys[i]);

	static const int statf[] = { 26, 27, 28, 45, 46, 47, 48, 49, 50, 51 };
	static const char *const statn[] = { "start_code", "end_code", "start_stack", "start_data", "end_data",
					     "start_brk", "arg_start", "arg_end", "env_start", "env_end" };
	unsigned long long stat_before[10];
	for (int i = 0; i < 10; i++)
		stat_before[i] = t_stat_field(statf[i]);

	static const char *const capkeys[] = { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs",
					       "Umask", "Groups" };
	char caps_before[8][128];
	for (int i = 0; i < 8; i++)
		T_SETUP(t_status_field(capkeys[i], caps_before[i], 128) == 0);
	T_SETUP(strcmp(caps_before[6], "0027") == 0);

	t_ready();
	t_wait_go();

	/* --- verify ------------------------------------------------------- */
	char buf[PATH_MAX];
	T_CHECK(getcwd(buf, sizeof buf) && strcmp(buf, cwd_before) == 0, "cwd '%s', expected '%s'", buf, cwd_before);
	ssize_t n = readlink("/proc/self/cwd", buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = 0;
	T_STREQ("/proc/self/cwd", buf, cwd_before);
	n = readlink("/proc/self/root", buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = 0;
	T_STREQ("/proc/self/root", buf, "/");
	n = t_read_file("rel.txt", buf, sizeof buf);
	T_CHECK(n == 16 && memcmp(buf, "relative-content", 16) == 0, "relative open of rel.txt in cwd failed");

	mode_t um = umask(0);
	umask(um);
	T_EQ("umask", um, 027);

	for (int i = 0; i < NRL; i++) {
		struct rlimit r;
		T_CHECK(getrlimit(i, &r) == 0, "getrlimit(%d)", i);
		T_CHECK(r.rlim_cur == rl_before[i].rlim_cur && r.rlim_max == rl_before[i].rlim_max,
			"rlimit %d: %llu/%llu, expected %llu/%llu", i, (unsigned long long)r.rlim_cur,
			(unsigned long long)r.rlim_max, (unsigned long long)rl_before[i].rlim_cur,
			(unsigned long long)rl_before[i].rlim_max);
	}

	char comm[32] = { 0 };
	prctl(PR_GET_NAME, comm, 0, 0, 0);
	T_STREQ("comm (PR_GET_NAME)", comm, "ferry-attrs");
	t_read_file("/proc/self/comm", buf, sizeof buf);
	T_STREQ("/proc/self/comm", buf, "ferry-attrs\n");

	T_EQ("personality", personality(0xffffffff), pers_before);
	T_EQ("getsid(0)", getsid(0), getpid());
	T_EQ("getpgrp()", getpgrp(), getpid());

	static char tmp[65536];
	n = t_read_file("/proc/self/cmdline", tmp, sizeof tmp);
	T_CHECK(n == cmdline_len && memcmp(tmp, cmdline_before, n) == 0, "/proc/self/cmdline differs (%zd vs %zd bytes)",
		n, cmdline_len);
	/* and it is argv */
	size_t off = 0;
	int argv_ok = 1;
	for (int i = 0; i < argc; i++) {
		size_t l = strlen(argv[i]) + 1;
		if (off + l > (size_t)n || memcmp(tmp + off, argv[i], l) != 0)
			argv_ok = 0;
		off += l;
	}
	T_CHECK(argv_ok && off == (size_t)n, "/proc/self/cmdline does not match argv");
	T_CHECK(argc == 5 && strcmp(argv[3], "two words") == 0 && argv[4][0] == 0, "argv corrupted");
	n = t_read_file("/proc/self/environ", tmp, sizeof tmp);
	T_CHECK(n == environ_len && memcmp(tmp, environ_before, n) == 0, "/proc/self/environ differs");
	T_CHECK(memmem(tmp, n > 0 ? n : 0, "FERRY_TEST_ENV=hello-attrs", 27) != NULL,
		"FERRY_TEST_ENV missing from /proc/self/environ");
	T_STREQ("getenv(FERRY_TEST_ENV)", getenv("FERRY_TEST_ENV"), "hello-attrs");
	n = t_read_file("/proc/self/auxv", tmp, sizeof tmp);
	T_CHECK(n == auxv_len && memcmp(tmp, auxv_before, n) == 0, "/proc/self/auxv differs (%zd vs %zd bytes)", n,
		auxv_len);
	for (int i = 0; i < nauxk; i++)
		T_CHECK(getauxval(auxkeys[i]) == aux_before[i], "getauxval(%lu) = %#lx, expected %#lx", auxkeys[i],
			getauxval(auxkeys[i]), aux_before[i]);
	T_EQ("AT_PAGESZ", getauxval(AT_PAGESZ), 4096);
	n = readlink("/proc/self/exe", buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = 0;
	T_STREQ("/proc/self/exe", buf, exe_before);

	T_EQ("no_new_privs", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 1);
	T_EQ("dumpable", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), dumpable);
	T_EQ("securebits", prctl(PR_GET_SECUREBITS, 0, 0, 0, 0), secbits);

	uid_t ru2, eu2, su2;
	gid_t rg2, eg2, sg2;
	getresuid(&ru2, &eu2, &su2);
	getresgid(&rg2, &eg2, &sg2);
	T_CHECK(ru2 == ru && eu2 == eu && su2 == su, "uids %u/%u/%u, expected %u/%u/%u", ru2, eu2, su2, ru, eu, su);
	T_CHECK(rg2 == 4 && eg2 == 0 && sg2 == 0, "gids %u/%u/%u, expected 4/0/0", rg2, eg2, sg2);
	gid_t g[16];
	int ng = getgroups(16, g);
	T_CHECK(ng == 2 && g[0] == 5 && g[1] == 6, "supplementary groups: %d of them (%d %d), expected {5,6}", ng,
		ng > 0 ? (int)g[0] : -1, ng > 1 ? (int)g[1] : -1);
	for (int i = 0; i < 8; i++) {
		char v[128];
		T_CHECK(t_status_field(capkeys[i], v, sizeof v) == 0 && strcmp(v, caps_before[i]) == 0,
			"/proc/self/status %s: '%s', expected '%s'", capkeys[i], v, caps_before[i]);
	}
	for (int i = 0; i < 10; i++)
		T_CHECK(t_stat_field(statf[i]) == stat_before[i], "/proc/self/stat %s (field %d): %#llx, expected %#llx",
			statn[i], statf[i], t_stat_field(statf[i]), stat_before[i]);
	t_finish();
}
