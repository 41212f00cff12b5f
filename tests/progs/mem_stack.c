/* mem_stack - the main thread's grows-down stack.
 * Covers: data in 3000 nested recursion frames (about 3 MiB of stack, locals
 * patterned per depth, each frame also remembering its caller's frame
 * address), the dump/restore happening at the deepest point; on unwind after
 * restore every frame verifies its data and links, so the return addresses
 * and saved registers in all frames were restored too.  At the bottom, after
 * restore: the [stack] VMA has the same range, its VmFlags still include "gd"
 * (grows down), and the stack can grow a further 2 MiB below the old start. */
#include "common.h"

#define DEPTH 3000
#define FRAME 1024

static uintptr_t stk_start, stk_end;
static char stk_flags[256];
static long frames_ok, frames_bad;

/* VmFlags line of the smaps entry containing addr. */
static void vmflags_of(uintptr_t addr, char *out, size_t cap)
{
	static char buf[1 << 21];
	out[0] = 0;
	if (t_read_file("/proc/self/smaps", buf, sizeof buf) < 0)
		return;
	int in = 0;
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		unsigned long s, e;
		char c;
		if (sscanf(l, "%lx-%lx %c", &s, &e, &c) == 3 && strchr(l, '-') < strchr(l, ' '))
			in = addr >= s && addr < e;
		else if (in && strncmp(l, "VmFlags:", 8) == 0) {
			size_t n = strcspn(l, "\n");
			if (n >= cap)
				n = cap - 1;
			memcpy(out, l, n);
			out[n] = 0;
			return;
		}
	}
}

/* Use 2 MiB more stack, below everything, and check it holds data. */
static __attribute__((noinline)) long grow(int n)
{
	volatile uint8_t buf[64 * 1024];
	for (size_t i = 0; i < sizeof buf; i += 512)
		buf[i] = (uint8_t)(n + i);
	long r = n ? grow(n - 1) : 0;
	for (size_t i = 0; i < sizeof buf; i += 512)
		if (buf[i] != (uint8_t)(n + i))
			return -1000000;
	return r < 0 ? r : r + 1;
}

/* Touch 128 KiB below the current frame, so that the stack VMA already
 * covers everything the checks below will use. */
static __attribute__((noinline)) void pregrow(void)
{
	volatile uint8_t buf[128 * 1024];
	for (size_t i = 0; i < sizeof buf; i += 1024)
		buf[i] = 1;
}

static __attribute__((noinline)) void at_bottom(void)
{
	uintptr_t s, e;
	pregrow();
	T_SETUP(t_maps_find("[stack]", &s, &e, NULL) == 0);
	stk_start = s;
	stk_end = e;
	vmflags_of((uintptr_t)&s, stk_flags, sizeof stk_flags);
	T_SETUP(strstr(stk_flags, " gd"));

	t_ready();
	t_wait_go();

	uintptr_t s2 = 0, e2 = 0;
	char fl[256];
	T_CHECK(t_maps_find("[stack]", &s2, &e2, NULL) == 0, "no [stack] in /proc/self/maps");
	T_EQ("[stack] start", s2, stk_start);
	T_EQ("[stack] end", e2, stk_end);
	vmflags_of((uintptr_t)&s2, fl, sizeof fl);
	T_CHECK(strstr(fl, " gd") != NULL, "stack VMA lost grows-down: '%s' (before '%s')", fl, stk_flags);
	T_CHECK(strcmp(fl, stk_flags) == 0, "stack VmFlags differ: '%s' vs before '%s'", fl, stk_flags);
	long g = grow(32); /* 33 * 64 KiB */
	T_EQ("stack growth frames", g, 33);
	uintptr_t s3 = 0;
	t_maps_find("[stack]", &s3, NULL, NULL);
	T_CHECK(s3 < stk_start - (1 << 20), "stack did not grow below the restored start (%#lx vs %#lx)",
		(unsigned long)s3, (unsigned long)stk_start);
}

static __attribute__((noinline)) void recurse(int depth, volatile uint8_t *parent)
{
	volatile uint8_t local[FRAME];
	volatile uint8_t *volatile me = local;
	volatile uint8_t *volatile up = parent;
	volatile int d = depth;
	for (int i = 0; i < FRAME; i++)
		local[i] = t_pat(depth, i);
	if (depth + 1 < DEPTH)
		recurse(depth + 1, local);
	else
		at_bottom();
	/* unwind: verify this frame */
	int ok = d == depth && me == local && up == parent;
	long bad = -1;
	for (int i = 0; i < FRAME; i++)
		if (local[i] != t_pat(depth, i)) {
			bad = i;
			break;
		}
	if (parent && parent[0] != t_pat(depth - 1, 0))
		ok = 0;
	if (ok && bad < 0)
		frames_ok++;
	else {
		frames_bad++;
		if (frames_bad <= 10)
			T_CHECK(0, "frame at depth %d corrupted (ok=%d, first bad byte %ld)", depth, ok, bad);
	}
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	recurse(0, NULL);
	T_EQ("frames verified", frames_ok, DEPTH);
	T_EQ("frames corrupted", frames_bad, 0);
	t_finish();
}
