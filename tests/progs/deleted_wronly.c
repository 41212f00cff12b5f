/* deleted_wronly - deleted files open write-only (a rotated log still
 * written), and one deleted file open through two descriptions.
 * Setup: log.txt ("log-line\n") open O_WRONLY|O_APPEND, then unlinked;
 * out.bin ("0123456789") open O_WRONLY at offset 4, then unlinked; two.bin
 * open twice O_RDWR (two descriptions, offsets 2 and 5), then unlinked.
 * Covers: access mode, flags and offsets come back; the content is there
 * (read back through /proc/self/fd, as the program cannot read its fds);
 * appends go to the end; the two descriptions of two.bin are still one
 * file (a write through one is read through the other).
 * With argument "linked": a file still linked under another name (a hard
 * link in a subdirectory, where dump does not look) and deleted under the
 * one the fd was opened by: dump refuses (a copy would no longer be that
 * other name's file; deleted_linked is the case dump carries). */
#include "common.h"

static void content(int fd, char *buf, size_t len)
{
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	int r = open(self, O_RDONLY);
	memset(buf, 0, len);
	T_CHECK(r >= 0 && read(r, buf, len - 1) >= 0, "cannot read fd %d back: %s", fd, strerror(errno));
	if (r >= 0)
		close(r);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	char buf[128];
	if (argc > 2 && !strcmp(argv[2], "linked")) {
		int fd = open(t_path("a.log"), O_WRONLY | O_CREAT | O_APPEND, 0600);
		T_SETUP(fd >= 0 && write(fd, "x\n", 2) == 2);
		T_SETUP(mkdir(t_path("sub"), 0700) == 0);
		T_SETUP(link(t_path("a.log"), t_path("sub/b.log")) == 0 && unlink(t_path("a.log")) == 0);
		t_ready();
		t_wait_go();
		T_EQ("write after the refused dump", write(fd, "y\n", 2), 2);
		content(fd, buf, sizeof(buf));
		T_STREQ("content", buf, "x\ny\n");
		t_finish();
	}
	int lg = open(t_path("log.txt"), O_WRONLY | O_CREAT | O_APPEND, 0640);
	T_SETUP(lg >= 0 && write(lg, "log-line\n", 9) == 9);
	int out = open(t_path("out.bin"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	T_SETUP(out >= 0 && write(out, "0123456789", 10) == 10 && lseek(out, 4, SEEK_SET) == 4);
	int t1 = open(t_path("two.bin"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	T_SETUP(t1 >= 0 && write(t1, "abcdefgh", 8) == 8 && lseek(t1, 2, SEEK_SET) == 2);
	int t2 = open(t_path("two.bin"), O_RDWR);
	T_SETUP(t2 >= 0 && lseek(t2, 5, SEEK_SET) == 5);
	T_SETUP(unlink(t_path("log.txt")) == 0 && unlink(t_path("out.bin")) == 0 && unlink(t_path("two.bin")) == 0);
	t_ready();
	t_wait_go();

	T_EQ("log.txt access mode and flags", fcntl(lg, F_GETFL) & (O_ACCMODE | O_APPEND), O_WRONLY | O_APPEND);
	T_EQ("log.txt append", write(lg, "more\n", 5), 5);
	content(lg, buf, sizeof(buf));
	T_STREQ("log.txt content", buf, "log-line\nmore\n");

	T_EQ("out.bin access mode", fcntl(out, F_GETFL) & (O_ACCMODE | O_APPEND), O_WRONLY);
	T_EQ("out.bin offset", lseek(out, 0, SEEK_CUR), 4);
	T_EQ("out.bin write", write(out, "XY", 2), 2);
	content(out, buf, sizeof(buf));
	T_STREQ("out.bin content", buf, "0123XY6789");

	struct stat s1, s2;
	T_CHECK(fstat(t1, &s1) == 0 && fstat(t2, &s2) == 0 && s1.st_ino == s2.st_ino && s1.st_dev == s2.st_dev,
		"the two descriptions of two.bin are different files now");
	T_EQ("two.bin links", s1.st_nlink, 0);
	T_EQ("two.bin offset 1", lseek(t1, 0, SEEK_CUR), 2);
	T_EQ("two.bin offset 2", lseek(t2, 0, SEEK_CUR), 5);
	T_EQ("two.bin write through one", write(t1, "ZZ", 2), 2);
	T_EQ("two.bin read through the other", pread(t2, buf, 8, 0), 8);
	buf[8] = 0;
	T_STREQ("two.bin content", buf, "abZZefgh");
	t_finish();
}
