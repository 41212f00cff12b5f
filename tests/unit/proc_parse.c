/*
 * Unit tests for the /proc text parsers (core/proc.c): stat, status, smaps,
 * limits and proc_field, on fixed real-looking text, plus malformed inputs
 * that must be refused without crashing.  Every malformed input is placed
 * right before an unmapped page, so a read past its terminating NUL crashes
 * (in a forked child, recorded as a failure) instead of passing by luck.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "log.h"
#include "proc.h"
#include "unit.h"

/* ---- strings that end right before a PROT_NONE page ---- */

struct guarded {
	void *map;
	size_t len;
	char *s;
};

static char *guard(struct guarded *g, const char *text)
{
	size_t n = strlen(text) + 1, pg = sysconf(_SC_PAGESIZE);
	size_t data = (n + pg - 1) / pg * pg;
	g->len = data + pg;
	g->map = mmap(NULL, g->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g->map == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	mprotect((char *)g->map + data, pg, PROT_NONE);
	g->s = (char *)g->map + data - n;
	memcpy(g->s, text, n);
	return g->s;
}

static void unguard(struct guarded *g)
{
	munmap(g->map, g->len);
}

/* Compares ignoring trailing blanks (smaps ends VmFlags with a space). */
static int same_words(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	while (la && a[la - 1] == ' ')
		la--;
	while (lb && b[lb - 1] == ' ')
		lb--;
	return la == lb && !memcmp(a, b, la);
}

/* ---- stat ---- */

/* Fields 4..52 with a distinct value where ferry reads one. */
#define STAT_TAIL                                                                                        \
	" S 4100 4200 4300 34816 4200 4194560 1503 0 12 0 37 9 0 0 20 0 3 0 678901 12345678 2345 "      \
	"18446744073709551615 94251234500608 94251234567890 140737488346864 0 0 0 0 4096 16386 0 0 0 " \
	"17 5 0 0 0 0 0 94251234600000 94251234611111 94251260000000 140737488350001 140737488350100 " \
	"140737488350100 140737488354000 2304\n"

static void test_stat(void)
{
	struct proc_stat st;
	struct guarded g;
	char *s;

	s = guard(&g, "4242 (my (weird) prog)" STAT_TAIL);
	CHECK(proc_parse_stat(s, &st) == 0);
	CHECK_STR(st.comm, "my (weird) prog");
	CHECK(st.state == 'S');
	CHECK(st.ppid == 4100);
	CHECK(st.pgrp == 4200);
	CHECK(st.sid == 4300);
	CHECK(st.num_threads == 3);
	CHECK_U64(st.start_code, 94251234500608ULL);
	CHECK_U64(st.end_code, 94251234567890ULL);
	CHECK_U64(st.start_stack, 140737488346864ULL);
	CHECK_U64(st.start_data, 94251234600000ULL);
	CHECK_U64(st.end_data, 94251234611111ULL);
	CHECK_U64(st.start_brk, 94251260000000ULL);
	CHECK_U64(st.arg_start, 140737488350001ULL);
	CHECK_U64(st.arg_end, 140737488350100ULL);
	CHECK_U64(st.env_start, 140737488350100ULL);
	CHECK_U64(st.env_end, 140737488354000ULL);
	CHECK(st.exit_signal == 17);
	CHECK(st.exit_code == 2304);
	unguard(&g);

	/* A comm that is just ")" and one with spaces only; a zombie state. */
	s = guard(&g, "7 ()) Z 1 7 7 0 -1 4227140 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0 18446744073709551615 0 0 0 0 0 "
		      "0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 256\n");
	CHECK(proc_parse_stat(s, &st) == 0);
	CHECK_STR(st.comm, ")");
	CHECK(st.state == 'Z');
	CHECK(st.ppid == 1);
	CHECK(st.exit_code == 256);
	unguard(&g);
	/* Kernels before 3.5 end at env_end (field 51): no exit_code. */
	s = guard(&g, "7 (z) Z 1 7 7 0 -1 4227140 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0 18446744073709551615 0 0 0 0 0 "
		      "0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0\n");
	CHECK(proc_parse_stat(s, &st) == 0);
	CHECK(st.exit_code == 0 && st.exit_signal == 17);
	unguard(&g);

	{
		char buf[1024];
		/* STAT_TAIL with " S 4100 4200 4300" replaced. */
		snprintf(buf, sizeof(buf), "9 (a b  c) R 2 9 9%s", STAT_TAIL + 17);
		s = guard(&g, buf);
	}
	CHECK(proc_parse_stat(s, &st) == 0);
	CHECK(st.ppid == 2 && st.pgrp == 9 && st.sid == 9 && st.num_threads == 3);
	CHECK_STR(st.comm, "a b  c");
	CHECK(st.state == 'R');
	unguard(&g);

	/* The real stat of this process parses and names it. */
	{
		FILE *f = fopen("/proc/self/stat", "r");
		char buf[2048] = "";
		if (f) {
			if (!fgets(buf, sizeof(buf), f))
				buf[0] = 0;
			fclose(f);
		}
		CHECK(proc_parse_stat(buf, &st) == 0);
		CHECK(st.ppid == getppid());
		CHECK(st.num_threads == 1);
		CHECK(st.state == 'R');
	}

	/* Malformed: must return -1 and must not read past the text. */
	{
		static const char *const bad[] = {
			"",
			"4242",
			"4242 (cat",
			"4242 cat) S 1",
			") 4242 (cat S 1 2 3",
			"4242 (cat)",	/* ends right after the comm */
			"4242 (cat) ",
			"4242 (cat) S",
			"4242 (cat) S 1 2 3 4 5",
			"4242 (cat) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 "
			"29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46",	/* 47 numbers: one short */
			"4242 (cat) S 1 2 3 x 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 "
			"29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49",	/* a non-number */
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			s = guard(&g, bad[i]);
			unit_ctx = bad[i];
			if (!CRASHES(proc_parse_stat(s, &st)))
				CHECK(proc_parse_stat(s, &st) == -1);
			unit_ctx = NULL;
			unguard(&g);
		}
	}
}

/* ---- status ---- */

static const char status_text[] =
	"Name:\tmy (weird) prog\n"
	"Umask:\t0027\n"
	"State:\tS (sleeping)\n"
	"Tgid:\t4242\n"
	"Ngid:\t0\n"
	"Pid:\t4242\n"
	"PPid:\t4100\n"
	"TracerPid:\t0\n"
	"Uid:\t1000\t1001\t1002\t1003\n"
	"Gid:\t100\t101\t102\t103\n"
	"FDSize:\t64\n"
	"Groups:\t4 24 27 30 46 100 65534 \n"
	"NStgid:\t4242\n"
	"NSpid:\t4242\n"
	"NSpgid:\t4200\n"
	"NSsid:\t4300\n"
	"Kthread:\t0\n"
	"VmPeak:\t    5512 kB\n"
	"VmSize:\t    5480 kB\n"
	"Threads:\t3\n"
	"SigQ:\t0/96551\n"
	"SigPnd:\t0000000000000000\n"
	"ShdPnd:\t0000000000000000\n"
	"SigBlk:\t0000000000010000\n"
	"SigIgn:\t0000000000001000\n"
	"SigCgt:\t0000000180004002\n"
	"CapInh:\t0000000000000000\n"
	"CapPrm:\t000001ffffffffff\n"
	"CapEff:\t0000000000003000\n"
	"CapBnd:\t000001ffffffffff\n"
	"CapAmb:\t0000000000000400\n"
	"NoNewPrivs:\t1\n"
	"Seccomp:\t2\n"
	"Seccomp_filters:\t1\n"
	"Speculation_Store_Bypass:\tthread vulnerable\n"
	"Cpus_allowed:\tff\n"
	"Mems_allowed_list:\t0\n"
	"voluntary_ctxt_switches:\t15\n"
	"nonvoluntary_ctxt_switches:\t1\n";

static void test_status(void)
{
	static const gid_t groups[] = { 4, 24, 27, 30, 46, 100, 65534 };
	struct proc_status st;
	struct guarded g;
	char *s;

	s = guard(&g, status_text);
	CHECK(proc_parse_status(s, &st) == 0);
	CHECK(st.tgid == 4242);
	CHECK(st.uid[0] == 1000 && st.uid[1] == 1001 && st.uid[2] == 1002 && st.uid[3] == 1003);
	CHECK(st.gid[0] == 100 && st.gid[1] == 101 && st.gid[2] == 102 && st.gid[3] == 103);
	CHECK(st.ngroups == 7);
	CHECK_MEM(st.groups, groups, sizeof(groups));
	CHECK_U64(st.cap_inh, 0);
	CHECK_U64(st.cap_prm, 0x1ffffffffffULL);
	CHECK_U64(st.cap_eff, 0x3000);
	CHECK_U64(st.cap_bnd, 0x1ffffffffffULL);
	CHECK_U64(st.cap_amb, 0x400);
	CHECK(st.no_new_privs == 1);
	CHECK(st.seccomp == 2);	/* not confused with Seccomp_filters */
	CHECK(st.umask == 027);
	CHECK(st.threads == 3);
	unguard(&g);

	/* No supplementary groups: the kernel prints "Groups:\t \n" (or "Groups:\t\n"). */
	s = guard(&g, "Tgid:\t1\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t \nNStgid:\t1\nThreads:\t1\n");
	CHECK(proc_parse_status(s, &st) == 0);
	CHECK(st.ngroups == 0);
	CHECK(st.threads == 1);
	unguard(&g);
	s = guard(&g, "Tgid:\t1\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\nNStgid:\t1\n");
	CHECK(proc_parse_status(s, &st) == 0);
	CHECK(st.ngroups == 0);
	unguard(&g);
	/* A last line without newline. */
	s = guard(&g, "Tgid:\t1\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t5 6");
	CHECK(proc_parse_status(s, &st) == 0);
	CHECK(st.ngroups == 2 && st.groups[0] == 5 && st.groups[1] == 6);
	unguard(&g);

	/* Real status of this process. */
	{
		FILE *f = fopen("/proc/self/status", "r");
		char buf[8192];
		size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
		buf[n] = 0;
		if (f)
			fclose(f);
		CHECK(proc_parse_status(buf, &st) == 0);
		CHECK(st.tgid == getpid());
		CHECK(st.uid[0] == getuid() && st.uid[1] == geteuid());
		CHECK(st.threads == 1);
	}

	{
		static const char *const bad[] = {
			"",
			"Name:\tx\n",
			"Tgid:\t1\n",	/* no Uid */
			"Tgid:\t1\nUid:\t0\t0\n",	/* truncated Uid */
			"Tgid:\t1\nUid:\t0\t0\t0\t0\n",	/* no Gid */
			"Tgid:\t1\nUid:\t0\t0\t0\t0\nGid:\tx\n",
			"Tgid:\t1\nUid:\t0\t0\t0\t0\nGid:",
			"Tgid:",
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			s = guard(&g, bad[i]);
			unit_ctx = bad[i];
			if (!CRASHES(proc_parse_status(s, &st)))
				CHECK(proc_parse_status(s, &st) == -1);
			unit_ctx = NULL;
			unguard(&g);
		}
	}
}

/* ---- smaps ---- */

#define SMAPS_BODY(rss)                                                                              \
	"Size:                  8 kB\nKernelPageSize:        4 kB\nMMUPageSize:           4 kB\n"  \
	"Rss:                   " rss " kB\nPss:                   4 kB\nShared_Clean:          0 kB\n" \
	"Private_Dirty:         4 kB\nAnonymous:             4 kB\nSwap:                  0 kB\n"   \
	"THPeligible:           0\nProtectionKey:         0\n"

static const char smaps_text[] =
	"55d0c0a00000-55d0c0a02000 r--p 00000000 fe:00 247498                     /opt/my app/bin/my prog\n"
	SMAPS_BODY("8")
	"VmFlags: rd mr mw me dw sd \n"
	"55d0c0a02000-55d0c0a08000 r-xp 00002000 fe:00 247498                     /opt/my app/bin/my prog\n"
	SMAPS_BODY("24")
	"VmFlags: rd ex mr mw me dw sd \n"
	"55d0c1f00000-55d0c1f21000 rw-p 00000000 00:00 0                          [heap]\n"
	SMAPS_BODY("132")
	"VmFlags: rd wr mr mw me ac sd \n"
	"7f2b26a00000-7f2b26c00000 rw-p 00000000 00:00 0 \n"
	SMAPS_BODY("0")
	"VmFlags: rd wr mr mw me ac sd hg dd \n"
	"7f2b26c00000-7f2b26c01000 rw-s 00003000 08:11 1234567890                 /tmp/gone data.bin (deleted)\n"
	SMAPS_BODY("4")
	"VmFlags: rd wr sh mr mw me ms sd \n"
	"7f2b26fe9000-7f2b26fed000 r--p 00000000 00:00 0                          [vvar]\n"
	SMAPS_BODY("0")
	"VmFlags: rd mr pf io de dd sd \n"
	"7f2b26fed000-7f2b26fef000 r--p 00000000 00:00 0                          [vvar_vclock]\n"
	SMAPS_BODY("0")
	"VmFlags: rd mr pf io de dd sd \n"
	"7f2b26fef000-7f2b26ff1000 r-xp 00000000 00:00 0                          [vdso]\n"
	SMAPS_BODY("4")
	"VmFlags: rd ex mr mw me de sd \n"
	"7ffcbce9e000-7ffcbcebf000 rw-p 00000000 00:00 0                          [stack]\n"
	SMAPS_BODY("16")
	"VmFlags: rd wr mr mw me gd ac \n"
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n"
	SMAPS_BODY("0")
	"VmFlags: ex \n";

static void test_smaps(void)
{
	struct proc_vma *v = NULL;
	struct guarded g;
	int n = -1;
	char *s;

	s = guard(&g, smaps_text);
	CHECK(proc_parse_smaps(s, &v, &n) == 0);
	CHECK(n == 10);
	if (n == 10) {
		CHECK_U64(v[0].start, 0x55d0c0a00000ULL);
		CHECK_U64(v[0].end, 0x55d0c0a02000ULL);
		CHECK_STR(v[0].perms, "r--p");
		CHECK_U64(v[0].pgoff, 0);
		CHECK(v[0].dev_major == 0xfe && v[0].dev_minor == 0);
		CHECK_U64(v[0].ino, 247498);
		CHECK_STR(v[0].path, "/opt/my app/bin/my prog");
		CHECK(same_words(v[0].vmflags, "rd mr mw me dw sd"));

		CHECK_STR(v[1].perms, "r-xp");
		CHECK_U64(v[1].pgoff, 0x2000);
		CHECK_STR(v[1].path, "/opt/my app/bin/my prog");
		CHECK(same_words(v[1].vmflags, "rd ex mr mw me dw sd"));

		CHECK_STR(v[2].path, "[heap]");
		CHECK_STR(v[2].perms, "rw-p");
		CHECK_U64(v[2].ino, 0);

		CHECK_STR(v[3].path, "");	/* anonymous */
		CHECK_U64(v[3].start, 0x7f2b26a00000ULL);
		CHECK_U64(v[3].end, 0x7f2b26c00000ULL);
		CHECK(same_words(v[3].vmflags, "rd wr mr mw me ac sd hg dd"));

		CHECK_STR(v[4].path, "/tmp/gone data.bin (deleted)");
		CHECK_STR(v[4].perms, "rw-s");
		CHECK_U64(v[4].pgoff, 0x3000);
		CHECK(v[4].dev_major == 8 && v[4].dev_minor == 0x11);
		CHECK_U64(v[4].ino, 1234567890);

		CHECK_STR(v[5].path, "[vvar]");
		CHECK_STR(v[6].path, "[vvar_vclock]");
		CHECK_U64(v[6].start, 0x7f2b26fed000ULL);
		CHECK_STR(v[7].path, "[vdso]");
		CHECK_STR(v[7].perms, "r-xp");
		CHECK_STR(v[8].path, "[stack]");
		CHECK(same_words(v[8].vmflags, "rd wr mr mw me gd ac"));
		CHECK_STR(v[9].path, "[vsyscall]");
		CHECK_U64(v[9].start, 0xffffffffff600000ULL);
		CHECK_U64(v[9].end, 0xffffffffff601000ULL);
		CHECK_STR(v[9].perms, "--xp");
		CHECK(same_words(v[9].vmflags, "ex"));
	}
	proc_free_vmas(v, n);
	unguard(&g);

	/* maps format (no smaps body): anonymous last line without newline. */
	s = guard(&g, "00400000-00401000 r-xp 00000000 fe:00 12 /bin/x\n"
		      "00401000-00402000 rw-p 00000000 00:00 0 ");
	v = NULL;
	n = -1;
	CHECK(proc_parse_smaps(s, &v, &n) == 0);
	CHECK(n == 2);
	if (n == 2) {
		CHECK_STR(v[0].path, "/bin/x");
		CHECK_STR(v[1].path, "");
		CHECK_STR(v[1].vmflags, "");
	}
	proc_free_vmas(v, n);
	unguard(&g);

	/* Many VMAs (the array grows past its first allocation). */
	{
		size_t cap = 300 * 64, len = 0;
		char *big = malloc(cap);
		for (int i = 0; i < 300; i++)
			len += snprintf(big + len, cap - len, "%x-%x rw-p 00000000 00:00 0 \nVmFlags: rd wr\n",
					0x10000 + i * 0x2000, 0x11000 + i * 0x2000);
		s = guard(&g, big);
		free(big);
		v = NULL;
		n = -1;
		CHECK(proc_parse_smaps(s, &v, &n) == 0);
		CHECK(n == 300);
		if (n == 300) {
			CHECK_U64(v[299].start, 0x10000 + 299 * 0x2000);
			CHECK_STR(v[299].vmflags, "rd wr");
		}
		proc_free_vmas(v, n);
		unguard(&g);
	}

	/* The real smaps of this process: has [stack] and [vdso]. */
	{
		FILE *f = fopen("/proc/self/smaps", "r");
		size_t cap = 1 << 20, len = 0, r;
		char *buf = malloc(cap);
		int stack = 0, vdso = 0;
		while (f && (r = fread(buf + len, 1, cap - 1 - len, f)) > 0)
			len += r;
		buf[len] = 0;
		if (f)
			fclose(f);
		v = NULL;
		n = -1;
		CHECK(proc_parse_smaps(buf, &v, &n) == 0);
		for (int i = 0; i < n; i++) {
			stack += !strcmp(v[i].path, "[stack]");
			vdso += !strcmp(v[i].path, "[vdso]");
			if (!unit_check(v[i].start < v[i].end && v[i].vmflags[0], __FILE__, __LINE__,
					"real smaps VMA %d sane", i))
				break;
		}
		CHECK(stack == 1 && vdso == 1);
		proc_free_vmas(v, n);
		free(buf);
	}

	/* Malformed headers. */
	{
		static const char *const bad[] = {
			"00400000-zzzz r-xp 00000000 fe:00 12 /bin/x\n",
			"00400000-00401000\n",
			"00400000-00401000 r-xp",
			"00400000-00401000 r-xp 00000000 fe:00\n",
			"00400000-00401000 r-xp 00000000 fe:00 12 /bin/x\nSize: 4 kB\n"
			"00401000- garbage here\n",
			"00400000-",
			"abc-",
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			s = guard(&g, bad[i]);
			unit_ctx = bad[i];
			if (!CRASHES(proc_parse_smaps(s, &v, &n)))
				CHECK(proc_parse_smaps(s, &v, &n) == -1);
			unit_ctx = NULL;
			unguard(&g);
		}
	}
	/* Body lines without any header, and a body cut mid-line: no crash. */
	{
		static const char *const odd[] = {
			"",
			"VmFlags: rd wr\n",
			"Size: 4 kB\nRss:",
			"00400000-00401000 r-xp 00000000 fe:00 12 /bin/x\nVmFlags:",
			"00400000-00401000 r-xp 00000000 fe:00 12 /bin/x\nVmFlags: rd ex rd ex rd ex rd ex rd ex "
			"rd ex rd ex rd ex rd ex rd ex rd ex rd ex rd ex rd ex rd ex rd ex rd ex rd ex rd ex rd ex "
			"rd ex rd ex rd ex rd ex rd ex rd ex rd ex rd ex rd ex rd ex\n",
		};
		for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
			s = guard(&g, odd[i]);
			unit_ctx = odd[i];
			if (!CRASHES(proc_parse_smaps(s, &v, &n))) {
				v = NULL;
				n = -1;
				CHECK(proc_parse_smaps(s, &v, &n) == 0);
				CHECK(n == (i >= 3));
				if (n == 1)
					CHECK(strlen(v[0].vmflags) < sizeof(v[0].vmflags));
				proc_free_vmas(v, n);
			}
			unit_ctx = NULL;
			unguard(&g);
		}
	}
}

/* ---- limits ---- */

static const char limits_text[] =
	"Limit                     Soft Limit           Hard Limit           Units     \n"
	"Max cpu time              unlimited            unlimited            seconds   \n"
	"Max file size             unlimited            unlimited            bytes     \n"
	"Max data size             unlimited            unlimited            bytes     \n"
	"Max stack size            8388608              unlimited            bytes     \n"
	"Max core file size        0                    unlimited            bytes     \n"
	"Max resident set          unlimited            unlimited            bytes     \n"
	"Max processes             96551                96552                processes \n"
	"Max open files            1024                 524288               files     \n"
	"Max locked memory         8388608              8388608              bytes     \n"
	"Max address space         unlimited            unlimited            bytes     \n"
	"Max file locks            unlimited            unlimited            locks     \n"
	"Max pending signals       96553                96554                signals   \n"
	"Max msgqueue size         819200               819201               bytes     \n"
	"Max nice priority         0                    20                   \n"
	"Max realtime priority     0                    99                   \n"
	"Max realtime timeout      200000               unlimited            us        \n";

static void test_limits(void)
{
	static const struct {
		int res;
		rlim_t cur, max;
	} want[] = {
		{ RLIMIT_CPU, RLIM_INFINITY, RLIM_INFINITY },
		{ RLIMIT_FSIZE, RLIM_INFINITY, RLIM_INFINITY },
		{ RLIMIT_DATA, RLIM_INFINITY, RLIM_INFINITY },
		{ RLIMIT_STACK, 8388608, RLIM_INFINITY },
		{ RLIMIT_CORE, 0, RLIM_INFINITY },
		{ RLIMIT_RSS, RLIM_INFINITY, RLIM_INFINITY },
		{ RLIMIT_NPROC, 96551, 96552 },
		{ RLIMIT_NOFILE, 1024, 524288 },
		{ RLIMIT_MEMLOCK, 8388608, 8388608 },
		{ RLIMIT_AS, RLIM_INFINITY, RLIM_INFINITY },
		{ RLIMIT_LOCKS, RLIM_INFINITY, RLIM_INFINITY },
		{ RLIMIT_SIGPENDING, 96553, 96554 },
		{ RLIMIT_MSGQUEUE, 819200, 819201 },
		{ RLIMIT_NICE, 0, 20 },
		{ RLIMIT_RTPRIO, 0, 99 },
		{ RLIMIT_RTTIME, 200000, RLIM_INFINITY },
	};
	struct rlimit lim[NR_RLIMITS];
	struct guarded g;
	char *s;

	memset(lim, 0xa5, sizeof(lim));
	s = guard(&g, limits_text);
	CHECK(proc_parse_limits(s, lim) == 0);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		unit_check(lim[want[i].res].rlim_cur == want[i].cur, __FILE__, __LINE__,
			   "rlimit %d cur %llu, want %llu", want[i].res,
			   (unsigned long long)lim[want[i].res].rlim_cur, (unsigned long long)want[i].cur);
		unit_check(lim[want[i].res].rlim_max == want[i].max, __FILE__, __LINE__,
			   "rlimit %d max %llu, want %llu", want[i].res,
			   (unsigned long long)lim[want[i].res].rlim_max, (unsigned long long)want[i].max);
	}
	unguard(&g);

	/* The real limits agree with getrlimit. */
	{
		FILE *f = fopen("/proc/self/limits", "r");
		char buf[4096];
		size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
		buf[n] = 0;
		if (f)
			fclose(f);
		CHECK(proc_parse_limits(buf, lim) == 0);
		for (int r = 0; r < NR_RLIMITS; r++) {
			struct rlimit rl;
			getrlimit(r, &rl);
			unit_check(lim[r].rlim_cur == rl.rlim_cur && lim[r].rlim_max == rl.rlim_max, __FILE__,
				   __LINE__, "real rlimit %d", r);
		}
	}

	/* Malformed: a missing line, a value that is not a number, and text cut
	 * right after a limit's name (shorter than the 26-character column). */
	{
		char cut[sizeof(limits_text)];
		const char *p;
		static const char *const bad[] = { "", "Limit  Soft Limit\n", "Max cpu time" };
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			s = guard(&g, bad[i]);
			unit_ctx = bad[i];
			if (!CRASHES(proc_parse_limits(s, lim)))
				CHECK(proc_parse_limits(s, lim) == -1);
			unit_ctx = NULL;
			unguard(&g);
		}

		/* Without the last line. */
		p = strstr(limits_text, "Max realtime timeout");
		memcpy(cut, limits_text, p - limits_text);
		cut[p - limits_text] = 0;
		s = guard(&g, cut);
		if (!CRASHES(proc_parse_limits(s, lim)))
			CHECK(proc_parse_limits(s, lim) == -1);
		unguard(&g);

		/* Cut just after the last line's name. */
		snprintf(cut, sizeof(cut), "%.*sMax realtime timeout", (int)(p - limits_text), limits_text);
		s = guard(&g, cut);
		unit_ctx = "limits text ending with \"Max realtime timeout\" (no values)";
		if (!CRASHES(proc_parse_limits(s, lim)))
			CHECK(proc_parse_limits(s, lim) == -1);
		unit_ctx = NULL;
		unguard(&g);

		/* A garbage value. */
		snprintf(cut, sizeof(cut), "%s", limits_text);
		memcpy(strstr(cut, "1024     "), "lots     ", 9);
		s = guard(&g, cut);
		if (!CRASHES(proc_parse_limits(s, lim)))
			CHECK(proc_parse_limits(s, lim) == -1);
		unguard(&g);
	}
}

/* ---- proc_field ---- */

static void test_field(void)
{
	static const char fdinfo[] = "pos:\t4096\nflags:\t0102002\nmnt_id:\t29\nino:\t1234\n"
				     "eventfd-count:\t0\nlock:\t1: POSIX  ADVISORY  WRITE 4242 fe:00:1234 0 EOF\n";
	struct guarded g;
	const char *p;
	char *s = guard(&g, fdinfo);

	p = proc_field(s, "pos");
	CHECK(p && !strncmp(p, "4096\n", 5));
	p = proc_field(s, "flags");
	CHECK(p && strtoul(p, NULL, 8) == 0102002);
	p = proc_field(s, "ino");
	CHECK(p && !strncmp(p, "1234\n", 5));
	p = proc_field(s, "lock");
	CHECK(p && !strncmp(p, "1: POSIX", 8));
	CHECK(proc_field(s, "mnt") == NULL);		/* prefix of mnt_id, not a key */
	CHECK(proc_field(s, "count") == NULL);		/* only whole keys at line start */
	CHECK(proc_field(s, "missing") == NULL);
	CHECK(proc_field("", "pos") == NULL);
	unguard(&g);

	/* Key on the last line with no value and no newline. */
	s = guard(&g, "a:\t1\nlast:");
	p = proc_field(s, "last");
	CHECK(p && *p == 0);
	unguard(&g);
	s = guard(&g, "a:\t1\nlast:  \t ");
	p = proc_field(s, "last");
	CHECK(p && *p == 0);
	unguard(&g);
	s = guard(&g, "pos");
	if (!CRASHES(proc_field(s, "pos")))
		CHECK(proc_field(s, "pos") == NULL);
	unguard(&g);
}

int main(void)
{
	test_stat();
	test_status();
	test_smaps();
	test_limits();
	test_field();
	return unit_done("unit-proc_parse");
}
