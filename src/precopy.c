/*
 * Pre-copy (see precopy.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "chan.h"
#include "log.h"
#include "precopy.h"
#include "proc.h"
#include "util.h"

/* The PAGEMAP_SCAN ABI (Linux 6.7); Debian 12's headers predate it. */
struct page_region {
	uint64_t start, end, categories;
};
struct pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
#define PAGE_IS_WRITTEN (1 << 1)
#define PAGE_IS_FILE (1 << 2)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#define PFN_MASK ((1ULL << 55) - 1)
/* Never a page's identity (bits 55-61 of one are clear): "nothing usable was sent". */
#define PC_UNSENT (~0ULL)

uint64_t precopy_ident(uint64_t pm)
{
	/* the frame, or the swap slot, and which of the two it is */
	return (pm & PFN_MASK) | (pm & (3ULL << 62));
}
#define RUN_PAGES 64	/* pages per frame: 256 KiB */

static int has_flag(const char *flags, const char *f)
{
	for (const char *p = flags; (p = strstr(p, f)); p += 2)
		if ((p == flags || p[-1] == ' ') && (p[2] == ' ' || !p[2]))
			return 1;
	return 0;
}

struct pc_proc *precopy_proc(struct precopy *pc, pid_t pid)
{
	for (int i = 0; pc && i < pc->np; i++)
		if (pc->p[i].pid == pid)
			return &pc->p[i];
	return NULL;
}

int precopy_covers(const struct pc_proc *p, uint64_t start, uint64_t end)
{
	for (int i = 0; p && i < p->nr; i++)
		if (start >= p->r[i].start && end <= p->r[i].end)
			return 1;
	return 0;
}

int precopy_clean(const struct pc_proc *p, uint64_t va, uint64_t pfn)
{
	uint64_t sent;
	return p && vamap_get(&p->sent, va, &sent) && sent == pfn;
}

/* ---- scanning ---- */

/*
 * Written pages of [start,end) that hold data, protecting them again when wp.
 * Only present or swapped pages match: write-protecting a never-touched
 * page would put a uffd-wp marker in its page table entry (the range is
 * registered with WP_UNPOPULATED, which PAGEMAP_SCAN needs for anonymous
 * memory), and pagemap shows such a marker as a swapped page, so the freeze
 * would carry every untouched page of a sparse mapping.  A page first
 * touched after a round is present and unprotected: written.
 *
 * In a round (wp) the process runs and its VMAs may have changed since the
 * last refresh: a range no longer registered is skipped (it goes whole at
 * the freeze, which sends every page of an unregistered VMA), where
 * PM_SCAN_CHECK_WPASYNC would fail the walk after protecting the pages
 * before that range without reporting them.  At the freeze the layout is
 * fixed and fresh, so the check stays.
 */
static long scan(struct pc_proc *p, uint64_t start, uint64_t end, int wp, struct page_region *vec, long vlen,
		 uint64_t *walk_end)
{
	struct pm_scan_arg a = {
		.size = sizeof(a), .flags = wp ? PM_SCAN_WP_MATCHING : PM_SCAN_CHECK_WPASYNC, .start = start,
		.end = end, .vec = (uintptr_t)vec, .vec_len = vlen, .category_mask = PAGE_IS_WRITTEN,
		.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
		.return_mask = PAGE_IS_WRITTEN | PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_FILE,
	};
	long n = ioctl(p->pmfd, PAGEMAP_SCAN, &a);
	if (n < 0)
		fail_errno("pid %d: PAGEMAP_SCAN", p->pid);
	*walk_end = a.walk_end;
	return n;
}

int precopy_written(struct pc_proc *p, uint64_t start, uint64_t end, uint8_t *bm)
{
	struct page_region vec[256];
	uint64_t pos = start;
	memset(bm, 0, (end - start) / PAGE_SIZE);
	while (pos < end) {
		uint64_t we;
		long n = scan(p, pos, end, 0, vec, 256, &we);
		if (n < 0)
			return -1;
		for (long i = 0; i < n; i++)
			for (uint64_t a = vec[i].start; a < vec[i].end; a += PAGE_SIZE)
				bm[(a - start) / PAGE_SIZE] = 1;
		if (we <= pos)
			break;
		pos = we;
	}
	return 0;
}

/* Sends n pages at a (read into buf after the frame header) as one frame,
 * noting the frames they had before the read. */
static int send_run(struct pc_proc *p, struct chan *ch, uint64_t a, uint64_t n, const uint64_t *pm, uint8_t *buf)
{
	struct {
		uint32_t pid, npages;
		uint64_t vaddr;
	} hdr = { p->pid, n, a };
	memcpy(buf, &hdr, sizeof(hdr));
	if (chan_send(ch, PRE_F_PAGES, buf, sizeof(hdr) + n * PAGE_SIZE, 0) < 0)
		return -1;
	for (uint64_t i = 0; i < n; i++)
		vamap_put(&p->sent, a + i * PAGE_SIZE, precopy_ident(pm[i]));
	return 0;
}

/*
 * Sends the pages of one region (present, anonymous) with their frames noted.
 * The process runs: a page can be unmapped or made unreadable between the
 * scan and the read.  Such a page is not sent, and whatever was sent for its
 * address before is forgotten: the scan protected it again, so it would
 * look unwritten at the freeze, possibly in the same frame as the stale copy.
 */
static int send_region(struct pc_proc *p, struct chan *ch, uint64_t start, uint64_t end, uint8_t *buf,
		       uint64_t *pages)
{
	const size_t hdr = 16;
	uint64_t skipped = 0;
	for (uint64_t a = start; a < end;) {
		uint64_t n = (end - a) / PAGE_SIZE, pm[RUN_PAGES];
		struct iovec l, r;
		if (n > RUN_PAGES)
			n = RUN_PAGES;
		/* frames first, data after: a frame that changes in between is sent again */
		if (pread_full(p->pmfd, pm, n * 8, a / PAGE_SIZE * 8) != (ssize_t)(n * 8))
			return fail_errno("pid %d: cannot read pagemap", p->pid);
		l = (struct iovec){ buf + hdr, n * PAGE_SIZE };
		r = (struct iovec){ (void *)a, n * PAGE_SIZE };
		if (process_vm_readv(p->hpid, &l, 1, &r, 1, 0) == (ssize_t)(n * PAGE_SIZE)) {
			if (send_run(p, ch, a, n, pm, buf) < 0)
				return -1;
			*pages += n;
		} else {
			/* page by page: the readable ones go, the others wait for the freeze */
			for (uint64_t i = 0; i < n; i++) {
				uint64_t va = a + i * PAGE_SIZE;
				l = (struct iovec){ buf + hdr, PAGE_SIZE };
				r = (struct iovec){ (void *)va, PAGE_SIZE };
				if (process_vm_readv(p->hpid, &l, 1, &r, 1, 0) != PAGE_SIZE) {
					vamap_put(&p->sent, va, PC_UNSENT);
					skipped++;
					continue;
				}
				if (send_run(p, ch, va, 1, &pm[i], buf) < 0)
					return -1;
				(*pages)++;
			}
		}
		a += n * PAGE_SIZE;
	}
	if (skipped)
		pr_debug("pid %d: %" PRIu64 " pages of %" PRIx64 "-%" PRIx64 " vanished or became unreadable during the "
			 "round; they wait for the freeze", p->pid, skipped, start, end);
	return 0;
}

/* The ranges still registered (VMAs come and go while the process runs;
 * a scan must not touch one without write-protection). */
int precopy_refresh(struct pc_proc *p)
{
	struct proc_vma *v;
	int n;
	if (proc_vmas(p->hpid, &v, &n) < 0)
		return -1;
	p->nr = 0;
	for (int i = 0; i < n; i++) {
		if (!has_flag(v[i].vmflags, "uw"))
			continue;
		p->r = xrealloc(p->r, (p->nr + 1) * sizeof(*p->r));
		p->r[p->nr++] = (struct pc_range){ v[i].start, v[i].end };
	}
	proc_free_vmas(v, n);
	return 0;
}

int precopy_round(struct precopy *pc, struct chan *ch, uint64_t *pages)
{
	struct page_region vec[512];
	uint8_t *buf = xmalloc(16 + RUN_PAGES * PAGE_SIZE);
	int ret = 0;
	*pages = 0;
	for (int i = 0; i < pc->np && !ret; i++) {
		struct pc_proc *p = &pc->p[i];
		if (precopy_refresh(p) < 0) {
			ret = -1;
			break;
		}
		for (int k = 0; k < p->nr && !ret; k++) {
			uint64_t pos = p->r[k].start;
			while (pos < p->r[k].end && !ret) {
				uint64_t we;
				long n = scan(p, pos, p->r[k].end, 1, vec, 512, &we);
				if (n < 0) {
					ret = -1;
					break;
				}
				for (long j = 0; j < n && !ret; j++)
					if ((vec[j].categories & (PAGE_IS_PRESENT | PAGE_IS_SWAPPED)) &&
					    !(vec[j].categories & PAGE_IS_FILE))
						ret = send_region(p, ch, vec[j].start, vec[j].end, buf, pages);
				if (we <= pos)
					break;
				pos = we;
			}
		}
	}
	free(buf);
	pc->sent_pages += *pages;
	pc->rounds++;
	return ret;
}

void precopy_free(struct precopy *pc)
{
	for (int i = 0; i < pc->np; i++) {
		if (pc->p[i].uffd >= 0)
			close(pc->p[i].uffd);
		if (pc->p[i].pmfd >= 0)
			close(pc->p[i].pmfd);
		free(pc->p[i].r);
		vamap_free(&pc->p[i].sent);
	}
	free(pc->p);
	memset(pc, 0, sizeof(*pc));
}

/* Called for each frozen process by dump.c's precopy_arm: the process
 * makes the userfaultfd, ferry takes it and registers the ranges. */
int precopy_arm_one(struct precopy *pc, pid_t pid, pid_t hpid, int pidfd, long (*rcall)(void *, long, uint64_t, uint64_t),
		    void *rarg)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED };
	struct proc_vma *v;
	struct pc_proc *p;
	char path[64];
	long rfd;
	int n;

	pc->p = xrealloc(pc->p, (pc->np + 1) * sizeof(*pc->p));
	p = &pc->p[pc->np++];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->hpid = hpid;
	p->uffd = p->pmfd = -1;
	rfd = rcall(rarg, SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY, 0);
	if (rfd < 0)
		return fail("pid %d: userfaultfd: %s", pid, strerror((int)-rfd));
	p->uffd = syscall(SYS_pidfd_getfd, pidfd, (int)rfd, 0);
	rcall(rarg, SYS_close, rfd, 0);	/* the process keeps no trace of it */
	if (p->uffd < 0)
		return fail_errno("pid %d: cannot take its userfaultfd", pid);
	if (ioctl(p->uffd, UFFDIO_API, &api) < 0)
		return fail_errno("pid %d: userfaultfd write-protection is not available", pid);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", hpid);
	if ((p->pmfd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return fail_errno("cannot open %s", path);
	if (proc_vmas(hpid, &v, &n) < 0)
		return -1;
	for (int i = 0; i < n; i++)
		if (has_flag(v[i].vmflags, "um") || has_flag(v[i].vmflags, "uw")) {
			/* it uses userfaultfd itself: its memory goes at the freeze */
			proc_free_vmas(v, n);
			close(p->uffd);
			close(p->pmfd);
			pc->np--;
			return 0;
		}
	for (int i = 0; i < n; i++) {
		struct uffdio_register reg = { .range = { v[i].start, v[i].end - v[i].start },
					       .mode = UFFDIO_REGISTER_MODE_WP };
		const char *name = v[i].path;
		int anon = !name[0] || !strcmp(name, "[heap]") || !strcmp(name, "[stack]") || !strncmp(name, "[anon:", 6);
		if (!anon || v[i].perms[1] != 'w' || v[i].perms[3] != 'p')
			continue;
		if (ioctl(p->uffd, UFFDIO_REGISTER, &reg) < 0)
			continue;	/* not for this one: it goes at the freeze */
		p->r = xrealloc(p->r, (p->nr + 1) * sizeof(*p->r));
		p->r[p->nr++] = (struct pc_range){ v[i].start, v[i].end };
	}
	proc_free_vmas(v, n);
	return 0;
}
