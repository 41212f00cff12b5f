/*
 * Safe file-system helpers: see fsutil.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"

bool plain_name(const char *name)
{
	return name[0] && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..");
}

/* Empties the directory open at fd (which it closes). */
static int empty_dir(int fd, dev_t dev, int depth, const char *what)
{
	DIR *d;
	struct dirent *de;
	int ret = 0;
	if (depth > 64) {
		close(fd);
		return fail("cannot remove %s: nested too deep", what);
	}
	if (!(d = fdopendir(fd))) {
		close(fd);
		return fail_errno("cannot list %s", what);
	}
	while ((de = readdir(d))) {
		struct stat st;
		int sub;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				ret = fail_errno("cannot stat %s/%s", what, de->d_name);
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT)
				ret = fail_errno("cannot remove %s/%s", what, de->d_name);
			continue;
		}
		if (st.st_dev != dev) {
			ret = fail("cannot remove %s/%s: a mount point", what, de->d_name);
			continue;
		}
		sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0) {
			ret = fail_errno("cannot open %s/%s", what, de->d_name);
			continue;
		}
		if (empty_dir(sub, dev, depth + 1, what) < 0)
			ret = -1;
		else if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT)
			ret = fail_errno("cannot remove %s/%s", what, de->d_name);
	}
	closedir(d);
	return ret;
}

int rm_tree_at(int dirfd, const char *name)
{
	struct stat st;
	int fd;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : fail_errno("cannot stat %s", name);
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? fail_errno("cannot remove %s", name) : 0;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fail_errno("cannot open %s", name);
	if (empty_dir(fd, st.st_dev, 0, name) < 0)
		return -1;
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return fail_errno("cannot remove %s", name);
	return 0;
}

int rm_tree(const char *path)
{
	return rm_tree_at(AT_FDCWD, path);
}
