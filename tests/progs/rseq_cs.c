/* rseq_cs - a thread that spends its time inside an rseq critical section.
 * Setup: the main thread registers a critical section (on glibc's rseq
 * area) that spins until a flag is set, so a freeze lands inside it; a
 * second thread sets the flag once WORKDIR/go exists.  WORKDIR/cs holds the
 * section's start and end addresses (hex) for the runner, which checks
 * that each image saved the main thread at the abort handler rather than
 * inside the section (the kernel would have aborted it on preemption; a
 * thread resumed inside a section the kernel no longer knows, possibly on
 * another CPU, defeats the point of rseq).
 * Ordinary preemption runs the abort handler too, so the handler notes in
 * which incarnation of the process it ran: /proc/self/stat's start time is
 * new in each restored process.  Run as `rseq_cs WORKDIR N` after N
 * restores (the runner passes its cycle count; N = 0 without dumps).
 * Covers: the image check above; the process is the N-th restored one (its
 * start time differs from the original's); the abort handler ran in each of
 * the N restored incarnations (the restored registration and the section
 * work there: a thread resumed in a section the kernel does not know would
 * never abort) and re-entered the section; the section then ends on go, and
 * the rseq area is still registered afterwards (the kernel keeps its cpu_id
 * up to date; thread_state checks the registration itself). */
#include "common.h"
#include <pthread.h>
#include <sys/rseq.h>

struct rseq_cs_desc {
	uint32_t version, flags;
	uint64_t start_ip, post_commit_offset, abort_ip;
} __attribute__((aligned(32)));

volatile uint64_t rseq_cs_aborts;	/* bumped by the abort handler (asm) */
static volatile int go_flag;
static struct rseq_cs_desc desc;
extern const char rseq_cs_start[], rseq_cs_post[], rseq_cs_abort[];
void rseq_spin(uint64_t *rseq_cs_field, volatile int *flag, struct rseq_cs_desc *d);

/* rseq_spin(&rseq->rseq_cs, &flag, &desc): registers the section, spins in
 * it until *flag, unregisters it.  The abort handler counts and re-enters. */
__asm__(".text\n"
	".globl rseq_spin, rseq_cs_start, rseq_cs_post, rseq_cs_abort\n"
	".hidden rseq_spin, rseq_cs_start, rseq_cs_post, rseq_cs_abort\n"
	".type rseq_spin, @function\n"
	"rseq_spin:\n"
	"1:	movq %rdx, (%rdi)\n"
	"rseq_cs_start:\n"
	"2:	cmpl $0, (%rsi)\n"
	"	je 2b\n"
	"rseq_cs_post:\n"
	"	movq $0, (%rdi)\n"
	"	ret\n"
	"	.long 0x53053053\n"	/* RSEQ_SIG, right before the abort handler */
	"rseq_cs_abort:\n"
	"	lock incq rseq_cs_aborts(%rip)\n"
	/* at entry the stack was 8 mod 16: 3 pushes align it for the call */
	"	pushq %rdi\n"
	"	pushq %rsi\n"
	"	pushq %rdx\n"
	"	call rseq_cs_note\n"
	"	popq %rdx\n"
	"	popq %rsi\n"
	"	popq %rdi\n"
	"	jmp 1b\n"
	".size rseq_spin, .-rseq_spin\n");

/* the process start times (clock ticks after boot) the abort handler ran
 * under, each once */
#define MAXINC 16
static unsigned long long incarnations[MAXINC];
static int nincarnations;

__attribute__((used)) void rseq_cs_note(void)
{
	unsigned long long st = t_stat_field(22);
	for (int i = 0; i < nincarnations; i++)
		if (incarnations[i] == st)
			return;
	if (nincarnations < MAXINC)
		incarnations[nincarnations++] = st;
}

static struct rseq *rseq_area(void)
{
	return (struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
}

static void *watcher(void *arg)
{
	(void)arg;
	t_wait_go();
	go_flag = 1;
	return NULL;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_SETUP(argc == 3);
	int restores = atoi(argv[2]);
	unsigned long long started = t_stat_field(22);
	T_SETUP(__rseq_size > 0);	/* glibc registered rseq for this thread */
	desc.start_ip = (uintptr_t)rseq_cs_start;
	desc.post_commit_offset = (uintptr_t)rseq_cs_post - (uintptr_t)rseq_cs_start;
	desc.abort_ip = (uintptr_t)rseq_cs_abort;
	FILE *f = fopen(t_path("cs"), "w");
	T_SETUP(f != NULL);
	fprintf(f, "%lx %lx\n", (unsigned long)desc.start_ip, (unsigned long)desc.start_ip + desc.post_commit_offset);
	T_SETUP(fclose(f) == 0);
	pthread_t th;
	T_SETUP(pthread_create(&th, NULL, watcher, NULL) == 0);
	uint64_t aborts_at_ready = rseq_cs_aborts;
	t_ready();
	rseq_spin((uint64_t *)&rseq_area()->rseq_cs, &go_flag, &desc);
	T_SETUP(pthread_join(th, NULL) == 0);

	/* every restore put the thread at the abort handler: it counted
	 * (without restores, only preemption would run it: not checked) */
	T_CHECK(!restores || rseq_cs_aborts > aborts_at_ready, "the abort handler never ran (aborts %llu)",
		(unsigned long long)rseq_cs_aborts);
	unsigned long long now = t_stat_field(22);
	T_CHECK(!restores || now != started, "start time %llu as at setup: not a restored process", now);
	int restored_seen = 0;
	for (int i = 0; i < nincarnations; i++)
		restored_seen += incarnations[i] != started;
	T_CHECK(restored_seen >= restores, "the abort handler ran in %d restored incarnations, expected %d",
		restored_seen, restores);
	int in_this = 0;
	for (int i = 0; i < nincarnations; i++)
		in_this |= incarnations[i] == now;
	T_CHECK(!restores || in_this, "the abort handler did not run in this restored process");
	T_EQ("rseq_cs left registered", rseq_area()->rseq_cs, 0);
	T_CHECK((int32_t)rseq_area()->cpu_id >= 0, "rseq cpu_id %d: the area is not registered",
		(int32_t)rseq_area()->cpu_id);
	t_finish();
}
