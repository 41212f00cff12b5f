/*
 * Threads: registers, the whole xsave area (x87/SSE/AVX/AVX-512/...), the
 * per-thread state glibc relies on (rseq registration, robust futex list,
 * clear_child_tid) and the thread's name.
 *
 * Registers are read at the interrupt stop, before any remote syscall
 * touches them.  A thread frozen inside a syscall is made to re-enter it on
 * restore (see regs_fixup_restart).  xstate is restored only on a CPU whose
 * enabled xsave features cover the image's.  Limits: one thread per process
 * for now (the tree/threads work adds clone3 of more threads).
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "image.h"
#include "log.h"
#include "pstate.h"
#include "ptrace.h"
#include "util.h"

/* The kernel's struct for PTRACE_GET_RSEQ_CONFIGURATION (glibc's name varies). */
struct rseq_config {
	uint64_t rseq_abi_pointer;
	uint32_t rseq_abi_size;
	uint32_t signature;
	uint32_t flags;
	uint32_t pad;
};
#define PTRACE_GET_RSEQ_CONF 0x420f

#define ARCH_GET_XCOMP_PERM 0x1022
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_FIRST_DYNAMIC 18	/* AMX tile data: the only dynamic feature so far */

/* Offset of xfeatures in the xsave "software reserved" bytes the kernel
 * fills for ptrace (struct _fpx_sw_bytes at byte 464). */
#define XSAVE_SW_XFEATURES 472

static const struct {
	const char *name;
	size_t off;
} reg_fields[] = {
#define R(f) { #f, offsetof(struct user_regs_struct, f) }
	R(r15), R(r14), R(r13), R(r12), R(rbp), R(rbx), R(r11), R(r10), R(r9), R(r8),
	R(rax), R(rcx), R(rdx), R(rsi), R(rdi), R(orig_rax), R(rip), R(cs), R(eflags),
	R(rsp), R(ss), R(fs_base), R(gs_base), R(ds), R(es), R(fs), R(gs),
#undef R
};

static uint64_t xstate_features(const uint8_t *xs, size_t len)
{
	uint64_t f = 0;
	if (len >= XSAVE_SW_XFEATURES + 8)
		memcpy(&f, xs + XSAVE_SW_XFEATURES, 8);
	return f;
}

static int read_thread_name(pid_t pid, pid_t tid, char name[16])
{
	char path[96], *s;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", pid, tid);
	s = read_file(path, NULL);
	if (!s)
		return fail_errno("cannot read %s", path);
	s[strcspn(s, "\n")] = 0;
	snprintf(name, 16, "%s", s);
	free(s);
	return 0;
}

/* The kernel's struct rseq_cs (uapi linux/rseq.h). */
struct rseq_cs_desc {
	uint32_t version, flags;
	uint64_t start_ip, post_commit_offset, abort_ip;
};

/* A thread frozen inside an rseq critical section must restart it from its
 * abort handler, as the kernel would have it on preemption: the remote
 * syscalls move it out of the section (the kernel then just forgets the
 * section), and a restore may resume it on another CPU.  So its saved ip
 * becomes the abort handler, and the section is unregistered, as the
 * kernel does when it aborts one. */
static int rseq_abort_fixup(pid_t pid, struct thread_state *t)
{
	struct rseq_cs_desc cs;
	uint64_t csp, zero = 0;
	/* struct rseq: u32 cpu_id_start, u32 cpu_id, u64 rseq_cs, ... */
	if (mem_peek(pid, t->rseq_ptr + 8, &csp, sizeof(csp)) < 0)
		return -1;
	if (!csp)
		return 0;
	if (mem_peek(pid, csp, &cs, sizeof(cs)) < 0)
		return -1;
	if (t->regs.rip - cs.start_ip >= cs.post_commit_offset)	/* not inside (unsigned: below too) */
		return 0;
	pr_debug("tid %d: frozen in an rseq critical section at 0x%llx: resumes at its abort handler 0x%llx",
		 t->tid, (unsigned long long)t->regs.rip, (unsigned long long)cs.abort_ip);
	t->regs.rip = cs.abort_ip;
	return mem_poke(pid, t->rseq_ptr + 8, &zero, sizeof(zero));
}

int thread_dump_regs(struct proc_state *ps)
{
	for (int i = 0; i < ps->nthreads; i++) {
		struct thread_state *t = &ps->threads[i];
		struct rseq_config rc;
		uint8_t buf[XSTATE_MAX];
		size_t len = sizeof(buf);
		void *head = NULL;
		size_t hlen = 0;

		if (read_thread_name(ps->hpid, t->htid, t->name) < 0)
			return -1;
		if (pt_getregs(t->htid, &t->regs) < 0 || pt_get_xstate(t->htid, buf, &len) < 0)
			return -1;
		t->xstate = xmalloc(len);
		memcpy(t->xstate, buf, len);
		t->xstate_len = len;
		if (ptrace(PTRACE_GETSIGMASK, t->htid, sizeof(uint64_t), &t->sigmask) < 0)
			return fail_errno("cannot read the signal mask of tid %d", t->tid);
		memset(&rc, 0, sizeof(rc));
		if (ptrace(PTRACE_GET_RSEQ_CONF, t->htid, sizeof(rc), &rc) < 0)
			return fail_errno("cannot read the rseq registration of tid %d", t->tid);
		t->rseq_ptr = rc.rseq_abi_pointer;
		t->rseq_len = rc.rseq_abi_size;
		t->rseq_sig = rc.signature;
		t->rseq_flags = rc.flags;
		if (t->rseq_ptr && rseq_abort_fixup(ps->hpid, t) < 0)
			return -1;
		if (syscall(SYS_get_robust_list, t->htid, &head, &hlen) < 0)
			return fail_errno("cannot read the robust futex list of tid %d", t->tid);
		t->robust_head = (uintptr_t)head;
		t->robust_len = hlen;
	}
	return 0;
}

int thread_dump(struct proc_state *ps)
{
	/* clear_child_tid and the AMX permission can only be read by the thread itself. */
	for (int i = 0; i < ps->nthreads; i++) {
		struct thread_state *t = &ps->threads[i];
		struct rsys rs;
		if (rsys_for_thread(&ps->rs, t->htid, &rs) < 0)
			return -1;
		if (rsys_chk(&rs, "prctl(PR_GET_TID_ADDRESS)", SYS_prctl, PR_GET_TID_ADDRESS, rs.scratch, 0, 0, 0, 0) < 0)
			return -1;
		if (mem_peek(ps->hpid, rs.scratch, &t->tid_address, 8) < 0)
			return -1;
	}
	ps->xcomp_perm = 0;
	if (rsys_call(&ps->rs, SYS_arch_prctl, ARCH_GET_XCOMP_PERM, ps->rs.scratch, 0, 0, 0, 0) == 0 &&
	    mem_peek(ps->hpid, ps->rs.scratch, &ps->xcomp_perm, 8) < 0)
		return -1;
	return 0;
}

void thread_encode(const struct proc_state *ps, json_t *j)
{
	json_t *arr = json_array();
	for (int i = 0; i < ps->nthreads; i++) {
		const struct thread_state *t = &ps->threads[i];
		json_t *o = json_object(), *regs = json_object();
		for (size_t k = 0; k < ARRAY_SIZE(reg_fields); k++)
			json_object_set_new(regs, reg_fields[k].name,
					    jhex(*(const uint64_t *)((const char *)&t->regs + reg_fields[k].off)));
		json_object_set_new(o, "tid", json_integer(t->tid));
		json_object_set_new(o, "name", jstr(t->name));
		json_object_set_new(o, "regs", regs);
		json_object_set_new(o, "xstate", jblob(t->xstate, t->xstate_len));
		json_object_set_new(o, "xfeatures", jhex(xstate_features(t->xstate, t->xstate_len)));
		json_object_set_new(o, "sigmask", jhex(t->sigmask));
		json_object_set_new(o, "rseq", json_pack("{s:o,s:I,s:o,s:I}", "ptr", jhex(t->rseq_ptr),
							 "len", (json_int_t)t->rseq_len, "sig", jhex(t->rseq_sig),
							 "flags", (json_int_t)t->rseq_flags));
		json_object_set_new(o, "robust_list", json_pack("{s:o,s:I}", "head", jhex(t->robust_head),
								"len", (json_int_t)t->robust_len));
		json_object_set_new(o, "clear_child_tid", jhex(t->tid_address));
		json_object_set_new(o, "sigaltstack", json_pack("{s:o,s:o,s:i}", "sp", jhex(t->ss_sp),
								"size", jhex(t->ss_size), "flags", t->ss_flags));
		json_array_append_new(arr, o);
	}
	json_object_set_new(j, "threads", arr);
	json_object_set_new(j, "xcomp_perm", jhex(ps->xcomp_perm));
}

int thread_decode(json_t *j, struct proc_state *ps)
{
	json_t *arr = jget_arr(j, "threads"), *o;
	size_t i;
	if (!arr)
		return -1;
	if (jget_u64(j, "xcomp_perm", &ps->xcomp_perm) < 0)
		return -1;
	if (json_array_size(arr) < 1)
		return fail("image %s is corrupt: no threads", jctx);
	ps->nthreads = json_array_size(arr);
	ps->threads = xzalloc(ps->nthreads * sizeof(*ps->threads));
	json_array_foreach(arr, i, o) {
		struct thread_state *t = &ps->threads[i];
		json_t *regs = jget_obj(o, "regs"), *rseq, *rl, *ss;
		long long tid, v;
		const char *name;
		void *xs;
		if (!regs || jget_int(o, "tid", &tid) < 0 || jget_str(o, "name", &name) < 0)
			return -1;
		t->tid = tid;
		snprintf(t->name, sizeof(t->name), "%s", name);
		for (size_t k = 0; k < ARRAY_SIZE(reg_fields); k++)
			if (jget_u64(regs, reg_fields[k].name,
				     (uint64_t *)((char *)&t->regs + reg_fields[k].off)) < 0)
				return -1;
		if (jget_blobv(o, "xstate", &xs, &t->xstate_len) < 0)
			return -1;
		t->xstate = xs;
		if (jget_u64(o, "sigmask", &t->sigmask) < 0 || jget_u64(o, "clear_child_tid", &t->tid_address) < 0)
			return -1;
		if (!(rseq = jget_obj(o, "rseq")) || jget_u64(rseq, "ptr", &t->rseq_ptr) < 0 ||
		    jget_u64(rseq, "sig", &t->rseq_sig) < 0)
			return -1;
		if (jget_int(rseq, "len", &v) < 0)
			return -1;
		t->rseq_len = v;
		if (jget_int(rseq, "flags", &v) < 0)
			return -1;
		t->rseq_flags = v;
		if (!(rl = jget_obj(o, "robust_list")) || jget_u64(rl, "head", &t->robust_head) < 0 ||
		    jget_u64(rl, "len", &t->robust_len) < 0)
			return -1;
		if (!(ss = jget_obj(o, "sigaltstack")) || jget_u64(ss, "sp", &t->ss_sp) < 0 ||
		    jget_u64(ss, "size", &t->ss_size) < 0 || jget_int(ss, "flags", &v) < 0)
			return -1;
		t->ss_flags = v;
	}
	return 0;
}

int thread_validate(const struct proc_state *ps)
{
	uint64_t have = cpu_xcr0();
	size_t own_len = cpu_xstate_size();
	for (int i = 0; i < ps->nthreads; i++) {
		const struct thread_state *t = &ps->threads[i];
		uint64_t need = xstate_features(t->xstate, t->xstate_len);
		if (need & ~have)
			return fail("tid %d uses CPU state features 0x%" PRIx64 " this CPU lacks (it has 0x%" PRIx64
				    "): cannot restore here", t->tid, need & ~have, have);
		if (t->xstate_len > own_len)
			return fail("tid %d: xsave area of %zu bytes does not fit this CPU's %zu bytes",
				    t->tid, t->xstate_len, own_len);
	}
	return 0;
}

int thread_restore_remote(const struct proc_state *ps, struct rsys *rs)
{
	/* Dynamically enabled xstate (AMX tiles) must be asked for again before
	 * the xsave area that uses it can be loaded. */
	for (int f = XFEATURE_FIRST_DYNAMIC; f < 64; f++)
		if ((ps->xcomp_perm >> f & 1) &&
		    rsys_chk(rs, "arch_prctl(ARCH_REQ_XCOMP_PERM)", SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, f, 0, 0, 0,
			     0) < 0)
			return -1;
	/* The rest is per thread, so each thread makes the calls itself. */
	for (int i = 0; i < ps->nthreads; i++) {
		const struct thread_state *t = &ps->threads[i];
		struct rsys trs;
		if (rsys_for_thread(rs, t->htid, &trs) < 0)
			return -1;
		if (rsys_chk(&trs, "set_robust_list", SYS_set_robust_list, t->robust_head, t->robust_len, 0, 0, 0, 0) < 0 &&
		    t->robust_head)
			return -1;
		if (rsys_chk(&trs, "set_tid_address", SYS_set_tid_address, t->tid_address, 0, 0, 0, 0, 0) < 0)
			return -1;
		if (t->rseq_ptr &&
		    rsys_chk(&trs, "rseq registration", SYS_rseq, t->rseq_ptr, t->rseq_len, 0, t->rseq_sig, 0, 0) < 0)
			return -1;
		if (mem_poke(ps->hpid, trs.scratch, t->name, sizeof(t->name)) < 0 ||
		    rsys_chk(&trs, "prctl(PR_SET_NAME)", SYS_prctl, PR_SET_NAME, trs.scratch, 0, 0, 0, 0) < 0)
			return -1;
		if (sig_restore_thread(ps, t, &trs) < 0)
			return -1;
	}
	return 0;
}

int thread_restore_regs(const struct proc_state *ps)
{
	for (int i = 0; i < ps->nthreads; i++) {
		const struct thread_state *t = &ps->threads[i];
		struct user_regs_struct regs = t->regs;
		regs_fixup_restart(&regs, 0);
		if (pt_set_xstate(t->htid, t->xstate, t->xstate_len) < 0)
			return -1;
		if (pt_setregs(t->htid, &regs) < 0)
			return -1;
		if (ptrace(PTRACE_SETSIGMASK, t->htid, sizeof(uint64_t), &t->sigmask) < 0)
			return fail_errno("cannot set the signal mask of tid %d", t->tid);
	}
	return 0;
}
