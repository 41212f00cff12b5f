/*
 * Safe file-system helpers for places other users can write to (/dev/shm,
 * /tmp) and for names that come from an image or a peer.
 *
 * rm_tree removes a directory tree without ever following a symbolic link
 * and without a shell: every step is relative to a directory fd opened with
 * O_NOFOLLOW, so a link or a rename planted by another user mid-removal
 * cannot send it outside the tree.  Limits: it does not cross mount points
 * on purpose (it refuses them), and a tree deeper than 64 levels is left in
 * place with a warning (ferry's own trees are one level deep).
 */
#ifndef FERRY_FSUTIL_H
#define FERRY_FSUTIL_H

#include <stdbool.h>

/* Removes the tree `name` under the directory dirfd (AT_FDCWD for a path);
 * a plain file or link is unlinked, never followed.  0, or -1 with the
 * error recorded. */
int rm_tree_at(int dirfd, const char *name);
int rm_tree(const char *path);

/* True if name is one plain file name: not empty, no '/', not "." or "..". */
bool plain_name(const char *name);

#endif
