/*
 * /proc parsing.  Every parser has a text-in form (proc_parse_*) so the
 * unit tests can feed it fixed strings, and a pid form that reads the file.
 * Limits: only the fields ferry uses are parsed.
 */
#ifndef FERRY_PROC_H
#define FERRY_PROC_H

#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

struct proc_stat {
	char comm[64];
	char state;
	pid_t ppid, pgrp, sid;
	int num_threads;
	uint64_t start_code, end_code, start_stack;
	uint64_t start_data, end_data, start_brk;
	uint64_t arg_start, arg_end, env_start, env_end;
	int exit_signal;	/* sent to the parent at exit */
	int exit_code;		/* wait status, for a zombie */
};

struct proc_status {
	pid_t tgid;
	uid_t uid[4];		/* real, effective, saved, fs */
	gid_t gid[4];
	int ngroups;
	gid_t groups[256];
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	int no_new_privs;
	int seccomp;
	unsigned umask;
	int threads;
};

struct proc_vma {
	uint64_t start, end, pgoff;
	char perms[5];		/* "rwxp" */
	unsigned dev_major, dev_minor;
	uint64_t ino;
	char *path;		/* "" for anonymous, "[heap]" etc. for special */
	char vmflags[160];	/* VmFlags from smaps, space-separated */
};

#define NR_RLIMITS 16

int proc_parse_stat(const char *text, struct proc_stat *st);
int proc_parse_status(const char *text, struct proc_status *st);
/* Parses smaps (or maps) text; *vmas is malloc'ed. */
int proc_parse_smaps(const char *text, struct proc_vma **vmas, int *n);
void proc_free_vmas(struct proc_vma *vmas, int n);
int proc_parse_limits(const char *text, struct rlimit lim[NR_RLIMITS]);
/* Looks up "key:\t value" in an fdinfo-style text; returns pointer to value or NULL. */
const char *proc_field(const char *text, const char *key);

int proc_stat(pid_t pid, struct proc_stat *st);
int proc_status(pid_t pid, struct proc_status *st);
int proc_vmas(pid_t pid, struct proc_vma **vmas, int *n);
int proc_limits(pid_t pid, struct rlimit lim[NR_RLIMITS]);
/* readlink of /proc/PID/<name>; malloc'ed, NULL + error recorded on failure. */
char *proc_link(pid_t pid, const char *name);
/* Thread ids of pid (from /proc/PID/task). */
int proc_tids(pid_t pid, pid_t **tids, int *n);
/* Child PIDs of every thread of pid (from /proc/PID/task/T/children). */
int proc_children(pid_t pid, pid_t **kids, int *n);
/* "comm (state)" of any pid, for messages; static buffer. */
const char *proc_describe(pid_t pid);

#endif
