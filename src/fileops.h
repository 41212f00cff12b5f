/*
 * File kinds as modules.  files.c owns the fd table and what every open
 * file description has (struct ofile: kind, flags, pos, mode, path, the
 * fds ferry holds); everything particular to one kind of file lives in
 * that kind's module, behind a struct file_ops, with its own state in
 * of->priv.  filekinds.c maps each enum file_kind to its ops.
 *
 * Adding a kind: one new file defining `const struct file_ops NAME_ops`,
 * one enum file_kind value (pstate.h) and one line in filekinds.c.  Nothing
 * in files.c changes (see docs/internals.md).
 */
#ifndef FERRY_FILEOPS_H
#define FERRY_FILEOPS_H

#include <string.h>
#include <sys/stat.h>

#include "pstate.h"

/* What dump learned about one fd before its kind is known. */
struct fdump {
	struct proc_state *ps;
	struct img *im;
	int fd;			/* the fd number in ps->pid */
	int myfd;		/* ferry's own reference to the description */
	char *link;		/* readlink of /proc/PID/fd/N; a kind may trim it */
	const struct stat *st;	/* fstat(myfd) */
};

/* Restore opens descriptions in passes, every file of a pass before any of
 * the next, in table order within one: sockets that listen before those
 * that connect (binds cannot collide), then the socket options and flags
 * (a pair is made when its first end comes up), then everything else. */
enum file_pass { FP_LISTEN, FP_CONNECT, FP_SOCKOPT, FP_FILES, FP_NR };
#define FP_BIT(p) (1u << (p))
#define FP_SOCKETS (FP_BIT(FP_LISTEN) | FP_BIT(FP_CONNECT) | FP_BIT(FP_SOCKOPT))

/* What files.c does for a kind around its hooks. */
#define FO_PATH 1u	/* has a "path" in the image (of->path) */
#define FO_SETFL 2u	/* files.c sets of->flags on of->rfd after the kind's last pass */
#define FO_SEEK 4u	/* files.c seeks of->rfd to of->pos after prepare (ESPIPE ignored) */
#define FO_LOCKABLE 8u	/* its locks can be taken again on the restored file (locks.c) */

struct file_ops {
	const char *name;	/* "kind" in the image */
	unsigned flags;		/* FO_* */
	unsigned passes;	/* FP_BIT()s in which prepare runs; 0 means FP_FILES */
	/* Dump: is this fd of this kind?  Kinds are asked in table order and
	 * the first that says yes gets it. */
	int (*match)(const struct fdump *d);
	/* Dump, the process frozen: fill of (generic fields are set) or refuse. */
	int (*dump)(struct fdump *d, struct ofile *of);
	/* The kind's keys in the file's image entry, after the generic ones. */
	void (*encode)(const struct ofile *of, json_t *o);
	int (*decode)(json_t *o, struct ofile *of, const struct tree *t);
	/* Restore, before anything is made: can file i come back here? */
	int (*validate)(const struct tree *t, int i);
	/* Restore, once for the whole table, after every file's validate. */
	int (*validate_all)(const struct tree *t);
	/* Restore, parent side: make file i and set of->rfd. */
	int (*prepare)(struct tree *t, struct img *im, int i, enum file_pass pass);
	/* Restore, once the processes hold the files: drop kind-wide state. */
	void (*release)(void);
	/* Frees of->priv (which may be NULL: a dump that failed half-way). */
	void (*free)(struct ofile *of);
};

/* filekinds.c: indexed by enum file_kind */
extern const struct file_ops *const file_kinds[FK_NR];

extern const struct file_ops unix_ops, inet_ops, epoll_ops, eventfd_ops, timerfd_ops, signalfd_ops, inotify_ops,
	memfd_ops, deleted_ops, reg_ops, dir_ops, tty_ops, chr_ops, pipe_ops, fifo_ops;

/* files.c, for the kinds */
/* "pid P fd F" of some fd using file description i, for messages. */
const char *file_who(const struct tree *t, int i);
/* The dump refuses fd as `what` (its link named). */
int file_refuse(const struct fdump *d, const char *what);

static inline int fdump_anon(const struct fdump *d)
{
	return !strncmp(d->link, "anon_inode:", 11);
}

/* Strips the " (deleted)" /proc puts after an unlinked file's path; 1 if it was there. */
int file_strip_deleted(char *link);

/* file_reg.c: the path of file i names a file of its type here (and
 * device, for a chardev); FIFOs use it too. */
int file_check_path(const struct tree *t, int i);

#endif
