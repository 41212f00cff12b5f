/*
 * Unit tests for src/core/fsutil.c: rm_tree removes a tree and never what a
 * link inside it (or the link it is given) points to; plain_name.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "fsutil.h"
#include "log.h"
#include "unit.h"

int main(void)
{
	char base[] = "/tmp/ferry-unit-fsutil.XXXXXX", p[512], q[512];
	struct stat st;
	if (!mkdtemp(base))
		return 1;
	/* outside/keep: what the links point to */
	snprintf(p, sizeof(p), "%s/outside", base);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/outside/keep", base);
	close(open(p, O_WRONLY | O_CREAT, 0600));
	/* tree/{a, sub/b, sub/deeper/, fifo, link-dir -> outside, link-file -> outside/keep} */
	snprintf(p, sizeof(p), "%s/tree", base);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/tree/a", base);
	close(open(p, O_WRONLY | O_CREAT, 0600));
	snprintf(p, sizeof(p), "%s/tree/sub", base);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/tree/sub/deeper", base);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/tree/sub/b", base);
	close(open(p, O_WRONLY | O_CREAT, 0600));
	snprintf(p, sizeof(p), "%s/tree/fifo", base);
	mkfifo(p, 0600);
	snprintf(p, sizeof(p), "%s/tree/link-dir", base);
	snprintf(q, sizeof(q), "%s/outside", base);
	CHECK(symlink(q, p) == 0);
	snprintf(p, sizeof(p), "%s/tree/sub/link-file", base);
	snprintf(q, sizeof(q), "%s/outside/keep", base);
	CHECK(symlink(q, p) == 0);

	snprintf(p, sizeof(p), "%s/tree", base);
	CHECK(rm_tree(p) == 0);
	CHECK(lstat(p, &st) < 0 && errno == ENOENT);
	snprintf(q, sizeof(q), "%s/outside/keep", base);
	CHECK(stat(q, &st) == 0);

	/* given a link: the link goes, its target stays */
	snprintf(p, sizeof(p), "%s/link", base);
	snprintf(q, sizeof(q), "%s/outside", base);
	CHECK(symlink(q, p) == 0);
	CHECK(rm_tree(p) == 0);
	CHECK(lstat(p, &st) < 0);
	snprintf(q, sizeof(q), "%s/outside/keep", base);
	CHECK(stat(q, &st) == 0);
	/* nothing there: fine */
	CHECK(rm_tree(p) == 0);

	CHECK(plain_name("core-1.json"));
	CHECK(plain_name(".hidden"));
	CHECK(!plain_name(""));
	CHECK(!plain_name("."));
	CHECK(!plain_name(".."));
	CHECK(!plain_name("../etc/passwd"));
	CHECK(!plain_name("a/b"));
	CHECK(!plain_name("/etc/hostname"));

	CHECK(rm_tree(base) == 0);
	CHECK(lstat(base, &st) < 0);
	return unit_done("unit-fsutil");
}
