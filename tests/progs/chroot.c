/* chroot - a process whose root was changed by chroot.
 * Setup: WORKDIR/sub/data.txt ("jailed"); the program opens WORKDIR (fd
 * jd), chroots into WORKDIR (where the protocol files then are at /), moves
 * into /sub and opens /sub/data.txt.
 * Covers: the root is still WORKDIR ("/" is jd's inode and ".." of / is /),
 * the cwd is /sub (getcwd), the open file is data.txt, paths resolve inside
 * the root. */
#include "common.h"

int main(int argc, char **argv)
{
	t_init(argc, argv);
	char buf[64];
	T_SETUP(mkdir(t_path("sub"), 0755) == 0 && t_write_file(t_path("sub/data.txt"), "jailed", 6) == 0);
	int jd = open(t_workdir, O_RDONLY | O_DIRECTORY);
	T_SETUP(jd >= 0 && chroot(t_workdir) == 0 && chdir("/sub") == 0);
	t_workdir = "";	/* the protocol files: /ready, /go */
	int f = open("/sub/data.txt", O_RDONLY);
	T_SETUP(f >= 0);
	t_ready();
	t_wait_go();

	struct stat a, b, c;
	T_CHECK(fstat(jd, &a) == 0 && stat("/", &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev,
		"/ is not the jail");
	T_CHECK(stat("/..", &c) == 0 && c.st_ino == b.st_ino, "/.. leaves the jail");
	T_CHECK(getcwd(buf, sizeof(buf)) && !strcmp(buf, "/sub"), "cwd \"%s\"", buf);
	memset(buf, 0, sizeof(buf));
	T_CHECK(read(f, buf, sizeof(buf)) == 6 && !strcmp(buf, "jailed"), "data.txt reads \"%s\"", buf);
	T_CHECK(access("data.txt", R_OK) == 0 && access("/sub/data.txt", R_OK) == 0, "paths inside the jail");
	t_finish();
}
