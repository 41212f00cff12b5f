/*
 * sock_diag for unix sockets: what only the kernel's socket tables know
 * (the peer of a connected unix socket, a listener's pending connections,
 * queue lengths).  Asked inside the socket's own network namespace.
 */
#ifndef FERRY_DIAG_H
#define FERRY_DIAG_H

#include <stdint.h>
#include <sys/types.h>

struct unix_diag_info {
	int type, state;
	uint32_t peer;		/* inode of the peer, 0 if none */
	uint32_t rqueue, wqueue;
	int nicons;		/* listener: connections waiting to be accepted */
	uint32_t icons[256];	/* their inodes (the sockets accept() would return), in order */
	int shutdown;		/* sk_shutdown: 1 receive side shut, 2 send side */
	int has_vfs;		/* bound to a path: the inode it made */
	uint32_t vfs_ino, vfs_dev;	/* vfs_dev in the kernel's encoding (major << 20 | minor) */
};

/* Queries socket inode ino in pid's network namespace. */
int unix_diag_query(pid_t pid, uint32_t ino, struct unix_diag_info *out);

/* Any family: dumps pid's namespace's sockets with req (the request after
 * the netlink header) and copies the answer (after the netlink header) for
 * the socket whose inode, at ino_off in it, is ino into out.  Its length,
 * or -1. */
int sock_diag_find(pid_t pid, const void *req, size_t reqlen, size_t ino_off, uint32_t ino, void *out, size_t cap);

#endif
