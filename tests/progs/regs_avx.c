/* regs_avx - CPU register state (GPRs, AVX/AVX-512, opmask, x87, MXCSR).
 * Usage: regs_avx WORKDIR [avx512|avx2]  (default: avx512 if the CPU and OS
 * support AVX-512F, else avx2; fails at once without what it is asked to
 * test: the runner skips it, with the reason, on such a CPU).
 * Covers: an assembly loop keeps known values in zmm0-31 + k0-k7 (avx512) or
 * ymm0-15 (avx2), in rbx, rdx, r8-r10, r12-r15, four values on the x87
 * register stack, and MXCSR with FTZ|DAZ|round-up|PE; it spins doing
 * vpaddd/vpsubd/vpxord pairs (so a dump may catch registers mid-update) and
 * polls WORKDIR/go with raw access() syscalls, sleeping 1 ms in raw
 * nanosleep() syscalls (so dumps hit both user mode and a syscall).  Only
 * rax, rcx, r11, rdi, rsi are used as scratch.  After go every register must
 * hold exactly its value.  Also: fesetround(FE_UPWARD) before the dump is
 * still in force (x87 control word and SSE MXCSR, proven by arithmetic). */
#include "common.h"
#include <cpuid.h>
#include <fenv.h>
#include <stddef.h>

#define OFF_VIN 0
#define OFF_VOUT 2048
#define OFF_KIN 4096
#define OFF_KOUT 4112
#define OFF_GIN 4128
#define OFF_GOUT 4200
#define OFF_X87IN 4272
#define OFF_X87OUT 4336
#define OFF_MXIN 4400
#define OFF_MXOUT 4404
#define OFF_FCWOUT 4408
#define OFF_PATH 4416
#define OFF_TS 4424
#define OFF_OUTER 4440
#define OFF_MAXOUTER 4448
#define OFF_INNER 4456
#define OFF_SPINS 4464
#define OFF_RESULT 4472
#define OFF_SAVEDMX 4480

struct ctx {
	uint8_t vin[32][64];
	uint8_t vout[32][64];
	uint16_t kin[8];
	uint16_t kout[8];
	uint64_t gin[9]; /* rbx rdx r8 r9 r10 r12 r13 r14 r15 */
	uint64_t gout[9];
	uint8_t x87in[4][16];
	uint8_t x87out[4][16];
	uint32_t mxcsr_in;
	uint32_t mxcsr_out;
	uint16_t fcw_out;
	uint16_t pad[3];
	const char *path;
	struct timespec ts;
	uint64_t outer;
	uint64_t max_outer;
	uint64_t inner;
	uint64_t spins;
	int64_t result;
	uint32_t saved_mxcsr;
};
_Static_assert(offsetof(struct ctx, vout) == OFF_VOUT, "off");
_Static_assert(offsetof(struct ctx, kin) == OFF_KIN, "off");
_Static_assert(offsetof(struct ctx, kout) == OFF_KOUT, "off");
_Static_assert(offsetof(struct ctx, gin) == OFF_GIN, "off");
_Static_assert(offsetof(struct ctx, gout) == OFF_GOUT, "off");
_Static_assert(offsetof(struct ctx, x87in) == OFF_X87IN, "off");
_Static_assert(offsetof(struct ctx, x87out) == OFF_X87OUT, "off");
_Static_assert(offsetof(struct ctx, mxcsr_in) == OFF_MXIN, "off");
_Static_assert(offsetof(struct ctx, mxcsr_out) == OFF_MXOUT, "off");
_Static_assert(offsetof(struct ctx, fcw_out) == OFF_FCWOUT, "off");
_Static_assert(offsetof(struct ctx, path) == OFF_PATH, "off");
_Static_assert(offsetof(struct ctx, ts) == OFF_TS, "off");
_Static_assert(offsetof(struct ctx, outer) == OFF_OUTER, "off");
_Static_assert(offsetof(struct ctx, max_outer) == OFF_MAXOUTER, "off");
_Static_assert(offsetof(struct ctx, inner) == OFF_INNER, "off");
_Static_assert(offsetof(struct ctx, spins) == OFF_SPINS, "off");
_Static_assert(offsetof(struct ctx, result) == OFF_RESULT, "off");
_Static_assert(offsetof(struct ctx, saved_mxcsr) == OFF_SAVEDMX, "off");

void regs_loop_512(struct ctx *c);
void regs_loop_avx2(struct ctx *c);

#define S_(x) #x
#define S(x) S_(x)
#define M(off, extra) S(off) "+" extra "(%rbp)"

#define LDZ(n) "\tvmovdqu64 " M(OFF_VIN, "64*" #n) ", %zmm" #n "\n"
#define STZ(n) "\tvmovdqu64 %zmm" #n ", " M(OFF_VOUT, "64*" #n) "\n"
#define LDY(n) "\tvmovdqu " M(OFF_VIN, "64*" #n) ", %ymm" #n "\n"
#define STY(n) "\tvmovdqu %ymm" #n ", " M(OFF_VOUT, "64*" #n) "\n"
#define LDK(n) "\tkmovw " M(OFF_KIN, "2*" #n) ", %k" #n "\n"
#define STK(n) "\tkmovw %k" #n ", " M(OFF_KOUT, "2*" #n) "\n"

#define Z8(m, a) m(a##0) m(a##1) m(a##2) m(a##3) m(a##4) m(a##5) m(a##6) m(a##7)
#define Z0_31(m) m(0) m(1) m(2) m(3) m(4) m(5) m(6) m(7) m(8) m(9) m(10) m(11) m(12) m(13) m(14) m(15) \
	m(16) m(17) m(18) m(19) m(20) m(21) m(22) m(23) m(24) m(25) m(26) m(27) m(28) m(29) m(30) m(31)
#define Y0_15(m) m(0) m(1) m(2) m(3) m(4) m(5) m(6) m(7) m(8) m(9) m(10) m(11) m(12) m(13) m(14) m(15)
#define K0_7(m) m(0) m(1) m(2) m(3) m(4) m(5) m(6) m(7)

#define PROLOGUE(name)                                                        \
	".pushsection .text\n"                                                \
	".globl " #name "\n"                                                  \
	".type " #name ", @function\n"                                        \
	#name ":\n"                                                           \
	"\tpush %rbp\n\tpush %rbx\n\tpush %r12\n\tpush %r13\n"                \
	"\tpush %r14\n\tpush %r15\n"                                          \
	"\tmov %rdi, %rbp\n"                                                  \
	"\tstmxcsr " S(OFF_SAVEDMX) "(%rbp)\n"                                \
	"\tldmxcsr " S(OFF_MXIN) "(%rbp)\n"                                   \
	"\tfldt " M(OFF_X87IN, "48") "\n"                                     \
	"\tfldt " M(OFF_X87IN, "32") "\n"                                     \
	"\tfldt " M(OFF_X87IN, "16") "\n"                                     \
	"\tfldt " M(OFF_X87IN, "0") "\n"

#define LOAD_GPR                                                              \
	"\tmov " M(OFF_GIN, "0") ", %rbx\n"                                   \
	"\tmov " M(OFF_GIN, "8") ", %rdx\n"                                   \
	"\tmov " M(OFF_GIN, "16") ", %r8\n"                                   \
	"\tmov " M(OFF_GIN, "24") ", %r9\n"                                   \
	"\tmov " M(OFF_GIN, "32") ", %r10\n"                                  \
	"\tmov " M(OFF_GIN, "40") ", %r12\n"                                  \
	"\tmov " M(OFF_GIN, "48") ", %r13\n"                                  \
	"\tmov " M(OFF_GIN, "56") ", %r14\n"                                  \
	"\tmov " M(OFF_GIN, "64") ", %r15\n"

#define STORE_GPR                                                             \
	"\tmov %rbx, " M(OFF_GOUT, "0") "\n"                                  \
	"\tmov %rdx, " M(OFF_GOUT, "8") "\n"                                  \
	"\tmov %r8, " M(OFF_GOUT, "16") "\n"                                  \
	"\tmov %r9, " M(OFF_GOUT, "24") "\n"                                  \
	"\tmov %r10, " M(OFF_GOUT, "32") "\n"                                 \
	"\tmov %r12, " M(OFF_GOUT, "40") "\n"                                 \
	"\tmov %r13, " M(OFF_GOUT, "48") "\n"                                 \
	"\tmov %r14, " M(OFF_GOUT, "56") "\n"                                 \
	"\tmov %r15, " M(OFF_GOUT, "64") "\n"

/* outer loop tail: add spins, access(path, F_OK) == 0 -> done (label 3),
 * else nanosleep(&ts, NULL), count, loop or time out */
#define POLL                                                                  \
	"\taddq %rax, " S(OFF_SPINS) "(%rbp)\n"                               \
	"\tmov $21, %eax\n"                                                   \
	"\tmov " S(OFF_PATH) "(%rbp), %rdi\n"                                 \
	"\txor %esi, %esi\n"                                                  \
	"\tsyscall\n"                                                         \
	"\ttest %rax, %rax\n"                                                 \
	"\tjz 3f\n"                                                           \
	"\tmov $35, %eax\n"                                                   \
	"\tlea " S(OFF_TS) "(%rbp), %rdi\n"                                   \
	"\txor %esi, %esi\n"                                                  \
	"\tsyscall\n"                                                         \
	"\tincq " S(OFF_OUTER) "(%rbp)\n"                                     \
	"\tmov " S(OFF_OUTER) "(%rbp), %rax\n"                                \
	"\tcmp " S(OFF_MAXOUTER) "(%rbp), %rax\n"                             \
	"\tjb 1b\n"                                                           \
	"\tmovq $1, " S(OFF_RESULT) "(%rbp)\n"                                \
	"\tjmp 4f\n"                                                          \
	"3:\n"                                                                \
	"\tmovq $0, " S(OFF_RESULT) "(%rbp)\n"                                \
	"4:\n"

#define EPILOGUE(name)                                                        \
	STORE_GPR                                                             \
	"\tstmxcsr " S(OFF_MXOUT) "(%rbp)\n"                                  \
	"\tfnstcw " S(OFF_FCWOUT) "(%rbp)\n"                                  \
	"\tfstpt " M(OFF_X87OUT, "0") "\n"                                    \
	"\tfstpt " M(OFF_X87OUT, "16") "\n"                                   \
	"\tfstpt " M(OFF_X87OUT, "32") "\n"                                   \
	"\tfstpt " M(OFF_X87OUT, "48") "\n"                                   \
	"\tldmxcsr " S(OFF_SAVEDMX) "(%rbp)\n"                                \
	"\tvzeroupper\n"                                                      \
	"\tpop %r15\n\tpop %r14\n\tpop %r13\n\tpop %r12\n"                    \
	"\tpop %rbx\n\tpop %rbp\n"                                            \
	"\tret\n"                                                             \
	".size " #name ", .-" #name "\n"                                      \
	".popsection\n"

__asm__(PROLOGUE(regs_loop_512)
	Z0_31(LDZ)
	K0_7(LDK)
	LOAD_GPR
	"1:\n"
	"\tmov " S(OFF_INNER) "(%rbp), %rax\n"
	"\tmov %rax, %rcx\n"
	"2:\n"
	"\tvpaddd %zmm1, %zmm0, %zmm0\n"
	"\tvpaddd %zmm17, %zmm16, %zmm16\n"
	"\tvpxord %zmm31, %zmm30, %zmm30\n"
	"\tvpaddd %zmm3, %zmm2, %zmm2{%k1}\n"
	"\tvpaddq %zmm21, %zmm20, %zmm20{%k2}\n"
	"\tadd %r13, %r12\n"
	"\tvpsubd %zmm1, %zmm0, %zmm0\n"
	"\tvpsubd %zmm17, %zmm16, %zmm16\n"
	"\tvpxord %zmm31, %zmm30, %zmm30\n"
	"\tvpsubd %zmm3, %zmm2, %zmm2{%k1}\n"
	"\tvpsubq %zmm21, %zmm20, %zmm20{%k2}\n"
	"\tsub %r13, %r12\n"
	"\tdec %rcx\n"
	"\tjnz 2b\n"
	POLL
	Z0_31(STZ)
	K0_7(STK)
	EPILOGUE(regs_loop_512));

__asm__(PROLOGUE(regs_loop_avx2)
	Y0_15(LDY)
	LOAD_GPR
	"1:\n"
	"\tmov " S(OFF_INNER) "(%rbp), %rax\n"
	"\tmov %rax, %rcx\n"
	"2:\n"
	"\tvpaddd %ymm1, %ymm0, %ymm0\n"
	"\tvpaddq %ymm9, %ymm8, %ymm8\n"
	"\tvpxor %ymm15, %ymm14, %ymm14\n"
	"\tadd %r13, %r12\n"
	"\tvpsubd %ymm1, %ymm0, %ymm0\n"
	"\tvpsubq %ymm9, %ymm8, %ymm8\n"
	"\tvpxor %ymm15, %ymm14, %ymm14\n"
	"\tsub %r13, %r12\n"
	"\tdec %rcx\n"
	"\tjnz 2b\n"
	POLL
	Y0_15(STY)
	EPILOGUE(regs_loop_avx2));

static int have_avx2(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX))
		return 0;
	unsigned lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	if ((lo & 6) != 6)
		return 0;
	return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_AVX2);
}

static int have_avx512f(void)
{
	unsigned a, b, c, d;
	if (!have_avx2())
		return 0;
	unsigned lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	if ((lo & 0xe6) != 0xe6) /* SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM */
		return 0;
	return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_AVX512F);
}

static void hexdump(const char *what, int idx, const uint8_t *got, const uint8_t *exp, int n)
{
	char g[200], e[200];
	for (int i = 0; i < n && i < 64; i++) {
		sprintf(g + 2 * i, "%02x", got[n - 1 - i]);
		sprintf(e + 2 * i, "%02x", exp[n - 1 - i]);
	}
	T_CHECK(0, "%s%d mismatch:\n  got      %s\n  expected %s", what, idx, g, e);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	int use512 = have_avx512f();
	if (argc > 2 && strcmp(argv[2], "avx2") == 0)
		use512 = 0;
	if (argc > 2 && strcmp(argv[2], "avx512") == 0 && !use512) {
		t_note("AVX-512F requested but not available");
		return 1;
	}
	if (!have_avx2()) {
		/* the runner skips this test on such a CPU: a pass would claim
		 * what was not tested */
		t_note("CPU/OS without AVX2: nothing to test");
		return 1;
	}

	static struct ctx c;
	for (int r = 0; r < 32; r++)
		t_fill(c.vin[r], 64, 0x1000 + r);
	for (int k = 0; k < 8; k++)
		c.kin[k] = (uint16_t)(0x1111 * (k + 1) ^ 0xa5c3);
	for (int g = 0; g < 9; g++)
		c.gin[g] = 0x0123456789abcdefULL * (g + 3) ^ ((uint64_t)g << 56);
	const long double x87v[4] = { 3.14159265358979323846264338327950288L, -2.25L, 1e300L * 1e300L,
				      1.0L / 3.0L };
	memset(c.x87in, 0, sizeof c.x87in);
	for (int i = 0; i < 4; i++)
		memcpy(c.x87in[i], &x87v[i], 10);

	T_SETUP(fesetround(FE_UPWARD) == 0);
	uint32_t mx;
	__asm__ volatile("stmxcsr %0" : "=m"(mx));
	T_SETUP((mx & 0x6000) == 0x4000);
	c.mxcsr_in = mx | 0x8000 /* FTZ */ | 0x0040 /* DAZ */ | 0x0020 /* PE flag */;
	uint16_t fcw_before;
	__asm__ volatile("fnstcw %0" : "=m"(fcw_before));
	T_SETUP((fcw_before & 0x0c00) == 0x0800); /* RC = up */

	c.path = t_path("go");
	c.ts.tv_sec = 0;
	c.ts.tv_nsec = 1000000;
	c.inner = 500000;
	c.max_outer = 400000;

	t_note("using %s", use512 ? "avx512 (zmm0-31, k0-7)" : "avx2 (ymm0-15)");
	t_ready();
	int64_t t0 = t_now_ns(CLOCK_MONOTONIC);
	if (use512)
		regs_loop_512(&c);
	else
		regs_loop_avx2(&c);
	int64_t t1 = t_now_ns(CLOCK_MONOTONIC);

	/* --- verify ------------------------------------------------------- */
	T_EQ("loop result (0 = saw go, 1 = timed out)", c.result, 0);
	t_note("%llu polls, %llu spin iterations in %.2f s", (unsigned long long)c.outer,
	       (unsigned long long)c.spins, (t1 - t0) / 1e9);
	int nv = use512 ? 32 : 16, vlen = use512 ? 64 : 32;
	for (int r = 0; r < nv; r++)
		if (memcmp(c.vout[r], c.vin[r], vlen) != 0)
			hexdump(use512 ? "zmm" : "ymm", r, c.vout[r], c.vin[r], vlen);
	if (use512)
		for (int k = 0; k < 8; k++)
			T_CHECK(c.kout[k] == c.kin[k], "k%d: got %#x expected %#x", k, c.kout[k], c.kin[k]);
	static const char *const gname[9] = { "rbx", "rdx", "r8", "r9", "r10", "r12", "r13", "r14", "r15" };
	for (int g = 0; g < 9; g++)
		T_CHECK(c.gout[g] == c.gin[g], "%s: got %#llx expected %#llx", gname[g],
			(unsigned long long)c.gout[g], (unsigned long long)c.gin[g]);
	for (int i = 0; i < 4; i++)
		if (memcmp(c.x87out[i], c.x87in[i], 10) != 0)
			hexdump("st", i, c.x87out[i], c.x87in[i], 10);
	T_CHECK(c.mxcsr_out == c.mxcsr_in, "MXCSR: got %#x expected %#x", c.mxcsr_out, c.mxcsr_in);
	T_CHECK(c.fcw_out == fcw_before, "x87 control word: got %#x expected %#x", c.fcw_out, fcw_before);

	/* rounding mode in force in C code after restore */
	T_EQ("fegetround() == FE_UPWARD", fegetround(), FE_UPWARD);
	volatile double one = 1.0, three = 3.0;
	double q = one / three;
	uint64_t qb;
	memcpy(&qb, &q, 8);
	T_CHECK(qb == 0x3FD5555555555556ULL, "SSE 1.0/3.0 = %#llx, round-up gives 0x3fd5555555555556",
		(unsigned long long)qb);
	volatile long double lone = 1.0L, lthree = 3.0L;
	long double up = lone / lthree;
	fesetround(FE_DOWNWARD);
	long double down = lone / lthree;
	fesetround(FE_UPWARD);
	T_CHECK(up > down, "x87 rounding: 1/3 rounded up (%La) not above rounded down (%La)", up, down);
	t_finish();
}
