/*
 * Pre-copy: sending a process tree's memory while it still runs, so that
 * the freeze only has to carry what changed since.
 *
 * Dirty tracking uses userfaultfd write-protection in asynchronous mode
 * (the kernel resolves the faults itself and only marks the pages written)
 * and the PAGEMAP_SCAN ioctl, which reports written pages and protects them
 * again in one go; this kernel has no soft-dirty bits.  Each round scans and
 * re-protects first and reads after, so a write during the read shows in the
 * next round.  The page frame of every page sent is remembered: at the
 * freeze a page is left out only if it was not written since and still sits
 * in the same frame at the same address (a page moved by mremap, swapped,
 * merged or compacted is simply sent again).
 *
 * Only pages that hold data (present or swapped) are protected and sent: a
 * never-touched page stays untouched, and travels as nothing.  VMAs may
 * split, merge, move or vanish between rounds: the image built at the
 * freeze names the pages the destination may take from its store, by
 * address, from the VMAs as they are then.
 *
 * Limits: private anonymous memory only (heap, stack, anonymous mappings);
 * everything else goes at the freeze.  A process that already uses
 * userfaultfd on a range keeps that range out of pre-copy.
 */
#ifndef FERRY_PRECOPY_H
#define FERRY_PRECOPY_H

#include <stdint.h>
#include <sys/types.h>

#include "vamap.h"

struct chan;
struct tree;

/* Frame type of pre-copied pages: {u32 pid, u32 npages, u64 vaddr} + data. */
#define PRE_F_PAGES 20

struct pc_range {
	uint64_t start, end;
};

struct pc_proc {
	pid_t pid;		/* as the tree sees it: in frames and the image */
	pid_t hpid;		/* in ferry's PID namespace: /proc, process_vm_readv */
	int uffd, pmfd;
	struct pc_range *r;	/* registered with write-protection */
	int nr;
	struct vamap sent;	/* vaddr -> frame of the copy sent */
};

struct precopy {
	struct pc_proc *p;
	int np;
	uint64_t sent_pages, rounds;
};

/* Arms tracking in every process of the tree rooted at root (each is
 * frozen for a moment), and leaves them running. */
int precopy_arm(struct precopy *pc, pid_t root);
/* One round: pages written since the last (all pages the first time) go
 * into the channel; *pages says how many. */
int precopy_round(struct precopy *pc, struct chan *ch, uint64_t *pages);
/* At the freeze: whether the page at vaddr of pid can be left out (not
 * written since it was sent, same frame). */
struct pc_proc *precopy_proc(struct precopy *pc, pid_t pid);
int precopy_covers(const struct pc_proc *p, uint64_t start, uint64_t end);
/* Pages of [start,end) written since the last round: bitmap (1 = written). */
int precopy_written(struct pc_proc *p, uint64_t start, uint64_t end, uint8_t *bitmap);
int precopy_clean(const struct pc_proc *p, uint64_t vaddr, uint64_t ident);
/* A page's identity from its pagemap entry: frame or swap slot. */
uint64_t precopy_ident(uint64_t pagemap_entry);
int precopy_refresh(struct pc_proc *p);
/* dump.c calls this for each process while it is frozen; rcall runs a
 * syscall inside it. */
int precopy_arm_one(struct precopy *pc, pid_t pid, pid_t hpid, int pidfd, long (*rcall)(void *, long, uint64_t, uint64_t),
		    void *rarg);
/* Ends tracking (closing the userfaultfd unregisters every range). */
void precopy_free(struct precopy *pc);

#endif
