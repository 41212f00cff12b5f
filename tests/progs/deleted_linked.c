/* deleted_linked - a file deleted under the name it was opened by but still
 * linked under another name in the same directory (a hard link, as a log
 * rotation by link+unlink leaves it).
 * Setup: a.log ("x\n") open O_WRONLY|O_APPEND, linked as b.log, a.log
 * unlinked.
 * Covers: the fd is the file b.log names (same inode, one link: reopened
 * through the link, not a copy), its flags, and a write through it shows in
 * b.log. */
#include "common.h"

int main(int argc, char **argv)
{
	t_init(argc, argv);
	char buf[64];
	struct stat st, sb;
	int fd = open(t_path("a.log"), O_WRONLY | O_CREAT | O_APPEND, 0600);
	T_SETUP(fd >= 0 && write(fd, "x\n", 2) == 2);
	T_SETUP(link(t_path("a.log"), t_path("b.log")) == 0 && unlink(t_path("a.log")) == 0);
	t_ready();
	t_wait_go();

	T_CHECK(fstat(fd, &st) == 0 && stat(t_path("b.log"), &sb) == 0, "stat: %s", strerror(errno));
	T_CHECK(st.st_ino == sb.st_ino && st.st_dev == sb.st_dev, "fd is not b.log's file (a copy?)");
	T_EQ("links", st.st_nlink, 1);
	T_EQ("flags", fcntl(fd, F_GETFL) & (O_ACCMODE | O_APPEND), O_WRONLY | O_APPEND);
	T_EQ("write", write(fd, "y\n", 2), 2);
	ssize_t n = t_read_file(t_path("b.log"), buf, sizeof(buf));
	T_EQ("b.log length", n, 4);
	T_STREQ("b.log content", buf, "x\ny\n");
	t_finish();
}
