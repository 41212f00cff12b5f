/*
 * The state of one process as ferry holds it between the dump and the image
 * (or between the image and the restore).  Each module owns its part and
 * provides its dump half and restore half; the command drivers (cmd/dump.c,
 * cmd/restore.c) call them in order.
 */
#ifndef FERRY_PSTATE_H
#define FERRY_PSTATE_H

#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/time.h>
#include <sys/user.h>
#include <time.h>

#include "ipmap.h"
#include "netlock.h"
#include "pattrs.h"
#include "proc.h"
#include "rsys.h"

struct img;

/* ---- signals.c ---- */
struct sig_action {
	uint64_t handler, flags, restorer, mask;
};
struct sig_pending {
	siginfo_t info;
};
struct sig_queue {
	struct sig_pending *q;
	int n;
};

/* ---- thread.c ---- */
struct thread_state {
	pid_t tid;		/* as the process sees it (its PID namespace's); in the image */
	pid_t htid;		/* run time, not in the image: in ferry's PID namespace, for
				 * /proc, ptrace, kill and rsys (== tid for a tree of ferry's) */
	char name[16];
	struct user_regs_struct regs;
	uint8_t *xstate;
	size_t xstate_len;
	uint64_t sigmask;
	struct sig_queue pending;	/* thread-directed */
	uint64_t ss_sp, ss_size;	/* sigaltstack */
	int ss_flags;
	uint64_t rseq_ptr, rseq_sig;
	uint32_t rseq_len, rseq_flags;
	uint64_t robust_head, robust_len;
	uint64_t tid_address;
	struct creds *cr;		/* task.c: its own credentials, NULL when the main thread's */
};

/* ---- task.c ---- */
/* Credentials: the kernel keeps them per thread. */
struct creds {
	uid_t uid[4];
	gid_t gid[4];
	int ngroups;
	gid_t *groups;
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	int securebits;		/* -1: an older image without them (left as they come) */
};

struct task_attrs {
	char comm[16];
	char *cwd, *root;
	int cwd_file;		/* a removed cwd: 1 + index of its deleted-dir in tree->files; 0: not removed */
	unsigned umask;
	unsigned long personality;
	int no_new_privs;
	struct creds cr;	/* the main thread's */
	struct rlimit rlim[NR_RLIMITS];
};

/* ---- mem.c ---- */
enum vma_kind {
	VMA_ANON,		/* private anonymous (incl. [heap], [stack]) */
	VMA_FILE_PRIVATE,	/* private file mapping; COW'ed pages are dumped */
	VMA_FILE_SHARED,	/* shared file mapping; data lives in the file */
	VMA_SHMEM,		/* MAP_SHARED|MAP_ANONYMOUS, memfd */
	VMA_SYSV,		/* a SysV shared memory attach */
	VMA_VDSO, VMA_VVAR, VMA_VVAR_VCLOCK, VMA_VSYSCALL,
};

struct vma {
	uint64_t start, end, pgoff;
	int prot, shared, growsdown;
	enum vma_kind kind;
	char *name;		/* path, or "[heap]", "[stack]", "" ... */
	int file;		/* index into mm.files for file mappings, else -1 */
	unsigned madv;		/* MADV_* bits to reapply, see mem.c */
	unsigned mflags;	/* MF_* bits (mem.c): locked, droppable, noreserve */
};

/* A file some mapping uses, with identity to check at restore. */
struct mapped_file {
	char *path;
	uint64_t size, mtime_ns;
	int writable;		/* needs O_RDWR (shared writable mapping) */
	int shm;		/* a shared memory object (tree->shm), not a path; else -1 */
	int fd;			/* restore: fd number in the new process */
};

struct page_run {
	uint64_t vaddr, npages;
};

/* A run of pages restored from the pre-copied store, at offset (bytes). */
struct pre_run {
	uint64_t vaddr, npages, offset;
};

struct mm_state {
	struct vma *vmas;
	int nvmas;
	struct mapped_file *files;
	int nfiles;
	int exe_file;		/* index into files */
	uint64_t start_code, end_code, start_data, end_data;
	uint64_t start_brk, brk, start_stack;
	uint64_t arg_start, arg_end, env_start, env_end;
	uint8_t *auxv;
	size_t auxv_len;
	struct page_run *runs;
	int nruns;
	uint64_t npages;
	struct page_run *pre;		/* dump: pages left to the pre-copied store */
	int npre, pre_cap;
	uint64_t npre_pages;
	uint64_t vdso_hash;	/* of the [vdso] text, to refuse a different kernel's */
	int thp_disable;	/* prctl(PR_GET_THP_DISABLE): 1 | flags << 1, or 0 */
	int memory_merge;	/* prctl(PR_GET_MEMORY_MERGE): KSM for every VMA */
	int mcl_future;		/* MCL_FUTURE [| MCL_ONFAULT] from mlockall, or 0 */
	/* Pages still shared copy-on-write with relatives since a fork (mem.c). */
	struct page_run *inh;	/* shared with the parent: an ancestor stores them */
	int ninh, inh_cap;
	struct page_run *cow;	/* shared with a child: stored in cow-PID.img */
	int ncow, cow_cap;
	uint64_t ninh_pages, ncow_pages;
	const uint8_t *cow_data;	/* restore: cow-PID.img, mapped */
	uint64_t *cow_off;		/* restore: offset of each cow run in it */
	uint8_t *cow_placed;		/* restore: per VMA, mapped by mem_cow_place */
	uint64_t vdso_drop[4][2];	/* restore: [vdso] parts the program had unmapped */
	int nvdso_drop;
};

/* ---- files.c, fileops.h: one module per kind ---- */
/* In the order dump tries them on an fd (filekinds.c): the first kind
 * whose match takes it gets it.  The image names kinds, not numbers. */
enum file_kind {
	FK_OPATH,		/* before every kind an O_PATH fd would look like */
	FK_NETLINK, FK_PACKET,	/* netlink.c, packet.c: before FK_INET, which takes any other socket */
	FK_PTY,			/* pty.c: before FK_TTY, which takes the other terminals */
	FK_UNIX, FK_INET, FK_EPOLL, FK_EVENTFD, FK_TIMERFD, FK_SIGNALFD, FK_INOTIFY,
	FK_DELETED_DIR,		/* before FK_DIR */
	FK_PROCFILE,		/* before FK_REG, FK_DIR */
	FK_NSFILE,		/* before FK_REG */
	FK_PIDFD,
	FK_FANOTIFY,
	FK_MEMFD, FK_DELETED, FK_REG, FK_DIR, FK_TTY, FK_CHR, FK_PIPE, FK_FIFO,
	FK_NR
};

struct unix_sk;		/* unix.c */
struct inet_sk;		/* inet.c */

/* One open file description; several fds may share it.  What every kind
 * has is here; the rest is the kind's, in priv (fileops.h). */
struct ofile {
	enum file_kind kind;
	char *path;		/* kinds with FO_PATH */
	int flags;		/* O_* status flags (file access mode included) */
	uint64_t pos;
	uint64_t ino, rdev, size, mtime_ns;
	unsigned mode;		/* st_mode */
	union {
		void *priv;		/* the kind's own state, owned by its module */
		struct inet_sk *inet;	/* priv as the socket modules see it */
		struct unix_sk *unx;
	};
	int keep;		/* restore: a second reference ferry keeps to the end */
	int rfd;		/* restore: ferry's own fd for it */
	pid_t owner_pid;	/* dump: a process (hpid) and fd holding it, for kcmp; restore: its pid */
	int owner_fd;
	uint64_t dev;		/* dump: st_dev, to find candidates for kcmp */
	int sigio_type, sigio_id, sigio_sig;	/* F_SETOWN_EX (F_OWNER_*, pid), F_SETSIG; id 0: none */
};

struct fd_entry {
	int fd;
	int cloexec;
	int ofile;		/* index into fd_state.ofiles */
};

struct fd_state {
	struct fd_entry *fds;
	int nfds;
};

/* ---- shmem.c ---- */
struct shm_obj {
	int memfd;		/* else MAP_SHARED|MAP_ANONYMOUS (or SysV, below) */
	int sysv;		/* a SysV segment: attached with shmat, no fd */
	int shmid, key, uid, gid, removed;
	char *name;		/* memfd name (without "memfd:") */
	uint64_t size, npages;
	int seals;
	unsigned mode;
	uint64_t dev, ino;	/* dump: identity */
	int rfd;		/* ferry's fd to it (dump: to read it; restore: to hand out) */
};

/* ---- locks.c ---- */
enum lock_kind { LK_POSIX, LK_OFD, LK_FLOCK, LK_LEASE };

/* One file lock held by the tree. */
struct file_lock {
	enum lock_kind kind;
	int type;		/* F_RDLCK or F_WRLCK (flock: LOCK_SH, LOCK_EX) */
	int64_t start, len;	/* absolute (SEEK_SET); len 0: to the end, whatever the size */
	int file;		/* the open file description, index into tree->files */
	pid_t pid;		/* POSIX: the owner; else a process holding the description */
	int fd;			/* an fd of pid on that description */
	int hold;		/* restore: ferry's stand-in for a POSIX lock, else -1 */
	int released;		/* migrate: given up on the frozen source's behalf */
};

struct lock_table {
	struct file_lock *l;
	int n;
};

/* Open file descriptions of the whole tree: processes share them. */
struct file_table {
	struct ofile *of;
	int n;
};

struct proc_state;

/* What the user asked for, for the modules that care. */
struct options {
	int tcp_established;	/* dump: preserve connections with TCP repair;
				   restore: insist that they were (CRIU's meaning) */
	int tcp_close;		/* dump/restore: break every established connection */
	double drain_timeout;	/* dump/migrate: seconds a broken connection's peer gets to take
				   what the process had written, counted from the image's end */
	int leave_running;
	int shell_job;		/* terminals go onto ferry's own terminal; a group led
				 * from outside becomes ferry restore's (pgroups.c) */
	int no_terminal;	/* migrate: the destination has no terminal for them */
	int detach;		/* restore: ferry exits once the processes run */
	const struct ipmap *ipmap;	/* restore */
};

/* The dumped tree: processes in creation order (a parent before its
 * children), and what they share. */
struct tree {
	struct options opt;
	struct proc_state *procs;
	int nprocs;
	struct file_table files;
	struct lock_table locks;
	struct shm_obj *shm;
	int nshm;
	struct netlock lock;
	struct precopy *precopy;	/* migrate: memory already sent by pre-copy */
	double drain_deadline;	/* dump: CLOCK_MONOTONIC time broken connections are reset at the latest */
};

/* ---- timers.c ---- */
struct ptimer {
	int id, clock, signo, notify, tid;
	uint64_t value;			/* sigev_value */
	struct itimerspec val;		/* time left, interval */
};

struct proc_state {
	pid_t pid, ppid, sid, pgid;	/* as the tree sees them (its PID namespace's): the image's ids */
	pid_t hpid;			/* run time, not in the image: pid in ferry's PID namespace, the
					 * one /proc, ptrace, kill, pidfd_open and rsys take (== pid for a
					 * tree in ferry's own namespace) */
	struct tree *tree;
	int zombie;			/* exited, not yet reaped: only exit_code matters */
	int exit_code;			/* zombie: the wait status its parent will get */
	int exit_signal;		/* signal the parent gets when it exits (SIGCHLD) */
	int pdeathsig;
	int pgid_helper;		/* its group's leader is gone: its parent recreates the group */
	int stopped;			/* job control: the signal it is stopped by (SIGSTOP, SIGTSTP...), else 0 */
	struct task_attrs task;
	struct thread_state *threads;
	int nthreads;
	uint64_t xcomp_perm;		/* arch_prctl(ARCH_GET_XCOMP_PERM): AMX permission */
	struct sig_action act[64];	/* index sig-1 */
	struct sig_queue shared_pending;
	struct itimerval itimer[3];
	struct ptimer *timers;
	int ntimers;
	struct mm_state mm;
	struct fd_state fds;
	struct pattr_vals pattrs[PATTR_MAX];	/* pattrs.c: the attribute table's values */

	/* dump/restore working state, not in the image */
	int pidfd;
	int seccomp_suspended;		/* restore: ptrace suspends its seccomp filters */
	struct rsys rs;
	char *root_prefix;		/* "/proc/PID/root" at dump: the process's view */
};

/* survey.c: what dump would refuse, without stopping anything: one line
 * each to out (NULL: the first one becomes the recorded failure); returns
 * how many, or -1 if the root cannot be read. */
#include <stdio.h>
int dump_survey(pid_t root, const struct options *opt, FILE *out);

/* pstate.c: the core document of one process (core-PID.json). */
/* ---- pgroups.c: sessions and process groups ---- */
int pgroup_outside(const struct tree *t, pid_t pgid);
int pgroup_check(struct tree *t);			/* dump (sets pgid_helper) */
int pgroup_survey(pid_t root, int shell_job);		/* migrate pre-flight, nothing frozen */
int pgroup_validate(const struct tree *t);		/* restore */
int pgroup_set_own(const struct tree *t, const struct proc_state *ps);	/* in the new process */
int pgroup_set_child(const struct proc_state *child, pid_t pid);	/* parent, after clone (NULL: a stand-in) */
int pgroup_join_remote(const struct tree *t, const struct proc_state *ps, struct rsys *rs);

json_t *pstate_encode(const struct proc_state *ps);
int pstate_decode(json_t *core, struct proc_state *ps);
void pstate_free(struct proc_state *ps);

/* Per-module halves.  *_dump run while the process is frozen and ferry has
 * a remote-syscall context (ps->rs) in its main thread; *_encode/_decode
 * move the state to and from the process's JSON; *_restore_child run inside
 * the new process while it still executes ferry's code; *_restore_remote run
 * from the tracer over remote syscalls once the address space is rebuilt. */
int task_dump(struct proc_state *ps);
void task_encode(const struct proc_state *ps, json_t *j);
int task_decode(json_t *j, struct proc_state *ps);
int task_restore_child(const struct proc_state *ps);
int task_restore_remote(const struct proc_state *ps, struct rsys *rs);
/* What paths /proc shows ferry for pid are relative to (root_prefix). */
char *task_root_prefix(pid_t pid);
/* namespaces.c: 1 (why filled) if pid lives in a namespace ferry would not
 * restore it into; the network and mount namespaces are allowed. */
int ns_foreign(pid_t pid, char *why, size_t len);
/* In the new process, after its mapped files are open: chroot. */
int task_restore_root(const struct proc_state *ps);
/* Threads whose credentials differ from the main thread's: into the thread
 * objects (after thread_encode / thread_decode). */
void task_encode_threads(const struct proc_state *ps, json_t *core);
int task_decode_threads(json_t *core, struct proc_state *ps);
void task_free_creds(struct proc_state *ps);

/* Registers and ptrace-readable state: before any remote syscall. */
int thread_dump_regs(struct proc_state *ps);
int thread_dump(struct proc_state *ps);
void thread_encode(const struct proc_state *ps, json_t *j);
int thread_decode(json_t *j, struct proc_state *ps);
int thread_validate(const struct proc_state *ps);
int thread_restore_remote(const struct proc_state *ps, struct rsys *rs);
int thread_restore_regs(const struct proc_state *ps);

int sig_dump(struct proc_state *ps);
void sig_encode(const struct proc_state *ps, json_t *j);
int sig_decode(json_t *j, struct proc_state *ps);
int sig_restore_remote(const struct proc_state *ps, struct rsys *rs);
/* Per thread, from that thread: sigaltstack and thread-directed pending. */
int sig_restore_thread(const struct proc_state *ps, const struct thread_state *t, struct rsys *trs);

int timers_dump(struct proc_state *ps);
void timers_encode(const struct proc_state *ps, json_t *j);
int timers_decode(json_t *j, struct proc_state *ps);
int timers_restore_remote(const struct proc_state *ps, struct rsys *rs);

int mem_dump(struct proc_state *ps, struct img *im);
void mem_encode(const struct proc_state *ps, json_t *j);
int mem_decode(json_t *j, struct proc_state *ps);
int mem_validate(const struct proc_state *ps, struct img *im);
/* Chooses the fd numbers (from first_fd on) the mapped files get in the new
 * process; mem_restore_child opens them there, inside it. */
void mem_assign_fds(struct proc_state *ps, int first_fd);
int mem_restore_child(const struct proc_state *ps);
int mem_restore_remote(struct proc_state *ps, struct rsys *rs, struct img *im);
int mem_restore_finish(struct proc_state *ps, struct rsys *rs);
/* The very last remote syscall in the process: unmaps the parts of its
 * [vdso] it had unmapped (ferry's syscall instruction is there). */
int mem_restore_last(struct proc_state *ps, struct rsys *rs);
/* Copy-on-write sharing after fork.  Restore, before any process exists:
 * reads and checks the shared pages of every process. */
int mem_cow_prepare(struct tree *t, struct img *im);
/* In the new process, on ferry's code, before it forks its children: maps
 * the memory it shares with them (or inherited from its parent) and fills
 * it, so the children inherit it shared.  Never fails for want of room. */
int mem_cow_place(const struct tree *t, const struct proc_state *ps);	/* (marks mm.cow_placed) */

int files_dump(struct proc_state *ps, struct img *im);
/* A description only ferry holds (myfd, a file in flight in one of ps's
 * unix sockets, which it takes): its index in the table, found or dumped. */
int files_dump_held(struct proc_state *ps, struct img *im, int myfd);
void files_encode(const struct proc_state *ps, json_t *j);
int files_decode(json_t *j, struct proc_state *ps);
/* The tree's open file descriptions, in shared.json. */
void files_table_encode(const struct tree *t, json_t *j);
int files_table_decode(json_t *j, struct tree *t);
void files_table_free(struct tree *t);
int files_validate(const struct tree *t);
/* Parent side: open every file description ferry can open itself. */
int files_prepare(struct tree *t, struct img *im);
/* Child side: put every fd at its number, close the rest. */
int files_restore_child(struct proc_state *ps, int *status_fd, int keep_fd);
/* Child side, last: close the temporary fds files_restore_child parked. */
int files_drop_parking(const struct proc_state *ps, int keep_fd);
/* Parent side, once the processes hold them: close ferry's copies. */
void files_release(struct tree *t);
int files_max_fd(const struct proc_state *ps);

/* locks.c: POSIX, OFD and flock locks (called by files.c, restore, migrate) */
/* Dump: the locks seen through pid's fd, on description `file` (new: first
 * seen in the tree, so its OFD and flock locks are read here). */
int locks_dump_fd(struct proc_state *ps, int fd, int file, int new_desc);
/* Dump: every POSIX lock the process holds was found through its fds. */
int locks_dump_check(const struct proc_state *ps);
void locks_encode(const struct tree *t, json_t *j);
int locks_decode(json_t *j, struct tree *t);
int locks_validate(const struct tree *t);
/* Restore, parent side, once files_prepare opened every description: take
 * the OFD locks, stand-ins for the POSIX ones, and check the flock ones. */
int locks_prepare(struct tree *t);
/* Restore, child side, once its fds are in place: its flock locks. */
int locks_restore_child(const struct proc_state *ps);
/* Restore, in the rebuilt process (after its last close): its POSIX locks. */
int locks_restore_remote(struct proc_state *ps, struct rsys *rs);
void locks_free(struct tree *t);
/* Migrate: the frozen source gives its locks up for the destination, and
 * takes them back if the source runs on. */
int locks_handover(struct tree *t);
void locks_take_back(struct tree *t);

/* shmem.c: shared memory objects (tree-wide) */
/* Finds or adds the object fd refers to (name as in /proc/PID/maps). */
int shm_note(struct tree *t, int fd, const char *name, int *id);
int shm_dump(struct tree *t, struct img *im);
void shm_encode(const struct tree *t, json_t *j);
int shm_decode(json_t *j, struct tree *t);
/* Creates and fills every object in ferry, ready to be handed out. */
int shm_prepare(struct tree *t, struct img *im);
void shm_release(struct tree *t);
/* Segments removed (IPC_RMID) at dump are removed again once attached. */
void shm_finish(struct tree *t);
void shm_free(struct tree *t);

/* inet.c: TCP and UDP sockets over IPv4/IPv6, called by files.c */
int inet_carried(int family, int type, int proto);
int inet_dump(struct proc_state *ps, struct ofile *of, int fd, int myfd);
/* After every process is dumped: peers inside the tree, TCP repair, the network lock. */
int inet_dump_finish(struct tree *t, struct img *im);
/* The source runs on: undo repair, lift the lock. */
void inet_dump_undo(struct tree *t);
/* The source is dead: each broken connection delivers what the process had
 * written (until t->drain_deadline), then its peer is reset; the other
 * sockets close. */
void inet_drain(struct tree *t);
void inet_encode(const struct ofile *of, json_t *j);
int inet_decode(json_t *j, struct ofile *of);
int inet_validate(const struct tree *t);
int inet_prepare(struct tree *t, struct ofile *of);
int inet_is_listener(const struct ofile *of);
/* Once every process is rebuilt: lift the lock, end repair mode. */
int inet_restore_finish(struct tree *t, struct img *im);
void inet_report(const struct tree *t);
void inet_free(struct ofile *of);
/* The TCP options the dump was made with (the image's "tcp_options"), and
 * restore's check of its own --tcp-established / --tcp-close against them. */
json_t *inet_encode_options(const struct tree *t);
int inet_check_restore_options(json_t *j, const struct tree *t);

/* unix.c: unix sockets, called by files.c */
int unix_dump(struct proc_state *ps, struct ofile *of, int fd, int myfd);
/* After every process: find the peers in the tree, refuse outside ones. */
int unix_dump_finish(struct tree *t, struct img *im);
void unix_encode(const struct ofile *of, json_t *j);
int unix_decode(json_t *j, struct ofile *of, int nfiles);
int unix_is_listener(const struct ofile *of);
int unix_prepare(struct tree *t, int idx, const char *what);
int unix_set_options(struct ofile *of);
/* Once the processes exist: write the saved queues back. */
int unix_refill(struct tree *t);
void unix_free(struct ofile *of);

/* tty.c: terminals of shell jobs.  Restore, at the end: the restored job
 * gets the terminal's foreground. */
int tty_foreground(const struct tree *t);
/* pty.c: restore, in each new process after its session or group is made:
 * its controlling terminal and foreground group again. */
int pty_restore_session(const struct tree *t, const struct proc_state *ps);

/* epoll.c, child side, after the fds are in place: register the interest lists. */
int epoll_restore_child(const struct proc_state *ps);

/* file_deleted.c: /proc/PID/<which> (cwd) is a removed directory; *file is
 * its deleted-dir entry in the tree's file table (added if new). */
int deleted_dir_note(struct proc_state *ps, const char *which, int *file);

/* pipes.c: warns about pipes whose other end is not in the process. */
void pipes_check_ends(const struct tree *t);

#endif
