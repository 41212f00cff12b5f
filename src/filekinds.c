/*
 * The file kinds ferry carries, each a module behind its struct file_ops
 * (fileops.h), indexed by enum file_kind.  Dump asks them in this order
 * which one an fd is, so the more particular come before the more general:
 * a memfd or a deleted file before a regular file, a terminal before other
 * character devices, a pipe before a FIFO.  Adding a kind: its module, its
 * enum value (pstate.h, at its place in this order) and its line here.
 */
#include "fileops.h"

const struct file_ops *const file_kinds[FK_NR] = {
	[FK_UNIX] = &unix_ops,		/* unix.c */
	[FK_INET] = &inet_ops,		/* inet.c */
	[FK_EPOLL] = &epoll_ops,	/* epoll.c */
	[FK_EVENTFD] = &eventfd_ops,	/* eventfd.c */
	[FK_TIMERFD] = &timerfd_ops,	/* timerfd.c */
	[FK_SIGNALFD] = &signalfd_ops,	/* signalfd.c */
	[FK_INOTIFY] = &inotify_ops,	/* inotify.c */
	[FK_MEMFD] = &memfd_ops,	/* memfd.c */
	[FK_DELETED] = &deleted_ops,	/* file_deleted.c */
	[FK_REG] = &reg_ops,		/* file_reg.c */
	[FK_DIR] = &dir_ops,		/* file_reg.c */
	[FK_TTY] = &tty_ops,		/* tty.c */
	[FK_CHR] = &chr_ops,		/* file_reg.c */
	[FK_PIPE] = &pipe_ops,		/* pipes.c */
	[FK_FIFO] = &fifo_ops,		/* pipes.c */
};
