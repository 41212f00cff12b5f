/*
 * Memory: the address space of a process.
 *
 * Dump: /proc/PID/smaps lists the VMAs; /proc/PID/pagemap says which pages
 * hold data — present or swapped, and anonymous (bit 61 clear), which for a
 * private file mapping means the page was copied-on-write.  Never-touched
 * pages and file pages that are still the file's are not data and are not
 * stored.  Shared memory objects (shared anonymous, memfd) belong to the
 * tree, not to one process: shmem.c stores them once.  Pages are read with
 * process_vm_readv into a reused buffer, hashed while in cache and written
 * to the page file.
 *
 * Restore: with remote syscalls the new process unmaps ferry's own memory,
 * moves its [vvar]/[vvar_vclock]/[vdso] to the saved addresses (the vDSO must
 * be byte-identical: same kernel), maps every VMA at its address (files and
 * shared objects through fds the process got before it stopped), writes the
 * pages with process_vm_writev from a reused buffer the page file is read
 * into (and hashed in, so each byte is read once), sets the final
 * protections, and sets brk, arg/env, auxv and exe with PR_SET_MM_MAP.
 *
 * Limits: SysV shm, deleted mapped files, device mappings (VM_IO/VM_PFNMAP)
 * and userfaultfd-registered ranges are refused at dump.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>

#include "image.h"
#include "log.h"
#include "precopy.h"
#include "pstate.h"
#include "util.h"

#define PM_PRESENT (1ULL << 63)
#define PM_SWAP (1ULL << 62)
#define PM_FILE (1ULL << 61)
#define TASK_SIZE_MAX 0x7ffffffff000ULL
#define MMAP_MIN 0x10000ULL
#define IOV_BATCH 1024
/* Page I/O goes through one buffer of this size, reused: small enough to
 * stay in cache, and touched (faulted in) once, not per file or process. */
#define CHUNK (512UL << 10)
#define MADV_HG_BIT 2	/* madv_flags[] index of "hg" */

static const struct {
	const char *flag;
	int advice;
} madv_flags[] = {
	{ "dc", MADV_DONTFORK }, { "dd", MADV_DONTDUMP }, { "hg", MADV_HUGEPAGE },
	{ "nh", MADV_NOHUGEPAGE }, { "wf", MADV_WIPEONFORK }, { "mg", MADV_MERGEABLE },
};

/*
 * VmFlags that come back through how a VMA is mapped or locked rather than
 * through madvise: mlock/mlock2/MAP_LOCKED ("lo", with MLOCK_ONFAULT "lf"),
 * MAP_DROPPABLE ("dp"), MAP_NORESERVE ("nr") and mseal ("sl").
 */
#define MF_LOCKED 1u
#define MF_ONFAULT 2u
#define MF_DROPPABLE 4u
#define MF_NORESERVE 8u
#define MF_SEALED 16u
static const char *const map_vmflags[] = { "lo", "lf", "dp", "nr", "sl" };
#ifndef SYS_mseal
#define SYS_mseal 462
#endif

#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif
#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif
#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#define PR_GET_MEMORY_MERGE 68
#endif

static const char *const kind_names[] = {
	[VMA_ANON] = "anon", [VMA_FILE_PRIVATE] = "file-private", [VMA_FILE_SHARED] = "file-shared",
	[VMA_SHMEM] = "shared-anon", [VMA_SYSV] = "sysv", [VMA_VDSO] = "vdso", [VMA_VVAR] = "vvar",
	[VMA_VVAR_VCLOCK] = "vvar_vclock", [VMA_VSYSCALL] = "vsyscall",
};

static int has_vmflag(const char *flags, const char *f)
{
	size_t n = strlen(f);
	for (const char *p = flags; (p = strstr(p, f)); p += n)
		if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0))
			return 1;
	return 0;
}

static int dumps_pages(const struct vma *v)
{
	return v->kind == VMA_ANON || v->kind == VMA_FILE_PRIVATE;
}

static int is_special(const struct vma *v)
{
	return v->kind >= VMA_VDSO;
}

static uint64_t mtime_ns(const struct stat *st)
{
	return (uint64_t)st->st_mtim.tv_sec * 1000000000ULL + st->st_mtim.tv_nsec;
}

/* Adds (or finds) the mapped file `path`, checking it is the file mapped. */
static int add_mapped_file(struct proc_state *ps, const char *path, const struct stat *st, int writable, int shm)
{
	struct mm_state *mm = &ps->mm;
	for (int i = 0; i < mm->nfiles; i++)
		if (shm >= 0 ? mm->files[i].shm == shm : !strcmp(mm->files[i].path, path)) {
			mm->files[i].writable |= writable;
			return i;
		}
	mm->files = xrealloc(mm->files, (mm->nfiles + 1) * sizeof(*mm->files));
	mm->files[mm->nfiles] = (struct mapped_file){ .path = xstrdup(path), .size = st->st_size,
						      .mtime_ns = mtime_ns(st), .writable = writable, .fd = -1,
						      .shm = shm };
	return mm->nfiles++;
}

/* A shared memory object (shared anonymous, memfd) mapped by v. */
static int map_shm(struct proc_state *ps, struct vma *v, const char *p)
{
	char mf[128];
	struct stat st;
	int fd, id;
	snprintf(mf, sizeof(mf), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, ps->hpid, v->start, v->end);
	fd = open(mf, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail_errno("pid %d: cannot open the shared memory mapped at %" PRIx64 " (%s)", ps->pid, v->start, p);
	if (fstat(fd, &st) < 0 || shm_note(ps->tree, fd, p, &id) < 0) {
		close(fd);
		return fail_errno("pid %d: cannot stat the shared memory mapped at %" PRIx64, ps->pid, v->start);
	}
	close(fd);
	v->file = add_mapped_file(ps, p, &st, 0, id);
	return 0;
}

/* An io_setup context's ring is a mapping of a deleted file, "/[aio]":
 * named for what it is rather than refused as a deleted file. */
static int aio_refuse(const struct proc_state *ps, const struct vma *v)
{
	return refuse(ps->pid, "VMA %" PRIx64 "-%" PRIx64 " is the ring of an async I/O context (io_setup), "
			       "which ferry cannot checkpoint yet", v->start, v->end);
}

static int classify(struct proc_state *ps, const struct proc_vma *pv, struct vma *v)
{
	const char *p = pv->path;
	v->start = pv->start;
	v->end = pv->end;
	v->pgoff = pv->pgoff / PAGE_SIZE;
	v->prot = (pv->perms[0] == 'r' ? PROT_READ : 0) | (pv->perms[1] == 'w' ? PROT_WRITE : 0) |
		  (pv->perms[2] == 'x' ? PROT_EXEC : 0);
	v->shared = pv->perms[3] == 's';
	v->growsdown = has_vmflag(pv->vmflags, "gd");
	v->name = xstrdup(p);
	v->file = -1;
	for (size_t i = 0; i < ARRAY_SIZE(madv_flags); i++)
		if (has_vmflag(pv->vmflags, madv_flags[i].flag))
			v->madv |= 1u << i;
	for (size_t i = 0; i < ARRAY_SIZE(map_vmflags); i++)
		if (has_vmflag(pv->vmflags, map_vmflags[i]))
			v->mflags |= 1u << i;
	if ((v->mflags & MF_SEALED) && p[0] == '[' && (!strncmp(p, "[vdso]", 6) || !strncmp(p, "[vvar", 5) ||
						     !strcmp(p, "[vsyscall]")))
		return refuse(ps->pid, "VMA %" PRIx64 "-%" PRIx64 " (%s) is sealed (mseal); ferry moves these mappings "
			      "and cannot carry the seal", v->start, v->end, p);
	if ((v->mflags & MF_DROPPABLE) && (v->shared || p[0] == '/'))
		return refuse(ps->pid, "VMA %" PRIx64 "-%" PRIx64 " (%s) is droppable but not private anonymous memory",
			      v->start, v->end, p);
	if (!strcmp(p, "[vdso]") || !strcmp(p, "[vvar]") || !strcmp(p, "[vvar_vclock]") || !strcmp(p, "[vsyscall]"))
		;	/* the kernel's own special mappings: moved, never copied */
	else if (has_vmflag(pv->vmflags, "io") || has_vmflag(pv->vmflags, "pf"))
		return refuse(ps->pid, "VMA %" PRIx64 "-%" PRIx64 " (%s) maps device memory, which cannot be checkpointed",
			      v->start, v->end, p);
	else if (has_vmflag(pv->vmflags, "um") ||
		 (has_vmflag(pv->vmflags, "uw") && !precopy_proc(ps->tree->precopy, ps->pid)))
		return refuse(ps->pid, "VMA %" PRIx64 "-%" PRIx64 " is registered with userfaultfd (not supported)",
			      v->start, v->end);
	if (!strcmp(p, "[vdso]"))
		v->kind = VMA_VDSO;
	else if (!strcmp(p, "[vvar]"))
		v->kind = VMA_VVAR;
	else if (!strcmp(p, "[vvar_vclock]"))
		v->kind = VMA_VVAR_VCLOCK;
	else if (!strcmp(p, "[vsyscall]"))
		v->kind = VMA_VSYSCALL;
	else if (v->shared && (!strcmp(p, "/dev/zero (deleted)") || !strncmp(p, "[anon_shmem:", 12) ||
			       !strncmp(p, "/memfd:", 7))) {
		v->kind = VMA_SHMEM;
		return map_shm(ps, v, p);
	} else if (!strncmp(p, "/memfd:", 7)) {
		v->kind = VMA_FILE_PRIVATE;	/* private view of a memfd: its COW'ed pages are dumped */
		return map_shm(ps, v, p);
	} else if (!strncmp(p, "/SYSV", 5)) {
		v->kind = VMA_SYSV;
		if (map_shm(ps, v, p) < 0)
			return -1;
		if (v->pgoff || PAGE_ALIGN_UP(ps->tree->shm[ps->mm.files[v->file].shm].size) != v->end - v->start)
			return refuse(ps->pid, "VMA %" PRIx64 "-%" PRIx64 " maps only part of SysV segment %s; ferry "
				      "carries whole attaches only", v->start, v->end, p);
		return 0;
	}
	else if (p[0] == '/') {
		char mf[128], rp[4200];
		struct stat st, st2;
		size_t plen = strlen(p);
		if (!strncmp(p, "/[aio]", 6))
			return aio_refuse(ps, v);
		if (plen > 10 && !strcmp(p + plen - 10, " (deleted)"))
			return refuse(ps->pid, "VMA %" PRIx64 "-%" PRIx64 " maps %s, a file that was deleted (not supported)",
				      v->start, v->end, p);
		snprintf(mf, sizeof(mf), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, ps->hpid, v->start, v->end);
		if (stat(mf, &st) < 0)
			return fail_errno("pid %d: cannot stat the file mapped at %" PRIx64 " (%s)", ps->pid, v->start, p);
		/* The path must lead to the mapped file itself, or restore would map another one. */
		snprintf(rp, sizeof(rp), "%s%s", ps->root_prefix, p);
		if (stat(rp, &st2) < 0 || st2.st_ino != st.st_ino || st2.st_dev != st.st_dev)
			return refuse(ps->pid, "VMA %" PRIx64 "-%" PRIx64 " maps %s, but that path now names another file",
				      v->start, v->end, p);
		if (S_ISCHR(st.st_mode) && !(major(st.st_rdev) == 1 && minor(st.st_rdev) == 5))
			return refuse(ps->pid, "VMA %" PRIx64 "-%" PRIx64 " maps device %s (not supported)", v->start,
				      v->end, p);
		v->kind = v->shared ? VMA_FILE_SHARED : VMA_FILE_PRIVATE;
		v->file = add_mapped_file(ps, p, &st, v->shared && has_vmflag(pv->vmflags, "mw"), -1);
	} else if (p[0] == '[' && strcmp(p, "[heap]") && strcmp(p, "[stack]") && strncmp(p, "[anon:", 6))
		return refuse(ps->pid, "VMA %" PRIx64 "-%" PRIx64 " is %s, which ferry does not know", v->start,
			      v->end, p);
	else if (v->shared)
		return refuse(ps->pid, "VMA %" PRIx64 "-%" PRIx64 " (%s) is a shared mapping ferry does not know",
			      v->start, v->end, p);
	else
		v->kind = VMA_ANON;
	return 0;
}

static void add_run(struct mm_state *mm, int *cap, uint64_t vaddr, uint64_t npages)
{
	if (mm->nruns && mm->runs[mm->nruns - 1].vaddr + mm->runs[mm->nruns - 1].npages * PAGE_SIZE == vaddr) {
		mm->runs[mm->nruns - 1].npages += npages;
	} else {
		if (mm->nruns == *cap)
			mm->runs = xrealloc(mm->runs, (*cap = *cap ? *cap * 2 : 64) * sizeof(*mm->runs));
		mm->runs[mm->nruns++] = (struct page_run){ vaddr, npages };
	}
	mm->npages += npages;
}

/* Which pages of v hold data, from pagemap. */
/* Pages already pre-copied and not written since: left to the store. */
static void add_pre(struct mm_state *mm, int *cap, uint64_t vaddr)
{
	if (mm->npre && mm->pre[mm->npre - 1].vaddr + mm->pre[mm->npre - 1].npages * PAGE_SIZE == vaddr) {
		mm->pre[mm->npre - 1].npages++;
	} else {
		if (mm->npre == *cap)
			mm->pre = xrealloc(mm->pre, (*cap = *cap ? *cap * 2 : 64) * sizeof(*mm->pre));
		mm->pre[mm->npre++] = (struct page_run){ vaddr, 1 };
	}
	mm->npre_pages++;
}

static int scan_pagemap(struct proc_state *ps, int pmfd, const struct vma *v, int *cap)
{
	uint64_t n = (v->end - v->start) / PAGE_SIZE, done = 0;
	uint64_t buf[4096];
	struct pc_proc *pc = precopy_proc(ps->tree->precopy, ps->pid);
	uint8_t *written = NULL;
	if (pc && precopy_covers(pc, v->start, v->end)) {
		written = xmalloc(n);
		if (precopy_written(pc, v->start, v->end, written) < 0) {
			free(written);
			return -1;
		}
	}
	while (done < n) {
		uint64_t cnt = n - done < ARRAY_SIZE(buf) ? n - done : ARRAY_SIZE(buf);
		off_t off = (v->start / PAGE_SIZE + done) * 8;
		if (pread_full(pmfd, buf, cnt * 8, off) != (ssize_t)(cnt * 8))
			return fail_errno("pid %d: cannot read pagemap at %" PRIx64, ps->pid, v->start + done * PAGE_SIZE);
		for (uint64_t i = 0; i < cnt; i++) {
			uint64_t e = buf[i], va = v->start + (done + i) * PAGE_SIZE;
			if (!(e & (PM_PRESENT | PM_SWAP)) || (e & PM_FILE))
				continue;
			if (written && !written[done + i] && precopy_clean(pc, va, precopy_ident(e)))
				add_pre(&ps->mm, &ps->mm.pre_cap, va);
			else
				add_run(&ps->mm, cap, va, 1);
		}
		done += cnt;
	}
	free(written);
	return 0;
}

static const struct vma *vma_of(const struct mm_state *mm, uint64_t addr)
{
	for (int i = 0; i < mm->nvmas; i++)
		if (addr >= mm->vmas[i].start && addr < mm->vmas[i].end)
			return &mm->vmas[i];
	return NULL;
}

/*
 * Whether npages pages from va lie in VMAs whose pages the image carries,
 * without a gap.  A run may cross from one such VMA into the next: pages are
 * indexed by address, and VMAs split and merge (mprotect of a part, a heap
 * grown after fork next to the inherited one) without their pages moving.
 */
static int run_fits(const struct mm_state *mm, uint64_t va, uint64_t npages)
{
	uint64_t end;
	if (va % PAGE_SIZE || !npages || npages > (TASK_SIZE_MAX - va) / PAGE_SIZE)
		return 0;
	for (end = va + npages * PAGE_SIZE; va < end;) {
		const struct vma *v = vma_of(mm, va);
		if (!v || !dumps_pages(v))
			return 0;
		va = v->end;
	}
	return 1;
}

/* ---- copy-on-write sharing after fork ----
 *
 * A page a process and its child still share since a fork (the same frame
 * in both pagemaps, written by neither) is stored once and shared again at
 * restore, so a forked server does not double its memory.
 *
 * Dump (parents before children): a page of X whose frame X's parent maps
 * at the same address, and which the parent recorded as shared, goes to
 * X's inh list and is not stored again; a page whose frame one of X's
 * children maps at the same address goes to X's cow list and to
 * cow-X.img instead of the page file.
 *
 * Restore: X, still running ferry's code and before it forks its children
 * (mem_cow_place), maps each of its VMAs holding such pages (private
 * anonymous, at its address) and fills the shared pages, keeping what it
 * inherited of its parent's such mappings where they lie in these VMAs,
 * after dropping the pages it does not share with the parent.  Its children inherit the mapping with fork,
 * frames shared.  It marks each such VMA in mm.cow_placed, an array ferry
 * allocated before any process was forked, so the tracer reads the marks
 * at the same address in the process's copy of ferry's memory; the tracer
 * keeps these mappings instead of mapping the VMA anew and writes only the
 * process's own pages into them.  A VMA that could not be placed (ferry's
 * own memory was at that address) is mapped as usual and its shared pages
 * written from the image: the content is right, only the sharing is lost.
 *
 * Limits: private anonymous VMAs that do not grow down; a page at the same
 * address in parent and child (not moved by mremap since); between a
 * process and its parent (not two siblings whose parent dropped the page);
 * not with the pre-copy of migrate; reading frames needs CAP_SYS_ADMIN.
 */
#define PM_EXCLUSIVE (1ULL << 56)
#define PM_PFN(e) ((e) & ((1ULL << 55) - 1))

static int cow_eligible(const struct vma *v)
{
	return v->kind == VMA_ANON && !v->shared && !v->growsdown && !(v->mflags & MF_DROPPABLE);
}

/* Index of the run holding page va in sorted runs, or -1. */
static int run_find(const struct page_run *r, int n, uint64_t va)
{
	int lo = 0, hi = n - 1;
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		if (va < r[mid].vaddr)
			hi = mid - 1;
		else if (va >= r[mid].vaddr + r[mid].npages * PAGE_SIZE)
			lo = mid + 1;
		else
			return mid;
	}
	return -1;
}

/* Appends page va; a run never spans two VMAs (from: the first run of the
 * current VMA), so that each run can be placed with its VMA. */
static void run_add(struct page_run **r, int *n, int *cap, int from, uint64_t va)
{
	if (*n > from && (*r)[*n - 1].vaddr + (*r)[*n - 1].npages * PAGE_SIZE == va) {
		(*r)[*n - 1].npages++;
		return;
	}
	if (*n == *cap)
		*r = xrealloc(*r, (*cap = *cap ? *cap * 2 : 64) * sizeof(**r));
	(*r)[(*n)++] = (struct page_run){ va, 1 };
}

static const struct proc_state *parent_of(const struct tree *t, const struct proc_state *ps)
{
	if (ps == &t->procs[0])
		return NULL;
	for (int i = 0; i < t->nprocs; i++)
		if (t->procs[i].pid == ps->ppid && !t->procs[i].zombie)
			return &t->procs[i];
	return NULL;
}

/* pid's pagemap entries over [start, end) (zeros where it maps nothing). */
static uint64_t *read_pagemap(pid_t pid, uint64_t start, uint64_t end)
{
	uint64_t n = (end - start) / PAGE_SIZE, *pm = xzalloc(n * 8);
	char path[64];
	int fd;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || pread_full(fd, pm, n * 8, start / PAGE_SIZE * 8) < 0)
		memset(pm, 0, n * 8);	/* a relative that is gone shares nothing */
	if (fd >= 0)
		close(fd);
	return pm;
}

/* The frame of the kernel's shared zero page (what a never-written page
 * that was read maps), found in ferry's own memory; 0 if unknown. */
static uint64_t zero_pfn(void)
{
	static uint64_t z = ~0ULL;
	if (z == ~0ULL) {
		volatile uint8_t *p = mmap(NULL, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uint64_t e = 0;
		int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		z = 0;
		if (p != MAP_FAILED)
			(void)p[0];	/* a read through a volatile pointer maps the zero page */
		if (p != MAP_FAILED && fd >= 0 &&
		    pread_full(fd, &e, 8, (uintptr_t)p / PAGE_SIZE * 8) == 8 && (e & PM_PRESENT))
			z = PM_PFN(e);
		if (fd >= 0)
			close(fd);
		if (p != MAP_FAILED)
			munmap((void *)p, PAGE_SIZE);
	}
	return z;
}

/* The same anonymous frame; not the zero page, which every process maps
 * and which each gets back by itself. */
static int same_frame(uint64_t a, uint64_t b)
{
	return (a & PM_PRESENT) && (b & PM_PRESENT) && !(a & PM_FILE) && !(b & PM_FILE) && PM_PFN(a) &&
	       PM_PFN(a) == PM_PFN(b) && PM_PFN(a) != zero_pfn();
}

/*
 * Takes out of the page runs the pages X shares with its parent (inh) or
 * with a child (cow).  Runs after the page scan so that the scan itself is
 * the same with or without relatives.
 */
static int cow_split(struct proc_state *ps, int pmfd)
{
	struct mm_state *mm = &ps->mm;
	const struct tree *t = ps->tree;
	const struct proc_state *par = parent_of(t, ps);
	pid_t *kids = xmalloc((t->nprocs + 1) * sizeof(*kids));
	struct page_run *keep = NULL;
	int nkids = 0, nkeep = 0, keep_cap = 0, cur = -1, ret = -1, inh_from = 0, cow_from = 0;
	uint64_t *own = NULL, *ppm = NULL, **kpm = NULL;

	if (par && !par->mm.ninh && !par->mm.ncow)
		par = NULL;
	for (int i = 0; i < t->nprocs; i++)
		if (t->procs[i].ppid == ps->pid && &t->procs[i] != &t->procs[0] && !t->procs[i].zombie)
			kids[nkids++] = t->procs[i].hpid;
	if (t->precopy || (!par && !nkids) || !mm->nruns) {
		free(kids);
		return 0;
	}
	kpm = xzalloc((nkids + 1) * sizeof(*kpm));
	for (int r = 0; r < mm->nruns; r++)
		for (uint64_t p = 0; p < mm->runs[r].npages; p++) {
			uint64_t va = mm->runs[r].vaddr + p * PAGE_SIZE, i, e;
			const struct vma *v;
			int moved = 0;
			if (cur < 0 || va >= mm->vmas[cur].end || va < mm->vmas[cur].start) {
				if (!(v = vma_of(mm, va))) {
					fail("pid %d: page 0x%" PRIx64 " is in no VMA", ps->pid, va);
					goto out;	/* cannot be: the scan found it in a VMA */
				}
				cur = v - mm->vmas;
				free(own);
				free(ppm);
				own = ppm = NULL;
				for (int k = 0; k < nkids; k++) {
					free(kpm[k]);
					kpm[k] = NULL;
				}
				if (cow_eligible(v)) {
					own = xmalloc((v->end - v->start) / PAGE_SIZE * 8);
					if (pread_full(pmfd, own, (v->end - v->start) / PAGE_SIZE * 8,
						       v->start / PAGE_SIZE * 8) < 0) {
						fail_errno("pid %d: cannot read pagemap at %" PRIx64, ps->pid, v->start);
						goto out;
					}
					if (par)
						ppm = read_pagemap(par->hpid, v->start, v->end);
					for (int k = 0; k < nkids; k++)
						kpm[k] = read_pagemap(kids[k], v->start, v->end);
				}
				inh_from = mm->ninh;
				cow_from = mm->ncow;
			}
			v = &mm->vmas[cur];
			i = (va - v->start) / PAGE_SIZE;
			e = own ? own[i] : 0;
			if (own && !(e & PM_EXCLUSIVE)) {
				if (ppm && same_frame(e, ppm[i]) &&
				    (run_find(par->mm.inh, par->mm.ninh, va) >= 0 ||
				     run_find(par->mm.cow, par->mm.ncow, va) >= 0)) {
					run_add(&mm->inh, &mm->ninh, &mm->inh_cap, inh_from, va);
					mm->ninh_pages++;
					moved = 1;
				}
				for (int k = 0; k < nkids && !moved; k++)
					if (same_frame(e, kpm[k][i])) {
						run_add(&mm->cow, &mm->ncow, &mm->cow_cap, cow_from, va);
						mm->ncow_pages++;
						moved = 1;
					}
			}
			if (!moved)
				run_add(&keep, &nkeep, &keep_cap, 0, va);
		}
	mm->npages -= mm->ninh_pages + mm->ncow_pages;
	free(mm->runs);
	mm->runs = keep;
	mm->nruns = nkeep;
	keep = NULL;
	ret = 0;
	if (mm->ninh_pages || mm->ncow_pages)
		pr_debug("pid %d: %" PRIu64 " pages shared with its parent, %" PRIu64 " with its children", ps->pid,
			 mm->ninh_pages, mm->ncow_pages);
out:
	free(keep);
	free(own);
	free(ppm);
	for (int k = 0; k < nkids; k++)
		free(kpm[k]);
	free(kpm);
	free(kids);
	return ret;
}

/* cow-PID.img (the pages shared with a child), cowmap-PID.img (their runs),
 * inh-PID.img (the runs shared with the parent, stored by an ancestor).
 * Read through /proc/PID/mem: process_vm_readv pins the pages, and pinning
 * a shared anonymous page makes the kernel give the process its own copy
 * (GUP unshare), which would undo the sharing the children are compared
 * against, and double the memory of a source that runs on. */
static int write_cow_files(struct proc_state *ps, struct img *im)
{
	struct mm_state *mm = &ps->mm;
	uint8_t *buf;
	XXH3_state_t *hs;
	uint64_t off = 0;
	char name[64];
	int fd, memfd, ret = -1;

	snprintf(name, sizeof(name), "inh-%d.img", ps->pid);
	if (mm->ninh && img_write_blob(im, name, mm->inh, mm->ninh * sizeof(*mm->inh)) < 0)
		return -1;
	if (!mm->ncow)
		return 0;
	snprintf(name, sizeof(name), "cowmap-%d.img", ps->pid);
	if (img_write_blob(im, name, mm->cow, mm->ncow * sizeof(*mm->cow)) < 0)
		return -1;
	snprintf(name, sizeof(name), "/proc/%d/mem", ps->hpid);
	if ((memfd = open(name, O_RDONLY | O_CLOEXEC)) < 0)
		return fail_errno("cannot open %s", name);
	snprintf(name, sizeof(name), "cow-%d.img", ps->pid);
	if ((fd = img_file_begin(im, name)) < 0) {
		close(memfd);
		return -1;
	}
	buf = xmalloc(CHUNK);
	hs = XXH3_createState();
	XXH3_64bits_reset(hs);
	for (int r = 0; r < mm->ncow; r++)
		for (uint64_t a = mm->cow[r].vaddr, left = mm->cow[r].npages * PAGE_SIZE; left;) {
			uint64_t len = left < CHUNK ? left : CHUNK;
			if (pread_full(memfd, buf, len, a) != (ssize_t)len) {
				fail_errno("pid %d: cannot read memory at %" PRIx64, ps->pid, a);
				goto out;
			}
			if (img_file_write(im, fd, buf, len) < 0)
				goto out;
			XXH3_64bits_update(hs, buf, len);
			a += len;
			left -= len;
			off += len;
		}
	ret = img_file_end(im, fd, name, off, XXH3_64bits_digest(hs));
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	close(memfd);
	XXH3_freeState(hs);
	free(buf);
	return ret;
}

/* Reads one chunk of the process's memory (all within one VMA). */
static int read_chunk(struct proc_state *ps, const struct vma *v, uint64_t addr, uint8_t *buf, uint64_t len,
		      int *memfd)
{
	struct iovec l = { buf, len }, rm = { (void *)addr, len };
	char path[64];
	if (v && (v->prot & PROT_READ)) {
		if (process_vm_readv(ps->hpid, &l, 1, &rm, 1, 0) != (ssize_t)len)
			return fail_errno("pid %d: cannot read memory at %" PRIx64, ps->pid, addr);
		return 0;
	}
	/* Unreadable to the process itself (PROT_NONE): /proc/PID/mem can. */
	snprintf(path, sizeof(path), "/proc/%d/mem", ps->hpid);
	if (*memfd < 0 && (*memfd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return fail_errno("cannot open %s", path);
	if (pread_full(*memfd, buf, len, addr) != (ssize_t)len)
		return fail_errno("pid %d: cannot read memory at %" PRIx64, ps->pid, addr);
	return 0;
}

/*
 * Writes the pages of every run to the page file.  A reused buffer plus
 * write() costs one copy into the page cache, without the page faults a
 * mapped output file would take; the hash runs on each chunk while it is
 * still in cache.
 */
static int write_page_file(struct proc_state *ps, struct img *im)
{
	struct mm_state *mm = &ps->mm;
	/* no bigger than the pages: every fresh page of a buffer costs a fault */
	uint64_t cap = mm->npages * PAGE_SIZE < CHUNK ? (mm->npages ? mm->npages * PAGE_SIZE : PAGE_SIZE) : CHUNK;
	uint8_t *buf = img_buffer(cap);
	XXH3_state_t *hs = XXH3_createState();
	uint64_t off = 0;
	int fd, memfd = -1, ret = -1;
	char name[64];

	XXH3_64bits_reset(hs);
	snprintf(name, sizeof(name), "pages-%d.img", ps->pid);
	if ((fd = img_file_begin(im, name)) < 0)
		goto out;
	for (int r = 0; r < mm->nruns; r++) {
		uint64_t addr = mm->runs[r].vaddr, left = mm->runs[r].npages * PAGE_SIZE;
		while (left) {
			const struct vma *v = vma_of(mm, addr);
			uint64_t len = left < cap ? left : cap;
			if (v && addr + len > v->end)
				len = v->end - addr;
			if (read_chunk(ps, v, addr, buf, len, &memfd) < 0)
				goto out;
			XXH3_64bits_update(hs, buf, len);
			if (img_file_write(im, fd, buf, len) < 0)
				goto out;
			off += len;
			addr += len;
			left -= len;
		}
	}
	ret = img_file_end(im, fd, name, off, XXH3_64bits_digest(hs));
	fd = -1;
out:
	if (fd > 0)
		close(fd);
	if (memfd >= 0)
		close(memfd);
	XXH3_freeState(hs);
	return ret;
}

static int write_pagemap(struct proc_state *ps, struct img *im)
{
	char name[64];
	snprintf(name, sizeof(name), "pagemap-%d.img", ps->pid);
	if (img_write_blob(im, name, ps->mm.runs, ps->mm.nruns * sizeof(struct page_run)) < 0)
		return -1;
	if (!ps->tree->precopy)
		return 0;
	/* The receiver turns this list into an index of its pre-copied store. */
	snprintf(name, sizeof(name), "premap-%d.img", ps->pid);
	return img_write_blob(im, name, ps->mm.pre, ps->mm.npre * sizeof(struct page_run));
}

static int own_vdso(uint64_t *start, size_t *len);
static int cur_special(const char *path);
static int special_index(enum vma_kind k);

/*
 * The kernel's special mappings ([vvar], [vvar_vclock], [vdso]) as the
 * program left them: moved (mremap) as a whole, or in part unmapped.
 * Restore moves each whole one where the program had it and unmaps the
 * parts it had unmapped, so each part must sit where it does in the whole
 * (its page offset says where): one moved apart from the rest of its
 * mapping is refused.  The sizes are this kernel's (ferry's own mappings).
 * The vDSO's bytes identify the kernel build: the program's when it kept
 * the whole vDSO, else ferry's own (the same kernel's).
 */
static int check_specials(struct proc_state *ps)
{
	struct mm_state *mm = &ps->mm;
	struct proc_vma *own;
	uint64_t size[3] = { 0, 0, 0 }, full[3] = { 0, 0, 0 }, vstart;
	size_t vlen;
	int nown, whole_vdso = 0;

	if (proc_vmas(getpid(), &own, &nown) < 0)
		return -1;
	for (int i = 0; i < nown; i++)
		if (cur_special(own[i].path) >= 0)
			size[cur_special(own[i].path)] = own[i].end - own[i].start;
	proc_free_vmas(own, nown);
	for (int i = 0; i < mm->nvmas; i++) {
		const struct vma *v = &mm->vmas[i];
		int k = special_index(v->kind);
		uint64_t fs = v->start - v->pgoff * PAGE_SIZE;
		if (k < 0)
			continue;
		if (!size[k] || v->pgoff * PAGE_SIZE + (v->end - v->start) > size[k] || (full[k] && full[k] != fs))
			return refuse(ps->pid, "VMA %" PRIx64 "-%" PRIx64 " is a part of %s moved apart from the rest of it; "
				      "ferry restores these mappings moved only as a whole", v->start, v->end, v->name);
		full[k] = fs;
		whole_vdso |= k == 2 && !v->pgoff && v->end - v->start == size[k];
	}
	if (whole_vdso) {
		for (int i = 0; i < mm->nvmas; i++)
			if (mm->vmas[i].kind == VMA_VDSO) {
				size_t len = mm->vmas[i].end - mm->vmas[i].start;
				void *buf = xmalloc(len);
				if (mem_peek(ps->hpid, mm->vmas[i].start, buf, len) < 0) {
					free(buf);
					return -1;
				}
				mm->vdso_hash = img_hash(buf, len);
				free(buf);
			}
	} else {
		if (own_vdso(&vstart, &vlen) < 0)
			return -1;
		mm->vdso_hash = img_hash((void *)(uintptr_t)vstart, vlen);
	}
	return 0;
}

/*
 * Memory attributes of the whole process: PR_SET_THP_DISABLE (with its
 * flags), PR_SET_MEMORY_MERGE, and mlockall(MCL_FUTURE): the kernel shows
 * the last only in the VMAs it makes from then on, and ferry's scratch page
 * is one (mapped by a remote mmap before the dump reads the VMAs).
 */
static int dump_mm_attrs(struct proc_state *ps, const struct proc_vma *pv, int npv)
{
	struct mm_state *mm = &ps->mm;
	long r = rsys_chk(&ps->rs, "prctl(PR_GET_THP_DISABLE)", SYS_prctl, PR_GET_THP_DISABLE, 0, 0, 0, 0, 0);
	if (r < 0)
		return -1;
	mm->thp_disable = r;
	r = rsys_call(&ps->rs, SYS_prctl, PR_GET_MEMORY_MERGE, 0, 0, 0, 0, 0);
	mm->memory_merge = r > 0;	/* EINVAL: a kernel without KSM */
	for (int i = 0; i < npv; i++)
		if (ps->rs.scratch && pv[i].start == ps->rs.scratch && has_vmflag(pv[i].vmflags, "lo"))
			mm->mcl_future = MCL_FUTURE | (has_vmflag(pv[i].vmflags, "lf") ? MCL_ONFAULT : 0);
	return 0;
}

int mem_dump(struct proc_state *ps, struct img *im)
{
	struct mm_state *mm = &ps->mm;
	struct proc_vma *pv;
	struct proc_stat st;
	struct stat est;
	int npv, cap = 0, pmfd;
	char path[96], *exe;
	long r;

	if (proc_vmas(ps->hpid, &pv, &npv) < 0)
		return -1;
	if (dump_mm_attrs(ps, pv, npv) < 0) {
		proc_free_vmas(pv, npv);
		return -1;
	}
	mm->vmas = xzalloc(npv * sizeof(*mm->vmas));
	for (int i = 0; i < npv; i++) {
		if (pv[i].start == ps->rs.scratch)
			continue;	/* ferry's own scratch page */
		if (classify(ps, &pv[i], &mm->vmas[mm->nvmas++]) < 0) {
			proc_free_vmas(pv, npv);
			return -1;
		}
	}
	proc_free_vmas(pv, npv);

	/* mm fields: the exact brk only the process can tell. */
	if (proc_stat(ps->hpid, &st) < 0)
		return -1;
	mm->start_code = st.start_code;
	mm->end_code = st.end_code;
	mm->start_data = st.start_data;
	mm->end_data = st.end_data;
	mm->start_brk = st.start_brk;
	mm->start_stack = st.start_stack;
	mm->arg_start = st.arg_start;
	mm->arg_end = st.arg_end;
	mm->env_start = st.env_start;
	mm->env_end = st.env_end;
	r = rsys_chk(&ps->rs, "brk(0)", SYS_brk, 0, 0, 0, 0, 0, 0);
	if (r < 0 && r > -4096)
		return -1;
	mm->brk = r;
	snprintf(path, sizeof(path), "/proc/%d/auxv", ps->hpid);
	if (!(mm->auxv = (uint8_t *)read_file(path, &mm->auxv_len)))
		return fail_errno("cannot read %s", path);
	if (!(exe = proc_link(ps->hpid, "exe")))
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/exe", ps->hpid);
	if (stat(path, &est) < 0) {
		free(exe);
		return fail_errno("pid %d: cannot stat its executable", ps->pid);
	}
	mm->exe_file = add_mapped_file(ps, exe, &est, 0, -1);
	free(exe);

	if (check_specials(ps) < 0)
		return -1;

	/* The registered ranges as they are now: the VMAs may have changed. */
	if (precopy_proc(ps->tree->precopy, ps->pid) && precopy_refresh(precopy_proc(ps->tree->precopy, ps->pid)) < 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", ps->hpid);
	pmfd = open(path, O_RDONLY | O_CLOEXEC);
	if (pmfd < 0)
		return fail_errno("cannot open %s", path);
	for (int i = 0; i < mm->nvmas; i++) {
		const struct vma *v = &mm->vmas[i];
		int ret = 0;
		if (dumps_pages(v))
			ret = scan_pagemap(ps, pmfd, v, &cap);
		if (ret < 0) {
			close(pmfd);
			return -1;
		}
	}
	if (cow_split(ps, pmfd) < 0) {
		close(pmfd);
		return -1;
	}
	close(pmfd);
	pr_debug("pid %d: %d VMAs, %" PRIu64 " pages of data in %d runs", ps->pid, mm->nvmas, mm->npages, mm->nruns);
	if (write_page_file(ps, im) < 0 || write_pagemap(ps, im) < 0 || write_cow_files(ps, im) < 0)
		return -1;
	return 0;
}

/* ---- encode / decode ---- */

void mem_encode(const struct proc_state *ps, json_t *j)
{
	const struct mm_state *mm = &ps->mm;
	json_t *vmas = json_array(), *files = json_array(), *m;
	for (int i = 0; i < mm->nvmas; i++) {
		const struct vma *v = &mm->vmas[i];
		json_t *madv = json_array(), *o;
		char perms[5] = { v->prot & PROT_READ ? 'r' : '-', v->prot & PROT_WRITE ? 'w' : '-',
				  v->prot & PROT_EXEC ? 'x' : '-', v->shared ? 's' : 'p', 0 };
		for (size_t k = 0; k < ARRAY_SIZE(madv_flags); k++)
			if (v->madv & (1u << k))
				json_array_append_new(madv, json_string(madv_flags[k].flag));
		for (size_t k = 0; k < ARRAY_SIZE(map_vmflags); k++)
			if (v->mflags & (1u << k))
				json_array_append_new(madv, json_string(map_vmflags[k]));
		o = json_pack("{s:o,s:o,s:o,s:s,s:s,s:o,s:b,s:o}", "start", jhex(v->start), "end", jhex(v->end),
			      "pgoff", jhex(v->pgoff), "perms", perms, "kind", kind_names[v->kind], "name",
			      jstr(v->name), "growsdown", v->growsdown, "vmflags", madv);
		if (v->file >= 0)
			json_object_set_new(o, "file", json_integer(v->file));
		json_array_append_new(vmas, o);
	}
	for (int i = 0; i < mm->nfiles; i++) {
		json_t *f = json_pack("{s:o,s:I,s:I,s:b}", "path", jstr(mm->files[i].path), "size",
				      (json_int_t)mm->files[i].size, "mtime_ns", (json_int_t)mm->files[i].mtime_ns,
				      "writable", mm->files[i].writable);
		if (mm->files[i].shm >= 0)
			json_object_set_new(f, "shmem", json_integer(mm->files[i].shm));
		json_array_append_new(files, f);
	}
	m = json_object();
	json_object_set_new(m, "vmas", vmas);
	json_object_set_new(m, "files", files);
	json_object_set_new(m, "exe_file", json_integer(mm->exe_file));
#define F(x) json_object_set_new(m, #x, jhex(mm->x))
	F(start_code); F(end_code); F(start_data); F(end_data); F(start_brk); F(brk); F(start_stack);
	F(arg_start); F(arg_end); F(env_start); F(env_end); F(vdso_hash); F(npages);
#undef F
	json_object_set_new(m, "auxv", jblob(mm->auxv, mm->auxv_len));
	json_object_set_new(m, "nruns", json_integer(mm->nruns));
	json_object_set_new(m, "thp_disable", json_integer(mm->thp_disable));
	json_object_set_new(m, "memory_merge", json_boolean(mm->memory_merge));
	json_object_set_new(m, "mcl_future", json_integer(mm->mcl_future));
	/* Every page of data, shared ones too: a reader that knows nothing of
	 * cow/inh finds its page index short and refuses the image. */
	json_object_set_new(m, "npages", jhex(mm->npages + mm->ninh_pages + mm->ncow_pages));
	json_object_set_new(m, "inh_runs", json_integer(mm->ninh));
	json_object_set_new(m, "inh_pages", json_integer(mm->ninh_pages));
	json_object_set_new(m, "cow_runs", json_integer(mm->ncow));
	json_object_set_new(m, "cow_pages", json_integer(mm->ncow_pages));
	json_object_set_new(j, "mm", m);
}

int mem_decode(json_t *j, struct proc_state *ps)
{
	struct mm_state *mm = &ps->mm;
	json_t *m = jget_obj(j, "mm"), *vmas, *files, *o;
	long long v;
	size_t i;
	void *auxv;

	if (!m || !(vmas = jget_arr(m, "vmas")) || !(files = jget_arr(m, "files")))
		return -1;
#define F(x) if (jget_u64(m, #x, &mm->x) < 0) return -1
	F(start_code); F(end_code); F(start_data); F(end_data); F(start_brk); F(brk); F(start_stack);
	F(arg_start); F(arg_end); F(env_start); F(env_end); F(vdso_hash); F(npages);
#undef F
	if (jget_blobv(m, "auxv", &auxv, &mm->auxv_len) < 0)
		return -1;
	mm->auxv = auxv;
	if (jget_int(m, "nruns", &v) < 0)
		return -1;
	mm->nruns = v;
	/* absent from images of older ferry versions: off */
	mm->thp_disable = json_integer_value(json_object_get(m, "thp_disable"));
	mm->memory_merge = json_is_true(json_object_get(m, "memory_merge"));
	mm->mcl_future = json_integer_value(json_object_get(m, "mcl_future"));
	if (mm->mcl_future & ~(MCL_FUTURE | MCL_ONFAULT) || mm->thp_disable < 0 || mm->thp_disable > 0xff)
		return fail("image %s is corrupt: mcl_future %d, thp_disable %d", jctx, mm->mcl_future, mm->thp_disable);
	mm->ninh = json_integer_value(json_object_get(m, "inh_runs"));
	mm->ninh_pages = json_integer_value(json_object_get(m, "inh_pages"));
	mm->ncow = json_integer_value(json_object_get(m, "cow_runs"));
	mm->ncow_pages = json_integer_value(json_object_get(m, "cow_pages"));
	if (mm->ninh < 0 || mm->ncow < 0 || mm->ninh > 1 << 28 || mm->ncow > 1 << 28 ||
	    mm->ninh_pages + mm->ncow_pages > mm->npages)
		return fail("image %s is corrupt: %d/%d shared page runs", jctx, mm->ninh, mm->ncow);
	mm->npages -= mm->ninh_pages + mm->ncow_pages;	/* those in pages-PID.img */
	mm->nfiles = json_array_size(files);
	mm->files = xzalloc((mm->nfiles + 1) * sizeof(*mm->files));
	json_array_foreach(files, i, o) {
		struct mapped_file *f = &mm->files[i];
		const char *path;
		long long sz, mt;
		if (jget_str(o, "path", &path) < 0 || jget_int(o, "size", &sz) < 0 || jget_int(o, "mtime_ns", &mt) < 0)
			return -1;
		f->path = xstrdup(path);
		f->size = sz;
		f->mtime_ns = mt;
		f->writable = json_is_true(json_object_get(o, "writable"));
		f->fd = -1;
		f->shm = -1;
		if (json_object_get(o, "shmem")) {
			if (jget_int(o, "shmem", &v) < 0)
				return -1;
			if (v < 0 || v >= ps->tree->nshm)
				return fail("image %s is corrupt: mapped file %zu names shared memory %lld", jctx, i, v);
			f->shm = v;
		}
	}
	if (jget_int(m, "exe_file", &v) < 0)
		return -1;
	if (v < 0 || v >= mm->nfiles)
		return fail("image %s is corrupt: exe_file %lld", jctx, v);
	mm->exe_file = v;
	mm->nvmas = json_array_size(vmas);
	mm->vmas = xzalloc((mm->nvmas + 1) * sizeof(*mm->vmas));
	json_array_foreach(vmas, i, o) {
		struct vma *vm = &mm->vmas[i];
		const char *perms, *kind, *name;
		json_t *madv, *f, *x;
		size_t k;
		if (jget_u64(o, "start", &vm->start) < 0 || jget_u64(o, "end", &vm->end) < 0 ||
		    jget_u64(o, "pgoff", &vm->pgoff) < 0 || jget_str(o, "perms", &perms) < 0 ||
		    jget_str(o, "kind", &kind) < 0 || jget_str(o, "name", &name) < 0 ||
		    !(madv = jget_arr(o, "vmflags")))
			return -1;
		if (strlen(perms) != 4 || vm->start >= vm->end || vm->start % PAGE_SIZE || vm->end % PAGE_SIZE)
			return fail("image %s is corrupt: VMA %zu", jctx, i);
		vm->prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
			   (perms[2] == 'x' ? PROT_EXEC : 0);
		vm->shared = perms[3] == 's';
		vm->kind = (enum vma_kind)-1;
		for (k = 0; k < ARRAY_SIZE(kind_names); k++)
			if (!strcmp(kind, kind_names[k]))
				vm->kind = k;
		if ((int)vm->kind < 0)
			return fail("image %s: unknown VMA kind \"%s\"", jctx, kind);
		vm->name = xstrdup(name);
		vm->growsdown = json_is_true(json_object_get(o, "growsdown"));
		json_array_foreach(madv, k, x) {
			for (size_t n = 0; n < ARRAY_SIZE(madv_flags); n++)
				if (json_is_string(x) && !strcmp(json_string_value(x), madv_flags[n].flag))
					vm->madv |= 1u << n;
			for (size_t n = 0; n < ARRAY_SIZE(map_vmflags); n++)
				if (json_is_string(x) && !strcmp(json_string_value(x), map_vmflags[n]))
					vm->mflags |= 1u << n;
		}
		vm->file = -1;
		if ((f = json_object_get(o, "file"))) {
			if (!json_is_integer(f))
				return fail("image %s is corrupt: VMA %zu file is not an index", jctx, i);
			vm->file = json_integer_value(f);
			if (vm->file < 0 || vm->file >= mm->nfiles)
				return fail("image %s is corrupt: VMA %zu file %d", jctx, i, vm->file);
		}
		if ((vm->kind == VMA_FILE_PRIVATE || vm->kind == VMA_FILE_SHARED || vm->kind == VMA_SHMEM ||
		     vm->kind == VMA_SYSV) && vm->file < 0)
			return fail("image %s is corrupt: file VMA %zu without file", jctx, i);
	}
	return 0;
}

/* ---- restore ---- */

/* mmap flags beyond shared/private/anonymous that give a VMA its VmFlags. */
static int map_flags_of(const struct vma *v, int flags)
{
	if (v->growsdown)
		flags |= MAP_GROWSDOWN;
	if (v->mflags & MF_NORESERVE)
		flags |= MAP_NORESERVE;
	if (v->mflags & MF_DROPPABLE)
		flags = (flags & ~MAP_PRIVATE) | MAP_DROPPABLE;
	return flags;
}

/* Flags set on a mapped, filled VMA: madvise ones, then the lock (which
 * faults in what it covers, so it comes after the pages are written). */
static int restore_vma_flags(struct rsys *rs, const struct vma *v)
{
	for (size_t k = 0; k < ARRAY_SIZE(madv_flags); k++)
		if ((v->madv & (1u << k)) &&
		    rsys_chk(rs, "madvise", SYS_madvise, v->start, v->end - v->start, madv_flags[k].advice, 0, 0, 0) < 0)
			return -1;
	if ((v->mflags & MF_LOCKED) &&
	    rsys_chk(rs, "mlock2", SYS_mlock2, v->start, v->end - v->start, v->mflags & MF_ONFAULT ? MLOCK_ONFAULT : 0,
		     0, 0, 0) < 0)
		return -1;
	/* last: a sealed VMA takes no more mprotect or madvise */
	if ((v->mflags & MF_SEALED) && rsys_chk(rs, "mseal", SYS_mseal, v->start, v->end - v->start, 0, 0, 0, 0) < 0)
		return -1;
	return 0;
}

/* ---- copy-on-write sharing: restore (see the dump half above) ---- */

/* Loads a list of runs; each must lie in one shareable VMA, in order. */
static int cow_load_runs(struct img *im, const struct proc_state *ps, const char *name, int n, uint64_t npages,
			 struct page_run **out)
{
	const struct page_run *r;
	uint64_t total = 0, prev = 0;
	size_t len;
	*out = NULL;
	if (!n)
		return npages ? fail("image %s is corrupt: %s is missing", im->dir, name) : 0;
	if (!(r = img_map(im, name, &len)))
		return -1;
	if (len != n * sizeof(*r))
		return fail("image %s: %s has %zu bytes for %d runs", im->dir, name, len, n);
	for (int i = 0; i < n; i++) {
		const struct vma *v = vma_of(&ps->mm, r[i].vaddr);
		if (!v || !cow_eligible(v) || r[i].vaddr % PAGE_SIZE || r[i].vaddr < prev || !r[i].npages ||
		    r[i].npages > (v->end - r[i].vaddr) / PAGE_SIZE)
			return fail("image %s: %s: shared pages at 0x%" PRIx64 " do not fit pid %d's memory", im->dir,
				    name, r[i].vaddr, ps->pid);
		prev = r[i].vaddr + r[i].npages * PAGE_SIZE;
		total += r[i].npages;
	}
	if (total != npages)
		return fail("image %s: %s counts %" PRIu64 " pages, expected %" PRIu64, im->dir, name, total, npages);
	*out = xmalloc(len);
	memcpy(*out, r, len);
	return 0;
}

int mem_cow_prepare(struct tree *t, struct img *im)
{
	for (int i = 0; i < t->nprocs; i++) {
		struct proc_state *ps = &t->procs[i];
		struct mm_state *mm = &ps->mm;
		char name[64];
		size_t len;
		if (ps->zombie)
			continue;
		mm->cow_placed = xzalloc(mm->nvmas + 1);
		snprintf(name, sizeof(name), "inh-%d.img", ps->pid);
		if (cow_load_runs(im, ps, name, mm->ninh, mm->ninh_pages, &mm->inh) < 0)
			return -1;
		snprintf(name, sizeof(name), "cowmap-%d.img", ps->pid);
		if (cow_load_runs(im, ps, name, mm->ncow, mm->ncow_pages, &mm->cow) < 0)
			return -1;
		if (!mm->ncow)
			continue;
		snprintf(name, sizeof(name), "cow-%d.img", ps->pid);
		if (!(mm->cow_data = img_map(im, name, &len)))
			return -1;
		if (len != mm->ncow_pages * PAGE_SIZE)
			return fail("image %s: %s has %zu bytes for %" PRIu64 " pages", im->dir, name, len, mm->ncow_pages);
		mm->cow_off = xmalloc(mm->ncow * sizeof(*mm->cow_off));
		for (uint64_t k = 0, off = 0; k < (uint64_t)mm->ncow; off += mm->cow[k++].npages * PAGE_SIZE)
			mm->cow_off[k] = off;
	}
	/* Each page shared with a parent is one the parent shares too. */
	for (int i = 0; i < t->nprocs; i++) {
		const struct proc_state *ps = &t->procs[i], *par = parent_of(t, ps);
		for (int r = 0; r < ps->mm.ninh; r++)
			for (uint64_t p = 0; p < ps->mm.inh[r].npages; p++) {
				uint64_t va = ps->mm.inh[r].vaddr + p * PAGE_SIZE;
				if (!par || (run_find(par->mm.inh, par->mm.ninh, va) < 0 &&
					     run_find(par->mm.cow, par->mm.ncow, va) < 0))
					return fail("image %s is corrupt: pid %d shares page 0x%" PRIx64
						    " with a parent that does not have it", im->dir, ps->pid, va);
			}
	}
	return 0;
}

/* Where the image holds the content of page va that ps shares with its parent. */
static const uint8_t *cow_src(const struct tree *t, const struct proc_state *ps, uint64_t va)
{
	for (const struct proc_state *p = parent_of(t, ps); p; p = parent_of(t, p)) {
		int k = run_find(p->mm.cow, p->mm.ncow, va);
		if (k >= 0)
			return p->mm.cow_data + p->mm.cow_off[k] + (va - p->mm.cow[k].vaddr);
		if (run_find(p->mm.inh, p->mm.ninh, va) < 0)
			break;
	}
	return NULL;
}

/* Whether [start, end) holds any page of the runs. */
static int runs_touch(const struct page_run *r, int n, uint64_t start, uint64_t end)
{
	for (int i = 0; i < n; i++)
		if (r[i].vaddr < end && r[i].vaddr + r[i].npages * PAGE_SIZE > start)
			return 1;
	return 0;
}

/* Whether own VMA v takes part in the sharing: it holds pages shared with
 * the parent or a child. */
static int cow_wanted(const struct mm_state *mm, const struct vma *v)
{
	return cow_eligible(v) && (runs_touch(mm->inh, mm->ninh, v->start, v->end) ||
				   runs_touch(mm->cow, mm->ncow, v->start, v->end));
}

/* Whether [a, b) lies within a mapping the parent placed (and so, unless
 * dropped, is mapped here since the fork). */
static int in_parent_placed(const struct proc_state *par, uint64_t a, uint64_t b)
{
	for (int j = 0; par && par->mm.cow_placed && j < par->mm.nvmas; j++)
		if (par->mm.cow_placed[j] && par->mm.vmas[j].start <= a && b <= par->mm.vmas[j].end)
			return 1;
	return 0;
}

/* Maps the parts of v that no placed mapping of the parent covers. */
static int cow_fill_gaps(const struct proc_state *par, const struct vma *v, int inherited)
{
	uint64_t at = v->start;
	while (at < v->end) {
		uint64_t to = at + PAGE_SIZE;
		int have = inherited && in_parent_placed(par, at, to);
		void *p;
		while (to < v->end && (inherited && in_parent_placed(par, to, to + PAGE_SIZE)) == have)
			to += PAGE_SIZE;
		/* a VMA grown since the fork (a heap): grown in place, so that it
		 * stays one VMA (a separate mapping would get an anon_vma of its own) */
		if (!have && at > v->start && inherited && in_parent_placed(par, at - PAGE_SIZE, at) &&
		    mremap((void *)(at - PAGE_SIZE), PAGE_SIZE, PAGE_SIZE + (to - at), 0) == (void *)(at - PAGE_SIZE))
			have = 1;
		if (!have) {
			p = mmap((void *)at, to - at, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE |
				 (v->mflags & MF_NORESERVE ? MAP_NORESERVE : 0), -1, 0);
			if (p != (void *)at) {
				if (p != MAP_FAILED)
					munmap(p, to - at);	/* a kernel without MAP_FIXED_NOREPLACE */
				return -1;
			}
		}
		at = to;
	}
	return 0;
}

int mem_cow_place(const struct tree *t, const struct proc_state *ps)
{
	const struct mm_state *mm = &ps->mm;
	const struct proc_state *par = parent_of(t, ps);
	uint8_t *placed = mm->cow_placed;
	int off = getenv("FERRY_TEST_NO_COW_PLACE") != NULL;	/* tests: as if ferry's memory were in the way */

	/* What the parent placed (as it was when it forked this process): kept
	 * where it lies in a VMA of this process that shares pages, else dropped.
	 * The VMAs need not be the same: a heap grown, a part mprotect'ed. */
	for (int j = 0; par && par->mm.cow_placed && j < par->mm.nvmas; j++) {
		const struct vma *pv = &par->mm.vmas[j];
		for (uint64_t at = pv->start, to; par->mm.cow_placed[j] && at < pv->end; at = to) {
			const struct vma *v = vma_of(mm, at);
			to = pv->end;
			if (v)
				to = v->end < to ? v->end : to;
			else
				for (int i = 0; i < mm->nvmas; i++)
					if (mm->vmas[i].start > at && mm->vmas[i].start < to)
						to = mm->vmas[i].start;
			if (!off && v && cow_wanted(mm, v) && runs_touch(mm->inh, mm->ninh, v->start, v->end))
				continue;
			if (munmap((void *)at, to - at) < 0)
				return fail_errno("pid %d: cannot unmap %" PRIx64, ps->pid, at);
		}
	}
	for (int i = 0; i < mm->nvmas && !off; i++) {
		const struct vma *v = &mm->vmas[i];
		int inherited = runs_touch(mm->inh, mm->ninh, v->start, v->end);
		if (!cow_wanted(mm, v))
			continue;
		if (cow_fill_gaps(par, v, inherited) < 0) {
			/* ferry's memory is in the way: the tracer maps and fills it */
			munmap((void *)v->start, v->end - v->start);
			pr_debug("pid %d: VMA %" PRIx64 " is ferry's memory here; its shared pages are copied",
				 ps->pid, v->start);
			continue;
		}
		if (inherited) {
			/* drop the parent's pages this process does not share */
			uint64_t at = v->start;
			for (int r = 0; r <= mm->ninh; r++) {
				uint64_t to = r < mm->ninh ? mm->inh[r].vaddr : v->end;
				if (r < mm->ninh && (to < v->start || to >= v->end))
					continue;
				if (to > at && madvise((void *)at, to - at, MADV_DONTNEED) < 0)
					return fail_errno("pid %d: cannot drop pages at %" PRIx64, ps->pid, at);
				if (r < mm->ninh)
					at = to + mm->inh[r].npages * PAGE_SIZE;
			}
		}
		/* pages shared with the parent that it could not place: copied */
		for (int r = 0; r < mm->ninh; r++)
			for (uint64_t pg = 0; pg < mm->inh[r].npages; pg++) {
				uint64_t va = mm->inh[r].vaddr + pg * PAGE_SIZE;
				const uint8_t *src;
				if (va < v->start || va >= v->end || in_parent_placed(par, va, va + PAGE_SIZE))
					continue;
				if (!(src = cow_src(t, ps, va)))
					return fail("pid %d: no content for shared page 0x%" PRIx64, ps->pid, va);
				memcpy((void *)va, src, PAGE_SIZE);
			}
		for (int r = 0; r < mm->ncow; r++)
			if (mm->cow[r].vaddr >= v->start && mm->cow[r].vaddr < v->end)
				memcpy((void *)mm->cow[r].vaddr, mm->cow_data + mm->cow_off[r], mm->cow[r].npages * PAGE_SIZE);
		placed[i] = 1;
		pr_debug("pid %d: VMA %" PRIx64 "-%" PRIx64 " placed for sharing", ps->pid, v->start, v->end);
	}
	return 0;
}

/* Tracer, before ferry's memory in the process goes: which VMAs it placed. */
static uint8_t *cow_kept_map(const struct proc_state *ps)
{
	uint8_t *kept = xzalloc(ps->mm.nvmas + 1);
	if (ps->mm.cow_placed && mem_peek(ps->hpid, (uint64_t)(uintptr_t)ps->mm.cow_placed, kept, ps->mm.nvmas) < 0)
		memset(kept, 0, ps->mm.nvmas);	/* cannot be: the same memory as ferry's; copy instead */
	for (int i = 0; i < ps->mm.nvmas; i++) {
		kept[i] = kept[i] == 1 && cow_eligible(&ps->mm.vmas[i]);
		if (kept[i])
			pr_debug("pid %d: VMA %" PRIx64 "-%" PRIx64 " kept, shared with relatives", ps->pid,
				 ps->mm.vmas[i].start, ps->mm.vmas[i].end);
	}
	return kept;
}

/* Tracer: unmaps ferry's mapping pv, except where it holds a kept VMA (the
 * kernel may have merged a placed VMA with a neighbour of ferry's). */
static int unmap_except_kept(const struct mm_state *mm, const uint8_t *kept, struct rsys *rs,
			     const struct proc_vma *pv)
{
	uint64_t at = pv->start;
	for (int i = 0; i <= mm->nvmas; i++) {
		uint64_t to = pv->end;
		if (i < mm->nvmas) {
			const struct vma *v = &mm->vmas[i];
			if (!kept[i] || v->end <= pv->start || v->start >= pv->end)
				continue;
			to = v->start;
		}
		if (to > at &&
		    rsys_chk(rs, "munmap of ferry's memory", SYS_munmap, at, to - at, 0, 0, 0, 0) < 0)
			return -1;
		if (i < mm->nvmas)
			at = mm->vmas[i].end;
	}
	return 0;
}

/* Tracer: the shared pages of VMAs that could not be placed, copied. */
static int cow_write_fallback(const struct proc_state *ps, const uint8_t *kept)
{
	const struct mm_state *mm = &ps->mm;
	struct iovec l[IOV_BATCH], r[IOV_BATCH];
	size_t n = 0, bytes = 0;
	for (int pass = 0; pass < 2; pass++) {
		const struct page_run *runs = pass ? mm->cow : mm->inh;
		int nr = pass ? mm->ncow : mm->ninh;
		for (int i = 0; i <= nr; i++) {
			if (i < nr) {
				const struct vma *v = vma_of(mm, runs[i].vaddr);
				if (!v || kept[v - mm->vmas])
					continue;
				for (uint64_t p = 0; p < runs[i].npages; p++) {
					uint64_t va = runs[i].vaddr + p * PAGE_SIZE;
					const uint8_t *src = pass ? mm->cow_data + mm->cow_off[i] + p * PAGE_SIZE
								  : cow_src(ps->tree, ps, va);
					if (!src)
						return fail("pid %d: no content for shared page 0x%" PRIx64, ps->pid, va);
					l[n] = (struct iovec){ (void *)src, PAGE_SIZE };
					r[n] = (struct iovec){ (void *)va, PAGE_SIZE };
					bytes += PAGE_SIZE;
					if (++n < IOV_BATCH)
						continue;
					if (process_vm_writev(ps->hpid, l, n, r, n, 0) != (ssize_t)bytes)
						return fail_errno("pid %d: cannot write memory near 0x%" PRIx64, ps->pid, va);
					n = bytes = 0;
				}
			} else if (n) {
				if (process_vm_writev(ps->hpid, l, n, r, n, 0) != (ssize_t)bytes)
					return fail_errno("pid %d: cannot write shared memory", ps->pid);
				n = bytes = 0;
			}
		}
	}
	return 0;
}

/* Process-wide memory attributes, once every VMA is in place. */
static int restore_mm_attrs(const struct mm_state *mm, struct rsys *rs)
{
	if (mm->thp_disable &&
	    rsys_chk(rs, "prctl(PR_SET_THP_DISABLE)", SYS_prctl, PR_SET_THP_DISABLE, 1, mm->thp_disable >> 1, 0, 0,
		     0) < 0)
		return -1;
	if (mm->memory_merge &&
	    rsys_chk(rs, "prctl(PR_SET_MEMORY_MERGE)", SYS_prctl, PR_SET_MEMORY_MERGE, 1, 0, 0, 0, 0) < 0)
		return -1;
	if (mm->mcl_future && rsys_chk(rs, "mlockall", SYS_mlockall, mm->mcl_future, 0, 0, 0, 0, 0) < 0)
		return -1;
	return 0;
}

static int own_vdso(uint64_t *start, size_t *len)
{
	struct proc_vma *pv;
	int n;
	if (proc_vmas(getpid(), &pv, &n) < 0)
		return -1;
	*len = 0;
	for (int i = 0; i < n; i++)
		if (!strcmp(pv[i].path, "[vdso]")) {
			*start = pv[i].start;
			*len = pv[i].end - pv[i].start;
		}
	proc_free_vmas(pv, n);
	return *len ? 0 : fail("this kernel gives ferry no [vdso]");
}

int mem_validate(const struct proc_state *ps, struct img *im)
{
	const struct mm_state *mm = &ps->mm;
	uint64_t vstart = 0, total = 0;
	size_t vlen, plen;
	char name[64];
	void *runs;

	for (int i = 0; i < mm->nfiles; i++) {
		const struct mapped_file *f = &mm->files[i];
		struct stat st;
		if (f->shm >= 0)
			continue;
		if (stat(f->path, &st) < 0)
			return fail_errno("pid %d needs %s, which is missing here", ps->pid, f->path);
		if ((uint64_t)st.st_size != f->size || mtime_ns(&st) != f->mtime_ns)
			return fail("pid %d maps %s, which changed since the dump (size %" PRIu64 " -> %lld, mtime differs)",
				    ps->pid, f->path, f->size, (long long)st.st_size);
	}
	if (own_vdso(&vstart, &vlen) < 0)
		return -1;
	if (mm->vdso_hash && img_hash((void *)vstart, vlen) != mm->vdso_hash)
		return fail("pid %d was dumped on a kernel with another vDSO; it can only be restored on the same kernel build",
			    ps->pid);
	snprintf(name, sizeof(name), "pagemap-%d.img", ps->pid);
	if (!(runs = img_map(im, name, &plen)))
		return -1;
	if (plen != mm->nruns * sizeof(struct page_run)) {
		img_unmap(im, runs, plen);
		return fail("image %s: %s has %zu bytes for %d runs", im->dir, name, plen, mm->nruns);
	}
	for (int i = 0; i < mm->nruns; i++) {
		const struct page_run *r = (const struct page_run *)runs + i;
		total += r->npages;
		if (!run_fits(mm, r->vaddr, r->npages)) {
			img_unmap(im, runs, plen);
			return fail("image %s: page run at 0x%" PRIx64 " is outside the process's memory", im->dir, r->vaddr);
		}
	}
	img_unmap(im, runs, plen);
	snprintf(name, sizeof(name), "preidx-%d.img", ps->pid);
	if (img_has(im, name)) {
		char sname[64];
		size_t ilen;
		const struct pre_run *idx = img_map(im, name, &ilen);
		uint64_t slen;
		snprintf(sname, sizeof(sname), "prestore-%d.img", ps->pid);
		if (!idx || img_file_size(im, sname, &slen) < 0)
			return -1;
		for (size_t i = 0; i < ilen / sizeof(*idx); i++) {
			if (!run_fits(mm, idx[i].vaddr, idx[i].npages) || idx[i].offset % PAGE_SIZE ||
			    idx[i].offset > slen || idx[i].npages > (slen - idx[i].offset) / PAGE_SIZE)
				return fail("image %s: pre-copied pages at 0x%" PRIx64 " do not fit the process", im->dir,
					    idx[i].vaddr);
		}
	}
	if (total != mm->npages)
		return fail("image %s: page index counts %" PRIu64 " pages, expected %" PRIu64, im->dir, total, mm->npages);
	return 0;
}

void mem_assign_fds(struct proc_state *ps, int first_fd)
{
	for (int i = 0; i < ps->mm.nfiles; i++)
		ps->mm.files[i].fd = first_fd + i;
}

int mem_restore_child(const struct proc_state *ps)
{
	for (int i = 0; i < ps->mm.nfiles; i++) {
		const struct mapped_file *f = &ps->mm.files[i];
		int fd;
		if (f->shm >= 0 && ps->tree->shm[f->shm].sysv)
			continue;	/* attached with shmat, no fd */
		fd = f->shm >= 0 ? dup(ps->tree->shm[f->shm].rfd)
				 : open(f->path, (f->writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
		if (fd < 0)
			return fail_errno("pid %d: cannot open mapped file %s", ps->pid, f->path);
		if (fd != f->fd) {
			if (dup2(fd, f->fd) < 0)
				return fail_errno("pid %d: cannot place mapped file %s at fd %d", ps->pid, f->path, f->fd);
			close(fd);
		}
	}
	return 0;
}

struct range {
	uint64_t start, end;
};

static int cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* A free address range of len bytes in both layouts (with a guard page). */
static uint64_t find_hole(const struct range *used, int n, uint64_t len)
{
	struct range *r = xmalloc((n + 1) * sizeof(*r));
	uint64_t cur = 0x100000000ULL;	/* above the usual low mappings */
	memcpy(r, used, n * sizeof(*r));
	qsort(r, n, sizeof(*r), cmp_range);
	for (int i = 0; i <= n; i++) {
		uint64_t next = i < n ? r[i].start : TASK_SIZE_MAX;
		if (next > cur && next - cur >= len + 2 * PAGE_SIZE) {
			free(r);
			return cur + PAGE_SIZE;
		}
		if (i < n && r[i].end > cur)
			cur = r[i].end;
	}
	free(r);
	return 0;
}

static int special_index(enum vma_kind k)
{
	return k == VMA_VVAR ? 0 : k == VMA_VVAR_VCLOCK ? 1 : k == VMA_VDSO ? 2 : -1;
}

/* Where each whole special mapping goes (see check_specials): {0, 0} for one
 * the program had unmapped altogether. */
static int special_targets(const struct proc_state *ps, const struct range *cur_sp, struct range *tgt_sp)
{
	for (int i = 0; i < ps->mm.nvmas; i++) {
		const struct vma *v = &ps->mm.vmas[i];
		int k = special_index(v->kind);
		uint64_t fs = v->start - v->pgoff * PAGE_SIZE, len;
		if (k < 0)
			continue;
		len = cur_sp[k].end - cur_sp[k].start;
		if (!len || v->pgoff * PAGE_SIZE + (v->end - v->start) > len || (tgt_sp[k].end && tgt_sp[k].start != fs))
			return fail("pid %d: the vDSO layout of this kernel differs from the image's", ps->pid);
		tgt_sp[k] = (struct range){ fs, fs + len };
	}
	return 0;
}

/* Once the special mappings are in place: unmaps the parts of them the
 * program had unmapped ([vdso] parts later, in mem_restore_last). */
static int drop_special_parts(struct proc_state *ps, struct rsys *rs, const struct range *tgt_sp)
{
	struct mm_state *mm = &ps->mm;
	for (int k = 0; k < 3; k++) {
		uint64_t at = tgt_sp[k].start;
		if (!tgt_sp[k].end)
			continue;
		for (int i = 0; i <= mm->nvmas; i++) {
			uint64_t to = tgt_sp[k].end;
			if (i < mm->nvmas) {
				if (special_index(mm->vmas[i].kind) != k)
					continue;
				to = mm->vmas[i].start;
			}
			if (to > at && k < 2 &&
			    rsys_chk(rs, "munmap of a part of [vvar]", SYS_munmap, at, to - at, 0, 0, 0, 0) < 0)
				return -1;
			if (to > at && k == 2 && mm->nvdso_drop < 4) {
				mm->vdso_drop[mm->nvdso_drop][0] = at;
				mm->vdso_drop[mm->nvdso_drop++][1] = to - at;
			}
			if (i < mm->nvmas)
				at = mm->vmas[i].end;
		}
	}
	return 0;
}

int mem_restore_last(struct proc_state *ps, struct rsys *rs)
{
	struct mm_state *mm = &ps->mm;
	int last = -1;
	/* the part holding ferry's syscall instruction at the very end: the
	 * thread stops at the exit of that munmap and never returns into it */
	for (int i = 0; i < mm->nvdso_drop; i++) {
		if (rs->gadget >= mm->vdso_drop[i][0] && rs->gadget < mm->vdso_drop[i][0] + mm->vdso_drop[i][1]) {
			last = i;
			continue;
		}
		if (rsys_chk(rs, "munmap of a part of [vdso]", SYS_munmap, mm->vdso_drop[i][0], mm->vdso_drop[i][1], 0, 0,
			     0, 0) < 0)
			return -1;
	}
	if (last >= 0 && rsys_chk(rs, "munmap of [vdso]", SYS_munmap, mm->vdso_drop[last][0], mm->vdso_drop[last][1], 0,
				  0, 0, 0) < 0)
		return -1;
	return 0;
}

static int cur_special(const char *path)
{
	return !strcmp(path, "[vvar]") ? 0 : !strcmp(path, "[vvar_vclock]") ? 1 : !strcmp(path, "[vdso]") ? 2 : -1;
}

/*
 * Page writer: copies ranges of an image file into the new process.  The
 * file is read with pread into one reused buffer (adjacent ranges in one
 * call) and written with process_vm_writev, which reaches the new pages
 * through the kernel's own mapping: no user mapping of the image and no
 * page faults taken by the process itself (see image.c on why that matters).
 */
struct page_writer {
	pid_t pid, hpid;	/* hpid: for process_vm_writev */
	int fd;
	uint8_t *buf;
	size_t cap, used;		/* buf's size; bytes of it read or pending */
	uint64_t rd_off, rd_len;	/* file range not yet read, ending at buf + used */
	struct iovec lv[IOV_BATCH], rv[IOV_BATCH];
	int n;
	XXH3_state_t *hs;		/* hashing the file as it is read (NULL: verified before) */
	uint64_t hashed;		/* bytes of the file hashed, from its start */
};

/* Hashes the file from w->hashed up to end, through a buffer of its own. */
static int pw_hash_to(struct page_writer *w, uint64_t end)
{
	static uint8_t gap[64 << 10];
	while (w->hashed < end) {
		size_t n = end - w->hashed < sizeof(gap) ? end - w->hashed : sizeof(gap);
		if (pread_full(w->fd, gap, n, w->hashed) != (ssize_t)n)
			return fail_errno("pid %d: cannot read its pages from the image", w->pid);
		XXH3_64bits_update(w->hs, gap, n);
		w->hashed += n;
	}
	return 0;
}

static int pw_read(struct page_writer *w)
{
	uint8_t *p = w->buf + w->used - w->rd_len;
	if (w->rd_len && pread_full(w->fd, p, w->rd_len, w->rd_off) != (ssize_t)w->rd_len)
		return fail_errno("pid %d: cannot read its pages from the image", w->pid);
	if (w->hs && w->rd_len) {
		/* The file is hashed in order: a gap before this read first (read
		 * twice, once here), then what is new of this read, in cache. */
		if (w->rd_off > w->hashed && pw_hash_to(w, w->rd_off) < 0)
			return -1;
		if (w->rd_off + w->rd_len > w->hashed) {
			uint64_t skip = w->hashed - w->rd_off;
			XXH3_64bits_update(w->hs, p + skip, w->rd_len - skip);
			w->hashed = w->rd_off + w->rd_len;
		}
	}
	w->rd_len = 0;
	return 0;
}

static int pw_flush(struct page_writer *w)
{
	if (pw_read(w) < 0)
		return -1;
	if (w->n && process_vm_writev(w->hpid, w->lv, w->n, w->rv, w->n, 0) != (ssize_t)w->used)
		return fail_errno("pid %d: cannot write memory near 0x%" PRIx64, w->pid, (uint64_t)w->rv[0].iov_base);
	w->n = 0;
	w->used = 0;
	return 0;
}

/* Queues len bytes at file offset off for address vaddr. */
static int pw_add(struct page_writer *w, uint64_t off, uint64_t vaddr, uint64_t len)
{
	while (len) {
		uint64_t n;
		if (w->used == w->cap || w->n == IOV_BATCH)
			if (pw_flush(w) < 0)
				return -1;
		n = len < w->cap - w->used ? len : w->cap - w->used;
		if (w->rd_len && w->rd_off + w->rd_len != off && pw_read(w) < 0)
			return -1;
		if (!w->rd_len)
			w->rd_off = off;
		w->rd_len += n;
		if (w->n && (uint8_t *)w->lv[w->n - 1].iov_base + w->lv[w->n - 1].iov_len == w->buf + w->used &&
		    (uint64_t)w->rv[w->n - 1].iov_base + w->rv[w->n - 1].iov_len == vaddr) {
			w->lv[w->n - 1].iov_len += n;
			w->rv[w->n - 1].iov_len += n;
		} else {
			w->lv[w->n] = (struct iovec){ w->buf + w->used, n };
			w->rv[w->n] = (struct iovec){ (void *)vaddr, n };
			w->n++;
		}
		w->used += n;
		off += n;
		vaddr += n;
		len -= n;
	}
	return 0;
}

/* Opens a page file for the writer; it is hashed as it is read. */
static int pw_open(struct page_writer *w, struct img *im, const char *name, uint64_t *size, uint64_t *hash)
{
	if ((w->fd = img_open_unverified(im, name, size, hash)) < 0)
		return -1;
	w->hs = XXH3_createState();
	XXH3_64bits_reset(w->hs);
	w->hashed = 0;
	return 0;
}

/* After the last pw_add: the rest of the file (bytes no run uses must
 * match too) and the checksum, before the process can run. */
static int pw_close(struct page_writer *w, struct img *im, const char *name, uint64_t size, uint64_t hash)
{
	int ret = 0;
	if (pw_flush(w) < 0 || pw_hash_to(w, size) < 0)
		ret = -1;
	else if (XXH3_64bits_digest(w->hs) != hash)
		ret = fail("image %s: %s is corrupt: checksum mismatch", im->dir, name);
	else
		img_set_verified(im, name);
	close(w->fd);
	XXH3_freeState(w->hs);
	w->fd = -1;
	w->hs = NULL;
	w->used = w->n = 0;
	w->rd_len = 0;
	return ret;
}

/* Writes the page file's pages (pages-PID.img, in pagemap order). */
static int restore_page_file(struct proc_state *ps, struct img *im, struct page_writer *w)
{
	struct mm_state *mm = &ps->mm;
	const struct page_run *runs;
	uint64_t off = 0, size, hash;
	size_t runs_len;
	char name[64];
	snprintf(name, sizeof(name), "pagemap-%d.img", ps->pid);
	if (!(runs = img_map(im, name, &runs_len)))
		return -1;
	snprintf(name, sizeof(name), "pages-%d.img", ps->pid);
	/* Read once: hashed in the buffer on the way into the process, which
	 * runs only if the whole file matches (restore kills it otherwise). */
	if (pw_open(w, im, name, &size, &hash) < 0)
		return -1;
	for (int i = 0; i < mm->nruns; i++) {
		uint64_t len = runs[i].npages * PAGE_SIZE;
		if (off + len > size)
			return fail("image %s: page runs exceed the page file", im->dir);
		if (pw_add(w, off, runs[i].vaddr, len) < 0)
			return -1;
		off += len;
	}
	return pw_close(w, im, name, size, hash);
}

/* Pages sent before the freeze (migrate pre-copy): preidx-PID.img says
 * where in prestore-PID.img each run is. */
static int restore_prestore(struct proc_state *ps, struct img *im, struct page_writer *w)
{
	char name[64];
	size_t ilen;
	uint64_t size, hash;
	const struct pre_run *idx;
	snprintf(name, sizeof(name), "preidx-%d.img", ps->pid);
	if (!img_has(im, name))
		return 0;
	if (!(idx = img_map(im, name, &ilen)))
		return -1;
	snprintf(name, sizeof(name), "prestore-%d.img", ps->pid);
	/* Mostly in store order (the index is by address, pages are stored as
	 * they came): hashed on the way as well, gaps read twice. */
	if (pw_open(w, im, name, &size, &hash) < 0)
		return -1;
	for (size_t i = 0; i < ilen / sizeof(*idx); i++) {
		/* mem_validate checked each run against the store's length */
		if (pw_add(w, idx[i].offset, idx[i].vaddr, idx[i].npages * PAGE_SIZE) < 0)
			return -1;
	}
	return pw_close(w, im, name, size, hash);
}

/* The largest of the page file and the pre-copied store. */
static uint64_t page_bytes(struct proc_state *ps, struct img *im)
{
	uint64_t a = 0, b = 0;
	char name[64];
	snprintf(name, sizeof(name), "pages-%d.img", ps->pid);
	if (img_has(im, name))
		img_file_size(im, name, &a);
	snprintf(name, sizeof(name), "prestore-%d.img", ps->pid);
	if (img_has(im, name))
		img_file_size(im, name, &b);
	return a > b ? a : b;
}

static int restore_pages(struct proc_state *ps, struct img *im)
{
	struct page_writer *w = xzalloc(sizeof(*w));
	int ret;
	w->pid = ps->pid;
	w->hpid = ps->hpid;
	w->fd = -1;
	/* A buffer no bigger than the pages: every fresh page costs a fault. */
	w->cap = PAGE_ALIGN_UP(page_bytes(ps, im));
	w->cap = w->cap < CHUNK ? (w->cap ? w->cap : PAGE_SIZE) : CHUNK;
	w->buf = img_buffer(w->cap);
	ret = restore_page_file(ps, im, w);
	if (!ret)
		ret = restore_prestore(ps, im, w);
	if (w->fd >= 0)
		close(w->fd);
	if (w->hs)
		XXH3_freeState(w->hs);
	free(w);
	return ret;
}

int mem_restore_remote(struct proc_state *ps, struct rsys *rs, struct img *im)
{
	struct mm_state *mm = &ps->mm;
	struct proc_vma *cur;
	struct range *used, cur_sp[3] = { { 0, 0 } }, tgt_sp[3] = { { 0, 0 } };
	int ncur, nused = 0, ret = -1;
	uint64_t scratch, gadget_off = 0;
	uint8_t *kept;

	if (proc_vmas(ps->hpid, &cur, &ncur) < 0)
		return -1;
	kept = cow_kept_map(ps);
	used = xmalloc((ncur + mm->nvmas + 4) * sizeof(*used));
	for (int i = 0; i < ncur; i++) {
		int k = cur_special(cur[i].path);
		used[nused++] = (struct range){ cur[i].start, cur[i].end };
		if (k >= 0)
			cur_sp[k] = used[nused - 1];
	}
	for (int i = 0; i < mm->nvmas; i++)
		used[nused++] = (struct range){ mm->vmas[i].start, mm->vmas[i].end };
	if (special_targets(ps, cur_sp, tgt_sp) < 0)
		goto out;
	gadget_off = rs->gadget - cur_sp[2].start;

	/* 1. Scratch memory at an address free in both layouts. */
	scratch = find_hole(used, nused, 4 * PAGE_SIZE);
	if (!scratch) {
		fail("pid %d: no free address range for ferry's scratch page", ps->pid);
		goto out;
	}
	if (rsys_map_scratch(rs, 4 * PAGE_SIZE, scratch) < 0)
		goto out;

	/* 2. ferry's rseq area is about to vanish: the kernel must stop writing it. */
	{
		struct {
			uint64_t ptr;
			uint32_t size, sig, flags, pad;
		} rc = { 0, 0, 0, 0, 0 };
		if (ptrace(0x420f /* PTRACE_GET_RSEQ_CONFIGURATION */, ps->hpid, sizeof(rc), &rc) < 0) {
			fail_errno("pid %d: cannot read rseq registration", ps->pid);
			goto out;
		}
		if (rc.ptr && rsys_chk(rs, "rseq unregistration", SYS_rseq, rc.ptr, rc.size, 1, rc.sig, 0, 0) < 0)
			goto out;
	}

	/* 3. Unmap everything of ferry's but the vDSO block and the scratch. */
	for (int i = 0; i < ncur; i++) {
		if (cur_special(cur[i].path) >= 0 || !strcmp(cur[i].path, "[vsyscall]") ||
		    cur[i].start == scratch)
			continue;
		if (unmap_except_kept(mm, kept, rs, &cur[i]) < 0)
			goto out;
	}

	/* 4. Move the vDSO block where the process had it.  mremap cannot move
	 * onto an overlapping range, so an overlap goes through a hole first.
	 * A [vvar] the program had unmapped goes now; a [vdso] it had unmapped
	 * is moved out of the way and goes last (mem_restore_last): ferry's
	 * remote syscalls run through it. */
	used[nused++] = (struct range){ scratch, scratch + 4 * PAGE_SIZE };
	for (int k = 0; k < 2; k++)
		if (cur_sp[k].end && !tgt_sp[k].end) {
			if (rsys_chk(rs, "munmap of [vvar]", SYS_munmap, cur_sp[k].start, cur_sp[k].end - cur_sp[k].start,
				     0, 0, 0, 0) < 0)
				goto out;
			cur_sp[k] = (struct range){ 0, 0 };
		}
	if (cur_sp[2].end && !tgt_sp[2].end) {
		uint64_t len = cur_sp[2].end - cur_sp[2].start, at = find_hole(used, nused, len);
		if (!at) {
			fail("pid %d: no free address range for the vDSO it had unmapped", ps->pid);
			goto out;
		}
		tgt_sp[2] = (struct range){ at, at + len };
		used[nused++] = tgt_sp[2];
		mm->vdso_drop[mm->nvdso_drop][0] = at;
		mm->vdso_drop[mm->nvdso_drop++][1] = len;
	}
	{
		uint64_t lo = UINT64_MAX, hi = 0;
		int overlap = 0;
		for (int k = 0; k < 3; k++) {
			if (!cur_sp[k].end)
				continue;
			lo = cur_sp[k].start < lo ? cur_sp[k].start : lo;
			hi = cur_sp[k].end > hi ? cur_sp[k].end : hi;
			for (int m = 0; m < 3; m++)
				if (tgt_sp[m].start < cur_sp[k].end && cur_sp[k].start < tgt_sp[m].end)
					overlap = 1;
		}
		if (overlap) {
			uint64_t base = find_hole(used, nused, hi - lo);
			if (!base) {
				fail("pid %d: no free address range to move the vDSO through", ps->pid);
				goto out;
			}
			for (int k = 0; k < 3; k++) {
				uint64_t len = cur_sp[k].end - cur_sp[k].start, to = base + (cur_sp[k].start - lo);
				if (!len)
					continue;
				if (rsys_chk(rs, "mremap of the vDSO", SYS_mremap, cur_sp[k].start, len, len,
					     MREMAP_MAYMOVE | MREMAP_FIXED, to, 0) < 0)
					goto out;
				cur_sp[k] = (struct range){ to, to + len };
			}
			rs->gadget = cur_sp[2].start + gadget_off;
		}
		for (int k = 0; k < 3; k++) {
			uint64_t len = cur_sp[k].end - cur_sp[k].start;
			if (!len)
				continue;
			if (rsys_chk(rs, "mremap of the vDSO", SYS_mremap, cur_sp[k].start, len, len,
				     MREMAP_MAYMOVE | MREMAP_FIXED, tgt_sp[k].start, 0) < 0)
				goto out;
		}
		rs->gadget = tgt_sp[2].start + gadget_off;
		if (drop_special_parts(ps, rs, tgt_sp) < 0)
			goto out;
	}

	/* 5. Map every VMA, writable for now so the pages can be written. */
	for (int i = 0; i < mm->nvmas; i++) {
		const struct vma *v = &mm->vmas[i];
		int prot = v->prot, flags = MAP_FIXED | (v->shared ? MAP_SHARED : MAP_PRIVATE), fd = -1;
		uint64_t off = 0;
		long r;
		if (is_special(v) || kept[i])
			continue;
		if (v->kind == VMA_SYSV) {
			const struct shm_obj *o = &ps->tree->shm[mm->files[v->file].shm];
			r = rsys_call(rs, SYS_shmat, o->shmid, v->start,
				      (v->prot & PROT_WRITE ? 0 : SHM_RDONLY) | (v->prot & PROT_EXEC ? SHM_EXEC : 0), 0, 0, 0);
			if (r != (long)v->start) {
				fail("pid %d: cannot attach SysV segment %d at %" PRIx64 ": %s", ps->pid, o->shmid, v->start,
				     r < 0 && r > -4096 ? strerror(-r) : "attached elsewhere");
				goto out;
			}
			continue;
		}
		if (dumps_pages(v))
			prot |= PROT_READ | PROT_WRITE;
		if (v->file >= 0) {
			fd = mm->files[v->file].fd;
			off = v->pgoff * PAGE_SIZE;
		} else {
			flags |= MAP_ANONYMOUS;
		}
		flags = map_flags_of(v, flags);
		r = rsys_call(rs, SYS_mmap, v->start, v->end - v->start, prot, flags, fd, off);
		if (r != (long)v->start) {
			fail("pid %d: cannot map VMA %" PRIx64 "-%" PRIx64 " (%s): %s", ps->pid, v->start, v->end,
			     v->name, r < 0 && r > -4096 ? strerror(-r) : "mapped elsewhere");
			goto out;
		}
	}

	/* 6. Transparent huge pages where the process asked for them, before
	 * the pages are written: they are then allocated 2 MiB at a time, as
	 * the source had them, not collapsed later. */
	for (int i = 0; i < mm->nvmas; i++) {
		const struct vma *v = &mm->vmas[i];
		if (!is_special(v) && v->kind != VMA_SYSV && (v->madv & (1u << MADV_HG_BIT)) &&
		    rsys_chk(rs, "madvise", SYS_madvise, v->start, v->end - v->start, MADV_HUGEPAGE, 0, 0, 0) < 0)
			goto out;
	}

	/* 6b. Pages: the page file, then those sent before the freeze. */
	if (restore_pages(ps, im) < 0)
		goto out;

	/* 6c. Pages shared with relatives whose VMA could not be placed. */
	if (cow_write_fallback(ps, kept) < 0)
		goto out;

	/* 7. Final protections and advice. */
	for (int i = 0; i < mm->nvmas; i++) {
		const struct vma *v = &mm->vmas[i];
		if (is_special(v))
			continue;
		if (dumps_pages(v) && v->prot != (v->prot | PROT_READ | PROT_WRITE) &&
		    rsys_chk(rs, "mprotect", SYS_mprotect, v->start, v->end - v->start, v->prot, 0, 0, 0) < 0)
			goto out;
		if (restore_vma_flags(rs, v) < 0)
			goto out;
	}
	ret = 0;
out:
	free(used);
	free(kept);
	proc_free_vmas(cur, ncur);
	return ret;
}

int mem_restore_finish(struct proc_state *ps, struct rsys *rs)
{
	struct mm_state *mm = &ps->mm;
	struct prctl_mm_map map = {
		.start_code = mm->start_code, .end_code = mm->end_code,
		.start_data = mm->start_data, .end_data = mm->end_data,
		.start_brk = mm->start_brk, .brk = mm->brk, .start_stack = mm->start_stack,
		.arg_start = mm->arg_start, .arg_end = mm->arg_end,
		.env_start = mm->env_start, .env_end = mm->env_end,
		.auxv = (__u64 *)(uintptr_t)(rs->scratch + PAGE_SIZE), .auxv_size = mm->auxv_len,
		.exe_fd = mm->files[mm->exe_file].fd,
	};
	if (mm->auxv_len > 2 * PAGE_SIZE)
		return fail("pid %d: auxv of %zu bytes is too large", ps->pid, mm->auxv_len);
	if (mem_poke(ps->hpid, rs->scratch, &map, sizeof(map)) < 0 ||
	    mem_poke(ps->hpid, rs->scratch + PAGE_SIZE, mm->auxv, mm->auxv_len) < 0)
		return -1;
	if (rsys_chk(rs, "prctl(PR_SET_MM_MAP)", SYS_prctl, PR_SET_MM, PR_SET_MM_MAP, rs->scratch, sizeof(map),
		     0, 0) < 0)
		return -1;
	if (restore_mm_attrs(mm, rs) < 0)
		return -1;
	for (int i = 0; i < mm->nfiles; i++)
		if (mm->files[i].fd >= 0 && !(mm->files[i].shm >= 0 && ps->tree->shm[mm->files[i].shm].sysv) &&
		    rsys_chk(rs, "close of a mapped file's fd", SYS_close, mm->files[i].fd, 0, 0, 0, 0, 0) < 0)
			return -1;
	return 0;
}
