/*
 * Unit tests for the image layer: hex and JSON helpers, the encode/decode
 * halves of every module (a hand-built process tree -- a two-thread process,
 * a child sharing open files with it, a zombie, shared memory objects --
 * must come back field by field, encoded and decoded the way dump and
 * restore do it), the image directory I/O, and corrupt images and corrupt
 * core JSON, which must be refused with a message naming the problem and
 * the file, never crash.  UNIT_VERBOSE=1 prints each refusal's message.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "fileops.h"
#include "image.h"
#include "log.h"
#include "pstate.h"
#include "util.h"
#include "unit.h"

#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

/* Bit numbers of mem.c's madv_flags table: dc dd hg nh wf mg. */
enum { MB_DC = 1 << 0, MB_DD = 1 << 1, MB_HG = 1 << 2, MB_NH = 1 << 3, MB_WF = 1 << 4, MB_MG = 1 << 5 };

static char tmpdir[] = "/tmp/ferry-unit-XXXXXX";

/* ---- hex and JSON helpers ---- */

static void test_hex(void)
{
	static const uint8_t v[] = { 0x00, 0x01, 0xab, 0xff, 0x10, 0x9e };
	uint8_t all[256], back[256], small[3];
	char *s;

	s = hex_encode(v, sizeof(v));
	CHECK_STR(s, "0001abff109e");
	free(s);
	s = hex_encode(v, 0);
	CHECK_STR(s, "");
	free(s);

	for (int i = 0; i < 256; i++)
		all[i] = i;
	s = hex_encode(all, sizeof(all));
	CHECK(strlen(s) == 512);
	memset(back, 0, sizeof(back));
	CHECK(hex_decode(s, back, sizeof(back)) == 0);
	CHECK_MEM(back, all, sizeof(all));
	free(s);

	CHECK(hex_decode("0001ABFF109E", back, 6) == 0);	/* uppercase accepted */
	CHECK_MEM(back, v, 6);
	CHECK(hex_decode("", back, 0) == 0);

	/* Rejects, and never writes past the buffer. */
	memset(small, 0x77, sizeof(small));
	CHECK(hex_decode("abc", small, 1) == -1);	/* odd length */
	CHECK(hex_decode("abc", small, 2) == -1);
	CHECK(hex_decode("0g", small, 1) == -1);	/* bad digit */
	CHECK(hex_decode("g0", small, 1) == -1);
	CHECK(hex_decode("0x", small, 1) == -1);
	CHECK(hex_decode("-1", small, 1) == -1);
	CHECK(hex_decode(" 1", small, 1) == -1);
	CHECK(hex_decode("0102", small, 1) == -1);	/* too long */
	CHECK(hex_decode("01", small, 2) == -1);	/* too short */
	CHECK(hex_decode("", small, 1) == -1);
	CHECK(small[1] == 0x77 && small[2] == 0x77);
}

static void test_json_helpers(void)
{
	static const uint64_t vals[] = { 0, 1, (1ULL << 53) + 1, 0xffffffffff600000ULL, UINT64_MAX,
					 1ULL << 63, 0x7fffffffffffffffULL, 0xdeadbeefcafef00dULL };
	json_t *o, *p;
	uint64_t u;
	long long ll;
	const char *str;
	void *blob;
	size_t len;
	uint8_t b4[4];

	jctx = "unit.json";
	for (size_t i = 0; i < ARRAY_SIZE(vals); i++) {
		char *text, want[32];
		o = json_object();
		json_object_set_new(o, "v", jhex(vals[i]));
		snprintf(want, sizeof(want), "0x%" PRIx64, vals[i]);
		CHECK_STR(json_string_value(json_object_get(o, "v")), want);
		u = 42;
		CHECK(jget_u64(o, "v", &u) == 0);
		CHECK_U64(u, vals[i]);
		/* Through JSON text too. */
		text = json_dumps(o, 0);
		json_decref(o);
		o = json_loads(text, 0, NULL);
		u = 42;
		CHECK(o && jget_u64(o, "v", &u) == 0);
		CHECK_U64(u, vals[i]);
		free(text);
		json_decref(o);
	}
	CHECK_STR(json_string_value(p = jhex(0)), "0x0");
	json_decref(p);

	/* Plain JSON integers are accepted, exactly (no double rounding). */
	o = json_loads("{\"a\": 9007199254740993, \"b\": 0, \"c\": 9223372036854775807}", 0, NULL);
	CHECK(jget_u64(o, "a", &u) == 0);
	CHECK_U64(u, (1ULL << 53) + 1);
	CHECK(jget_u64(o, "b", &u) == 0);
	CHECK_U64(u, 0);
	CHECK(jget_u64(o, "c", &u) == 0);
	CHECK_U64(u, 0x7fffffffffffffffULL);
	json_decref(o);

	/* Rejects, each with the key named. */
	o = json_loads("{\"empty\": \"\", \"prefix\": \"0x\", \"word\": \"xyz\", \"tail\": \"12abc\","
		       " \"over\": \"0x1ffffffffffffffff\", \"bool\": true, \"real\": 1.5, \"obj\": {},"
		       " \"arr\": [1], \"null\": null, \"str\": \"s\", \"int\": 7, \"hex4\": \"0a0b0c0d\","
		       " \"odd\": \"0a0\", \"nothex\": \"zz\"}",
		       0, NULL);
	{
		static const char *const bad[] = { "empty", "prefix", "word", "tail", "over",
						    "bool", "real", "obj", "arr", "null" };
		for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
			char q[32];
			snprintf(q, sizeof(q), "\"%s\"", bad[i]);
			unit_ctx = bad[i];
			fail_clear();
			CHECK(jget_u64(o, bad[i], &u) == -1);
			CHECK_HAS(fail_msg(), q);
			CHECK_HAS(fail_msg(), "not a number");
			CHECK_HAS(fail_msg(), "unit.json");
			unit_ctx = NULL;
		}
	}
	fail_clear();
	CHECK(jget_u64(o, "absent", &u) == -1);
	CHECK_HAS(fail_msg(), "\"absent\" missing");
	fail_clear();
	CHECK(jget_u64(json_object_get(o, "arr"), "x", &u) == -1);	/* not an object */
	CHECK_HAS(fail_msg(), "\"x\"");
	fail_clear();
	CHECK(jget_u64(NULL, "x", &u) == -1);
	CHECK_HAS(fail_msg(), "\"x\"");

	fail_clear();
	CHECK(jget_int(o, "int", &ll) == 0 && ll == 7);
	CHECK(jget_int(o, "str", &ll) == -1);
	CHECK_HAS(fail_msg(), "\"str\" is not an integer");
	fail_clear();
	CHECK(jget_int(o, "real", &ll) == -1);
	CHECK_HAS(fail_msg(), "\"real\"");
	fail_clear();
	CHECK(jget_str(o, "str", &str) == 0 && !strcmp(str, "s"));
	CHECK(jget_str(o, "int", &str) == -1);
	CHECK_HAS(fail_msg(), "\"int\" is not a string");
	fail_clear();
	CHECK(jget_blob(o, "hex4", b4, 4) == 0 && b4[0] == 0x0a && b4[3] == 0x0d);
	CHECK(jget_blob(o, "hex4", b4, 3) == -1);
	CHECK_HAS(fail_msg(), "\"hex4\" is not 3 hex bytes");
	fail_clear();
	CHECK(jget_blobv(o, "hex4", &blob, &len) == 0 && len == 4 && !memcmp(blob, "\x0a\x0b\x0c\x0d", 4));
	free(blob);
	blob = (void *)1;
	CHECK(jget_blobv(o, "odd", &blob, &len) == -1 && blob == NULL);
	CHECK_HAS(fail_msg(), "\"odd\"");
	fail_clear();
	blob = (void *)1;
	CHECK(jget_blobv(o, "nothex", &blob, &len) == -1 && blob == NULL);
	CHECK_HAS(fail_msg(), "\"nothex\" is not hex");
	fail_clear();
	CHECK(jget_arr(o, "arr") != NULL && jget_obj(o, "obj") != NULL);
	CHECK(fail_msg() == NULL);
	CHECK(jget_arr(o, "obj") == NULL);
	CHECK_HAS(fail_msg(), "\"obj\" is not an array");
	fail_clear();
	CHECK(jget_obj(o, "arr") == NULL);
	CHECK_HAS(fail_msg(), "\"arr\" is not an object");
	fail_clear();

	p = jblob("\x00\xff\x10", 3);
	CHECK_STR(json_string_value(p), "00ff10");
	json_decref(p);
	p = jblob(NULL, 0);
	CHECK_STR(json_string_value(p), "");
	json_decref(p);
	json_decref(o);
}

static void test_log(void)
{
	fail_clear();
	CHECK(fail_msg() == NULL);
	CHECK(fail("first %d", 1) == -1);
	CHECK(fail("second") == -1);
	CHECK_STR(fail_msg(), "first 1");	/* the first error wins */
	fail_clear();
	CHECK(fail_msg() == NULL);
	errno = ENOENT;
	CHECK(fail_errno("cannot open %s", "x") == -1);
	CHECK(errno == ENOENT);
	CHECK_STR(fail_msg(), "cannot open x: No such file or directory");
	fail_clear();
}

/* ---- a hand-built process tree ---- */

struct fdspec {
	int fd, cloexec, ofile;
};

static siginfo_t mk_siginfo(int signo, int code, pid_t pid, uid_t uid, uint64_t value)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	si.si_signo = signo;
	si.si_code = code;
	si.si_pid = pid;
	si.si_uid = uid;
	si.si_value.sival_ptr = (void *)(uintptr_t)value;
	((uint8_t *)&si)[sizeof(si) - 1] = 0xee;	/* the whole blob must survive */
	return si;
}

static void add_vma(struct mm_state *mm, enum vma_kind kind, uint64_t start, uint64_t end, uint64_t pgoff,
		    const char *perms, const char *name, int file, int growsdown, unsigned madv)
{
	struct vma *v = &mm->vmas[mm->nvmas++];
	v->kind = kind;
	v->start = start;
	v->end = end;
	v->pgoff = pgoff;
	v->prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
		  (perms[2] == 'x' ? PROT_EXEC : 0);
	v->shared = perms[3] == 's';
	v->name = xstrdup(name);
	v->file = file;
	v->growsdown = growsdown;
	v->madv = madv;
}

static struct ofile *add_ofile(struct file_table *ft, enum file_kind kind, const char *path, int flags, unsigned mode)
{
	struct ofile *of = &ft->of[ft->n++];
	of->kind = kind;
	of->path = path ? xstrdup(path) : NULL;
	of->flags = flags;
	of->mode = mode;
	of->rfd = -1;
	of->mtime_ns = 1700000000123456789ULL + ft->n;
	return of;
}

/* A kind's own state, given as its module decodes it from the image (it
 * is the module's, private): o is consumed. */
static void set_state(struct tree *t, struct ofile *of, json_t *o)
{
	CHECK(o && file_kinds[of->kind]->decode(o, of, t) == 0);
	json_decref(o);
}

/* The tree's open file descriptions. */
static void build_files(struct tree *t)
{
	struct file_table *ft = &t->files;
	struct ofile *of;

	ft->of = xzalloc(9 * sizeof(*ft->of));
	of = add_ofile(ft, FK_CHR, "/dev/null", O_RDWR | O_LARGEFILE, S_IFCHR | 0666);
	of->rdev = makedev(1, 3);
	of = add_ofile(ft, FK_REG, "/var/log/app log.txt", O_WRONLY | O_APPEND | O_LARGEFILE, S_IFREG | 0640);
	of->pos = 12345;
	of->size = 67890;
	add_ofile(ft, FK_DIR, "/etc", O_RDONLY | O_DIRECTORY | O_LARGEFILE, S_IFDIR | 0755);
	of = add_ofile(ft, FK_DELETED, "/tmp/scratch", O_RDWR | O_LARGEFILE, S_IFREG | 0600);
	of->pos = 3;
	of->size = 5;
	set_state(t, of, json_pack("{s:i}", "blob", 0));
	of = add_ofile(ft, FK_PIPE, NULL, O_RDONLY, S_IFIFO | 0600);	/* 4: read end, carries the data */
	set_state(t, of, json_pack("{s:I,s:i,s:o}", "pipe_id", (json_int_t)987654, "pipe_size", 65536, "data",
				   jblob("hello\0world\n", 12)));
	of = add_ofile(ft, FK_PIPE, NULL, O_WRONLY | O_NONBLOCK, S_IFIFO | 0600);	/* 5: write end */
	set_state(t, of, json_pack("{s:I,s:i}", "pipe_id", (json_int_t)987654, "pipe_size", 65536));
	of = add_ofile(ft, FK_FIFO, "/tmp/my fifo", O_RDONLY | O_NONBLOCK, S_IFIFO | 0644);
	/* an empty FIFO still carries (no) data */
	set_state(t, of, json_pack("{s:I,s:i,s:o}", "pipe_id", (json_int_t)(555 | 1ULL << 62), "pipe_size",
				   16 * 4096, "data", jblob(NULL, 0)));
	of = add_ofile(ft, FK_DELETED, "/tmp/another (deleted) name", O_RDONLY, S_IFREG | 0400);
	set_state(t, of, json_pack("{s:i}", "blob", 1));
	of = add_ofile(ft, FK_MEMFD, "/memfd:my buffer", O_RDWR | O_LARGEFILE, S_IFREG | 0777);	/* 8 */
	set_state(t, of, json_pack("{s:i}", "shmem", 1));
	/* one lock of each kind and type; a range to the end (len 0) */
	t->locks.n = 4;
	t->locks.l = xzalloc(4 * sizeof(*t->locks.l));
	t->locks.l[0] = (struct file_lock){ LK_POSIX, F_RDLCK, 0, 10, 1, 4100, 3, -1, 0 };
	t->locks.l[1] = (struct file_lock){ LK_POSIX, F_WRLCK, 1LL << 40, 0, 1, 4101, 7, -1, 0 };
	t->locks.l[2] = (struct file_lock){ LK_OFD, F_WRLCK, 5, 1, 3, 4100, 9, -1, 0 };
	t->locks.l[3] = (struct file_lock){ LK_FLOCK, F_RDLCK, 0, 0, 2, 4100, 4, -1, 0 };
}

/* The tree's shared memory objects: a MAP_SHARED|MAP_ANONYMOUS one and a memfd. */
static void build_shm(struct tree *t)
{
	t->nshm = 2;
	t->shm = xzalloc(2 * sizeof(*t->shm));
	t->shm[0] = (struct shm_obj){ .memfd = 0, .name = xstrdup("dev/zero"), .size = 0x10000, .npages = 3,
				      .mode = 0600, .rfd = -1 };
	t->shm[1] = (struct shm_obj){ .memfd = 1, .name = xstrdup("my buffer"), .size = 8192, .npages = 2,
				      .seals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW, .mode = 0777, .rfd = -1 };
}

static void build_thread(struct thread_state *th, pid_t tid, int k)
{
	uint64_t *r = (uint64_t *)&th->regs;

	th->tid = tid;
	snprintf(th->name, sizeof(th->name), k ? "worker-%d" : "my (weird) prog", k);
	for (size_t w = 0; w < sizeof(th->regs) / 8; w++)
		r[w] = 0x0102030405060708ULL * (w + 1 + 40 * k) ^ (w << 60);
	th->regs.r15 = UINT64_MAX;
	th->regs.r14 = (1ULL << 53) + 1;
	th->regs.rax = k ? (uint64_t)-516 : (uint64_t)-512;
	th->regs.orig_rax = k ? 230 : 0;	/* clock_nanosleep, read */
	th->regs.rip = 0x55d0c0a02abcULL + k;
	th->regs.rsp = 0x7ffcbcebd5a0ULL - k * 0x800000;
	th->regs.cs = 0x33;
	th->regs.ss = 0x2b;
	th->regs.eflags = 0x246;
	th->regs.fs_base = 0x7f2b26a3f740ULL - k * 0x800000;
	th->regs.gs_base = 0;
	th->xstate_len = 1088;
	th->xstate = xmalloc(th->xstate_len);
	for (size_t i = 0; i < th->xstate_len; i++)
		th->xstate[i] = (i * 37 + 11 + k) & 0xff;
	memcpy(th->xstate + 472, &(uint64_t){ 0x7 }, 8);	/* xfeatures: x87 SSE AVX */
	th->sigmask = 1ULL << (SIGUSR2 - 1) | 1ULL << 63 | (uint64_t)k;
	th->ss_sp = 0x7f2b26800000ULL + k * 0x10000;
	th->ss_size = 0x10000;
	th->ss_flags = k ? SS_DISABLE : (int)(1U << 31);	/* SS_AUTODISARM */
	th->rseq_ptr = 0x7f2b26a3fe20ULL - k * 0x800000;
	th->rseq_len = 32;
	th->rseq_sig = 0x53053053;
	th->rseq_flags = 0;
	th->robust_head = 0x7f2b26a3f750ULL - k * 0x800000;
	th->robust_len = 24;
	th->tid_address = 0x7f2b26a3fa10ULL - k * 0x800000;
	th->pending.n = 1 + k;
	th->pending.q = xzalloc(th->pending.n * sizeof(*th->pending.q));
	th->pending.q[0].info = mk_siginfo(SIGUSR1, SI_TKILL, 4100, 1000, 0);
	if (k)
		th->pending.q[1].info = mk_siginfo(SIGALRM, SI_TIMER, 0, 0, 77);
}

static void build_proc(struct proc_state *ps, struct tree *t, pid_t pid, pid_t ppid, int nthreads,
		       const struct fdspec *fds, int nfds)
{
	struct task_attrs *ta = &ps->task;
	struct mm_state *mm = &ps->mm;
	static const gid_t groups[] = { 4, 24, 27, 65534, 4000000000u };
	static const uint64_t auxv[] = { 3, 0x55d0c0a00040, 6, 4096, 25, 0x7ffcbcebd9a9, 33, 0x7f2b26fef000, 0, 0 };

	memset(ps, 0, sizeof(*ps));
	ps->tree = t;
	ps->pidfd = -1;
	ps->pid = pid;
	ps->ppid = ppid;
	ps->sid = 4300;
	ps->pgid = 4200;
	ps->exit_signal = SIGCHLD;
	ps->pdeathsig = pid == 4242 ? 0 : SIGTERM;
	ps->xcomp_perm = pid == 4242 ? 0x60000 : 0;	/* AMX tile config + data */

	/* task */
	snprintf(ta->comm, sizeof(ta->comm), "%s", "my (weird) prog");	/* 15 characters */
	ta->cwd = xstrdup("/home/user/work dir");
	ta->root = xstrdup("/");
	ta->umask = 027;
	ta->personality = 0x0040000;	/* ADDR_NO_RANDOMIZE */
	ta->no_new_privs = 1;
	ta->uid[0] = 1000, ta->uid[1] = 1001, ta->uid[2] = 1002, ta->uid[3] = 4000000000u;
	ta->gid[0] = 100, ta->gid[1] = 101, ta->gid[2] = 102, ta->gid[3] = 65534;
	ta->ngroups = ARRAY_SIZE(groups);
	ta->groups = xmalloc(sizeof(groups));
	memcpy(ta->groups, groups, sizeof(groups));
	ta->cap_inh = 0;
	ta->cap_prm = 0x1ffffffffffULL;
	ta->cap_eff = 0x3000;
	ta->cap_bnd = 0x1ffffffffffULL;
	ta->cap_amb = 0x400;
	for (int i = 0; i < NR_RLIMITS; i++) {
		ta->rlim[i].rlim_cur = 1000 + i;
		ta->rlim[i].rlim_max = 2000 + i;
	}
	ta->rlim[RLIMIT_CPU] = (struct rlimit){ RLIM_INFINITY, RLIM_INFINITY };
	ta->rlim[RLIMIT_STACK] = (struct rlimit){ 8 << 20, RLIM_INFINITY };
	ta->rlim[RLIMIT_CORE] = (struct rlimit){ 0, RLIM_INFINITY };
	ta->rlim[RLIMIT_NOFILE] = (struct rlimit){ 1024, 524288 };
	ta->rlim[RLIMIT_AS] = (struct rlimit){ RLIM_INFINITY, RLIM_INFINITY };
	ta->rlim[RLIMIT_RTTIME] = (struct rlimit){ 200000, RLIM_INFINITY };

	/* threads */
	ps->nthreads = nthreads;
	ps->threads = xzalloc(nthreads * sizeof(*ps->threads));
	for (int k = 0; k < nthreads; k++)
		build_thread(&ps->threads[k], k ? pid + 7 + k : pid, k);

	/* signals */
	ps->act[SIGINT - 1] = (struct sig_action){ 0x55d0c0a03100ULL, SA_RESTORER | SA_SIGINFO | SA_RESTART,
						   0x7f2b26a42520ULL, 1ULL << (SIGTERM - 1) };
	ps->act[SIGPIPE - 1] = (struct sig_action){ (uintptr_t)SIG_IGN, SA_RESTORER, 0x7f2b26a42520ULL, 0 };
	ps->act[SIGCHLD - 1] = (struct sig_action){ 0, SA_NOCLDSTOP | SA_RESTORER, 0x7f2b26a42520ULL, 0 };
	ps->act[SIGSEGV - 1] = (struct sig_action){ 0x55d0c0a03180ULL,
						    SA_ONSTACK | SA_SIGINFO | SA_RESETHAND | SA_NODEFER | SA_RESTORER,
						    0x7f2b26a42520ULL, ~0ULL ^ (1ULL << (SIGSEGV - 1)) };
	ps->act[64 - 1] = (struct sig_action){ 0x55d0c0a03200ULL, SA_RESTORER | SA_SIGINFO, 0x7f2b26a42520ULL,
					       1ULL << 63 };
	ps->shared_pending.n = 3;
	ps->shared_pending.q = xzalloc(3 * sizeof(*ps->shared_pending.q));
	ps->shared_pending.q[0].info = mk_siginfo(SIGTERM, SI_USER, 1, 0, 0);
	ps->shared_pending.q[1].info = mk_siginfo(37, SI_QUEUE, 4100, 1000, 12345);	/* SIGRTMIN+3 */
	ps->shared_pending.q[2].info = mk_siginfo(37, SI_QUEUE, 4100, 1000, 0xdeadbeefcafeULL);

	/* memory: a VMA of every kind */
	mm->nfiles = 5;
	mm->files = xzalloc(5 * sizeof(*mm->files));
	mm->files[0] = (struct mapped_file){ .path = xstrdup("/opt/my app/bin/my prog"), .size = 24680,
					     .mtime_ns = 1700000000000000001ULL, .writable = 0, .shm = -1, .fd = -1 };
	mm->files[1] = (struct mapped_file){ .path = xstrdup("/usr/lib/x86_64-linux-gnu/libc.so.6"), .size = 1922136,
					     .mtime_ns = 1690000000999999999ULL, .writable = 0, .shm = -1, .fd = -1 };
	mm->files[2] = (struct mapped_file){ .path = xstrdup("/tmp/shared data.bin"), .size = 8192,
					     .mtime_ns = 1700000000000000003ULL, .writable = 1, .shm = -1, .fd = -1 };
	mm->files[3] = (struct mapped_file){ .path = xstrdup("/dev/zero (deleted)"), .size = 0x10000, .shm = 0, .fd = -1 };
	mm->files[4] = (struct mapped_file){ .path = xstrdup("/memfd:my buffer (deleted)"), .size = 8192, .shm = 1,
					     .fd = -1 };
	mm->exe_file = 0;
	mm->vmas = xzalloc(20 * sizeof(*mm->vmas));
	add_vma(mm, VMA_FILE_PRIVATE, 0x55d0c0a00000ULL, 0x55d0c0a02000ULL, 0, "r--p", "/opt/my app/bin/my prog", 0, 0, 0);
	add_vma(mm, VMA_FILE_PRIVATE, 0x55d0c0a02000ULL, 0x55d0c0a08000ULL, 0x2000, "r-xp", "/opt/my app/bin/my prog", 0, 0, 0);
	add_vma(mm, VMA_FILE_PRIVATE, 0x55d0c0a08000ULL, 0x55d0c0a09000ULL, 0x8000, "rw-p", "/opt/my app/bin/my prog", 0, 0, 0);
	add_vma(mm, VMA_ANON, 0x55d0c1f00000ULL, 0x55d0c1f21000ULL, 0, "rw-p", "[heap]", -1, 0, MB_NH | MB_MG);
	add_vma(mm, VMA_ANON, 0x7f2b26a00000ULL, 0x7f2b26c00000ULL, 0, "rw-p", "", -1, 0, MB_HG | MB_DD);
	add_vma(mm, VMA_ANON, 0x7f2b26c00000ULL, 0x7f2b26c01000ULL, 0, "---p", "", -1, 0, 0);
	add_vma(mm, VMA_FILE_PRIVATE, 0x7f2b26c28000ULL, 0x7f2b26dbd000ULL, 0x28000, "r-xp",
		"/usr/lib/x86_64-linux-gnu/libc.so.6", 1, 0, 0);
	add_vma(mm, VMA_FILE_SHARED, 0x7f2b26e00000ULL, 0x7f2b26e02000ULL, 0, "rw-s", "/tmp/shared data.bin", 2, 0, 0);
	add_vma(mm, VMA_SHMEM, 0x7f2b26e10000ULL, 0x7f2b26e20000ULL, 0, "rw-s", "/dev/zero (deleted)", 3, 0,
		MB_WF | MB_DC);
	add_vma(mm, VMA_SHMEM, 0x7f2b26e20000ULL, 0x7f2b26e22000ULL, 0, "rw-s", "/memfd:my buffer (deleted)", 4, 0, 0);
	add_vma(mm, VMA_FILE_PRIVATE, 0x7f2b26e22000ULL, 0x7f2b26e24000ULL, 0, "r--p", "/memfd:my buffer (deleted)", 4,
		0, 0);	/* a private view of the memfd */
	add_vma(mm, VMA_VVAR, 0x7f2b26fe9000ULL, 0x7f2b26fed000ULL, 0, "r--p", "[vvar]", -1, 0, 0);
	add_vma(mm, VMA_VVAR_VCLOCK, 0x7f2b26fed000ULL, 0x7f2b26fef000ULL, 0, "r--p", "[vvar_vclock]", -1, 0, 0);
	add_vma(mm, VMA_VDSO, 0x7f2b26fef000ULL, 0x7f2b26ff1000ULL, 0, "r-xp", "[vdso]", -1, 0, 0);
	add_vma(mm, VMA_ANON, 0x7ffcbce9e000ULL, 0x7ffcbcebf000ULL, 0, "rw-p", "[stack]", -1, 1, 0);
	add_vma(mm, VMA_VSYSCALL, 0xffffffffff600000ULL, 0xffffffffff601000ULL, 0, "--xp", "[vsyscall]", -1, 0, 0);
	mm->start_code = 0x55d0c0a02000ULL;
	mm->end_code = 0x55d0c0a07f2aULL;
	mm->start_data = 0x55d0c0a08c10ULL;
	mm->end_data = 0x55d0c0a08e20ULL;
	mm->start_brk = 0x55d0c1f00000ULL;
	mm->brk = 0x55d0c1f21000ULL;
	mm->start_stack = 0x7ffcbcebd6f0ULL;
	mm->arg_start = 0x7ffcbcebd9b9ULL;
	mm->arg_end = 0x7ffcbcebd9d0ULL;
	mm->env_start = 0x7ffcbcebd9d0ULL;
	mm->env_end = 0x7ffcbcebefe5ULL;
	mm->auxv_len = sizeof(auxv);
	mm->auxv = xmalloc(sizeof(auxv));
	memcpy(mm->auxv, auxv, sizeof(auxv));
	mm->nruns = 5;
	mm->runs = xzalloc(5 * sizeof(*mm->runs));
	mm->runs[0] = (struct page_run){ 0x55d0c0a08000ULL, 1 };
	mm->runs[1] = (struct page_run){ 0x55d0c1f00000ULL, 2 };
	mm->runs[2] = (struct page_run){ 0x7f2b26a00000ULL, 33 };
	mm->runs[3] = (struct page_run){ 0x7f2b26e10000ULL, 1 };
	mm->runs[4] = (struct page_run){ 0x7ffcbcebb000ULL, 4 };
	mm->npages = 41;
	mm->vdso_hash = 0xdeadbeefcafef00dULL;

	/* fds */
	ps->fds.nfds = nfds;
	ps->fds.fds = xzalloc((nfds + 1) * sizeof(*ps->fds.fds));
	for (int i = 0; i < nfds; i++)
		ps->fds.fds[i] = (struct fd_entry){ .fd = fds[i].fd, .cloexec = fds[i].cloexec, .ofile = fds[i].ofile };
}

/* Three processes: 4242 (two threads), its child 4243 sharing some open
 * files with it, and a zombie child 4244. */
static void build_tree(struct tree *t)
{
	static const struct fdspec fds0[] = {
		{ 0, 0, 0 }, { 1, 0, 1 }, { 2, 0, 1 }, { 3, 1, 2 }, { 4, 0, 3 }, { 5, 1, 4 },
		{ 6, 1, 5 }, { 7, 0, 6 }, { 100, 0, 4 }, { 1023, 1, 7 }, { 11, 1, 8 },
	};
	static const struct fdspec fds1[] = { { 0, 0, 0 }, { 1, 0, 1 }, { 2, 0, 1 }, { 9, 0, 5 } };
	struct proc_state *z;

	memset(t, 0, sizeof(*t));
	t->nshm = 2;	/* for the memfd's state; build_shm fills them */
	build_files(t);
	build_shm(t);
	t->nprocs = 3;
	t->procs = xzalloc(3 * sizeof(*t->procs));
	build_proc(&t->procs[0], t, 4242, 4100, 2, fds0, ARRAY_SIZE(fds0));
	build_proc(&t->procs[1], t, 4243, 4242, 1, fds1, ARRAY_SIZE(fds1));
	z = &t->procs[2];
	z->tree = t;
	z->pidfd = -1;
	z->pid = 4244;
	z->ppid = 4242;
	z->sid = 4300;
	z->pgid = 4244;
	z->zombie = 1;
	z->exit_code = 9 << 8;	/* exited with status 9 */
	z->exit_signal = SIGCHLD;
}

static void free_tree(struct tree *t)
{
	for (int i = 0; i < t->nprocs; i++)
		pstate_free(&t->procs[i]);
	free(t->procs);
	files_table_free(t);
	shm_free(t);
	memset(t, 0, sizeof(*t));
}

/* shm_note: the object's name as a memfd has it, from the name /proc shows. */
static void test_shm_note(void)
{
	static const char *const names[] = { "my buffer", "x", "ab", "" };
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		struct tree t;
		char link[64], shown[300];
		ssize_t n;
		int fd = memfd_create(names[i], MFD_ALLOW_SEALING | MFD_CLOEXEC), id = -1;
		memset(&t, 0, sizeof(t));
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, shown, sizeof(shown) - 1);
		shown[n > 0 ? n : 0] = 0;	/* "/memfd:NAME (deleted)", as in /proc/PID/maps */
		unit_ctx = shown;
		CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_GROW) == 0);
		CHECK(shm_note(&t, fd, shown, &id) == 0 && id == 0 && t.nshm == 1);
		if (t.nshm == 1) {
			CHECK(t.shm[0].memfd == 1);
			CHECK_STR(t.shm[0].name, names[i]);
			CHECK(t.shm[0].seals == F_SEAL_GROW);
			CHECK(t.shm[0].rfd >= 0);
			/* The same object again: the same id. */
			CHECK(shm_note(&t, fd, shown, &id) == 0 && id == 0 && t.nshm == 1);
		}
		unit_ctx = NULL;
		shm_free(&t);
		close(fd);
	}
}

/* ---- encoding and decoding a tree, the way dump and restore do ---- */

/* { "core-PID.json": ..., "shared.json": ... } */
static json_t *encode_tree(const struct tree *t)
{
	json_t *docs = json_object(), *shared = json_object();
	for (int i = 0; i < t->nprocs; i++) {
		char name[64];
		snprintf(name, sizeof(name), "core-%d.json", t->procs[i].pid);
		json_object_set_new(docs, name, pstate_encode(&t->procs[i]));
	}
	shm_encode(t, shared);
	files_table_encode(t, shared);
	json_object_set_new(docs, "shared.json", shared);
	return docs;
}

static json_t *pids_of(const struct tree *t)
{
	json_t *pids = json_array();
	for (int i = 0; i < t->nprocs; i++)
		json_array_append_new(pids, json_integer(t->procs[i].pid));
	return pids;
}

/* Returns a new reference to the named document, or NULL with an error recorded. */
typedef json_t *(*doc_reader)(void *ctx, const char *name);

static json_t *read_doc(void *docs, const char *name)
{
	json_t *j = json_object_get(docs, name);
	jctx = "roundtrip";
	if (!j)
		fail("no %s", name);
	return json_incref(j);
}

static json_t *read_img(void *im, const char *name)
{
	return img_read_json(im, name);
}

/* As restore's load(): the shared file table, then each process's core. */
static int decode_tree(doc_reader rd, void *ctx, json_t *pids, struct tree *t)
{
	json_t *shared, *pid;
	size_t i;
	int ret;

	memset(t, 0, sizeof(*t));
	if (!(shared = rd(ctx, "shared.json")))
		return -1;
	ret = shm_decode(shared, t) < 0 || files_table_decode(shared, t) < 0 ? -1 : 0;
	json_decref(shared);
	if (ret < 0)
		return -1;
	t->nprocs = json_array_size(pids);
	t->procs = xzalloc((t->nprocs + 1) * sizeof(*t->procs));
	json_array_foreach(pids, i, pid) {
		struct proc_state *ps = &t->procs[i];
		char name[64];
		json_t *core;
		ps->tree = t;
		ps->pidfd = -1;
		snprintf(name, sizeof(name), "core-%lld.json", (long long)json_integer_value(pid));
		if (!(core = rd(ctx, name)))
			return -1;
		ret = pstate_decode(core, ps);
		json_decref(core);
		if (ret < 0)
			return -1;
		if (ps->pid != json_integer_value(pid))
			return fail("%s describes pid %d", name, ps->pid);
	}
	return 0;
}

/* Encode, through JSON text, decode; prints the error on failure. */
static int text_roundtrip(const struct tree *a, struct tree *b, json_t **enc)
{
	json_t *docs = encode_tree(a), *docs2, *pids = pids_of(a);
	char *s = json_dumps(docs, JSON_INDENT(1) | JSON_SORT_KEYS);
	int ret;
	docs2 = s ? json_loads(s, 0, NULL) : NULL;
	free(s);
	fail_clear();
	memset(b, 0, sizeof(*b));
	ret = docs2 ? decode_tree(read_doc, docs2, pids, b) : -1;
	json_decref(docs2);
	json_decref(pids);
	if (enc)
		*enc = docs;
	else
		json_decref(docs);
	return ret;
}

/* ---- comparing ---- */

/* expr returns 0; on failure the line shows the recorded error. */
#define CHECK_OK(expr)                                                                                 \
	({                                                                                             \
		int r_ = (expr);                                                                       \
		unit_check(r_ == 0, __FILE__, __LINE__, "%s (error: %s)", #expr,                        \
			   fail_msg() ? fail_msg() : "none recorded");                                 \
	})
#define AT(fmt, ...) (snprintf(where, sizeof(where), fmt, __VA_ARGS__), where)
#define CHECK_AT(c, what) unit_check(!!(c), __FILE__, __LINE__, "%s: %s", what, #c)

static void compare_task(const struct proc_state *a, const struct proc_state *b)
{
	const struct task_attrs *x = &a->task, *y = &b->task;
	char where[64];
	CHECK_STR(y->comm, x->comm);
	CHECK_STR(y->cwd, x->cwd);
	CHECK_STR(y->root, x->root);
	CHECK(y->umask == x->umask);
	CHECK_U64(y->personality, x->personality);
	CHECK(y->no_new_privs == x->no_new_privs);
	CHECK_MEM(y->uid, x->uid, sizeof(x->uid));
	CHECK_MEM(y->gid, x->gid, sizeof(x->gid));
	CHECK(y->ngroups == x->ngroups);
	if (y->ngroups == x->ngroups && x->ngroups)
		CHECK_MEM(y->groups, x->groups, x->ngroups * sizeof(gid_t));
	CHECK_U64(y->cap_inh, x->cap_inh);
	CHECK_U64(y->cap_prm, x->cap_prm);
	CHECK_U64(y->cap_eff, x->cap_eff);
	CHECK_U64(y->cap_bnd, x->cap_bnd);
	CHECK_U64(y->cap_amb, x->cap_amb);
	for (int i = 0; i < NR_RLIMITS; i++)
		CHECK_AT(y->rlim[i].rlim_cur == x->rlim[i].rlim_cur && y->rlim[i].rlim_max == x->rlim[i].rlim_max,
			 AT("rlimit %d", i));
}

static void compare_queue(const struct sig_queue *x, const struct sig_queue *y, const char *what)
{
	CHECK_AT(y->n == x->n, what);
	for (int i = 0; i < x->n && i < y->n; i++)
		CHECK_AT(!memcmp(&y->q[i].info, &x->q[i].info, sizeof(siginfo_t)), what);
}

static void compare_threads(const struct proc_state *a, const struct proc_state *b)
{
	CHECK(b->nthreads == a->nthreads);
	CHECK_U64(b->xcomp_perm, a->xcomp_perm);
	for (int i = 0; i < a->nthreads && i < b->nthreads; i++) {
		const struct thread_state *x = &a->threads[i], *y = &b->threads[i];
		const uint64_t *rx = (const uint64_t *)&x->regs, *ry = (const uint64_t *)&y->regs;
		char where[64];
		CHECK(y->tid == x->tid);
		CHECK_STR(y->name, x->name);
		for (size_t k = 0; k < sizeof(x->regs) / 8; k++)
			CHECK_AT(rx[k] == ry[k], AT("thread %d register word %zu", i, k));
		CHECK(y->xstate_len == x->xstate_len);
		if (y->xstate_len == x->xstate_len && x->xstate_len)
			CHECK_MEM(y->xstate, x->xstate, x->xstate_len);
		CHECK_U64(y->sigmask, x->sigmask);
		CHECK_U64(y->ss_sp, x->ss_sp);
		CHECK_U64(y->ss_size, x->ss_size);
		CHECK(y->ss_flags == x->ss_flags);
		CHECK_U64(y->rseq_ptr, x->rseq_ptr);
		CHECK_U64(y->rseq_sig, x->rseq_sig);
		CHECK(y->rseq_len == x->rseq_len && y->rseq_flags == x->rseq_flags);
		CHECK_U64(y->robust_head, x->robust_head);
		CHECK_U64(y->robust_len, x->robust_len);
		CHECK_U64(y->tid_address, x->tid_address);
		compare_queue(&x->pending, &y->pending, AT("thread %d pending", i));
	}
}

static void compare_signals(const struct proc_state *a, const struct proc_state *b)
{
	char where[64];
	for (int s = 1; s <= 64; s++) {
		if (s == SIGKILL || s == SIGSTOP)
			continue;
		CHECK_AT(!memcmp(&a->act[s - 1], &b->act[s - 1], sizeof(struct sig_action)), AT("sigaction %d", s));
	}
	compare_queue(&a->shared_pending, &b->shared_pending, "shared pending");
}

static void compare_mm(const struct proc_state *a, const struct proc_state *b)
{
	const struct mm_state *x = &a->mm, *y = &b->mm;
	char where[64];
	CHECK(y->nfiles == x->nfiles);
	for (int i = 0; i < x->nfiles && i < y->nfiles; i++) {
		CHECK_STR(y->files[i].path, x->files[i].path);
		CHECK_AT(y->files[i].size == x->files[i].size && y->files[i].mtime_ns == x->files[i].mtime_ns &&
				 y->files[i].writable == x->files[i].writable && y->files[i].shm == x->files[i].shm &&
				 y->files[i].fd == -1,
			 AT("mapped file %d", i));
	}
	CHECK(y->exe_file == x->exe_file);
	CHECK(y->nvmas == x->nvmas);
	for (int i = 0; i < x->nvmas && i < y->nvmas; i++) {
		const struct vma *v = &x->vmas[i], *w = &y->vmas[i];
		CHECK_AT(w->start == v->start && w->end == v->end && w->pgoff == v->pgoff, AT("VMA %d range", i));
		CHECK_AT(w->prot == v->prot && w->shared == v->shared, AT("VMA %d perms", i));
		CHECK_AT(w->kind == v->kind, AT("VMA %d kind", i));
		CHECK_AT(w->growsdown == v->growsdown, AT("VMA %d growsdown", i));
		CHECK_AT(w->madv == v->madv, AT("VMA %d madvise bits", i));
		CHECK_AT(w->file == v->file, AT("VMA %d file", i));
		CHECK_STR(w->name, v->name);
	}
#define F(f) CHECK_U64(y->f, x->f)
	F(start_code); F(end_code); F(start_data); F(end_data); F(start_brk); F(brk); F(start_stack);
	F(arg_start); F(arg_end); F(env_start); F(env_end); F(npages); F(vdso_hash);
#undef F
	CHECK(y->auxv_len == x->auxv_len);
	if (y->auxv_len == x->auxv_len)
		CHECK_MEM(y->auxv, x->auxv, x->auxv_len);
	CHECK(y->nruns == x->nruns);	/* the runs themselves live in the pagemap file */
}

static void compare_fds(const struct proc_state *a, const struct proc_state *b)
{
	const struct fd_state *x = &a->fds, *y = &b->fds;
	char where[64];
	CHECK(y->nfds == x->nfds);
	for (int i = 0; i < x->nfds && i < y->nfds; i++)
		CHECK_AT(x->fds[i].fd == y->fds[i].fd && x->fds[i].cloexec == y->fds[i].cloexec &&
				 x->fds[i].ofile == y->fds[i].ofile,
			 AT("pid %d fd entry %d", a->pid, i));
}

static void compare_file_table(const struct tree *a, const struct tree *b)
{
	const struct file_table *x = &a->files, *y = &b->files;
	char where[64];
	CHECK(y->n == x->n);
	for (int i = 0; i < x->n && i < y->n; i++) {
		const struct ofile *o = &x->of[i], *p = &y->of[i];
		CHECK_AT(p->kind == o->kind, AT("ofile %d kind", i));
		CHECK_AT(o->path ? p->path && !strcmp(p->path, o->path) : !p->path, AT("ofile %d path", i));
		CHECK_AT(p->flags == o->flags && p->pos == o->pos && p->mode == o->mode, AT("ofile %d flags/pos/mode", i));
		CHECK_AT(p->size == o->size && p->mtime_ns == o->mtime_ns, AT("ofile %d size/mtime", i));
		CHECK_AT(p->rdev == o->rdev, AT("ofile %d rdev", i));
		/* the kind's own state is its module's: compare what it encodes */
		if (p->kind == o->kind && file_kinds[o->kind]->encode) {
			json_t *eo = json_object(), *ep = json_object();
			file_kinds[o->kind]->encode(o, eo);
			file_kinds[o->kind]->encode(p, ep);
			CHECK_AT(json_equal(eo, ep) && json_object_size(eo), AT("ofile %d %s state", i,
										file_kinds[o->kind]->name));
			json_decref(eo);
			json_decref(ep);
		}
		CHECK_AT(p->rfd == -1, AT("ofile %d rfd", i));
	}
	CHECK(b->locks.n == a->locks.n);
	for (int i = 0; i < a->locks.n && i < b->locks.n; i++) {
		const struct file_lock *l = &a->locks.l[i], *m = &b->locks.l[i];
		CHECK_AT(m->kind == l->kind && m->type == l->type, AT("lock %d kind/type", i));
		CHECK_AT(m->start == l->start && m->len == l->len, AT("lock %d range", i));
		CHECK_AT(m->file == l->file && m->pid == l->pid && m->fd == l->fd, AT("lock %d owner", i));
		CHECK_AT(m->hold == -1 && !m->released, AT("lock %d restore state", i));
	}
}

static void compare_shm(const struct tree *a, const struct tree *b)
{
	char where[64];
	CHECK(b->nshm == a->nshm);
	for (int i = 0; i < a->nshm && i < b->nshm; i++) {
		const struct shm_obj *x = &a->shm[i], *y = &b->shm[i];
		CHECK_AT(y->memfd == x->memfd && y->size == x->size && y->npages == x->npages && y->seals == x->seals &&
				 y->mode == x->mode && y->rfd == -1,
			 AT("shared memory %d", i));
		CHECK_STR(y->name, x->name);
	}
}

static void compare_tree(const struct tree *a, const struct tree *b)
{
	compare_shm(a, b);
	compare_file_table(a, b);
	CHECK(b->nprocs == a->nprocs);
	for (int i = 0; i < a->nprocs && i < b->nprocs; i++) {
		const struct proc_state *x = &a->procs[i], *y = &b->procs[i];
		CHECK(x->pid == y->pid && x->ppid == y->ppid && x->sid == y->sid && x->pgid == y->pgid);
		CHECK(x->zombie == y->zombie && x->exit_signal == y->exit_signal);
		CHECK(y->tree == b);
		if (x->zombie) {
			CHECK(y->exit_code == x->exit_code);
			continue;
		}
		CHECK(y->pdeathsig == x->pdeathsig);
		compare_task(x, y);
		compare_threads(x, y);
		compare_signals(x, y);
		compare_mm(x, y);
		compare_fds(x, y);
	}
}

static void test_roundtrip(void)
{
	struct tree a, b;
	json_t *docs, *docs2, *j, *t0, *shared;

	build_tree(&a);
	CHECK_OK(text_roundtrip(&a, &b, &docs));
	CHECK(fail_msg() == NULL);
	compare_tree(&a, &b);

	/* The JSON looks the way restore and `ferry show` expect. */
	j = json_object_get(docs, "core-4242.json");
	shared = json_object_get(docs, "shared.json");
	t0 = json_array_get(json_object_get(j, "threads"), 0);
	CHECK(json_array_size(json_object_get(j, "threads")) == 2);
	CHECK(json_array_size(json_object_get(t0, "pending")) == 1);
	CHECK(json_array_size(json_object_get(json_array_get(json_object_get(j, "threads"), 1), "pending")) == 2);
	CHECK_STR(json_string_value(json_object_get(t0, "xfeatures")), "0x7");
	CHECK_STR(json_string_value(json_object_get(json_object_get(t0, "regs"), "r15")), "0xffffffffffffffff");
	CHECK_STR(json_string_value(json_object_get(json_object_get(t0, "regs"), "rax")), "0xfffffffffffffe00");
	CHECK_STR(json_string_value(json_object_get(j, "xcomp_perm")), "0x60000");
	CHECK(json_array_size(json_object_get(j, "sigactions")) == 5);	/* default actions are left out */
	CHECK(json_array_size(json_object_get(j, "shared_pending")) == 3);
	CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(j, "rlimits"), RLIMIT_CPU), "max")),
		  "unlimited");
	CHECK(json_array_size(json_object_get(json_object_get(j, "mm"), "vmas")) == 16);
	CHECK(json_array_size(json_object_get(json_object_get(j, "mm"), "files")) == 5);
	CHECK(json_array_size(json_object_get(j, "fds")) == 11);
	CHECK(json_array_size(json_object_get(shared, "files")) == 9);
	CHECK(json_array_size(json_object_get(shared, "shmem")) == 2);
	CHECK(json_object_get(json_array_get(json_object_get(shared, "files"), 5), "data") == NULL);	/* stored once */
	j = json_object_get(docs, "core-4244.json");	/* the zombie: ids and exit status only */
	CHECK(json_is_true(json_object_get(j, "zombie")));
	CHECK(json_object_get(j, "threads") == NULL && json_object_get(j, "mm") == NULL &&
	      json_object_get(j, "comm") == NULL);

	/* Encoding the decoded tree gives the same JSON. */
	docs2 = encode_tree(&b);
	CHECK(json_equal(docs, docs2));
	json_decref(docs2);
	json_decref(docs);
	free_tree(&b);
	free_tree(&a);
}

/* Values a live process can have but that are unusual. */
static void test_roundtrip_edges(void)
{
	struct tree a, b;
	struct proc_state *p;

	/* Nearly empty: no groups, no pending signals, no handlers, no fds, no
	 * open files at all, no xstate. */
	build_tree(&a);
	p = &a.procs[0];
	free(p->task.groups);
	p->task.groups = NULL;
	p->task.ngroups = 0;
	free(p->threads[0].pending.q);
	p->threads[0].pending.q = NULL;
	p->threads[0].pending.n = 0;
	free(p->shared_pending.q);
	p->shared_pending.q = NULL;
	p->shared_pending.n = 0;
	memset(p->act, 0, sizeof(p->act));
	for (int i = 0; i < a.nprocs; i++)
		a.procs[i].fds.nfds = 0;
	files_table_free(&a);
	free(p->threads[0].xstate);
	p->threads[0].xstate = NULL;
	p->threads[0].xstate_len = 0;
	CHECK_OK(text_roundtrip(&a, &b, NULL));
	compare_tree(&a, &b);
	free_tree(&b);
	free_tree(&a);

	/* setrlimit accepts any value up to RLIM_INFINITY; /proc/PID/limits
	 * prints it and the dump reads it, so restore must accept it back. */
	build_tree(&a);
	a.procs[0].task.rlim[RLIMIT_FSIZE].rlim_cur = 1ULL << 63;
	a.procs[0].task.rlim[RLIMIT_DATA].rlim_max = RLIM_INFINITY - 1;
	unit_ctx = "rlimits above INT64_MAX";
	if (CHECK_OK(text_roundtrip(&a, &b, NULL)))
		compare_task(&a.procs[0], &b.procs[0]);
	unit_ctx = NULL;
	free_tree(&b);
	free_tree(&a);
}

/* Linux names are bytes, not UTF-8, and comm is cut at 15 bytes, which can
 * split a multibyte character.  These must survive the JSON like any other. */
static void test_roundtrip_non_utf8(void)
{
	struct tree a, b;
	struct proc_state *p;

	build_tree(&a);
	p = &a.procs[0];
	/* "программа" cut at 15 bytes: 7 Cyrillic letters and half of the 8th. */
	memcpy(p->task.comm, "программа", 15);
	p->task.comm[15] = 0;
	CHECK(strlen(p->task.comm) == 15);
	unit_ctx = "comm cut inside a UTF-8 character";
	if (CHECK_OK(text_roundtrip(&a, &b, NULL)))
		CHECK_STR(b.procs[0].task.comm, p->task.comm);
	unit_ctx = NULL;
	free_tree(&b);
	free_tree(&a);

	build_tree(&a);
	p = &a.procs[0];
	snprintf(p->threads[1].name, sizeof(p->threads[1].name), "%s", "worker-\xe9t\xe9");
	unit_ctx = "Latin-1 thread name";
	if (CHECK_OK(text_roundtrip(&a, &b, NULL)))
		CHECK_STR(b.procs[0].threads[1].name, p->threads[1].name);
	unit_ctx = NULL;
	free_tree(&b);
	free_tree(&a);

	build_tree(&a);
	p = &a.procs[0];
	free(p->task.cwd);
	p->task.cwd = xstrdup("/home/ren\xe9/caf\xe9");
	unit_ctx = "Latin-1 cwd";
	if (CHECK_OK(text_roundtrip(&a, &b, NULL)))
		CHECK_STR(b.procs[0].task.cwd, p->task.cwd);
	unit_ctx = NULL;
	free_tree(&b);
	free_tree(&a);

	build_tree(&a);
	free(a.files.of[1].path);
	a.files.of[1].path = xstrdup("/var/log/caf\xe9.log");
	unit_ctx = "Latin-1 path of an open file";
	if (CHECK_OK(text_roundtrip(&a, &b, NULL)))
		compare_file_table(&a, &b);
	unit_ctx = NULL;
	free_tree(&b);
	free_tree(&a);

	/* memfd_create takes any bytes as the name. */
	build_tree(&a);
	free(a.shm[1].name);
	a.shm[1].name = xstrdup("caf\xe9");
	unit_ctx = "Latin-1 memfd name";
	if (CHECK_OK(text_roundtrip(&a, &b, NULL)))
		compare_shm(&a, &b);
	unit_ctx = NULL;
	free_tree(&b);
	free_tree(&a);

	/* A mapped library with such a name: its mapped_file entry and its VMA. */
	build_tree(&a);
	p = &a.procs[0];
	free(p->mm.files[1].path);
	p->mm.files[1].path = xstrdup("/opt/lib/libcaf\xe9.so");
	free(p->mm.vmas[6].name);
	p->mm.vmas[6].name = xstrdup("/opt/lib/libcaf\xe9.so");
	unit_ctx = "Latin-1 path of a mapped file";
	if (CHECK_OK(text_roundtrip(&a, &b, NULL)))
		compare_mm(p, &b.procs[0]);
	unit_ctx = NULL;
	free_tree(&b);
	free_tree(&a);
}

/* ---- image directory I/O ---- */

static uint8_t page_data[3 * 4096];
static const char manual_data[] = "a file the caller wrote and hashed itself\n";

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

static void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *case_dir(const char *name)
{
	static char path[512];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return path;
}

/* An image of the documents (name -> JSON), plus blobs, as dump writes it. */
static int write_image(const char *dir, json_t *docs, json_t *pids)
{
	struct img im;
	const char *name;
	json_t *meta, *doc;
	int fd, ret = 0;

	if (img_create(&im, dir) < 0)
		return -1;
	json_object_foreach(docs, name, doc)
		if (!ret)
			ret = img_write_json(&im, name, doc);
	if (!ret)
		ret = img_write_blob(&im, "pages-4242.img", page_data, sizeof(page_data));
	if (!ret)
		ret = img_write_blob(&im, "file-0.img", "hello", 5);
	if (!ret)
		ret = img_write_blob(&im, "file-1.img", "", 0);
	if (!ret) {
		fd = openat(im.dfd, "pagemap-4242.img", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		ret = fd < 0 || write_full(fd, manual_data, strlen(manual_data)) < 0 ? -1 : 0;
		if (fd >= 0)
			close(fd);
		img_add_file(&im, "pagemap-4242.img", strlen(manual_data), img_hash(manual_data, strlen(manual_data)));
	}
	/* "format" and "version" in meta must not override the real ones. */
	meta = json_pack("{s:i,s:O,s:{s:s},s:i,s:s}", "root_pid", 4242, "pids", pids, "host", "kernel", "6.1.0-unit",
			 "version", 999, "format", "something-else");
	if (!ret)
		ret = img_finish(&im, meta);
	json_decref(meta);
	img_close(&im);
	return ret;
}

/* What restore's load() does: open, verify every file, decode every document. */
static int load_image(const char *dir, struct tree *t)
{
	struct img im;
	json_t *pids;
	int ret = -1;

	memset(t, 0, sizeof(*t));
	if (img_open(&im, dir) == 0 && img_verify_all(&im) == 0) {
		jctx = "manifest.json";
		if ((pids = jget_arr(im.manifest, "pids")))
			ret = decode_tree(read_img, &im, pids, t);
	}
	img_close(&im);
	return ret;
}

static int load_and_free(const char *dir)
{
	struct tree t;
	int ret = load_image(dir, &t);
	free_tree(&t);
	return ret;
}

/* Loading dir must fail, without crashing, with a message naming n1 and n2. */
static void expect_load_fails(const char *what, const char *dir, const char *n1, const char *n2)
{
	unit_ctx = what;
	if (!CRASHES(load_and_free(dir))) {
		fail_clear();
		CHECK(load_and_free(dir) == -1);
		CHECK_HAS(fail_msg(), n1);
		if (n2)
			CHECK_HAS(fail_msg(), n2);
		if (getenv("UNIT_VERBOSE"))
			printf("  %s -> %s\n", what, fail_msg() ? fail_msg() : "(none)");
	}
	fail_clear();
	unit_ctx = NULL;
}

static void test_image_io(json_t *docs, json_t *pids, const struct tree *orig)
{
	char *dir = case_dir("good"), path[600];
	struct tree t;
	struct img im;
	json_t *j, *e;
	const char *name;
	size_t len;
	void *p;
	DIR *d;
	struct dirent *de;
	int stray = 0;

	fail_clear();
	CHECK_OK(write_image(dir, docs, pids));
	CHECK(fail_msg() == NULL);

	/* Nothing but the listed files and the manifest: no temporaries left. */
	d = opendir(dir);
	while (d && (de = readdir(d)))
		if (de->d_name[0] == '.' && strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			stray++;
	if (d)
		closedir(d);
	CHECK(stray == 0);

	CHECK(img_open(&im, dir) == 0);
	CHECK_STR(json_string_value(json_object_get(im.manifest, "format")), IMG_FORMAT);
	CHECK(json_integer_value(json_object_get(im.manifest, "version")) == IMG_VERSION);
	CHECK(json_integer_value(json_object_get(im.manifest, "root_pid")) == 4242);
	CHECK(json_equal(json_object_get(im.manifest, "pids"), pids));
	CHECK_STR(json_string_value(json_object_get(json_object_get(im.manifest, "host"), "kernel")), "6.1.0-unit");
	CHECK(json_object_size(im.files) == json_object_size(docs) + 4);
	json_object_foreach(im.files, name, e) {
		const char *h = json_string_value(json_object_get(e, "xxh3"));
		unit_ctx = name;
		CHECK(json_is_integer(json_object_get(e, "size")));
		CHECK(h && strlen(h) == 16 && strspn(h, "0123456789abcdef") == 16);
		unit_ctx = NULL;
	}
	CHECK(json_integer_value(json_object_get(json_object_get(im.files, "pages-4242.img"), "size")) ==
	      (json_int_t)sizeof(page_data));
	CHECK(img_verify_all(&im) == 0);

	json_object_foreach(docs, name, e) {
		j = img_read_json(&im, name);
		unit_ctx = name;
		CHECK(j && json_equal(j, e));
		unit_ctx = NULL;
		json_decref(j);
	}
	p = img_map(&im, "pages-4242.img", &len);
	CHECK(p && len == sizeof(page_data) && !memcmp(p, page_data, len));
	if (p)
		img_unmap(&im, p, len);
	p = img_map(&im, "file-0.img", &len);
	CHECK(p && len == 5 && !memcmp(p, "hello", 5));
	if (p)
		img_unmap(&im, p, len);
	len = 99;
	p = img_map(&im, "file-1.img", &len);
	CHECK(p != NULL && len == 0);
	if (p)
		img_unmap(&im, p, len);
	p = img_map(&im, "pagemap-4242.img", &len);
	CHECK(p && len == strlen(manual_data) && !memcmp(p, manual_data, len));
	if (p)
		img_unmap(&im, p, len);
	fail_clear();
	CHECK(img_map(&im, "nope.img", &len) == NULL);
	CHECK_HAS(fail_msg(), "nope.img");
	CHECK_HAS(fail_msg(), "does not list");
	fail_clear();
	img_close(&im);

	/* The whole tree through the image directory. */
	CHECK_OK(load_image(dir, &t));
	CHECK(fail_msg() == NULL);
	compare_tree(orig, &t);
	free_tree(&t);

	/* Writing a new image over it removes the old manifest first: a dump
	 * that dies half-way leaves a directory restore refuses. */
	CHECK(img_create(&im, dir) == 0);
	CHECK(img_write_blob(&im, "pages-4242.img", "x", 1) == 0);
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	CHECK(access(path, F_OK) < 0);
	img_close(&im);
	expect_load_fails("image whose rewrite was not finished", dir, "manifest.json", NULL);
	rm_rf(dir);
}

/* ---- corrupt images ---- */

static void path_in(char *buf, size_t n, const char *dir, const char *file)
{
	snprintf(buf, n, "%s/%s", dir, file);
}

static void flip_byte(const char *dir, const char *file, off_t off)
{
	char path[600];
	unsigned char c;
	int fd;
	path_in(path, sizeof(path), dir, file);
	fd = open(path, O_RDWR);
	if (fd < 0 || pread(fd, &c, 1, off) != 1 || (c ^= 0x01, pwrite(fd, &c, 1, off)) != 1)
		fprintf(stderr, "cannot flip a byte of %s\n", path);
	if (fd >= 0)
		close(fd);
}

static off_t file_size(const char *dir, const char *file)
{
	char path[600];
	struct stat st;
	path_in(path, sizeof(path), dir, file);
	return stat(path, &st) < 0 ? -1 : st.st_size;
}

static void put_text(const char *dir, const char *file, const char *text)
{
	char path[600];
	FILE *f;
	path_in(path, sizeof(path), dir, file);
	if ((f = fopen(path, "w"))) {
		fputs(text, f);
		fclose(f);
	}
}

static json_t *load_manifest(const char *dir)
{
	char path[600];
	path_in(path, sizeof(path), dir, "manifest.json");
	return json_load_file(path, 0, NULL);
}

static void save_manifest(const char *dir, json_t *m)
{
	char path[600];
	path_in(path, sizeof(path), dir, "manifest.json");
	json_dump_file(m, path, JSON_INDENT(1));
	json_decref(m);
}

static json_t *g_docs, *g_pids;	/* the good tree, encoded */

static char *fresh(const char *name, json_t *docs)
{
	char *dir = case_dir(name);
	rm_rf(dir);
	if (write_image(dir, docs, g_pids) < 0)
		fprintf(stderr, "cannot write test image %s: %s\n", dir, fail_msg());
	fail_clear();
	return dir;
}

/* Edits the manifest's entry for file (or the manifest itself if file is NULL). */
static void manifest_set(const char *dir, const char *file, const char *key, json_t *value)
{
	json_t *m = load_manifest(dir), *o = file ? json_object_get(json_object_get(m, "files"), file) : m;
	if (value)
		json_object_set_new(o, key, value);
	else
		json_object_del(o, key);
	save_manifest(dir, m);
}

static void test_image_corrupt(void)
{
	json_t *docs = g_docs;
	char *dir, path[600];
	json_t *m;
	struct img im;
	size_t len;

	dir = fresh("truncated", docs);
	path_in(path, sizeof(path), dir, "pages-4242.img");
	CHECK(truncate(path, sizeof(page_data) - 1) == 0);
	expect_load_fails("truncated blob", dir, "pages-4242.img", "truncated");
	/* img_map on its own refuses it too. */
	CHECK(img_open(&im, dir) == 0);
	fail_clear();
	CHECK(img_map(&im, "pages-4242.img", &len) == NULL);
	CHECK_HAS(fail_msg(), "truncated");
	fail_clear();
	img_close(&im);
	rm_rf(dir);

	dir = fresh("truncated-to-zero", docs);
	path_in(path, sizeof(path), dir, "pages-4242.img");
	CHECK(truncate(path, 0) == 0);
	expect_load_fails("blob truncated to 0 bytes", dir, "pages-4242.img", "truncated");
	rm_rf(dir);

	dir = fresh("truncated-json", docs);
	path_in(path, sizeof(path), dir, "shared.json");
	CHECK(truncate(path, file_size(dir, "shared.json") - 2) == 0);
	expect_load_fails("truncated JSON", dir, "shared.json", "truncated");
	rm_rf(dir);

	dir = fresh("longer", docs);
	path_in(path, sizeof(path), dir, "file-0.img");
	CHECK(truncate(path, 4096) == 0);
	expect_load_fails("blob with bytes appended", dir, "file-0.img", "4096 bytes");
	rm_rf(dir);

	dir = fresh("flip-blob", docs);
	flip_byte(dir, "pages-4242.img", 4096 + 17);
	expect_load_fails("flipped byte in a blob", dir, "pages-4242.img", "checksum");
	rm_rf(dir);

	dir = fresh("flip-json", docs);
	flip_byte(dir, "core-4242.json", file_size(dir, "core-4242.json") / 2);
	expect_load_fails("flipped byte in a core JSON", dir, "core-4242.json", "checksum");
	CHECK(img_open(&im, dir) == 0);
	fail_clear();
	CHECK(img_read_json(&im, "core-4242.json") == NULL);
	CHECK_HAS(fail_msg(), "checksum");
	fail_clear();
	img_close(&im);
	rm_rf(dir);

	dir = fresh("flip-manual", docs);
	flip_byte(dir, "pagemap-4242.img", 0);
	expect_load_fails("flipped byte in a file added with img_add_file", dir, "pagemap-4242.img", "checksum");
	rm_rf(dir);

	dir = fresh("version", docs);
	manifest_set(dir, NULL, "version", json_integer(999));
	expect_load_fails("manifest version 999", dir, "version", "999");
	rm_rf(dir);

	dir = fresh("version-string", docs);
	manifest_set(dir, NULL, "version", json_string("1"));
	expect_load_fails("manifest version as a string", dir, "\"version\"", "manifest.json");
	rm_rf(dir);

	dir = fresh("no-version", docs);
	manifest_set(dir, NULL, "version", NULL);
	expect_load_fails("manifest without version", dir, "\"version\" missing", NULL);
	rm_rf(dir);

	dir = fresh("format", docs);
	manifest_set(dir, NULL, "format", json_string("criu"));
	expect_load_fails("manifest of another format", dir, "not a ferry image", "criu");
	rm_rf(dir);

	dir = fresh("no-manifest", docs);
	path_in(path, sizeof(path), dir, "manifest.json");
	CHECK(unlink(path) == 0);
	expect_load_fails("missing manifest", dir, "manifest.json", "not a ferry image");
	rm_rf(dir);

	expect_load_fails("image directory that does not exist", case_dir("never-made"), "never-made", NULL);

	dir = fresh("manifest-garbage", docs);
	put_text(dir, "manifest.json", "this is not JSON {\n");
	expect_load_fails("manifest that is not JSON", dir, "manifest.json", "corrupt");
	rm_rf(dir);

	dir = fresh("manifest-empty", docs);
	put_text(dir, "manifest.json", "");
	expect_load_fails("empty manifest", dir, "manifest.json", "corrupt");
	rm_rf(dir);

	dir = fresh("manifest-array", docs);
	put_text(dir, "manifest.json", "[1, 2, 3]\n");
	expect_load_fails("manifest that is an array", dir, "manifest.json", "\"format\"");
	rm_rf(dir);

	dir = fresh("manifest-cut", docs);
	m = load_manifest(dir);
	{
		char *s = json_dumps(m, JSON_INDENT(1));
		s[strlen(s) / 2] = 0;
		put_text(dir, "manifest.json", s);
		free(s);
	}
	json_decref(m);
	expect_load_fails("manifest cut in half", dir, "manifest.json", "corrupt");
	rm_rf(dir);

	dir = fresh("ghost", docs);
	m = load_manifest(dir);
	json_object_set_new(json_object_get(m, "files"), "ghost.img",
			    json_pack("{s:i,s:s}", "size", 10, "xxh3", "0123456789abcdef"));
	save_manifest(dir, m);
	expect_load_fails("manifest listing a file that does not exist", dir, "ghost.img", "No such file");
	rm_rf(dir);

	dir = fresh("no-files", docs);
	manifest_set(dir, NULL, "files", NULL);
	expect_load_fails("manifest without files", dir, "\"files\"", NULL);
	rm_rf(dir);

	dir = fresh("files-array", docs);
	manifest_set(dir, NULL, "files", json_array());
	expect_load_fails("manifest whose files is an array", dir, "\"files\" is not an object", NULL);
	rm_rf(dir);

	dir = fresh("core-unlisted", docs);
	m = load_manifest(dir);
	json_object_del(json_object_get(m, "files"), "core-4243.json");
	save_manifest(dir, m);
	expect_load_fails("manifest that does not list a core file", dir, "core-4243.json", "does not list");
	rm_rf(dir);

	dir = fresh("size-string", docs);
	manifest_set(dir, "pages-4242.img", "size", json_string("12288"));
	expect_load_fails("manifest size as a string", dir, "\"size\"", NULL);
	rm_rf(dir);

	dir = fresh("size-negative", docs);
	manifest_set(dir, "pages-4242.img", "size", json_integer(-1));
	expect_load_fails("manifest size -1", dir, "pages-4242.img", NULL);
	rm_rf(dir);

	dir = fresh("hash-wrong", docs);
	manifest_set(dir, "file-0.img", "xxh3", json_string("0000000000000000"));
	expect_load_fails("manifest with a wrong checksum", dir, "file-0.img", "checksum");
	rm_rf(dir);

	dir = fresh("hash-missing", docs);
	manifest_set(dir, "file-0.img", "xxh3", NULL);
	expect_load_fails("manifest entry without checksum", dir, "\"xxh3\"", NULL);
	rm_rf(dir);

	dir = fresh("core-not-json", docs);
	{
		/* A valid checksum over bytes that are not JSON. */
		static const char junk[] = "{\"pid\": 4242, \"threads\": [";
		struct img w;
		CHECK(img_open(&w, dir) == 0);
		CHECK(img_write_blob(&w, "core-4242.json", junk, strlen(junk)) == 0);
		m = json_deep_copy(w.manifest);
		img_close(&w);
		save_manifest(dir, m);
	}
	expect_load_fails("core file that is not JSON (checksum fine)", dir, "core-4242.json", "corrupt");
	rm_rf(dir);
}

/* ---- corrupt core JSON (with valid checksums: a bug or a hand edit) ---- */

/* Sets (value != NULL) or deletes the element at a dotted path like
 * "mm.vmas.0.start"; numbers index arrays, an index == size appends. */
static int jpath_set(json_t *root, const char *path, json_t *value)
{
	char buf[256], *save, *tok, *next;
	json_t *cur = root;
	snprintf(buf, sizeof(buf), "%s", path);
	tok = strtok_r(buf, ".", &save);
	while (tok) {
		next = strtok_r(NULL, ".", &save);
		if (json_is_array(cur)) {
			size_t i = strtoul(tok, NULL, 10);
			if (!next)
				return value ? (i == json_array_size(cur) ? json_array_append_new(cur, value)
									  : json_array_set_new(cur, i, value))
					     : json_array_remove(cur, i);
			cur = json_array_get(cur, i);
		} else if (json_is_object(cur)) {
			if (!next)
				return value ? json_object_set_new(cur, tok, value) : json_object_del(cur, tok);
			cur = json_object_get(cur, tok);
		} else {
			break;
		}
		tok = next;
	}
	json_decref(value);
	return -1;
}

static char siginfo_signo0[2 * sizeof(siginfo_t) + 3];

#define C0 "core-4242.json"
#define C1 "core-4243.json"
#define CZ "core-4244.json"
#define SH "shared.json"

static void test_decode_corrupt(void)
{
	static const struct {
		const char *file, *path, *value;	/* value: JSON text, NULL deletes */
		const char *n1, *n2;			/* the message must mention both */
	} cases[] = {
		/* task */
		{ C0, "pid", "\"4242\"", "\"pid\"", "not an integer" },
		{ C0, "comm", NULL, "\"comm\"", "missing" },
		{ C0, "creds", NULL, "\"creds\"", "missing" },
		{ C0, "creds.uid", "[1, 2]", "uid", NULL },
		{ C0, "creds.cap_eff", "\"0xzz\"", "\"cap_eff\"", "not a number" },
		{ C0, "rlimits.15", NULL, "15 rlimits", NULL },
		{ C0, "rlimits.3.cur", "-5", "rlimit", "cur" },
		{ C0, "rlimits.0.max", "\"infinite\"", "rlimit", "max" },
		{ C0, "rlimits", "{}", "\"rlimits\"", "not an array" },
		{ C0, "creds.groups.0", "\"4\"", "groups", NULL },	/* must not become gid 0 */
		{ C0, "exit_signal", NULL, "\"exit_signal\"", "missing" },
		{ CZ, "exit_code", NULL, "\"exit_code\"", "missing" },
		{ CZ, "pgid", "null", "\"pgid\"", "not an integer" },
		/* threads */
		{ C0, "threads", "[]", "no threads", NULL },
		{ C0, "threads", "{}", "\"threads\"", "not an array" },
		{ C0, "xcomp_perm", NULL, "\"xcomp_perm\"", "missing" },
		{ C0, "threads.0.regs.rip", NULL, "\"rip\"", "missing" },
		{ C0, "threads.1.regs.rsp", "[]", "\"rsp\"", "not a number" },
		{ C0, "threads.0.xstate", "\"abc\"", "\"xstate\"", "hex" },
		{ C0, "threads.1.rseq", "7", "\"rseq\"", "not an object" },
		{ C0, "threads.0.sigaltstack.flags", "\"0\"", "\"flags\"", "not an integer" },
		{ C0, "threads.1", "5", "\"regs\"", NULL },
		/* signals */
		{ C0, "sigactions.0.signo", "9", "signal 9", NULL },
		{ C0, "sigactions.0.signo", "65", "signal 65", NULL },
		{ C0, "sigactions.0.signo", "0", "signal 0", NULL },
		{ C0, "sigactions.1.handler", "null", "\"handler\"", "not a number" },
		{ C0, "threads.0.pending.0.siginfo", "\"00\"", "\"siginfo\"", "hex bytes" },
		{ C0, "threads.1.pending", NULL, "\"pending\"", "missing" },
		{ C0, "shared_pending.1.siginfo", siginfo_signo0, "pending signal 0", NULL },
		{ C0, "shared_pending", "{}", "\"shared_pending\"", "not an array" },
		/* memory */
		{ C0, "mm", NULL, "\"mm\"", "missing" },
		{ C0, "mm.vmas.0.start", "{}", "\"start\"", "not a number" },
		{ C0, "mm.vmas.3.start", "\"0x1ffffffffffffffff\"", "\"start\"", "not a number" },
		{ C0, "mm.vmas.3.start", "\"0x55d0c1f00001\"", "VMA 3", NULL },	/* unaligned */
		{ C0, "mm.vmas.3.end", "\"0x55d0c1f00000\"", "VMA 3", NULL },	/* empty */
		{ C0, "mm.vmas.2.perms", "\"rw\"", "VMA 2", NULL },
		{ C0, "mm.vmas.2.kind", "\"hugetlb\"", "unknown VMA kind", "hugetlb" },
		{ C0, "mm.vmas.7.file", "9", "VMA 7 file 9", NULL },
		{ C0, "mm.vmas.7.file", "-1", "VMA 7 file -1", NULL },
		{ C0, "mm.vmas.7.file", "\"2\"", "VMA 7", "file" },	/* a string index must not become 0 */
		{ C0, "mm.vmas.6.file", NULL, "file VMA 6 without file", NULL },
		{ C0, "mm.vmas.4.vmflags", "\"hg\"", "\"vmflags\"", "not an array" },
		{ C0, "mm.vmas", "{}", "\"vmas\"", "not an array" },
		{ C0, "mm.exe_file", "5", "exe_file 5", NULL },
		{ C0, "mm.auxv", "\"xyz\"", "\"auxv\"", NULL },
		{ C0, "mm.files.1.path", "5", "\"path\"", "not a string" },
		{ C0, "mm.brk", NULL, "\"brk\"", "missing" },
		{ C0, "mm.files.3.shmem", "2", "mapped file 3 names shared memory 2", NULL },
		{ C0, "mm.files.4.shmem", "\"1\"", "\"shmem\"", "not an integer" },
		{ C0, "mm.vmas.8.file", NULL, "file VMA 8 without file", NULL },
		/* fds, and the shared file table */
		{ C0, "fds", NULL, "\"fds\"", "missing" },
		{ C0, "fds.0.file", "9", "fd entry 0", NULL },	/* one past the file table */
		{ C0, "fds.9.file", "1000", "fd entry 9", NULL },
		{ C1, "fds.1.file", "-1", "fd entry 1", NULL },
		{ C1, "fds.2.fd", "-3", "fd entry 2", NULL },
		{ C0, "fds.3", "5", "\"fd\"", "missing" },
		{ SH, "files", NULL, "\"files\"", "missing" },
		{ SH, "files.8", NULL, "fd entry 10", NULL },	/* the table shrank under fd 11 */
		{ SH, "files.8.shmem", "5", "file 8 names shared memory 5", NULL },
		{ SH, "files.8.shmem", NULL, "\"shmem\"", "missing" },
		{ SH, "shmem", NULL, "\"shmem\"", "missing" },
		{ SH, "shmem.0.kind", "\"posix-shm\"", "unknown shared memory kind", "posix-shm" },
		{ SH, "shmem.1.size", "\"8192\"", "\"size\"", "not an integer" },
		{ SH, "shmem.1", NULL, "names shared memory 1", NULL },
		{ SH, "files.0.kind", "\"socket\"", "unknown file kind", "socket" },
		{ SH, "files.0.rdev", NULL, "\"rdev\"", "missing" },
		{ SH, "files.1.path", NULL, "\"path\"", "missing" },
		{ SH, "files.1.pos", "\"12\"", "\"pos\"", "not an integer" },
		{ SH, "files.3.blob", NULL, "\"blob\"", "missing" },
		{ SH, "files.4.pipe_size", "4", "12 bytes in a pipe of 4", NULL },
		{ SH, "files.4.pipe_id", "\"987654\"", "\"pipe_id\"", "not an integer" },
		{ SH, "files.4.data", "\"0\"", "\"data\"", NULL },
	};
	char name[32], *hex;
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	hex = hex_encode(&si, sizeof(si));
	snprintf(siginfo_signo0, sizeof(siginfo_signo0), "\"%s\"", hex);
	free(hex);

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		json_t *docs = json_deep_copy(g_docs), *v = NULL;
		char what[160];
		char *dir;
		snprintf(what, sizeof(what), "%s: %s = %.40s", cases[i].file, cases[i].path,
			 cases[i].value ? cases[i].value : "(deleted)");
		if (cases[i].value && !(v = json_loads(cases[i].value, JSON_DECODE_ANY, NULL))) {
			unit_check(0, __FILE__, __LINE__, "bad test value %s", cases[i].value);
			json_decref(docs);
			continue;
		}
		if (!unit_check(jpath_set(json_object_get(docs, cases[i].file), cases[i].path, v) == 0, __FILE__,
				__LINE__, "test path %s exists", cases[i].path)) {
			json_decref(docs);
			continue;
		}
		snprintf(name, sizeof(name), "decode-%zu", i);
		dir = fresh(name, docs);
		expect_load_fails(what, dir, cases[i].n1, cases[i].n2);
		/* Every decode error names the file it is in (the fd-table case is
		 * found while reading the core that uses the table). */
		unit_ctx = what;
		fail_clear();
		if (load_and_free(dir) < 0)
			CHECK_HAS(fail_msg(), strcmp(cases[i].n1, "fd entry 10") ? cases[i].file : C0);
		fail_clear();
		unit_ctx = NULL;
		rm_rf(dir);
		json_decref(docs);
	}
}

int main(void)
{
	struct tree t;

	for (size_t i = 0; i < sizeof(page_data); i++)
		page_data[i] = (i * 131 + i / 4096) & 0xff;
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 2;
	}

	test_hex();
	test_json_helpers();
	test_log();
	test_roundtrip();
	test_roundtrip_edges();
	test_roundtrip_non_utf8();
	test_shm_note();

	build_tree(&t);
	g_docs = encode_tree(&t);
	g_pids = pids_of(&t);
	test_image_io(g_docs, g_pids, &t);
	test_image_corrupt();
	test_decode_corrupt();
	json_decref(g_docs);
	json_decref(g_pids);
	free_tree(&t);

	rm_rf(tmpdir);
	return unit_done("unit-image_codec");
}
